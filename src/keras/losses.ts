/**
 * Keras losses written in frontend ops, so they trace into the compiled training step. A Loss
 * is callable as `loss(yTrue, yPred)` and returns the f32 scalar Keras reports by default
 * (reduction 'sum_over_batch_size': the mean of the per-sample losses); `perSample` gives the
 * per-sample values (the last axis reduced) for sample weighting. Probabilities are clipped to
 * [1e-7, 1 - 1e-7] as Keras does; with `fromLogits` the stable log-softmax / softplus forms are
 * used instead. Names follow tfjs-layers and Keras ('mse', 'meanSquaredError',
 * 'mean_squared_error', ...), resolved by `getLoss`.
 */
import { KilnError, shapesEqual } from '../ir/types.js';
import { ops, Tensor } from './backend.js';

/** Keras `backend.epsilon()`, also tfjs-layers' clipping epsilon. */
export const EPSILON = 1e-7;

export type LossConfig = Record<string, number | boolean | string>;

export interface Loss {
  /** The mean per-sample loss over the batch, an f32 scalar. */
  (yTrue: Tensor, yPred: Tensor): Tensor;
  /** Keras snake_case name, e.g. 'categorical_crossentropy'. */
  readonly lossName: string;
  /** Keras class name, e.g. 'CategoricalCrossentropy'. */
  readonly className: string;
  /** Per-sample losses: shape yPred.shape without the last axis (rank-1 predictions stay as they are). */
  perSample(yTrue: Tensor, yPred: Tensor): Tensor;
  getConfig(): LossConfig;
}

function makeLoss(className: string, lossName: string, config: LossConfig, perSample: (yTrue: Tensor, yPred: Tensor) => Tensor): Loss {
  const call = (yTrue: Tensor, yPred: Tensor): Tensor => {
    checkTensors(lossName, yTrue, yPred);
    return ops.mean(perSample(yTrue, yPred));
  };
  const loss = call as Loss;
  Object.defineProperty(loss, 'name', { value: lossName });
  return Object.assign(loss, {
    lossName,
    className,
    perSample: (yTrue: Tensor, yPred: Tensor) => {
      checkTensors(lossName, yTrue, yPred);
      return perSample(yTrue, yPred);
    },
    getConfig: () => ({ name: lossName, reduction: 'sum_over_batch_size', ...config }),
  });
}

function checkTensors(loss: string, yTrue: unknown, yPred: unknown): void {
  if (!(yTrue instanceof Tensor) || !(yPred instanceof Tensor)) {
    throw new KilnError(`${loss}: expected (yTrue, yPred) Tensors, got (${typeof yTrue}, ${typeof yPred})`);
  }
  if (yPred.dtype !== 'f32' && yPred.dtype !== 'f16' && yPred.dtype !== 'bf16') {
    throw new KilnError(`${loss}: predictions must be floating point, got yPred ${yPred.describe()}`);
  }
}

/**
 * yTrue in yPred's dtype and shape: like Keras's squeeze_or_expand_to_same_rank, a trailing
 * size-1 axis on one side only is added or dropped; any other shape difference is an error.
 */
function alignTargets(loss: string, yTrue: Tensor, yPred: Tensor): Tensor {
  let t = yTrue;
  if (t.rank === yPred.rank - 1 && yPred.shape[yPred.rank - 1] === 1) t = ops.expandDims(t, -1);
  else if (t.rank === yPred.rank + 1 && t.shape[t.rank - 1] === 1) t = ops.squeeze(t, -1);
  if (!shapesEqual(t.shape, yPred.shape)) {
    throw new KilnError(`${loss}: yTrue ${yTrue.describe()} and yPred ${yPred.describe()} have different shapes; they must match`);
  }
  return t.dtype === yPred.dtype ? t : ops.cast(t, yPred.dtype);
}

/** Mean over the last axis (per sample); rank 0/1 inputs are already per sample. */
function meanLast(x: Tensor): Tensor {
  return x.rank <= 1 ? x : ops.mean(x, -1);
}

function requireClasses(loss: string, yPred: Tensor): void {
  if (yPred.rank < 1) throw new KilnError(`${loss}: yPred must have a class axis (last), got ${yPred.describe()}`);
}

// ---------------------------------------------------------------------------------------------
// Regression losses

