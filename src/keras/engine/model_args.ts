/**
 * Argument checks for a model's public entries (`predict`, `fit`, `evaluate`, `compile`), so a
 * wrong call ends in a KilnError naming the entry, the model, the argument, what was expected and
 * what came, never in a TypeError deep inside. Data follows tfjs-layers: x is a Tensor or an array
 * of Tensors (one per input), y a Tensor (or a one-element array of it); typed arrays, nested
 * arrays and null are refused (tfjs-layers refuses them too) with the way to make a tensor.
 * Options objects are closed: an unknown key is refused with the closest valid name. The valid
 * keys are tables the type checker keeps equal to the option interfaces.
 */
import { KilnError } from '../../ir/types.js';
import { describe } from '../../runtime/args.js';
import { Tensor } from '../backend.js';
import { suggestion } from '../layers/args.js';
import type { PredictArgs } from './model.js';
import type { ModelCompileArgs, ModelEvaluateArgs, ModelFitArgs } from './training.js';

const PREDICT_KEYS = { batchSize: true } as const satisfies Record<keyof PredictArgs, true>;
const EVALUATE_KEYS = { batchSize: true } as const satisfies Record<keyof ModelEvaluateArgs, true>;
const COMPILE_KEYS = { optimizer: true, loss: true, metrics: true, runEagerly: true, device: true } as const satisfies Record<keyof ModelCompileArgs, true>;
const FIT_KEYS = {
  epochs: true, batchSize: true, validationSplit: true, validationData: true, shuffle: true, seed: true,
  callbacks: true, verbose: true, initialEpoch: true,
} as const satisfies Record<keyof ModelFitArgs, true>;

/** tfjs-layers options Kiln does not implement: named as such rather than as typos. */
const TFJS_ONLY = new Set([
  'classWeight', 'sampleWeight', 'stepsPerEpoch', 'validationSteps', 'validationBatchSize', 'validationFreq', 'yieldEvery', 'steps',
]);

const isPlainObject = (x: unknown): x is Record<string, unknown> =>
  typeof x === 'object' && x !== null && !Array.isArray(x) && !ArrayBuffer.isView(x) && !(x instanceof ArrayBuffer);

/** A TensorFlow.js tensor (not Kiln's): it has dataSync and a shape but is not a Kiln Tensor. */
const isForeignTensor = (x: unknown): boolean =>
  typeof x === 'object' && x !== null && !(x instanceof Tensor) && typeof (x as { dataSync?: unknown }).dataSync === 'function' && Array.isArray((x as { shape?: unknown }).shape);

/** A received value for a message: numbers plainly (`got 0`), anything else described. */
const show = (v: unknown): string => (typeof v === 'number' ? String(v) : describe(v));

const MAKE_TENSOR = 'make one with kiln.tensor(values, shape)';

function notATensor(x: unknown): string {
  if (isForeignTensor(x)) return 'a TensorFlow.js Tensor (Kiln models take Kiln tensors: kiln.tensor(t.dataSync(), t.shape))';
  if (ArrayBuffer.isView(x)) return `${describe(x)} (typed arrays are not tensors, as in tfjs-layers: ${MAKE_TENSOR})`;
  return describe(x);
}

/**
 * x of predict/fit/evaluate as a list of Tensors: a Tensor, or a non-empty array of Tensors.
 * `who` reads "predict: model 'm'".
 */
export function xTensors(who: string, x: unknown, arg = 'x'): Tensor[] {
  if (x instanceof Tensor) return [x];
  const expected = `${arg} must be a Tensor or an array of Tensors (one per model input)`;
  if (!Array.isArray(x)) throw new KilnError(`${who}: ${expected}, got ${notATensor(x)}`);
  if (x.length === 0) throw new KilnError(`${who}: ${expected}, got an empty array`);
  x.forEach((t: unknown, i) => {
    if (t instanceof Tensor) return;
    const nested = Array.isArray(t) || typeof t === 'number' || typeof t === 'boolean';
    throw new KilnError(
      `${who}: ${expected}; ${arg}[${i}] is ${notATensor(t)}` +
        (nested ? ` (nested arrays of numbers are not read as data, as in tfjs-layers: ${MAKE_TENSOR}, e.g. kiln.tensor([[1, 2, 3]]))` : ''),
    );
  });
  return x as Tensor[];
}

/** y of fit/evaluate: a Tensor, or a one-element array of it (tfjs-layers' list of outputs). */
export function yTensor(who: string, y: unknown, arg = 'y'): Tensor {
  if (y instanceof Tensor) return y;
  if (Array.isArray(y) && y.length === 1 && y[0] instanceof Tensor) return y[0];
  const expected = `${arg} must be a Tensor (the targets of the model's one output)`;
  if (Array.isArray(y) && y.length > 1 && y.every((t) => t instanceof Tensor)) {
    throw new KilnError(`${who}: ${expected}, got ${y.length} Tensors; training supports one output so far`);
  }
  if (Array.isArray(y) && y.some((t) => !(t instanceof Tensor))) {
    throw new KilnError(`${who}: ${expected}, got ${describe(y)} holding ${notATensor(y.find((t) => !(t instanceof Tensor)))} (nested arrays are not read as data, as in tfjs-layers: ${MAKE_TENSOR})`);
  }
  throw new KilnError(`${who}: ${expected}, got ${notATensor(y)}`);
}

