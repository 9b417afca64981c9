import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { randomTensor, useCpuBackend } from '../test_util.js';
import { compareRnn, randomizeTfjs, tfjsSavedToKiln } from './recurrent_testkit.js';
import { Bidirectional, bidirectional } from './bidirectional.js';
import { lstm } from './lstm.js';
import { gru } from './gru.js';
import { simpleRNN } from './simple_rnn.js';
import { deserializeLayer } from '../engine/layer.js';
import { input } from '../engine/input.js';

beforeAll(useCpuBackend);
const TF = { recurrentInitializer: 'zeros' } as const;

describe('Bidirectional', () => {
  it('every merge mode matches tfjs-layers (sequences), with gradients for concat', () => {
    const x = randomTensor([2, 4, 3], 41);
    for (const mergeMode of ['concat', 'sum', 'mul', 'ave', null] as const) {
      const k = bidirectional({ layer: lstm({ units: 3, returnSequences: true }), mergeMode });
      const t = tfl.layers.bidirectional({ layer: tfl.layers.lstm({ units: 3, returnSequences: true, ...TF }) as tfl.RNN, mergeMode: mergeMode ?? undefined });
      if (mergeMode === null) (t as unknown as { mergeMode: null }).mergeMode = null; // tfjs's factory maps undefined to concat
      const d = compareRnn(k, t, [x], { grads: mergeMode === 'concat' });
      expect(d.forward, String(mergeMode)).toBeLessThanOrEqual(1e-5);
      if (d.gradX !== undefined) {
        expect(d.gradX).toBeLessThanOrEqual(1e-4);
        for (const g of d.gradW!) expect(g).toBeLessThanOrEqual(1e-4);
      }
    }
  });

  it('last output and returnState (GRU): forward states then backward states', () => {
    const x = randomTensor([2, 5, 3], 42);
    const d = compareRnn(bidirectional({ layer: gru({ units: 2, returnState: true }) }), tfl.layers.bidirectional({ layer: tfl.layers.gru({ units: 2, returnState: true, ...TF }) as tfl.RNN }), [x]);
    expect(d.forward).toBeLessThanOrEqual(1e-5);
  });

  it('shapes, weight names and config round trip', () => {
    const b = bidirectional({ layer: simpleRNN({ units: 4, name: 'rnn', returnSequences: true }), name: 'bi' });
    expect(b.apply(input({ shape: [6, 2] })).shape).toEqual([null, 6, 8]);
    expect(b.weights.map((w) => w.name)).toEqual(['bi/forward_rnn/kernel', 'bi/forward_rnn/recurrent_kernel', 'bi/forward_rnn/bias', 'bi/backward_rnn/kernel', 'bi/backward_rnn/recurrent_kernel', 'bi/backward_rnn/bias']);
    const c = b.getConfig();
    expect(c).toMatchObject({ mergeMode: 'concat', layer: { className: 'SimpleRNN', config: { name: 'rnn', units: 4, goBackwards: false } } });
    expect(Bidirectional.fromConfig(c).getConfig()).toEqual(c);
    expect(deserializeLayer(b.serialize()).getConfig()).toEqual(c);
    expect(() => bidirectional({ layer: lstm({ units: 2 }), mergeMode: 'cat' as 'concat' })).toThrow(/mergeMode 'cat' is not one of/);
  });

  it('a tfjs-layers model with Bidirectional(LSTM) saved by tfjs loads with equal predictions', async () => {
    const t = tfl.sequential({ layers: [
      tfl.layers.bidirectional({ layer: tfl.layers.lstm({ units: 3, returnSequences: true, ...TF }) as tfl.RNN, inputShape: [5, 2] }),
      tfl.layers.timeDistributed({ layer: tfl.layers.dense({ units: 2 }) }),
    ] });
    randomizeTfjs(t, 5);
    const { diff } = await tfjsSavedToKiln(t, randomTensor([3, 5, 2], 43));
    expect(diff).toBeLessThanOrEqual(1e-5);
    void tf;
  });
});
