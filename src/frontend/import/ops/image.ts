/** Resizing and block rearrangement: ResizeBilinear, ResizeNearestNeighbor, DepthToSpace, SpaceToDepth. */
import * as k from '../../ops.js';
import type { Tensor } from '../../tensor.js';
import { fail, input, staticValues, type OpContext, type OpTable } from './types.js';

function resize(f: typeof k.resizeBilinear) {
  return (ctx: OpContext): Tensor => {
    const size = staticValues(ctx, 1, 'size');
    let x = input(ctx, 0);
    // TF resizes any numeric input and returns float32 for the bilinear kernel.
    if (f === k.resizeBilinear && x.dtype !== 'f32') x = k.cast(x, 'f32');
    return f(x, size, ctx.attrs.bool('align_corners', false), ctx.attrs.bool('half_pixel_centers', false));
  };
}

function blocks(f: typeof k.depthToSpace) {
  return (ctx: OpContext): Tensor => {
    const format = ctx.attrs.string('data_format', 'NHWC');
    if (format !== 'NHWC') fail(ctx, `data_format '${format}' is not supported (only NHWC)`);
    return f(input(ctx, 0), ctx.attrs.int('block_size'), 'NHWC');
  };
}

export const imageOps: OpTable = {
  ResizeBilinear: resize(k.resizeBilinear),
  ResizeNearestNeighbor: resize(k.resizeNearestNeighbor),
  DepthToSpace: blocks(k.depthToSpace),
  SpaceToDepth: blocks(k.spaceToDepth),
};
