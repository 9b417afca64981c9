import * as tf from '@tensorflow/tfjs-core';
import type { Attrs } from '../function.js';
import { attr, type OpDef } from '../registry.js';
import { numel, tensorType, type TensorType } from '../types.js';
import { checkAtLeast, checkLength, checkNotBool, isEmpty, lowest, zerosOf } from './common.js';
import { padTensor } from './movement.js';
import { reduceWindowVjp } from './vjp_structured.js';

/**
 * `reduce_window`: max or sum over sliding windows of any rank (pooling). Padding is filled with
 * the reduction's identity (-inf, or the dtype's lowest integer, for max; 0 for sum), so max
 * pooling never picks padding and sum pooling counts it as zero (average pooling divides later).
 *
 * The reference kernel pads, then combines one strided slice per window offset.
 */

export const WINDOW_OPS = ['max', 'sum'] as const;
export type WindowOp = (typeof WINDOW_OPS)[number];

export interface WindowParams {
  readonly window: readonly number[];
  readonly strides: readonly number[];
  readonly padLo: readonly number[];
  readonly padHi: readonly number[];
}

export function windowParams(attrs: Attrs): WindowParams {
  return { window: attr.ints(attrs, 'window'), strides: attr.ints(attrs, 'strides'), padLo: attr.ints(attrs, 'pad_lo'), padHi: attr.ints(attrs, 'pad_hi') };
}

export function windowOutDim(n: number, window: number, stride: number, lo: number, hi: number): number {
  const padded = n + lo + hi;
  return padded < window ? 0 : Math.floor((padded - window) / stride) + 1;
}

function inferWindow(ins: readonly TensorType[], attrs: Attrs): TensorType {
  const x = ins[0]!;
  const op = 'reduce_window';
  const rank = x.shape.length;
  const p = windowParams(attrs);
  checkNotBool(op, ins, x.dtype);
  for (const [name, list] of [['window', p.window], ['strides', p.strides], ['pad_lo', p.padLo], ['pad_hi', p.padHi]] as const) {
    checkLength(op, ins, name, list, rank, 'full rank: one entry per operand dim');
  }
  checkAtLeast(op, ins, 'window', p.window, 1);
  checkAtLeast(op, ins, 'strides', p.strides, 1);
  checkAtLeast(op, ins, 'pad_lo', p.padLo, 0);
  checkAtLeast(op, ins, 'pad_hi', p.padHi, 0);
  return tensorType(x.shape.map((n, i) => windowOutDim(n, p.window[i]!, p.strides[i]!, p.padLo[i]!, p.padHi[i]!)), x.dtype);
}

export const windowOps: OpDef[] = [
  {
    name: 'reduce_window', kind: 'window', arity: 1,
    attrs: { op: { kind: 'string', oneOf: WINDOW_OPS }, window: { kind: 'ints' }, strides: { kind: 'ints' }, pad_lo: { kind: 'ints' }, pad_hi: { kind: 'ints' } },
    infer: inferWindow,
    interpret([x], attrs, out, [xt]) {
      if (isEmpty(out)) return zerosOf(out);
      if (out.shape.length === 0) return x!; // a scalar is its own only window
      const op = attr.str(attrs, 'op') as WindowOp;
      const p = windowParams(attrs);
      const rank = out.shape.length;
      const fill = op === 'max' ? lowest(xt!.dtype) : 0;
      const xp = padTensor(x!, xt!, p.padLo, p.padHi, xt!.shape.map(() => 0), fill);
      let acc: tf.Tensor | undefined;
      const offsets = numel(p.window);
      for (let f = 0; f < offsets; f++) {
        // Row-major window offset number f.
        const begin = new Array<number>(rank);
        let rest = f;
        for (let d = rank - 1; d >= 0; d--) {
          begin[d] = rest % p.window[d]!;
          rest = Math.floor(rest / p.window[d]!);
        }
        const end = begin.map((b, d) => b + (out.shape[d]! - 1) * p.strides[d]! + 1);
        const part = tf.stridedSlice(xp, begin, end, [...p.strides]);
        acc = acc === undefined ? part : op === 'max' ? tf.maximum(acc, part) : tf.add(acc, part);
      }
      return tf.reshape(acc!, [...out.shape]);
    },
    vjp: reduceWindowVjp,
  },
];
