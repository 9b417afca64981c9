/** GlobalMaxPooling1D: the maximum over the steps of a [batch, steps, channels] input. */
import { ops, type Tensor } from '../backend.js';
import { registerLayer } from '../engine/layer.js';
import { GlobalPooling, type GlobalPoolingArgs, type GlobalPoolingConfig } from './global_pooling.js';

export class GlobalMaxPooling1D extends GlobalPooling {
  static override className = 'GlobalMaxPooling1D';
  protected readonly rank = 3;
  protected reduce(x: Tensor): Tensor {
    return ops.max(x, this.axes, this.keepDims);
  }
  static fromConfig(config: GlobalPoolingConfig): GlobalMaxPooling1D {
    return new GlobalMaxPooling1D(config);
  }
}
registerLayer(GlobalMaxPooling1D);

export function globalMaxPooling1d(args: GlobalPoolingArgs = {}): GlobalMaxPooling1D {
  return new GlobalMaxPooling1D(args);
}
