/** GlobalMaxPooling2D: the maximum over height and width of an NHWC input. */
import { ops, type Tensor } from '../backend.js';
import { registerLayer } from '../engine/layer.js';
import { GlobalPooling, type GlobalPoolingArgs, type GlobalPoolingConfig } from './global_pooling.js';

export class GlobalMaxPooling2D extends GlobalPooling {
  static override className = 'GlobalMaxPooling2D';
  protected readonly rank = 4;
  protected reduce(x: Tensor): Tensor {
    return ops.max(x, this.axes, this.keepDims);
  }
  static fromConfig(config: GlobalPoolingConfig): GlobalMaxPooling2D {
    return new GlobalMaxPooling2D(config);
  }
}
registerLayer(GlobalMaxPooling2D);

export function globalMaxPooling2d(args: GlobalPoolingArgs = {}): GlobalMaxPooling2D {
  return new GlobalMaxPooling2D(args);
}
