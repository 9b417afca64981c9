/**
 * ThresholdedReLU: f(x) = x for x > theta, 0 otherwise (default theta 1), tfjs-layers' and Keras
 * 2's layer (Keras 3 dropped it for ReLU's `threshold`). Written as a select that tests
 * `x <= theta`, so a NaN input stays NaN as in tfjs-layers' x * (x > theta).
 */
import { ops, type Tensor } from '../backend.js';
import { Layer, registerLayer, type CallArgs, type LayerArgs, type LayerConfig } from '../engine/layer.js';
import { checkLayerArgs } from './args.js';

export interface ThresholdedReLUArgs extends LayerArgs {
  theta?: number;
}

export interface ThresholdedReLUConfig extends LayerConfig {
  theta: number;
}

export class ThresholdedReLU extends Layer {
  static override className = 'ThresholdedReLU';
  readonly theta: number;

  constructor(args: ThresholdedReLUArgs = {}) {
    super(args);
    checkLayerArgs(this.label, args, { known: ['theta'] });
    this.supportsMasking = true;
    this.theta = args?.theta ?? 1;
    if (typeof this.theta !== 'number' || !Number.isFinite(this.theta)) this.fail(`theta must be a finite number, got ${JSON.stringify(this.theta)}`);
  }

  override call(inputs: Tensor | Tensor[], _args: CallArgs): Tensor {
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    return ops.where(ops.lessEqual(x, this.theta), 0, x);
  }

  override getConfig(): ThresholdedReLUConfig {
    return { ...super.getConfig(), theta: this.theta };
  }

  static fromConfig(config: ThresholdedReLUConfig): ThresholdedReLU {
    return new ThresholdedReLU(config);
  }
}
registerLayer(ThresholdedReLU);

export function thresholdedReLU(args: ThresholdedReLUArgs = {}): ThresholdedReLU {
  return new ThresholdedReLU(args);
}
