/**
 * Learning-rate schedules (Keras 3 `keras.optimizers.schedules`): functions of the optimizer's
 * step counter written in frontend ops, so that inside a compiled training step the learning
 * rate is computed by the program itself from the resident `iterations` state rather than
 * baked in as a constant. A schedule is called with the 0-based step (Keras passes
 * `optimizer.iterations` before it is incremented) as an i32 or f32 scalar tensor and returns an
 * f32 scalar. Configs round-trip in Keras's serialized form ({class_name, config} in snake_case).
 */
import { KilnError } from '../../ir/types.js';
import { ops, Tensor } from '../backend.js';

export type ScheduleConfig = Record<string, number | boolean | number[]>;

export interface SerializedSchedule {
  class_name: string;
  config: ScheduleConfig;
}

export abstract class LearningRateSchedule {
  abstract readonly className: string;
  /** The learning rate at 0-based `step` (a scalar tensor, i32 or float, or a number). */
  abstract call(step: Tensor | number): Tensor;
  abstract getConfig(): ScheduleConfig;

  serialize(): SerializedSchedule {
    return { class_name: this.className, config: this.getConfig() };
  }
}

function stepAsFloat(schedule: string, step: Tensor | number): Tensor {
  const t = step instanceof Tensor ? step : ops.scalar(step, 'f32');
  if (t.rank !== 0) throw new KilnError(`${schedule}: the step must be a scalar, got ${t.describe()}`);
  return ops.cast(t, 'f32');
}

function requirePositive(schedule: string, what: string, v: number): void {
  if (!(Number.isFinite(v) && v > 0)) throw new KilnError(`${schedule}: ${what} must be a positive number, got ${v}`);
}

export interface ExponentialDecayArgs {
  initialLearningRate: number;
  decaySteps: number;
  decayRate: number;
  /** Decay in whole intervals of decaySteps (floor of step / decaySteps). Default false. */
  staircase?: boolean;
}

/** lr = initial * decayRate ^ (step / decaySteps), the exponent floored when staircase. */
export class ExponentialDecay extends LearningRateSchedule {
  readonly className = 'ExponentialDecay';
  readonly args: Required<ExponentialDecayArgs>;

  constructor(args: ExponentialDecayArgs) {
    super();
    requirePositive('ExponentialDecay', 'decaySteps', args.decaySteps);
    this.args = { staircase: false, ...args };
  }

  call(step: Tensor | number): Tensor {
    const { initialLearningRate, decaySteps, decayRate, staircase } = this.args;
    let p = ops.div(stepAsFloat(this.className, step), decaySteps);
    if (staircase) p = ops.floor(p);
    return ops.mul(ops.pow(ops.scalar(decayRate, 'f32'), p), initialLearningRate);
  }

  getConfig(): ScheduleConfig {
    const a = this.args;
    return { initial_learning_rate: a.initialLearningRate, decay_steps: a.decaySteps, decay_rate: a.decayRate, staircase: a.staircase };
  }
}

export interface CosineDecayArgs {
  initialLearningRate: number;
  decaySteps: number;
  /** The floor, as a fraction of initialLearningRate. Default 0. */
  alpha?: number;
}

/** Keras CosineDecay (without warmup): initial * ((1 - alpha) * 0.5 (1 + cos(pi min(step, decaySteps) / decaySteps)) + alpha). */
export class CosineDecay extends LearningRateSchedule {
  readonly className = 'CosineDecay';
  readonly args: Required<CosineDecayArgs>;

  constructor(args: CosineDecayArgs) {
    super();
    requirePositive('CosineDecay', 'decaySteps', args.decaySteps);
    this.args = { alpha: 0, ...args };
  }

  call(step: Tensor | number): Tensor {
    const { initialLearningRate, decaySteps, alpha } = this.args;
    const completed = ops.div(ops.minimum(stepAsFloat(this.className, step), decaySteps), decaySteps);
    const cosine = ops.mul(ops.add(ops.cos(ops.mul(completed, Math.PI)), 1), 0.5);
    return ops.mul(ops.add(ops.mul(cosine, 1 - alpha), alpha), initialLearningRate);
  }

