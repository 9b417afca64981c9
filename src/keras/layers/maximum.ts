/** Maximum: the elementwise maximum of its inputs (Keras's merge broadcasting). */
import { ops, type Tensor } from '../backend.js';
import { registerLayer, type LayerArgs, type LayerConfig } from '../engine/layer.js';
import { checkLayerArgs } from './args.js';
import { ElementwiseMerge } from './merge.js';

export class Maximum extends ElementwiseMerge {
  static override className = 'Maximum';

  constructor(args: LayerArgs = {}) {
    super(args);
    checkLayerArgs(this.label, args, { known: [] });
  }

  protected override mergeFunction(xs: Tensor[]): Tensor {
    return xs.slice(1).reduce((acc, x) => ops.maximum(acc, x), xs[0]!);
  }

  override getConfig(): LayerConfig {
    return super.getConfig();
  }

  static fromConfig(config: LayerConfig): Maximum {
    return new Maximum(config);
  }
}
registerLayer(Maximum);

export function maximum(args: LayerArgs = {}): Maximum {
  return new Maximum(args);
}
