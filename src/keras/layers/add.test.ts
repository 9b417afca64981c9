import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { maxAbsDiff, randomTensor, toTf, useCpuBackend } from '../test_util.js';
import { Add, add } from './add.js';
import { input } from '../engine/input.js';
import type { KerasTensor } from '../engine/keras_tensor.js';

beforeAll(useCpuBackend);

describe('Add', () => {
  it('matches tfjs-layers on 2 and 3 inputs', () => {
    const xs = [randomTensor([2, 3, 4], 1), randomTensor([2, 3, 4], 2), randomTensor([2, 3, 4], 3)];
    expect(maxAbsDiff(add().apply(xs.slice(0, 2)) as never, tfl.layers.add().apply(xs.slice(0, 2).map(toTf)) as tf.Tensor)).toBe(0);
    expect(maxAbsDiff(add().apply(xs) as never, tfl.layers.add().apply(xs.map(toTf)) as tf.Tensor)).toBeLessThanOrEqual(1e-6);
  });

  it('symbolic shapes and errors', () => {
    const a = input({ shape: [4] });
    const b = input({ shape: [4] });
    expect((add().apply([a, b]) as KerasTensor).shape).toEqual([null, 4]);
    expect(() => add({ name: 'ad' }).apply([a, input({ shape: [5] })])).toThrow("Add 'ad': input shapes do not match: f32[?,4], f32[?,5]");
    expect(() => add({ name: 'ad1' }).apply(a)).toThrow("Add 'ad1': expects a list of at least 2 inputs, got a single input f32[?,4]");
    const l = add({ name: 'sum' });
    expect(Add.fromConfig(l.getConfig()).getConfig()).toEqual(l.getConfig());
  });
});
