/** Elementwise math, comparisons, logic and select, one TensorFlow op per entry. */
import * as k from '../../ops.js';
import type { Tensor } from '../../tensor.js';
import { fail, input, type OpContext, type OpTable } from './types.js';

type Binary = (a: Tensor, b: Tensor) => Tensor;
type Unary = (a: Tensor) => Tensor;

const binary = (f: Binary) => (ctx: OpContext) => f(input(ctx, 0), input(ctx, 1));
const unary = (f: Unary) => (ctx: OpContext) => f(input(ctx, 0));

export const arithmeticOps: OpTable = {
  Add: binary(k.add),
  AddV2: binary(k.add),
  BiasAdd: (ctx) => {
    const f = ctx.attrs.string('data_format', 'NHWC');
    if (f !== 'NHWC') fail(ctx, `data_format '${f}' is not supported (only NHWC: the bias adds along the last dim)`);
    return k.add(input(ctx, 0), input(ctx, 1));
  },
  Sub: binary(k.sub),
  Mul: binary(k.mul),
  RealDiv: binary(k.div),
  Div: binary(k.div),
  DivNoNan: binary((a, b) => k.where(k.equal(b, 0), k.zerosLike(k.add(a, k.mul(b, 0))), k.div(a, b))),
  FloorDiv: binary(k.floorDiv),
  FloorMod: binary(k.mod),
  Maximum: binary(k.maximum),
  Minimum: binary(k.minimum),
  Pow: binary(k.pow),
  SquaredDifference: binary(k.squaredDifference),
  AddN: (ctx) => ctx.inputs.slice(1).reduce((acc, t) => k.add(acc, t), input(ctx, 0)),
  Neg: unary(k.neg),
  Abs: unary(k.abs),
  Exp: unary(k.exp),
  Log: unary(k.log),
  Log1p: unary(k.log1p),
  Sqrt: unary(k.sqrt),
  Rsqrt: unary(k.rsqrt),
  Square: unary(k.square),
  Reciprocal: unary(k.reciprocal),
  Sign: unary(k.sign),
  Floor: unary(k.floor),
  Ceil: unary(k.ceil),
  Round: unary(k.round),
  Sin: unary(k.sin),
  Cos: unary(k.cos),
  Erf: unary(k.erf),
  Equal: binary(k.equal),
  NotEqual: binary(k.notEqual),
  Less: binary(k.less),
  LessEqual: binary(k.lessEqual),
  Greater: binary(k.greater),
  GreaterEqual: binary(k.greaterEqual),
  LogicalAnd: binary(k.logicalAnd),
  LogicalOr: binary(k.logicalOr),
  LogicalNot: unary(k.logicalNot),
  Select: (ctx) => k.where(input(ctx, 0), input(ctx, 1), input(ctx, 2)),
  SelectV2: (ctx) => k.where(input(ctx, 0), input(ctx, 1), input(ctx, 2)),
  ClipByValue: (ctx) => k.minimum(k.maximum(input(ctx, 0), input(ctx, 1)), input(ctx, 2)),
};
