import { describe, expect, it } from 'vitest';
import { Builder } from '../builder.js';
import { castScalar, type DType } from '../dtype.js';
import { literal } from '../literal.js';
import { tensorType } from '../types.js';
import './index.js';
import { kilnErrorMessage, maxAbsDiff, randomLiteral, runOp } from './testkit.js';

/** Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7), independent of tfjs's erf. */
function erf(x: number): number {
  const t = 1 / (1 + 0.3275911 * Math.abs(x));
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
  return x < 0 ? -y : y;
}
/** Round half to even. */
function roundEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

const unaryFloat: Record<string, (x: number) => number> = {
  neg: (x) => -x, abs: Math.abs, sign: Math.sign, exp: Math.exp, log: Math.log, log1p: Math.log1p, sqrt: Math.sqrt,
  rsqrt: (x) => 1 / Math.sqrt(x), tanh: Math.tanh, logistic: (x) => 1 / (1 + Math.exp(-x)), sin: Math.sin, cos: Math.cos,
  floor: Math.floor, ceil: Math.ceil, round: roundEven, erf,
};

describe('elementwise', () => {
  for (const [op, f] of Object.entries(unaryFloat)) {
    it(`${op} f32 (sizes 7x3, empty)`, () => {
      const positive = ['log', 'sqrt', 'rsqrt', 'log1p'].includes(op);
      const x = randomLiteral([7, 3], 'f32', 71, positive ? 0.1 : -3, 3);
      if (op === 'round') x.data.set([0.5, 1.5, 2.5, -0.5, -1.5, -2.5], 0);
      const out = runOp(op, [x]);
      expect(maxAbsDiff(out.data, Array.from(x.data, f))).toBeLessThan(1e-5);
      expect(runOp(op, [randomLiteral([0, 3], 'f32')]).type.shape).toEqual([0, 3]);
    });
  }

  const binaryFloat: Record<string, (a: number, b: number) => number> = {
    add: (a, b) => a + b, sub: (a, b) => a - b, mul: (a, b) => a * b, div: (a, b) => a / b, max: Math.max, min: Math.min, pow: (a, b) => Math.pow(Math.abs(a), b),
  };
  for (const [op, f] of Object.entries(binaryFloat)) {
    it(`${op} f32`, () => {
      let a = randomLiteral([5, 9], 'f32', 72), b = randomLiteral([5, 9], 'f32', 73);
      if (op === 'pow') a = literal([5, 9], 'f32', Array.from(a.data, Math.abs));
      if (op === 'div') b = literal([5, 9], 'f32', Array.from(b.data, (v) => v + (v >= 0 ? 0.5 : -0.5)));
      const want = Array.from(a.data, (v, i) => f(v, b.data[i]!));
      expect(maxAbsDiff(runOp(op, [a, b]).data, want)).toBeLessThan(1e-5);
    });
  }

  it('i32 arithmetic wraps and divides toward zero, x/0 = -1', () => {
    const a = literal([8], 'i32', [7, -7, 7, -7, 2147483647, -2147483648, 123456789, 5]);
    const b = literal([8], 'i32', [2, 2, -2, -2, 1, -1, 987654321, 0]);
    expect(Array.from(runOp('div', [a, b]).data)).toEqual([3, -3, -3, 3, 2147483647, -2147483648, 0, -1]);
    expect(Array.from(runOp('mul', [a, b]).data)).toEqual(Array.from(a.data, (v, i) => Math.imul(v, b.data[i]!)));
    expect(Array.from(runOp('add', [a, b]).data)).toEqual(Array.from(a.data, (v, i) => (v + b.data[i]!) | 0));
    expect(Array.from(runOp('sub', [a, b]).data)).toEqual(Array.from(a.data, (v, i) => (v - b.data[i]!) | 0));
    expect(Array.from(runOp('and', [a, b]).data)).toEqual(Array.from(a.data, (v, i) => v & b.data[i]!));
    expect(Array.from(runOp('or', [a, b]).data)).toEqual(Array.from(a.data, (v, i) => v | b.data[i]!));
    expect(Array.from(runOp('not', [a]).data)).toEqual(Array.from(a.data, (v) => ~v));
  });

  it('i8 and u8 results wrap', () => {
    const a = literal([3], 'i8', [100, -100, 7]), b = literal([3], 'i8', [100, -100, 3]);
    expect(Array.from(runOp('add', [a, b]).data)).toEqual([-56, 56, 10]);
    expect(Array.from(runOp('mul', [a, b]).data)).toEqual([(10000 << 24) >> 24, (10000 << 24) >> 24, 21]);
    expect(Array.from(runOp('sub', [literal([2], 'u8', [3, 200]), literal([2], 'u8', [5, 100])]).data)).toEqual([254, 100]);
  });

  it('compare, select and bool logic', () => {
    const a = randomLiteral([11], 'i32', 74, -3, 3), b = randomLiteral([11], 'i32', 75, -3, 3);
    const dirs: Record<string, (x: number, y: number) => boolean> = { eq: (x, y) => x === y, ne: (x, y) => x !== y, lt: (x, y) => x < y, le: (x, y) => x <= y, gt: (x, y) => x > y, ge: (x, y) => x >= y };
    for (const [dir, f] of Object.entries(dirs)) {
      const out = runOp('compare', [a, b], { dir });
      expect(out.type.dtype).toBe('bool');
      expect(Array.from(out.data)).toEqual(Array.from(a.data, (v, i) => (f(v, b.data[i]!) ? 1 : 0)));
    }
    const p = randomLiteral([11], 'bool', 76);
    expect(Array.from(runOp('select', [p, a, b]).data)).toEqual(Array.from(p.data, (v, i) => (v ? a.data[i] : b.data[i])));
    const q = randomLiteral([11], 'bool', 77);
    expect(Array.from(runOp('and', [p, q]).data)).toEqual(Array.from(p.data, (v, i) => v & q.data[i]!));
    expect(Array.from(runOp('not', [p]).data)).toEqual(Array.from(p.data, (v) => 1 - v));
  });

  it('cast truncates toward zero, wraps ints and rounds narrow floats', () => {
    const x = literal([8], 'f32', [2.7, -2.7, 300.5, -129.5, 0, 1e-3, 65519, 3e9]);
    for (const d of ['i32', 'i8', 'u8', 'bool', 'f16', 'bf16'] as DType[]) {
      const out = runOp('cast', [x], { dtype: d });
      expect(out.type).toEqual(tensorType([8], d));
      expect(Array.from(out.data)).toEqual(Array.from(x.data, (v) => castScalar(v, d)));
    }
    expect(Array.from(runOp('cast', [literal([3], 'bool', [1, 0, 1])], { dtype: 'f32' }).data)).toEqual([1, 0, 1]);
    expect(Array.from(runOp('cast', [literal([2], 'i8', [-1, 5])], { dtype: 'u8' }).data)).toEqual([255, 5]);
  });

  it('rejects mismatched operands and bad domains', () => {
    const b = new Builder();
    const f = b.param(tensorType([2, 3], 'f32'));
    expect(kilnErrorMessage(() => b.op('add', [f, b.param(tensorType([3], 'f32'))]))).toContain('add(f32[2,3], f32[3]): operand shapes differ');
    expect(kilnErrorMessage(() => b.op('add', [f, b.param(tensorType([2, 3], 'i32'))]))).toContain('operand dtypes differ (f32 vs i32)');
    expect(kilnErrorMessage(() => b.op('exp', [b.param(tensorType([2], 'i32'))]))).toContain('exp(i32[2]): needs a floating-point operand');
    expect(kilnErrorMessage(() => b.op('and', [f, f]))).toContain('needs a bool or integer operand');
    expect(kilnErrorMessage(() => b.op('select', [f, f, f]))).toContain('predicate must be bool');
    expect(kilnErrorMessage(() => b.op('cast', [f], { dtype: 'f64' }))).toContain("cast(f32[2,3]): attribute 'dtype' must be one of");
  });
});

describe('elementwise i32 exactness past 2^24', () => {
  it('abs, neg, not, sign stay exact', () => {
    const x = literal([5], 'i32', [123456789, -2147483648, 2147483647, -16777217, 0]);
    expect(Array.from(runOp('abs', [x]).data)).toEqual([123456789, -2147483648, 2147483647, 16777217, 0]);
    expect(Array.from(runOp('neg', [x]).data)).toEqual([-123456789, -2147483648, -2147483647, 16777217, 0]);
    expect(Array.from(runOp('not', [x]).data)).toEqual([~123456789, 2147483647, -2147483648, 16777216, -1]);
    expect(Array.from(runOp('sign', [x]).data)).toEqual([1, -1, 1, -1, 0]);
  });
});
