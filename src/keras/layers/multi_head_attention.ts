/**
 * MultiHeadAttention with Keras 3 semantics: query, key and value are projected per head by
 * EinsumDense kernels (`query/kernel` [dimQ, heads, keyDim], `key/kernel` [dimK, heads, keyDim],
 * `value/kernel` [dimV, heads, valueDim], biases [heads, dim]), scaled dot-product attention runs
 * over the attention axes (by default every axis but batch and features), and
 * `attention_output/kernel` [heads, valueDim, ...outputShape] projects back.
 *
 * Inputs are `[query, value]` or `[query, value, key]` (key defaults to value). Call args:
 * `attentionMask` (bool or 0/1, [B, Tq, Tv] for one attention axis, broadcast as Keras does),
 * `useCausalMask`, `returnAttentionScores` (then the outputs are `[output, scores]`, scores
 * [B, heads, Tq, Tv] before dropout), the Keras input masks (`queryMask`, `valueMask`,
 * `keyMask`, or the engine's `mask` list), `training` and `step` (for attention dropout).
 *
 * The softmax over masked positions follows Keras: a masked score becomes -1e9 (-3e4 in f16)
 * and the probabilities are multiplied by the mask, so a fully masked row gives zeros.
 */
import type { DType } from '../../ir/dtype.js';
import { ops, type Tensor, type Variable } from '../backend.js';
import { getConstraint, serializeConstraint, type Constraint, type ConstraintLike, type SerializedConstraint } from '../constraints.js';
import { Layer, registerLayer, type CallArgs, type LayerArgs, type LayerConfig, type LayerMask } from '../engine/layer.js';
import { isShapeList } from '../engine/layer.js';
import { shapeToString, type CallOption, type KerasShape, type KerasTensor } from '../engine/keras_tensor.js';
import { getInitializer, serializeInitializer, type InitializerLike, type SerializedInitializer } from '../initializers.js';
import { getRegularizer, serializeRegularizer, type Regularizer, type RegularizerLike, type SerializedRegularizer } from '../regularizers.js';
import { checkLayerArgs } from './args.js';
import { batchedMatmul, boolMask, causalMask, checkCallArgs, inputMask, maskedSoftmax } from './attention_utils.js';
import { Dropout } from './dropout.js';

export interface MultiHeadAttentionArgs extends LayerArgs {
  numHeads: number;
  /** Size of each head for query and key. */
  keyDim: number;
  /** Size of each head for value; defaults to keyDim. */
  valueDim?: number | null;
  /** Dropout rate on the attention probabilities (training only). */
  dropout?: number;
  useBias?: boolean;
  /** The output's last dims; defaults to the query's feature size. */
  outputShape?: number | readonly number[] | null;
  /** Axes of the query (1-based, not batch nor features) attention runs over; default all of them. */
  attentionAxes?: number | readonly number[] | null;
  kernelInitializer?: InitializerLike;
  biasInitializer?: InitializerLike;
  kernelRegularizer?: RegularizerLike | null;
  biasRegularizer?: RegularizerLike | null;
  activityRegularizer?: RegularizerLike | null;
  kernelConstraint?: ConstraintLike | null;
  biasConstraint?: ConstraintLike | null;
  /** Seed of the attention dropout. */
  seed?: number | null;
  /** Keras 3's flash attention switch: Kiln fuses the plain formula, so only null/false. */
  flashAttention?: boolean | null;
  /** Keras 2's build shapes in its config: checked against the inputs the layer is built for. */
  queryShape?: readonly (number | null)[] | null;
  keyShape?: readonly (number | null)[] | null;
  valueShape?: readonly (number | null)[] | null;
}

const MHA_ARGS = [
  'numHeads', 'keyDim', 'valueDim', 'dropout', 'useBias', 'outputShape', 'attentionAxes', 'kernelInitializer', 'biasInitializer',
  'kernelRegularizer', 'biasRegularizer', 'activityRegularizer', 'kernelConstraint', 'biasConstraint', 'seed', 'flashAttention',
  'queryShape', 'keyShape', 'valueShape',
] as const satisfies readonly (keyof MultiHeadAttentionArgs)[];

