/**
 * UpSampling1D: each step of a [batch, steps, channels] input repeated `size` times, as Keras
 * (tfjs-layers has no UpSampling1D). A reshape/broadcast/reshape that fuses into its consumer.
 */
import type { DType } from '../../ir/dtype.js';
import { ops, type Tensor } from '../backend.js';
import { shapeToString, type KerasShape } from '../engine/keras_tensor.js';
import { Layer, registerLayer, type CallArgs, type LayerArgs, type LayerConfig } from '../engine/layer.js';
import { checkLayerArgs } from './args.js';
import { normalizeSingle } from './conv_utils.js';

export interface UpSampling1DArgs extends LayerArgs {
  /** Default 2. */
  size?: number;
}

export interface UpSampling1DConfig extends LayerConfig {
  size: number;
}

export class UpSampling1D extends Layer {
  static override className = 'UpSampling1D';
  readonly size: number;

  constructor(args: UpSampling1DArgs = {}) {
    super(args);
    checkLayerArgs(this.label, args, { known: ['size'] });
    this.size = normalizeSingle((args ?? {}).size ?? 2, this.label, 'size');
  }

  protected override checkInputShape(shape: KerasShape | KerasShape[], dtype: DType | DType[]): void {
    const s = this.singleShape(shape);
    if (s.length !== 3) this.fail(`expected a 3-D input [batch, steps, channels], got ${shapeToString(s, dtype as DType)}`);
  }

  override computeOutputShape(inputShape: KerasShape | KerasShape[]): KerasShape {
    const s = this.singleShape(inputShape);
    return [s[0]!, s[1] === null ? null : s[1]! * this.size, s[2]!];
  }

  override call(inputs: Tensor | Tensor[], _args: CallArgs): Tensor {
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    const [n, steps, c] = x.shape as [number, number, number];
    return ops.reshape(ops.broadcastTo(ops.reshape(x, [n, steps, 1, c]), [n, steps, this.size, c]), [n, steps * this.size, c]);
  }

  override getConfig(): UpSampling1DConfig {
    return { ...super.getConfig(), size: this.size };
  }

  static fromConfig(config: UpSampling1DConfig): UpSampling1D {
    return new UpSampling1D(config);
  }
}
registerLayer(UpSampling1D);

export function upSampling1d(args: UpSampling1DArgs = {}): UpSampling1D {
  return new UpSampling1D(args);
}
