import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { maxAbsDiff, randomTensor, randomizeWeights, toTf, useCpuBackend } from '../test_util.js';
import { compareRnn, randomizeTfjs, tfjsSavedToKiln } from './recurrent_testkit.js';
import { GRU, gru } from './gru.js';
import { deserializeLayer } from '../engine/layer.js';
import { valueAndGrad } from '../../frontend/grad.js';
import { ops, type Tensor } from '../backend.js';

beforeAll(useCpuBackend);
/** tfjs-layers' orthogonal initializer fails in Node (rMat.flatten); the weights are overwritten anyway. */
const TF = { recurrentInitializer: 'zeros' } as const;

/** Keras's GRU with reset_after=True (tfjs-layers lacks it), in tfjs-core ops: the oracle. */
function kerasGruResetAfter(x: tf.Tensor, kernel: tf.Tensor, rk: tf.Tensor, bias: tf.Tensor, units: number, goBackwards = false): tf.Tensor {
  const [b, T] = x.shape as [number, number];
  let h = tf.zeros([b, units]);
  const outs: tf.Tensor[] = [];
  const hs = (v: tf.Tensor) => tf.clipByValue(tf.add(tf.mul(v, 0.2), 0.5), 0, 1);
  for (let s = 0; s < T; s++) {
    const t = goBackwards ? T - 1 - s : s;
    const xt = tf.reshape(tf.slice(x, [0, t, 0], [b, 1, -1]), [b, -1]);
    const mx = tf.add(tf.matMul(xt, kernel), tf.slice(bias, [0, 0], [1, -1]));
    const mh = tf.add(tf.matMul(h, rk), tf.slice(bias, [1, 0], [1, -1]));
    const [xz, xr, xh] = tf.split(mx, 3, 1);
    const [hz, hr, hh] = tf.split(mh, 3, 1);
    const z = hs(tf.add(xz!, hz!));
    const r = hs(tf.add(xr!, hr!));
    const cand = tf.tanh(tf.add(xh!, tf.mul(r, hh!)));
    h = tf.add(tf.mul(z, h), tf.mul(tf.sub(1, z), cand));
    outs.push(h);
  }
  return tf.stack(outs, 1);
}

describe('GRU', () => {
  it('resetAfter false matches tfjs-layers: sequences, predictions and gradients', () => {
    const x = randomTensor([3, 5, 4], 11);
    const d = compareRnn(gru({ units: 6, returnSequences: true }), tfl.layers.gru({ units: 6, returnSequences: true, ...TF }), [x], { grads: true });
    expect(d.forward).toBeLessThanOrEqual(1e-5);
    expect(d.gradX!).toBeLessThanOrEqual(1e-4);
    for (const g of d.gradW!) expect(g).toBeLessThanOrEqual(1e-4);
  });

  it('goBackwards, returnState, sigmoid gates', () => {
    const x = randomTensor([2, 4, 3], 12);
    const args = { units: 4, goBackwards: true, returnState: true, recurrentActivation: 'sigmoid' as const };
    expect(compareRnn(gru(args), tfl.layers.gru({ ...args, ...TF }), [x]).forward).toBeLessThanOrEqual(1e-5);
  });

  it('resetAfter true matches the Keras formula (bias [2, 3u]): predictions and gradients', () => {
    const x = randomTensor([2, 5, 3], 13);
    const k = gru({ units: 4, resetAfter: true, returnSequences: true });
    k.apply(x);
    randomizeWeights(k, 60, -0.6, 0.6);
    expect(k.weights.map((w) => w.shape)).toEqual([[3, 12], [4, 12], [2, 12]]);
    const w = k.getWeights().map(toTf);
    const ref = kerasGruResetAfter(toTf(x), w[0]!, w[1]!, w[2]!, 4);
    expect(maxAbsDiff(k.apply(x) as Tensor, ref)).toBeLessThanOrEqual(1e-5);
    const r = randomTensor([2, 5, 4], 14);
    const g = valueAndGrad((xs: Tensor) => ops.sum(ops.mul(k.apply(xs) as Tensor, r)), { argnums: [0], variables: k.trainableWeights })(x);
    const tg = tf.grads((xt: tf.Tensor, a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(kerasGruResetAfter(xt, a, b, c, 4), toTf(r))))([toTf(x), ...w]);
    expect(maxAbsDiff(g.grads[0]!, tg[0]!)).toBeLessThanOrEqual(1e-4);
    g.variableGrads.forEach((gv, i) => expect(maxAbsDiff(gv, tg[i + 1]!)).toBeLessThanOrEqual(1e-4));
  });

  it('config round trip (both resetAfter values) and the cell registry', () => {
    for (const resetAfter of [false, true]) {
      const l = gru({ units: 3, resetAfter, name: `g${resetAfter}`, returnSequences: true });
      const c = l.getConfig();
      expect(c).toMatchObject({ units: 3, resetAfter, recurrentActivation: 'hardSigmoid', returnSequences: true });
      expect(GRU.fromConfig(c).getConfig()).toEqual(c);
      expect(deserializeLayer(l.serialize()).getConfig()).toEqual(c);
    }
    expect(() => gru({ units: 2, resetAftr: true } as never)).toThrow(/did you mean 'resetAfter'/);
  });

  it('loads from a tfjs-layers-saved model with equal predictions', async () => {
    const t = tfl.sequential({ layers: [tfl.layers.gru({ units: 4, returnSequences: true, inputShape: [5, 3], ...TF }), tfl.layers.gru({ units: 2, ...TF })] });
    randomizeTfjs(t, 23);
    expect((await tfjsSavedToKiln(t, randomTensor([2, 5, 3], 24))).diff).toBeLessThanOrEqual(1e-5);
  });
});
