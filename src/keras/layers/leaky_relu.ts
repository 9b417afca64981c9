/**
 * LeakyReLU: f(x) = x for x > 0, alpha * x otherwise (default alpha 0.3, as Keras and tfjs-layers).
 * Keras 3 calls the slope `negative_slope`; either spelling loads, and the config is written with
 * tfjs-layers' `alpha`.
 */
import { ops, type Tensor } from '../backend.js';
import { Layer, registerLayer, type CallArgs, type LayerArgs, type LayerConfig } from '../engine/layer.js';
import { checkLayerArgs } from './args.js';

export interface LeakyReLUArgs extends LayerArgs {
  alpha?: number;
  /** Keras 3's name for `alpha`. */
  negativeSlope?: number;
}

export interface LeakyReLUConfig extends LayerConfig {
  alpha: number;
}

export class LeakyReLU extends Layer {
  static override className = 'LeakyReLU';
  readonly alpha: number;

  constructor(args: LeakyReLUArgs = {}) {
    super(args);
    checkLayerArgs(this.label, args, { known: ['alpha', 'negativeSlope'] });
    this.supportsMasking = true;
    args ??= {};
    if (args.alpha != null && args.negativeSlope != null && args.alpha !== args.negativeSlope) {
      this.fail(`alpha ${args.alpha} and negativeSlope ${args.negativeSlope} name the same slope; give one`);
    }
    this.alpha = args.alpha ?? args.negativeSlope ?? 0.3;
    if (typeof this.alpha !== 'number' || !Number.isFinite(this.alpha)) this.fail(`alpha must be a finite number, got ${JSON.stringify(this.alpha)}`);
  }

  override call(inputs: Tensor | Tensor[], _args: CallArgs): Tensor {
    return ops.leakyRelu(Array.isArray(inputs) ? inputs[0]! : inputs, this.alpha);
  }

  override getConfig(): LeakyReLUConfig {
    return { ...super.getConfig(), alpha: this.alpha };
  }

  static fromConfig(config: LeakyReLUConfig): LeakyReLU {
    return new LeakyReLU(config);
  }
}
registerLayer(LeakyReLU);

export function leakyReLU(args: LeakyReLUArgs = {}): LeakyReLU {
  return new LeakyReLU(args);
}
