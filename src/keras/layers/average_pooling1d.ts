/** AveragePooling1D: the mean over each window of steps (padding 'same' averages the real cells only, as TensorFlow). */
import { ops, type Tensor } from '../backend.js';
import { registerLayer } from '../engine/layer.js';
import type { PaddingMode } from './conv_utils.js';
import { Pooling1D, type Pooling1DArgs, type Pooling1DConfig } from './pooling1d.js';

export class AveragePooling1D extends Pooling1D {
  static override className = 'AveragePooling1D';
  protected pool2d(x: Tensor, poolSize: [number, number], strides: [number, number], padding: PaddingMode): Tensor {
    return ops.avgPool(x, poolSize, strides, padding);
  }
  static fromConfig(config: Pooling1DConfig): AveragePooling1D {
    return new AveragePooling1D(config);
  }
}
registerLayer(AveragePooling1D);

export function averagePooling1d(args: Pooling1DArgs = {}): AveragePooling1D {
  return new AveragePooling1D(args);
}
