/**
 * Subtract: the elementwise difference of exactly two inputs, first minus second (Keras's merge
 * broadcasting). tfjs-layers has no Subtract layer.
 */
import { ops, type Tensor } from '../backend.js';
import { registerLayer, type LayerArgs, type LayerConfig } from '../engine/layer.js';
import { checkLayerArgs } from './args.js';
import { ElementwiseMerge } from './merge.js';

export class Subtract extends ElementwiseMerge {
  static override className = 'Subtract';
  protected override readonly inputCount = 2;

  constructor(args: LayerArgs = {}) {
    super(args);
    checkLayerArgs(this.label, args, { known: [] });
  }

  protected override mergeFunction(xs: Tensor[]): Tensor {
    return ops.sub(xs[0]!, xs[1]!);
  }

  override getConfig(): LayerConfig {
    return super.getConfig();
  }

  static fromConfig(config: LayerConfig): Subtract {
    return new Subtract(config);
  }
}
registerLayer(Subtract);

export function subtract(args: LayerArgs = {}): Subtract {
  return new Subtract(args);
}
