import { describe, expect, it } from 'vitest';
import { Builder } from '../builder.js';
import { interpret } from '../interpreter.js';
import { literal, type Literal } from '../literal.js';
import { KilnError, numel, stridesOf, tensorType, type Shape } from '../types.js';
import './index.js';
import { randomLiteral, runOp } from './testkit.js';

// Oracles here are naive index loops written independently of the kernels.

function unravel(flat: number, shape: Shape): number[] {
  const idx = new Array<number>(shape.length);
  for (let i = shape.length - 1; i >= 0; i--) {
    idx[i] = flat % shape[i]!;
    flat = Math.floor(flat / shape[i]!);
  }
  return idx;
}
function ravel(idx: readonly number[], shape: Shape): number {
  const st = stridesOf(shape);
  return idx.reduce((acc, v, i) => acc + v * st[i]!, 0);
}
function values(l: Literal): number[] {
  return Array.from(l.data);
}
function expectError(f: () => unknown, ...parts: string[]): void {
  let err: unknown;
  try { f(); } catch (e) { err = e; }
  expect(err).toBeInstanceOf(KilnError);
  for (const p of parts) expect((err as Error).message).toContain(p);
}
function build1(op: string, shape: Shape, attrs: Record<string, unknown>, dtype: 'f32' | 'i32' = 'f32'): void {
  const b = new Builder();
  b.op(op, [b.param(tensorType(shape, dtype))], attrs as never);
}

describe('constant and iota', () => {
  it('constant returns its literal', () => {
    const lit = literal([2, 3], 'i32', [1, -2, 3, 4, 5, 6]);
    const out = runOp('constant', [], { value: lit });
    expect(out.type).toEqual(lit.type);
    expect(values(out)).toEqual([1, -2, 3, 4, 5, 6]);
  });

  for (const [shape, dim, dtype] of [[[3, 5], 0, 'i32'], [[3, 5], 1, 'f32'], [[2, 1, 7], 2, 'f32'], [[1], 0, 'i32'], [[2, 0, 3], 2, 'i32']] as const) {
    it(`iota ${dtype}[${shape}] dim ${dim}`, () => {
      const out = runOp('iota', [], { shape, dim, dtype });
      expect(out.type.shape).toEqual(shape);
      const want = Array.from({ length: numel(shape) }, (_, i) => unravel(i, shape)[dim]!);
      expect(values(out)).toEqual(want);
    });
  }

  it('iota rejects bad dim and dtype', () => {
    const b = new Builder();
    expectError(() => b.op('iota', [], { shape: [2, 3], dim: 2, dtype: 'i32' }), 'iota()', "'dim' = 2", 'rank 2');
    expectError(() => b.op('iota', [], { shape: [2], dim: 0, dtype: 'bool' }), "'dtype'", 'bool');
    expectError(() => b.op('iota', [], { shape: [2, -1], dim: 0, dtype: 'i32' }), "'shape'", 'negative');
  });
});

describe('broadcast_in_dim', () => {
  const cases: [Shape, Shape, number[]][] = [
    [[3, 1], [2, 3, 5], [1, 2]],
    [[], [4, 3], []],
    [[5, 2], [2, 3, 5], [2, 0]], // unsorted dims: a transpose folded in
    [[1, 1], [1, 1], [0, 1]],
    [[3], [0, 3], [1]],
  ];
  for (const [xs, shape, dims] of cases) {
    it(`[${xs}] -> [${shape}] dims [${dims}]`, () => {
      const x = randomLiteral(xs, 'f32', 3);
      const out = runOp('broadcast_in_dim', [x], { shape, dims });
      expect(out.type.shape).toEqual(shape);
      const want = Array.from({ length: numel(shape) }, (_, i) => {
        const o = unravel(i, shape);
        return x.data[ravel(dims.map((d, k) => (xs[k] === 1 ? 0 : o[d]!)), xs)]!;
      });
      expect(values(out)).toEqual(want);
    });
  }
  it('rejects mismatched sizes, bad dims', () => {
    expectError(() => build1('broadcast_in_dim', [3], { shape: [2, 4], dims: [1] }), 'broadcast_in_dim(f32[3])', 'size 3', 'size 4', "'dims'");
    expectError(() => build1('broadcast_in_dim', [3], { shape: [3, 3], dims: [2] }), "'dims'", 'out of range');
    expectError(() => build1('broadcast_in_dim', [3, 3], { shape: [3, 3], dims: [0, 0] }), 'appears twice');
    expectError(() => build1('broadcast_in_dim', [3, 3], { shape: [3, 3], dims: [0] }), "'dims' has 1 entries");
  });
});

