/**
 * Dense: `activation(x · kernel + bias)` over the last axis. kernel is [inputDim, units].
 * Inputs of rank > 2 are flattened to 2-D around the matmul, as Keras applies Dense to the last axis.
 */
import type { DType } from '../../ir/dtype.js';
import { getActivation, type ActivationIdentifier } from '../activations.js';
import { ops, type Tensor, type Variable } from '../backend.js';
import { Layer, registerLayer, type CallArgs, type LayerArgs, type LayerConfig } from '../engine/layer.js';
import { shapeToString, type KerasShape } from '../engine/keras_tensor.js';
import { getInitializer, serializeInitializer, type InitializerLike, type SerializedInitializer } from '../initializers.js';

export interface DenseArgs extends LayerArgs {
  units: number;
  activation?: ActivationIdentifier;
  useBias?: boolean;
  kernelInitializer?: InitializerLike;
  biasInitializer?: InitializerLike;
  /** Shorthand for `inputShape: [inputDim]`. */
  inputDim?: number;
}

export interface DenseConfig extends LayerConfig {
  units: number;
  activation: ActivationIdentifier;
  useBias: boolean;
  kernelInitializer: SerializedInitializer;
  biasInitializer: SerializedInitializer;
}

export class Dense extends Layer {
  static override className = 'Dense';
  readonly units: number;
  readonly activation: ActivationIdentifier;
  readonly useBias: boolean;
  private readonly kernelInitializer;
  private readonly biasInitializer;
  kernel?: Variable;
  bias?: Variable;

  constructor(args: DenseArgs) {
    super(args.inputDim !== undefined && !args.inputShape && !args.batchInputShape ? { ...args, inputShape: [args.inputDim] } : args);
    if (!Number.isInteger(args.units) || args.units <= 0) this.fail(`units must be a positive integer, got ${args.units}`);
    this.units = args.units;
    this.activation = args.activation ?? 'linear';
    getActivation(this.activation, this.label);
    this.useBias = args.useBias ?? true;
    this.kernelInitializer = getInitializer(args.kernelInitializer ?? 'glorotUniform');
    this.biasInitializer = getInitializer(args.biasInitializer ?? 'zeros');
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
    this.kernel = this.addWeight('kernel', [inputDim, this.units], this.kernelInitializer);
    if (this.useBias) this.bias = this.addWeight('bias', [this.units], this.biasInitializer);
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
