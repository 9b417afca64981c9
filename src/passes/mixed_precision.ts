/**
 * mixed_precision: after the pass every f32 `dot_general` and `conv` computes on f16 (or bf16)
 * operands with f32 accumulation and an f32 result (the op's `dtype` attribute), as tensor cores
 * do; everything else is untouched. Operands are cast right before their op (one cast per value,
 * shared by every dot/conv that reads it), so weights, optimizer state and every other value stay
 * f32 master copies; elementwise math and reductions keep computing in f32. Run it after
 * autodiff, so the backward dots and convs of a training step are converted too (the cotangents
 * they read are then rounded to the low dtype: scale the loss, see keras/optimizers/loss_scale.ts).
 * Idempotent: an op whose operands are already low precision is not an f32 op any more.
 */
import type { Func, Value } from '../ir/function.js';
import { makeValue } from '../ir/builder.js';
import { KilnError } from '../ir/types.js';
import type { Pass } from './manager.js';

export type LowPrecision = 'f16' | 'bf16';

export interface MixedPrecisionOptions {
  /** The compute dtype of dots and convolutions. */
  readonly dtype: LowPrecision;
  /** Which ops to convert (default both). */
  readonly ops?: readonly ('dot_general' | 'conv')[];
}

const CONVERTIBLE = new Set(['dot_general', 'conv']);

/** Whether the pass converts `v`: an f32 dot or conv on f32 operands. */
export function isMixedPrecisionCandidate(v: Value, ops: ReadonlySet<string> = CONVERTIBLE): boolean {
  return ops.has(v.op) && v.dtype === 'f32' && v.inputs.every((x) => x.dtype === 'f32');
}

export function makeMixedPrecision(opts: MixedPrecisionOptions): Pass {
  const low = opts.dtype as string;
  if (low !== 'f16' && low !== 'bf16') throw new KilnError(`mixed_precision: dtype must be 'f16' or 'bf16', got '${low}'`);
  const ops = new Set<string>(opts.ops ?? ['dot_general', 'conv']);
  for (const o of ops) if (!CONVERTIBLE.has(o)) throw new KilnError(`mixed_precision: ops may name 'dot_general' and 'conv', got '${o}'`);
  return {
    name: `mixed_precision_${opts.dtype}`,
    run(fn: Func): boolean {
      const casts = new Map<Value, Value>();
      const replaced = new Map<Value, Value>();
      const body: Value[] = [];
      const current = (x: Value) => replaced.get(x) ?? x;
      for (const v of fn.body) {
        // Earlier replacements feed later nodes (a dot reading another dot's result).
        for (let k = 0; k < v.inputs.length; k++) v.inputs[k] = current(v.inputs[k]!);
        if (!isMixedPrecisionCandidate(v, ops)) {
          body.push(v);
          continue;
        }
        const lowInputs = v.inputs.map((x) => {
          let c = casts.get(x);
          if (!c) {
            c = makeValue('cast', [x], { dtype: opts.dtype });
            casts.set(x, c);
            body.push(c);
          }
          return c;
        });
        // Same op and attributes, low-precision operands, f32 result: its users need no change.
        const low = makeValue(v.op, lowInputs, { ...v.attrs, dtype: 'f32' });
        low.name = v.name;
        body.push(low);
        replaced.set(v, low);
      }
      if (replaced.size === 0) return false;
      fn.body = body;
      fn.results = fn.results.map(current);
      return true;
    },
  };
}

/** The pass for `dtype`, with both ops converted. */
export const mixedPrecision = (dtype: LowPrecision): Pass => makeMixedPrecision({ dtype });
