/**
 * RMSprop, Keras 3 formulation:
 *   rms = rho * rms + (1 - rho) g^2
 *   centered: mg = rho * mg + (1 - rho) g;  denom = rms - mg^2 + eps   (else denom = rms + eps)
 *   increment = lr * g / sqrt(denom);  with momentum: mom = momentum * mom + increment, p -= mom
 *                                      else p -= increment
 * Uncentered, this is exactly tf.train.rmsprop (which always keeps the momentum slot). Centered,
 * tfjs-core computes sqrt(rms - (mg^2 + eps)), subtracting epsilon; Kiln follows Keras.
 * Slot names follow tfjs: rms, momentum (only when momentum > 0), mg (only when centered).
 */
import { KilnError } from '../../ir/types.js';
import { ops, type Tensor } from '../backend.js';
import { Optimizer, type BaseOptimizerArgs, type Slots, type StepContext } from './base.js';

export interface RMSpropArgs extends BaseOptimizerArgs {
  /** Discount of the moving average of squared gradients; default 0.9. */
  rho?: number;
  /** Default 0. */
  momentum?: number;
  /** Default 1e-7. */
  epsilon?: number;
  /** Normalize by the estimated variance instead of the second moment; default false. */
  centered?: boolean;
}

export class RMSprop extends Optimizer {
  readonly className = 'RMSprop';
  readonly rho: number;
  readonly momentum: number;
  readonly epsilon: number;
  readonly centered: boolean;

  constructor(args: RMSpropArgs = {}) {
    super('rmsprop', 0.001, args);
    this.rho = args.rho ?? 0.9;
    this.momentum = args.momentum ?? 0;
    this.epsilon = args.epsilon ?? 1e-7;
    this.centered = args.centered ?? false;
    if (!(this.rho >= 0 && this.rho < 1)) throw new KilnError(`RMSprop: rho must be in [0, 1), got ${this.rho}`);
    if (!(this.momentum >= 0 && this.momentum <= 1)) throw new KilnError(`RMSprop: momentum must be in [0, 1], got ${this.momentum}`);
    if (!(this.epsilon >= 0)) throw new KilnError(`RMSprop: epsilon must be non-negative, got ${this.epsilon}`);
  }

  slotNames(): string[] {
    return ['rms', ...(this.momentum > 0 ? ['momentum'] : []), ...(this.centered ? ['mg'] : [])];
  }

  protected ownConfig(): Record<string, number | boolean> {
    return { rho: this.rho, momentum: this.momentum, epsilon: this.epsilon, centered: this.centered };
  }

  protected updateStep(param: Tensor, grad: Tensor, slots: Slots, { lr }: StepContext): { param: Tensor; slots: Slots } {
    const rms = ops.add(ops.mul(slots['rms']!, this.rho), ops.mul(ops.square(grad), 1 - this.rho));
    const out: Record<string, Tensor> = { rms };
    let denom: Tensor;
    if (this.centered) {
      const mg = ops.add(ops.mul(slots['mg']!, this.rho), ops.mul(grad, 1 - this.rho));
      out['mg'] = mg;
      denom = ops.add(ops.sub(rms, ops.square(mg)), this.epsilon);
    } else {
      denom = ops.add(rms, this.epsilon);
    }
    const increment = ops.div(ops.mul(grad, lr), ops.sqrt(denom));
    if (this.momentum > 0) {
      const mom = ops.add(ops.mul(slots['momentum']!, this.momentum), increment);
      out['momentum'] = mom;
      return { param: ops.sub(param, mom), slots: out };
    }
    return { param: ops.sub(param, increment), slots: out };
  }
}

export function rmsprop(args: RMSpropArgs = {}): RMSprop {
  return new RMSprop(args);
}
