/**
 * VJP rules of the elementwise ops (attached to their declarations in elementwise.ts). Where a
 * derivative is a choice (ties of max/min, pow's exponent at a non-positive base) the rules follow
 * tf.grads in TensorFlow.js so Kiln's gradients agree with it: max sends a tie to its first
 * operand (a >= b), min likewise (a <= b), and d pow/d b is 0 where a <= 0. Rules only run on
 * float values (the autodiff transform gives integer and bool values no cotangent).
 */
import type { Builder } from '../builder.js';
import { isFloat } from '../dtype.js';
import type { Value } from '../function.js';
import type { VjpRule } from '../registry.js';
import { binary, compare, maskBy, noGradient, select, splat, unary, zerosLike } from './vjp_common.js';

const mul = (b: Builder, x: Value, y: Value) => binary(b, 'mul', x, y);
const c = (b: Builder, x: number, like: Value) => splat(b, x, like.type);

/** A unary rule from the local derivative: x' = g * d(x, y). */
function chain(d: (b: Builder, x: Value, y: Value) => Value): VjpRule {
  return (b, node, g) => [mul(b, g, d(b, node.inputs[0]!, node))];
}

export const elementwiseVjp: Record<string, VjpRule> = {
  neg: (b, _node, g) => [unary(b, 'neg', g)],
  // d|x| = sign(x): 0 at 0 (tfjs's step(x, -1) gives -1 there; sign is the symmetric subgradient).
  abs: chain((b, x) => unary(b, 'sign', x)),
  exp: chain((_b, _x, y) => y),
  log: (b, node, g) => [binary(b, 'div', g, node.inputs[0]!)],
  log1p: (b, node, g) => {
    const x = node.inputs[0]!;
    return [binary(b, 'div', g, binary(b, 'add', x, c(b, 1, x)))];
  },
  // d sqrt(x) = 1 / (2 sqrt(x)) = 1 / (2y)
  sqrt: (b, node, g) => [binary(b, 'div', g, binary(b, 'add', node, node))],
  // d x^-1/2 = -1/2 x^-3/2 = -0.5 * y / x
  rsqrt: chain((b, x, y) => mul(b, c(b, -0.5, x), binary(b, 'div', y, x))),
  tanh: chain((b, _x, y) => binary(b, 'sub', c(b, 1, y), mul(b, y, y))),
  logistic: chain((b, _x, y) => mul(b, y, binary(b, 'sub', c(b, 1, y), y))),
  sin: chain((b, x) => unary(b, 'cos', x)),
  cos: chain((b, x) => unary(b, 'neg', unary(b, 'sin', x))),
  // d erf(x) = 2/sqrt(pi) * exp(-x^2)
  erf: chain((b, x) => mul(b, c(b, 2 / Math.sqrt(Math.PI), x), unary(b, 'exp', unary(b, 'neg', mul(b, x, x))))),
  sign: noGradient,
  floor: noGradient,
  ceil: noGradient,
  round: noGradient,
  not: noGradient,
  add: (_b, _node, g) => [g, g],
  sub: (b, _node, g) => [g, unary(b, 'neg', g)],
  mul: (b, node, g) => [mul(b, g, node.inputs[1]!), mul(b, g, node.inputs[0]!)],
  div: (b, node, g) => {
    const [x, y] = node.inputs as [Value, Value];
    // -g * x / y^2, in tfjs's order of operations
    return [binary(b, 'div', g, y), unary(b, 'neg', mul(b, g, binary(b, 'div', x, mul(b, y, y))))];
  },
  pow: (b, node, g) => {
    const [x, y] = node.inputs as [Value, Value];
    const dx = mul(b, g, mul(b, y, binary(b, 'pow', x, binary(b, 'sub', y, c(b, 1, y)))));
    const logBase = select(b, compare(b, 'gt', x, zerosLike(b, x)), unary(b, 'log', x), zerosLike(b, x));
    const dy = mul(b, g, mul(b, node, logBase));
    return [dx, dy];
  },
  max: (b, node, g) => {
    const [x, y] = node.inputs as [Value, Value];
    return [maskBy(b, compare(b, 'ge', x, y), g), maskBy(b, compare(b, 'lt', x, y), g)];
  },
  min: (b, node, g) => {
    const [x, y] = node.inputs as [Value, Value];
    return [maskBy(b, compare(b, 'le', x, y), g), maskBy(b, compare(b, 'gt', x, y), g)];
  },
  and: noGradient,
  or: noGradient,
  compare: noGradient,
  select: (b, node, g) => {
    const p = node.inputs[0]!;
    return [null, maskBy(b, p, g), select(b, p, zerosLike(b, g), g)];
  },
  // Between float types the cotangent casts back; from an integer or bool there is nothing to differentiate.
  cast: (b, node, g) => {
    const x = node.inputs[0]!;
    return [isFloat(x.dtype) ? b.op('cast', [g], { dtype: x.dtype }) : null];
  },
};
