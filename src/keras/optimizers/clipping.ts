/**
 * Gradient clipping as Keras 3 optimizers do it (`clipnorm` per tensor, `global_clipnorm` over
 * all gradients together, `clipvalue` elementwise), in frontend ops so it traces into the
 * compiled step. Norms are computed in the data: no host-side branching on tensor values.
 */
import { KilnError } from '../../ir/types.js';
import { ops, type Tensor } from '../backend.js';

function requirePositive(op: string, clip: number): void {
  if (!(clip > 0)) throw new KilnError(`${op}: the clip norm must be a positive number, got ${clip}`);
}

/** The L2 norm of all elements of `t` (an f32 scalar). */
export function l2Norm(t: Tensor): Tensor {
  return ops.sqrt(ops.sum(ops.square(t)));
}

/** sqrt of the sum of squares of every element of every tensor (tf.linalg.global_norm). */
export function globalNorm(tensors: readonly Tensor[]): Tensor {
  if (tensors.length === 0) throw new KilnError('globalNorm: needs at least one tensor');
  let total = ops.sum(ops.square(tensors[0]!));
  for (const t of tensors.slice(1)) total = ops.add(total, ops.sum(ops.square(t)));
  return ops.sqrt(total);
}

/** `t` rescaled so its L2 norm is at most clipNorm: t * clip / max(norm, clip) (unchanged when norm <= clip). */
export function clipByNorm(t: Tensor, clipNorm: number): Tensor {
  requirePositive('clipByNorm', clipNorm);
  return ops.mul(t, ops.div(clipNorm, ops.maximum(l2Norm(t), clipNorm)));
}

/**
 * All tensors scaled by one factor so that their global norm is at most clipNorm. As in Keras,
 * a non-finite global norm makes every result NaN (the `norm - norm` term), rather than
 * silently zeroing or passing through exploded gradients.
 */
export function clipByGlobalNorm(tensors: readonly Tensor[], clipNorm: number): Tensor[] {
  requirePositive('clipByGlobalNorm', clipNorm);
  if (tensors.length === 0) return [];
  const norm = globalNorm(tensors);
  const scale = ops.add(ops.div(clipNorm, ops.maximum(norm, clipNorm)), ops.sub(norm, norm));
  return tensors.map((t) => ops.mul(t, scale));
}

/** Every element clamped to [-clipValue, clipValue]. */
export function clipByValue(t: Tensor, clipValue: number): Tensor {
  if (!(clipValue > 0)) throw new KilnError(`clipByValue: clipvalue must be a positive number, got ${clipValue}`);
  return ops.clipByValue(t, -clipValue, clipValue);
}

export interface ClipOptions {
  clipnorm?: number | null;
  clipvalue?: number | null;
  globalClipnorm?: number | null;
}

/** Throw unless at most one of the three clipping options is set (Keras's rule). */
export function validateClipOptions(owner: string, o: ClipOptions): void {
  const set = (['clipnorm', 'clipvalue', 'globalClipnorm'] as const).filter((k) => o[k] != null);
  if (set.length > 1) {
    throw new KilnError(`${owner}: only one of clipnorm, clipvalue and globalClipnorm can be set, got ${set.join(' and ')}`);
  }
  for (const k of set) {
    const v = o[k]!;
    if (!(Number.isFinite(v) && v > 0)) throw new KilnError(`${owner}: ${k} must be a positive number, got ${v}`);
  }
}

/** Apply whichever clipping `o` asks for (none when no option is set). */
export function clipGradients(grads: readonly Tensor[], o: ClipOptions): Tensor[] {
  if (o.clipnorm != null) return grads.map((g) => clipByNorm(g, o.clipnorm!));
  if (o.globalClipnorm != null) return clipByGlobalNorm(grads, o.globalClipnorm);
  if (o.clipvalue != null) return grads.map((g) => clipByValue(g, o.clipvalue!));
  return [...grads];
}
