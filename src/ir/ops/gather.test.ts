import { describe, expect, it } from 'vitest';
import { Builder } from '../builder.js';
import type { DType } from '../dtype.js';
import { literal, type Literal } from '../literal.js';
import { numel, tensorType, type Shape } from '../types.js';
import './index.js';
import { kilnErrorMessage, maxAbsDiff, randomLiteral, ravel, runOp, unravel } from './testkit.js';

function outShape(xs: Shape, is: Shape, axis: number): number[] {
  return [...xs.slice(0, axis), ...is, ...xs.slice(axis + 1)];
}

/** out[pre, i..., post] = x[pre, clamp(idx[i...]), post]. */
function naiveGather(x: Literal, idx: Literal, axis: number): number[] {
  const xs = x.type.shape, is = idx.type.shape, shape = outShape(xs, is, axis);
  return Array.from({ length: numel(shape) }, (_, f) => {
    const o = unravel(f, shape);
    const j = Math.min(Math.max(idx.data[ravel(o.slice(axis, axis + is.length), is)]!, 0), xs[axis]! - 1);
    return x.data[ravel([...o.slice(0, axis), j, ...o.slice(axis + is.length)], xs)]!;
  });
}

/** out = base; out[pre, idx[i...], post] += upd[pre, i..., post] for in-range indices. */
function naiveScatter(base: Literal, idx: Literal, upd: Literal, axis: number): number[] {
  const bs = base.type.shape, is = idx.type.shape, us = upd.type.shape;
  const out = Array.from(base.data);
  for (let f = 0; f < numel(us); f++) {
    const u = unravel(f, us);
    const j = idx.data[ravel(u.slice(axis, axis + is.length), is)]!;
    if (j < 0 || j >= bs[axis]!) continue;
    const at = ravel([...u.slice(0, axis), j, ...u.slice(axis + is.length)], bs);
    out[at] = base.type.dtype === 'i32' ? (out[at]! + upd.data[f]!) | 0 : out[at]! + upd.data[f]!;
  }
  return out;
}

const cases: [string, Shape, Shape, number][] = [
  ['embedding lookup', [10, 3], [2, 5], 0],
  ['inner axis, 2-D indices', [3, 7, 2], [2, 3], 1],
  ['last axis', [4, 6], [5], 1],
  ['scalar index', [5, 3], [], 0],
  ['size-1 dims', [1, 1], [1], 0],
  ['empty indices', [4, 3], [0], 0],
  ['empty operand rows', [4, 0], [3], 0],
];

describe('gather', () => {
  for (const [name, xs, is, axis] of cases) {
    for (const dtype of ['f32', 'i32'] as DType[]) {
      it(`${name} ${dtype}[${xs}] indices [${is}] axis ${axis}`, () => {
        const x = randomLiteral(xs, dtype, 61, -9, 9);
        const idx = randomLiteral(is, 'i32', 62, 0, xs[axis]!);
        const out = runOp('gather', [x, idx], { axis });
        expect(out.type).toEqual(tensorType(outShape(xs, is, axis), dtype));
        expect(Array.from(out.data)).toEqual(naiveGather(x, idx, axis));
      });
    }
  }
  it('clamps out-of-range indices', () => {
    const x = randomLiteral([5, 2], 'f32', 63);
    const idx = literal([4], 'i32', [-3, 7, 4, 0]);
    const out = runOp('gather', [x, idx], { axis: 0 });
    expect(Array.from(out.data)).toEqual([x.data[0], x.data[1], x.data[8], x.data[9], x.data[8], x.data[9], x.data[0], x.data[1]]);
  });
  it('gathers bool', () => {
    const out = runOp('gather', [literal([3], 'bool', [1, 0, 1]), literal([4], 'i32', [1, 2, 2, 0])], { axis: 0 });
    expect(Array.from(out.data)).toEqual([0, 1, 1, 1]);
  });
  it('rejects non-i32 indices and bad axes', () => {
    const b = new Builder();
    const x = b.param(tensorType([4, 3], 'f32'));
    expect(kilnErrorMessage(() => b.op('gather', [x, b.param(tensorType([2], 'f32'))], { axis: 0 }))).toBe('gather(f32[4,3], f32[2]): indices must be i32, got f32; cast first');
    expect(kilnErrorMessage(() => b.op('gather', [x, b.param(tensorType([2], 'i32'))], { axis: 2 }))).toContain("attribute 'axis' = 2 is out of range for rank 2");
  });
});

describe('scatter_add', () => {
  for (const [name, bs, is, axis] of cases) {
    for (const dtype of ['f32', 'i32'] as DType[]) {
      it(`${name} ${dtype}[${bs}] indices [${is}] axis ${axis}`, () => {
        const base = randomLiteral(bs, dtype, 64, -9, 9);
        // Few distinct indices, so duplicates accumulate.
        const idx = randomLiteral(is, 'i32', 65, 0, Math.max(1, Math.min(3, bs[axis]!)));
        const upd = randomLiteral(outShape(bs, is, axis), dtype, 66, -9, 9);
        const out = runOp('scatter_add', [base, idx, upd], { axis });
        expect(out.type).toEqual(base.type);
        if (dtype === 'i32') expect(Array.from(out.data)).toEqual(naiveScatter(base, idx, upd, axis));
        else expect(maxAbsDiff(out.data, naiveScatter(base, idx, upd, axis))).toBeLessThan(1e-5);
      });
    }
  }
  it('drops updates at out-of-range indices and sums duplicates', () => {
    const base = literal([4, 2], 'i32', [1, 1, 1, 1, 1, 1, 1, 1]);
    const idx = literal([5], 'i32', [2, -1, 2, 4, 0]);
    const upd = literal([5, 2], 'i32', [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]);
    const out = runOp('scatter_add', [base, idx, upd], { axis: 0 });
    expect(Array.from(out.data)).toEqual([91, 101, 1, 1, 61, 81, 1, 1]);
  });
  it('rejects bad updates, indices and dtypes', () => {
    const b = new Builder();
    const base = b.param(tensorType([4, 3], 'f32'));
    const idx = b.param(tensorType([2], 'i32'));
    expect(kilnErrorMessage(() => b.op('scatter_add', [base, idx, b.param(tensorType([3, 2], 'f32'))], { axis: 0 })))
      .toBe("scatter_add(f32[4,3], i32[2], f32[3,2]): updates must have shape base[:axis] + indices + base[axis+1:] = [2,3] for axis 0, got f32[3,2] (attribute 'axis')");
    expect(kilnErrorMessage(() => b.op('scatter_add', [base, b.param(tensorType([2], 'u8')), b.param(tensorType([2, 3], 'f32'))], { axis: 0 }))).toContain('indices must be i32, got u8');
    expect(kilnErrorMessage(() => b.op('scatter_add', [base, idx, b.param(tensorType([2, 3], 'i32'))], { axis: 0 }))).toContain('updates dtype i32 differs from base dtype f32');
    expect(kilnErrorMessage(() => b.op('scatter_add', [base, idx, b.param(tensorType([2, 3], 'f32'))], { axis: -1 }))).toContain("attribute 'axis' = -1 is out of range");
  });
});
