/**
 * AveragePooling2D: the mean over each window. With padding 'same' the divisor counts only the
 * cells inside the input, as TensorFlow does.
 */
import { ops, type Tensor } from '../backend.js';
import { registerLayer } from '../engine/layer.js';
import { Pooling2D, type Pooling2DArgs, type Pooling2DConfig } from './pooling2d.js';

export class AveragePooling2D extends Pooling2D {
  static override className = 'AveragePooling2D';
  protected pool(x: Tensor): Tensor {
    return ops.avgPool(x, this.poolSize, this.strides, this.padding);
  }
  static fromConfig(config: Pooling2DConfig): AveragePooling2D {
    return new AveragePooling2D(config);
  }
}
registerLayer(AveragePooling2D);

export function averagePooling2d(args: Pooling2DArgs = {}): AveragePooling2D {
  return new AveragePooling2D(args);
}
