/**
 * Compile-time weight packing for the WebAssembly GEMM micro-kernels.
 *
 * The right-hand matrix B[K,N] (a dense kernel, or conv weights viewed as
 * [KH*KW*Cin, Cout]) is stored as column panels of width `nr`: panel p holds
 * columns [p*nr, p*nr+nr) for k = 0..K-1, each row of the panel contiguous
 * (nr floats), the last panel zero-padded. The micro-kernel then streams one
 * panel with unit stride and loads nr/4 vectors per k, as XNNPACK and BLIS do.
 * Packing happens once in the compiler; the packed array is what the artifact
 * stores as the weights.
 */
import { KilnError } from '../../ir/types.js';

/** Number of floats packB produces. */
export function packedBSize(K: number, N: number, nr: number): number {
  return Math.ceil(N / nr) * K * nr;
}

/** Pack row-major B[K,N] into zero-padded column panels of width nr. */
export function packB(B: Float32Array, K: number, N: number, nr: number): Float32Array {
  if (!Number.isInteger(nr) || nr <= 0 || nr % 4 !== 0) {
    throw new KilnError(`packB: panel width nr must be a positive multiple of 4, got ${nr}`);
  }
  if (B.length !== K * N) {
    throw new KilnError(`packB: B has ${B.length} elements, expected K*N = ${K}*${N} = ${K * N}`);
  }
  const panels = Math.ceil(N / nr);
  const out = new Float32Array(panels * K * nr);
  for (let p = 0; p < panels; p++) {
    const c0 = p * nr;
    const width = Math.min(nr, N - c0);
    const base = p * K * nr;
    for (let k = 0; k < K; k++) {
      const src = k * N + c0;
      out.set(B.subarray(src, src + width), base + k * nr);
    }
  }
  return out;
}