export interface MultiHeadAttentionConfig extends LayerConfig {
  numHeads: number;
  keyDim: number;
  valueDim: number;
  dropout: number;
  useBias: boolean;
  outputShape: number | number[] | null;
  attentionAxes: number[] | null;
  kernelInitializer: SerializedInitializer;
  biasInitializer: SerializedInitializer;
  kernelRegularizer: SerializedRegularizer | null;
  biasRegularizer: SerializedRegularizer | null;
  activityRegularizer: SerializedRegularizer | null;
  kernelConstraint: SerializedConstraint | null;
  biasConstraint: SerializedConstraint | null;
  seed: number | null;
}

export interface MultiHeadAttentionCallArgs extends CallArgs {
  /** Bool (or 0/1) mask broadcastable to [B, (non-attention axes,) Tq..., Tv...]: true attends. */
  attentionMask?: Tensor;
  /** Each query position attends only to key positions at or before it. */
  useCausalMask?: boolean;
  /** Return `[output, scores]` with the attention probabilities [B, heads, Tq..., Tv...]. */
  returnAttentionScores?: boolean;
  /** Keras's query_mask [B, Tq...] (normally propagated from Embedding(maskZero)). */
  queryMask?: Tensor;
  valueMask?: Tensor;
  keyMask?: Tensor;
}

const SYMBOLIC_REFUSED = ['attentionMask', 'returnAttentionScores', 'queryMask', 'valueMask', 'keyMask'] as const;
const CALL_ARGS = ['training', 'step', 'mask', 'attentionMask', 'useCausalMask', 'returnAttentionScores', 'queryMask', 'valueMask', 'keyMask'];

interface Projection {
  kernel: Variable;
  bias?: Variable;
}

export class MultiHeadAttention extends Layer {
  static override className = 'MultiHeadAttention';
  readonly numHeads: number;
  readonly keyDim: number;
  readonly valueDim: number;
  readonly dropout: number;
  readonly useBias: boolean;
  readonly outputShape: number | number[] | null;
  readonly attentionAxes: number[] | null;
  readonly seed: number | null;
  private readonly kernelInitializer;
  private readonly biasInitializer;
  readonly kernelRegularizer?: Regularizer;
  readonly biasRegularizer?: Regularizer;
  readonly kernelConstraint?: Constraint;
  readonly biasConstraint?: Constraint;
  private readonly dropoutLayer?: Dropout;
  /** Keras 2's recorded build shapes [query, value, key], checked when the layer is applied. */
  private readonly configShapes: (readonly (number | null)[] | null | undefined)[];
  query?: Projection;
  key?: Projection;
  value?: Projection;
  attentionOutput?: Projection;

