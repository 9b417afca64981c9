// Kiln example: a small transformer that tells which fortunes file a text comes from.
//
// Debian's fortunes (/usr/share/games/fortunes; `apt-get install fortunes`) give real short
// texts labelled by their file. Four categories with distinct styles are tokenized by characters;
// the model is Embedding(maskZero) + a learned position embedding + a transformer encoder block
// (MultiHeadAttention, layer normalization, ReLU feed-forward, residuals) + average pooling +
// Dense softmax, trained with `fit` (each step one compiled WebAssembly program). The trained
// model then compiles to one artifact that the runtime alone (`kiln/runtime`, no compiler, no
// TensorFlow.js) runs on the held-out texts.
//
// Run after `npm run build`:  node examples/text_classifier.js [--epochs 6]
import * as kiln from 'kiln';
import { load } from 'kiln/runtime';
import { fortuneClassification, textClassifierModel } from '../dist/keras/datasets/text_classifier.js';

const argv = process.argv.slice(2);
const epochs = Number(argv[argv.indexOf('--epochs') + 1] ?? 6) || 6;
const CATEGORIES = ['definitions', 'zippy', 'startrek', 'songs-poems'];
const SEQ = 64;

const data = fortuneClassification({ categories: CATEGORIES, seqLength: SEQ, seed: 3 });
const { train, test, tokenizer } = data;
console.log(`${train.n} training and ${test.n} held-out texts of ${CATEGORIES.join(', ')}; ${tokenizer.vocabSize} character ids`);

const model = textClassifierModel({ vocabSize: tokenizer.vocabSize, seqLength: SEQ, numClasses: CATEGORIES.length, width: 32, numHeads: 2, ffDim: 64, blocks: 1, seed: 5 });
model.summary();
model.compile({ optimizer: kiln.optimizers.adam({ learningRate: 3e-3 }), loss: 'sparseCategoricalCrossentropy', metrics: ['acc'] });
await model.fit(kiln.tensor(train.x, [train.n, SEQ]), kiln.tensor(train.y, [train.n], 'i32'), { epochs, batchSize: 32, seed: 7, verbose: 1 });

// Deployment: one artifact, run by the runtime alone on batches of 64 texts.
const B = 64;
const artifact = kiln.compile(model, { inputShapes: [[B, SEQ]] });
await artifact.save('text_classifier.kiln');
const prog = await load(artifact.bytes);
const classify = async (x) => {
  const probs = (await prog.run({ [prog.inputs[0].name]: x }))[prog.outputs[0].name];
  return Array.from({ length: B }, (_, i) => {
    const row = probs.subarray(i * CATEGORIES.length, (i + 1) * CATEGORIES.length);
    return row.indexOf(Math.max(...row));
  });
};
let right = 0, seen = 0;
for (let s = 0; s + B <= test.n; s += B) {
  const pred = await classify(test.x.subarray(s * SEQ, (s + B) * SEQ));
  pred.forEach((p, i) => { right += p === test.y[s + i] ? 1 : 0; });
  seen += B;
}
const baseline = test.y.subarray(0, seen).filter((l) => l === data.majorityClass).length / seen;
console.log(`\nheld-out accuracy ${(100 * right / seen).toFixed(1)}% on ${seen} texts; always answering '${CATEGORIES[data.majorityClass]}' gets ${(100 * baseline).toFixed(1)}%`);

// A few texts of our own, padded into one batch.
const mine = ['Beam me up, Scotty! Captain, the engines cannot take much more.', 'Yow! Am I having FUN yet?', 'Love, n.: a temporary insanity curable by marriage.'];
const x = new Float32Array(B * SEQ);
mine.forEach((t, i) => tokenizer.encode(t, SEQ, x, i * SEQ));
const pred = await classify(x);
mine.forEach((t, i) => console.log(`  ${JSON.stringify(t)} -> ${CATEGORIES[pred[i]]}`));
prog.dispose();
console.log(`artifact: text_classifier.kiln, ${artifact.bytes.length} bytes`);
