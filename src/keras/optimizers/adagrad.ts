/**
 * Adagrad, Keras 3 formulation (identical to tf.train.adagrad, whose epsilon is the cpu
 * backend's 1e-7): accumulator += g^2;  p -= lr * g / sqrt(accumulator + eps).
 * The accumulator starts at initialAccumulatorValue (default 0.1) and is named as in tfjs.
 */
import { KilnError } from '../../ir/types.js';
import { ops, type Tensor } from '../backend.js';
import { Optimizer, type BaseOptimizerArgs, type Slots, type StepContext } from './base.js';

export interface AdagradArgs extends BaseOptimizerArgs {
  /** Default 0.1. */
  initialAccumulatorValue?: number;
  /** Default 1e-7. */
  epsilon?: number;
}

export class Adagrad extends Optimizer {
  readonly className = 'Adagrad';
  readonly initialAccumulatorValue: number;
  readonly epsilon: number;

  constructor(args: AdagradArgs = {}) {
    super('adagrad', 0.001, args);
    this.initialAccumulatorValue = args.initialAccumulatorValue ?? 0.1;
    this.epsilon = args.epsilon ?? 1e-7;
    if (!(this.initialAccumulatorValue >= 0)) {
      throw new KilnError(`Adagrad: initialAccumulatorValue must be non-negative, got ${this.initialAccumulatorValue}`);
    }
    if (!(this.epsilon >= 0)) throw new KilnError(`Adagrad: epsilon must be non-negative, got ${this.epsilon}`);
  }

  slotNames(): string[] {
    return ['accumulator'];
  }

  protected override initSlot(_slot: string, param: Tensor): Tensor {
    return ops.fill(param.shape, this.initialAccumulatorValue, param.dtype);
  }

  protected ownConfig(): Record<string, number> {
    return { initialAccumulatorValue: this.initialAccumulatorValue, epsilon: this.epsilon };
  }

  protected updateStep(param: Tensor, grad: Tensor, slots: Slots, { lr }: StepContext): { param: Tensor; slots: Slots } {
    const acc = ops.add(slots['accumulator']!, ops.square(grad));
    const step = ops.div(ops.mul(grad, lr), ops.sqrt(ops.add(acc, this.epsilon)));
    return { param: ops.sub(param, step), slots: { accumulator: acc } };
  }
}

export function adagrad(args: AdagradArgs = {}): Adagrad {
  return new Adagrad(args);
}
