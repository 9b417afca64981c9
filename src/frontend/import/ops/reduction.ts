/** Reductions over axes given as a (static) input, with keep_dims, and ArgMax/ArgMin. */
import * as k from '../../ops.js';
import type { Tensor } from '../../tensor.js';
import { input, staticScalar, staticValues, type OpContext, type OpTable } from './types.js';

type Reducer = (x: Tensor, axis: number[], keepDims: boolean) => Tensor;

function reduce(f: Reducer) {
  return (ctx: OpContext): Tensor => f(input(ctx, 0), staticValues(ctx, 1, 'reduction axes'), ctx.attrs.bool('keep_dims', false));
}

function arg(f: (x: Tensor, axis: number) => Tensor) {
  return (ctx: OpContext): Tensor => {
    const out = f(input(ctx, 0), staticScalar(ctx, 1, 'axis'));
    return k.cast(out, ctx.attrs.dtype('output_type', 'i32'));
  };
}

export const reductionOps: OpTable = {
  Sum: reduce(k.sum),
  Mean: reduce(k.mean),
  Max: reduce(k.max),
  Min: reduce(k.min),
  Prod: reduce(k.prod),
  All: reduce((x, a, kd) => k.cast(k.min(k.cast(x, 'i32'), a, kd), 'bool')),
  Any: reduce((x, a, kd) => k.cast(k.max(k.cast(x, 'i32'), a, kd), 'bool')),
  ArgMax: arg(k.argMax),
  ArgMin: arg(k.argMin),
};
