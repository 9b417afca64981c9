/**
 * The whole state of a training run, to save and to continue from bit-identically: the model's
 * weights, the optimizer's state (its `iterations` counter, then every slot such as Adam's m and
 * v), the metric accumulators, the learning rate (a constant rate is resident state; a schedule's
 * position is `iterations`), where a running fit is (epoch, next step, the shuffle RNG's state
 * before that epoch's shuffle) and the callbacks' own state (EarlyStopping's best and wait, ...).
 *
 * `getTrainingState(model)` reads it (from the compiled program when steps ran); called from a
 * callback during fit, it includes the fit's position and its callbacks. `setTrainingState`
 * puts weights and optimizer/metric state back at once (into the program, or for the next fit
 * when none is built yet) and leaves the position and callback states for the next `fit`, which
 * starts at that epoch and step, replays that epoch's shuffle, and restores each callback's
 * state after their onTrainBegin. `getOptimizerState`/`setOptimizerState` are the optimizer part
 * alone (what `model.save(..., {includeOptimizer: true})` stores).
 *
 * Tensors are matched by position, as Keras loads weights and optimizer variables (generated names
 * such as dense_3/kernel differ between two instances of one model); count, shape and dtype are
 * checked and every mismatch is a KilnError naming the tensor. Values are copies, never views of the program's memory.
 */
import { KilnError } from '../../ir/types.js';
import { literal } from '../../ir/literal.js';
import type { TensorData } from '../../runtime/index.js';
import { Tensor } from '../backend.js';
import { callbackKey, type CallbackState } from '../callbacks/callback.js';
import type { Model } from './model.js';
import { trainerOf, type ResumePoint } from './training.js';

/** One named tensor of the state, data copied out. */
export interface StateTensor {
  name: string;
  shape: number[];
  dtype: 'f32' | 'i32';
  data: Float32Array | Int32Array;
}

export interface TrainingState {
  /** Every model weight (trainable and not), in `model.weights` order. */
  weights: StateTensor[];
  /** The optimizer's state: `<optimizer>/iterations` first, then each trainable weight's slots. */
  optimizer: StateTensor[];
  /** The loss and metric accumulators of the epoch in progress. */
  metrics: StateTensor[];
  /** The learning rate in effect (a constant rate's resident value, or the schedule's value now). */
  learningRate: number;
  /** Where the fit was (present when read during fit). */
  position?: ResumePoint;
  /** Each stateful callback's state, keyed `<index in the fit's callback list>:<class name>`. */
  callbacks: Record<string, CallbackState>;
}

function stateTensor(name: string, shape: readonly number[], data: TensorData): StateTensor {
  if (data instanceof Float32Array) return { name, shape: [...shape], dtype: 'f32', data: data.slice() };
  if (data instanceof Int32Array) return { name, shape: [...shape], dtype: 'i32', data: data.slice() };
  throw new KilnError(`training state: '${name}' holds ${data.constructor.name}; only f32 and i32 state is saved`);
}

/** The optimizer's state tensors (iterations, then slots) of a compiled model, as they are now. */
export function getOptimizerState(model: Model): StateTensor[] {
  const trainer = trainerOf('getOptimizerState', model);
  const spec = trainer.stateSpec();
  const values = trainer.readState(spec.optimizer);
  return spec.optimizer.map((n) => stateTensor(n, spec.types.get(n)!.shape, values[n]!));
}

/** Put optimizer state back: every tensor, in getOptimizerState order (shapes and dtypes must match). */
export function setOptimizerState(model: Model, tensors: readonly StateTensor[]): void {
  const trainer = trainerOf('setOptimizerState', model);
  const spec = trainer.stateSpec();
  trainer.writeState(positional('setOptimizerState', spec.optimizer, spec.types, tensors));
}

/**
 * Match `tensors` to the model's state tensors `names` by position (as Keras loads weights and
 * optimizer variables: generated names such as dense_3/kernel differ between two instances of one
 * model), checking count, shape and dtype; returns their data under the model's names.
 */
