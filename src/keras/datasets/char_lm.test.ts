/**
 * Point 6(a): a character-level LSTM language model on real text (Debian's fortunes), trained
 * with `fit`. Kiln (each step one compiled WebAssembly program) and tfjs-layers (trainOnBatch on
 * tfjs-backend-cpu) start from identical weights and see identical batches for 20 steps; the
 * per-step losses must agree within 1e-3 relative. Then the trained model generates text by
 * sampling inside a compiled `kiln.whileLoop`, an artifact that the runtime alone runs.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { literal } from '../../ir/literal.js';
import { Tensor } from '../backend.js';
import { adam } from '../optimizers/adam.js';
import { trainingProgram } from '../engine/training.js';
import { randomTensor, toTf, useCpuBackend } from '../test_util.js';
import { CharVocabulary, charWindows, loadFortunes } from './fortunes.js';
import { charLstmModel } from './char_lm.js';
import { samplerArtifact, samplerLoopArtifact, sampleText, sampleTextLoop } from './char_lm_sampler.js';
import { load } from '../../runtime/index.js';

beforeAll(useCpuBackend);

const STEPS = 20, BATCH = 8, SEQ = 16, EMBED = 16, UNITS = 32;

function corpus() {
  const entries = loadFortunes({ categories: ['computers'] });
  const text = entries.map((e) => e.text).join('\n\n');
  const vocab = new CharVocabulary([text]);
  const w = charWindows(vocab.encode(text), SEQ, SEQ, STEPS * BATCH);
  const f32 = (a: Int32Array, shape: number[]) => Tensor.concrete(literal(shape, 'f32', Float32Array.from(a)));
  return { vocab, x: f32(w.x, [w.n, SEQ]), y: f32(w.y, [w.n, SEQ, 1]) };
}

describe('character-level LSTM language model on fortunes', () => {
  it('fit follows tfjs-layers for 20 steps (Adam); text sampled in a compiled while loop, run by the runtime alone', async () => {
    const { vocab, x, y } = corpus();
    const m = charLstmModel({ vocabSize: vocab.size, seqLength: SEQ, embedDim: EMBED, units: UNITS });
    const init = m.weights.map((w, i) => randomTensor(w.shape, 300 + i, -0.3, 0.3));
    m.setWeights(init);
    m.compile({ optimizer: adam({ learningRate: 0.01, epsilonMode: 'tfjs' }), loss: 'sparseCategoricalCrossentropy' });
    const losses: number[] = [];
    await m.fit(x, y, { epochs: 1, batchSize: BATCH, shuffle: false, verbose: 0, callbacks: [{ onBatchEnd: (_b, logs) => { losses.push(logs['loss']!); } }] });
    expect(trainingProgram(m)!.stats.runs).toBe(STEPS);

    const t = tfl.sequential({ layers: [
      tfl.layers.embedding({ inputDim: vocab.size, outputDim: EMBED, inputShape: [SEQ] }),
      tfl.layers.lstm({ units: UNITS, returnSequences: true, recurrentInitializer: 'zeros' }),
      tfl.layers.dense({ units: vocab.size, activation: 'softmax' }),
    ] });
    t.setWeights(init.map(toTf));
    t.compile({ optimizer: tf.train.adam(0.01), loss: 'sparseCategoricalCrossentropy' });
    const xt = toTf(x), yt = toTf(y);
    const ref: number[] = [];
    for (let s = 0; s < STEPS; s++) ref.push((await t.trainOnBatch(tf.slice(xt, s * BATCH, BATCH), tf.slice(yt, s * BATCH, BATCH))) as number);

    expect(losses).toHaveLength(STEPS);
    const late = losses.slice(-5).reduce((a, b) => a + b, 0) / 5;
    expect(late).toBeLessThan(0.85 * losses[0]!); // it learns, so agreeing means something
    for (let s = 0; s < STEPS; s++) {
      expect(Math.abs(losses[s]! - ref[s]!) / ref[s]!, `step ${s}: kiln ${losses[s]} vs tfjs ${ref[s]}`).toBeLessThanOrEqual(1e-3);
    }

    // Generation inside one compiled while loop (prime, then its own samples), run by the runtime
    // alone; its characters must equal those of the single compiled step looped on the host with
    // the same rng keys [seed, step].
    const prime = vocab.encode('The ');
    const loop = await load(samplerLoopArtifact(m, { units: UNITS, maxSteps: 64 }).bytes);
    const a = await sampleTextLoop(loop, prime, 40, { maxSteps: 64, seed: 7 });
    expect(a).toHaveLength(40);
    expect(a.every((id) => id > 0 && id < vocab.size)).toBe(true);
    expect(await sampleTextLoop(loop, prime, 40, { maxSteps: 64, seed: 7 })).toEqual(a);
    expect(await sampleTextLoop(loop, prime, 40, { maxSteps: 64, seed: 8 })).not.toEqual(a);
    const stepProg = await load(samplerArtifact(m, { units: UNITS }).bytes);
    expect(await sampleText(stepProg, prime, 40, { units: UNITS, seed: 7 })).toEqual(a);
  }, 120_000);
});
