import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { maxAbsDiff, randomTensor, randomizeWeights, toTf, useCpuBackend } from '../test_util.js';
import { randomizeTfjs, tfjsSavedToKiln } from './recurrent_testkit.js';
import { Embedding, embedding } from './embedding.js';
import { deserializeLayer, getMask } from '../engine/layer.js';
import { input } from '../engine/input.js';
import { valueAndGrad } from '../../frontend/grad.js';
import { literal } from '../../ir/literal.js';
import { ops, Tensor } from '../backend.js';

beforeAll(useCpuBackend);

const idsF32 = (shape: number[], v: number[]) => Tensor.concrete(literal(shape, 'f32', v));
const idsI32 = (shape: number[], v: number[]) => Tensor.concrete(literal(shape, 'i32', v));

describe('Embedding', () => {
  it('matches tfjs-layers (f32 and i32 ids, rank 2 and 3) and its gradient (a scatter-add) matches tf.variableGrads', () => {
    const ids = [3, 0, 5, 5, 1, 2, 0, 4];
    const k = embedding({ inputDim: 6, outputDim: 3 });
    k.apply(idsF32([2, 4], ids));
    randomizeWeights(k, 5);
    const t = tfl.layers.embedding({ inputDim: 6, outputDim: 3 });
    t.apply(tf.tensor2d(ids, [2, 4]));
    t.setWeights(k.getWeights().map(toTf));
    for (const shape of [[2, 4], [2, 2, 2]]) {
      const want = t.apply(tf.tensor(ids, shape)) as tf.Tensor;
      expect(maxAbsDiff(k.apply(idsF32(shape, ids)), want)).toBe(0);
      expect(maxAbsDiff(k.apply(idsI32(shape, ids)), want)).toBe(0);
    }
    const r = randomTensor([2, 4, 3], 6);
    const g = valueAndGrad((x: Tensor) => ops.sum(ops.mul(k.apply(x), r)), { argnums: [], variables: k.trainableWeights })(idsF32([2, 4], ids));
    const v = t.trainableWeights[0]!.read() as tf.Variable;
    const tg = tf.variableGrads(() => tf.sum(tf.mul(t.apply(tf.tensor2d(ids, [2, 4])) as tf.Tensor, toTf(r))) as tf.Scalar, [v]);
    expect(maxAbsDiff(g.variableGrads[0]!, tg.grads[v.name]!)).toBeLessThanOrEqual(1e-6);
  });

  it('maskZero attaches ids != 0 as the mask; inputLength shapes', () => {
    const e = embedding({ inputDim: 4, outputDim: 2, maskZero: true });
    const y = e.apply(idsF32([1, 3], [1, 0, 3]));
    expect(Array.from(getMask(y)!.dataSync())).toEqual([1, 0, 1]);
    expect(getMask(embedding({ inputDim: 4, outputDim: 2 }).apply(idsF32([1, 2], [1, 0])))).toBeUndefined();
    expect(embedding({ inputDim: 9, outputDim: 4, inputLength: 7 }).apply(input({ shape: [null] })).shape).toEqual([null, 7, 4]);
    expect(() => embedding({ inputDim: 9, outputDim: 4, inputLength: 7 }).apply(input({ shape: [5] }))).toThrow(/inputLength 7 does not fit an input of shape f32\[\?,5\]/);
  });

  it('config round trip, errors', () => {
    const l = embedding({ inputDim: 10, outputDim: 3, maskZero: true, inputLength: 5, name: 'emb' });
    const c = l.getConfig();
    expect(c).toMatchObject({ inputDim: 10, outputDim: 3, maskZero: true, inputLength: 5, batchInputShape: [null, 5], embeddingsInitializer: { className: 'RandomUniform' } });
    expect(Embedding.fromConfig(c).getConfig()).toEqual(c);
    expect(deserializeLayer(l.serialize()).getConfig()).toEqual(c);
    expect(() => embedding({ inputDim: 0, outputDim: 2 })).toThrow(/inputDim must be a positive integer, got 0/);
    expect(() => embedding({ inputDim: 3, outputDim: 2, maskzero: true } as never)).toThrow(/did you mean 'maskZero'/);
  });

  it('loads from a tfjs-layers-saved model (Embedding(maskZero) -> LSTM) with equal predictions', async () => {
    const t = tfl.sequential({ layers: [
      tfl.layers.embedding({ inputDim: 7, outputDim: 3, maskZero: true, inputLength: 5 }),
      tfl.layers.lstm({ units: 4, recurrentInitializer: 'zeros' }),
    ] });
    randomizeTfjs(t, 9);
    const { diff } = await tfjsSavedToKiln(t, idsF32([2, 5], [1, 2, 0, 0, 0, 6, 5, 4, 3, 0]));
    expect(diff).toBeLessThanOrEqual(1e-5);
  });
});
