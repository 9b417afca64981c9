/**
 * Conv2DTranspose: the transposed 2-D convolution ("deconvolution") over NHWC inputs, with a
 * kernel [kh, kw, filters, inChannels] as Keras and tfjs-layers store it, plus bias and
 * activation. Output size per spatial axis, as Keras's deconv_output_length: without output
 * padding 'same' gives in * stride, 'valid' in * stride + max(k_dilated - stride, 0); with
 * output padding p, (in - 1) * stride + k_dilated - 2 * pad + p (pad = k_dilated // 2 for
 * 'same'), the forward conv's padding then following TensorFlow's rule for that size. It is the
 * frontend's conv2dTranspose: one conv with the input dilated by the strides, so the compiled
 * conv kernels and the conv VJP serve it. Dilation works with strides 1, as in Keras
 * (tfjs-layers 4.22 ignores dilationRate here and does not save it).
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
import { checkNhwcInput, deconvOutputLength, normalizePair, parseConvWindow, type DataFormat, type PaddingLike, type PaddingMode } from './conv_utils.js';

export interface Conv2DTransposeArgs extends LayerArgs {
  filters: number;
  kernelSize: number | readonly number[];
  strides?: number | readonly number[];
  padding?: PaddingLike;
  dataFormat?: DataFormat | null;
  dilationRate?: number | readonly number[];
  /**
   * Keras's output_padding: extra rows/columns on the output's far side (each below its stride);
   * null (default): the output size is deconv_output_length's.
   */
  outputPadding?: number | readonly number[] | null;
  /** Written as 1 by some Keras versions; 1 only. */
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

const CONV2D_TRANSPOSE_ARGS = [
  'filters', 'kernelSize', 'strides', 'padding', 'dataFormat', 'dilationRate', 'outputPadding', 'groups', 'activation', 'useBias',
  'kernelInitializer', 'biasInitializer', 'kernelRegularizer', 'biasRegularizer', 'activityRegularizer',
  'kernelConstraint', 'biasConstraint',
] as const satisfies readonly (keyof Conv2DTransposeArgs)[];

export interface Conv2DTransposeConfig extends LayerConfig {
  filters: number;
  kernelSize: [number, number];
  strides: [number, number];
  padding: PaddingMode;
  dataFormat: 'channelsLast';
  dilationRate: [number, number];
  outputPadding: [number, number] | null;
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

export class Conv2DTranspose extends Layer {
  static override className = 'Conv2DTranspose';
  readonly filters: number;
  readonly kernelSize: [number, number];
  readonly strides: [number, number];
  readonly padding: PaddingMode;
  readonly dilationRate: [number, number];
  readonly outputPadding: [number, number] | null;
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

  constructor(args: Conv2DTransposeArgs) {
    super(args);
    checkLayerArgs(this.label, args, { known: CONV2D_TRANSPOSE_ARGS, required: ['filters', 'kernelSize'] });
    if (!Number.isInteger(args.filters) || args.filters <= 0) this.fail(`filters must be a positive integer, got ${JSON.stringify(args.filters)}`);
    this.filters = args.filters;
    this.kernelSize = normalizePair(args.kernelSize, this.label, 'kernelSize');
    ({ strides: this.strides, padding: this.padding, dilationRate: this.dilationRate } = parseConvWindow(args, this.label));
    this.outputPadding = null;
    if (args.outputPadding != null) {
      const p = typeof args.outputPadding === 'number' ? [args.outputPadding, args.outputPadding] : [...args.outputPadding];
      if (p.length !== 2 || !p.every((v, i) => Number.isInteger(v) && v >= 0 && v < this.strides[i]!)) {
        this.fail(`outputPadding must be a non-negative integer or a pair of them, each below its stride ${JSON.stringify(this.strides)}, got ${JSON.stringify(args.outputPadding)}`);
      }
      this.outputPadding = [p[0]!, p[1]!];
    }
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
    if (this.kernel && s[3] !== this.kernel.value.shape[3]) this.fail(`expected input with ${this.kernel.value.shape[3]} channels, got ${t}`);
  }

  override build(inputShape: KerasShape | KerasShape[]): void {
    const s = this.singleShape(inputShape);
    this.kernel = this.addWeight('kernel', [...this.kernelSize, this.filters, s[3] as number], this.kernelInitializer, true,
      { regularizer: this.kernelRegularizer, constraint: this.kernelConstraint });
    if (this.useBias) this.bias = this.addWeight('bias', [this.filters], this.biasInitializer, true, { regularizer: this.biasRegularizer, constraint: this.biasConstraint });
    this.built = true;
  }

  override computeOutputShape(inputShape: KerasShape | KerasShape[]): KerasShape {
    const s = this.singleShape(inputShape);
    return [
      s[0]!,
      deconvOutputLength(s[1]!, this.kernelSize[0], this.padding, this.strides[0], this.dilationRate[0], this.outputPadding?.[0]),
      deconvOutputLength(s[2]!, this.kernelSize[1], this.padding, this.strides[1], this.dilationRate[1], this.outputPadding?.[1]),
      this.filters,
    ];
  }

  override call(inputs: Tensor | Tensor[], _args: CallArgs): Tensor {
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    const out = this.computeOutputShape(x.shape) as number[];
    let y = ops.conv2dTranspose(x, this.kernel!.read(), out, this.strides, this.padding, this.dilationRate);
    if (this.bias) y = ops.add(y, this.bias.read());
    return getActivation(this.activation)(y);
  }

  override getConfig(): Conv2DTransposeConfig {
    return {
      ...super.getConfig(),
      filters: this.filters,
      kernelSize: [...this.kernelSize],
      strides: [...this.strides],
      padding: this.padding,
      dataFormat: 'channelsLast',
      dilationRate: [...this.dilationRate],
      outputPadding: this.outputPadding && [...this.outputPadding],
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

  static fromConfig(config: Conv2DTransposeConfig): Conv2DTranspose {
    return new Conv2DTranspose(config);
  }
}
registerLayer(Conv2DTranspose);

export function conv2dTranspose(args: Conv2DTransposeArgs): Conv2DTranspose {
  return new Conv2DTranspose(args);
}
