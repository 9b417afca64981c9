/**
 * The callback protocol of `fit` (tfjs-layers spelling, Keras semantics): a Callback is told when
 * training, each epoch and each batch begin and end, with the logs of that moment. Batch logs
 * hold the batch's own loss and metric values (as tfjs-layers reports them) plus `batch` and
 * `size`; epoch logs hold the epoch's means over all its samples, and `val_`-prefixed values when
 * there is validation data. A callback may stop training by setting `model.stopTraining`.
 * CallbackList runs a list of them in order; plain objects with `on*` methods are accepted too
 * (tfjs's CustomCallback).
 */
import { KilnError } from '../../ir/types.js';
import type { Model } from '../engine/model.js';

/** Named scalar values: {loss: 0.31, acc: 0.9, val_loss: ...}. */
export type Logs = Record<string, number>;

/** What fit tells every callback before training starts. */
export interface TrainingParams {
  epochs: number;
  initialEpoch: number;
  /** Batches per epoch (undefined: a dataset of unknown size). */
  steps: number | undefined;
  /** Training samples per epoch (undefined when unknown). */
  samples: number | undefined;
  /** undefined: a dataset whose batch size is not announced. */
  batchSize: number | undefined;
  verbose: 0 | 1 | 2;
  /** Names reported in epoch logs, e.g. ['loss', 'acc', 'val_loss', 'val_acc']. */
  metrics: string[];
  doValidation: boolean;
}

type Maybe = void | Promise<void>;

/** A JSON value: what a callback keeps in a training checkpoint (BackupAndRestore). */
export type CallbackState = number | string | boolean | null | CallbackState[] | { [key: string]: CallbackState };

/** The hooks a plain-object callback may define (all optional). */
export interface CallbackHooks {
  onTrainBegin?(logs: Logs): Maybe;
  onTrainEnd?(logs: Logs): Maybe;
  onEpochBegin?(epoch: number, logs: Logs): Maybe;
  onEpochEnd?(epoch: number, logs: Logs): Maybe;
  onBatchBegin?(batch: number, logs: Logs): Maybe;
  onBatchEnd?(batch: number, logs: Logs): Maybe;
}

export abstract class Callback implements CallbackHooks {
  model?: Model;
  params?: TrainingParams;

  setModel(model: Model): void {
    this.model = model;
  }
  setParams(params: TrainingParams): void {
    this.params = params;
  }

  onTrainBegin(_logs: Logs): Maybe {}
  onTrainEnd(_logs: Logs): Maybe {}
  onEpochBegin(_epoch: number, _logs: Logs): Maybe {}
  onEpochEnd(_epoch: number, _logs: Logs): Maybe {}
  onBatchBegin(_batch: number, _logs: Logs): Maybe {}
  onBatchEnd(_batch: number, _logs: Logs): Maybe {}

  /**
   * What this callback needs to continue exactly after a resume (EarlyStopping's best and wait,
   * ...), as JSON; undefined when it keeps nothing. getTrainingState collects it; fit gives it back
   * through setCheckpointState after every callback's onTrainBegin ran.
   */
  getCheckpointState(): CallbackState | undefined {
    return undefined;
  }
  setCheckpointState(_state: CallbackState): void {}
}

/** A Callback made of a plain object's hooks (tfjs-layers CustomCallback). */
export class CustomCallback extends Callback {
  constructor(private readonly hooks: CallbackHooks) {
    super();
  }
  override onTrainBegin(logs: Logs): Maybe { return this.hooks.onTrainBegin?.(logs); }
  override onTrainEnd(logs: Logs): Maybe { return this.hooks.onTrainEnd?.(logs); }
  override onEpochBegin(epoch: number, logs: Logs): Maybe { return this.hooks.onEpochBegin?.(epoch, logs); }
  override onEpochEnd(epoch: number, logs: Logs): Maybe { return this.hooks.onEpochEnd?.(epoch, logs); }
  override onBatchBegin(batch: number, logs: Logs): Maybe { return this.hooks.onBatchBegin?.(batch, logs); }
  override onBatchEnd(batch: number, logs: Logs): Maybe { return this.hooks.onBatchEnd?.(batch, logs); }
}

