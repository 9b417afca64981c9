/**
 * The shared part of MaxPooling2D and AveragePooling2D: arguments (poolSize, strides defaulting
 * to poolSize, padding), NHWC shape checks and output shapes. Subclasses pick the reduction.
 */
import type { DType } from '../../ir/dtype.js';
import type { Tensor } from '../backend.js';
import { shapeToString, type KerasShape } from '../engine/keras_tensor.js';
import { Layer, type CallArgs, type LayerArgs, type LayerConfig } from '../engine/layer.js';
import { checkDataFormat, checkPadding, convOutputLength, normalizePair, type DataFormat, type PaddingLike, type PaddingMode } from './conv_utils.js';
import { checkLayerArgs } from './args.js';

export interface Pooling2DArgs extends LayerArgs {
  poolSize?: number | readonly number[];
  /** Defaults to poolSize. */
  strides?: number | readonly number[] | null;
  padding?: PaddingLike;
  dataFormat?: DataFormat | null;
}

export interface Pooling2DConfig extends LayerConfig {
  poolSize: [number, number];
  strides: [number, number];
  padding: PaddingMode;
  dataFormat: 'channelsLast';
}

export abstract class Pooling2D extends Layer {
  readonly poolSize: [number, number];
  readonly strides: [number, number];
  readonly padding: PaddingMode;

  constructor(args: Pooling2DArgs = {}) {
    super(args);
    checkLayerArgs(this.label, args, { known: ['poolSize', 'strides', 'padding', 'dataFormat'] });
    args ??= {};
    this.poolSize = normalizePair(args.poolSize ?? 2, this.label, 'poolSize');
    this.strides = args.strides == null ? [...this.poolSize] : normalizePair(args.strides, this.label, 'strides');
    this.padding = checkPadding(args.padding, this.label);
    checkDataFormat(args.dataFormat, this.label);
  }

  protected override checkInputShape(shape: KerasShape | KerasShape[], dtype: DType | DType[]): void {
    const s = this.singleShape(shape);
    const t = shapeToString(s, dtype as DType);
    if (s.length !== 4) this.fail(`expected a 4-D NHWC input [batch, height, width, channels], got ${t}`);
    const out = this.computeOutputShape(s);
    if ((out[1] !== null && out[1]! <= 0) || (out[2] !== null && out[2]! <= 0)) {
      this.fail(`input ${t} is smaller than the ${this.poolSize.join('x')} pool with 'valid' padding`);
    }
  }

  override computeOutputShape(inputShape: KerasShape | KerasShape[]): KerasShape {
    const s = this.singleShape(inputShape);
    return [
      s[0]!,
      convOutputLength(s[1]!, this.poolSize[0], this.padding, this.strides[0]),
      convOutputLength(s[2]!, this.poolSize[1], this.padding, this.strides[1]),
      s[3]!,
    ];
  }

  protected abstract pool(x: Tensor): Tensor;

  override call(inputs: Tensor | Tensor[], _args: CallArgs): Tensor {
    return this.pool(Array.isArray(inputs) ? inputs[0]! : inputs);
  }

  override getConfig(): Pooling2DConfig {
    return { ...super.getConfig(), poolSize: [...this.poolSize], strides: [...this.strides], padding: this.padding, dataFormat: 'channelsLast' };
  }
}
