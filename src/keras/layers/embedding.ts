/**
 * Embedding: integer token ids `[batch, ...]` -> rows of `embeddings` (`[inputDim, outputDim]`),
 * `[batch, ..., outputDim]`. Float ids are cast to int32 as tfjs-layers does. With `maskZero`,
 * id 0 is padding: the output carries the mask `ids != 0`, which recurrent layers honour.
 */
import type { DType } from '../../ir/dtype.js';
import { ops, type Tensor, type Variable } from '../backend.js';
import { getConstraint, serializeConstraint, type Constraint, type ConstraintLike, type SerializedConstraint } from '../constraints.js';
import { shapeToString, type KerasShape } from '../engine/keras_tensor.js';
import { Layer, registerLayer, type CallArgs, type LayerArgs, type LayerConfig, type LayerMask } from '../engine/layer.js';
import { getInitializer, serializeInitializer, type Initializer, type InitializerLike, type SerializedInitializer } from '../initializers.js';
import { getRegularizer, serializeRegularizer, type Regularizer, type RegularizerLike, type SerializedRegularizer } from '../regularizers.js';
import { checkLayerArgs } from './args.js';

export interface EmbeddingArgs extends LayerArgs {
  /** Vocabulary size: ids are in [0, inputDim). */
  inputDim: number;
  outputDim: number;
  embeddingsInitializer?: InitializerLike;
  embeddingsRegularizer?: RegularizerLike | null;
  activityRegularizer?: RegularizerLike | null;
  embeddingsConstraint?: ConstraintLike | null;
  /** Treat id 0 as padding and mask it out of later recurrent layers. */
  maskZero?: boolean;
  /** Sequence length (a number, or one per dim for rank > 2 inputs); sets the input shape when none is given. */
  inputLength?: number | (number | null)[] | null;
}

const EMBEDDING_ARGS = [
  'inputDim', 'outputDim', 'embeddingsInitializer', 'embeddingsRegularizer', 'activityRegularizer', 'embeddingsConstraint', 'maskZero', 'inputLength',
] as const satisfies readonly (keyof EmbeddingArgs)[];

export interface EmbeddingConfig extends LayerConfig {
  inputDim: number;
  outputDim: number;
  embeddingsInitializer: SerializedInitializer;
  embeddingsRegularizer: SerializedRegularizer | null;
  activityRegularizer: SerializedRegularizer | null;
  embeddingsConstraint: SerializedConstraint | null;
  maskZero: boolean;
  inputLength: number | (number | null)[] | null;
}

export class Embedding extends Layer {
  static override className = 'Embedding';
  readonly inputDim: number;
  readonly outputDim: number;
  readonly maskZero: boolean;
  readonly inputLength: number | (number | null)[] | null;
  private readonly embeddingsInitializer: Initializer;
  readonly embeddingsRegularizer?: Regularizer;
  readonly embeddingsConstraint?: Constraint;
  embeddings?: Variable;

  constructor(args: EmbeddingArgs) {
    super(args);
    checkLayerArgs(this.label, args, { known: EMBEDDING_ARGS, required: ['inputDim', 'outputDim'] });
    for (const k of ['inputDim', 'outputDim'] as const) {
      if (!Number.isInteger(args[k]) || args[k] <= 0) this.fail(`${k} must be a positive integer, got ${JSON.stringify(args[k])}`);
    }
    this.inputDim = args.inputDim;
    this.outputDim = args.outputDim;
    this.maskZero = args.maskZero ?? false;
    this.supportsMasking = this.maskZero;
    this.inputLength = args.inputLength ?? null;
    if (!this.batchInputShape) {
      const len = this.inputLength;
      this.batchInputShape = [args.batchSize ?? null, ...(len === null ? [null] : Array.isArray(len) ? len : [len])];
    }
    this.embeddingsInitializer = getInitializer(args.embeddingsInitializer ?? 'randomUniform', `${this.label}: embeddingsInitializer`);
    this.embeddingsRegularizer = getRegularizer(args.embeddingsRegularizer, `${this.label}: embeddingsRegularizer`);
    this.activityRegularizer = getRegularizer(args.activityRegularizer, `${this.label}: activityRegularizer`);
    this.embeddingsConstraint = getConstraint(args.embeddingsConstraint, `${this.label}: embeddingsConstraint`);
  }

  protected override checkInputShape(shape: KerasShape | KerasShape[], dtype: DType | DType[]): void {
    const s = this.singleShape(shape);
    const d = dtype as DType;
    if (d !== 'i32' && d !== 'f32') this.fail(`expected token ids as i32 (or f32 holding integers), got ${shapeToString(s, d)}`);
    this.computeOutputShape(s);
  }

  override build(_inputShape: KerasShape | KerasShape[]): void {
    this.embeddings = this.addWeight('embeddings', [this.inputDim, this.outputDim], this.embeddingsInitializer, true, {
      regularizer: this.embeddingsRegularizer, constraint: this.embeddingsConstraint,
    });
    this.built = true;
  }

  override computeOutputShape(inputShape: KerasShape | KerasShape[]): KerasShape {
    const s = this.singleShape(inputShape);
    if (this.inputLength === null) return [...s, this.outputDim];
    const lens = Array.isArray(this.inputLength) ? [...this.inputLength] : [this.inputLength];
    if (lens.length !== s.length - 1) this.fail(`inputLength ${JSON.stringify(this.inputLength)} does not fit an input of shape ${shapeToString(s)}`);
    lens.forEach((l, k) => {
      const got = s[k + 1];
      if (l != null && got != null && l !== got) this.fail(`inputLength ${JSON.stringify(this.inputLength)} does not fit an input of shape ${shapeToString(s)}`);
      if (l == null) lens[k] = got ?? null;
    });
    return [s[0] ?? null, ...lens, this.outputDim];
  }

  override computeMask(inputs: Tensor | Tensor[], _mask: LayerMask): LayerMask {
    if (!this.maskZero) return null;
    const ids = Array.isArray(inputs) ? inputs[0]! : inputs;
    return ops.notEqual(ids, 0);
  }

  override call(inputs: Tensor | Tensor[], _args: CallArgs): Tensor {
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    const ids = x.dtype === 'i32' ? x : ops.cast(x, 'i32');
    const rows = ops.gather(this.embeddings!.read(), ops.reshape(ids, [ids.size]), 0);
    return ops.reshape(rows, [...x.shape, this.outputDim]);
  }

  override getConfig(): EmbeddingConfig {
    return {
      ...super.getConfig(),
      inputDim: this.inputDim,
      outputDim: this.outputDim,
      embeddingsInitializer: serializeInitializer(this.embeddingsInitializer),
      embeddingsRegularizer: serializeRegularizer(this.embeddingsRegularizer),
      activityRegularizer: serializeRegularizer(this.activityRegularizer),
      embeddingsConstraint: serializeConstraint(this.embeddingsConstraint),
      maskZero: this.maskZero,
      inputLength: this.inputLength,
    };
  }

  static fromConfig(config: EmbeddingConfig): Embedding {
    return new Embedding(config);
  }
}
registerLayer(Embedding);

export function embedding(args: EmbeddingArgs): Embedding {
  return new Embedding(args);
}
