/**
 * UpSampling2D: repeat rows and columns `size` times ('nearest') or resize bilinearly to
 * size * (height, width) ('bilinear', TensorFlow's resize with alignCorners and halfPixelCenters
 * off, as tfjs-layers calls it). Nearest is a reshape/broadcast/reshape composition that fuses
 * into its consumer; bilinear uses the frontend's resizeBilinear. channelsFirst inputs are
 * transposed to NHWC and back, as tfjs-layers does.
 */
import type { DType } from '../../ir/dtype.js';
import { KilnError } from '../../ir/types.js';
import { ops, type Tensor } from '../backend.js';
import { shapeToString, type KerasShape } from '../engine/keras_tensor.js';
import { Layer, registerLayer, type CallArgs, type LayerArgs, type LayerConfig } from '../engine/layer.js';
import { checkLayerArgs, refuseValue } from './args.js';
import { normalizePair } from './conv_utils.js';

export type UpSamplingInterpolation = 'nearest' | 'bilinear';
export type UpSamplingDataFormat = 'channelsLast' | 'channels_last' | 'channelsFirst' | 'channels_first';

export interface UpSampling2DArgs extends LayerArgs {
  /** Row and column factors; a number means both. Default [2, 2]. */
  size?: number | readonly number[];
  dataFormat?: UpSamplingDataFormat | null;
  interpolation?: UpSamplingInterpolation;
}

export interface UpSampling2DConfig extends LayerConfig {
  size: [number, number];
  dataFormat: 'channelsLast' | 'channelsFirst';
  interpolation: UpSamplingInterpolation;
}

export class UpSampling2D extends Layer {
  static override className = 'UpSampling2D';
  readonly size: [number, number];
  readonly dataFormat: 'channelsLast' | 'channelsFirst';
  readonly interpolation: UpSamplingInterpolation;

  constructor(args: UpSampling2DArgs = {}) {
    super(args);
    checkLayerArgs(this.label, args, { known: ['size', 'dataFormat', 'interpolation'] });
    args ??= {};
    this.size = normalizePair(args.size ?? 2, this.label, 'size');
    const f = args.dataFormat ?? 'channelsLast';
    if (f === 'channelsLast' || f === 'channels_last') this.dataFormat = 'channelsLast';
    else if (f === 'channelsFirst' || f === 'channels_first') this.dataFormat = 'channelsFirst';
    else throw new KilnError(`${this.label}: dataFormat ${JSON.stringify(f)} is not supported (expected 'channelsLast' or 'channelsFirst', either spelling)`);
    const i = args.interpolation ?? 'nearest';
    if (i !== 'nearest' && i !== 'bilinear') refuseValue(this.label, 'interpolation', i, "Kiln supports 'nearest' and 'bilinear'");
    this.interpolation = i;
  }

  /** Height and width axes of the input. */
  private get spatial(): [number, number] {
    return this.dataFormat === 'channelsLast' ? [1, 2] : [2, 3];
  }

  protected override checkInputShape(shape: KerasShape | KerasShape[], dtype: DType | DType[]): void {
    const s = this.singleShape(shape);
    const layout = this.dataFormat === 'channelsLast' ? 'NHWC [batch, height, width, channels]' : 'NCHW [batch, channels, height, width]';
    if (s.length !== 4) this.fail(`expected a 4-D ${layout} input, got ${shapeToString(s, dtype as DType)}`);
  }

  override computeOutputShape(inputShape: KerasShape | KerasShape[]): KerasShape {
    const s = [...this.singleShape(inputShape)];
    const [h, w] = this.spatial;
    s[h] = s[h] === null ? null : s[h]! * this.size[0];
    s[w] = s[w] === null ? null : s[w]! * this.size[1];
    return s;
  }

  override call(inputs: Tensor | Tensor[], _args: CallArgs): Tensor {
    let x = Array.isArray(inputs) ? inputs[0]! : inputs;
    if (this.dataFormat === 'channelsFirst') x = ops.transpose(x, [0, 2, 3, 1]);
    const [n, h, w, c] = x.shape as [number, number, number, number];
    const [sh, sw] = this.size;
    let y: Tensor;
    if (this.interpolation === 'nearest') {
      // out[n, i*sh + a, j*sw + b, c] = x[n, i, j, c]: broadcast over two new axes, then merge.
      const b = ops.broadcastTo(ops.reshape(x, [n, h, 1, w, 1, c]), [n, h, sh, w, sw, c]);
      y = ops.reshape(b, [n, h * sh, w * sw, c]);
    } else {
      y = ops.resizeBilinear(x, [h * sh, w * sw]);
    }
    return this.dataFormat === 'channelsFirst' ? ops.transpose(y, [0, 3, 1, 2]) : y;
  }

  override getConfig(): UpSampling2DConfig {
    return { ...super.getConfig(), size: [...this.size], dataFormat: this.dataFormat, interpolation: this.interpolation };
  }

  static fromConfig(config: UpSampling2DConfig): UpSampling2D {
    return new UpSampling2D(config);
  }
}
registerLayer(UpSampling2D);

export function upSampling2d(args: UpSampling2DArgs = {}): UpSampling2D {
  return new UpSampling2D(args);
}
