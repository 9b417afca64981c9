/** Matrix products: MatMul, BatchMatMul(V2) and the fused _FusedMatMul with its epilogue. */
import * as k from '../../ops.js';
import type { Tensor } from '../../tensor.js';
import { applyFusedOps } from './activations.js';
import { input, type OpContext, type OpTable } from './types.js';

function matmul(ctx: OpContext): Tensor {
  return k.matmul(input(ctx, 0), input(ctx, 1), ctx.attrs.bool('transpose_a', false), ctx.attrs.bool('transpose_b', false));
}

function batchMatmul(ctx: OpContext): Tensor {
  return k.matmul(input(ctx, 0), input(ctx, 1), ctx.attrs.bool('adj_x', false), ctx.attrs.bool('adj_y', false));
}

export const matrixOps: OpTable = {
  MatMul: matmul,
  BatchMatMul: batchMatmul,
  BatchMatMulV2: batchMatmul,
  _FusedMatMul: (ctx) => applyFusedOps(ctx, matmul(ctx)),
};
