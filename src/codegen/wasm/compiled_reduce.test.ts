import { describe, expect, it } from 'vitest';
import { compile, toFunc } from '../../compile.js';
import * as k from '../../frontend/index.js';
import { randomInputs } from '../../ir/random.js';
import { compareCompiled } from './test_util.js';
import '../../ir/ops/index.js';

// Reductions that keep the innermost dim (bias gradients, batch-norm statistics) use the column
// layout: SIMD over the kept channels, the reduction loop inside; rows when the last dim is reduced.
const cases: { name: string; shape: number[]; f: (x: k.Tensor) => k.Tensor | k.Tensor[]; layout: 'columns' | 'rows' }[] = [
  { name: 'sum over N,H,W of NHWC (odd channel count)', shape: [5, 6, 7, 9], f: (x) => k.sum(x, [0, 1, 2]), layout: 'columns' },
  { name: 'sum over the batch, channels split in blocks with a tail', shape: [3, 40], f: (x) => k.sum(x, 0), layout: 'columns' },
  { name: 'batch-norm statistics and the normalized output', shape: [4, 5, 5, 12], layout: 'columns', f: (x) => {
    const { mean, variance } = k.moments(x, [0, 1, 2], true);
    return [k.div(k.sub(x, mean), k.sqrt(k.add(variance, 1e-3))), k.reshape(mean, [12])];
  } },
  { name: 'max over the middle axis keeps the last', shape: [3, 17, 8], f: (x) => k.max(x, 1), layout: 'columns' },
  { name: 'softmax rows', shape: [6, 13], f: (x) => k.softmax(x), layout: 'rows' },
];

describe('reduction layouts', () => {
  for (const c of cases) {
    it(c.name, async () => {
      const fn = toFunc((x: k.Tensor) => c.f(x) as k.Tensor, { inputShapes: [c.shape] });
      const notes = compile(fn).program.kernels.map((kk) => kk.note);
      expect(notes.some((n) => n.includes('reduce') && (c.layout === 'columns') === n.includes('columns')), notes.join(' | ')).toBe(true);
      for (const threads of [1, 2]) expect(await compareCompiled(fn, randomInputs(fn, 3), { load: { threads } })).toBeUndefined();
    });
  }
});
