/**
 * Tensor creation and cast take dtypes in Kiln's ('i32') and Keras/tfjs's ('int32') spellings
 * and produce the same tensors as tfjs-core given the tfjs name; other names are refused naming
 * the op and the value.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { KilnError } from '../ir/types.js';
import * as ops from './ops.js';
import type { Tensor } from './tensor.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('Keras/tfjs dtype spellings', () => {
  it('creation ops take float32/int32/bool like tfjs-core', () => {
    const cases: [Tensor, tf.Tensor][] = [
      [ops.tensor([1.7, -2.2, 3], [3], 'int32'), tf.tensor([1.7, -2.2, 3], [3], 'int32')],
      [ops.zeros([2, 2], 'int32'), tf.zeros([2, 2], 'int32')],
      [ops.ones([3], 'bool'), tf.ones([3], 'bool')],
      [ops.fill([2], 4.5, 'float32'), tf.fill([2], 4.5, 'float32')],
      [ops.range(0, 5, 2, 'int32'), tf.range(0, 5, 2, 'int32')],
      [ops.eye(2, 3, 'float32'), tf.eye(2, 3, undefined, 'float32')],
      [ops.cast(ops.tensor([0.5, -1.5, 2.9]), 'int32'), tf.cast(tf.tensor([0.5, -1.5, 2.9]), 'int32')],
      [ops.cast(ops.tensor([0, 2, 0]), 'bool'), tf.cast(tf.tensor([0, 2, 0]), 'bool')],
    ];
    for (const [k, t] of cases) {
      expect(k.shape).toEqual(t.shape);
      expect({ float32: 'f32', int32: 'i32', bool: 'bool' }[t.dtype as string]).toBe(k.dtype);
      expect(Array.from(k.dataSync())).toEqual(Array.from(t.dataSync()));
    }
    expect(ops.scalar(3, 'int32').dtype).toBe('i32');
    expect(ops.randomUniform([4], { seed: 1, dtype: 'float32' }).dtype).toBe('f32');
    expect(ops.oneHot([0, 2], 3, 1, 0, 'float32').dtype).toBe('f32');
  });

  it('Kiln spellings stay valid; unknown names are refused naming op and value', () => {
    expect(ops.zeros([1], 'i32').dtype).toBe('i32');
    expect(() => ops.zeros([1], 'float64' as never)).toThrow(KilnError);
    expect(() => ops.zeros([1], 'float64' as never)).toThrow(/^fill: unknown dtype "float64" \(expected one of 'f32'\/'float32'/);
    expect(() => ops.cast(ops.tensor([1]), 'int64' as never)).toThrow(/^cast: unknown dtype "int64"/);
    expect(() => ops.tensor([1], [1], 'double' as never)).toThrow(/^tensor: unknown dtype "double"/);
  });
});