function positional(who: string, names: readonly string[], types: ReadonlyMap<string, { shape: readonly number[]; dtype: string }>, tensors: readonly StateTensor[]): Record<string, TensorData> {
  if (!Array.isArray(tensors)) throw new KilnError(`${who}: expects a list of {name, shape, dtype, data}, got ${tensors === null ? 'null' : typeof tensors}`);
  if (tensors.length !== names.length) {
    throw new KilnError(`${who}: the model has ${names.length} state tensors (${names.join(', ')}), got ${tensors.length} (${tensors.map((t) => t?.name).join(', ')})`);
  }
  const out: Record<string, TensorData> = {};
  names.forEach((n, i) => {
    const t = tensors[i]!;
    const want = types.get(n)!;
    const count = want.shape.reduce((a, b) => a * b, 1);
    const ctor = want.dtype === 'i32' ? Int32Array : Float32Array;
    const okShape = Array.isArray(t?.shape) && t.shape.length === want.shape.length && t.shape.every((d: number, k: number) => d === want.shape[k]);
    if (!okShape || !(t.data instanceof ctor) || t.data.length !== count) {
      throw new KilnError(
        `${who}: state tensor ${i} ('${t?.name}', for the model's '${n}') must be ${want.dtype}[${want.shape.join(',')}] (${count} ${ctor.name} values), ` +
          `got shape [${t?.shape?.join(',')}] with ${t?.data?.constructor?.name ?? typeof t?.data} of ${t?.data?.length ?? 0} values`,
      );
    }
    out[n] = t.data;
  });
  return out;
}

export function getTrainingState(model: Model): TrainingState {
  const trainer = trainerOf('getTrainingState', model);
  const spec = trainer.stateSpec();
  const weights = model.getWeights(); // synchronized with the program
  const values = trainer.readState([...spec.optimizer, ...spec.metrics]);
  const state: TrainingState = {
    weights: model.weights.map((w, i) => stateTensor(w.name, w.shape, weights[i]!.dataSync() as TensorData)),
    optimizer: spec.optimizer.map((n) => stateTensor(n, spec.types.get(n)!.shape, values[n]!)),
    metrics: spec.metrics.map((n) => stateTensor(n, spec.types.get(n)!.shape, values[n]!)),
    learningRate: trainer.getLearningRate(),
    callbacks: {},
  };
  const p = trainer.progress;
  if (p) {
    state.position = { epoch: p.epoch, step: p.step, rngState: p.rngState };
    p.callbacks.forEach((c, i) => {
      const s = c.getCheckpointState();
      if (s !== undefined) state.callbacks[callbackKey(i, c)] = s;
    });
  }
  return state;
}

export function setTrainingState(model: Model, state: TrainingState): void {
  const who = 'setTrainingState';
  const trainer = trainerOf(who, model);
  if (state === null || typeof state !== 'object') throw new KilnError(`${who}: expects a TrainingState object, got ${state === null ? 'null' : typeof state}`);
  const spec = trainer.stateSpec();
  const ws = model.weights;
  const weightTypes = new Map(ws.map((w) => [w.name, { shape: w.shape, dtype: w.dtype }] as const));
  const weights = positional(`${who} (weights)`, ws.map((w) => w.name), weightTypes, state.weights);
  const tensors = ws.map((w) => Tensor.concrete(literal(w.shape, w.dtype, weights[w.name]!.slice())));
  const extra = {
    ...positional(`${who} (optimizer)`, spec.optimizer, spec.types, state.optimizer),
    ...positional(`${who} (metrics)`, spec.metrics, spec.types, state.metrics),
  };
  if (spec.lrName) {
    if (!(Number.isFinite(state.learningRate) && state.learningRate >= 0)) throw new KilnError(`${who}: learningRate must be a non-negative number, got ${state.learningRate}`);
    extra[spec.lrName] = Float32Array.of(state.learningRate);
  }
  // Validate everything before changing anything.
  trainer.writeState(extra);
  model.setWeights(tensors);
  if (state.position !== undefined) {
    const { epoch, step, rngState } = state.position;
    if (![epoch, step, rngState].every((v) => Number.isInteger(v) && v >= 0)) {
      throw new KilnError(`${who}: position {epoch, step, rngState} must hold non-negative integers, got ${JSON.stringify(state.position)}`);
    }
    trainer.resume = { epoch, step, rngState };
  } else {
    trainer.resume = undefined;
  }
  trainer.resumeCallbacks = { ...(state.callbacks ?? {}) };
}
