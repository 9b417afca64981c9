/**
 * fit / evaluate / predict on a Dataset: batches stream from the dataset's iterator into the
 * same compiled training program `fit(x, y)` uses (one `train_<B>` entry per batch size, state
 * resident between steps); nothing but the current batch (and what the dataset's own transforms
 * buffer) is held. Elements are batches `{xs, ys}` or `[x, y]`, x a Tensor or an array of
 * Tensors (one per model input). A batch size first met mid-epoch (a remainder the dataset could
 * not announce) adds its entry then; a batched dataset of known size announces both up front.
 */
import { KilnError, typeToString } from '../../ir/types.js';
import type { TensorData } from '../../runtime/index.js';
import { ops, Tensor } from '../backend.js';
import { CallbackList, type CallbackLike, type Logs, type TrainingParams } from '../callbacks/callback.js';
import { History } from '../callbacks/history.js';
import { ProgbarLogger } from '../progress.js';
import type { Model } from '../engine/model.js';
import { checkData, featureOf, feeds, restoreCallbackStates, trainerOf, type Trainer } from '../engine/training.js';
import { checkKeys, countArg, Dataset } from './dataset.js';
import { fromArrays } from './arrays.js';
import type { Element } from './element.js';

export interface DatasetFitArgs {
  /** Default 1. */
  epochs?: number;
  /**
   * Batches per epoch. Without it an epoch is one pass over the dataset (which must then be
   * finite). With it, one iterator runs on across epochs, as in Keras; training stops with a
   * warning when the data runs out.
   */
  stepsPerEpoch?: number;
  /** A Dataset of batches, or [x, y] arrays (evaluated in batches of validationBatchSize). */
  validationData?: Dataset<Element> | readonly [Tensor | Tensor[], Tensor];
  /** Validation batches per epoch (default: the whole validation dataset). */
  validationSteps?: number;
  /** Batch size for [x, y] validationData. Default 32. */
  validationBatchSize?: number;
  callbacks?: CallbackLike | readonly CallbackLike[];
  /** 0: silent, 1: progress bar (totals when the size is known, counts otherwise), 2: one line per epoch. */
  verbose?: 0 | 1 | 2;
  initialEpoch?: number;
}

const FIT_KEYS = ['epochs', 'stepsPerEpoch', 'validationData', 'validationSteps', 'validationBatchSize', 'callbacks', 'verbose', 'initialEpoch'];
const ARRAY_ONLY: Record<string, string> = {
  batchSize: 'a dataset yields batches: batch it with dataset.batch(n)',
  shuffle: 'shuffle the dataset itself: dataset.shuffle(bufferSize, {seed})',
  seed: 'shuffle the dataset itself: dataset.shuffle(bufferSize, {seed})',
  validationSplit: 'split the data with take/skip and pass validationData',
};

function checkArgs(who: string, args: unknown, valid: readonly string[]): Record<string, unknown> {
  if (args !== null && typeof args === 'object') {
    for (const k of Object.keys(args)) if (ARRAY_ONLY[k]) throw new KilnError(`${who}: option '${k}' does not apply to a dataset: ${ARRAY_ONLY[k]}`);
  }
  return checkKeys(who, args, valid);
}

/** Split a batch element into x tensors and y. */
function splitBatch(who: string, e: unknown, withY: boolean): { xs: Tensor[]; y?: Tensor } {
  let x: unknown;
  let y: unknown;
  if (e instanceof Tensor) x = e;
  else if (Array.isArray(e) && e.length === 2 && withY) [x, y] = e;
  else if (e !== null && typeof e === 'object' && 'xs' in e) ({ xs: x, ys: y } = e as { xs: unknown; ys?: unknown });
  else if (Array.isArray(e) && !withY) x = e;
  else throw new KilnError(`${who}: dataset elements must be {xs, ys} or [x, y] batches${withY ? '' : ' (or x alone)'}, got ${describe(e)}`);
  const xs = x instanceof Tensor ? [x] : Array.isArray(x) && x.length > 0 && x.every((t) => t instanceof Tensor) ? (x as Tensor[]) : undefined;
  if (!xs) throw new KilnError(`${who}: a batch's x must be a Tensor or an array of Tensors, got ${describe(x)}`);
  if (withY && !(y instanceof Tensor)) throw new KilnError(`${who}: a batch's y (ys) must be a Tensor, got ${describe(y)}`);
  return withY ? { xs, y: y as Tensor } : { xs };
}

