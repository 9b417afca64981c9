/**
 * Graph plumbing and static-shape ops: Identity and friends pass tensors through; Shape, Size,
 * Rank, Fill, Range, ZerosLike/OnesLike and Cast. Shape and friends give concrete tensors even for
 * a symbolic input (shapes are static), so the shape arithmetic that follows folds at import.
 */
import * as k from '../../ops.js';
import type { Tensor } from '../../tensor.js';
import { constant, input, staticScalar, staticValues, type OpContext, type OpTable } from './types.js';

const pass = (ctx: OpContext): Tensor => input(ctx, 0);

export const graphOps: OpTable = {
  Identity: pass,
  Snapshot: pass,
  StopGradient: pass,
  PreventGradient: pass,
  EnsureShape: pass,
  IdentityN: (ctx) => [...ctx.inputs],
  Shape: (ctx) => constant(input(ctx, 0).shape, [input(ctx, 0).rank], ctx.attrs.dtype('out_type', 'i32')),
  ShapeN: (ctx) => ctx.inputs.map((t) => constant(t.shape, [t.rank], ctx.attrs.dtype('out_type', 'i32'))),
  Size: (ctx) => constant([input(ctx, 0).size], [], ctx.attrs.dtype('out_type', 'i32')),
  Rank: (ctx) => constant([input(ctx, 0).rank], [], 'i32'),
  Fill: (ctx) => k.broadcastTo(input(ctx, 1), staticValues(ctx, 0, 'dims')),
  Range: (ctx) => k.range(staticScalar(ctx, 0, 'start'), staticScalar(ctx, 1, 'limit'), staticScalar(ctx, 2, 'delta'), ctx.attrs.dtype('Tidx', input(ctx, 0).dtype)),
  ZerosLike: (ctx) => k.zerosLike(input(ctx, 0)),
  OnesLike: (ctx) => k.onesLike(input(ctx, 0)),
  Cast: (ctx) => k.cast(input(ctx, 0), ctx.attrs.dtype('DstT')),
};