  getConfig(): ScheduleConfig {
    const a = this.args;
    return { initial_learning_rate: a.initialLearningRate, decay_steps: a.decaySteps, alpha: a.alpha };
  }
}

export interface PiecewiseConstantDecayArgs {
  /** Increasing step boundaries. */
  boundaries: number[];
  /** One more value than boundaries: values[i] applies while boundaries[i-1] < step <= boundaries[i]. */
  values: number[];
}

/** values[0] for step <= boundaries[0], values[1] up to boundaries[1], ..., the last value after. */
export class PiecewiseConstantDecay extends LearningRateSchedule {
  readonly className = 'PiecewiseConstantDecay';
  readonly args: PiecewiseConstantDecayArgs;

  constructor(args: PiecewiseConstantDecayArgs) {
    super();
    const { boundaries, values } = args;
    if (values.length !== boundaries.length + 1) {
      throw new KilnError(
        `PiecewiseConstantDecay: values must have one more element than boundaries, got ${values.length} values for ${boundaries.length} boundaries`,
      );
    }
    if (boundaries.some((b, i) => i > 0 && b <= boundaries[i - 1]!)) {
      throw new KilnError(`PiecewiseConstantDecay: boundaries must increase, got [${boundaries.join(', ')}]`);
    }
    this.args = { boundaries: [...boundaries], values: [...values] };
  }

  call(step: Tensor | number): Tensor {
    const s = stepAsFloat(this.className, step);
    const { boundaries, values } = this.args;
    // Walk from the last interval down: each boundary the step has not passed selects the value before it.
    let lr: Tensor = ops.scalar(values[values.length - 1]!, 'f32');
    for (let i = boundaries.length - 1; i >= 0; i--) {
      lr = ops.where(ops.lessEqual(s, boundaries[i]!), values[i]!, lr);
    }
    return lr;
  }

  getConfig(): ScheduleConfig {
    return { boundaries: [...this.args.boundaries], values: [...this.args.values] };
  }
}

export function exponentialDecay(args: ExponentialDecayArgs): ExponentialDecay {
  return new ExponentialDecay(args);
}
export function cosineDecay(args: CosineDecayArgs): CosineDecay {
  return new CosineDecay(args);
}
export function piecewiseConstantDecay(args: PiecewiseConstantDecayArgs): PiecewiseConstantDecay {
  return new PiecewiseConstantDecay(args);
}

function num(schedule: string, config: ScheduleConfig, key: string, fallback?: number): number {
  const v = config[key] ?? fallback;
  if (typeof v !== 'number') throw new KilnError(`${schedule} config: '${key}' must be a number, got ${JSON.stringify(v)}`);
  return v;
}

function numList(schedule: string, config: ScheduleConfig, key: string): number[] {
  const v = config[key];
  if (!Array.isArray(v)) throw new KilnError(`${schedule} config: '${key}' must be a list of numbers, got ${JSON.stringify(v)}`);
  return v;
}

/** Rebuild a schedule from its Keras serialized form. */
export function deserializeSchedule(s: SerializedSchedule): LearningRateSchedule {
  const c = s.config ?? {};
  switch (s.class_name) {
    case 'ExponentialDecay':
      return exponentialDecay({
        initialLearningRate: num(s.class_name, c, 'initial_learning_rate'), decaySteps: num(s.class_name, c, 'decay_steps'),
        decayRate: num(s.class_name, c, 'decay_rate'), staircase: c['staircase'] === true,
      });
    case 'CosineDecay':
      return cosineDecay({
        initialLearningRate: num(s.class_name, c, 'initial_learning_rate'), decaySteps: num(s.class_name, c, 'decay_steps'),
        alpha: num(s.class_name, c, 'alpha', 0),
      });
    case 'PiecewiseConstantDecay':
      return piecewiseConstantDecay({ boundaries: numList(s.class_name, c, 'boundaries'), values: numList(s.class_name, c, 'values') });
    default:
      throw new KilnError(
        `unknown learning-rate schedule '${s.class_name}'; valid: ExponentialDecay, CosineDecay, PiecewiseConstantDecay`,
      );
  }
}
