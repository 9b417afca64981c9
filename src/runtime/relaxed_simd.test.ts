// Own file: the V8 flag below changes the whole test process. Node 20 needs it
// for relaxed SIMD; newer Node ships it on, where the flag is harmless.
import v8 from 'node:v8';
import { afterEach, describe, expect, it } from 'vitest';
import { load, KilnRuntimeError, type Program } from './index.js';
import { addScaleArtifact, addScaleReference } from '../../test/browser/fixture.js';

v8.setFlagsFromString('--experimental-wasm-relaxed-simd');

const N = 32;
const W = Float32Array.from({ length: N }, (_, i) => Math.cos(i) * 2);
const X = Float32Array.from({ length: N }, (_, i) => Math.sin(i * 3) * 5);

const open: Program[] = [];
afterEach(() => {
  for (const p of open.splice(0)) p.dispose();
});

function closeTo(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / (1 + Math.abs(b[i]!)));
  return worst;
}

describe('relaxed SIMD variant', () => {
  it('is chosen when the host validates relaxed SIMD, single- and multi-threaded', async () => {
    for (const [shared, threads] of [[false, 1], [true, 2]] as const) {
      const prog = await load(addScaleArtifact(W, { relaxed: true, shared }), { threads });
      open.push(prog);
      expect(prog.variant).toBe('relaxed-simd');
      const out = prog.runSync({ x: X });
      // relaxed_madd may fuse: compare with a tolerance, not bit-exactly.
      expect(closeTo(out['y'] as Float32Array, addScaleReference(X, W).y)).toBeLessThan(1e-6);
    }
  });

  it('falls back to the plain module when forced with relaxedSimd: false or when absent', async () => {
    const forced = await load(addScaleArtifact(W, { relaxed: true }), { relaxedSimd: false });
    open.push(forced);
    expect(forced.variant).toBe('simd');
    expect(Array.from(forced.runSync({ x: X })['y']!)).toEqual(Array.from(addScaleReference(X, W).y));
    const plainOnly = await load(addScaleArtifact(W));
    open.push(plainOnly);
    expect(plainOnly.variant).toBe('simd');
  });

  it('validates both code sections: a broken relaxed section is refused even where the plain one would run', async () => {
    const broken = addScaleArtifact(W, { relaxed: new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 0xff]) });
    await expect(load(broken, { relaxedSimd: false })).rejects.toThrow(KilnRuntimeError);
    await expect(load(broken)).rejects.toThrow(/the 'wasm-relaxed' section is not a WebAssembly module/);
  });
});
