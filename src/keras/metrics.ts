/**
 * Keras stateful metrics in functional form, written in frontend ops so their updates trace into
 * the compiled training step. A metric's state is explicit: `init()` gives [total, count] (f32
 * scalars, named by `stateNames()`), `update(state, yTrue, yPred)` returns the new state, and
 * `result(state)` is total / count (0 before any update, like Keras's divide_no_nan). As in
 * Keras's MeanMetricWrapper, each batch adds the sum of its per-sample values to total and its
 * number of samples to count, so the result is the mean over every sample seen, whatever the
 * batch sizes. 'accuracy' picks binary, categorical or sparse accuracy from the loss (as
 * tfjs-layers does) or else from the shapes (as Keras 3 does).
 */
import { KilnError } from '../ir/types.js';
import { ops, Tensor } from './backend.js';
import { canonicalLossName, sparseLabels, type Loss } from './losses.js';

export type MetricState = Tensor[];
export type MetricConfig = Record<string, number | string>;

export interface Metric {
  /** The name reported in logs ('accuracy', 'mse', ...). */
  readonly name: string;
  /** Keras class name, e.g. 'BinaryAccuracy'. */
  readonly className: string;
  init(): MetricState;
  update(state: MetricState, yTrue: Tensor, yPred: Tensor): MetricState;
  result(state: MetricState): Tensor;
  /** A fresh state (the same as init: state is a value, there is nothing to mutate). */
  reset(): MetricState;
  /** Names of the state tensors, e.g. ['accuracy/total', 'accuracy/count']. */
  stateNames(): string[];
  getConfig(): MetricConfig;
}

/**
 * A running mean of values (Keras `metrics.Mean`): `accumulate` adds per-sample values; values
 * of rank > 1 are first averaged per sample (over all axes but the first).
 */
export class Mean {
  readonly name: string;
  readonly className: string = 'Mean';

  constructor(name = 'mean') {
    this.name = name;
  }

  init(): MetricState {
    return [ops.scalar(0, 'f32'), ops.scalar(0, 'f32')];
  }

  reset(): MetricState {
    return this.init();
  }

  stateNames(): string[] {
    return [`${this.name}/total`, `${this.name}/count`];
  }

  accumulate(state: MetricState, values: Tensor): MetricState {
    this.checkState(state);
    let v = values.dtype === 'f32' ? values : ops.cast(values, 'f32');
    if (v.rank > 1) v = ops.mean(v, v.shape.slice(1).map((_, i) => i + 1));
    const count = v.rank === 0 ? 1 : v.shape[0]!;
    return [ops.add(state[0]!, ops.sum(v)), ops.add(state[1]!, count)];
  }

  result(state: MetricState): Tensor {
    this.checkState(state);
    const [total, count] = state as [Tensor, Tensor];
    const some = ops.greater(count, 0);
    return ops.where(some, ops.div(total, ops.where(some, count, 1)), 0);
  }

  getConfig(): MetricConfig {
    return { name: this.name, dtype: 'float32' };
  }

  protected checkState(state: MetricState): void {
    if (!Array.isArray(state) || state.length !== 2 || !state.every((t) => t instanceof Tensor && t.rank === 0)) {
      throw new KilnError(`metric '${this.name}': state must be [total, count] scalars from init(), got ${describeState(state)}`);
    }
  }
}

function describeState(state: unknown): string {
  if (!Array.isArray(state)) return typeof state;
  return `[${state.map((t) => (t instanceof Tensor ? t.describe() : typeof t)).join(', ')}]`;
}

/** A metric whose per-sample values come from `values(yTrue, yPred)` (Keras MeanMetricWrapper). */
export class MeanMetricWrapper extends Mean implements Metric {
  override readonly className: string;
  private readonly values: (yTrue: Tensor, yPred: Tensor) => Tensor;
  private readonly config: MetricConfig;

  constructor(name: string, className: string, values: (yTrue: Tensor, yPred: Tensor) => Tensor, config: MetricConfig = {}) {
    super(name);
    this.className = className;
    this.values = values;
    this.config = config;
  }

  update(state: MetricState, yTrue: Tensor, yPred: Tensor): MetricState {
    if (!(yTrue instanceof Tensor) || !(yPred instanceof Tensor)) {
      throw new KilnError(`metric '${this.name}': expected (state, yTrue, yPred) with Tensors, got (${typeof yTrue}, ${typeof yPred})`);
    }
    return this.accumulate(state, this.values(yTrue, yPred));
  }

  /** The per-sample values of one batch (what update accumulates). */
  batchValues(yTrue: Tensor, yPred: Tensor): Tensor {
    return this.values(yTrue, yPred);
  }

