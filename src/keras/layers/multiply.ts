/** Multiply: the elementwise product of its inputs (Keras's merge broadcasting, see ElementwiseMerge). */
import { ops, type Tensor } from '../backend.js';
import { registerLayer, type LayerArgs, type LayerConfig } from '../engine/layer.js';
import { checkLayerArgs } from './args.js';
import { ElementwiseMerge } from './merge.js';

export class Multiply extends ElementwiseMerge {
  static override className = 'Multiply';

  constructor(args: LayerArgs = {}) {
    super(args);
    checkLayerArgs(this.label, args, { known: [] });
  }

  protected override mergeFunction(xs: Tensor[]): Tensor {
    return xs.slice(1).reduce((acc, x) => ops.mul(acc, x), xs[0]!);
  }

  override getConfig(): LayerConfig {
    return super.getConfig();
  }

  static fromConfig(config: LayerConfig): Multiply {
    return new Multiply(config);
  }
}
registerLayer(Multiply);

export function multiply(args: LayerArgs = {}): Multiply {
  return new Multiply(args);
}
