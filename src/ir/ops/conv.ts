import * as tf from '@tensorflow/tfjs-core';
import { isDType, isFloat, type DType } from '../dtype.js';
import type { Attrs } from '../function.js';
import { attr, type OpDef } from '../registry.js';
import { opError, tensorType, type TensorType } from '../types.js';
import { checkAtLeast, checkLength, checkNotBool, isEmpty, zerosOf } from './common.js';
import { padTensor } from './movement.js';
import { convVjp } from './vjp_structured.js';

/**
 * `conv`: 2-D convolution, x NHWC and w HWIO (Keras's layouts), with strides, explicit low/high
 * padding (negative crops), lhs (input) dilation for transposed convolution, rhs (kernel)
 * dilation for atrous convolution, and feature groups (depthwise is groups = C). Like XLA, the
 * output is the cross-correlation of the dilated, padded input with the dilated kernel; a window
 * larger than the padded input gives an empty spatial dim.
 *
 * The reference kernel materializes the dilations and padding with padTensor and then runs a
 * 'valid', undilated tfjs conv (tfjs refuses strides and dilations > 1 together).
 */

export interface ConvParams {
  readonly strides: readonly number[];
  readonly padLo: readonly number[];
  readonly padHi: readonly number[];
  readonly lhsDilation: readonly number[];
  readonly rhsDilation: readonly number[];
  readonly groups: number;
}

export function convParams(attrs: Attrs): ConvParams {
  return {
    strides: attr.ints(attrs, 'strides'), padLo: attr.ints(attrs, 'pad_lo'), padHi: attr.ints(attrs, 'pad_hi'),
    lhsDilation: attr.ints(attrs, 'lhs_dilation'), rhsDilation: attr.ints(attrs, 'rhs_dilation'), groups: attr.int(attrs, 'groups'),
  };
}

/** Output size of one spatial dim (XLA's strided window bound). Negative when padding cuts too much. */
export function convOutDim(n: number, k: number, stride: number, lo: number, hi: number, lhsDil: number, rhsDil: number): number {
  const padded = lo + hi + (n > 0 ? (n - 1) * lhsDil + 1 : 0);
  if (padded < 0) return -1;
  const window = (k - 1) * rhsDil + 1;
  return padded < window ? 0 : Math.floor((padded - window) / stride) + 1;
}

function inferConv(ins: readonly TensorType[], attrs: Attrs): TensorType {
  const [x, w] = ins as [TensorType, TensorType];
  const op = 'conv';
  if (x.shape.length !== 4) opError(op, ins, `input must be rank 4 (NHWC), got rank ${x.shape.length}`);
  if (w.shape.length !== 4) opError(op, ins, `kernel must be rank 4 (HWIO), got rank ${w.shape.length}`);
  checkNotBool(op, ins, x.dtype);
  if (x.dtype !== w.dtype) opError(op, ins, `input and kernel dtypes differ (${x.dtype} vs ${w.dtype}); cast first`);
  const p = convParams(attrs);
  for (const [name, list] of [['strides', p.strides], ['pad_lo', p.padLo], ['pad_hi', p.padHi], ['lhs_dilation', p.lhsDilation], ['rhs_dilation', p.rhsDilation]] as const) {
    checkLength(op, ins, name, list, 2, 'one per spatial dim, [h, w]');
  }
  checkAtLeast(op, ins, 'strides', p.strides, 1);
  checkAtLeast(op, ins, 'lhs_dilation', p.lhsDilation, 1);
  checkAtLeast(op, ins, 'rhs_dilation', p.rhsDilation, 1);
  const [n, h, wd, c] = x.shape as [number, number, number, number];
  const [kh, kw, ci, co] = w.shape as [number, number, number, number];
  const g = p.groups;
  if (g < 1) opError(op, ins, `attribute 'groups' = ${g} must be >= 1`);
  if (c % g !== 0) opError(op, ins, `input channels ${c} are not divisible by groups ${g} (attribute 'groups')`);
  if (ci * g !== c) opError(op, ins, `kernel input channels ${ci} must equal input channels ${c} / groups ${g} (attribute 'groups')`);
  if (co % g !== 0) opError(op, ins, `kernel output channels ${co} are not divisible by groups ${g} (attribute 'groups')`);
  if (kh < 1 || kw < 1) opError(op, ins, `kernel spatial size ${kh}x${kw} must be at least 1x1`);
  const spatial = [[h, kh], [wd, kw]].map(([size, k], i) => {
    const o = convOutDim(size!, k!, p.strides[i]!, p.padLo[i]!, p.padHi[i]!, p.lhsDilation[i]!, p.rhsDilation[i]!);
    if (o < 0) opError(op, ins, `negative padding ${p.padLo[i]}/${p.padHi[i]} crops more than the ${i === 0 ? 'height' : 'width'} ${size} (attributes 'pad_lo', 'pad_hi')`);
    return o;
  });
  const want = attr.str(attrs, 'dtype');
  if (want !== '' && (!isDType(want) || want === 'bool')) opError(op, ins, `attribute 'dtype' must be '' or a numeric dtype, got '${want}'`);
  const dtype: DType = want === '' ? x.dtype : (want as DType);
  if (isFloat(dtype) !== isFloat(x.dtype)) opError(op, ins, `attribute 'dtype' = ${dtype} must stay ${isFloat(x.dtype) ? 'floating-point' : 'integer'} like the operands`);
  return tensorType([n, spatial[0]!, spatial[1]!, co], dtype);
}

