/**
 * A deterministic value generator shared by the bench's compiling side (expected values) and its
 * GPU-side runner (large inputs generated there instead of shipped): 32-bit LCG, uniform in
 * [lo, hi). Depends on nothing, so run.ts can bundle it.
 */
export function seededValues(n: number, seed: number, lo: number, hi: number): Float32Array {
  const v = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    v[i] = lo + ((s >>> 8) / 16777216) * (hi - lo);
  }
  return v;
}