  constructor(args: MultiHeadAttentionArgs) {
    super(args);
    checkLayerArgs(this.label, args, { known: MHA_ARGS, required: ['numHeads', 'keyDim'] });
    const posInt = (field: string, v: unknown): number => {
      if (!Number.isInteger(v) || (v as number) <= 0) this.fail(`${field} must be a positive integer, got ${JSON.stringify(v)}`);
      return v as number;
    };
    this.numHeads = posInt('numHeads', args.numHeads);
    this.keyDim = posInt('keyDim', args.keyDim);
    this.valueDim = args.valueDim == null ? this.keyDim : posInt('valueDim', args.valueDim);
    this.dropout = args.dropout ?? 0;
    if (!(this.dropout >= 0 && this.dropout < 1)) this.fail(`dropout must be in [0, 1), got ${JSON.stringify(args.dropout)}`);
    this.useBias = args.useBias ?? true;
    if (args.outputShape == null) this.outputShape = null;
    else if (typeof args.outputShape === 'number') this.outputShape = posInt('outputShape', args.outputShape);
    else {
      if (!Array.isArray(args.outputShape) || args.outputShape.length === 0) this.fail(`outputShape must be a positive integer or a non-empty list of them, got ${JSON.stringify(args.outputShape)}`);
      this.outputShape = args.outputShape.map((d) => posInt('outputShape', d));
    }
    if (args.attentionAxes == null) this.attentionAxes = null;
    else {
      const axes = typeof args.attentionAxes === 'number' ? [args.attentionAxes] : [...args.attentionAxes];
      if (axes.length === 0 || axes.some((a) => !Number.isInteger(a) || a < 1) || new Set(axes).size !== axes.length) {
        this.fail(`attentionAxes must be distinct positive axes of the query (1 = the first after batch), got ${JSON.stringify(args.attentionAxes)}`);
      }
      this.attentionAxes = axes.sort((a, b) => a - b);
    }
    if (args.flashAttention) this.fail('flashAttention true is not supported (Kiln fuses the plain attention formula; leave it null)');
    if (args.seed != null && !Number.isInteger(args.seed)) this.fail(`seed must be an integer, got ${JSON.stringify(args.seed)}`);
    this.seed = args.seed ?? null;
    this.kernelInitializer = getInitializer(args.kernelInitializer ?? 'glorotUniform', `${this.label}: kernelInitializer`);
    this.biasInitializer = getInitializer(args.biasInitializer ?? 'zeros', `${this.label}: biasInitializer`);
    this.kernelRegularizer = getRegularizer(args.kernelRegularizer, `${this.label}: kernelRegularizer`);
    this.biasRegularizer = getRegularizer(args.biasRegularizer, `${this.label}: biasRegularizer`);
    this.activityRegularizer = getRegularizer(args.activityRegularizer, `${this.label}: activityRegularizer`);
    this.kernelConstraint = getConstraint(args.kernelConstraint, `${this.label}: kernelConstraint`);
    this.biasConstraint = getConstraint(args.biasConstraint, `${this.label}: biasConstraint`);
    if (this.dropout > 0) this.dropoutLayer = new Dropout({ name: `${this.name}_dropout`, rate: this.dropout, ...(this.seed !== null ? { seed: this.seed } : {}) });
    this.configShapes = [args.queryShape, args.valueShape, args.keyShape];
  }

  /** `[query, value, key]` shapes from the input list, checked. */
  private shapes(inputShape: KerasShape | KerasShape[]): { q: KerasShape; v: KerasShape; k: KerasShape } {
    if (!isShapeList(inputShape) || inputShape.length < 2 || inputShape.length > 3) {
      this.fail(`expects a list of inputs [query, value] or [query, value, key], got ${isShapeList(inputShape) ? `${inputShape.length} inputs` : `one input ${shapeToString(inputShape)}`}`);
    }
    const [q, v, k = v] = inputShape as [KerasShape, KerasShape, KerasShape?];
    return { q, v, k };
  }

  /** The attention axes of a query of this rank (1..rank-2 by default). */
  private axesFor(rank: number): number[] {
    const axes = this.attentionAxes ?? Array.from({ length: rank - 2 }, (_, i) => i + 1);
    const bad = axes.find((a) => a > rank - 2);
    if (bad !== undefined) this.fail(`attentionAxes [${axes.join(',')}] include axis ${bad}, but a rank-${rank} query has attention axes 1..${rank - 2} only`);
    return axes;
  }

  protected override checkInputShape(shape: KerasShape | KerasShape[], dtype: DType | DType[]): void {
    const { q, v, k } = this.shapes(shape);
    const dts = Array.isArray(dtype) ? dtype : [dtype];
    const names = ['query', 'value', 'key'];
    dts.forEach((d, i) => {
      if (d !== 'f32' && d !== 'f16' && d !== 'bf16') this.fail(`the ${names[i]} must be a float tensor, got ${d}`);
    });
    if (q.length < 3) this.fail(`the query must have rank >= 3 ([batch, ...positions, features]), got ${shapeToString(q)}`);
    for (const [name, s] of [['value', v], ['key', k]] as const) {
      if (s.length !== q.length) this.fail(`the ${name} must have the query's rank ${q.length}, got query ${shapeToString(q)} and ${name} ${shapeToString(s)}`);
    }
    for (const [name, s] of [['query', q], ['value', v], ['key', k]] as const) {
      if (s[s.length - 1] == null) this.fail(`the ${name}'s last dimension must be known, got ${shapeToString(s)}`);
    }
    ['queryShape', 'valueShape', 'keyShape'].forEach((field, i) => {
      const want = this.configShapes[i], got = [q, v, k][i]!;
      if (want && (want.length !== got.length || want.some((d, j) => d !== null && got[j] !== null && d !== got[j]))) {
        this.fail(`${field} [${want.map((d) => d ?? 'null').join(',')}] in its config does not match the input ${shapeToString(got)}`);
      }
    });
    const axes = this.axesFor(q.length);
    // Non-attention axes pair query positions with key positions: sizes must agree.
    for (let a = 1; a < q.length - 1; a++) {
      if (axes.includes(a)) continue;
      if (q[a] !== null && v[a] !== null && q[a] !== v[a]) this.fail(`axis ${a} is not an attention axis, so query and value must agree on it: query ${shapeToString(q)}, value ${shapeToString(v)}`);
    }
    if (k.some((d, i) => i > 0 && i < k.length - 1 && v[i] !== null && d !== null && d !== v[i])) {
      this.fail(`key and value must have the same positions: key ${shapeToString(k)}, value ${shapeToString(v)}`);
    }
    if (this.query) {
      const want = [this.query.kernel.shape[0], this.value!.kernel.shape[0], this.key!.kernel.shape[0]];
      const got = [q, v, k].map((s) => s[s.length - 1]);
      if (got.some((d, i) => d !== want[i])) this.fail(`was built for features [query ${want[0]}, value ${want[1]}, key ${want[2]}], got query ${shapeToString(q)}, value ${shapeToString(v)}, key ${shapeToString(k)}`);
    }
  }

