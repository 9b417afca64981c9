/**
 * ELU layer: f(x) = x for x > 0, alpha * (exp(x) - 1) otherwise (default alpha 1). tfjs-layers
 * refuses an alpha other than 1; Kiln computes any finite alpha, as Keras does.
 */
import { ops, type Tensor } from '../backend.js';
import { Layer, registerLayer, type CallArgs, type LayerArgs, type LayerConfig } from '../engine/layer.js';
import { checkLayerArgs } from './args.js';

export interface ELUArgs extends LayerArgs {
  alpha?: number;
}

export interface ELUConfig extends LayerConfig {
  alpha: number;
}

export class ELU extends Layer {
  static override className = 'ELU';
  readonly alpha: number;

  constructor(args: ELUArgs = {}) {
    super(args);
    checkLayerArgs(this.label, args, { known: ['alpha'] });
    this.supportsMasking = true;
    this.alpha = args?.alpha ?? 1;
    if (typeof this.alpha !== 'number' || !Number.isFinite(this.alpha)) this.fail(`alpha must be a finite number, got ${JSON.stringify(this.alpha)}`);
  }

  override call(inputs: Tensor | Tensor[], _args: CallArgs): Tensor {
    return ops.elu(Array.isArray(inputs) ? inputs[0]! : inputs, this.alpha);
  }

  override getConfig(): ELUConfig {
    return { ...super.getConfig(), alpha: this.alpha };
  }

  static fromConfig(config: ELUConfig): ELU {
    return new ELU(config);
  }
}
registerLayer(ELU);

export function elu(args: ELUArgs = {}): ELU {
  return new ELU(args);
}
