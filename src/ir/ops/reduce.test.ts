import { describe, expect, it } from 'vitest';
import { Builder } from '../builder.js';
import type { DType } from '../dtype.js';
import { literal, type Literal } from '../literal.js';
import { numel, tensorType, type Shape } from '../types.js';
import './index.js';
import { kilnErrorMessage, maxAbsDiff, randomLiteral, ravel, runOp, unravel } from './testkit.js';

type Op = 'sum' | 'max' | 'min' | 'prod';

/** Naive reduction with an explicit identity and combiner (i32 wraps via |0 and Math.imul). */
function naiveReduce(x: Literal, op: Op, axes: number[]): { shape: number[]; data: number[] } {
  const xs = x.type.shape;
  const int = x.type.dtype === 'i32';
  const shape = xs.filter((_, i) => !axes.includes(i));
  const init = { sum: 0, prod: 1, max: int ? -2147483648 : -Infinity, min: int ? 2147483647 : Infinity }[op];
  const data = new Array<number>(numel(shape)).fill(init);
  for (let f = 0; f < numel(xs); f++) {
    const o = ravel(unravel(f, xs).filter((_, i) => !axes.includes(i)), shape);
    const v = x.data[f]!;
    const a = data[o]!;
    data[o] = op === 'sum' ? (int ? (a + v) | 0 : a + v) : op === 'prod' ? (int ? Math.imul(a, v) : a * v) : op === 'max' ? Math.max(a, v) : Math.min(a, v);
  }
  return { shape, data };
}

describe('reduce', () => {
  const cases: [Shape, number[]][] = [
    [[3, 5, 7], [1]], [[3, 5, 7], [0, 2]], [[3, 5, 7], [2, 0]], [[3, 5, 7], [0, 1, 2]], [[3, 5, 7], []],
    [[1, 6, 1], [0, 2]], [[9], [0]], [[4, 0, 3], [1]], [[0, 3], [1]], [[2, 0], [0]],
  ];
  for (const op of ['sum', 'max', 'min', 'prod'] as const) {
    for (const dtype of ['f32', 'i32'] as DType[]) {
      for (const [xs, axes] of cases) {
        it(`${op} ${dtype}[${xs}] axes [${axes}]`, () => {
          const x = dtype === 'f32' ? randomLiteral(xs, 'f32', 11, op === 'prod' ? 0.5 : -3, op === 'prod' ? 1.5 : 3) : randomLiteral(xs, 'i32', 11, -20, 20);
          const out = runOp('reduce', [x], { op, axes });
          const want = naiveReduce(x, op, axes);
          expect(out.type).toEqual(tensorType(want.shape, dtype));
          if (dtype === 'i32') expect(Array.from(out.data)).toEqual(want.data);
          else expect(maxAbsDiff(out.data, want.data.map(Math.fround))).toBeLessThan(1e-4);
        });
      }
    }
  }
  it('i32 sum and prod wrap like i32 arithmetic', () => {
    const x = literal([2, 4], 'i32', [2147483647, 5, -3, 1 << 30, 65537, 65539, 70001, 99991]);
    expect(Array.from(runOp('reduce', [x], { op: 'sum', axes: [1] }).data)).toEqual(naiveReduce(x, 'sum', [1]).data);
    expect(Array.from(runOp('reduce', [x], { op: 'prod', axes: [1] }).data)).toEqual(naiveReduce(x, 'prod', [1]).data);
  });
  it('empty axes give the identity of each op', () => {
    const x = randomLiteral([2, 0], 'f32');
    expect(Array.from(runOp('reduce', [x], { op: 'max', axes: [1] }).data)).toEqual([-Infinity, -Infinity]);
    expect(Array.from(runOp('reduce', [x], { op: 'min', axes: [1] }).data)).toEqual([Infinity, Infinity]);
    expect(Array.from(runOp('reduce', [x], { op: 'prod', axes: [1] }).data)).toEqual([1, 1]);
  });
  it('rejects bad axes and bool operands', () => {
    const b = new Builder();
    const x = b.param(tensorType([2, 3], 'f32'));
    expect(kilnErrorMessage(() => b.op('reduce', [x], { op: 'sum', axes: [2] }))).toMatch(/^reduce\(f32\[2,3\]\): attribute 'axes' = \[2\]: axis 2 is out of range for rank 2/);
    expect(kilnErrorMessage(() => b.op('reduce', [x], { op: 'sum', axes: [1, 1] }))).toContain('appears twice');
    expect(kilnErrorMessage(() => b.op('reduce', [x], { op: 'mean', axes: [1] }))).toContain("attribute 'op' must be one of 'sum', 'max', 'min', 'prod'");
    expect(kilnErrorMessage(() => b.op('reduce', [b.param(tensorType([2], 'bool'))], { op: 'max', axes: [0] }))).toContain('reduce(bool[2]): needs numeric operands, got bool');
  });
});
