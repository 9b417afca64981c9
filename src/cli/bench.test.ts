import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { quantile, randomInputs } from './bench.js';
import { kiln, tempDir } from './test_util.js';

const t = tempDir();
afterAll(t.remove);

beforeAll(async () => {
  writeFileSync(t.path('f.txt'), `func @f(%x: f32[64,64], %k: i32[8], %m: bool[8]) -> (y: f32[64,64], z: i32[8]) {
  %0 = dot_general(%x, %x) {lhs_batch=[], rhs_batch=[], lhs_contract=[1], rhs_contract=[0]} : f32[64,64]
  %1 = select(%m, %k, %k) : i32[8]
  return %0, %1
}
`);
  const r = await kiln(['compile', 'f.txt', '-o', 'f.kiln'], t.dir);
  if (r.code !== 0) throw new Error(r.stderr);
});

describe('kiln bench', () => {
  it('reports median, p90, min and mean of the timed runs after warm-up', async () => {
    const r = await kiln(['bench', 'f.kiln', '--runs', '7', '--warmup', '2', '--threads', '1'], t.dir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^f.kiln \(wasm, (relaxed-)?simd, 1 thread\): 7 runs after 2 warm-up\n/);
    const ms = (s: string) => (s.endsWith(' s') ? 1000 : 1) * parseFloat(s);
    const m = /median ([\d.]+ m?s) {2}p90 ([\d.]+ m?s) {2}min ([\d.]+ m?s) {2}mean ([\d.]+ m?s)\n$/.exec(r.stdout);
    expect(m, r.stdout).not.toBeNull();
    const [median, p90, min, mean] = m!.slice(1).map(ms) as [number, number, number, number];
    expect(min).toBeGreaterThan(0);
    expect(min).toBeLessThanOrEqual(median);
    expect(median).toBeLessThanOrEqual(p90);
    expect(mean).toBeGreaterThanOrEqual(min);
  });

  it('nearest-rank quantiles; seeded inputs in each dtype\'s domain, the same for the same seed', () => {
    const sorted = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    expect([quantile(sorted, 0.5), quantile(sorted, 0.9), quantile(sorted, 1), quantile([4], 0.9)]).toEqual([5, 9, 10, 4]);
    const specs = [
      { name: 'f', shape: [1000], dtype: 'f32' as const },
      { name: 'i', shape: [1000], dtype: 'i32' as const },
      { name: 'b', shape: [1000], dtype: 'bool' as const },
      { name: 'u', shape: [1000], dtype: 'u8' as const },
    ];
    const a = randomInputs(specs, 7);
    expect(a['f']).toBeInstanceOf(Float32Array);
    expect(a['i']).toBeInstanceOf(Int32Array);
    expect(a['b']).toBeInstanceOf(Uint8Array);
    const f = Array.from(a['f']!);
    expect(Math.min(...f)).toBeGreaterThanOrEqual(-1);
    expect(Math.max(...f)).toBeLessThan(1);
    expect(Math.abs(f.reduce((s, x) => s + x, 0) / f.length)).toBeLessThan(0.1);
    expect(new Set(a['b']).size).toBe(2);
    expect([...new Set(a['i'])].sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(Array.from(randomInputs(specs, 7)['f']!)).toEqual(f);
    expect(Array.from(randomInputs(specs, 8)['f']!)).not.toEqual(f);
  });

  const usage: [string[], RegExp][] = [
    [['f.kiln', '--runs', '0'], /--runs '0' is not an integer in \[1, 1000000\]/],
    [['f.kiln', '--warmup', '-1'], /--warmup '-1' is not an integer in \[0, 1000000\]/],
    [['f.kiln', '--threads', '1.5'], /--threads '1.5' is not an integer in \[1, 1024\]/],
    [['f.kiln', '--run', '3'], /unknown flag '--run' for 'kiln bench'; did you mean '--runs'\?/],
    [['f.kiln', '--iterations', '3'], /unknown flag '--iterations' for 'kiln bench'; valid: '--threads', '--warmup', '--runs', '--seed', '--help'/],
    [[], /'kiln bench' needs <file.kiln>/],
  ];
  it.each(usage)('bad usage %j exits 2', async (argv, msg) => {
    const r = await kiln(['bench', ...argv], t.dir);
    expect(r.stderr).toMatch(msg);
    expect(r.code).toBe(2);
  });

  it('a file that is not an artifact exits 1', async () => {
    writeFileSync(t.path('no.kiln'), new Uint8Array(64));
    const r = await kiln(['bench', 'no.kiln'], t.dir);
    expect(r.stderr).toMatch(/^kiln bench: error: 'no.kiln': not a Kiln artifact: bad magic/);
    expect(r.code).toBe(1);
  });
});
