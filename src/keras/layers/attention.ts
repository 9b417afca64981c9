/**
 * Attention (Luong-style dot-product attention) with Keras 3 semantics. Inputs are
 * `[query, value]` or `[query, value, key]` (key defaults to value): query [B, Tq, dim], value
 * [B, Tv, dimV], key [B, Tv, dim]. Scores are `query · keyᵀ` (times the `scale` weight with
 * `useScale`), or with `scoreMode: 'concat'` `concat_score_weight · Σ tanh(scale · (q + k))`;
 * softmax over the key positions; the output is `probabilities · value`.
 *
 * Masks follow Keras: the value mask [B, Tv] and the causal mask (`useCausalMask`) remove key
 * positions by subtracting 1e9 (65504 in f16) from their scores; the query mask [B, Tq] zeroes
 * output rows. Masks come from the inputs (Embedding maskZero) or as `mask: [queryMask,
 * valueMask]`. `returnAttentionScores` returns `[output, probabilities]`; `dropout` drops
 * probabilities in training (keyed by the step, as Dropout).
 */
import type { DType } from '../../ir/dtype.js';
import { ops, Tensor, type Variable } from '../backend.js';
import { shapeToString, type CallOption, type KerasShape, type KerasTensor } from '../engine/keras_tensor.js';
import { isShapeList, Layer, registerLayer, type CallArgs, type LayerArgs, type LayerConfig, type LayerMask } from '../engine/layer.js';
import { checkLayerArgs, refuseValue } from './args.js';
import { batchedMatmul, boolMask, causalMask, checkCallArgs, inputMask } from './attention_utils.js';
import { Dropout } from './dropout.js';

export type AttentionScoreMode = 'dot' | 'concat';

export interface AttentionArgs extends LayerArgs {
  /** Learn a scalar `scale` multiplying the scores. */
  useScale?: boolean;
  scoreMode?: AttentionScoreMode;
  /** Dropout rate on the attention probabilities (training only). */
  dropout?: number;
  seed?: number | null;
}

export interface AttentionConfig extends LayerConfig {
  useScale: boolean;
  /** Absent from AdditiveAttention's config (as in Keras). */
  scoreMode?: AttentionScoreMode;
  dropout: number;
  seed: number | null;
}

export interface AttentionCallArgs extends CallArgs {
  /** Return `[output, probabilities]` (probabilities [B, Tq, Tv], before dropout). */
  returnAttentionScores?: boolean;
  /** Query position i attends only to key positions j <= i. */
  useCausalMask?: boolean;
}

const CALL_ARGS = ['training', 'step', 'mask', 'returnAttentionScores', 'useCausalMask'];

export class Attention extends Layer {
  static override className = 'Attention';
  readonly useScale: boolean;
  readonly scoreMode: AttentionScoreMode;
  readonly dropout: number;
  readonly seed: number | null;
  private readonly dropoutLayer?: Dropout;
  scale?: Variable;
  concatScoreWeight?: Variable;

  constructor(args: AttentionArgs = {}, known: readonly string[] = ['useScale', 'scoreMode', 'dropout', 'seed']) {
    super(args);
    checkLayerArgs(this.label, args, { known });
    this.useScale = args.useScale ?? this.defaultUseScale();
    this.scoreMode = args.scoreMode ?? 'dot';
    if (this.scoreMode !== 'dot' && this.scoreMode !== 'concat') refuseValue(this.label, 'scoreMode', args.scoreMode, "expected 'dot' or 'concat'");
    this.dropout = args.dropout ?? 0;
    if (!(this.dropout >= 0 && this.dropout < 1)) this.fail(`dropout must be in [0, 1), got ${JSON.stringify(args.dropout)}`);
    if (args.seed != null && !Number.isInteger(args.seed)) this.fail(`seed must be an integer, got ${JSON.stringify(args.seed)}`);
    this.seed = args.seed ?? null;
    this.supportsMasking = true;
    if (this.dropout > 0) this.dropoutLayer = new Dropout({ name: `${this.name}_dropout`, rate: this.dropout, ...(this.seed !== null ? { seed: this.seed } : {}) });
  }

  protected defaultUseScale(): boolean {
    return false;
  }

  /** `[query, value, key]` shapes from the input list, checked. */
  protected shapes(inputShape: KerasShape | KerasShape[]): { q: KerasShape; v: KerasShape; k: KerasShape } {
    if (!isShapeList(inputShape) || inputShape.length < 2 || inputShape.length > 3) {
      this.fail(`expects a list of inputs [query, value] or [query, value, key], got ${isShapeList(inputShape) ? `${inputShape.length} inputs` : `one input ${shapeToString(inputShape)}`}`);
    }
    const [q, v, k = v] = inputShape as [KerasShape, KerasShape, KerasShape?];
    return { q, v, k };
  }

  protected override checkInputShape(shape: KerasShape | KerasShape[], dtype: DType | DType[]): void {
    const { q, v, k } = this.shapes(shape);
    const dts = Array.isArray(dtype) ? dtype : [dtype];
    dts.forEach((d, i) => {
      if (d !== 'f32' && d !== 'f16' && d !== 'bf16') this.fail(`the ${['query', 'value', 'key'][i]} must be a float tensor, got ${d}`);
    });
    for (const [name, s] of [['query', q], ['value', v], ['key', k]] as const) {
      if (s.length !== 3) this.fail(`the ${name} must have rank 3 [batch, positions, features], got ${shapeToString(s)}`);
    }
    if (q[2] !== k[2]) this.fail(`query and key must have the same feature size, got query ${shapeToString(q)} and key ${shapeToString(k)}`);
    if (k[1] !== v[1] && k[1] !== null && v[1] !== null) this.fail(`key and value must have the same positions, got key ${shapeToString(k)} and value ${shapeToString(v)}`);
  }

