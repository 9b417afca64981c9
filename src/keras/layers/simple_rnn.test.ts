import { beforeAll, describe, expect, it } from 'vitest';
import * as tfl from '@tensorflow/tfjs-layers';
import { randomTensor, useCpuBackend } from '../test_util.js';
import { compareRnn, randomizeTfjs, tfjsSavedToKiln } from './recurrent_testkit.js';
import { SimpleRNN, SimpleRNNCell, simpleRNN, simpleRNNCell } from './simple_rnn.js';
import { deserializeLayer } from '../engine/layer.js';
import { Tensor } from '../backend.js';
import { literal } from '../../ir/literal.js';
import { sequential } from '../engine/sequential.js';
import { dense } from './dense.js';
import { sgd } from '../optimizers/sgd.js';
import { trainingProgram } from '../engine/training.js';

beforeAll(useCpuBackend);
const TF = { recurrentInitializer: 'zeros' } as const;

describe('SimpleRNN', () => {
  it('matches tfjs-layers: predictions and gradients', () => {
    const x = randomTensor([3, 6, 4], 21);
    const d = compareRnn(simpleRNN({ units: 5 }), tfl.layers.simpleRNN({ units: 5, ...TF }), [x], { grads: true });
    expect(d.forward).toBeLessThanOrEqual(1e-5);
    expect(d.gradX!).toBeLessThanOrEqual(1e-4);
    for (const g of d.gradW!) expect(g).toBeLessThanOrEqual(1e-4);
  });

  it('relu activation, returnSequences, goBackwards, returnState', () => {
    const x = randomTensor([2, 4, 3], 22);
    const args = { units: 3, activation: 'relu' as const, returnSequences: true, goBackwards: true, returnState: true };
    expect(compareRnn(simpleRNN(args), tfl.layers.simpleRNN({ ...args, ...TF }), [x]).forward).toBeLessThanOrEqual(1e-5);
  });

  it('config round trip; the cell alone computes one step', () => {
    const l = simpleRNN({ units: 2, name: 's', unroll: true, dropout: 0.25 });
    const c = l.getConfig();
    expect(c).toMatchObject({ units: 2, activation: 'tanh', unroll: true, dropout: 0.25, recurrentDropout: 0 });
    expect(SimpleRNN.fromConfig(c).getConfig()).toEqual(c);
    expect(deserializeLayer(l.serialize()).getConfig()).toEqual(c);
    const cell = simpleRNNCell({ units: 3 });
    const out = cell.apply([randomTensor([2, 4], 1), randomTensor([2, 3], 2)]);
    expect((out as { shape: number[] }[]).map((t) => t.shape)).toEqual([[2, 3], [2, 3]]);
    expect(deserializeLayer(cell.serialize())).toBeInstanceOf(SimpleRNNCell);

  });

  it('loads from a tfjs-layers-saved model with equal predictions', async () => {
    const t = tfl.sequential({ layers: [tfl.layers.simpleRNN({ units: 4, inputShape: [5, 3], ...TF })] });
    randomizeTfjs(t, 25);
    expect((await tfjsSavedToKiln(t, randomTensor([2, 5, 3], 26))).diff).toBeLessThanOrEqual(1e-5);
  });

  it('dropout and recurrentDropout in training: one mask per call shared by every time step, scaled by 1/(1-rate)', () => {
    // Linear cell, kernel of ones, no recurrence: output_t = sum of the kept inputs * 2, the same for every t.
    const F = 6, B = 200, T = 3;
    const d = simpleRNN({ units: 1, activation: 'linear', useBias: false, dropout: 0.5, returnSequences: true });
    const ones = Tensor.concrete(literal([B, T, F], 'f32', new Float32Array(B * T * F).fill(1)));
    d.apply(ones);
    d.setWeights([Tensor.concrete(literal([F, 1], 'f32', new Float32Array(F).fill(1))), Tensor.concrete(literal([1, 1], 'f32', [0]))]);
    expect(Array.from((d.apply(ones) as Tensor).dataSync()).every((v) => v === F)).toBe(true); // inference: no dropout
    const y = (d.apply(ones, { training: true }) as Tensor).dataSync();
    let sum = 0;
    for (let b = 0; b < B; b++) {
      const v = y[b * T]!;
      expect(v % 2).toBe(0);
      for (let t = 1; t < T; t++) expect(y[b * T + t]).toBe(v);
      sum += v;
    }
    expect(sum / B).toBeGreaterThan(F * 0.8); // E = F
    expect(sum / B).toBeLessThan(F * 1.2);
    // Recurrent dropout: h_1 = 1 (bias), h_2 = 1 + 2 * m * h_1 with the recurrent kernel the identity.
    const r = simpleRNN({ units: 4, activation: 'linear', recurrentDropout: 0.5, returnSequences: true });
    const x = Tensor.concrete(literal([B, 2, 1], 'f32', new Float32Array(2 * B)));
    r.apply(x);
    const eye = new Float32Array(16);
    for (let i = 0; i < 4; i++) eye[i * 5] = 1;
    r.setWeights([Tensor.concrete(literal([1, 4], 'f32', [0, 0, 0, 0])), Tensor.concrete(literal([4, 4], 'f32', eye)), Tensor.concrete(literal([4], 'f32', [1, 1, 1, 1]))]);
    const h = (r.apply(x, { training: true }) as Tensor).dataSync();
    const second = Array.from({ length: B * 4 }, (_, i) => h[Math.floor(i / 4) * 8 + 4 + (i % 4)]!);
    expect(second.every((v) => v === 1 || v === 3)).toBe(true);
    expect(second.filter((v) => v === 3).length / second.length).toBeGreaterThan(0.4);
    expect(second.filter((v) => v === 3).length / second.length).toBeLessThan(0.6);
  });

  it('a compiled fit step with dropout trains (masks drawn inside the program from the step counter)', async () => {
    const m = sequential({ layers: [simpleRNN({ units: 3, dropout: 0.3, recurrentDropout: 0.3, inputShape: [4, 2] }), dense({ units: 1 })] });
    m.compile({ optimizer: sgd({ learningRate: 0.1 }), loss: 'meanSquaredError' });
    const h = await m.fit(randomTensor([8, 4, 2], 5), randomTensor([8, 1], 6), { epochs: 3, batchSize: 4, verbose: 0 });
    const losses = h.history['loss'] as number[];
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(trainingProgram(m)).toBeDefined();
  });
});
