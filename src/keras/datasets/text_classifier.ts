/**
 * The transformer text classifier of the fortunes example (examples/text_classifier.js), its
 * test (test/text_classifier.test.ts) and the transformer benchmark (bench/transformer.ts):
 *
 * - a deterministic character tokenizer (`CharTokenizer`: ids 2.. for the characters of the
 *   training texts in sorted order, 1 for characters it has not seen, 0 for padding);
 * - `fortuneClassification`: fortunes of a few categories, labelled by category, whitespace
 *   collapsed, cut to `seqLength` characters, shuffled by a seed and split into train and test;
 * - `transformerEncoderBlock`: Keras's post-norm encoder block (self-attention, dropout,
 *   residual, LayerNormalization, ReLU feed-forward, dropout, residual, LayerNormalization);
 * - `textClassifierModel`: Embedding(maskZero) + learned position embedding + encoder blocks +
 *   global average pooling + Dense softmax.
 */
import type { DType } from '../../ir/dtype.js';
import { ops, type Tensor, type Variable } from '../backend.js';
import { input } from '../engine/input.js';
import { model, type Functional } from '../engine/functional.js';
import { Layer, registerLayer, type CallArgs, type LayerArgs, type LayerConfig } from '../engine/layer.js';
import { shapeToString, type KerasShape, type KerasTensor } from '../engine/keras_tensor.js';
import { getInitializer, SeededRandom, serializeInitializer, type InitializerLike, type SerializedInitializer } from '../initializers.js';
import { add } from '../layers/add.js';
import { checkLayerArgs } from '../layers/args.js';
import { dense } from '../layers/dense.js';
import { dropout } from '../layers/dropout.js';
import { embedding } from '../layers/embedding.js';
import { globalAveragePooling1d } from '../layers/global_average_pooling1d.js';
import { layerNormalization } from '../layers/layer_normalization.js';
import { multiHeadAttention } from '../layers/multi_head_attention.js';
import { KilnError } from '../../ir/types.js';
import { loadFortunes } from './fortunes.js';

// ---- data -----------------------------------------------------------------------------------

/** Characters to ids: 0 pads, 1 stands for a character the tokenizer was not built with. */
export class CharTokenizer {
  readonly chars: string[];
  private readonly index: Map<string, number>;

  constructor(texts: readonly string[]) {
    const set = new Set<string>();
    for (const t of texts) for (const c of t) set.add(c);
    this.chars = [...set].sort();
    this.index = new Map(this.chars.map((c, i) => [c, i + 2]));
  }

  /** Ids including padding (0) and unknown (1). */
  get vocabSize(): number {
    return this.chars.length + 2;
  }

  /** The first `length` characters as ids, padded with 0 (f32, as Embedding takes them). */
  encode(text: string, length: number, out = new Float32Array(length), at = 0): Float32Array {
    let i = 0;
    for (const c of text) {
      if (i >= length) break;
      out[at + i++] = this.index.get(c) ?? 1;
    }
    return out;
  }
}

export interface FortuneClassificationOptions {
  categories: readonly string[];
  /** Characters kept per text (default 96). */
  seqLength?: number;
  /** Fraction held out for testing (default 0.2). */
  testFraction?: number;
  /** Shuffle seed (default 1). */
  seed?: number;
  /** Fortunes directory (default /usr/share/games/fortunes). */
  dir?: string;
}

export interface TextSplit {
  /** `[n, seqLength]` ids as f32. */
  x: Float32Array;
  /** `[n]` class indices (positions in `categories`). */
  y: Int32Array;
  n: number;
  texts: string[];
}

export interface FortuneClassification {
  categories: string[];
  seqLength: number;
  tokenizer: CharTokenizer;
  train: TextSplit;
  test: TextSplit;
  /** Accuracy of always answering the most frequent training class, measured on the test split. */
  majorityBaseline: number;
  majorityClass: number;
}