  private outDims(queryFeatures: number): number[] {
    return this.outputShape === null ? [queryFeatures] : typeof this.outputShape === 'number' ? [this.outputShape] : [...this.outputShape];
  }

  private projection(name: string, kernelShape: number[], biasShape: number[]): Projection {
    const extras = { regularizer: this.kernelRegularizer, constraint: this.kernelConstraint };
    const kernel = this.addWeight(`${name}/kernel`, kernelShape, this.kernelInitializer, true, extras);
    const bias = this.useBias ? this.addWeight(`${name}/bias`, biasShape, this.biasInitializer, true, { regularizer: this.biasRegularizer, constraint: this.biasConstraint }) : undefined;
    return bias ? { kernel, bias } : { kernel };
  }

  override build(inputShape: KerasShape | KerasShape[]): void {
    const { q, v, k } = this.shapes(inputShape);
    const last = (s: KerasShape) => s[s.length - 1] as number;
    const h = this.numHeads;
    // Keras's weight order: query, key, value, attention_output (kernel then bias each).
    this.query = this.projection('query', [last(q), h, this.keyDim], [h, this.keyDim]);
    this.key = this.projection('key', [last(k), h, this.keyDim], [h, this.keyDim]);
    this.value = this.projection('value', [last(v), h, this.valueDim], [h, this.valueDim]);
    const out = this.outDims(last(q));
    this.attentionOutput = this.projection('attention_output', [h, this.valueDim, ...out], out);
    this.built = true;
  }

  override computeOutputShape(inputShape: KerasShape | KerasShape[]): KerasShape | KerasShape[] {
    const { q } = this.shapes(inputShape);
    return [...q.slice(0, -1), ...this.outDims(q[q.length - 1] as number)];
  }

  /** `x · kernel + bias` over the last axis of x; kernel [in, ...outDims]. */
  private project(x: Tensor, p: Projection, contract: number): Tensor {
    const kshape = p.kernel.shape;
    const inDim = kshape.slice(0, contract).reduce((a, b) => a * b, 1);
    const outDims = kshape.slice(contract);
    const lead = x.shape.slice(0, x.rank - contract);
    const flat = ops.reshape(x, [-1, inDim]);
    let y = ops.matmul(flat, ops.reshape(p.kernel.read(), [inDim, -1]));
    if (p.bias) y = ops.add(y, ops.reshape(p.bias.read(), [-1]));
    return ops.reshape(y, [...lead, ...outDims]);
  }

