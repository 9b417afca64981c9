/**
 * Dense: `activation(x · kernel + bias)` over the last axis. kernel is [inputDim, units].
 * Inputs of rank > 2 are flattened to 2-D around the matmul, as Keras applies Dense to the last axis.
 */
import type { DType } from '../../ir/dtype.js';
import { activationName, getActivation, type ActivationIdentifier, type ActivationName } from '../activations.js';
import { ops, type Tensor, type Variable } from '../backend.js';
import { Layer, registerLayer, type CallArgs, type LayerArgs, type LayerConfig } from '../engine/layer.js';
import { shapeToString, type KerasShape } from '../engine/keras_tensor.js';
import { getConstraint, serializeConstraint, type Constraint, type ConstraintLike, type SerializedConstraint } from '../constraints.js';
import { getInitializer, serializeInitializer, type InitializerLike, type SerializedInitializer } from '../initializers.js';
import { getRegularizer, serializeRegularizer, type Regularizer, type RegularizerLike, type SerializedRegularizer } from '../regularizers.js';
import { checkLayerArgs, onlyValue } from './args.js';

export interface DenseArgs extends LayerArgs {
  units: number;
  activation?: ActivationIdentifier | null;
  useBias?: boolean;
  kernelInitializer?: InitializerLike;
  biasInitializer?: InitializerLike;
  kernelRegularizer?: RegularizerLike | null;
  biasRegularizer?: RegularizerLike | null;
  activityRegularizer?: RegularizerLike | null;
  kernelConstraint?: ConstraintLike | null;
  biasConstraint?: ConstraintLike | null;
  /** Shorthand for `inputShape: [inputDim]`. */
  inputDim?: number;
  /** Keras 3's LoRA rank: not implemented, null only. */
  loraRank?: null;
}

const DENSE_ARGS = [
  'units', 'activation', 'useBias', 'kernelInitializer', 'biasInitializer', 'kernelRegularizer', 'biasRegularizer',
  'activityRegularizer', 'kernelConstraint', 'biasConstraint', 'inputDim', 'loraRank',
] as const satisfies readonly (keyof DenseArgs)[];

export interface DenseConfig extends LayerConfig {
  units: number;
  activation: ActivationName;
  useBias: boolean;
  kernelInitializer: SerializedInitializer;
  biasInitializer: SerializedInitializer;
  kernelRegularizer: SerializedRegularizer | null;
  biasRegularizer: SerializedRegularizer | null;
  activityRegularizer: SerializedRegularizer | null;
  kernelConstraint: SerializedConstraint | null;
  biasConstraint: SerializedConstraint | null;
}

export class Dense extends Layer {
  static override className = 'Dense';
  readonly units: number;
  readonly activation: ActivationName;
  readonly useBias: boolean;
  private readonly kernelInitializer;
  private readonly biasInitializer;
  readonly kernelRegularizer?: Regularizer;
  readonly biasRegularizer?: Regularizer;
  readonly kernelConstraint?: Constraint;
  readonly biasConstraint?: Constraint;
  kernel?: Variable;
  bias?: Variable;

  constructor(args: DenseArgs) {
    super(args?.inputDim != null && !args.inputShape && !args.batchInputShape ? { ...args, inputShape: [args.inputDim] } : args);
    checkLayerArgs(this.label, args, { known: DENSE_ARGS, required: ['units'] });
    this.supportsMasking = true;
    if (!Number.isInteger(args.units) || args.units <= 0) this.fail(`units must be a positive integer, got ${JSON.stringify(args.units)}`);
    onlyValue(this.label, 'loraRank', args.loraRank, [null]);
    this.units = args.units;
    this.activation = activationName(args.activation, this.label);
    this.useBias = args.useBias ?? true;
    this.kernelInitializer = getInitializer(args.kernelInitializer ?? 'glorotUniform', `${this.label}: kernelInitializer`);
    this.biasInitializer = getInitializer(args.biasInitializer ?? 'zeros', `${this.label}: biasInitializer`);
    this.kernelRegularizer = getRegularizer(args.kernelRegularizer, `${this.label}: kernelRegularizer`);
    this.biasRegularizer = getRegularizer(args.biasRegularizer, `${this.label}: biasRegularizer`);
    this.activityRegularizer = getRegularizer(args.activityRegularizer, `${this.label}: activityRegularizer`);
    this.kernelConstraint = getConstraint(args.kernelConstraint, `${this.label}: kernelConstraint`);
    this.biasConstraint = getConstraint(args.biasConstraint, `${this.label}: biasConstraint`);
  }

  protected override checkInputShape(shape: KerasShape | KerasShape[], dtype: DType | DType[]): void {
    const s = this.singleShape(shape);
    if (s.length < 2) this.fail(`expected input of rank >= 2, got ${shapeToString(s, dtype as DType)}`);
    const last = s[s.length - 1];
    if (last === null || last === undefined) this.fail(`the last dimension of the input must be known, got ${shapeToString(s, dtype as DType)}`);
    if (this.kernel && last !== this.kernel.value.shape[0]) {
      this.fail(`expected input with last dimension ${this.kernel.value.shape[0]}, got ${shapeToString(s, dtype as DType)}`);
    }
  }

  override build(inputShape: KerasShape | KerasShape[]): void {
    const s = this.singleShape(inputShape);
    const inputDim = s[s.length - 1] as number;
    this.kernel = this.addWeight('kernel', [inputDim, this.units], this.kernelInitializer, true, { regularizer: this.kernelRegularizer, constraint: this.kernelConstraint });
    if (this.useBias) this.bias = this.addWeight('bias', [this.units], this.biasInitializer, true, { regularizer: this.biasRegularizer, constraint: this.biasConstraint });
    this.built = true;
  }

  override computeOutputShape(inputShape: KerasShape | KerasShape[]): KerasShape {
    const s = this.singleShape(inputShape);
    return [...s.slice(0, -1), this.units];
  }

  override call(inputs: Tensor | Tensor[], _args: CallArgs): Tensor {
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    const inputDim = x.shape[x.rank - 1]!;
    const flat = x.rank === 2 ? x : ops.reshape(x, [-1, inputDim]);
    let y = ops.matmul(flat, this.kernel!.read());
    if (this.bias) y = ops.add(y, this.bias.read());
    if (x.rank !== 2) y = ops.reshape(y, [...x.shape.slice(0, -1), this.units]);
    return getActivation(this.activation)(y);
  }

  override getConfig(): DenseConfig {
    return {
      ...super.getConfig(),
      units: this.units,
      activation: this.activation,
      useBias: this.useBias,
      kernelInitializer: serializeInitializer(this.kernelInitializer),
      biasInitializer: serializeInitializer(this.biasInitializer),
      kernelRegularizer: serializeRegularizer(this.kernelRegularizer),
      biasRegularizer: serializeRegularizer(this.biasRegularizer),
      activityRegularizer: serializeRegularizer(this.activityRegularizer),
      kernelConstraint: serializeConstraint(this.kernelConstraint),
      biasConstraint: serializeConstraint(this.biasConstraint),
    };
  }

  static fromConfig(config: DenseConfig): Dense {
    return new Dense(config);
  }
}
registerLayer(Dense);

export function dense(args: DenseArgs): Dense {
  return new Dense(args);
}