export function meanSquaredError(): Loss {
  return makeLoss('MeanSquaredError', 'mean_squared_error', {}, (yTrue, yPred) =>
    meanLast(ops.squaredDifference(yPred, alignTargets('mean_squared_error', yTrue, yPred))));
}

export function meanAbsoluteError(): Loss {
  return makeLoss('MeanAbsoluteError', 'mean_absolute_error', {}, (yTrue, yPred) =>
    meanLast(ops.abs(ops.sub(yPred, alignTargets('mean_absolute_error', yTrue, yPred)))));
}

export interface HuberArgs {
  /** Where the loss changes from quadratic to linear; default 1. */
  delta?: number;
}

/** 0.5 e^2 where |e| <= delta, else delta (|e| - 0.5 delta); mean over the last axis. */
export function huber(args: HuberArgs = {}): Loss {
  const delta = args.delta ?? 1;
  if (!(Number.isFinite(delta) && delta > 0)) throw new KilnError(`huber: delta must be a positive number, got ${delta}`);
  return makeLoss('Huber', 'huber', { delta }, (yTrue, yPred) => {
    const err = ops.abs(ops.sub(yPred, alignTargets('huber', yTrue, yPred)));
    const quadratic = ops.mul(ops.square(err), 0.5);
    const linear = ops.sub(ops.mul(err, delta), 0.5 * delta * delta);
    return meanLast(ops.where(ops.lessEqual(err, delta), quadratic, linear));
  });
}

// ---------------------------------------------------------------------------------------------
// Cross-entropies

export interface CrossentropyArgs {
  /** yPred holds logits rather than probabilities; default false. */
  fromLogits?: boolean;
  /** Blend the targets towards uniform: y (1 - s) + s / K (K = 2 for binary); default 0. */
  labelSmoothing?: number;
}

function smoothing(loss: string, s: number | undefined): number {
  const v = s ?? 0;
  if (!(v >= 0 && v <= 1)) throw new KilnError(`${loss}: labelSmoothing must be in [0, 1], got ${v}`);
  return v;
}

/** Elementwise binary crossentropy of probabilities (clipped) or logits (stable softplus form). */
function binaryCrossentropyElems(target: Tensor, output: Tensor, fromLogits: boolean): Tensor {
  if (fromLogits) {
    // max(x, 0) - x z + log(1 + exp(-|x|)): never exponentiates a large positive number.
    return ops.add(ops.sub(ops.relu(output), ops.mul(output, target)), ops.log1p(ops.exp(ops.neg(ops.abs(output)))));
  }
  const p = ops.clipByValue(output, EPSILON, 1 - EPSILON);
  const ll = ops.add(ops.mul(target, ops.log(p)), ops.mul(ops.sub(1, target), ops.log(ops.sub(1, p))));
  return ops.neg(ll);
}

export function binaryCrossentropy(args: CrossentropyArgs = {}): Loss {
  const fromLogits = args.fromLogits ?? false;
  const ls = smoothing('binary_crossentropy', args.labelSmoothing);
  return makeLoss('BinaryCrossentropy', 'binary_crossentropy', { from_logits: fromLogits, label_smoothing: ls }, (yTrue, yPred) => {
    let t = alignTargets('binary_crossentropy', yTrue, yPred);
    if (ls > 0) t = ops.add(ops.mul(t, 1 - ls), 0.5 * ls);
    return meanLast(binaryCrossentropyElems(t, yPred, fromLogits));
  });
}

/** -sum(target * log p) over the last axis, p from logits via logSoftmax or renormalized and clipped. */
function categoricalCrossentropyCore(target: Tensor, output: Tensor, fromLogits: boolean): Tensor {
  let logP: Tensor;
  if (fromLogits) {
    logP = ops.logSoftmax(output, -1);
  } else {
    const p = ops.div(output, ops.sum(output, -1, true));
    logP = ops.log(ops.clipByValue(p, EPSILON, 1 - EPSILON));
  }
  return ops.neg(ops.sum(ops.mul(target, logP), -1));
}