/** Exact integer 'valid' grouped conv with i32 wrap-around on already padded/dilated operands. */
function intConv(x: tf.Tensor, w: tf.Tensor, strides: readonly number[], groups: number, out: TensorType): tf.Tensor {
  const [, h, wd, c] = x.shape as [number, number, number, number];
  const [kh, kw, ci, co] = w.shape as [number, number, number, number];
  const [n, oh, ow] = out.shape as [number, number, number, number];
  const xd = x.dataSync() as Int32Array, wdata = w.dataSync() as Int32Array;
  const res = new Int32Array(n * oh * ow * co);
  const perGroup = co / groups;
  for (let b = 0; b < n; b++) for (let i = 0; i < oh; i++) for (let j = 0; j < ow; j++) for (let o = 0; o < co; o++) {
    const c0 = Math.floor(o / perGroup) * ci;
    let acc = 0;
    for (let u = 0; u < kh; u++) for (let v = 0; v < kw; v++) {
      const xBase = ((b * h + i * strides[0]! + u) * wd + j * strides[1]! + v) * c + c0;
      const wBase = (u * kw + v) * ci * co + o;
      for (let k = 0; k < ci; k++) acc = (acc + Math.imul(xd[xBase + k]!, wdata[wBase + k * co]!)) | 0;
    }
    res[((b * oh + i) * ow + j) * co + o] = acc;
  }
  return tf.tensor(res, [...out.shape], 'int32');
}

function floatConv(x: tf.Tensor4D, w: tf.Tensor4D, strides: [number, number], groups: number): tf.Tensor {
  if (groups === 1) return tf.conv2d(x, w, strides, 'valid');
  const [kh, kw, ci, co] = w.shape;
  if (ci === 1) {
    // Depthwise: group c's outputs [c*m, (c+1)*m) are exactly depthwiseConv2d's channel order.
    return tf.depthwiseConv2d(x, tf.reshape(w, [kh, kw, groups, co / groups]), strides, 'valid');
  }
  const perGroup = co / groups;
  const parts: tf.Tensor4D[] = [];
  for (let g = 0; g < groups; g++) {
    const xg = tf.slice(x, [0, 0, 0, g * ci], [-1, -1, -1, ci]);
    const wg = tf.slice(w, [0, 0, 0, g * perGroup], [-1, -1, -1, perGroup]);
    parts.push(tf.conv2d(xg, wg, strides, 'valid'));
  }
  return tf.concat(parts, 3);
}

export const convOps: OpDef[] = [
  {
    name: 'conv', kind: 'conv', arity: 2,
    attrs: {
      strides: { kind: 'ints' }, pad_lo: { kind: 'ints' }, pad_hi: { kind: 'ints' },
      lhs_dilation: { kind: 'ints', default: [1, 1] }, rhs_dilation: { kind: 'ints', default: [1, 1] },
      groups: { kind: 'int', default: 1 }, dtype: { kind: 'dtype', default: '' },
    },
    infer: inferConv,
    interpret([x, w], attrs, out, [xt, wt]) {
      if (isEmpty(out) || xt!.shape[3] === 0) return zerosOf(out);
      const p = convParams(attrs);
      const xp = padTensor(x!, xt!, [0, p.padLo[0]!, p.padLo[1]!, 0], [0, p.padHi[0]!, p.padHi[1]!, 0], [0, p.lhsDilation[0]! - 1, p.lhsDilation[1]! - 1, 0], 0);
      const wp = padTensor(w!, wt!, [0, 0, 0, 0], [0, 0, 0, 0], [p.rhsDilation[0]! - 1, p.rhsDilation[1]! - 1, 0, 0], 0);
      // The padded input can be larger than the strided windows cover; tfjs 'valid' handles that.
      if (!isFloat(xt!.dtype)) return intConv(xp, wp, p.strides, p.groups, out);
      return floatConv(xp as tf.Tensor4D, wp as tf.Tensor4D, [p.strides[0]!, p.strides[1]!], p.groups);
    },
    vjp: convVjp,
  },
];
