/**
 * Conv1D: 1-D convolution over [batch, steps, channels] inputs with a kernel [kernelSize,
 * inChannels, filters], plus bias and activation. Padding 'valid', 'same' (TensorFlow's split,
 * the extra element at the end) or 'causal' (left padding by (kernelSize - 1) * dilation, so
 * output t sees inputs up to t only). It runs as a 2-D convolution over a height of one, so the
 * compiled conv kernels and the conv VJP serve it unchanged.
 */
import type { DType } from '../../ir/dtype.js';
import { activationName, getActivation, type ActivationIdentifier, type ActivationName } from '../activations.js';
import { ops, type Tensor, type Variable } from '../backend.js';
import { shapeToString, type KerasShape } from '../engine/keras_tensor.js';
import { Layer, registerLayer, type CallArgs, type LayerArgs, type LayerConfig } from '../engine/layer.js';
import { getConstraint, serializeConstraint, type Constraint, type ConstraintLike, type SerializedConstraint } from '../constraints.js';
import { getInitializer, serializeInitializer, type InitializerLike, type SerializedInitializer } from '../initializers.js';
import { getRegularizer, serializeRegularizer, type Regularizer, type RegularizerLike, type SerializedRegularizer } from '../regularizers.js';
import { checkLayerArgs, onlyValue } from './args.js';
import { checkDataFormat, checkPadding1D, convOutputLength, normalizeSingle, type DataFormat, type Padding1D } from './conv_utils.js';

export interface Conv1DArgs extends LayerArgs {
  filters: number;
  kernelSize: number | readonly number[];
  strides?: number | readonly number[];
  padding?: Padding1D | 'SAME' | 'VALID' | 'CAUSAL';
  dataFormat?: DataFormat | null;
  dilationRate?: number | readonly number[];
  /** Grouped convolution is not implemented: 1 only. */
  groups?: number;
  activation?: ActivationIdentifier | null;
  useBias?: boolean;
  kernelInitializer?: InitializerLike;
  biasInitializer?: InitializerLike;
  kernelRegularizer?: RegularizerLike | null;
  biasRegularizer?: RegularizerLike | null;
  activityRegularizer?: RegularizerLike | null;
  kernelConstraint?: ConstraintLike | null;
  biasConstraint?: ConstraintLike | null;
}

const CONV1D_ARGS = [
  'filters', 'kernelSize', 'strides', 'padding', 'dataFormat', 'dilationRate', 'groups', 'activation', 'useBias',
  'kernelInitializer', 'biasInitializer', 'kernelRegularizer', 'biasRegularizer', 'activityRegularizer',
  'kernelConstraint', 'biasConstraint',
] as const satisfies readonly (keyof Conv1DArgs)[];

export interface Conv1DConfig extends LayerConfig {
  filters: number;
  kernelSize: [number];
  strides: [number];
  padding: Padding1D;
  dataFormat: 'channelsLast';
  dilationRate: [number];
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

export class Conv1D extends Layer {
  static override className = 'Conv1D';
  readonly filters: number;
  readonly kernelSize: number;
  readonly strides: number;
  readonly padding: Padding1D;
  readonly dilationRate: number;
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

  constructor(args: Conv1DArgs) {
    super(args);
    checkLayerArgs(this.label, args, { known: CONV1D_ARGS, required: ['filters', 'kernelSize'] });
    if (!Number.isInteger(args.filters) || args.filters <= 0) this.fail(`filters must be a positive integer, got ${JSON.stringify(args.filters)}`);
    this.filters = args.filters;
    this.kernelSize = normalizeSingle(args.kernelSize, this.label, 'kernelSize');
    this.strides = normalizeSingle(args.strides ?? 1, this.label, 'strides');
    this.padding = checkPadding1D(args.padding, this.label);
    checkDataFormat(args.dataFormat, this.label);
    this.dilationRate = normalizeSingle(args.dilationRate ?? 1, this.label, 'dilationRate');
    if (this.strides > 1 && this.dilationRate > 1) this.fail(`strides ${this.strides} and dilationRate ${this.dilationRate} cannot both exceed 1`);
    onlyValue(this.label, 'groups', args.groups, [1]);
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
    const t = shapeToString(s, dtype as DType);
    if (s.length !== 3) this.fail(`expected a 3-D input [batch, steps, channels], got ${t}`);
    if (s[2] === null) this.fail(`the channel dimension of the input must be known, got ${t}`);
    if (this.kernel && s[2] !== this.kernel.value.shape[1]) this.fail(`expected input with ${this.kernel.value.shape[1]} channels, got ${t}`);
    const out = this.computeOutputShape(s)[1];
    if (out !== null && out! <= 0) this.fail(`input ${t} is shorter than the kernel of ${this.kernelSize} (dilation ${this.dilationRate}) with 'valid' padding`);
  }

  override build(inputShape: KerasShape | KerasShape[]): void {
    const s = this.singleShape(inputShape);
    this.kernel = this.addWeight('kernel', [this.kernelSize, s[2] as number, this.filters], this.kernelInitializer, true,
      { regularizer: this.kernelRegularizer, constraint: this.kernelConstraint });
    if (this.useBias) this.bias = this.addWeight('bias', [this.filters], this.biasInitializer, true, { regularizer: this.biasRegularizer, constraint: this.biasConstraint });
    this.built = true;
  }

  override computeOutputShape(inputShape: KerasShape | KerasShape[]): KerasShape {
    const s = this.singleShape(inputShape);
    // Causal pads (k - 1) * dilation on the left: as many outputs as 'same'.
    const mode = this.padding === 'causal' ? 'same' : this.padding;
    return [s[0]!, convOutputLength(s[1]!, this.kernelSize, mode, this.strides, this.dilationRate), this.filters];
  }

  override call(inputs: Tensor | Tensor[], _args: CallArgs): Tensor {
    let x = Array.isArray(inputs) ? inputs[0]! : inputs;
    const [n, steps, c] = x.shape as [number, number, number];
    let padding = this.padding;
    let len = steps;
    if (padding === 'causal') {
      const left = (this.kernelSize - 1) * this.dilationRate;
      x = ops.pad(x, [[0, 0], [left, 0], [0, 0]]);
      len += left;
      padding = 'valid';
    }
    const k = ops.reshape(this.kernel!.read(), [1, this.kernelSize, c, this.filters]);
    let y = ops.conv2d(ops.reshape(x, [n, 1, len, c]), k, [1, this.strides], padding, [1, this.dilationRate]);
    y = ops.reshape(y, [n, y.shape[2]!, this.filters]);
    if (this.bias) y = ops.add(y, this.bias.read());
    return getActivation(this.activation)(y);
  }

  override getConfig(): Conv1DConfig {
    return {
      ...super.getConfig(),
      filters: this.filters,
      kernelSize: [this.kernelSize],
      strides: [this.strides],
      padding: this.padding,
      dataFormat: 'channelsLast',
      dilationRate: [this.dilationRate],
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

  static fromConfig(config: Conv1DConfig): Conv1D {
    return new Conv1D(config);
  }
}
registerLayer(Conv1D);

export function conv1d(args: Conv1DArgs): Conv1D {
  return new Conv1D(args);
}