  override getConfig(): MetricConfig {
    return { ...super.getConfig(), ...this.config };
  }
}

function sameShape(metric: string, yTrue: Tensor, yPred: Tensor): Tensor {
  let t = yTrue;
  if (t.rank === yPred.rank - 1 && yPred.shape[yPred.rank - 1] === 1) t = ops.expandDims(t, -1);
  else if (t.rank === yPred.rank + 1 && t.shape[t.rank - 1] === 1) t = ops.squeeze(t, -1);
  if (t.shape.length !== yPred.shape.length || t.shape.some((d, i) => d !== yPred.shape[i])) {
    throw new KilnError(`${metric}: yTrue ${yTrue.describe()} and yPred ${yPred.describe()} have different shapes; they must match`);
  }
  return t.dtype === yPred.dtype ? t : ops.cast(t, yPred.dtype);
}

function meanLast(x: Tensor): Tensor {
  return x.rank <= 1 ? x : ops.mean(x, -1);
}

const asF32 = (b: Tensor): Tensor => ops.cast(b, 'f32');

// ---------------------------------------------------------------------------------------------
// Value functions (per sample)

function binaryAccuracyValues(threshold: number) {
  return (yTrue: Tensor, yPred: Tensor): Tensor => {
    const t = sameShape('binary_accuracy', yTrue, yPred);
    const predicted = ops.cast(ops.greater(yPred, threshold), yPred.dtype);
    return meanLast(asF32(ops.equal(t, predicted)));
  };
}

function categoricalAccuracyValues(yTrue: Tensor, yPred: Tensor): Tensor {
  if (yPred.rank < 1 || yTrue.shape.length !== yPred.shape.length || yTrue.shape.some((d, i) => d !== yPred.shape[i])) {
    throw new KilnError(
      `categorical_accuracy: yTrue ${yTrue.describe()} must be one-hot with the shape of yPred ${yPred.describe()}; for integer labels use sparse_categorical_accuracy`,
    );
  }
  return asF32(ops.equal(ops.argMax(yTrue, -1), ops.argMax(yPred, -1)));
}

function sparseCategoricalAccuracyValues(yTrue: Tensor, yPred: Tensor): Tensor {
  if (yPred.rank < 1) throw new KilnError(`sparse_categorical_accuracy: yPred must have a class axis, got ${yPred.describe()}`);
  const labels = sparseLabels('sparse_categorical_accuracy', yTrue, yPred);
  return asF32(ops.equal(labels, ops.argMax(yPred, -1)));
}

function squaredErrorValues(yTrue: Tensor, yPred: Tensor): Tensor {
  return meanLast(ops.squaredDifference(yPred, sameShape('mean_squared_error', yTrue, yPred)));
}

function absoluteErrorValues(yTrue: Tensor, yPred: Tensor): Tensor {
  return meanLast(ops.abs(ops.sub(yPred, sameShape('mean_absolute_error', yTrue, yPred))));
}

// ---------------------------------------------------------------------------------------------
// Factories

export interface NamedMetricArgs {
  name?: string;
}

export interface BinaryAccuracyArgs extends NamedMetricArgs {
  /** Predictions above it count as 1; default 0.5. */
  threshold?: number;
}

export function binaryAccuracy(args: BinaryAccuracyArgs = {}): MeanMetricWrapper {
  const threshold = args.threshold ?? 0.5;
  return new MeanMetricWrapper(args.name ?? 'binary_accuracy', 'BinaryAccuracy', binaryAccuracyValues(threshold), { threshold });
}

export function categoricalAccuracy(args: NamedMetricArgs = {}): MeanMetricWrapper {
  return new MeanMetricWrapper(args.name ?? 'categorical_accuracy', 'CategoricalAccuracy', categoricalAccuracyValues);
}

export function sparseCategoricalAccuracy(args: NamedMetricArgs = {}): MeanMetricWrapper {
  return new MeanMetricWrapper(args.name ?? 'sparse_categorical_accuracy', 'SparseCategoricalAccuracy', sparseCategoricalAccuracyValues);
}

export function meanSquaredError(args: NamedMetricArgs = {}): MeanMetricWrapper {
  return new MeanMetricWrapper(args.name ?? 'mean_squared_error', 'MeanSquaredError', squaredErrorValues);
}

export function meanAbsoluteError(args: NamedMetricArgs = {}): MeanMetricWrapper {
  return new MeanMetricWrapper(args.name ?? 'mean_absolute_error', 'MeanAbsoluteError', absoluteErrorValues);
}

export const mse = meanSquaredError;
export const mae = meanAbsoluteError;

export type AccuracyKind = 'binary' | 'categorical' | 'sparse';