function describe(v: unknown): string {
  if (v instanceof Tensor) return typeToString(v.type);
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (v !== null && typeof v === 'object') return `an object with keys {${Object.keys(v).join(', ')}}`;
  return v === null ? 'null' : typeof v;
}

/** Refuse unbatched elements with the fix (rank one short of the model's input). */
function checkBatched(who: string, model: Model, xs: Tensor[]): void {
  if (!model.built) return;
  const inputs = model.inputs;
  xs.forEach((x, i) => {
    const want = inputs[i];
    if (want && x.rank === want.shape.length - 1) {
      throw new KilnError(`${who}: dataset element x ${typeToString(x.type)} has no batch axis (model input ${i} is [${want.shape.map((d) => d ?? 'null').join(',')}]); batch the dataset first: dataset.batch(32)`);
    }
  });
}

/** Make sure the program has the entries for batch size `b` (and the sizes `ds` announces). */
class Entries {
  private readonly train = new Set<number>();
  private readonly evals = new Set<number>();
  runner?: Awaited<ReturnType<Trainer['prepare']>>;
  constructor(private readonly trainer: Trainer) {}
  /** Announce a validation dataset's batch sizes, so the first prepare builds their entries too. */
  expectEval(data: Dataset<Element> | undefined): void {
    const info = data?.batchInfo;
    if (info) { this.evals.add(info.size); if (info.remainder) this.evals.add(info.remainder); }
  }
  async ensure(xs: Tensor[], y: Tensor, kind: 'train' | 'eval', b: number, hint?: Dataset<Element>): Promise<NonNullable<Entries['runner']>> {
    const set = kind === 'train' ? this.train : this.evals;
    if (this.runner && set.has(b)) return this.runner;
    set.add(b);
    const info = hint?.batchInfo;
    if (info) { set.add(info.size); if (info.remainder !== undefined && info.remainder > 0) set.add(info.remainder); }
    this.runner = await this.trainer.prepare(xs.map(featureOf), featureOf(y), [...this.train], [...this.evals]);
    return this.runner;
  }
}

function labelError(who: string, out: Record<string, TensorData>, trainer: Trainer, where: string): void {
  const bad = out['labels/bad'];
  if (!bad || bad[0] === 0) return;
  const value = out['labels/first_value']![0]!;
  const kind = Number.isInteger(value) ? `out of range [0, ${trainer.labelClasses})` : 'not an integer';
  throw new KilnError(`${who}: sparse label (flat index ${out['labels/first_index']![0]} of ${where}) = ${value} is ${kind}; sparse losses and metrics need integer class indices in [0, ${trainer.labelClasses})`);
}

async function evalLoop(who: string, model: Model, trainer: Trainer, entries: Entries, data: Dataset<Element>, steps?: number): Promise<Logs> {
  let out: Record<string, TensorData> | undefined;
  let step = 0;
  let reset = false;
  const it = data.iterator();
  while (steps === undefined || step < steps) {
    const r = await it.next();
    if (r.done) break;
    const { xs, y } = splitBatch(who, r.value, true);
    if (step === 0) { checkBatched(who, model, xs); checkData(who, model, xs, y!); }
    const size = xs[0]!.shape[0]!;
    const runner = await entries.ensure(xs, y!, 'eval', size, data);
    if (!reset) { trainer.resetMetrics(runner); reset = true; }
    out = runner.run(`eval_${size}`, feeds([...xs, y!].map((t) => t.dataSync() as TensorData)));
    labelError(who, out, trainer, `batch ${step}`);
    step++;
  }
  if (steps !== undefined) await it.return?.();
  if (!out) throw new KilnError(`${who}: the dataset yielded no batches`);
  return Object.fromEntries(trainer.metricNames.map((n) => [n, out![n]![0]!]));
}

