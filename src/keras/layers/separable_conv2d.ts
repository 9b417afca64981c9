/**
 * SeparableConv2D: a depthwise convolution (each input channel with its own `depthMultiplier`
 * filters, kernel [kh, kw, channels, depthMultiplier]) followed by a pointwise 1x1 convolution
 * (kernel [1, 1, channels * depthMultiplier, filters]), plus bias and activation. Strides,
 * padding and dilation apply to the depthwise step, as in Keras.
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

export interface SeparableConv2DArgs extends LayerArgs {
  filters: number;
  kernelSize: number | readonly number[];
  strides?: number | readonly number[];
  padding?: PaddingLike;
  dataFormat?: DataFormat | null;
  dilationRate?: number | readonly number[];
  depthMultiplier?: number;
  /** Written as 1 by some Keras versions; 1 only. */
  groups?: number;
  activation?: ActivationIdentifier | null;
  useBias?: boolean;
  depthwiseInitializer?: InitializerLike;
  pointwiseInitializer?: InitializerLike;
  biasInitializer?: InitializerLike;
  depthwiseRegularizer?: RegularizerLike | null;
  pointwiseRegularizer?: RegularizerLike | null;
  biasRegularizer?: RegularizerLike | null;
  activityRegularizer?: RegularizerLike | null;
  depthwiseConstraint?: ConstraintLike | null;
  pointwiseConstraint?: ConstraintLike | null;
  biasConstraint?: ConstraintLike | null;
  /**
   * Keras 2 writes its Conv base's kernel_* fields into SeparableConv2D configs although the
   * layer has no `kernel`; the initializer is accepted and unused (as in Keras), a regularizer or
   * constraint only as null (Keras would silently ignore one).
   */
  kernelInitializer?: InitializerLike;
  kernelRegularizer?: null;
  kernelConstraint?: null;
}

const SEPARABLE_ARGS = [
  'filters', 'kernelSize', 'strides', 'padding', 'dataFormat', 'dilationRate', 'depthMultiplier', 'groups', 'activation', 'useBias',
  'depthwiseInitializer', 'pointwiseInitializer', 'biasInitializer', 'depthwiseRegularizer', 'pointwiseRegularizer', 'biasRegularizer',
  'activityRegularizer', 'depthwiseConstraint', 'pointwiseConstraint', 'biasConstraint', 'kernelInitializer', 'kernelRegularizer', 'kernelConstraint',
] as const satisfies readonly (keyof SeparableConv2DArgs)[];

export interface SeparableConv2DConfig extends LayerConfig {
  filters: number;
  kernelSize: [number, number];
  strides: [number, number];
  padding: PaddingMode;
  dataFormat: 'channelsLast';
  dilationRate: [number, number];
  depthMultiplier: number;
  activation: ActivationName;
  useBias: boolean;
  depthwiseInitializer: SerializedInitializer;
  pointwiseInitializer: SerializedInitializer;
  biasInitializer: SerializedInitializer;
  depthwiseRegularizer: SerializedRegularizer | null;
  pointwiseRegularizer: SerializedRegularizer | null;
  biasRegularizer: SerializedRegularizer | null;
  activityRegularizer: SerializedRegularizer | null;
  depthwiseConstraint: SerializedConstraint | null;
  pointwiseConstraint: SerializedConstraint | null;
  biasConstraint: SerializedConstraint | null;
}

export class SeparableConv2D extends Layer {
  static override className = 'SeparableConv2D';
  readonly filters: number;
  readonly kernelSize: [number, number];
  readonly strides: [number, number];
  readonly padding: PaddingMode;
  readonly dilationRate: [number, number];
  readonly depthMultiplier: number;
  readonly activation: ActivationName;
  readonly useBias: boolean;
  private readonly depthwiseInitializer;
  private readonly pointwiseInitializer;
  private readonly biasInitializer;
  readonly depthwiseRegularizer?: Regularizer;
  readonly pointwiseRegularizer?: Regularizer;
  readonly biasRegularizer?: Regularizer;
  readonly depthwiseConstraint?: Constraint;
  readonly pointwiseConstraint?: Constraint;
  readonly biasConstraint?: Constraint;
  depthwiseKernel?: Variable;
  pointwiseKernel?: Variable;
  bias?: Variable;

