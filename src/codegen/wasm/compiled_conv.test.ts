import { describe, expect, it } from 'vitest';
import { compile, toFunc } from '../../compile.js';
import * as k from '../../frontend/index.js';
import { randomInputs } from '../../ir/random.js';
import { compareCompiled } from './test_util.js';
import '../../ir/ops/index.js';

// conv, depthwise conv and max pooling lower to the blocked window kernels (implicit GEMM over
// packed weights; SIMD over channels) with their epilogues fused, and agree with the interpreter.
const cases: { name: string; x: number[]; w?: number[]; f: (x: k.Tensor, w: k.Tensor) => k.Tensor; kind: string }[] = [
  { name: 'conv 3x3 same, bias, relu', x: [2, 9, 7, 3], w: [3, 3, 3, 10], kind: 'conv', f: (x, w) => k.relu(k.add(k.conv2d(x, w, 1, 'same'), k.tensor(Array.from({ length: 10 }, (_, i) => i / 10 - 0.5)))) },
  { name: 'conv 3x3 valid stride 2', x: [1, 11, 10, 5], w: [3, 3, 5, 6], kind: 'conv', f: (x, w) => k.conv2d(x, w, 2, 'valid') },
  { name: 'conv 2x2 dilation 2, asymmetric padding', x: [1, 8, 9, 4], w: [2, 2, 4, 9], kind: 'conv', f: (x, w) => k.conv2d(x, w, 1, [[1, 0], [0, 2]], 2) },
  { name: 'conv 1x1 + residual', x: [1, 5, 5, 8], w: [1, 1, 8, 8], kind: 'conv', f: (x, w) => k.add(k.conv2d(x, w, 1, 'valid'), x) },
  { name: 'depthwise 3x3 same + relu6', x: [2, 6, 7, 12], w: [3, 3, 12, 1], kind: 'depthwise', f: (x, w) => k.relu6(k.depthwiseConv2d(x, w, 1, 'same')) },
  { name: 'max pool 2x2', x: [2, 9, 8, 5], kind: 'maxpool', f: (x) => k.maxPool(x, 2, 2, 'valid') },
  { name: 'max pool 3x3 stride 2 same', x: [1, 10, 11, 6], kind: 'maxpool', f: (x) => k.maxPool(x, 3, 2, 'same') },
];

describe('blocked window kernels', () => {
  for (const c of cases) {
    it(c.name, async () => {
      const shapes = c.w ? [c.x, c.w] : [c.x];
      const fn = toFunc((x: k.Tensor, w?: k.Tensor) => c.f(x, w!), { inputShapes: shapes });
      const art = compile(fn);
      expect(art.program.kernels.some((kk) => kk.note.startsWith(c.kind)), art.program.kernels.map((kk) => kk.note).join(' | ')).toBe(true);
      for (const threads of [1, 2]) expect(await compareCompiled(fn, randomInputs(fn, 7), { load: { threads } })).toBeUndefined();
    });
  }
  for (const [stride, pad] of [[1, 'same'], [2, 'same'], [2, 'valid']] as const) {
    it(`gradients of a conv (stride ${stride}, ${pad}) use the blocked kernels and agree`, async () => {
      const { valueAndGrad } = await import('../../frontend/grad.js');
      const loss = (x: k.Tensor, w: k.Tensor) => k.sum(k.mul(k.relu(k.conv2d(x, w, stride, pad)), k.relu(k.conv2d(x, w, stride, pad))));
      const g = valueAndGrad(loss, { argnums: [0, 1] });
      const fn = toFunc((x: k.Tensor, w: k.Tensor) => { const r = g(x, w); return [r.value, ...r.grads] as never; }, { inputShapes: [[2, 9, 8, 3], [3, 3, 3, 6]] });
      const notes = compile(fn).program.kernels.map((kk) => kk.note);
      expect(notes.filter((n) => n.startsWith('conv ')).length, notes.join(' | ')).toBeGreaterThanOrEqual(2);
      for (const threads of [1, 2]) expect(await compareCompiled(fn, randomInputs(fn, 5), { load: { threads }, rtol: 2e-4 })).toBeUndefined();
    });
  }
  it('constant weights are packed at compile time (no pack kernel)', async () => {
    const w = k.randomNormal([3, 3, 4, 16], { seed: 3 });
    const fn = toFunc((x: k.Tensor) => k.relu(k.conv2d(x, w, 1, 'same')), { inputShapes: [[1, 8, 8, 4]] });
    const art = compile(fn);
    expect(art.program.kernels.map((kk) => kk.note)).toEqual(['conv 8x8x4->8x8x16 k3x3']);
    expect(await compareCompiled(fn, randomInputs(fn, 1), { load: { threads: 1 } })).toBeUndefined();
  });
});
