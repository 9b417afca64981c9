/**
 * DepthwiseConv2D: each input channel convolved with its own `depthMultiplier` filters; the
 * kernel is [kh, kw, channels, depthMultiplier] and the output has channels*depthMultiplier
 * channels (channel c's filters land at c*depthMultiplier + m), plus bias and activation.
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

export interface DepthwiseConv2DArgs extends LayerArgs {
  kernelSize: number | readonly number[];
  depthMultiplier?: number;
  strides?: number | readonly number[];
  padding?: PaddingLike;
  dataFormat?: DataFormat | null;
  dilationRate?: number | readonly number[];
  activation?: ActivationIdentifier | null;
  useBias?: boolean;
  depthwiseInitializer?: InitializerLike;
  biasInitializer?: InitializerLike;
  depthwiseRegularizer?: RegularizerLike | null;
  biasRegularizer?: RegularizerLike | null;
  activityRegularizer?: RegularizerLike | null;
  depthwiseConstraint?: ConstraintLike | null;
  biasConstraint?: ConstraintLike | null;
  /** Written as 1 by some Keras 2 versions (inherited from Conv2D); 1 only. */
  groups?: number;
}

const DEPTHWISE_ARGS = [
  'kernelSize', 'depthMultiplier', 'strides', 'padding', 'dataFormat', 'dilationRate', 'activation', 'useBias',
  'depthwiseInitializer', 'biasInitializer', 'depthwiseRegularizer', 'biasRegularizer', 'activityRegularizer',
  'depthwiseConstraint', 'biasConstraint', 'groups',
] as const satisfies readonly (keyof DepthwiseConv2DArgs)[];

export interface DepthwiseConv2DConfig extends LayerConfig {
  kernelSize: [number, number];
  depthMultiplier: number;
  strides: [number, number];
  padding: PaddingMode;
  dataFormat: 'channelsLast';
  dilationRate: [number, number];
  activation: ActivationName;
  useBias: boolean;
  depthwiseInitializer: SerializedInitializer;
  biasInitializer: SerializedInitializer;
  depthwiseRegularizer: SerializedRegularizer | null;
  biasRegularizer: SerializedRegularizer | null;
  activityRegularizer: SerializedRegularizer | null;
  depthwiseConstraint: SerializedConstraint | null;
  biasConstraint: SerializedConstraint | null;
}

export class DepthwiseConv2D extends Layer {
  static override className = 'DepthwiseConv2D';
  readonly kernelSize: [number, number];
  readonly depthMultiplier: number;
  readonly strides: [number, number];
  readonly padding: PaddingMode;
  readonly dilationRate: [number, number];
  readonly activation: ActivationName;
  readonly useBias: boolean;
  private readonly depthwiseInitializer;
  private readonly biasInitializer;
  readonly depthwiseRegularizer?: Regularizer;
  readonly biasRegularizer?: Regularizer;
  readonly depthwiseConstraint?: Constraint;
  readonly biasConstraint?: Constraint;
  depthwiseKernel?: Variable;
  bias?: Variable;

  constructor(args: DepthwiseConv2DArgs) {
    super(args);
    checkLayerArgs(this.label, args, { known: DEPTHWISE_ARGS, required: ['kernelSize'] });
    onlyValue(this.label, 'groups', args.groups, [1]);
    this.kernelSize = normalizePair(args.kernelSize, this.label, 'kernelSize');
    this.depthMultiplier = args.depthMultiplier ?? 1;
    if (!Number.isInteger(this.depthMultiplier) || this.depthMultiplier <= 0) {
      this.fail(`depthMultiplier must be a positive integer, got ${this.depthMultiplier}`);
    }
    ({ strides: this.strides, padding: this.padding, dilationRate: this.dilationRate } = parseConvWindow(args, this.label));
    this.activation = activationName(args.activation, this.label);
    this.useBias = args.useBias ?? true;
    this.depthwiseInitializer = getInitializer(args.depthwiseInitializer ?? 'glorotUniform', `${this.label}: depthwiseInitializer`);
    this.biasInitializer = getInitializer(args.biasInitializer ?? 'zeros', `${this.label}: biasInitializer`);
    this.depthwiseRegularizer = getRegularizer(args.depthwiseRegularizer, `${this.label}: depthwiseRegularizer`);
    this.biasRegularizer = getRegularizer(args.biasRegularizer, `${this.label}: biasRegularizer`);
    this.activityRegularizer = getRegularizer(args.activityRegularizer, `${this.label}: activityRegularizer`);
    this.depthwiseConstraint = getConstraint(args.depthwiseConstraint, `${this.label}: depthwiseConstraint`);
    this.biasConstraint = getConstraint(args.biasConstraint, `${this.label}: biasConstraint`);
  }

