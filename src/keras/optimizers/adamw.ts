/**
 * AdamW: Adam with decoupled weight decay (Loshchilov & Hutter), as Keras 3 writes it: the
 * base optimizer's `p -= lr * weightDecay * p` before the Adam step, with weightDecay defaulting
 * to 0.004. Everything else, including `epsilonMode`, is Adam's.
 */
import { KilnError } from '../../ir/types.js';
import { Adam, type AdamArgs } from './adam.js';

export class AdamW extends Adam {
  override readonly className = 'AdamW';

  constructor(args: AdamArgs = {}) {
    super({ ...args, weightDecay: args.weightDecay ?? 0.004 }, 'adamw');
    if (!this.weightDecay) throw new KilnError(`AdamW: weightDecay must be a positive number, got ${args.weightDecay}; use Adam for no weight decay`);
  }
}

export function adamw(args: AdamArgs = {}): AdamW {
  return new AdamW(args);
}
