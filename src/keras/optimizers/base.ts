/**
 * The optimizer base class. Optimizer state is explicit and functional so that a whole update
 * traces into one IR function: `init(params)` builds the state (an i32 `iterations` counter and
 * per-parameter slot tensors such as Adam's m and v), and `apply(params, grads, state)` returns
 * new params and a new state, composed only of frontend ops (no host math on tensor values).
 * `stateTensors`/`fromTensors`/`stateNames` give the flat, named view the compiler makes into
 * resident state buffers.
 *
 * The order of one update follows Keras 3 (`BaseOptimizer._backend_apply_gradients`): the
 * learning rate is read at the current (0-based) `iterations`, gradients are clipped, decoupled
 * weight decay `p -= lr * wd * p` is applied, then each subclass's `updateStep`, then
 * `iterations += 1`.
 */
import { KilnError, shapesEqual } from '../../ir/types.js';
import { ops, Tensor } from '../backend.js';
import { clipGradients, validateClipOptions } from './clipping.js';
import { deserializeSchedule, LearningRateSchedule, type SerializedSchedule } from './schedules.js';

/** A constant learning rate or a schedule evaluated from the step counter inside the program. */
export type LearningRate = number | LearningRateSchedule;

/** Slot tensors of one parameter, keyed by slot name (e.g. {m, v} for Adam). */
export type Slots = Readonly<Record<string, Tensor>>;

export interface OptimizerState {
  /** i32 scalar: the number of updates applied so far (Keras `optimizer.iterations`). */
  readonly iterations: Tensor;
  /** One record per parameter, in parameter order, holding `slotNames()`. */
  readonly slots: readonly Slots[];
}

export interface OptimizerUpdate {
  params: Tensor[];
  state: OptimizerState;
}

export interface BaseOptimizerArgs {
  learningRate?: LearningRate;
  /** Decoupled weight decay (Keras 3): before each update p -= lr * weightDecay * p. */
  weightDecay?: number | null;
  /** Clip each gradient to this L2 norm. */
  clipnorm?: number | null;
  /** Clip each gradient element to [-clipvalue, clipvalue]. */
  clipvalue?: number | null;
  /** Scale all gradients together so their global L2 norm is at most this. */
  globalClipnorm?: number | null;
  /** Prefix of the state names (default: the Keras name, e.g. 'adam'). */
  name?: string;
}

/** What one slot update sees besides the parameter, its gradient and its slots. */
export interface StepContext {
  /** The learning rate of this step: a number, or an f32 scalar tensor under a schedule. */
  lr: Tensor | number;
  /** The 1-based step being applied, as an f32 scalar (Keras `local_step`). */
  localStep: Tensor;
}

export type ConfigValue = number | boolean | string | null | SerializedSchedule;
export type OptimizerConfig = Record<string, ConfigValue>;

export interface SerializedOptimizer {
  class_name: string;
  config: OptimizerConfig;
}

/** camelCase option -> Keras snake_case key (beta1 -> beta_1, globalClipnorm -> global_clipnorm). */
export function toSnake(key: string): string {
  return key.replace(/([a-z])([A-Z0-9])/g, '$1_$2').toLowerCase();
}

