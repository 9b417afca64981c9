/**
 * The shared part of the global pooling layers added with the 1-D layers (GlobalMaxPooling1D/2D,
 * GlobalAveragePooling1D): a reduction over every spatial axis of a channels-last input, with
 * keepDims (Keras 3 spells it `keepdims`) keeping them as size 1. Subclasses pick the rank and
 * the reduction.
 */
import type { DType } from '../../ir/dtype.js';
import type { Tensor } from '../backend.js';
import { shapeToString, type KerasShape } from '../engine/keras_tensor.js';
import { Layer, type CallArgs, type LayerArgs, type LayerConfig } from '../engine/layer.js';
import { checkDataFormat, type DataFormat } from './conv_utils.js';
import { checkLayerArgs } from './args.js';

export interface GlobalPoolingArgs extends LayerArgs {
  keepDims?: boolean;
  /** Keras 3's spelling of keepDims (its config writes `keepdims`). */
  keepdims?: boolean;
  dataFormat?: DataFormat | null;
}

export interface GlobalPoolingConfig extends LayerConfig {
  keepDims: boolean;
  dataFormat: 'channelsLast';
}

export abstract class GlobalPooling extends Layer {
  readonly keepDims: boolean;
  /** The input rank: 3 for [batch, steps, channels], 4 for NHWC. */
  protected abstract readonly rank: 3 | 4;

  constructor(args: GlobalPoolingArgs = {}) {
    super(args);
    checkLayerArgs(this.label, args, { known: ['keepDims', 'keepdims', 'dataFormat'] });
    args ??= {};
    this.keepDims = args.keepDims ?? args.keepdims ?? false;
    checkDataFormat(args.dataFormat, this.label);
  }

  /** The spatial axes reduced. */
  protected get axes(): number[] {
    return this.rank === 3 ? [1] : [1, 2];
  }

  protected override checkInputShape(shape: KerasShape | KerasShape[], dtype: DType | DType[]): void {
    const s = this.singleShape(shape);
    const layout = this.rank === 3 ? '3-D input [batch, steps, channels]' : '4-D NHWC input [batch, height, width, channels]';
    if (s.length !== this.rank) this.fail(`expected a ${layout}, got ${shapeToString(s, dtype as DType)}`);
  }

  override computeOutputShape(inputShape: KerasShape | KerasShape[]): KerasShape {
    const s = this.singleShape(inputShape);
    return this.keepDims ? s.map((d, i) => (this.axes.includes(i) ? 1 : d)) : [s[0]!, s[s.length - 1]!];
  }

  protected abstract reduce(x: Tensor, args: CallArgs): Tensor;

  override call(inputs: Tensor | Tensor[], args: CallArgs): Tensor {
    return this.reduce(Array.isArray(inputs) ? inputs[0]! : inputs, args);
  }

  override getConfig(): GlobalPoolingConfig {
    return { ...super.getConfig(), keepDims: this.keepDims, dataFormat: 'channelsLast' };
  }
}
