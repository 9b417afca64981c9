/**
 * Dynamic loss scaling for mixed-precision training steps (Keras LossScaleOptimizer semantics):
 * the loss is multiplied by a resident scale before differentiation, so the small cotangents that
 * backward dots and convs read in f16 (passes/mixed_precision.ts) stay above f16's underflow, and
 * the gradients are divided by it afterwards. When any gradient is non-finite the step is skipped
 * (every state update is replaced by the old value with `select`) and the scale halves; after
 * `growthInterval` finite steps in a row it doubles. Everything is ops on tensors, so under a
 * trace it becomes IR (mul, reduce, compare, select) inside the one compiled step: no host
 * round-trip decides whether to apply the update.
 *
 * State: `scale` f32[] and `goodSteps` f32[] (a count; f32 is exact far beyond any interval).
 */
import { Tensor, ops } from '../backend.js';
import { valueAndGrad } from '../../frontend/grad.js';
import { KilnError } from '../../ir/types.js';

export interface LossScaleOptions {
  /** Initial scale (default 2^15, as Keras). */
  readonly initialScale?: number;
  /** Finite steps in a row before the scale doubles (default 2000, as Keras). */
  readonly growthInterval?: number;
  /** Growth/backoff factor (default 2). */
  readonly factor?: number;
  /** Lower bound of the scale (default 1). */
  readonly minScale?: number;
}

export interface LossScaleState {
  readonly scale: Tensor;
  readonly goodSteps: Tensor;
}

export interface ScaledValueAndGrad {
  /** The loss, unscaled. */
  readonly value: Tensor;
  /** Gradients, unscaled (may hold inf/NaN when `finite` is false). */
  readonly grads: Tensor[];
  /** bool[]: every gradient element is finite. */
  readonly finite: Tensor;
}

type LossFn = (...args: Tensor[]) => Tensor;

export class DynamicLossScale {
  readonly initialScale: number;
  readonly growthInterval: number;
  readonly factor: number;
  readonly minScale: number;

  constructor(opts: LossScaleOptions = {}) {
    this.initialScale = opts.initialScale ?? 2 ** 15;
    this.growthInterval = opts.growthInterval ?? 2000;
    this.factor = opts.factor ?? 2;
    this.minScale = opts.minScale ?? 1;
    const bad = (what: string, v: number) => new KilnError(`DynamicLossScale: ${what} must be ${what === 'growthInterval' ? 'a positive integer' : 'finite and > 0'}${what === 'factor' ? ' (and > 1)' : ''}, got ${v}`);
    if (!(Number.isFinite(this.initialScale) && this.initialScale > 0)) throw bad('initialScale', this.initialScale);
    if (!(Number.isInteger(this.growthInterval) && this.growthInterval > 0)) throw bad('growthInterval', this.growthInterval);
    if (!(Number.isFinite(this.factor) && this.factor > 1)) throw bad('factor', this.factor);
    if (!(Number.isFinite(this.minScale) && this.minScale > 0)) throw bad('minScale', this.minScale);
  }

  /** Initial state tensors (concrete): scale and goodSteps. */
  init(): LossScaleState {
    return { scale: ops.scalar(this.initialScale), goodSteps: ops.scalar(0) };
  }

  /** The state as a list (for resident state / compileEntries) and back. */
  stateTensors(s: LossScaleState): Tensor[] {
    return [s.scale, s.goodSteps];
  }
  fromTensors(ts: readonly Tensor[]): LossScaleState {
    if (ts.length !== 2) throw new KilnError(`DynamicLossScale.fromTensors: expects 2 tensors (scale, goodSteps), got ${ts.length}`);
    return { scale: ts[0]!, goodSteps: ts[1]! };
  }

  /**
   * valueAndGrad of `loss` with respect to `argnums`, computed on loss * scale and unscaled:
   * call the result with loss's arguments followed by the scale tensor.
   */
  valueAndGrad(loss: LossFn, opts: { argnums: readonly number[] }): (...argsThenScale: Tensor[]) => ScaledValueAndGrad {
    return (...all: Tensor[]) => {
      const args = all.slice(0, -1), scale = all[all.length - 1]!;
      if (scale === undefined || scale.shape.length !== 0 || scale.dtype !== 'f32') {
        throw new KilnError(`loss scale valueAndGrad: the last argument must be the f32[] scale, got ${scale ? scale.describe() : 'nothing'}`);
      }
      // The scale is an argument the gradient is not taken with respect to.
      const scaled = valueAndGrad((...xs: Tensor[]) => ops.mul(loss(...xs.slice(0, -1)), xs[xs.length - 1]!), { argnums: opts.argnums });
      const { value, grads } = scaled(...args, scale);
      const inv = ops.div(1, scale);
      const unscaled = grads.map((g) => ops.mul(g, inv));
      return { value: ops.mul(value, inv), grads: unscaled, finite: allFinite(unscaled) };
    };
  }

  /** The next state: grow after `growthInterval` finite steps, back off on a non-finite one. */
  update(s: LossScaleState, finite: Tensor): LossScaleState {
    const good1 = ops.add(s.goodSteps, 1);
    const grow = ops.logicalAnd(finite, ops.greaterEqual(good1, this.growthInterval));
    const grown = ops.where(grow, ops.mul(s.scale, this.factor), s.scale);
    const backoff = ops.maximum(ops.div(s.scale, this.factor), this.minScale);
    return {
      scale: ops.where(finite, grown, backoff),
      goodSteps: ops.where(finite, ops.where(grow, 0, good1), 0),
    };
  }
}

/** bool[]: true when every element of every tensor is finite (x * 0 is NaN exactly for inf/NaN). */
export function allFinite(ts: readonly Tensor[]): Tensor {
  if (ts.length === 0) return ops.equal(ops.scalar(0), 0);
  let total: Tensor | undefined;
  for (const t of ts) {
    const s = ops.sum(ops.mul(ops.cast(t, 'f32'), 0));
    total = total ? ops.add(total, s) : s;
  }
  return ops.equal(total!, 0);
}

/** Each `updated[i]` where `finite`, else `previous[i]`: skips a whole update in one select each. */
export function selectIfFinite(finite: Tensor, updated: readonly Tensor[], previous: readonly Tensor[]): Tensor[] {
  if (updated.length !== previous.length) throw new KilnError(`selectIfFinite: ${updated.length} updated tensors but ${previous.length} previous ones`);
  return updated.map((u, i) => {
    const p = previous[i]!;
    if (u.shape.join(',') !== p.shape.join(',') || u.dtype !== p.dtype) throw new KilnError(`selectIfFinite: tensor ${i} changes type (${p.describe()} -> ${u.describe()})`);
    return ops.where(finite, u, p);
  });
}