describe('reshape and transpose', () => {
  it('reshape keeps row-major order', () => {
    const x = randomLiteral([3, 4, 5], 'i32', 4, -50, 50);
    const out = runOp('reshape', [x], { shape: [5, 12] });
    expect(out.type.shape).toEqual([5, 12]);
    expect(values(out)).toEqual(values(x));
    expect(runOp('reshape', [randomLiteral([0, 3])], { shape: [3, 0, 7] }).type.shape).toEqual([3, 0, 7]);
    expect(values(runOp('reshape', [literal([1, 1], 'f32', [2.5])], { shape: [] }))).toEqual([2.5]);
  });
  it('reshape rejects a different element count', () => {
    expectError(() => build1('reshape', [3, 4], { shape: [5, 2] }), 'reshape(f32[3,4])', "'shape' = [5,2]", '10 elements', '12');
  });
  for (const [xs, perm] of [[[2, 3, 5], [2, 0, 1]], [[1, 7], [1, 0]], [[3, 0, 2], [1, 2, 0]], [[2, 3, 1, 5], [3, 1, 0, 2]]] as [Shape, number[]][]) {
    it(`transpose [${xs}] perm [${perm}]`, () => {
      const x = randomLiteral(xs, 'f32', 5);
      const out = runOp('transpose', [x], { perm });
      const shape = perm.map((p) => xs[p]!);
      expect(out.type.shape).toEqual(shape);
      const want = Array.from({ length: numel(shape) }, (_, i) => {
        const o = unravel(i, shape);
        const src = new Array<number>(xs.length);
        perm.forEach((p, k) => { src[p] = o[k]!; });
        return x.data[ravel(src, xs)]!;
      });
      expect(values(out)).toEqual(want);
    });
  }
  it('transpose rejects non-permutations', () => {
    expectError(() => build1('transpose', [2, 3], { perm: [0, 0] }), 'transpose(f32[2,3])', "'perm'", 'twice');
    expectError(() => build1('transpose', [2, 3], { perm: [0, 2] }), "'perm'", 'out of range');
    expectError(() => build1('transpose', [2, 3], { perm: [0] }), "'perm' has 1 entries");
  });
});

describe('slice', () => {
  const cases: [Shape, number[], number[], number[]][] = [
    [[7, 5], [1, 0], [7, 5], [3, 2]],
    [[6, 9], [2, 1], [5, 8], [1, 1]],
    [[4, 3, 5], [0, 1, 4], [4, 2, 5], [4, 1, 1]],
    [[5, 5], [2, 0], [2, 5], [1, 1]],
  ];
  for (const [xs, start, limit, strides] of cases) {
    it(`[${xs}] ${start}:${limit}:${strides}`, () => {
      const x = randomLiteral(xs, 'f32', 6);
      const out = runOp('slice', [x], { start, limit, strides });
      const shape = xs.map((_, i) => Math.ceil((limit[i]! - start[i]!) / strides[i]!));
      expect(out.type.shape).toEqual(shape);
      const want = Array.from({ length: numel(shape) }, (_, i) => x.data[ravel(unravel(i, shape).map((o, k) => start[k]! + o * strides[k]!), xs)]!);
      expect(values(out)).toEqual(want);
    });
  }
  it('rejects bad bounds and strides', () => {
    expectError(() => build1('slice', [4, 5], { start: [0, 2], limit: [4, 6], strides: [1, 1] }), 'slice(f32[4,5])', 'dim 1', 'limit 6', "'limit'");
    expectError(() => build1('slice', [4, 5], { start: [3, 0], limit: [2, 5], strides: [1, 1] }), 'dim 0', 'start 3');
    expectError(() => build1('slice', [4, 5], { start: [0, 0], limit: [4, 5], strides: [1, 0] }), "'strides'", '>= 1');
    expectError(() => build1('slice', [4, 5], { start: [0], limit: [4, 5], strides: [1, 1] }), "'start' has 1 entries");
  });
});

