import * as tf from '@tensorflow/tfjs-core';
import { DTYPES, isDType, isFloat, isInt, type DType } from '../dtype.js';
import { attr, type OpDef } from '../registry.js';
import { opError, shapesEqual, tensorType, type TensorType } from '../types.js';
import { elementwiseVjp } from './vjp_elementwise.js';

/**
 * Elementwise ops. Operands of binary ops must have identical types: the IR has no implicit
 * broadcasting (the frontend inserts broadcast_in_dim, as XLA does).
 */

type UnaryDomain = 'float' | 'numeric' | 'logical';

function unary(name: string, domain: UnaryDomain, fn: (x: tf.Tensor) => tf.Tensor): OpDef {
  return {
    name, kind: 'elementwise', arity: 1, attrs: {},
    infer([x]) {
      checkDomain(name, [x!], x!.dtype, domain);
      return x!;
    },
    interpret: ([x]) => fn(x!),
    vjp: elementwiseVjp[name],
  };
}

function checkDomain(name: string, ins: readonly TensorType[], d: DType, domain: UnaryDomain): void {
  if (domain === 'float' && !isFloat(d)) opError(name, ins, `needs a floating-point operand (f32, f16, bf16), got ${d}; cast first`);
  if (domain === 'numeric' && d === 'bool') opError(name, ins, 'needs a numeric operand, got bool; cast first');
  if (domain === 'logical' && d !== 'bool' && !isInt(d)) opError(name, ins, `needs a bool or integer operand, got ${d}`);
}

function sameTypes(name: string, ins: readonly TensorType[]): TensorType {
  const [a, b] = ins as [TensorType, TensorType];
  if (!shapesEqual(a.shape, b.shape)) opError(name, ins, 'operand shapes differ (the IR does not broadcast; insert broadcast_in_dim)');
  if (a.dtype !== b.dtype) opError(name, ins, `operand dtypes differ (${a.dtype} vs ${b.dtype}); insert a cast`);
  return a;
}

function binary(name: string, domain: UnaryDomain, fn: (a: tf.Tensor, b: tf.Tensor, t: TensorType) => tf.Tensor): OpDef {
  return {
    name, kind: 'elementwise', arity: 2, attrs: {},
    infer(ins) {
      const t = sameTypes(name, ins);
      checkDomain(name, ins, t.dtype, domain);
      return t;
    },
    interpret: ([a, b], _attrs, out) => fn(a!, b!, out),
    vjp: elementwiseVjp[name],
  };
}

/**
 * Integer division truncates toward zero, like C and XLA, with XLA's answers where C traps:
 * x / 0 = -1 and INT_MIN / -1 = INT_MIN. Done in doubles, which divide 32-bit ints exactly
 * enough for truncation (a float32 quotient would not be).
 */
function divide(a: tf.Tensor, b: tf.Tensor, t: TensorType): tf.Tensor {
  if (isFloat(t.dtype)) return tf.div(a, b);
  return intBinary(a, b, (x, y) => (y === 0 ? -1 : (Math.trunc(x / y) | 0)));
}

/** i32 multiplication wraps; tfjs multiplies in doubles and loses the low bits past 2^53. */
function multiply(a: tf.Tensor, b: tf.Tensor, t: TensorType): tf.Tensor {
  return isFloat(t.dtype) ? tf.mul(a, b) : intBinary(a, b, Math.imul);
}

export const COMPARE_DIRS = ['eq', 'ne', 'lt', 'le', 'gt', 'ge'] as const;
export type CompareDir = (typeof COMPARE_DIRS)[number];

const compareFns: Record<CompareDir, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor> = {
  eq: tf.equal, ne: tf.notEqual, lt: tf.less, le: tf.lessEqual, gt: tf.greater, ge: tf.greaterEqual,
};