/** An options argument: undefined (= {}) or a plain object whose keys are all in `valid`. */
function options<T>(who: string, arg: string, args: unknown, valid: readonly string[]): T {
  if (args === undefined) return {} as T;
  if (!isPlainObject(args)) throw new KilnError(`${who}: ${arg} must be an object with keys among {${valid.join(', ')}}, got ${describe(args)}`);
  for (const key of Object.keys(args)) {
    if (valid.includes(key)) continue;
    if (TFJS_ONLY.has(key)) throw new KilnError(`${who}: option '${key}' of tfjs-layers is not supported by Kiln; valid options are: ${valid.join(', ')}`);
    throw new KilnError(`${who}: unknown option '${key}' ${suggestion(key, valid)}`);
  }
  return args as T;
}

function integerAtLeast(who: string, key: string, v: unknown, min: number): void {
  if (v !== undefined && (typeof v !== 'number' || !Number.isInteger(v) || v < min)) {
    throw new KilnError(`${who}: ${key} must be ${min === 0 ? 'a non-negative' : 'a positive'} integer, got ${show(v)}`);
  }
}

export function checkPredictArgs(who: string, args: unknown): PredictArgs {
  const a = options<PredictArgs>(who, 'options', args, Object.keys(PREDICT_KEYS));
  integerAtLeast(who, 'batchSize', a.batchSize, 1);
  return a;
}

export function checkEvaluateArgs(who: string, args: unknown): ModelEvaluateArgs {
  const a = options<ModelEvaluateArgs>(who, 'options', args, Object.keys(EVALUATE_KEYS));
  integerAtLeast(who, 'batchSize', a.batchSize, 1);
  return a;
}

export function checkCompileArgs(who: string, args: unknown): ModelCompileArgs {
  if (!isPlainObject(args)) throw new KilnError(`${who} expects {optimizer, loss, metrics?}, got ${describe(args)}`);
  const a = options<ModelCompileArgs>(who, 'options', args, Object.keys(COMPILE_KEYS));
  if (a.metrics !== undefined && !Array.isArray(a.metrics)) {
    throw new KilnError(`${who}: metrics must be an array of metric names or Metrics (e.g. ['accuracy']), got ${describe(a.metrics)}`);
  }
  if (a.runEagerly !== undefined && typeof a.runEagerly !== 'boolean') throw new KilnError(`${who}: runEagerly must be true or false, got ${describe(a.runEagerly)}`);
  return a;
}

/** fit's options: known keys, each value of its type (the data in validationData is checked by fit). */
export function checkFitArgs(who: string, args: unknown): ModelFitArgs {
  const a = options<ModelFitArgs>(who, 'options', args, Object.keys(FIT_KEYS));
  integerAtLeast(who, 'epochs', a.epochs, 0);
  integerAtLeast(who, 'batchSize', a.batchSize, 1);
  integerAtLeast(who, 'initialEpoch', a.initialEpoch, 0);
  const s = a.validationSplit as unknown;
  if (s !== undefined && (typeof s !== 'number' || !(s >= 0 && s < 1))) throw new KilnError(`${who}: validationSplit must be a number in [0, 1), got ${show(s)}`);
  const vd = a.validationData as unknown;
  if (vd !== undefined && (!Array.isArray(vd) || vd.length !== 2)) {
    throw new KilnError(`${who}: validationData must be [x, y] (x a Tensor or an array of Tensors, y a Tensor), got ${describe(vd)}${Array.isArray(vd) && vd.length === 3 ? ' (sample weights are not supported)' : ''}`);
  }
  if (a.shuffle !== undefined && typeof a.shuffle !== 'boolean') {
    throw new KilnError(`${who}: shuffle must be true or false, got ${describe(a.shuffle)}${(a.shuffle as unknown) === 'batch' ? " (tfjs-layers' 'batch' shuffling is not supported)" : ''}`);
  }
  const seed = a.seed as unknown;
  if (seed !== undefined && (typeof seed !== 'number' || !Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32)) {
    throw new KilnError(`${who}: seed must be an integer in [0, 2^32), got ${show(seed)}`);
  }
  const verbose = a.verbose as unknown;
  if (verbose !== undefined && verbose !== 0 && verbose !== 1 && verbose !== 2) {
    throw new KilnError(`${who}: verbose must be 0 (silent), 1 (progress bar) or 2 (one line per epoch), got ${show(verbose)}`);
  }
  const cbs = a.callbacks as unknown;
  if (cbs !== undefined) {
    const list = Array.isArray(cbs) ? cbs : [cbs];
    list.forEach((c: unknown, i) => {
      if (!isPlainObject(c) && (typeof c !== 'object' || c === null)) {
        throw new KilnError(`${who}: callbacks${Array.isArray(cbs) ? `[${i}]` : ''} must be a Callback or an object of hooks ({onEpochEnd, ...}), got ${describe(c)}`);
      }
    });
  }
  return a;
}
