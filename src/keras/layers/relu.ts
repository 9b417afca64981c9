/**
 * ReLU layer with Keras's options (max_value, negative_slope, threshold), computed as Keras 2's
 * backend.relu and Keras 3's ReLU compute it, step for step: the positive part is x where
 * x > threshold (0 at the threshold itself), relu6 or relu otherwise; clipped to [0, maxValue];
 * minus negativeSlope * relu(threshold - x). So f(x) = min(x, maxValue) above the threshold and
 * negativeSlope * (x - threshold) below it, as Keras documents, with Keras's code's own answers
 * at x = threshold (0) and, with a maxValue, for threshold < x < 0 (0: the clip starts at 0).
 * tfjs-layers' ReLU has only maxValue; the options it lacks are saved in its config all the same.
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
    this.supportsMasking = true;
    args ??= {};
    this.maxValue = args.maxValue ?? null;
    this.negativeSlope = args.negativeSlope ?? 0;
    this.threshold = args.threshold ?? 0;
    if (this.maxValue !== null && !(this.maxValue >= 0)) this.fail(`maxValue must be >= 0, got ${this.maxValue}`);
    if (!(this.negativeSlope >= 0)) this.fail(`negativeSlope must be >= 0, got ${this.negativeSlope}`);
  }

  override call(inputs: Tensor | Tensor[], _args: CallArgs): Tensor {
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    const { maxValue, negativeSlope: slope, threshold } = this;
    if (slope !== 0 && maxValue === null && threshold === 0) return ops.leakyRelu(x, slope);
    let clip = maxValue !== null;
    let y: Tensor;
    if (threshold !== 0) {
      // x where x > threshold, else 0; the select keeps a NaN input NaN, as Keras's x * (x > t) does.
      y = ops.where(ops.lessEqual(x, threshold), 0, x);
    } else if (maxValue === 6) {
      y = ops.relu6(x);
      clip = false;
    } else {
      y = ops.relu(x);
    }
    if (clip) y = ops.clipByValue(y, 0, maxValue!);
    if (slope !== 0) y = ops.sub(y, ops.mul(ops.relu(threshold !== 0 ? ops.sub(threshold, x) : ops.neg(x)), slope));
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
