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
 * Values are copies, never views of the program's memory.
 */
import { KilnError, typeToString } from '../../ir/types.js';
import { literal } from '../../ir/literal.js';
import type { TensorData } from '../../runtime/index.js';
import { Tensor } from '../backend.js';
import type { CallbackState } from '../callbacks/callback.js';
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

/** The key of the i-th callback of a fit in TrainingState.callbacks. */
export function callbackKey(index: number, callback: object): string {
  return `${index}:${callback.constructor.name}`;
}

/** The optimizer's state tensors (iterations, then slots) of a compiled model, as they are now. */
export function getOptimizerState(model: Model): StateTensor[] {
  const trainer = trainerOf('getOptimizerState', model);
  const spec = trainer.stateSpec();
  const values = trainer.readState(spec.optimizer);
  return spec.optimizer.map((n) => stateTensor(n, spec.types.get(n)!.shape, values[n]!));
}

/** Put optimizer state back (every tensor, by name; shapes and dtypes must match). */
export function setOptimizerState(model: Model, tensors: readonly StateTensor[]): void {
  const trainer = trainerOf('setOptimizerState', model);
  const spec = trainer.stateSpec();
  trainer.writeState(namedValues('setOptimizerState', spec.optimizer, tensors));
}

/** Check that `tensors` are exactly `names` (any order) and return their data by name. */
function namedValues(who: string, names: readonly string[], tensors: readonly StateTensor[]): Record<string, TensorData> {
  if (!Array.isArray(tensors)) throw new KilnError(`${who}: expects a list of {name, shape, dtype, data}, got ${tensors === null ? 'null' : typeof tensors}`);
  const out: Record<string, TensorData> = {};
  for (const t of tensors) {
    if (!names.includes(t.name)) throw new KilnError(`${who}: the model has no state tensor '${t.name}' (expected ${names.join(', ')})`);
    out[t.name] = t.data;
  }
  const missing = names.filter((n) => !(n in out));
  if (missing.length) throw new KilnError(`${who}: missing state tensor(s) ${missing.join(', ')}`);
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
  const weights = namedValues(`${who} (weights)`, ws.map((w) => w.name), state.weights);
  const tensors = ws.map((w) => {
    const d = weights[w.name]!;
    const want = w.shape.reduce((a, b) => a * b, 1);
    const ok = (w.dtype === 'f32' ? d instanceof Float32Array : d instanceof Int32Array) && d.length === want;
    if (!ok) throw new KilnError(`${who}: weight '${w.name}' must be ${typeToString(w.value.type)} (${want} values), got ${d.constructor.name} of ${d.length} values`);
    return Tensor.concrete(literal(w.shape, w.dtype, d.slice()));
  });
  const extra = {
    ...namedValues(`${who} (optimizer)`, spec.optimizer, state.optimizer),
    ...namedValues(`${who} (metrics)`, spec.metrics, state.metrics),
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
