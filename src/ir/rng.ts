/**
 * Counter-based random bits, the definition behind `rng_uniform` and `rng_normal`: element i of
 * a draw with key (k0, k1) is threefry2x32_20(key, counter = (i, 0)), as in JAX. Pure JS with no
 * dependencies, so the interpreter and every code generator's tests share one reference.
 */

const ROTATIONS = [13, 15, 26, 6, 17, 29, 16, 24] as const;
/** Skein's key-schedule parity constant, 32-bit variant. */
const KS_PARITY = 0x1bd11bda;

function rotl(x: number, r: number): number {
  return ((x << r) | (x >>> (32 - r))) >>> 0;
}

/** The 20-round Threefry-2x32 block function (Salmon et al. 2011). All words are uint32. */
export function threefry2x32(k0: number, k1: number, c0: number, c1: number): [number, number] {
  const ks = [k0 >>> 0, k1 >>> 0, (KS_PARITY ^ k0 ^ k1) >>> 0];
  let x0 = (c0 + ks[0]!) >>> 0;
  let x1 = (c1 + ks[1]!) >>> 0;
  for (let round = 0; round < 20; round++) {
    x0 = (x0 + x1) >>> 0;
    x1 = rotl(x1, ROTATIONS[round % 8]!) ^ x0;
    if (round % 4 === 3) {
      // Key injection after every 4 rounds, with the injection number added to the second word.
      const i = (round + 1) / 4;
      x0 = (x0 + ks[i % 3]!) >>> 0;
      x1 = (x1 + ks[(i + 1) % 3]! + i) >>> 0;
    }
  }
  return [x0 >>> 0, x1 >>> 0];
}

const TWO_POW_M23 = 2 ** -23;

/** Uniform in [0, 1) from the top 23 bits of a word: exactly representable in f32. */
export function uniformFromBits(x0: number): number {
  return (x0 >>> 9) * TWO_POW_M23;
}

/** Standard normal by Box–Muller; u1 is in (0, 1] so the log is finite. */
export function normalFromBits(x0: number, x1: number): number {
  const u1 = ((x0 >>> 9) + 1) * TWO_POW_M23;
  const u2 = (x1 >>> 9) * TWO_POW_M23;
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}

/** The first `n` values (row-major) of rng_uniform with key (k0, k1), rounded to f32. */
export function uniformValues(k0: number, k1: number, n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = uniformFromBits(threefry2x32(k0, k1, i, 0)[0]);
  return out;
}

/** The first `n` values (row-major) of rng_normal with key (k0, k1), rounded to f32. */
export function normalValues(k0: number, k1: number, n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const [x0, x1] = threefry2x32(k0, k1, i, 0);
    out[i] = normalFromBits(x0, x1);
  }
  return out;
}
