/**
 * The optimizers API: classes and factories (SGD, Adam, AdamW, RMSprop, Adagrad), learning-rate
 * schedules, gradient clipping, and `getOptimizer`, which resolves what `compile({optimizer})`
 * accepts: a string name, an Optimizer, or a serialized {class_name, config} (Keras or tfjs form).
 */
import { KilnError } from '../../ir/types.js';
import { Adagrad } from './adagrad.js';
import { Adam } from './adam.js';
import { AdamW } from './adamw.js';
import { baseArgsFromConfig, Optimizer, type OptimizerConfig, type SerializedOptimizer } from './base.js';
import { RMSprop } from './rmsprop.js';
import { SGD } from './sgd.js';

export {
  Optimizer, toCamel, toSnake,
  type BaseOptimizerArgs, type ConfigValue, type LearningRate, type OptimizerConfig, type OptimizerState,
  type OptimizerUpdate, type SerializedOptimizer, type Slots, type StepContext,
} from './base.js';
export { SGD, sgd, type SGDArgs } from './sgd.js';
export { Adam, adam, type AdamArgs, type EpsilonMode } from './adam.js';
export { AdamW, adamw } from './adamw.js';
export { RMSprop, rmsprop, type RMSpropArgs } from './rmsprop.js';
export { Adagrad, adagrad, type AdagradArgs } from './adagrad.js';
export * as schedules from './schedules.js';
export {
  LearningRateSchedule, ExponentialDecay, CosineDecay, PiecewiseConstantDecay,
  exponentialDecay, cosineDecay, piecewiseConstantDecay, deserializeSchedule, type SerializedSchedule,
} from './schedules.js';
export { clipByGlobalNorm, clipByNorm, clipByValue, clipGradients, globalNorm, l2Norm, type ClipOptions } from './clipping.js';

type Factory = (args: Record<string, unknown>) => Optimizer;

/** Keras class name -> constructor from camelCase args. */
const classes: Record<string, Factory> = {
  SGD: (a) => new SGD(a),
  Adam: (a) => new Adam(a),
  AdamW: (a) => new AdamW(a),
  RMSprop: (a) => new RMSprop(a),
  Adagrad: (a) => new Adagrad(a),
};

/** Lower-case string names (Keras `optimizer='adam'`) -> class name. */
const names: Record<string, string> = { sgd: 'SGD', adam: 'Adam', adamw: 'AdamW', rmsprop: 'RMSprop', adagrad: 'Adagrad' };

/** The valid string names, for messages and docs. */
export const optimizerNames: readonly string[] = Object.keys(names);

/** tfjs-core configs spell some options differently from Keras. */
const tfjsAliases: Record<string, string> = { decay: 'rho', useNesterov: 'nesterov' };

/** Rebuild an optimizer from its serialized form (Keras snake_case; tfjs's own keys are accepted too). */
export function deserializeOptimizer(s: SerializedOptimizer): Optimizer {
  // tfjs-core class names: 'RMSProp', and 'Momentum' for SGD with momentum.
  const lower = String(s.class_name).toLowerCase();
  const className = classes[s.class_name] ? s.class_name : names[lower] ?? (lower === 'momentum' ? 'SGD' : undefined);
  if (!className) {
    throw new KilnError(`unknown optimizer class '${s.class_name}'; valid: ${Object.keys(classes).join(', ')}`);
  }
  const args = baseArgsFromConfig(s.config ?? {});
  for (const [from, to] of Object.entries(tfjsAliases)) {
    if (from in args && !(to in args)) args[to] = args[from];
    delete args[from];
  }
  return classes[className]!(args);
}

export type OptimizerIdentifier = string | Optimizer | SerializedOptimizer | { className: string; config?: OptimizerConfig };

/** An Optimizer from a name ('adam'), an instance (returned as is) or a serialized config. */
export function getOptimizer(id: OptimizerIdentifier): Optimizer {
  if (id instanceof Optimizer) return id;
  if (typeof id === 'string') {
    const className = names[id.toLowerCase()];
    if (!className) throw new KilnError(`unknown optimizer '${id}'; valid names: ${optimizerNames.map((n) => `'${n}'`).join(', ')}`);
    return classes[className]!({});
  }
  if (id !== null && typeof id === 'object') {
    if ('class_name' in id) return deserializeOptimizer(id);
    if ('className' in id) return deserializeOptimizer({ class_name: id.className, config: id.config ?? {} });
  }
  throw new KilnError(`getOptimizer: expected a name (${optimizerNames.join(', ')}), an Optimizer or {class_name, config}, got ${JSON.stringify(id)}`);
}

/** Round-trip helper: `fromConfig(opt.serialize())` rebuilds an equal optimizer. */
export function fromConfig(s: SerializedOptimizer): Optimizer {
  return deserializeOptimizer(s);
}

/**
 * The optimizer as tfjs-core serializes it (the `optimizer_config` of a TensorFlow.js
 * LayersModel's trainingConfig: tfjs class names and camelCase keys), or null where tfjs has no
 * equivalent (a schedule, clipping, weight decay, amsgrad, centered RMSprop, Adagrad with a
 * non-default epsilon). Adam in Keras epsilon mode is exported as tfjs Adam, whose epsilon
 * placement differs slightly (see adam.ts).
 */
export function toTfjsOptimizerConfig(opt: Optimizer): SerializedOptimizer | null {
  const lr = opt.learningRate;
  if (typeof lr !== 'number' || opt.weightDecay || opt.clipnorm !== null || opt.clipvalue !== null || opt.globalClipnorm !== null) return null;
  if (opt instanceof Adam) {
    if (opt.amsgrad || opt instanceof AdamW) return null;
    return { class_name: 'Adam', config: { learningRate: lr, beta1: opt.beta1, beta2: opt.beta2, epsilon: opt.epsilon } };
  }
  if (opt instanceof SGD) {
    return opt.momentum > 0
      ? { class_name: 'Momentum', config: { learningRate: lr, momentum: opt.momentum, useNesterov: opt.nesterov } }
      : { class_name: 'SGD', config: { learningRate: lr } };
  }
  if (opt instanceof RMSprop) {
    if (opt.centered) return null;
    return { class_name: 'RMSProp', config: { learningRate: lr, decay: opt.rho, momentum: opt.momentum, epsilon: opt.epsilon, centered: false } };
  }
  if (opt instanceof Adagrad) {
    if (opt.epsilon !== 1e-7) return null;
    return { class_name: 'Adagrad', config: { learningRate: lr, initialAccumulatorValue: opt.initialAccumulatorValue } };
  }
  return null;
}