  constructor(args: SeparableConv2DArgs) {
    super(args);
    checkLayerArgs(this.label, args, { known: SEPARABLE_ARGS, required: ['filters', 'kernelSize'] });
    if (!Number.isInteger(args.filters) || args.filters <= 0) this.fail(`filters must be a positive integer, got ${JSON.stringify(args.filters)}`);
    this.filters = args.filters;
    this.kernelSize = normalizePair(args.kernelSize, this.label, 'kernelSize');
    ({ strides: this.strides, padding: this.padding, dilationRate: this.dilationRate } = parseConvWindow(args, this.label));
    this.depthMultiplier = args.depthMultiplier ?? 1;
    if (!Number.isInteger(this.depthMultiplier) || this.depthMultiplier <= 0) this.fail(`depthMultiplier must be a positive integer, got ${JSON.stringify(args.depthMultiplier)}`);
    onlyValue(this.label, 'groups', args.groups, [1]);
    onlyValue(this.label, 'kernelRegularizer', args.kernelRegularizer, [null]);
    onlyValue(this.label, 'kernelConstraint', args.kernelConstraint, [null]);
    if (args.kernelInitializer !== undefined) getInitializer(args.kernelInitializer, `${this.label}: kernelInitializer`);
    this.activation = activationName(args.activation, this.label);
    this.useBias = args.useBias ?? true;
    this.depthwiseInitializer = getInitializer(args.depthwiseInitializer ?? 'glorotUniform', `${this.label}: depthwiseInitializer`);
    this.pointwiseInitializer = getInitializer(args.pointwiseInitializer ?? 'glorotUniform', `${this.label}: pointwiseInitializer`);
    this.biasInitializer = getInitializer(args.biasInitializer ?? 'zeros', `${this.label}: biasInitializer`);
    this.depthwiseRegularizer = getRegularizer(args.depthwiseRegularizer, `${this.label}: depthwiseRegularizer`);
    this.pointwiseRegularizer = getRegularizer(args.pointwiseRegularizer, `${this.label}: pointwiseRegularizer`);
    this.biasRegularizer = getRegularizer(args.biasRegularizer, `${this.label}: biasRegularizer`);
    this.activityRegularizer = getRegularizer(args.activityRegularizer, `${this.label}: activityRegularizer`);
    this.depthwiseConstraint = getConstraint(args.depthwiseConstraint, `${this.label}: depthwiseConstraint`);
    this.pointwiseConstraint = getConstraint(args.pointwiseConstraint, `${this.label}: pointwiseConstraint`);
    this.biasConstraint = getConstraint(args.biasConstraint, `${this.label}: biasConstraint`);
  }

  protected override checkInputShape(shape: KerasShape | KerasShape[], dtype: DType | DType[]): void {
    const s = this.singleShape(shape);
    const t = shapeToString(s, dtype as DType);
    checkNhwcInput(s, t, this.label);
    if (this.depthwiseKernel && s[3] !== this.depthwiseKernel.value.shape[2]) this.fail(`expected input with ${this.depthwiseKernel.value.shape[2]} channels, got ${t}`);
    const out = this.computeOutputShape(s);
    if ((out[1] !== null && out[1]! <= 0) || (out[2] !== null && out[2]! <= 0)) {
      this.fail(`input ${t} is smaller than the ${this.kernelSize.join('x')} kernel (dilation ${this.dilationRate.join('x')}) with 'valid' padding`);
    }
  }

  override build(inputShape: KerasShape | KerasShape[]): void {
    const c = this.singleShape(inputShape)[3] as number;
    this.depthwiseKernel = this.addWeight('depthwise_kernel', [...this.kernelSize, c, this.depthMultiplier], this.depthwiseInitializer, true,
      { regularizer: this.depthwiseRegularizer, constraint: this.depthwiseConstraint });
    this.pointwiseKernel = this.addWeight('pointwise_kernel', [1, 1, c * this.depthMultiplier, this.filters], this.pointwiseInitializer, true,
      { regularizer: this.pointwiseRegularizer, constraint: this.pointwiseConstraint });
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
    const d = ops.depthwiseConv2d(x, this.depthwiseKernel!.read(), this.strides, this.padding, this.dilationRate);
    let y = ops.conv2d(d, this.pointwiseKernel!.read(), 1, 'valid');
    if (this.bias) y = ops.add(y, this.bias.read());
    return getActivation(this.activation)(y);
  }

  override getConfig(): SeparableConv2DConfig {
    return {
      ...super.getConfig(),
      filters: this.filters,
      kernelSize: [...this.kernelSize],
      strides: [...this.strides],
      padding: this.padding,
      dataFormat: 'channelsLast',
      dilationRate: [...this.dilationRate],
      depthMultiplier: this.depthMultiplier,
      activation: this.activation,
      useBias: this.useBias,
      depthwiseInitializer: serializeInitializer(this.depthwiseInitializer),
      pointwiseInitializer: serializeInitializer(this.pointwiseInitializer),
      biasInitializer: serializeInitializer(this.biasInitializer),
      depthwiseRegularizer: serializeRegularizer(this.depthwiseRegularizer),
      pointwiseRegularizer: serializeRegularizer(this.pointwiseRegularizer),
      biasRegularizer: serializeRegularizer(this.biasRegularizer),
      activityRegularizer: serializeRegularizer(this.activityRegularizer),
      depthwiseConstraint: serializeConstraint(this.depthwiseConstraint),
      pointwiseConstraint: serializeConstraint(this.pointwiseConstraint),
      biasConstraint: serializeConstraint(this.biasConstraint),
    };
  }

  static fromConfig(config: SeparableConv2DConfig): SeparableConv2D {
    return new SeparableConv2D(config);
  }
}
registerLayer(SeparableConv2D);

export function separableConv2d(args: SeparableConv2DArgs): SeparableConv2D {
  return new SeparableConv2D(args);
}
