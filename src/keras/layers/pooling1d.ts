/**
 * The shared part of MaxPooling1D and AveragePooling1D over [batch, steps, channels]: arguments
 * (poolSize, strides defaulting to poolSize, padding), shape checks and output shapes.
 * Subclasses pick the 2-D pooling op, which runs over a height of one.
 */
import type { DType } from '../../ir/dtype.js';
import { ops, type Tensor } from '../backend.js';
import { shapeToString, type KerasShape } from '../engine/keras_tensor.js';
import { Layer, type CallArgs, type LayerArgs, type LayerConfig } from '../engine/layer.js';
import { checkDataFormat, checkPadding, convOutputLength, normalizeSingle, type DataFormat, type PaddingLike, type PaddingMode } from './conv_utils.js';
import { checkLayerArgs } from './args.js';

export interface Pooling1DArgs extends LayerArgs {
  poolSize?: number | readonly number[];
  /** Defaults to poolSize. */
  strides?: number | readonly number[] | null;
  padding?: PaddingLike;
  dataFormat?: DataFormat | null;
}

export interface Pooling1DConfig extends LayerConfig {
  poolSize: [number];
  strides: [number];
  padding: PaddingMode;
  dataFormat: 'channelsLast';
}

export abstract class Pooling1D extends Layer {
  readonly poolSize: number;
  readonly strides: number;
  readonly padding: PaddingMode;

  constructor(args: Pooling1DArgs = {}) {
    super(args);
    checkLayerArgs(this.label, args, { known: ['poolSize', 'strides', 'padding', 'dataFormat'] });
    args ??= {};
    this.poolSize = normalizeSingle(args.poolSize ?? 2, this.label, 'poolSize');
    this.strides = args.strides == null ? this.poolSize : normalizeSingle(args.strides, this.label, 'strides');
    this.padding = checkPadding(args.padding, this.label);
    checkDataFormat(args.dataFormat, this.label);
  }

  protected override checkInputShape(shape: KerasShape | KerasShape[], dtype: DType | DType[]): void {
    const s = this.singleShape(shape);
    const t = shapeToString(s, dtype as DType);
    if (s.length !== 3) this.fail(`expected a 3-D input [batch, steps, channels], got ${t}`);
    const out = this.computeOutputShape(s)[1];
    if (out !== null && out! <= 0) this.fail(`input ${t} is shorter than the pool of ${this.poolSize} with 'valid' padding`);
  }

  override computeOutputShape(inputShape: KerasShape | KerasShape[]): KerasShape {
    const s = this.singleShape(inputShape);
    return [s[0]!, convOutputLength(s[1]!, this.poolSize, this.padding, this.strides), s[2]!];
  }

  /** The 2-D pooling op (ops.maxPool or ops.avgPool) applied over height one. */
  protected abstract pool2d(x: Tensor, poolSize: [number, number], strides: [number, number], padding: PaddingMode): Tensor;

  override call(inputs: Tensor | Tensor[], _args: CallArgs): Tensor {
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    const [n, steps, c] = x.shape as [number, number, number];
    const y = this.pool2d(ops.reshape(x, [n, 1, steps, c]), [1, this.poolSize], [1, this.strides], this.padding);
    return ops.reshape(y, [n, y.shape[2]!, c]);
  }

  override getConfig(): Pooling1DConfig {
    return { ...super.getConfig(), poolSize: [this.poolSize], strides: [this.strides], padding: this.padding, dataFormat: 'channelsLast' };
  }
}
