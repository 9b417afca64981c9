/**
 * SGD with optional (Nesterov) momentum, Keras 3 formulation:
 *   m = momentum * m - lr * g;  p += m            (or p += momentum * m - lr * g with nesterov)
 * With a constant learning rate this equals tf.train.momentum (accum = momentum * accum + g;
 * p -= lr * accum, i.e. m = -lr * accum); the two differ only when the learning rate changes
 * between steps, where Keras's velocity carries the old rates. Without momentum there is no slot.
 */
import { KilnError } from '../../ir/types.js';
import { ops, type Tensor } from '../backend.js';
import { Optimizer, type BaseOptimizerArgs, type Slots, type StepContext } from './base.js';

export interface SGDArgs extends BaseOptimizerArgs {
  /** Default 0 (plain gradient descent). */
  momentum?: number;
  /** Default false. */
  nesterov?: boolean;
}

export class SGD extends Optimizer {
  readonly className = 'SGD';
  readonly momentum: number;
  readonly nesterov: boolean;

  constructor(args: SGDArgs = {}) {
    super('SGD', 0.01, args);
    this.momentum = args.momentum ?? 0;
    this.nesterov = args.nesterov ?? false;
    if (!(this.momentum >= 0 && this.momentum <= 1)) {
      throw new KilnError(`SGD: momentum must be a number in [0, 1], got ${this.momentum}`);
    }
  }

  slotNames(): string[] {
    return this.momentum > 0 ? ['momentum'] : [];
  }

  protected ownConfig(): Record<string, number | boolean> {
    return { momentum: this.momentum, nesterov: this.nesterov };
  }

  protected updateStep(param: Tensor, grad: Tensor, slots: Slots, { lr }: StepContext): { param: Tensor; slots: Slots } {
    const step = ops.mul(grad, lr);
    if (this.momentum === 0) return { param: ops.sub(param, step), slots };
    const m = ops.sub(ops.mul(slots['momentum']!, this.momentum), step);
    const delta = this.nesterov ? ops.sub(ops.mul(m, this.momentum), step) : m;
    return { param: ops.add(param, delta), slots: { momentum: m } };
  }
}

export function sgd(args: SGDArgs = {}): SGD {
  return new SGD(args);
}

