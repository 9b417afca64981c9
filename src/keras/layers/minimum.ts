/** Minimum: the elementwise minimum of its inputs (Keras's merge broadcasting). */
import { ops, type Tensor } from '../backend.js';
import { registerLayer, type LayerArgs, type LayerConfig } from '../engine/layer.js';
import { checkLayerArgs } from './args.js';
import { ElementwiseMerge } from './merge.js';

export class Minimum extends ElementwiseMerge {
  static override className = 'Minimum';

  constructor(args: LayerArgs = {}) {
    super(args);
    checkLayerArgs(this.label, args, { known: [] });
  }

  protected override mergeFunction(xs: Tensor[]): Tensor {
    return xs.slice(1).reduce((acc, x) => ops.minimum(acc, x), xs[0]!);
  }

  override getConfig(): LayerConfig {
    return super.getConfig();
  }

  static fromConfig(config: LayerConfig): Minimum {
    return new Minimum(config);
  }
}
registerLayer(Minimum);

export function minimum(args: LayerArgs = {}): Minimum {
  return new Minimum(args);
}