/**
 * Which accuracy 'accuracy' means. A crossentropy loss decides as in tfjs-layers (binary ->
 * binary, sparse categorical -> sparse); otherwise the shapes decide as in Keras 3: one output
 * unit -> binary; labels with one fewer axis, or a trailing 1 against several classes -> sparse;
 * else categorical.
 */
export function inferAccuracyKind(yTrue: Tensor, yPred: Tensor, loss?: string | Loss): AccuracyKind {
  const lossName = loss === undefined ? undefined : canonicalLossName(typeof loss === 'string' ? loss : loss.lossName);
  if (lossName === 'binary_crossentropy') return 'binary';
  if (lossName === 'sparse_categorical_crossentropy') return 'sparse';
  if (lossName === 'categorical_crossentropy') return 'categorical';
  const units = yPred.rank === 0 ? 1 : yPred.shape[yPred.rank - 1]!;
  if (units === 1 || yPred.rank <= 1) return 'binary';
  if (yTrue.rank === yPred.rank - 1 || (yTrue.rank === yPred.rank && yTrue.shape[yTrue.rank - 1] === 1)) return 'sparse';
  return 'categorical';
}

export interface AccuracyArgs extends NamedMetricArgs {
  /** The model's loss, which decides the kind of accuracy when it is a crossentropy. */
  loss?: string | Loss;
  /** Threshold when the accuracy turns out binary; default 0.5. */
  threshold?: number;
}

/** Keras 'accuracy': binary, categorical or sparse, decided per traced signature (shapes are static). */
export function accuracy(args: AccuracyArgs = {}): MeanMetricWrapper {
  const binary = binaryAccuracyValues(args.threshold ?? 0.5);
  const values = (yTrue: Tensor, yPred: Tensor): Tensor => {
    switch (inferAccuracyKind(yTrue, yPred, args.loss)) {
      case 'binary': return binary(yTrue, yPred);
      case 'sparse': return sparseCategoricalAccuracyValues(yTrue, yPred);
      default: return categoricalAccuracyValues(yTrue, yPred);
    }
  };
  return new MeanMetricWrapper(args.name ?? 'accuracy', 'Accuracy', values);
}

// ---------------------------------------------------------------------------------------------
// Names

type MetricFactory = (args: { name?: string; loss?: string | Loss }) => MeanMetricWrapper;

const factories: Record<string, MetricFactory> = {
  accuracy: (a) => accuracy(a),
  binary_accuracy: (a) => binaryAccuracy({ name: a.name }),
  categorical_accuracy: (a) => categoricalAccuracy({ name: a.name }),
  sparse_categorical_accuracy: (a) => sparseCategoricalAccuracy({ name: a.name }),
  mean_squared_error: (a) => meanSquaredError({ name: a.name }),
  mean_absolute_error: (a) => meanAbsoluteError({ name: a.name }),
};

const aliases: Record<string, string> = {
  acc: 'accuracy', Accuracy: 'accuracy',
  binaryAccuracy: 'binary_accuracy', BinaryAccuracy: 'binary_accuracy',
  categoricalAccuracy: 'categorical_accuracy', CategoricalAccuracy: 'categorical_accuracy',
  sparseCategoricalAccuracy: 'sparse_categorical_accuracy', SparseCategoricalAccuracy: 'sparse_categorical_accuracy',
  mse: 'mean_squared_error', MSE: 'mean_squared_error', meanSquaredError: 'mean_squared_error', MeanSquaredError: 'mean_squared_error',
  mae: 'mean_absolute_error', MAE: 'mean_absolute_error', meanAbsoluteError: 'mean_absolute_error', MeanAbsoluteError: 'mean_absolute_error',
};

export const metricNames: readonly string[] = Object.keys(factories);

export type MetricIdentifier = string | Metric;

/**
 * A Metric from a name ('accuracy', 'acc', 'mse', 'binaryAccuracy', ...) or a Metric (returned
 * as is). A string keeps its spelling as the metric's name, as tfjs-layers reports it in logs;
 * `loss` lets 'accuracy' follow the model's loss.
 */
export function getMetric(id: MetricIdentifier, opts: { loss?: string | Loss } = {}): Metric {
  if (typeof id === 'string') {
    const canon = factories[id] ? id : aliases[id];
    if (!canon) throw new KilnError(`unknown metric '${id}'; valid: ${metricNames.join(', ')} (or acc, mse, mae, and camelCase spellings)`);
    return factories[canon]!({ name: id, loss: opts.loss });
  }
  if (id !== null && typeof id === 'object' && typeof (id as Metric).update === 'function' && typeof (id as Metric).result === 'function') return id;
  throw new KilnError(`getMetric: expected a metric name (${metricNames.join(', ')}) or a Metric, got ${JSON.stringify(id)}`);
}
