/**
 * `model.save(destination, {includeOptimizer})`: the TensorFlow.js LayersModel format, laid out
 * exactly as tfjs-layers' own `model.save` writes it (format 'layers-model', modelTopology
 * `{class_name, config, keras_version, backend}` with snake_case keys and Keras dtype names,
 * float32 weights in `group1-shardNofM.bin` shards of at most 4 MB), so tfjs-layers'
 * `tf.loadLayersModel` reads it. With includeOptimizer the training config and the optimizer's
 * slots (group 'optimizer', in tfjs's order) are written too, and `kiln.loadLayersModel`
 * restores them so training continues exactly where it stopped.
 */
import { KilnError } from '../../ir/types.js';
import type { Model } from '../engine/model.js';
import { trainerOf } from '../engine/training.js';
import { toTfjsOptimizerConfig } from '../optimizers/index.js';
import { getLoss, serializeLoss, type Loss } from '../losses.js';
import { encodeWeights, type NamedWeight } from '../../frontend/io/weights.js';
import { writeModelArtifacts, type ModelDestination } from '../../frontend/io/source.js';
import type { ModelArtifacts, SaveResult, TrainingConfigJson } from '../../frontend/io/formats.js';
import { shiftNestedNodeIndices, toSnakeCase, tsToPythonic } from './keras_json.js';
import { toTfjsOptimizerOrder } from './optimizer_weights.js';
import { suggestion } from '../layers/args.js';

export interface SaveOptions {
  /** Also save the training config and the optimizer's state (default false, as tfjs). */
  includeOptimizer?: boolean;
}

/** The version string written as generatedBy / keras_version. */
export const KILN_VERSION = '0.1.0';

function checkOptions(options: unknown, who: string): SaveOptions {
  if (options === undefined) return {};
  if (options === null || typeof options !== 'object' || Array.isArray(options)) throw new KilnError(`${who}: options must be an object ({includeOptimizer?}), got ${JSON.stringify(options)}`);
  for (const k of Object.keys(options)) if (k !== 'includeOptimizer') throw new KilnError(`${who}: unknown option '${k}' ${suggestion(k, ['includeOptimizer'])}`);
  const inc = (options as SaveOptions).includeOptimizer;
  if (inc !== undefined && typeof inc !== 'boolean') throw new KilnError(`${who}: includeOptimizer must be a boolean, got ${JSON.stringify(inc)}`);
  return options as SaveOptions;
}

/** The model's topology as tfjs-layers' `model.toJSON()` writes it. */
export function modelTopology(model: Model): Record<string, unknown> {
  const config = shiftNestedNodeIndices(model.getConfig(), 1, false, `model '${model.name}'`);
  const className = model.className;
  return tsToPythonic({ className, config, kerasVersion: `tfjs-layers ${KILN_VERSION}`, backend: 'tensor_flow.js' }) as Record<string, unknown>;
}

/**
 * A loss with its default settings is written by name, as tfjs-layers writes it; one with
 * settings tfjs has no name for (fromLogits, labelSmoothing, a Huber delta) as Keras's
 * `{class_name, config}`, which Kiln reads back and tfjs-layers refuses rather than training a
 * different loss.
 */
function lossJson(loss: Loss): TrainingConfigJson['loss'] {
  const name = toSnakeCase(loss.className);
  let plain: string | undefined;
  try {
    plain = JSON.stringify(getLoss(name).getConfig());
  } catch {
    return name; // a custom loss: its name, which a later load must be able to resolve
  }
  const { class_name, config } = serializeLoss(loss);
  return JSON.stringify(config) === plain ? name : { class_name, config: { ...config } };
}

function trainingConfig(model: Model, who: string): TrainingConfigJson {
  const trainer = trainerOf(who, model);
  const opt = toTfjsOptimizerConfig(trainer.optimizer) ?? trainer.optimizer.serialize();
  return {
    loss: lossJson(trainer.loss),
    metrics: trainer.metrics.map((m) => m.name),
    optimizer_config: { class_name: opt.class_name, config: opt.config as Record<string, unknown> },
  };
}

/** Save `model` to a directory (path or file:// URL) or a tfjs IOHandler with save(). */
export async function saveModel(model: Model, destination: ModelDestination, options?: SaveOptions): Promise<SaveResult> {
  const who = `model.save ('${model.name}')`;
  const opts = checkOptions(options, who);
  if (model.inputs.length === 0) throw new KilnError(`${who}: the model is not built (no input shape yet); build it or give its first layer an inputShape before saving`);
  const values = model.getWeights(); // synchronized with a training program, if any
  const weights: NamedWeight[] = model.weights.map((w, i) => ({ name: w.name, shape: w.shape, dtype: w.dtype, data: values[i]!.dataSync() }));
  const artifacts: ModelArtifacts & { weightData?: ArrayBuffer } = {
    modelTopology: modelTopology(model),
    format: 'layers-model',
    generatedBy: `Kiln ${KILN_VERSION}`,
    convertedBy: null,
  };
  if (opts.includeOptimizer) {
    artifacts.trainingConfig = trainingConfig(model, who);
    for (const t of toTfjsOptimizerOrder(model, artifacts.trainingConfig.optimizer_config.class_name, who)) weights.push({ name: t.name, shape: t.shape, dtype: t.dtype, data: t.data, group: 'optimizer' });
  }
  const { specs, data } = encodeWeights(weights, who);
  artifacts.weightSpecs = specs;
  artifacts.weightData = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer;
  return writeModelArtifacts(destination, artifacts, who);
}