export const elementwiseOps: OpDef[] = [
  unary('neg', 'numeric', tf.neg),
  // tfjs's int32 abs goes through float32 and loses bits past 2^24.
  unary('abs', 'numeric', (x) => (x.dtype === 'int32' ? intUnary(x, (v) => (v < 0 ? -v | 0 : v)) : tf.abs(x))),
  unary('sign', 'numeric', tf.sign),
  unary('exp', 'float', tf.exp),
  unary('log', 'float', tf.log),
  unary('log1p', 'float', tf.log1p),
  unary('sqrt', 'float', tf.sqrt),
  unary('rsqrt', 'float', tf.rsqrt),
  unary('tanh', 'float', tf.tanh),
  unary('logistic', 'float', tf.sigmoid),
  unary('sin', 'float', tf.sin),
  unary('cos', 'float', tf.cos),
  unary('floor', 'float', tf.floor),
  unary('ceil', 'float', tf.ceil),
  /** Round half to even (banker's rounding), as XLA's round_nearest_even and tf.round. */
  unary('round', 'float', tf.round),
  unary('erf', 'float', tf.erf),
  unary('not', 'logical', (x) => (x.dtype === 'bool' ? tf.logicalNot(x) : intUnary(x, (v) => ~v))),
  binary('add', 'numeric', (a, b) => tf.add(a, b)),
  binary('sub', 'numeric', (a, b) => tf.sub(a, b)),
  binary('mul', 'numeric', multiply),
  binary('div', 'numeric', divide),
  binary('pow', 'float', (a, b) => tf.pow(a, b)),
  binary('max', 'numeric', (a, b) => tf.maximum(a, b)),
  binary('min', 'numeric', (a, b) => tf.minimum(a, b)),
  binary('and', 'logical', (a, b) => (a.dtype === 'bool' ? tf.logicalAnd(a, b) : intBinary(a, b, (x, y) => x & y))),
  binary('or', 'logical', (a, b) => (a.dtype === 'bool' ? tf.logicalOr(a, b) : intBinary(a, b, (x, y) => x | y))),
  {
    name: 'compare', kind: 'elementwise', arity: 2,
    attrs: { dir: { kind: 'string', oneOf: COMPARE_DIRS } },
    infer(ins) {
      const t = sameTypes('compare', ins);
      return tensorType(t.shape, 'bool');
    },
    interpret: ([a, b], attrs) => compareFns[attr.str(attrs, 'dir') as CompareDir](a!, b!),
    vjp: elementwiseVjp.compare,
  },
  {
    name: 'select', kind: 'elementwise', arity: 3, attrs: {},
    infer(ins) {
      const [p, a, b] = ins as [TensorType, TensorType, TensorType];
      if (p.dtype !== 'bool') opError('select', ins, `predicate must be bool, got ${p.dtype}`);
      const t = sameTypes('select', [a, b]);
      if (!shapesEqual(p.shape, t.shape)) opError('select', ins, 'predicate shape differs from the operands');
      return t;
    },
    interpret: ([p, a, b]) => tf.where(p!, a!, b!),
    vjp: elementwiseVjp.select,
  },
  {
    name: 'cast', kind: 'elementwise', arity: 1,
    attrs: { dtype: { kind: 'dtype' } },
    infer(ins, attrs) {
      const d = attr.str(attrs, 'dtype');
      if (!isDType(d)) opError('cast', ins, `attribute 'dtype' must be one of ${DTYPES.join(', ')}, got '${d}'`);
      return tensorType(ins[0]!.shape, d);
    },
    interpret([x], _attrs, out) {
      // Float -> int truncates toward zero (C semantics); the interpreter then wraps to i8/u8.
      if (x!.dtype === 'float32' && out.dtype !== 'bool' && !isFloat(out.dtype)) {
        const t = x!;
        return tf.cast(tf.where(tf.less(t, 0), tf.ceil(t), tf.floor(t)), 'int32');
      }
      if (out.dtype === 'bool') return tf.notEqual(x!, tf.zerosLike(x!));
      return tf.cast(x!, out.dtype === 'i32' || out.dtype === 'i8' || out.dtype === 'u8' ? 'int32' : 'float32');
    },
    vjp: elementwiseVjp.cast,
  },
];

function intUnary(x: tf.Tensor, f: (v: number) => number): tf.Tensor {
  const data = x.dataSync();
  const out = new Int32Array(data.length);
  for (let i = 0; i < out.length; i++) out[i] = f(data[i] as number);
  return tf.tensor(out, x.shape, 'int32');
}

/** Apply an exact i32 function elementwise on the host (bool operands arrive as 0/1). */
function intBinary(a: tf.Tensor, b: tf.Tensor, f: (x: number, y: number) => number): tf.Tensor {
  const x = a.dataSync(), y = b.dataSync();
  const out = new Int32Array(x.length);
  for (let i = 0; i < out.length; i++) out[i] = f(x[i] as number, y[i] as number);
  return tf.tensor(out, a.shape, 'int32');
}
