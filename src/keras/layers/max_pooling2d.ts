/** MaxPooling2D: the maximum over each window (padding 'same' ignores the padded cells). */
import { ops, type Tensor } from '../backend.js';
import { registerLayer } from '../engine/layer.js';
import { Pooling2D, type Pooling2DArgs, type Pooling2DConfig } from './pooling2d.js';

export class MaxPooling2D extends Pooling2D {
  static override className = 'MaxPooling2D';
  protected pool(x: Tensor): Tensor {
    return ops.maxPool(x, this.poolSize, this.strides, this.padding);
  }
  static fromConfig(config: Pooling2DConfig): MaxPooling2D {
    return new MaxPooling2D(config);
  }
}
registerLayer(MaxPooling2D);

export function maxPooling2d(args: Pooling2DArgs = {}): MaxPooling2D {
  return new MaxPooling2D(args);
}
