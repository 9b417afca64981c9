import { beforeAll, describe, expect, it } from 'vitest';
import type * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { maxAbsDiff, randomTensor, toTf, useCpuBackend } from '../test_util.js';
import { Concatenate, concatenate } from './concatenate.js';
import { input } from '../engine/input.js';
import type { KerasTensor } from '../engine/keras_tensor.js';

beforeAll(useCpuBackend);

describe('Concatenate', () => {
  it('matches tfjs-layers on the last and a middle axis', () => {
    const xs = [randomTensor([2, 3, 4], 1), randomTensor([2, 3, 2], 2)];
    expect(maxAbsDiff(concatenate().apply(xs) as never, tfl.layers.concatenate().apply(xs.map(toTf)) as tf.Tensor)).toBe(0);
    const ys = [randomTensor([2, 3, 4], 1), randomTensor([2, 1, 4], 2), randomTensor([2, 2, 4], 3)];
    expect(maxAbsDiff(concatenate({ axis: 1 }).apply(ys) as never, tfl.layers.concatenate({ axis: 1 }).apply(ys.map(toTf)) as tf.Tensor)).toBe(0);
  });

  it('symbolic shapes and errors', () => {
    const a = input({ shape: [3, 4] });
    const b = input({ shape: [3, 6] });
    expect((concatenate().apply([a, b]) as KerasTensor).shape).toEqual([null, 3, 10]);
    expect(() => concatenate({ axis: 1, name: 'cc' }).apply([a, b])).toThrow("Concatenate 'cc': inputs must match on every axis except 1, got f32[?,3,4], f32[?,3,6]");
    expect(() => concatenate({ axis: 0, name: 'cc0' }).apply([a, b])).toThrow(/the batch axis cannot be joined/);
    const l = concatenate({ axis: 2 });
    expect(Concatenate.fromConfig(l.getConfig()).getConfig()).toEqual(l.getConfig());
  });
});
