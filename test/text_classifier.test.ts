/**
 * Acceptance (issue 9, point 6b): a transformer text classifier on real text. Debian's fortunes
 * (/usr/share/games/fortunes, installed by `.ci/run`) of four categories with distinct styles
 * (definitions, zippy, startrek, songs-poems), labelled by their file, tokenized by characters:
 * Embedding(maskZero) + position embedding + one encoder block (MultiHeadAttention,
 * LayerNormalization, ReLU feed-forward, residuals) + average pooling + Dense softmax, trained
 * with `fit`, must beat the majority-class baseline on the held-out split clearly. The trained
 * model then compiles to an artifact that the runtime alone (src/runtime) runs with the same
 * predictions.
 */
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { literal } from '../src/ir/literal.js';
import { Tensor } from '../src/frontend/tensor.js';
import { compile } from '../src/compile.js';
import { load } from '../src/runtime/index.js';
import { adam } from '../src/keras/optimizers/adam.js';
import { FORTUNES_DIR } from '../src/keras/datasets/fortunes.js';
import { fortuneClassification, textClassifierModel } from '../src/keras/datasets/text_classifier.js';

const CATEGORIES = ['definitions', 'zippy', 'startrek', 'songs-poems'];
const SEQ = 64;

function argmax(probs: ArrayLike<number>, classes: number): Int32Array {
  const n = probs.length / classes;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (probs[i * classes + c]! > probs[i * classes + best]!) best = c;
    out[i] = best;
  }
  return out;
}

describe('transformer text classifier on fortunes', () => {
  it('beats the majority-class baseline clearly on held-out texts; the runtime alone predicts the same', async () => {
    const missing = CATEGORIES.filter((c) => !existsSync(`${FORTUNES_DIR}/${c}`));
    if (missing.length > 0) throw new Error(`${FORTUNES_DIR} lacks ${missing.join(', ')}: install Debian's fortunes texts (apt-get install fortunes; .ci/run does it)`);
    const data = fortuneClassification({ categories: CATEGORIES, seqLength: SEQ, seed: 3 });
    const { train, test } = data;
    const classes = CATEGORIES.length;
    const m = textClassifierModel({ vocabSize: data.tokenizer.vocabSize, seqLength: SEQ, numClasses: classes, width: 32, numHeads: 2, ffDim: 64, blocks: 1, dropout: 0.1, seed: 5 });
    m.compile({ optimizer: adam({ learningRate: 3e-3 }), loss: 'sparseCategoricalCrossentropy', metrics: ['acc'] });
    const x = Tensor.concrete(literal([train.n, SEQ], 'f32', train.x));
    const y = Tensor.concrete(literal([train.n], 'i32', train.y));
    const t0 = performance.now();
    const h = await m.fit(x, y, { epochs: 3, batchSize: 32, seed: 7, verbose: 0 });
    const trainS = (performance.now() - t0) / 1000;

    // Held-out accuracy through the compiled artifact, run by the runtime alone.
    const B = 64;
    const nEval = Math.floor(test.n / B) * B;
    const prog = await load(compile(m, { inputShapes: [[B, SEQ]] }).bytes);
    const probs = new Float32Array(nEval * classes);
    for (let s = 0; s < nEval; s += B) {
      const out = await prog.run({ [prog.inputs[0]!.name]: test.x.subarray(s * SEQ, (s + B) * SEQ) });
      probs.set(out[prog.outputs[0]!.name] as Float32Array, s * classes);
    }
    prog.dispose();
    const pred = argmax(probs, classes);
    const acc = pred.filter((p, i) => p === test.y[i]).length / nEval;
    const baseline = test.y.subarray(0, nEval).filter((l) => l === data.majorityClass).length / nEval;
    console.log(`text classifier: ${train.n} train / ${test.n} test texts, ${data.tokenizer.vocabSize} ids; fit ${trainS.toFixed(1)} s, ` +
      `loss ${h.history['loss']!.map((v) => v.toFixed(3)).join(' ')}; held-out accuracy ${(acc * 100).toFixed(1)}% vs majority baseline ${(baseline * 100).toFixed(1)}%`);
    expect(acc).toBeGreaterThan(baseline + 0.15);

    // The runtime's predictions are the model's: the interpreter on the same batch.
    m.runEagerly = true;
    const ref = m.predict(Tensor.concrete(literal([B, SEQ], 'f32', test.x.subarray(0, B * SEQ)))) as Tensor;
    const r = ref.dataSync();
    let maxDiff = 0;
    for (let i = 0; i < B * classes; i++) maxDiff = Math.max(maxDiff, Math.abs(r[i]! - probs[i]!));
    expect(maxDiff).toBeLessThan(1e-4);
    expect(Array.from(argmax(r, classes))).toEqual(Array.from(pred.subarray(0, B)));
  }, 120_000);
});
