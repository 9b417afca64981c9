import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { maxAbsDiff, randomTensor, toTf, useCpuBackend } from '../test_util.js';
import { input } from '../engine/input.js';
import { getMask, setMask } from '../engine/layer.js';
import type { KerasTensor } from '../engine/keras_tensor.js';
import { ops, type Tensor } from '../backend.js';
import { valueAndGrad } from '../../frontend/grad.js';
import { dot } from './dot.js';
import { compiledPredict, expectConfigRoundTrip, interpreted, maxDiff, tfjsArtifacts, tfjsPredict } from './parity_testkit.js';
import { loadLayersModel } from '../../index.js';
import type { ModelArtifacts } from '../../frontend/io/formats.js';

beforeAll(useCpuBackend);

type Axes = number | [number, number];

describe('Dot', () => {
  // tfjs-layers' batchDot covers ranks 2 and 3, mixed ranks included.
  const cases: [number[], number[], Axes, boolean][] = [
    [[4, 5], [4, 5], 1, false], [[4, 5], [4, 5], -1, true],
    [[2, 3, 4], [2, 4, 5], [2, 1], false], [[2, 3, 4], [2, 5, 4], 2, false], [[2, 4, 3], [2, 4, 5], [1, 1], true],
    [[2, 3, 4], [2, 4], [2, 1], false], [[2, 4], [2, 4, 5], [1, 1], false], [[2, 4], [2, 5, 4], [1, 2], true],
  ];
  for (const [s1, s2, axes, normalize] of cases) {
    it(`[${s1}] . [${s2}] axes ${JSON.stringify(axes)}${normalize ? ' normalized' : ''}: tfjs-layers`, () => {
      const xs = [randomTensor(s1, 1, -2, 2), randomTensor(s2, 2, -2, 2)];
      const got = dot({ axes, normalize }).apply(xs) as Tensor;
      const want = tfl.layers.dot({ axes, normalize }).apply(xs.map(toTf)) as tf.Tensor;
      expect(maxAbsDiff(got, want)).toBeLessThanOrEqual(1e-5);
    });
  }

  it('rank 4 (beyond tfjs-layers): the contraction written out per element', () => {
    const x = randomTensor([2, 3, 4, 5], 3);
    const y = randomTensor([2, 6, 5], 4);
    const got = dot({ axes: [-1, 2] }).apply([x, y]) as Tensor;
    expect(got.shape).toEqual([2, 3, 4, 6]);
    const [xv, yv, gv] = [x.dataSync(), y.dataSync(), got.dataSync()];
    for (let b = 0; b < 2; b++) for (let i = 0; i < 3; i++) for (let j = 0; j < 4; j++) for (let n = 0; n < 6; n++) {
      let s = 0;
      for (let k = 0; k < 5; k++) s += xv[((b * 3 + i) * 4 + j) * 5 + k]! * yv[(b * 6 + n) * 5 + k]!;
      expect(gv[((b * 3 + i) * 4 + j) * 6 + n]).toBeCloseTo(s, 5);
    }
  });

  it('gradients with respect to both inputs match tf.grads through tfjs-layers', () => {
    const xs = [randomTensor([2, 3, 4], 5), randomTensor([2, 5, 4], 6)];
    const r = randomTensor([2, 3, 5], 7);
    const k = valueAndGrad((a: Tensor, b: Tensor) => ops.sum(ops.mul(dot({ axes: 2, normalize: true }).apply([a, b]) as Tensor, r)), { argnums: [0, 1] })(xs[0]!, xs[1]!);
    const layer = tfl.layers.dot({ axes: 2, normalize: true });
    const want = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(layer.apply([a, b]) as tf.Tensor, toTf(r))))(xs.map(toTf));
    expect(maxAbsDiff(k.grads[0]!, want[0]!)).toBeLessThanOrEqual(1e-5);
    expect(maxAbsDiff(k.grads[1]!, want[1]!)).toBeLessThanOrEqual(1e-5);
  });

  it('symbolic shapes and errors', () => {
    const a = input({ shape: [3, 4] });
    const b = input({ shape: [4, 5] });
    expect((dot({ axes: [2, 1] }).apply([a, b]) as KerasTensor).shape).toEqual([null, 3, 5]);
    expect((dot({ axes: 1 }).apply([input({ shape: [4] }), input({ shape: [4] })]) as KerasTensor).shape).toEqual([null, 1]);
    expect(() => dot({ axes: 2, name: 'd1' }).apply([a, b])).toThrow("Dot 'd1': axes 2: contracted dimensions differ, 4 (axis 2 of input 0) vs 5 (axis 2 of input 1) in f32[?,3,4], f32[?,4,5]");
    expect(() => dot({ axes: 0, name: 'd2' }).apply([a, b])).toThrow("Dot 'd2': axes 0: axis 0 is out of range for input 0 in f32[?,3,4], f32[?,4,5] (the batch axis 0 cannot be contracted)");
    expect(() => dot({ axes: [1, 1], name: 'd3' }).apply([a, b, b])).toThrow("Dot 'd3': expects exactly 2 inputs, got 3");
    expect(() => dot({ axes: [1, 2, 3] as never, name: 'd4' })).toThrow("Dot 'd4': axes must be an integer or a list of 2 integers, got [1,2,3]");
    expect(() => dot({ name: 'd5' } as never)).toThrow("Dot 'd5': axes is required");
    expect(() => dot({ axes: 1, normalise: true, name: 'd6' } as never)).toThrow("Dot 'd6': unknown argument 'normalise' (did you mean 'normalize'?)");
    // The contraction mixes time steps: an input mask does not come out (Keras's Dot).
    const xm = randomTensor([2, 3, 4], 1);
    setMask(xm, ops.greater(randomTensor([2, 3], 2), 0));
    expect(getMask(dot({ axes: 2 }).apply([xm, randomTensor([2, 5, 4], 3)]) as Tensor)).toBeUndefined();
    expectConfigRoundTrip(dot({ axes: [2, 1], normalize: true }));
    expectConfigRoundTrip(dot({ axes: -1 }));
  });

  it('a model saved by tfjs-layers loads in Kiln and predicts the same; compiled equals the interpreter', async () => {
    const a = tfl.input({ shape: [3, 4] });
    const b = tfl.input({ shape: [6] });
    const h = tfl.layers.dense({ units: 4 }).apply(b) as tfl.SymbolicTensor;
    const out = tfl.layers.dot({ axes: [2, 1], normalize: true }).apply([a, h]) as tfl.SymbolicTensor;
    const tm = tfl.model({ inputs: [a, b], outputs: out });
    const km = await loadLayersModel(await tfjsArtifacts(tm) as unknown as ModelArtifacts);
    const xs = [randomTensor([2, 3, 4], 8), randomTensor([2, 6], 9)];
    const got = interpreted(km, xs);
    expect(maxDiff(got, tfjsPredict(tm, xs))).toBeLessThanOrEqual(1e-5);
    expect(maxDiff(await compiledPredict(km, xs), got)).toBeLessThanOrEqual(1e-5);
  });
});
