/**
 * Conv2D: 2-D convolution over NHWC inputs with an HWIO kernel [kh, kw, inChannels, filters],
 * plus bias and activation. Padding 'same' pads as TensorFlow does (extra row/column at the end).
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
import { checkNhwcInput, convOutputLength, normalizePair, parseConvWindow, type DataFormat, type PaddingLike, type PaddingMode } from './conv_utils.js';

export interface Conv2DArgs extends LayerArgs {
  filters: number;
  kernelSize: number | readonly number[];
  strides?: number | readonly number[];
  padding?: PaddingLike;
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

const CONV2D_ARGS = [
  'filters', 'kernelSize', 'strides', 'padding', 'dataFormat', 'dilationRate', 'groups', 'activation', 'useBias',
  'kernelInitializer', 'biasInitializer', 'kernelRegularizer', 'biasRegularizer', 'activityRegularizer',
  'kernelConstraint', 'biasConstraint',
] as const satisfies readonly (keyof Conv2DArgs)[];

export interface Conv2DConfig extends LayerConfig {
  filters: number;
  kernelSize: [number, number];
  strides: [number, number];
  padding: PaddingMode;
  dataFormat: 'channelsLast';
  dilationRate: [number, number];
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

export class Conv2D extends Layer {
  static override className = 'Conv2D';
  readonly filters: number;
  readonly kernelSize: [number, number];
  readonly strides: [number, number];
  readonly padding: PaddingMode;
  readonly dilationRate: [number, number];
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

  constructor(args: Conv2DArgs) {
    super(args);
    checkLayerArgs(this.label, args, { known: CONV2D_ARGS, required: ['filters', 'kernelSize'] });
    if (!Number.isInteger(args.filters) || args.filters <= 0) this.fail(`filters must be a positive integer, got ${JSON.stringify(args.filters)}`);
    this.filters = args.filters;
    this.kernelSize = normalizePair(args.kernelSize, this.label, 'kernelSize');
    ({ strides: this.strides, padding: this.padding, dilationRate: this.dilationRate } = parseConvWindow(args, this.label));
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
    checkNhwcInput(s, t, this.label);
    if (this.kernel && s[3] !== this.kernel.value.shape[2]) this.fail(`expected input with ${this.kernel.value.shape[2]} channels, got ${t}`);
    const out = this.computeOutputShape(s);
    if ((out[1] !== null && out[1]! <= 0) || (out[2] !== null && out[2]! <= 0)) {
      this.fail(`input ${t} is smaller than the ${this.kernelSize.join('x')} kernel (dilation ${this.dilationRate.join('x')}) with 'valid' padding`);
    }
  }

  override build(inputShape: KerasShape | KerasShape[]): void {
    const s = this.singleShape(inputShape);
    this.kernel = this.addWeight('kernel', [...this.kernelSize, s[3] as number, this.filters], this.kernelInitializer, true,
      { regularizer: this.kernelRegularizer, constraint: this.kernelConstraint });
    if (this.useBias) this.bias = this.addWeight('bias', [this.filters], this.biasInitializer, true, { regularizer: this.biasRegularizer, constraint: this.biasConstraint });
    this.built = true;
  }

  override computeOutputShape(inputShape: KerasShape | KerasShape[]): KerasShape {
    const s = this.singleShape(inputShape);
    return [
      s[0]!,
      convOutputLength(s[1]!, this.kernelSize[0], this.padding, this.strides[0], this.dilationRate[0]),
      convOutputLength(s[2]!, this.kernelSize[1], this.padding, this.strides[1], this.dilationRate[1]),
      this.filters,
    ];
  }

  override call(inputs: Tensor | Tensor[], _args: CallArgs): Tensor {
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    let y = ops.conv2d(x, this.kernel!.read(), this.strides, this.padding, this.dilationRate);
    if (this.bias) y = ops.add(y, this.bias.read());
    return getActivation(this.activation)(y);
  }

  override getConfig(): Conv2DConfig {
    return {
      ...super.getConfig(),
      filters: this.filters,
      kernelSize: [...this.kernelSize],
      strides: [...this.strides],
      padding: this.padding,
      dataFormat: 'channelsLast',
      dilationRate: [...this.dilationRate],
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

  static fromConfig(config: Conv2DConfig): Conv2D {
    return new Conv2D(config);
  }
}
registerLayer(Conv2D);

export function conv2d(args: Conv2DArgs): Conv2D {
  return new Conv2D(args);
}