export function categoricalCrossentropy(args: CrossentropyArgs = {}): Loss {
  const fromLogits = args.fromLogits ?? false;
  const ls = smoothing('categorical_crossentropy', args.labelSmoothing);
  return makeLoss('CategoricalCrossentropy', 'categorical_crossentropy', { from_logits: fromLogits, label_smoothing: ls }, (yTrue, yPred) => {
    requireClasses('categorical_crossentropy', yPred);
    if (!shapesEqual(yTrue.shape, yPred.shape)) {
      const hint = yTrue.rank === yPred.rank - 1 || yTrue.shape[yTrue.rank - 1] === 1
        ? '; for integer class labels use sparse_categorical_crossentropy' : '';
      throw new KilnError(`categorical_crossentropy: yTrue ${yTrue.describe()} and yPred ${yPred.describe()} must have the same shape (one-hot targets)${hint}`);
    }
    let t = yTrue.dtype === yPred.dtype ? yTrue : ops.cast(yTrue, yPred.dtype);
    if (ls > 0) t = ops.add(ops.mul(t, 1 - ls), ls / yPred.shape[yPred.rank - 1]!);
    return categoricalCrossentropyCore(t, yPred, fromLogits);
  });
}

export interface SparseCrossentropyArgs {
  fromLogits?: boolean;
}

/**
 * Integer class labels (i32, or floats holding integers) of shape yPred.shape[:-1], or with a
 * trailing 1. Labels are one-hot encoded in the graph; fit/evaluate refuse labels that are not
 * integers in [0, classes) (checked inside the compiled step, see sparseLabels).
 */
export function sparseCategoricalCrossentropy(args: SparseCrossentropyArgs = {}): Loss {
  const fromLogits = args.fromLogits ?? false;
  const name = 'sparse_categorical_crossentropy';
  return makeLoss('SparseCategoricalCrossentropy', name, { from_logits: fromLogits }, (yTrue, yPred) => {
    requireClasses(name, yPred);
    const oneHot = sparseToOneHot(name, yTrue, yPred);
    return categoricalCrossentropyCore(oneHot, yPred, fromLogits);
  });
}

/** Integer labels -> one-hot targets in yPred's dtype and shape (shared with the sparse metrics). */
export function sparseToOneHot(op: string, yTrue: Tensor, yPred: Tensor): Tensor {
  const labels = sparseLabels(op, yTrue, yPred);
  return ops.oneHot(labels, yPred.shape[yPred.rank - 1]!, 1, 0, yPred.dtype);
}

/** Class counts of the sparse labels met while `watchSparseLabels` runs (a training step's trace). */
let sparseClasses: number[] | undefined;

/**
 * Run `f` (which traces a training or evaluation step) and report the number of classes of the
 * sparse labels any loss or metric decoded in it, so the step can check its labels are integers
 * in [0, classes) (a compiled step cannot throw; training.ts adds the check as outputs).
 */
export function watchSparseLabels<T>(f: () => T): { result: T; classes?: number } {
  const outer = sparseClasses;
  sparseClasses = [];
  try {
    const result = f();
    const seen = sparseClasses;
    return seen.length ? { result, classes: Math.min(...seen) } : { result };
  } finally {
    sparseClasses = outer;
  }
}

/** The class count of the sparse labels met so far inside watchSparseLabels (undefined if none). */
export function sparseClassesSeen(): number | undefined {
  return sparseClasses?.length ? Math.min(...sparseClasses) : undefined;
}

/**
 * Integer labels as i32 of shape yPred.shape[:-1] (a trailing size-1 axis is dropped). Float
 * labels are accepted when they hold integers (tfjs users pass float32 labels; tfjs floors 2.5 to
 * 2 silently, Kiln refuses it); fit and evaluate check in the compiled step that every label is an
 * integer in [0, classes) and throw naming the first offending sample and value. Outside fit nothing checks: an out-of-range label then gives
 * an all-zero one-hot row.
 */
export function sparseLabels(op: string, yTrue: Tensor, yPred: Tensor): Tensor {
  sparseClasses?.push(yPred.shape[yPred.rank - 1]!);
  let labels = yTrue;
  if (labels.rank === yPred.rank && labels.shape[labels.rank - 1] === 1) labels = ops.squeeze(labels, -1);
  const expected = yPred.shape.slice(0, -1);
  if (!shapesEqual(labels.shape, expected)) {
    throw new KilnError(
      `${op}: yTrue ${yTrue.describe()} must hold one integer label per sample, shape [${expected.join(',')}] or [${[...expected, 1].join(',')}], for yPred ${yPred.describe()}`,
    );
  }
  if (labels.dtype === 'i32') return labels;
  if (labels.dtype === 'bool') throw new KilnError(`${op}: labels must be integers, got yTrue ${yTrue.describe()}`);
  // Float labels hold integers; round so 2.9999999 does not become class 2.
  return ops.cast(ops.round(labels), 'i32');
}