/** Keras snake_case key -> camelCase option (beta_1 -> beta1). */
export function toCamel(key: string): string {
  return key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

export abstract class Optimizer {
  /** The Keras class name ('Adam'), used in serialized configs. */
  abstract readonly className: string;
  readonly name: string;
  readonly learningRate: LearningRate;
  readonly weightDecay: number | null;
  readonly clipnorm: number | null;
  readonly clipvalue: number | null;
  readonly globalClipnorm: number | null;

  protected constructor(defaultName: string, defaultLearningRate: number, args: BaseOptimizerArgs) {
    this.name = args.name ?? defaultName;
    this.learningRate = args.learningRate ?? defaultLearningRate;
    this.weightDecay = args.weightDecay ?? null;
    this.clipnorm = args.clipnorm ?? null;
    this.clipvalue = args.clipvalue ?? null;
    this.globalClipnorm = args.globalClipnorm ?? null;
    const owner = `optimizer '${this.name}'`;
    validateClipOptions(owner, this);
    if (typeof this.learningRate === 'number' && !(Number.isFinite(this.learningRate) && this.learningRate >= 0)) {
      throw new KilnError(`${owner}: learningRate must be a non-negative number or a schedule, got ${this.learningRate}`);
    }
    if (this.weightDecay !== null && !(Number.isFinite(this.weightDecay) && this.weightDecay >= 0)) {
      throw new KilnError(`${owner}: weightDecay must be a non-negative number, got ${this.weightDecay}`);
    }
  }

  /** Names of the slots kept per parameter, in state order (may depend on the config). */
  abstract slotNames(): string[];

  /** The subclass's own options for getConfig, camelCase, without the base options. */
  protected abstract ownConfig(): Record<string, number | boolean | string | null>;

  /** One parameter's update; returns its new value and new slots. */
  protected abstract updateStep(param: Tensor, grad: Tensor, slots: Slots, ctx: StepContext): { param: Tensor; slots: Slots };

  /** The initial value of a slot (zeros unless overridden, e.g. Adagrad's initial accumulator). */
  protected initSlot(_slot: string, param: Tensor): Tensor {
    return ops.zerosLike(param);
  }

  init(params: readonly Tensor[]): OptimizerState {
    const names = this.slotNames();
    return {
      iterations: ops.scalar(0, 'i32'),
      slots: params.map((p) => Object.fromEntries(names.map((s) => [s, this.initSlot(s, p)]))),
    };
  }

  /** The learning rate at 0-based `iterations` (a number when constant, else an f32 scalar). */
  learningRateAt(iterations: Tensor): Tensor | number {
    return typeof this.learningRate === 'number' ? this.learningRate : this.learningRate.call(iterations);
  }

  apply(params: readonly Tensor[], grads: readonly Tensor[], state: OptimizerState): OptimizerUpdate {
    this.checkApply(params, grads, state);
    const lr = this.learningRateAt(state.iterations);
    const clipped = clipGradients(grads, this);
    const next = ops.add(state.iterations, 1);
    const localStep = ops.cast(next, 'f32');
    const newParams: Tensor[] = [];
    const newSlots: Slots[] = [];
    params.forEach((p, i) => {
      const plr = scalarFor(lr, p);
      let decayed = p;
      if (this.weightDecay) decayed = ops.sub(p, ops.mul(p, lrTimes(plr, this.weightDecay)));
      const r = this.updateStep(decayed, clipped[i]!, state.slots[i]!, { lr: plr, localStep });
      newParams.push(r.param);
      newSlots.push(r.slots);
    });
    return { params: newParams, state: { iterations: next, slots: newSlots } };
  }

  /** The state as one flat list: iterations, then each parameter's slots in slotNames() order. */
  stateTensors(state: OptimizerState): Tensor[] {
    const names = this.slotNames();
    return [state.iterations, ...state.slots.flatMap((s) => names.map((n) => s[n]!))];
  }

  /** Names for stateTensors, e.g. ['adam/iterations', 'dense/kernel/m', 'dense/kernel/v', ...]. */
  stateNames(paramNames: readonly string[]): string[] {
    const names = this.slotNames();
    return [`${this.name}/iterations`, ...paramNames.flatMap((p) => names.map((n) => `${p}/${n}`))];
  }

  /** Inverse of stateTensors for `numParams` parameters. */
  fromTensors(tensors: readonly Tensor[], numParams: number): OptimizerState {
    const names = this.slotNames();
    const expected = 1 + numParams * names.length;
    if (tensors.length !== expected) {
      throw new KilnError(
        `${this.className}.fromTensors: expected ${expected} tensors (iterations + ${numParams} params x [${names.join(', ')}]), got ${tensors.length}`,
      );
    }
    const slots: Slots[] = [];
    for (let i = 0; i < numParams; i++) {
      slots.push(Object.fromEntries(names.map((n, k) => [n, tensors[1 + i * names.length + k]!])));
    }
    return { iterations: tensors[0]!, slots };
  }

  /** Keras-style config (snake_case keys; a schedule as {class_name, config}). */
  getConfig(): OptimizerConfig {
    const config: OptimizerConfig = {
      name: this.name,
      learning_rate: typeof this.learningRate === 'number' ? this.learningRate : this.learningRate.serialize(),
      weight_decay: this.weightDecay,
      clipnorm: this.clipnorm,
      global_clipnorm: this.globalClipnorm,
      clipvalue: this.clipvalue,
    };
    for (const [k, v] of Object.entries(this.ownConfig())) config[toSnake(k)] = v;
    return config;
  }

  serialize(): SerializedOptimizer {
    return { class_name: this.className, config: this.getConfig() };
  }

  private checkApply(params: readonly Tensor[], grads: readonly Tensor[], state: OptimizerState): void {
    const who = `${this.className}.apply`;
    if (params.length !== grads.length) {
      throw new KilnError(`${who}: got ${params.length} params but ${grads.length} gradients`);
    }
    if (state.slots.length !== params.length) {
      throw new KilnError(`${who}: the state holds slots for ${state.slots.length} params, got ${params.length} params; init() the state with the same params`);
    }
    if (state.iterations.dtype !== 'i32' || state.iterations.rank !== 0) {
      throw new KilnError(`${who}: state.iterations must be an i32 scalar, got ${state.iterations.describe()}`);
    }
    params.forEach((p, i) => {
      const g = grads[i]!;
      if (!(p instanceof Tensor) || !(g instanceof Tensor)) throw new KilnError(`${who}: param ${i} and its gradient must be Tensors`);
      if (p.dtype !== g.dtype || !shapesEqual(p.shape, g.shape)) {
        throw new KilnError(`${who}: param ${i} is ${p.describe()} but its gradient is ${g.describe()}`);
      }
      for (const n of this.slotNames()) {
        const s = state.slots[i]![n];
        if (!s || !shapesEqual(s.shape, p.shape)) {
          throw new KilnError(`${who}: slot '${n}' of param ${i} (${p.describe()}) is ${s ? s.describe() : 'missing'}`);
        }
      }
    });
  }
}

/** The learning rate in the parameter's dtype (a tensor lr is f32; params may be f16). */
function scalarFor(lr: Tensor | number, p: Tensor): Tensor | number {
  return typeof lr === 'number' || lr.dtype === p.dtype ? lr : ops.cast(lr, p.dtype);
}

/** lr * k, in JS when the learning rate is a constant (so no tensor of the wrong dtype appears). */
export function lrTimes(lr: Tensor | number, k: number): Tensor | number {
  return typeof lr === 'number' ? lr * k : ops.mul(lr, k);
}

/** Base options read back from a snake_case (or camelCase) config. */
export function baseArgsFromConfig(config: OptimizerConfig): BaseOptimizerArgs & Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(config)) {
    if (v === null || v === undefined) continue;
    out[toCamel(k)] = v;
  }
  const lr = out['learningRate'];
  if (lr !== undefined && typeof lr === 'object') out['learningRate'] = deserializeSchedule(lr as SerializedSchedule);
  return out;
}