export type CallbackLike = Callback | CallbackHooks;

/** Runs callbacks in order, awaiting each (so a callback may do async work, e.g. write a file). */
export class CallbackList {
  readonly callbacks: Callback[];

  constructor(callbacks: readonly CallbackLike[] = []) {
    this.callbacks = callbacks.map((c) => (c instanceof Callback ? c : new CustomCallback(c)));
  }

  setModel(model: Model): void {
    for (const c of this.callbacks) c.setModel(model);
  }
  setParams(params: TrainingParams): void {
    for (const c of this.callbacks) c.setParams(params);
  }
  async onTrainBegin(logs: Logs = {}): Promise<void> {
    for (const c of this.callbacks) await c.onTrainBegin(logs);
  }
  async onTrainEnd(logs: Logs = {}): Promise<void> {
    for (const c of this.callbacks) await c.onTrainEnd(logs);
  }
  async onEpochBegin(epoch: number, logs: Logs = {}): Promise<void> {
    for (const c of this.callbacks) await c.onEpochBegin(epoch, logs);
  }
  async onEpochEnd(epoch: number, logs: Logs = {}): Promise<void> {
    for (const c of this.callbacks) await c.onEpochEnd(epoch, logs);
  }
  async onBatchBegin(batch: number, logs: Logs = {}): Promise<void> {
    for (const c of this.callbacks) await c.onBatchBegin(batch, logs);
  }
  async onBatchEnd(batch: number, logs: Logs = {}): Promise<void> {
    for (const c of this.callbacks) await c.onBatchEnd(batch, logs);
  }
}

/** Whether `mode` ('min' | 'max' | 'auto') means larger is better for `monitor` (Keras's rule for auto). */
export function monitorIsMax(who: string, mode: 'auto' | 'min' | 'max', monitor: string): boolean {
  if (mode === 'max') return true;
  if (mode === 'min') return false;
  if (mode !== 'auto') throw new KilnError(`${who}: mode must be 'auto', 'min' or 'max', got '${String(mode)}'`);
  return /acc|auc|precision|recall|fmeasure/.test(monitor);
}

/** The key of the i-th callback of a fit in a checkpoint's callback states: `<index>:<class name>`. */
export function callbackKey(index: number, callback: object): string {
  return `${index}:${callback.constructor.name}`;
}

/** A number as JSON keeps it: non-finite values ('Infinity', '-Infinity', 'NaN') as strings. */
export function jsonNumber(v: number): number | string {
  return Number.isFinite(v) ? v : String(v);
}

/** Field `key` of a callback's checkpoint state as a number (written by jsonNumber). */
export function stateNumber(who: string, state: CallbackState, key: string): number {
  const v = state !== null && typeof state === 'object' && !Array.isArray(state) ? state[key] : undefined;
  if (typeof v === 'number') return v;
  if (v === 'Infinity' || v === '-Infinity' || v === 'NaN') return Number(v);
  throw new KilnError(`${who}: checkpoint state field '${key}' must be a number, got ${JSON.stringify(v) ?? 'nothing'}`);
}

/** Refuse option keys outside `valid`, naming the closest valid one (a typo is never ignored). */
export function refuseUnknown(who: string, args: object, valid: readonly string[]): void {
  for (const key of Object.keys(args)) {
    if (valid.includes(key)) continue;
    const closest = [...valid].sort((a, b) => editDistance(key, a) - editDistance(key, b))[0];
    throw new KilnError(`${who}: unknown option '${key}'${closest ? ` (did you mean '${closest}'?)` : ''}; valid options: ${valid.join(', ')}`);
  }
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}
