import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { Builder } from '../builder.js';
import type { DType } from '../dtype.js';
import { literalToTensor } from '../interpreter.js';
import type { Literal } from '../literal.js';
import { numel, tensorType, type Shape } from '../types.js';
import './index.js';
import { kilnErrorMessage, maxAbsDiff, randomLiteral, ravel, runOp, unravel } from './testkit.js';

interface Dims { lb: number[]; rb: number[]; lc: number[]; rc: number[] }

/** Naive XLA dot_general: loop over every output index and every contracting index. */
function naiveDot(l: Literal, r: Literal, d: Dims, int: boolean): { shape: number[]; data: number[] } {
  const ls = l.type.shape, rs = r.type.shape;
  const lf = ls.map((_, i) => i).filter((i) => !d.lb.includes(i) && !d.lc.includes(i));
  const rf = rs.map((_, i) => i).filter((i) => !d.rb.includes(i) && !d.rc.includes(i));
  const shape = [...d.lb.map((a) => ls[a]!), ...lf.map((a) => ls[a]!), ...rf.map((a) => rs[a]!)];
  const cshape = d.lc.map((a) => ls[a]!);
  const data = new Array<number>(numel(shape)).fill(0);
  for (let o = 0; o < data.length; o++) {
    const oi = unravel(o, shape);
    const li = new Array<number>(ls.length), ri = new Array<number>(rs.length);
    d.lb.forEach((a, k) => { li[a] = oi[k]!; ri[d.rb[k]!] = oi[k]!; });
    lf.forEach((a, k) => { li[a] = oi[d.lb.length + k]!; });
    rf.forEach((a, k) => { ri[a] = oi[d.lb.length + lf.length + k]!; });
    let acc = 0;
    for (let c = 0; c < numel(cshape); c++) {
      const ci = unravel(c, cshape);
      d.lc.forEach((a, k) => { li[a] = ci[k]!; ri[d.rc[k]!] = ci[k]!; });
      const p = l.data[ravel(li, ls)]! * r.data[ravel(ri, rs)]!;
      acc = int ? (acc + Math.imul(l.data[ravel(li, ls)]!, r.data[ravel(ri, rs)]!)) | 0 : acc + p;
    }
    data[o] = acc;
  }
  return { shape, data };
}

function dotAttrs(d: Dims, dtype = ''): Record<string, number[] | string> {
  return { lhs_batch: d.lb, rhs_batch: d.rb, lhs_contract: d.lc, rhs_contract: d.rc, dtype };
}

