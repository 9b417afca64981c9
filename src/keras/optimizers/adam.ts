/**
 * Adam (Kingma & Ba), Keras 3 formulation by default:
 *   t = iterations + 1;  alpha = lr * sqrt(1 - beta2^t) / (1 - beta1^t)
 *   m += (g - m)(1 - beta1);  v += (g^2 - v)(1 - beta2);  p -= alpha * m / (sqrt(v) + eps)
 * tf.train.adam (tfjs-core) instead bias-corrects m and v before adding epsilon:
 *   p -= lr * m_hat / (sqrt(v_hat) + eps),  m_hat = m / (1 - beta1^t),  v_hat = v / (1 - beta2^t)
 * The two agree except for where epsilon sits: Keras's effective epsilon is eps * sqrt(1 - beta2^t),
 * which matters only while v is tiny. `epsilonMode: 'tfjs'` selects the tfjs formula, to follow a
 * tfjs-layers training run exactly. `amsgrad` (Keras only) keeps the running max of v ('vhat').
 * Slots use the tfjs names m and v. Also the base of AdamW (adamw.ts).
 */
import { KilnError } from '../../ir/types.js';
import { ops, type Tensor } from '../backend.js';
import { Optimizer, type BaseOptimizerArgs, type Slots, type StepContext } from './base.js';

export type EpsilonMode = 'keras' | 'tfjs';

export interface AdamArgs extends BaseOptimizerArgs {
  /** Default 0.9. */
  beta1?: number;
  /** Default 0.999. */
  beta2?: number;
  /** Default 1e-7 (Keras and tfjs's cpu backend). */
  epsilon?: number;
  /** Default false. */
  amsgrad?: boolean;
  /** Where epsilon is added relative to the bias correction; default 'keras'. */
  epsilonMode?: EpsilonMode;
}

export class Adam extends Optimizer {
  readonly className: string = 'Adam';
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  readonly amsgrad: boolean;
  readonly epsilonMode: EpsilonMode;

  constructor(args: AdamArgs = {}, defaultName = 'adam') {
    super(defaultName, 0.001, args);
    this.beta1 = args.beta1 ?? 0.9;
    this.beta2 = args.beta2 ?? 0.999;
    this.epsilon = args.epsilon ?? 1e-7;
    this.amsgrad = args.amsgrad ?? false;
    this.epsilonMode = args.epsilonMode ?? 'keras';
    for (const [k, v] of [['beta1', this.beta1], ['beta2', this.beta2]] as const) {
      if (!(v >= 0 && v < 1)) throw new KilnError(`${this.constructor.name}: ${k} must be in [0, 1), got ${v}`);
    }
    if (!(this.epsilon >= 0)) throw new KilnError(`${this.constructor.name}: epsilon must be non-negative, got ${this.epsilon}`);
    if (this.epsilonMode !== 'keras' && this.epsilonMode !== 'tfjs') {
      throw new KilnError(`${this.constructor.name}: epsilonMode must be 'keras' or 'tfjs', got '${String(this.epsilonMode)}'`);
    }
  }

  slotNames(): string[] {
    return this.amsgrad ? ['m', 'v', 'vhat'] : ['m', 'v'];
  }

  protected ownConfig(): Record<string, number | boolean | string> {
    return { beta1: this.beta1, beta2: this.beta2, epsilon: this.epsilon, amsgrad: this.amsgrad, epsilonMode: this.epsilonMode };
  }

  protected updateStep(param: Tensor, grad: Tensor, slots: Slots, { lr, localStep }: StepContext): { param: Tensor; slots: Slots } {
    const t = param.dtype === 'f32' ? localStep : ops.cast(localStep, param.dtype);
    const oneMinusB1t = ops.sub(1, ops.pow(ops.fill([], this.beta1, t.dtype), t));
    const oneMinusB2t = ops.sub(1, ops.pow(ops.fill([], this.beta2, t.dtype), t));
    const m = ops.add(ops.mul(slots['m']!, this.beta1), ops.mul(grad, 1 - this.beta1));
    const v = ops.add(ops.mul(slots['v']!, this.beta2), ops.mul(ops.square(grad), 1 - this.beta2));
    const newSlots: Record<string, Tensor> = { m, v };
    let vUsed = v;
    if (this.amsgrad) {
      vUsed = ops.maximum(slots['vhat']!, v);
      newSlots['vhat'] = vUsed;
    }
    let update: Tensor;
    if (this.epsilonMode === 'tfjs') {
      const mHat = ops.div(m, oneMinusB1t);
      const vHat = ops.div(vUsed, oneMinusB2t);
      update = ops.mul(ops.div(mHat, ops.add(ops.sqrt(vHat), this.epsilon)), lr);
    } else {
      const alpha = ops.div(ops.mul(ops.sqrt(oneMinusB2t), lr), oneMinusB1t);
      update = ops.mul(ops.div(m, ops.add(ops.sqrt(vUsed), this.epsilon)), alpha);
    }
    return { param: ops.sub(param, update), slots: newSlots };
  }
}

export function adam(args: AdamArgs = {}): Adam {
  return new Adam(args);
}
