/**
 * The compiled training step of an unrolled LSTM (what `fit` runs, and what bench/lstm.ts times):
 * its loss curve follows tfjs-layers' with the same weights and Adam, and its kernel schedule has
 * the structure the speed work relies on: the recurrent weight is packed once per GEMM layout
 * (not once per time step and direction), and each step's gate gradients are assembled piecewise
 * (one loop per gate, no per-element select over the four gates).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { randomTensor, randomizeWeights, toTf, useCpuBackend } from '../test_util.js';
import { recurrenceLoop } from './recurrent.js';
import { lstm } from './lstm.js';
import { dense } from './dense.js';
import { sequential } from '../engine/sequential.js';
import { trainingProgram } from '../engine/training.js';
import { adam } from '../optimizers/adam.js';
import type { ScheduleEntry } from '../../runtime/manifest.js';

beforeAll(async () => {
  await useCpuBackend();
});

const B = 4, T = 8, F = 3, U = 8;

function scheduleNotes(notes: readonly string[], s: readonly ScheduleEntry[]): string[] {
  return s.flatMap((e) => (typeof e === 'number' ? [notes[e]!] : 'loop' in e ? scheduleNotes(notes, [...(e.loop.head ?? []), ...e.loop.body]) : []));
}

describe('compiled unrolled LSTM training step', () => {
  it('follows tfjs-layers (Adam, 3 steps); packs the recurrent weight once per layout; gate gradients in pieces', async () => {
    expect(recurrenceLoop.mode).toBe('unroll');
    const m = sequential({ layers: [lstm({ units: U, returnSequences: true, inputShape: [T, F] }), dense({ units: 2 })] });
    randomizeWeights(m, 21, -0.5, 0.5);
    const t = tfl.sequential({ layers: [
      tfl.layers.lstm({ units: U, returnSequences: true, inputShape: [T, F], recurrentInitializer: 'zeros' }),
      tfl.layers.dense({ units: 2 }),
    ] });
    t.setWeights(m.getWeights().map(toTf));
    const x = randomTensor([B, T, F], 22), y = randomTensor([B, T, 2], 23);
    m.compile({ optimizer: adam({ learningRate: 0.01 }), loss: 'meanSquaredError' });
    t.compile({ optimizer: tf.train.adam(0.01), loss: 'meanSquaredError' });
    const losses: number[] = [];
    await m.fit(x, y, { epochs: 3, batchSize: B, shuffle: false, verbose: 0, callbacks: [{ onBatchEnd: (_b, l) => { losses.push(l['loss']!); } }] });
    for (let s = 0; s < 3; s++) {
      const ref = (await t.trainOnBatch(toTf(x), toTf(y))) as number;
      expect(Math.abs(losses[s]! - ref) / ref, `step ${s}`).toBeLessThanOrEqual(1e-4);
    }

    const man = trainingProgram(m)!.manifest;
    const entry = man.entries?.[`train_${B}`];
    const notes = scheduleNotes(man.kernels.map((k) => k.note ?? k.name), entry ? entry.schedule : man.schedule);
    const count = (re: RegExp) => notes.filter((n) => re.test(n)).length;
    // Per-step recurrent GEMMs: h·R forward, dz·Rᵀ backward (T - 1 each: h0 is zeros), hᵀ·dz for dR.
    expect(count(/^gemm 4x32x8$/)).toBeGreaterThanOrEqual(T - 1);
    expect(count(/^gemm 4x8x32$/)).toBeGreaterThanOrEqual(T - 1);
    // R packed once for h·R and once for dz·Rᵀ; only each step's dz (the B operand of hᵀ·dz, the
    // zero h0's step included) is packed per step, plus 5 packs outside the loop (input kernel, its
    // gradient's dP, the dense weight both ways, the dense gradient's dlogits). Packing R per GEMM
    // made it 3(T-1) + 5 = 26.
    expect(count(/^pack rhs$/)).toBeLessThanOrEqual(T + 2 + 5);
    // Each step's dz = concat of the four gate gradients (pads summed by the split's VJP).
    expect(count(/\(4 pieces\)/)).toBeGreaterThanOrEqual(T - 1);
  });
});