  /**
   * `[query, value]` or `[query, value, key]`; the output, or `[output, scores]` with
   * `returnAttentionScores`. On symbolic inputs (functional models) `useCausalMask` is recorded;
   * input masks travel on the tensors (Embedding maskZero).
   */
  override apply(inputs: KerasTensor[], args?: MultiHeadAttentionCallArgs): KerasTensor | KerasTensor[];
  override apply(inputs: Tensor[], args?: MultiHeadAttentionCallArgs): Tensor | Tensor[];
  override apply(inputs: KerasTensor, args?: CallArgs): KerasTensor;
  override apply(inputs: Tensor, args?: CallArgs): Tensor;
  override apply(inputs: KerasTensor | KerasTensor[], args?: CallArgs): KerasTensor | KerasTensor[];
  override apply(inputs: Tensor | Tensor[], args?: CallArgs): Tensor | Tensor[];
  override apply(inputs: KerasTensor | KerasTensor[] | Tensor | Tensor[], args: MultiHeadAttentionCallArgs = {}): KerasTensor | KerasTensor[] | Tensor | Tensor[] {
    return super.apply(inputs as Tensor | Tensor[], args);
  }

  /** On symbolic inputs `useCausalMask` is recorded on the node (saved, replayed); tensors cannot be. */
  protected override recordedCallArgs(args: MultiHeadAttentionCallArgs): Record<string, CallOption> | undefined {
    checkCallArgs(this.label, args, CALL_ARGS);
    const given = SYMBOLIC_REFUSED.filter((k) => args[k] !== undefined && args[k] !== false);
    if (given.length > 0) {
      this.fail(`${given.join(', ')} on symbolic inputs (a functional model) is not supported: the input masks come from Embedding(maskZero)/Masking, and useCausalMask is recorded; for other masks or the scores apply the layer to tensors (in kiln.fn or a subclassed model's call)`);
    }
    return args.useCausalMask !== undefined ? { useCausalMask: !!args.useCausalMask } : undefined;
  }

  override call(inputs: Tensor | Tensor[], args: MultiHeadAttentionCallArgs): Tensor | Tensor[] {
    checkCallArgs(this.label, args, CALL_ARGS);
    const list = Array.isArray(inputs) ? inputs : [inputs];
    const [query, value, key = value] = list as [Tensor, Tensor, Tensor?];
    const mask = this.attentionMaskFor(query, value, args);
    const q = this.project(query, this.query!, 1); // [B, ...Tq, H, K]
    const k = this.project(key, this.key!, 1);
    const v = this.project(value, this.value!, 1);
    const { output, scores } = this.attend(q, k, v, mask, args);
    const y = this.project(output, this.attentionOutput!, 2);
    return args.returnAttentionScores ? [y, scores] : y;
  }

  /** Keras sets the query's mask on the output. */
  override computeMask(_inputs: Tensor | Tensor[], mask: LayerMask): LayerMask {
    return Array.isArray(mask) ? (mask[0] ?? null) : mask;
  }

  /**
   * Keras's `_compute_attention_mask`: the explicit attention mask AND the input masks
   * (query [B, Tq, 1], value/key [B, 1, Tv]) AND the causal mask, as bool; undefined if none.
   */
  private attentionMaskFor(query: Tensor, value: Tensor, args: MultiHeadAttentionCallArgs): Tensor | undefined {
    const and = (a: Tensor | undefined, b: Tensor): Tensor => (a ? ops.logicalAnd(a, b) : b);
    let auto: Tensor | undefined;
    const qMask = args.queryMask ?? inputMask(args, 0);
    const vMask = args.valueMask ?? inputMask(args, 1);
    const kMask = args.keyMask ?? inputMask(args, 2);
    if (qMask) auto = ops.expandDims(boolMask(qMask, this.label, 'queryMask'), -1);
    if (vMask) auto = and(auto, ops.expandDims(boolMask(vMask, this.label, 'valueMask'), -2));
    if (kMask) auto = and(auto, ops.expandDims(boolMask(kMask, this.label, 'keyMask'), -2));
    if (args.useCausalMask) auto = and(auto, causalMask(query.shape[1]!, value.shape[1]!));
    let m = args.attentionMask === undefined ? undefined : boolMask(args.attentionMask, this.label, 'attentionMask');
    if (auto) m = m ? ops.logicalAnd(m, auto) : auto;
    return m;
  }

