/**
 * Average: the elementwise mean of its inputs, the sum times 1/n as tfjs-layers computes it
 * (Keras's merge broadcasting).
 */
import { ops, type Tensor } from '../backend.js';
import { registerLayer, type LayerArgs, type LayerConfig } from '../engine/layer.js';
import { checkLayerArgs } from './args.js';
import { ElementwiseMerge } from './merge.js';

export class Average extends ElementwiseMerge {
  static override className = 'Average';

  constructor(args: LayerArgs = {}) {
    super(args);
    checkLayerArgs(this.label, args, { known: [] });
  }

  protected override mergeFunction(xs: Tensor[]): Tensor {
    return ops.mul(xs.slice(1).reduce((acc, x) => ops.add(acc, x), xs[0]!), 1 / xs.length);
  }

  override getConfig(): LayerConfig {
    return super.getConfig();
  }

  static fromConfig(config: LayerConfig): Average {
    return new Average(config);
  }
}
registerLayer(Average);

export function average(args: LayerArgs = {}): Average {
  return new Average(args);
}
