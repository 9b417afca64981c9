/** MaxPooling1D: the maximum over each window of steps (padding 'same' ignores the padded cells). */
import { ops, type Tensor } from '../backend.js';
import { registerLayer } from '../engine/layer.js';
import type { PaddingMode } from './conv_utils.js';
import { Pooling1D, type Pooling1DArgs, type Pooling1DConfig } from './pooling1d.js';

export class MaxPooling1D extends Pooling1D {
  static override className = 'MaxPooling1D';
  protected pool2d(x: Tensor, poolSize: [number, number], strides: [number, number], padding: PaddingMode): Tensor {
    return ops.maxPool(x, poolSize, strides, padding);
  }
  static fromConfig(config: Pooling1DConfig): MaxPooling1D {
    return new MaxPooling1D(config);
  }
}
registerLayer(MaxPooling1D);

export function maxPooling1d(args: Pooling1DArgs = {}): MaxPooling1D {
  return new MaxPooling1D(args);
}