  /**
   * Scaled dot-product attention on projected q [B, ...Tq, H, K], k [B, ...Tv, H, K],
   * v [B, ...Tv, H, V]. Attention axes are flattened into one: the softmax over several key axes
   * is the softmax over their product (Keras normalizes over all of them jointly).
   */
  private attend(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | undefined, args: MultiHeadAttentionCallArgs): { output: Tensor; scores: Tensor } {
    const rank = q.rank; // projected rank: query rank + 1
    const axes = this.axesFor(rank - 1);
    const others = Array.from({ length: rank - 3 }, (_, i) => i + 1).filter((a) => !axes.includes(a));
    const h = rank - 2;
    const perm = [0, ...others, h, ...axes, rank - 1];
    const size = (t: Tensor, ax: number[]) => ax.reduce((n, a) => n * t.shape[a]!, 1);
    const lead = [q.shape[0]!, ...others.map((a) => q.shape[a]!), this.numHeads];
    const tq = size(q, axes), tv = size(k, axes);
    const qs = ops.reshape(ops.transpose(ops.mul(q, 1 / Math.sqrt(this.keyDim)), perm), [...lead, tq, this.keyDim]);
    const ks = ops.reshape(ops.transpose(k, perm), [...lead, tv, this.keyDim]);
    const vs = ops.reshape(ops.transpose(v, perm), [...lead, tv, this.valueDim]);
    let scores = batchedMatmul(qs, ks, true); // [B, others, H, Tq, Tv]
    // Scores in Keras's layout: [B, others..., H, Tq axes..., Tv axes...].
    const kerasShape = [...lead, ...axes.map((a) => q.shape[a]!), ...axes.map((a) => k.shape[a]!)];
    let flatMask: Tensor | undefined;
    if (mask) {
      // Keras expands the mask at the heads axis (-2 * len(axes) - 1) until the ranks agree.
      let m = mask;
      while (m.rank < kerasShape.length) m = ops.expandDims(m, m.rank - 2 * axes.length);
      if (m.rank !== kerasShape.length || m.shape.some((d, i) => d !== 1 && d !== kerasShape[i])) {
        this.fail(`attentionMask ${mask.describe()} does not broadcast to the attention scores [${kerasShape.join(',')}] ([batch, heads, query positions, key positions])`);
      }
      flatMask = ops.reshape(ops.broadcastTo(m, kerasShape), [...lead, tq, tv]);
    }
    const probs = maskedSoftmax(scores, flatMask);
    const dropped = this.dropoutLayer && args.training ? this.dropoutLayer.apply(probs, { training: true, ...(args.step ? { step: args.step } : {}) }) : probs;
    const out = batchedMatmul(dropped, vs, false); // [B, others, H, Tq, V]
    // Back to [B, ...Tq axes in place, H, V].
    const outK = ops.reshape(out, [...lead, ...axes.map((a) => q.shape[a]!), this.valueDim]);
    const inverse = new Array<number>(rank);
    perm.forEach((p, i) => (inverse[p] = i));
    scores = ops.reshape(probs, kerasShape);
    return { output: ops.transpose(outK, inverse), scores };
  }

  override getConfig(): MultiHeadAttentionConfig {
    return {
      ...super.getConfig(),
      numHeads: this.numHeads,
      keyDim: this.keyDim,
      valueDim: this.valueDim,
      dropout: this.dropout,
      useBias: this.useBias,
      outputShape: Array.isArray(this.outputShape) ? [...this.outputShape] : this.outputShape,
      attentionAxes: this.attentionAxes ? [...this.attentionAxes] : null,
      kernelInitializer: serializeInitializer(this.kernelInitializer),
      biasInitializer: serializeInitializer(this.biasInitializer),
      kernelRegularizer: serializeRegularizer(this.kernelRegularizer),
      biasRegularizer: serializeRegularizer(this.biasRegularizer),
      activityRegularizer: serializeRegularizer(this.activityRegularizer),
      kernelConstraint: serializeConstraint(this.kernelConstraint),
      biasConstraint: serializeConstraint(this.biasConstraint),
      seed: this.seed,
    };
  }

  static fromConfig(config: MultiHeadAttentionConfig): MultiHeadAttention {
    return new MultiHeadAttention(config);
  }
}
registerLayer(MultiHeadAttention);

export function multiHeadAttention(args: MultiHeadAttentionArgs): MultiHeadAttention {
  return new MultiHeadAttention(args);
}
