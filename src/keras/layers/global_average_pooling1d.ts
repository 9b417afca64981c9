/**
 * GlobalAveragePooling1D: the mean over the steps of a [batch, steps, channels] input. With a
 * mask (from Embedding(maskZero) or Masking), the mean of the unmasked steps only, as Keras; the
 * output carries no mask.
 */
import { ops, type Tensor } from '../backend.js';
import { registerLayer, type CallArgs, type LayerMask } from '../engine/layer.js';
import { GlobalPooling, type GlobalPoolingArgs, type GlobalPoolingConfig } from './global_pooling.js';

export class GlobalAveragePooling1D extends GlobalPooling {
  static override className = 'GlobalAveragePooling1D';
  protected readonly rank = 3;

  constructor(args: GlobalPoolingArgs = {}) {
    super(args);
    this.supportsMasking = true;
  }

  override computeMask(): LayerMask {
    return null;
  }

  protected reduce(x: Tensor, args: CallArgs): Tensor {
    const mask = Array.isArray(args.mask) ? args.mask[0] : args.mask;
    if (!mask) return ops.mean(x, this.axes, this.keepDims);
    const m = ops.expandDims(ops.cast(mask, x.dtype), 2);
    return ops.div(ops.sum(ops.mul(x, m), this.axes, this.keepDims), ops.sum(m, this.axes, this.keepDims));
  }

  static fromConfig(config: GlobalPoolingConfig): GlobalAveragePooling1D {
    return new GlobalAveragePooling1D(config);
  }
}
registerLayer(GlobalAveragePooling1D);

export function globalAveragePooling1d(args: GlobalPoolingArgs = {}): GlobalAveragePooling1D {
  return new GlobalAveragePooling1D(args);
}