// ---------------------------------------------------------------------------------------------
// Names

type LossFactory = (config: LossConfig) => Loss;

const bool = (c: LossConfig, k: string, camel: string): boolean | undefined => {
  const v = c[k] ?? c[camel];
  return v === undefined ? undefined : v === true;
};
const num = (c: LossConfig, k: string, camel: string): number | undefined => {
  const v = c[k] ?? c[camel];
  return typeof v === 'number' ? v : undefined;
};

const factories: Record<string, LossFactory> = {
  mean_squared_error: () => meanSquaredError(),
  mean_absolute_error: () => meanAbsoluteError(),
  huber: (c) => huber({ delta: num(c, 'delta', 'delta') }),
  binary_crossentropy: (c) => binaryCrossentropy({ fromLogits: bool(c, 'from_logits', 'fromLogits'), labelSmoothing: num(c, 'label_smoothing', 'labelSmoothing') }),
  categorical_crossentropy: (c) => categoricalCrossentropy({ fromLogits: bool(c, 'from_logits', 'fromLogits'), labelSmoothing: num(c, 'label_smoothing', 'labelSmoothing') }),
  sparse_categorical_crossentropy: (c) => sparseCategoricalCrossentropy({ fromLogits: bool(c, 'from_logits', 'fromLogits') }),
};

/** Every accepted spelling -> canonical snake_case name. */
const aliases: Record<string, string> = {
  mse: 'mean_squared_error', MSE: 'mean_squared_error', meanSquaredError: 'mean_squared_error', MeanSquaredError: 'mean_squared_error',
  mae: 'mean_absolute_error', MAE: 'mean_absolute_error', meanAbsoluteError: 'mean_absolute_error', MeanAbsoluteError: 'mean_absolute_error',
  Huber: 'huber', huber_loss: 'huber', huberLoss: 'huber',
  binaryCrossentropy: 'binary_crossentropy', BinaryCrossentropy: 'binary_crossentropy',
  categoricalCrossentropy: 'categorical_crossentropy', CategoricalCrossentropy: 'categorical_crossentropy',
  sparseCategoricalCrossentropy: 'sparse_categorical_crossentropy', SparseCategoricalCrossentropy: 'sparse_categorical_crossentropy',
};

/** The canonical names, for messages. */
export const lossNames: readonly string[] = Object.keys(factories);

/** The canonical snake_case name of a loss spelling, or undefined when unknown. */
export function canonicalLossName(name: string): string | undefined {
  return factories[name] ? name : aliases[name];
}

export interface SerializedLoss {
  class_name: string;
  config: LossConfig;
}

export type LossIdentifier = string | Loss | SerializedLoss;

/** A Loss from a name ('mse', 'categoricalCrossentropy', ...), a Loss, or {class_name, config}. */
export function getLoss(id: LossIdentifier): Loss {
  if (typeof id === 'function') {
    if (typeof (id as Partial<Loss>).perSample !== 'function') {
      throw new KilnError(`getLoss: a custom loss function must be wrapped as a Loss (use kiln.losses.customLoss(name, fn)), got function '${id.name}'`);
    }
    return id;
  }
  if (typeof id === 'string') {
    const canon = canonicalLossName(id);
    if (!canon) throw new KilnError(`unknown loss '${id}'; valid: ${lossNames.join(', ')} (or mse, mae, and camelCase spellings)`);
    return factories[canon]!({});
  }
  if (id !== null && typeof id === 'object' && typeof id.class_name === 'string') {
    const canon = canonicalLossName(id.class_name);
    if (!canon) throw new KilnError(`unknown loss class '${id.class_name}'; valid: ${lossNames.join(', ')}`);
    return factories[canon]!(id.config ?? {});
  }
  throw new KilnError(`getLoss: expected a loss name, a Loss or {class_name, config}, got ${JSON.stringify(id)}`);
}

/** Keras serialized form: {class_name, config}. */
export function serializeLoss(loss: Loss): SerializedLoss {
  return { class_name: loss.className, config: loss.getConfig() };
}

/**
 * Wrap a per-sample loss function (yTrue, yPred) -> per-sample tensor written in Kiln ops as a
 * Loss (its call averages over all elements, like Keras's default reduction).
 */
export function customLoss(name: string, perSample: (yTrue: Tensor, yPred: Tensor) => Tensor): Loss {
  return makeLoss(name, name, {}, perSample);
}
