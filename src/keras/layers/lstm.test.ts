import { beforeAll, describe, expect, it } from 'vitest';
import * as tfl from '@tensorflow/tfjs-layers';
import { useCpuBackend, randomTensor } from '../test_util.js';
import { compareRnn, randomizeTfjs, tfjsSavedToKiln } from './recurrent_testkit.js';
import { LSTM, LSTMCell, lstm, lstmCell } from './lstm.js';
import { deserializeLayer } from '../engine/layer.js';
import { input } from '../engine/input.js';
import { KilnError } from '../../ir/types.js';

beforeAll(useCpuBackend);
/** tfjs-layers' orthogonal initializer fails in Node (rMat.flatten); the weights are overwritten anyway. */
const TF = { recurrentInitializer: 'zeros' } as const;

describe('LSTM', () => {
  it('matches tfjs-layers: last output, predictions and gradients (input and every weight)', () => {
    const x = randomTensor([3, 5, 4], 1);
    const d = compareRnn(lstm({ units: 6 }), tfl.layers.lstm({ units: 6, ...TF }), [x], { grads: true });
    expect(d.forward).toBeLessThanOrEqual(1e-5);
    expect(d.gradX!).toBeLessThanOrEqual(1e-4);
    for (const g of d.gradW!) expect(g).toBeLessThanOrEqual(1e-4);
  });

  it('returnSequences + returnState + goBackwards, sigmoid gates, no bias', () => {
    const x = randomTensor([2, 4, 3], 2);
    const args = { units: 5, returnSequences: true, returnState: true, goBackwards: true, recurrentActivation: 'sigmoid' as const, useBias: false };
    const d = compareRnn(lstm(args), tfl.layers.lstm({ ...args, ...TF }), [x], { grads: true });
    expect(d.forward).toBeLessThanOrEqual(1e-5);
    expect(d.gradX!).toBeLessThanOrEqual(1e-4);
  });

  it('unitForgetBias starts the forget gate bias at one', () => {
    const l = lstm({ units: 3, unitForgetBias: true, biasInitializer: 'zeros' });
    l.apply(randomTensor([1, 2, 2], 3));
    expect(Array.from(l.cell.bias!.value.dataSync())).toEqual([0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0]);
  });

  it('the generic RNN over an LSTMCell equals LSTM', () => {
    const x = randomTensor([2, 3, 4], 4);
    const d = compareRnn(lstm({ units: 3, returnSequences: true }), tfl.layers.rnn({ cell: tfl.layers.lstmCell({ units: 3, ...TF }), returnSequences: true }), [x]);
    expect(d.forward).toBeLessThanOrEqual(1e-5);
  });

  it('symbolic shapes, weights and config round trip', () => {
    const y = lstm({ units: 7, returnSequences: true, returnState: true }).apply(input({ shape: [10, 3] }));
    expect((y as unknown as { shape: unknown }[]).map((t) => t.shape)).toEqual([[null, 10, 7], [null, 7], [null, 7]]);
    const l = lstm({ units: 4, name: 'lstm_x', recurrentActivation: 'sigmoid', goBackwards: true, implementation: 2 });
    l.apply(randomTensor([2, 3, 5], 1));
    expect(l.weights.map((w) => [w.name, w.value.shape])).toEqual([['lstm_x/kernel', [5, 16]], ['lstm_x/recurrent_kernel', [4, 16]], ['lstm_x/bias', [16]]]);
    const c = l.getConfig();
    expect(c).toMatchObject({ units: 4, recurrentActivation: 'sigmoid', goBackwards: true, returnSequences: false, implementation: 2, recurrentInitializer: { className: 'Orthogonal' } });
    expect(LSTM.fromConfig(c).getConfig()).toEqual(c);
    expect(deserializeLayer(l.serialize()).getConfig()).toEqual(c);
    const cell = lstmCell({ units: 2 });
    expect((deserializeLayer(cell.serialize()) as LSTMCell).getConfig()).toEqual(cell.getConfig());
  });

  it('refuses bad arguments and inputs naming the layer', () => {
    expect(() => lstm({ units: 0 })).toThrow(/units must be a positive integer/);
    expect(() => lstm({ units: 2, retrunSequences: true } as never)).toThrow(/unknown argument 'retrunSequences' \(did you mean 'returnSequences'\?\)/);
    expect(() => lstm({ units: 2, name: 'l' }).apply(randomTensor([2, 3], 1))).toThrow(KilnError);
    expect(() => lstm({ units: 2, name: 'l2' }).apply(randomTensor([2, 3], 1))).toThrow("LSTM 'l2': expected input of rank 3 [batch, time, features], got f32[2,3]");
  });

  it('loads from a tfjs-layers-saved model with equal predictions', async () => {
    const t = tfl.sequential({ layers: [tfl.layers.lstm({ units: 4, returnSequences: true, inputShape: [5, 3], ...TF }), tfl.layers.lstm({ units: 2, goBackwards: true, ...TF })] });
    randomizeTfjs(t, 21);
    expect((await tfjsSavedToKiln(t, randomTensor([2, 5, 3], 22))).diff).toBeLessThanOrEqual(1e-5);
  });
});