export async function evaluateDataset(model: Model, data: Dataset<Element>, args?: { steps?: number }): Promise<Logs> {
  const who = `evaluate: model '${model.name}'`;
  const a = checkArgs(who, args, ['steps']);
  const steps = a['steps'] === undefined ? undefined : countArg(who, 'steps', a['steps'], 1);
  if (steps === undefined && data.cardinality === Infinity) throw new KilnError(`${who}: the dataset is endless (repeat()); pass {steps}`);
  const trainer = trainerOf('evaluate', model);
  return evalLoop(who, model, trainer, new Entries(trainer), data, steps);
}

/** predict over every batch of the dataset, outputs concatenated along the batch axis. */
export async function predictDataset(model: Model, data: Dataset<Element>, args?: { steps?: number }): Promise<Tensor | Tensor[]> {
  const who = `predict: model '${model.name}'`;
  const a = checkArgs(who, args, ['steps']);
  const steps = a['steps'] === undefined ? undefined : countArg(who, 'steps', a['steps'], 1);
  if (steps === undefined && data.cardinality === Infinity) throw new KilnError(`${who}: the dataset is endless (repeat()); pass {steps}`);
  const chunks: Tensor[][] = [];
  const it = data.iterator();
  for (let step = 0; steps === undefined || step < steps; step++) {
    const r = await it.next();
    if (r.done) break;
    const { xs } = splitBatch(who, r.value, false);
    if (step === 0) checkBatched(who, model, xs);
    const out = model.predict(xs.length === 1 ? xs[0]! : xs);
    chunks.push(Array.isArray(out) ? out : [out]);
  }
  if (steps !== undefined) await it.return?.();
  if (chunks.length === 0) throw new KilnError(`${who}: the dataset yielded no batches`);
  const outs = chunks[0]!.map((_, i) => (chunks.length === 1 ? chunks[0]![i]! : ops.concat(chunks.map((c) => c[i]!), 0)));
  return outs.length === 1 ? outs[0]! : outs;
}

