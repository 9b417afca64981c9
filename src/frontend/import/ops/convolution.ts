/**
 * Convolutions and pooling (NHWC only): Conv2D, DepthwiseConv2dNative, the fused forms with their
 * epilogues, MaxPool and AvgPool. TensorFlow's padding strings map to Kiln's: SAME, VALID, and
 * EXPLICIT with `explicit_paddings` (4 pairs, NHWC).
 */
import * as k from '../../ops.js';
import type { Padding } from '../../conv.js';
import type { Tensor } from '../../tensor.js';
import { applyFusedOps } from './activations.js';
import { fail, input, type OpContext, type OpTable } from './types.js';

function padding(ctx: OpContext): Padding {
  const p = ctx.attrs.string('padding');
  if (p === 'SAME') return 'same';
  if (p === 'VALID') return 'valid';
  if (p === 'EXPLICIT') {
    const e = ctx.attrs.ints('explicit_paddings');
    if (e.length !== 8) fail(ctx, `explicit_paddings must hold 8 values (NHWC pairs), got [${e.join(',')}]`);
    return [[e[2]!, e[3]!], [e[4]!, e[5]!]];
  }
  return fail(ctx, `padding '${p}' is not supported (SAME, VALID or EXPLICIT)`);
}

/** The H and W entries of a 4-entry NHWC list attribute (strides, dilations, ksize). */
function spatial(ctx: OpContext, name: string, dflt?: number[]): [number, number] {
  const v = ctx.attrs.ints(name, dflt);
  if (v.length === 1) return [v[0]!, v[0]!];
  if (v.length !== 4 || v[0] !== 1 || v[3] !== 1) fail(ctx, `${name} must be [1, h, w, 1] (NHWC), got [${v.join(',')}]`);
  return [v[1]!, v[2]!];
}

function checkFormat(ctx: OpContext): void {
  const f = ctx.attrs.string('data_format', 'NHWC');
  if (f !== 'NHWC') fail(ctx, `data_format '${f}' is not supported (only NHWC); convert the model with channels-last layout`);
}

function conv(ctx: OpContext): Tensor {
  checkFormat(ctx);
  return k.conv2d(input(ctx, 0), input(ctx, 1), spatial(ctx, 'strides'), padding(ctx), spatial(ctx, 'dilations', [1, 1, 1, 1]));
}

function depthwise(ctx: OpContext): Tensor {
  checkFormat(ctx);
  return k.depthwiseConv2d(input(ctx, 0), input(ctx, 1), spatial(ctx, 'strides'), padding(ctx), spatial(ctx, 'dilations', [1, 1, 1, 1]));
}

function pool(kind: 'max' | 'avg') {
  return (ctx: OpContext): Tensor => {
    checkFormat(ctx);
    const f = kind === 'max' ? k.maxPool : k.avgPool;
    return f(input(ctx, 0), spatial(ctx, 'ksize'), spatial(ctx, 'strides'), padding(ctx));
  };
}

export const convolutionOps: OpTable = {
  Conv2D: conv,
  DepthwiseConv2dNative: depthwise,
  DepthwiseConv2D: depthwise,
  _FusedConv2D: (ctx) => applyFusedOps(ctx, conv(ctx)),
  FusedDepthwiseConv2dNative: (ctx) => applyFusedOps(ctx, depthwise(ctx)),
  MaxPool: pool('max'),
  AvgPool: pool('avg'),
};
