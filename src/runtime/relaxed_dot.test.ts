// Own file: the V8 flag below changes the whole test process. The probe runs at load on the tier a
// fresh kernel starts on; relaxed_dot.turbofan.test.ts runs it again with the optimizing tier only.
import v8 from 'node:v8';
import { describe, expect, it } from 'vitest';
import { relaxedDotExact, usesRelaxedDot } from './host.js';

v8.setFlagsFromString('--experimental-wasm-relaxed-simd');

const liftoff = !process.execArgv.includes('--no-liftoff') && !(globalThis as { __kilnNoLiftoff?: boolean }).__kilnNoLiftoff;
const v8Version = process.versions.v8;

describe('relaxed int8 dot probe', () => {
  it(`matches what this V8 (${v8Version}, ${liftoff ? 'baseline tier first' : 'optimizing tier only'}) computes`, () => {
    const exact = relaxedDotExact();
    // V8 11.3's Liftoff miscompiles the int8 kernel pattern; its TurboFan and newer V8s are exact.
    if (v8Version.startsWith('11.3.') && liftoff) expect(exact).toBe(false);
    else expect(exact).toBe(true);
  });
  it('finds the opcode in module bytes', () => {
    expect(usesRelaxedDot(Uint8Array.from([0, 0x61, 0x73, 0x6d, 0xfd, 0x93, 0x02, 0x0b]))).toBe(true);
    expect(usesRelaxedDot(Uint8Array.from([0, 0x61, 0x73, 0x6d, 0xfd, 0x85, 0x02, 0x0b]))).toBe(false);
  });
});