describe('dot_general', () => {
  const cases: [string, Shape, Shape, Dims][] = [
    ['matmul', [5, 7], [7, 3], { lb: [], rb: [], lc: [1], rc: [0] }],
    ['batched matmul', [2, 5, 7], [2, 7, 3], { lb: [0], rb: [0], lc: [2], rc: [1] }],
    ['x @ w^T', [6, 9], [5, 9], { lb: [], rb: [], lc: [1], rc: [1] }],
    ['two contractions, batch in the middle', [3, 2, 5, 4], [4, 2, 3, 6], { lb: [1], rb: [1], lc: [0, 3], rc: [2, 0] }],
    ['attention scores', [2, 3, 7, 5], [2, 3, 6, 5], { lb: [0, 1], rb: [0, 1], lc: [3], rc: [3] }],
    ['outer product', [3], [4], { lb: [], rb: [], lc: [], rc: [] }],
    ['vector dot', [13], [13], { lb: [], rb: [], lc: [0], rc: [0] }],
    ['size-1 dims', [1, 1, 5], [1, 5, 1], { lb: [0], rb: [0], lc: [2], rc: [1] }],
    ['empty contraction', [3, 0], [0, 2], { lb: [], rb: [], lc: [1], rc: [0] }],
    ['empty batch', [0, 3, 4], [0, 4, 2], { lb: [0], rb: [0], lc: [2], rc: [1] }],
  ];
  for (const [name, ls, rs, d] of cases) {
    for (const dtype of ['f32', 'i32'] as DType[]) {
      it(`${name} ${dtype}[${ls}] x [${rs}]`, () => {
        const l = randomLiteral(ls, dtype, 21, -9, 9), r = randomLiteral(rs, dtype, 22, -9, 9);
        const out = runOp('dot_general', [l, r], dotAttrs(d));
        const want = naiveDot(l, r, d, dtype === 'i32');
        expect(out.type).toEqual(tensorType(want.shape, dtype));
        if (dtype === 'i32') expect(Array.from(out.data)).toEqual(want.data);
        else expect(maxAbsDiff(out.data, want.data)).toBeLessThan(1e-3);
      });
    }
  }

  it('agrees with tf.matMul on a plain matmul (sizes not multiple of 4)', () => {
    const l = randomLiteral([17, 31], 'f32', 1), r = randomLiteral([31, 9], 'f32', 2);
    const out = runOp('dot_general', [l, r], dotAttrs({ lb: [], rb: [], lc: [1], rc: [0] }));
    const ref = tf.matMul(literalToTensor(l), literalToTensor(r)).dataSync();
    expect(maxAbsDiff(out.data, ref)).toBeLessThan(1e-5);
  });

  it('i8 x i8 -> i32 accumulates exactly without wrapping to i8', () => {
    const d = { lb: [], rb: [], lc: [1], rc: [0] };
    const l = randomLiteral([4, 300], 'i8', 3, -128, 128), r = randomLiteral([300, 5], 'i8', 4, -128, 128);
    const out = runOp('dot_general', [l, r], dotAttrs(d, 'i32'));
    expect(out.type).toEqual(tensorType([4, 5], 'i32'));
    const want = naiveDot(l, r, d, true).data;
    expect(Array.from(out.data)).toEqual(want);
    expect(want.some((v) => Math.abs(v) > 127)).toBe(true);
  });

  it('i32 products wrap', () => {
    const l = randomLiteral([2, 3], 'i32', 5, -2e9, 2e9), r = randomLiteral([3, 2], 'i32', 6, -2e9, 2e9);
    const d = { lb: [], rb: [], lc: [1], rc: [0] };
    expect(Array.from(runOp('dot_general', [l, r], dotAttrs(d)).data)).toEqual(naiveDot(l, r, d, true).data);
  });

  it('rejects mismatched dims and dtypes', () => {
    const b = new Builder();
    const p = (s: Shape, dt: DType = 'f32') => b.param(tensorType(s, dt));
    const mm = { lb: [], rb: [], lc: [1], rc: [0] };
    expect(kilnErrorMessage(() => b.op('dot_general', [p([2, 3]), p([4, 5])], dotAttrs(mm))))
      .toBe("dot_general(f32[2,3], f32[4,5]): contracting dim lhs 1 (size 3) != rhs 0 (size 4) (attributes 'lhs_contract', 'rhs_contract')");
    expect(kilnErrorMessage(() => b.op('dot_general', [p([2, 3, 4]), p([3, 4, 5])], dotAttrs({ lb: [0], rb: [0], lc: [2], rc: [1] }))))
      .toContain("batch dim lhs 0 (size 2) != rhs 0 (size 3) (attributes 'lhs_batch', 'rhs_batch')");
    expect(kilnErrorMessage(() => b.op('dot_general', [p([2, 3]), p([3, 4])], dotAttrs({ lb: [], rb: [], lc: [1], rc: [] }))))
      .toContain("'lhs_contract' [1] and 'rhs_contract' [] must have the same length");
    expect(kilnErrorMessage(() => b.op('dot_general', [p([2, 3]), p([3, 4])], dotAttrs({ lb: [1], rb: [0], lc: [1], rc: [0] }))))
      .toContain("attribute 'lhs_batch + lhs_contract' = [1,1]: axis 1 appears twice");
    expect(kilnErrorMessage(() => b.op('dot_general', [p([2, 3]), p([3, 4])], dotAttrs({ lb: [], rb: [], lc: [2], rc: [0] }))))
      .toContain('axis 2 is out of range for rank 2');
    expect(kilnErrorMessage(() => b.op('dot_general', [p([2, 3]), p([3, 4], 'i32')], dotAttrs(mm))))
      .toContain('operand dtypes differ (f32 vs i32)');
    expect(kilnErrorMessage(() => b.op('dot_general', [p([2, 3]), p([3, 4])], dotAttrs(mm, 'i32'))))
      .toContain("attribute 'dtype' = i32 must stay floating-point");
    expect(kilnErrorMessage(() => b.op('dot_general', [p([2, 3]), p([3, 4])], dotAttrs(mm, 'f64'))))
      .toContain("attribute 'dtype' must be '' or a numeric dtype, got 'f64'");
  });
});