/** Fortunes labelled by category, tokenized by characters, split deterministically. */
export function fortuneClassification(opts: FortuneClassificationOptions): FortuneClassification {
  const seqLength = opts.seqLength ?? 96;
  const testFraction = opts.testFraction ?? 0.2;
  if (!(testFraction > 0 && testFraction < 1)) throw new KilnError(`fortuneClassification: testFraction must be in (0, 1), got ${testFraction}`);
  if (opts.categories.length < 2) throw new KilnError(`fortuneClassification: needs at least 2 categories, got ${JSON.stringify(opts.categories)}`);
  const categories = [...opts.categories];
  const all = loadFortunes({ categories, ...(opts.dir ? { dir: opts.dir } : {}) }).map((f) => ({
    text: f.text.replace(/\s+/g, ' '),
    label: categories.indexOf(f.category),
  }));
  // Fisher-Yates with a seeded generator: the same split on every machine.
  const rng = new SeededRandom(opts.seed ?? 1);
  for (let i = all.length - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [all[i], all[j]] = [all[j]!, all[i]!];
  }
  const nTest = Math.round(all.length * testFraction);
  const trainItems = all.slice(nTest), testItems = all.slice(0, nTest);
  const tokenizer = new CharTokenizer(trainItems.map((t) => t.text.slice(0, seqLength)));
  const split = (items: typeof all): TextSplit => {
    const x = new Float32Array(items.length * seqLength);
    items.forEach((it, i) => tokenizer.encode(it.text, seqLength, x, i * seqLength));
    return { x, y: Int32Array.from(items.map((it) => it.label)), n: items.length, texts: items.map((it) => it.text) };
  };
  const train = split(trainItems), test = split(testItems);
  const counts = categories.map((_, c) => train.y.filter((l) => l === c).length);
  const majorityClass = counts.indexOf(Math.max(...counts));
  const majorityBaseline = test.y.filter((l) => l === majorityClass).length / test.n;
  return { categories, seqLength, tokenizer, train, test, majorityBaseline, majorityClass };
}

// ---- model ----------------------------------------------------------------------------------

export interface AddPositionEmbeddingArgs extends LayerArgs {
  /** Longest sequence: the table has this many rows. */
  sequenceLength: number;
  initializer?: InitializerLike;
}

export interface AddPositionEmbeddingConfig extends LayerConfig {
  sequenceLength: number;
  initializer: SerializedInitializer;
}

/**
 * `x + table[:T]` for x [batch, T, dim]: a learned position embedding added to token
 * embeddings (keras_hub's PositionEmbedding followed by the add). The input's mask passes on.
 */
export class AddPositionEmbedding extends Layer {
  static override className = 'AddPositionEmbedding';
  readonly sequenceLength: number;
  private readonly initializer;
  table?: Variable;

  constructor(args: AddPositionEmbeddingArgs) {
    super(args);
    checkLayerArgs(this.label, args, { known: ['sequenceLength', 'initializer'], required: ['sequenceLength'] });
    if (!Number.isInteger(args.sequenceLength) || args.sequenceLength <= 0) this.fail(`sequenceLength must be a positive integer, got ${JSON.stringify(args.sequenceLength)}`);
    this.sequenceLength = args.sequenceLength;
    this.initializer = getInitializer(args.initializer ?? 'glorotUniform', `${this.label}: initializer`);
    this.supportsMasking = true;
  }

  protected override checkInputShape(shape: KerasShape | KerasShape[], dtype: DType | DType[]): void {
    const s = this.singleShape(shape, 3);
    if (s[2] === null || (s[1] !== null && s[1]! > this.sequenceLength)) {
      this.fail(`expected [batch, time <= ${this.sequenceLength}, features] with known features, got ${shapeToString(s, dtype as DType)}`);
    }
  }

  override build(inputShape: KerasShape | KerasShape[]): void {
    const s = this.singleShape(inputShape, 3);
    this.table = this.addWeight('embeddings', [this.sequenceLength, s[2] as number], this.initializer);
    this.built = true;
  }