describe('pad', () => {
  function naivePad(x: Literal, low: number[], high: number[], interior: number[], value: number): { shape: number[]; data: number[] } {
    const xs = x.type.shape;
    const shape = xs.map((n, i) => low[i]! + high[i]! + n + Math.max(n - 1, 0) * interior[i]!);
    const data = new Array<number>(numel(shape)).fill(value);
    for (let f = 0; f < numel(xs); f++) {
      const o = unravel(f, xs).map((v, i) => low[i]! + v * (interior[i]! + 1));
      if (o.every((v, i) => v >= 0 && v < shape[i]!)) data[ravel(o, shape)] = x.data[f]!;
    }
    return { shape, data };
  }
  const cases: [Shape, number[], number[], number[], number][] = [
    [[3, 5], [1, 2], [2, 0], [0, 0], 0],
    [[3, 5], [0, 1], [1, 0], [2, 1], -1.5],
    [[4, 7], [-1, 2], [3, -2], [1, 0], 9],
    [[5], [-4], [-3], [2], 0], // negative pads cut into interior padding
    [[3], [-6], [5], [1], 4], // cut through all of the input into the high padding
    [[1, 1], [0, 0], [0, 0], [3, 3], 0],
    [[0, 2], [2, 0], [1, 1], [1, 0], 3], // empty input: all padding
    [[2, 3], [-1, 0], [-1, 0], [0, 0], 0], // empty output
  ];
  for (const [xs, low, high, interior, value] of cases) {
    it(`[${xs}] low ${low} high ${high} interior ${interior}`, () => {
      const x = randomLiteral(xs, 'f32', 7);
      const out = runOp('pad', [x], { low, high, interior, value });
      const want = naivePad(x, low, high, interior, value);
      expect(out.type.shape).toEqual(want.shape);
      expect(values(out)).toEqual(want.data.map(Math.fround));
    });
  }
  it('pads i32 and bool', () => {
    const xi = randomLiteral([3, 2], 'i32', 8, -9, 9);
    const wi = naivePad(xi, [1, -1], [0, 2], [1, 1], 7);
    expect(values(runOp('pad', [xi], { low: [1, -1], high: [0, 2], interior: [1, 1], value: 7 }))).toEqual(wi.data);
    const xb = literal([3], 'bool', [1, 0, 1]);
    const out = runOp('pad', [xb], { low: [1], high: [1], interior: [1], value: 0 });
    expect(out.type.dtype).toBe('bool');
    expect(values(out)).toEqual([0, 1, 0, 0, 0, 1, 0]);
  });
  it('rejects negative interior and over-cutting', () => {
    expectError(() => build1('pad', [3], { low: [0], high: [0], interior: [-1] }), 'pad(f32[3])', "'interior'", '>= 0');
    expectError(() => build1('pad', [3], { low: [-2], high: [-2], interior: [0] }), 'dim 0', 'low -2 high -2', "'low', 'high'");
    expectError(() => build1('pad', [3, 3], { low: [0], high: [0, 0], interior: [0, 0] }), "'low' has 1 entries");
  });
});

describe('concat', () => {
  it('concatenates along an inner axis, skipping empty operands', () => {
    const parts = [randomLiteral([2, 3, 4], 'f32', 1), randomLiteral([2, 0, 4], 'f32', 2), randomLiteral([2, 5, 4], 'f32', 3), randomLiteral([2, 1, 4], 'f32', 4)];
    const b = new Builder();
    const ps = parts.map((p) => b.param(p.type));
    const fn = b.build([b.op('concat', ps, { axis: 1 })]);
    const out = interpret(fn, parts)[0]!;
    expect(out.type.shape).toEqual([2, 9, 4]);
    const want: number[] = [];
    for (let i = 0; i < 2; i++) for (const p of parts) for (let j = 0; j < p.type.shape[1]!; j++) for (let k = 0; k < 4; k++) want.push(p.data[(i * p.type.shape[1]! + j) * 4 + k]!);
    expect(values(out)).toEqual(want);
  });
  it('single operand and all-empty operands', () => {
    const x = randomLiteral([3, 2], 'i32', 5, -5, 5);
    expect(values(runOp('concat', [x], { axis: 0 }))).toEqual(values(x));
    expect(runOp('concat', [randomLiteral([0, 2]), randomLiteral([0, 2])], { axis: 0 }).type.shape).toEqual([0, 2]);
  });
  it('rejects dtype and shape mismatches', () => {
    const b = new Builder();
    const a = b.param(tensorType([2, 3], 'f32'));
    expectError(() => b.op('concat', [a, b.param(tensorType([2, 3], 'i32'))], { axis: 0 }), 'concat(f32[2,3], i32[2,3])', 'operand 1 has dtype i32');
    expectError(() => b.op('concat', [a, b.param(tensorType([3, 3], 'f32'))], { axis: 1 }), 'operand 1 (f32[3,3])', 'axis 1', "'axis'");
    expectError(() => b.op('concat', [a, a], { axis: 2 }), "'axis' = 2", 'rank 2');
  });
});

describe('rank-0 operands', () => {
  it('transpose, slice, pad, reshape, reduce and broadcast accept scalars', () => {
    const s = literal([], 'f32', [3.5]);
    expect(values(runOp('transpose', [s], { perm: [] }))).toEqual([3.5]);
    expect(values(runOp('slice', [s], { start: [], limit: [], strides: [] }))).toEqual([3.5]);
    expect(values(runOp('pad', [s], { low: [], high: [], interior: [] }))).toEqual([3.5]);
    expect(values(runOp('reshape', [s], { shape: [1, 1] }))).toEqual([3.5]);
    expect(values(runOp('reduce', [s], { op: 'sum', axes: [] }))).toEqual([3.5]);
    expect(values(runOp('broadcast_in_dim', [s], { shape: [2, 2], dims: [] }))).toEqual([3.5, 3.5, 3.5, 3.5]);
    expect(values(runOp('reduce_window', [s], { op: 'max', window: [], strides: [], pad_lo: [], pad_hi: [] }))).toEqual([3.5]);
  });
});
