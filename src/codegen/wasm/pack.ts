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

/**
 * How a constant tensor is read as the GEMM's B[K, N]: the flat index k walks `kDims` row-major,
 * digit t landing on tensor axis `kAxes[t]`; j likewise over `jDims` / `jAxes`. The two sets of
 * axes are disjoint, so the element offset of (k, j) is kOffset(k) + jOffset(j).
 */
export interface PanelView {
  kDims: readonly number[];
  kAxes: readonly number[];
  jDims: readonly number[];
  jAxes: readonly number[];
}

/**
 * Element offsets, in a tensor with strides `strides`, of every row-major index over `dims`
 * whose digit t sits on axis `axes[t]`. Plain loops: one multiply-add per entry.
 */
export function flatOffsets(dims: readonly number[], axes: readonly number[], strides: readonly number[]): Int32Array {
  if (dims.length !== axes.length) {
    throw new KilnError(`flatOffsets: dims has ${dims.length} entries but axes has ${axes.length}; expected the same count`);
  }
  let total = 1;
  for (const d of dims) total *= d;
  const out = new Int32Array(total);
  // Built outermost digit first: every block of the previous digits is replicated with an added stride.
  let filled = 1;
  out[0] = 0;
  for (let t = dims.length - 1; t >= 0; t--) {
    const size = dims[t]!, stride = strides[axes[t]!]!;
    for (let i = 1; i < size; i++) {
      const add = i * stride, base = i * filled;
      for (let q = 0; q < filled; q++) out[base + q] = out[q]! + add;
    }
    filled *= size;
  }
  return out;
}

/**
 * Pack a constant read through `view` (see PanelView) into zero-padded column panels of width nr,
 * the layout packB produces: panel p, row k holds B[k, p*nr .. p*nr+nr).
 */
export function packPanels(data: Float32Array, shape: readonly number[], view: PanelView, nr: number): Float32Array {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let d = shape.length - 1; d >= 0; d--) { strides[d] = s; s *= shape[d]!; }
  if (data.length !== s) {
    throw new KilnError(`packPanels: data has ${data.length} elements, expected ${s} for shape [${shape.join(', ')}]`);
  }
  const kOff = flatOffsets(view.kDims, view.kAxes, strides);
  const jOff = flatOffsets(view.jDims, view.jAxes, strides);
  const K = kOff.length, N = jOff.length;
  const panels = Math.ceil(N / nr);
  const out = new Float32Array(panels * K * nr);
  for (let p = 0; p < panels; p++) {
    const c0 = p * nr, width = Math.min(nr, N - c0);
    const base = p * K * nr;
    for (let k = 0; k < K; k++) {
      const row = base + k * nr, ko = kOff[k]!;
      for (let c = 0; c < width; c++) out[row + c] = data[ko + jOff[c0 + c]!]!;
    }
  }
  return out;
}