  override build(inputShape: KerasShape | KerasShape[]): void {
    if (this.useScale) this.scale = this.addWeight('scale', [], 'ones');
    if (this.scoreMode === 'concat') this.concatScoreWeight = this.addWeight('concat_score_weight', [], 'ones');
    void inputShape;
    this.built = true;
  }

  override computeOutputShape(inputShape: KerasShape | KerasShape[]): KerasShape {
    const { q, v } = this.shapes(inputShape);
    return [...q.slice(0, -1), v[v.length - 1]!];
  }

  /** Keras passes the query's mask on. */
  override computeMask(_inputs: Tensor | Tensor[], mask: LayerMask): LayerMask {
    return Array.isArray(mask) ? (mask[0] ?? null) : null;
  }

  /** The raw scores [B, Tq, Tv]. */
  protected scores(q: Tensor, k: Tensor): Tensor {
    if (this.scoreMode === 'dot') {
      const s = batchedMatmul(q, k, true);
      return this.scale ? ops.mul(s, this.scale.read()) : s;
    }
    const sum = ops.add(ops.expandDims(q, -2), ops.expandDims(k, -3)); // [B, Tq, Tv, dim]
    return ops.mul(this.concatScoreWeight!.read(), ops.sum(ops.tanh(this.scale ? ops.mul(this.scale.read(), sum) : sum), -1));
  }

  /**
   * `[query, value]` or `[query, value, key]`; the output, or `[output, probabilities]` with
   * `returnAttentionScores`. On symbolic inputs (functional models) `useCausalMask` is recorded.
   */
  override apply(inputs: KerasTensor[], args?: AttentionCallArgs): KerasTensor | KerasTensor[];
  override apply(inputs: Tensor[], args?: AttentionCallArgs): Tensor | Tensor[];
  override apply(inputs: KerasTensor, args?: CallArgs): KerasTensor;
  override apply(inputs: Tensor, args?: CallArgs): Tensor;
  override apply(inputs: KerasTensor | KerasTensor[], args?: CallArgs): KerasTensor | KerasTensor[];
  override apply(inputs: Tensor | Tensor[], args?: CallArgs): Tensor | Tensor[];
  override apply(inputs: KerasTensor | KerasTensor[] | Tensor | Tensor[], args: AttentionCallArgs = {}): KerasTensor | KerasTensor[] | Tensor | Tensor[] {
    return super.apply(inputs as Tensor | Tensor[], args);
  }

  /** On symbolic inputs `useCausalMask` is recorded on the node (saved, replayed). */
  protected override recordedCallArgs(args: AttentionCallArgs): Record<string, CallOption> | undefined {
    checkCallArgs(this.label, args, CALL_ARGS);
    if (args.returnAttentionScores) this.fail('returnAttentionScores on symbolic inputs (a functional model) is not supported; apply the layer to tensors (in kiln.fn or a subclassed model\'s call)');
    return args.useCausalMask !== undefined ? { useCausalMask: !!args.useCausalMask } : undefined;
  }

  override call(inputs: Tensor | Tensor[], args: AttentionCallArgs): Tensor | Tensor[] {
    checkCallArgs(this.label, args, CALL_ARGS);
    const [q, v, k = v] = (Array.isArray(inputs) ? inputs : [inputs]) as [Tensor, Tensor, Tensor?];
    const qMask = inputMask(args, 0), vMask = inputMask(args, 1);
    let scores = this.scores(q, k);
    let keep: Tensor | undefined = vMask ? ops.expandDims(boolMask(vMask, this.label, 'the value mask'), -2) : undefined; // [B, 1, Tv]
    if (args.useCausalMask) {
      const c = causalMask(scores.shape[1]!, scores.shape[2]!);
      keep = keep ? ops.logicalAnd(keep, c) : c;
    }
    if (keep) {
      // Keras: scores -= max_value * (1 - mask): 1e9, or 65504 (f16's largest) in f16.
      const big = scores.dtype === 'f16' ? 65504 : 1e9;
      scores = ops.sub(scores, ops.mul(ops.cast(ops.logicalNot(keep), scores.dtype), big));
    }
    const probs = ops.softmax(scores, -1);
    const dropped = this.dropoutLayer && args.training ? this.dropoutLayer.apply(probs, { training: true, ...(args.step ? { step: args.step } : {}) }) : probs;
    let out = batchedMatmul(dropped, v, false);
    if (qMask) out = ops.mul(out, ops.cast(ops.expandDims(boolMask(qMask, this.label, 'the query mask'), -1), out.dtype));
    return args.returnAttentionScores ? [out, probs] : out;
  }

  override getConfig(): AttentionConfig {
    return { ...super.getConfig(), useScale: this.useScale, scoreMode: this.scoreMode, dropout: this.dropout, seed: this.seed };
  }

  static fromConfig(config: AttentionConfig): Attention {
    return new Attention(config);
  }
}
registerLayer(Attention);

export function attention(args: AttentionArgs = {}): Attention {
  return new Attention(args);
}
