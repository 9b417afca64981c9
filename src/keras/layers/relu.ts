/**
 * ReLU layer with Keras's options: f(x) = maxValue for x >= maxValue, x for
 * threshold <= x < maxValue, negativeSlope * (x - threshold) otherwise.
 */
import { ops, type Tensor } from '../backend.js';
import { Layer, registerLayer, type CallArgs, type LayerArgs, type LayerConfig } from '../engine/layer.js';
import { checkLayerArgs } from './args.js';

export interface ReLUArgs extends LayerArgs {
  maxValue?: number | null;
  negativeSlope?: number;
  threshold?: number;
}

export interface ReLUConfig extends LayerConfig {
  maxValue: number | null;
  negativeSlope: number;
  threshold: number;
}

export class ReLU extends Layer {
  static override className = 'ReLU';
  readonly maxValue: number | null;
  readonly negativeSlope: number;
  readonly threshold: number;

  constructor(args: ReLUArgs = {}) {
    super(args);
    checkLayerArgs(this.label, args, { known: ['maxValue', 'negativeSlope', 'threshold'] });
    args ??= {};
    this.maxValue = args.maxValue ?? null;
    this.negativeSlope = args.negativeSlope ?? 0;
    this.threshold = args.threshold ?? 0;
    if (this.maxValue !== null && !(this.maxValue >= 0)) this.fail(`maxValue must be >= 0, got ${this.maxValue}`);
    if (!(this.negativeSlope >= 0)) this.fail(`negativeSlope must be >= 0, got ${this.negativeSlope}`);
  }

  override call(inputs: Tensor | Tensor[], _args: CallArgs): Tensor {
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    let y: Tensor;
    if (this.negativeSlope === 0 && this.threshold === 0) {
      y = ops.relu(x);
    } else {
      // Below the threshold: negativeSlope * (x - threshold); the plain path stays a single relu.
      const below = ops.mul(ops.sub(x, this.threshold), this.negativeSlope);
      y = ops.where(ops.greaterEqual(x, this.threshold), x, below);
    }
    if (this.maxValue !== null) y = ops.minimum(y, this.maxValue);
    return y;
  }

  override getConfig(): ReLUConfig {
    return { ...super.getConfig(), maxValue: this.maxValue, negativeSlope: this.negativeSlope, threshold: this.threshold };
  }

  static fromConfig(config: ReLUConfig): ReLU {
    return new ReLU(config);
  }
}
registerLayer(ReLU);

export function reLU(args: ReLUArgs = {}): ReLU {
  return new ReLU(args);
}
