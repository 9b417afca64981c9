import { beforeAll, describe, expect, it } from 'vitest';
import * as tfl from '@tensorflow/tfjs-layers';
import { randomTensor, useCpuBackend } from '../test_util.js';
import { compareRnn, randomizeTfjs, tfjsSavedToKiln } from './recurrent_testkit.js';
import { TimeDistributed, timeDistributed } from './time_distributed.js';
import { dense } from './dense.js';
import { deserializeLayer } from '../engine/layer.js';
import { input } from '../engine/input.js';

beforeAll(useCpuBackend);

describe('TimeDistributed', () => {
  it('Dense on every time step matches tfjs-layers, with gradients', () => {
    const x = randomTensor([2, 4, 3], 51);
    const d = compareRnn(timeDistributed({ layer: dense({ units: 5, activation: 'tanh' }) }), tfl.layers.timeDistributed({ layer: tfl.layers.dense({ units: 5, activation: 'tanh' }) }), [x], { grads: true });
    expect(d.forward).toBeLessThanOrEqual(1e-5);
    expect(d.gradX!).toBeLessThanOrEqual(1e-4);
    for (const g of d.gradW!) expect(g).toBeLessThanOrEqual(1e-4);
  });

  it('shapes, config round trip, errors', () => {
    const l = timeDistributed({ layer: dense({ units: 2, name: 'd' }), name: 'td' });
    expect(l.apply(input({ shape: [7, 3] })).shape).toEqual([null, 7, 2]);
    expect(l.weights.map((w) => w.name)).toEqual(['td/kernel', 'td/bias']);
    const c = l.getConfig();
    expect(TimeDistributed.fromConfig(c).getConfig()).toEqual(c);
    expect(deserializeLayer(l.serialize()).getConfig()).toEqual(c);
    expect(() => timeDistributed({ layer: dense({ units: 2 }) }).apply(randomTensor([2, 3], 1))).toThrow(/expected input of rank >= 3/);
  });

  it('loads from a tfjs-layers-saved model with equal predictions', async () => {
    const t = tfl.sequential({ layers: [tfl.layers.timeDistributed({ layer: tfl.layers.dense({ units: 3, activation: 'relu' }), inputShape: [4, 2] })] });
    randomizeTfjs(t, 8);
    expect((await tfjsSavedToKiln(t, randomTensor([2, 4, 2], 52))).diff).toBeLessThanOrEqual(1e-6);
  });
});
