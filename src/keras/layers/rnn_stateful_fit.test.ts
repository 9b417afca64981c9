/**
 * Stateful RNNs in fit, against tfjs-layers' fit with the same weights and batches: the compiled
 * training step reads the carried states as resident state and writes the final ones back, so
 * batch i+1 starts where batch i ended, across epochs too (neither library resets them in fit);
 * resetStates() between fits reaches the program; the states after fit equal tfjs-layers'.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { maxAbsDiff, randomTensor, randomizeWeights, toTf, useCpuBackend } from '../test_util.js';
import { lstm } from './lstm.js';
import { simpleRNN } from './simple_rnn.js';
import { dense } from './dense.js';
import { sequential } from '../engine/sequential.js';
import { sgd } from '../optimizers/sgd.js';
import type { Tensor } from '../backend.js';
import type { RNN } from './rnn.js';

beforeAll(useCpuBackend);
const TF = { recurrentInitializer: 'zeros' } as const;

function expectClose(a: readonly number[], b: readonly number[], tol: number, label: string): void {
  expect(a.length, label).toBe(b.length);
  for (let i = 0; i < a.length; i++) if (!(Math.abs(a[i]! - b[i]!) <= tol * Math.max(1, Math.abs(b[i]!)))) expect.fail(`${label}[${i}]: ${a[i]} vs ${b[i]}`);
}

describe('stateful RNN in fit', () => {
  for (const kind of ['simpleRNN', 'lstm'] as const) {
    it(`${kind}: losses per epoch, weights and carried states equal tfjs-layers' fit`, async () => {
      const B = 3, T = 4, F = 2;
      const kRnn = (kind === 'lstm' ? lstm : simpleRNN)({ units: 3, stateful: true, batchInputShape: [B, T, F] });
      const m = sequential({ layers: [kRnn, dense({ units: 2 })] });
      randomizeWeights(m, 21, -0.6, 0.6);
      const tRnn = (kind === 'lstm' ? tfl.layers.lstm : tfl.layers.simpleRNN)({ units: 3, stateful: true, batchInputShape: [B, T, F], ...TF });
      const t = tfl.sequential({ layers: [tRnn, tfl.layers.dense({ units: 2 })] });
      t.setWeights(m.getWeights().map(toTf));
      const x = randomTensor([4 * B, T, F], 22), y = randomTensor([4 * B, 2], 23);
      m.compile({ optimizer: sgd({ learningRate: 0.2 }), loss: 'meanSquaredError' });
      t.compile({ optimizer: tf.train.sgd(0.2), loss: 'meanSquaredError' });
      const fitBoth = async (epochs: number) => {
        const hk = await m.fit(x, y, { epochs, batchSize: B, shuffle: false, verbose: 0 });
        const ht = await t.fit(toTf(x), toTf(y), { epochs, batchSize: B, shuffle: false, verbose: 0 });
        expectClose(hk.history['loss']!.map(Number), ht.history['loss']!.map(Number), 1e-4, 'loss per epoch');
      };
      await fitBoth(3);
      m.getWeights().forEach((w, i) => expect(maxAbsDiff(w, t.getWeights()[i]!), `weight ${i}`).toBeLessThanOrEqual(1e-4));
      const kStates = (kRnn as RNN).stateVariables!.map((v) => v.value);
      const tStates = tRnn.states as tf.Tensor[];
      kStates.forEach((s, i) => expect(maxAbsDiff(s, tStates[i]!), `state ${i}`).toBeLessThanOrEqual(1e-4));
      expect(kStates.some((s) => Math.max(...Array.from(s.dataSync(), Math.abs)) > 1e-3)).toBe(true); // states were carried, not zeros
      // resetStates between fits reaches the compiled program.
      (kRnn as RNN).resetStates();
      tRnn.resetStates();
      await fitBoth(1);
      const xb = randomTensor([B, T, F], 24);
      expect(maxAbsDiff(m.apply(xb) as Tensor, t.apply(toTf(xb)) as tf.Tensor)).toBeLessThanOrEqual(1e-4); // eager call: from the carried states
    });
  }
});