  override call(inputs: Tensor | Tensor[], _args: CallArgs): Tensor {
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    const t = this.table!.read();
    return ops.add(x, x.shape[1] === this.sequenceLength ? t : ops.slice(t, [0, 0], [x.shape[1]!, t.shape[1]!]));
  }

  override getConfig(): AddPositionEmbeddingConfig {
    return { ...super.getConfig(), sequenceLength: this.sequenceLength, initializer: serializeInitializer(this.initializer) };
  }

  static fromConfig(config: AddPositionEmbeddingConfig): AddPositionEmbedding {
    return new AddPositionEmbedding(config);
  }
}
registerLayer(AddPositionEmbedding);

export interface EncoderBlockOptions {
  numHeads: number;
  /** Feed-forward hidden width. */
  ffDim: number;
  /** Dropout after attention and after the feed-forward (default 0.1). */
  dropout?: number;
  /** Per-head key size (default width / numHeads). */
  keyDim?: number;
  /** Seed for the dropout layers. */
  seed?: number;
  name?: string;
}

/** Keras's post-norm transformer encoder block on [batch, time, width]. */
export function transformerEncoderBlock(x: KerasTensor, o: EncoderBlockOptions): KerasTensor {
  const width = x.shape[x.shape.length - 1] as number;
  const p = o.name ? `${o.name}_` : '';
  const rate = o.dropout ?? 0.1;
  const named = (n: string) => (o.name ? { name: `${p}${n}` } : {});
  const seeded = (k: number) => (o.seed !== undefined ? { seed: o.seed + k } : {});
  const att = multiHeadAttention({ numHeads: o.numHeads, keyDim: o.keyDim ?? Math.max(1, Math.floor(width / o.numHeads)), ...named('attention') }).apply([x, x]) as KerasTensor;
  const a = rate > 0 ? dropout({ rate, ...seeded(1), ...named('attention_dropout') }).apply(att) : att;
  const h = layerNormalization({ epsilon: 1e-6, ...named('attention_norm') }).apply(add(named('attention_residual')).apply([x, a]) as KerasTensor);
  const f1 = dense({ units: o.ffDim, activation: 'relu', ...named('ffn_1') }).apply(h);
  const f2 = dense({ units: width, ...named('ffn_2') }).apply(f1);
  const f = rate > 0 ? dropout({ rate, ...seeded(2), ...named('ffn_dropout') }).apply(f2) : f2;
  return layerNormalization({ epsilon: 1e-6, ...named('ffn_norm') }).apply(add(named('ffn_residual')).apply([h, f]) as KerasTensor);
}

export interface TextClassifierOptions {
  vocabSize: number;
  seqLength: number;
  numClasses: number;
  /** Model width (default 32). */
  width?: number;
  numHeads?: number;
  ffDim?: number;
  blocks?: number;
  dropout?: number;
  seed?: number;
}

/** Embedding(maskZero) + position embedding + encoder blocks + average pooling + softmax. */
export function textClassifierModel(o: TextClassifierOptions): Functional {
  const width = o.width ?? 32;
  const ids = input({ shape: [o.seqLength], name: 'ids' });
  const tokens = embedding({ inputDim: o.vocabSize, outputDim: width, maskZero: true, name: 'tokens' }).apply(ids) as KerasTensor;
  let x = new AddPositionEmbedding({ sequenceLength: o.seqLength, name: 'positions' }).apply(tokens);
  for (let b = 0; b < (o.blocks ?? 1); b++) {
    x = transformerEncoderBlock(x, { numHeads: o.numHeads ?? 2, ffDim: o.ffDim ?? 2 * width, dropout: o.dropout ?? 0.1, name: `block${b}`, ...(o.seed !== undefined ? { seed: o.seed + 10 * b } : {}) });
  }
  const pooled = globalAveragePooling1d({ name: 'pool' }).apply(x);
  const out = dense({ units: o.numClasses, activation: 'softmax', name: 'classes' }).apply(pooled);
  return model({ inputs: ids, outputs: out, name: 'text_classifier' });
}