  protected override checkInputShape(shape: KerasShape | KerasShape[], dtype: DType | DType[]): void {
    const s = this.singleShape(shape);
    const t = shapeToString(s, dtype as DType);
    checkNhwcInput(s, t, this.label);
    const k = this.depthwiseKernel?.value.shape;
    if (k && s[3] !== k[2]) this.fail(`expected input with ${k[2]} channels, got ${t}`);
    const out = this.computeOutputShape(s);
    if ((out[1] !== null && out[1]! <= 0) || (out[2] !== null && out[2]! <= 0)) {
      this.fail(`input ${t} is smaller than the ${this.kernelSize.join('x')} kernel (dilation ${this.dilationRate.join('x')}) with 'valid' padding`);
    }
  }

  override build(inputShape: KerasShape | KerasShape[]): void {
    const s = this.singleShape(inputShape);
    const channels = s[3] as number;
    this.depthwiseKernel = this.addWeight('depthwise_kernel', [...this.kernelSize, channels, this.depthMultiplier], this.depthwiseInitializer, true,
      { regularizer: this.depthwiseRegularizer, constraint: this.depthwiseConstraint });
    if (this.useBias) {
      this.bias = this.addWeight('bias', [channels * this.depthMultiplier], this.biasInitializer, true, { regularizer: this.biasRegularizer, constraint: this.biasConstraint });
    }
    this.built = true;
  }

  override computeOutputShape(inputShape: KerasShape | KerasShape[]): KerasShape {
    const s = this.singleShape(inputShape);
    return [
      s[0]!,
      convOutputLength(s[1]!, this.kernelSize[0], this.padding, this.strides[0], this.dilationRate[0]),
      convOutputLength(s[2]!, this.kernelSize[1], this.padding, this.strides[1], this.dilationRate[1]),
      s[3] === null ? null : s[3]! * this.depthMultiplier,
    ];
  }

  override call(inputs: Tensor | Tensor[], _args: CallArgs): Tensor {
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    let y = ops.depthwiseConv2d(x, this.depthwiseKernel!.read(), this.strides, this.padding, this.dilationRate);
    if (this.bias) y = ops.add(y, this.bias.read());
    return getActivation(this.activation)(y);
  }

  override getConfig(): DepthwiseConv2DConfig {
    return {
      ...super.getConfig(),
      kernelSize: [...this.kernelSize],
      depthMultiplier: this.depthMultiplier,
      strides: [...this.strides],
      padding: this.padding,
      dataFormat: 'channelsLast',
      dilationRate: [...this.dilationRate],
      activation: this.activation,
      useBias: this.useBias,
      depthwiseInitializer: serializeInitializer(this.depthwiseInitializer),
      biasInitializer: serializeInitializer(this.biasInitializer),
      depthwiseRegularizer: serializeRegularizer(this.depthwiseRegularizer),
      biasRegularizer: serializeRegularizer(this.biasRegularizer),
      activityRegularizer: serializeRegularizer(this.activityRegularizer),
      depthwiseConstraint: serializeConstraint(this.depthwiseConstraint),
      biasConstraint: serializeConstraint(this.biasConstraint),
    };
  }

  static fromConfig(config: DepthwiseConv2DConfig): DepthwiseConv2D {
    return new DepthwiseConv2D(config);
  }
}
registerLayer(DepthwiseConv2D);

export function depthwiseConv2d(args: DepthwiseConv2DArgs): DepthwiseConv2D {
  return new DepthwiseConv2D(args);
}