export async function fitDataset(model: Model, data: Dataset<Element>, args?: DatasetFitArgs): Promise<History> {
  const who = `fit: model '${model.name}'`;
  const a = checkArgs(who, args, FIT_KEYS) as DatasetFitArgs;
  const trainer = trainerOf('fit', model);
  const epochs = a.epochs === undefined ? 1 : countArg(who, 'epochs', a.epochs, 0);
  const initialEpoch = a.initialEpoch === undefined ? 0 : countArg(who, 'initialEpoch', a.initialEpoch, 0);
  const stepsPerEpoch = a.stepsPerEpoch === undefined ? undefined : countArg(who, 'stepsPerEpoch', a.stepsPerEpoch, 1);
  const verbose = a.verbose ?? 1;
  if (verbose !== 0 && verbose !== 1 && verbose !== 2) throw new KilnError(`${who}: verbose must be 0, 1 or 2, got ${String(verbose)}`);
  if (!(data instanceof Dataset)) throw new KilnError(`${who}: expects a kiln.data Dataset, got ${describe(data)}`);
  if (stepsPerEpoch === undefined && data.cardinality === Infinity) {
    throw new KilnError(`${who}: the dataset is endless (repeat() without a count); pass stepsPerEpoch to say how many batches make an epoch`);
  }
  let val: Dataset<Element> | undefined;
  const vd = a.validationData as unknown;
  if (vd instanceof Dataset) val = vd as Dataset<Element>;
  else if (Array.isArray(vd) && vd.length === 2) {
    const vb = a.validationBatchSize === undefined ? 32 : countArg(who, 'validationBatchSize', a.validationBatchSize, 1);
    val = fromArrays({ xs: vd[0] as Tensor | Tensor[], ys: vd[1] as Tensor }).batch(vb);
  } else if (vd !== undefined) throw new KilnError(`${who}: validationData must be a Dataset of batches or [x, y], got ${describe(vd)}`);
  const validationSteps = a.validationSteps === undefined ? undefined : countArg(who, 'validationSteps', a.validationSteps, 1);
  if (val && validationSteps === undefined && val.cardinality === Infinity) throw new KilnError(`${who}: validationData is endless (repeat()); pass validationSteps`);

  const known = data.cardinality;
  const steps = stepsPerEpoch ?? (known !== undefined && known !== Infinity ? known : undefined);
  const history = new History();
  const userCallbacks = a.callbacks === undefined ? [] : Array.isArray(a.callbacks) ? a.callbacks : [a.callbacks as CallbackLike];
  const cbs = new CallbackList([history, ...userCallbacks, ...(verbose > 0 ? [new ProgbarLogger()] : [])]);
  const names = trainer.metricNames;
  const info = data.batchInfo;
  const params: TrainingParams = {
    epochs, initialEpoch, steps, samples: info && steps !== undefined && !stepsPerEpoch ? (steps - 1) * info.size + (info.remainder ?? info.size) : undefined,
    batchSize: info?.size, verbose, doValidation: val !== undefined,
    metrics: [...names, ...(val ? names.map((m) => `val_${m}`) : [])],
  };
  cbs.setModel(model);
  cbs.setParams(params);
  model.stopTraining = false;
  const entries = new Entries(trainer);
  entries.expectEval(val);
  let it = stepsPerEpoch !== undefined ? data.iterator() : undefined;
  let nanWarned = false;
  await cbs.onTrainBegin();
  restoreCallbackStates(cbs.callbacks, trainer);
  let ranOut = false;
  for (let epoch = initialEpoch; epoch < epochs && !model.stopTraining && !ranOut; epoch++) {
    await cbs.onEpochBegin(epoch);
    if (stepsPerEpoch === undefined) { await it?.return?.(); it = data.iterator(); }
    let out: Record<string, TensorData> | undefined;
    let reset = false;
    for (let step = 0; stepsPerEpoch === undefined || step < stepsPerEpoch; step++) {
      const r = await it!.next();
      if (r.done) {
        if (stepsPerEpoch !== undefined) {
          console.warn(`${who}: the dataset ran out of data after ${step} of ${stepsPerEpoch} steps of epoch ${epoch + 1}; training stops (make it long enough for epochs * stepsPerEpoch batches, e.g. with repeat())`);
          ranOut = true;
        }
        break;
      }
      const { xs, y } = splitBatch(who, r.value, true);
      if (step === 0 && epoch === initialEpoch) { checkBatched(who, model, xs); checkData(who, model, xs, y!); }
      const size = xs[0]!.shape[0]!;
      const runner = await entries.ensure(xs, y!, 'train', size, data);
      if (!reset) { trainer.resetMetrics(runner); reset = true; }
      await cbs.onBatchBegin(step, { batch: step, size });
      trainer.pushChanged();
      out = runner.run(`train_${size}`, feeds([...xs, y!].map((t) => t.dataSync() as TensorData)));
      trainer.markDirty();
      labelError(who, out, trainer, `batch ${step} of epoch ${epoch + 1}`);
      const logs: Logs = { batch: step, size };
      for (const m of names) logs[m] = out[m]![0]!;
      if (!nanWarned && !Number.isFinite(logs.loss!)) {
        nanWarned = true;
        console.warn(`${who}: the loss became ${logs.loss} at batch ${step} of epoch ${epoch + 1}; check the data for NaN/Infinity or lower the learning rate`);
      }
      await cbs.onBatchEnd(step, logs);
      if (model.stopTraining) break;
    }
    if (!out) {
      if (ranOut) break;
      throw new KilnError(`${who}: the dataset yielded no batches in epoch ${epoch + 1}`);
    }
    const epochLogs: Logs = Object.fromEntries(names.map((m) => [m, out![`running/${m}`]![0]!]));
    if (val) {
      const v = await evalLoop(`${who} (validationData)`, model, trainer, entries, val, validationSteps);
      for (const m of names) epochLogs[`val_${m}`] = v[m]!;
    }
    trainer.sync();
    await cbs.onEpochEnd(epoch, epochLogs);
  }
  // Close an iterator left mid-way (stepsPerEpoch, EarlyStopping): its generator's finally blocks run.
  await it?.return?.();
  trainer.sync();
  await cbs.onTrainEnd();
  return history;
}
