/**
 * What the attention layers (MultiHeadAttention, Attention, AdditiveAttention) share: the
 * masked softmax with Keras's large negative fill, the causal mask, boolean coercion of masks,
 * the check of their call arguments (which arrive beside the engine's own call args), and the
 * batched matmul of scores and values.
 */
import type { DType } from '../../ir/dtype.js';
import { KilnError } from '../../ir/types.js';
import { ops, Tensor } from '../backend.js';
import { closestName } from './args.js';

/**
 * Keras's `_large_negative_number`: the score a masked position gets before the softmax
 * (-1e9, or -3e4 where f16 cannot hold -1e9).
 */
export function largeNegative(dtype: DType): number {
  return dtype === 'f16' ? -3e4 : -1e9;
}

/** A mask as bool: bool stays, numbers are kept where > 0.5 (Keras's Softmax rule). */
export function boolMask(mask: Tensor, who: string, what: string): Tensor {
  if (!(mask instanceof Tensor)) throw new KilnError(`${who}: ${what} must be a Tensor, got ${mask === null ? 'null' : typeof mask}`);
  if (mask.dtype === 'bool') return mask;
  return ops.greater(ops.cast(mask, 'f32'), 0.5);
}

/**
 * Keras 3's masked Softmax over the last axis: masked positions take the large negative
 * number, and the result is multiplied by the mask so that a fully masked row gives zeros
 * (not a uniform distribution). `mask` broadcasts against `scores`.
 */
export function maskedSoftmax(scores: Tensor, mask: Tensor | undefined): Tensor {
  if (!mask) return ops.softmax(scores, -1);
  const filled = ops.where(mask, scores, largeNegative(scores.dtype));
  return ops.mul(ops.softmax(filled, -1), ops.broadcastTo(ops.cast(mask, scores.dtype), scores.shape));
}

/** `[1, tq, tv]` bool, true where query position i may attend to key position j (j <= i). */
export function causalMask(tq: number, tv: number): Tensor {
  return ops.reshape(ops.greaterEqual(ops.iota([tq, tv], 0), ops.iota([tq, tv], 1)), [1, tq, tv]);
}

/**
 * Call arguments beside the engine's: a key close to one of `known` but not equal is a typo and
 * refused with the closest name; other keys belong to the engine (training, step, mask...) and
 * pass through.
 */
export function checkCallArgs(who: string, args: object, known: readonly string[]): void {
  for (const key of Object.keys(args)) {
    if (known.includes(key)) continue;
    const near = closestName(key, known);
    if (near !== undefined) throw new KilnError(`${who}: unknown call argument '${key}' (did you mean '${near}'?)`);
  }
}

/** The i-th entry of the engine's `mask` call argument (Keras's input masks), if any. */
export function inputMask(args: object, i: number): Tensor | undefined {
  const m = (args as { mask?: unknown }).mask;
  if (m instanceof Tensor) return i === 0 ? m : undefined;
  if (Array.isArray(m)) {
    const x: unknown = m[i];
    return x instanceof Tensor ? x : undefined;
  }
  return undefined;
}

/**
 * Batched products of this many matrices (batch x heads) or fewer run as separate 2-D matmuls:
 * the code generators' packed GEMM kernel takes matmuls without batch dimensions, and a short
 * unrolled list of GEMMs beats one generic batched loop nest (one MultiHeadAttention at sequence
 * 128, width 256, 4 heads: 17.6 -> 10.3 ms). Above it, one batched matmul keeps the program small.
 */
const UNROLL_BATCHED_MATMUL = 16;

/** `a · b` (or `a · bᵀ`) over the last two axes, batched over the leading ones. */
export function batchedMatmul(a: Tensor, b: Tensor, transposeB: boolean): Tensor {
  const lead = a.shape.slice(0, -2);
  const n = lead.reduce((x, y) => x * y, 1);
  if (n === 1 || n > UNROLL_BATCHED_MATMUL) return ops.matmul(a, b, false, transposeB);
  const [am, ak] = a.shape.slice(-2) as [number, number];
  const [br, bc] = b.shape.slice(-2) as [number, number];
  const as = ops.unstack(ops.reshape(a, [n, am, ak]), 0);
  const bs = ops.unstack(ops.reshape(b, [n, br, bc]), 0);
  const outs = as.map((x, i) => ops.matmul(x, bs[i]!, false, transposeB));
  return ops.reshape(ops.stack(outs, 0), [...lead, ...outs[0]!.shape]);
}
