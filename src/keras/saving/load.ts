/**
 * `kiln.loadLayersModel(source)`: a TensorFlow.js LayersModel (model.json + weight shards, as
 * tfjs-layers' `model.save` and tensorflowjs_converter from Keras 2.x write them, or a Keras 3
 * functional config) becomes a Kiln Sequential or Functional model that predicts, fits and
 * compiles like one built in code. Layer configs go to each layer's fromConfig, which accepts the
 * Keras fields it honours and refuses the rest by name; weights are matched to the layers'
 * variables by name as tfjs-layers does (name scopes and `:0` suffixes tolerated); a saved
 * training config recompiles the model and saved optimizer slots are put back.
 */
import { KilnError } from '../../ir/types.js';
import { literal } from '../../ir/literal.js';
import { Tensor, type Variable } from '../backend.js';
import { deserializeLayer, withDeferredInitializers, type Layer } from '../engine/layer.js';
import { Model } from '../engine/model.js';
import { setOptimizerState, type StateTensor } from '../engine/training_state.js';
import { readModelArtifacts, type ModelSource } from '../../frontend/io/source.js';
import { decodeWeights, type DecodedWeight } from '../../frontend/io/weights.js';
import { recordWeightStorage } from '../../frontend/io/weight_storage.js';
import type { KerasObjectJson, LayersModelTopologyJson, TrainingConfigJson, WeightSpec } from '../../frontend/io/formats.js';
import { normalizeKeras3, pythonicToTs, shiftNestedNodeIndices, toCamelCase } from './keras_json.js';
import { fromTfjsOptimizerOrder } from './optimizer_weights.js';
import { suggestion } from '../layers/args.js';
import type { SerializedLoss } from '../losses.js';

export interface LoadLayersModelOptions {
  /** Every weight in the file must match a model weight and vice versa (default true, as tfjs). */
  strict?: boolean;
  /** Recompile with the saved training config and restore optimizer slots when present (default true). */
  loadTrainingConfig?: boolean;
}

const OPTION_KEYS = ['strict', 'loadTrainingConfig'];
const WHO = 'loadLayersModel';

function checkOptions(options: unknown): Required<LoadLayersModelOptions> {
  if (options === undefined) return { strict: true, loadTrainingConfig: true };
  if (options === null || typeof options !== 'object' || Array.isArray(options)) throw new KilnError(`${WHO}: options must be an object ({strict?, loadTrainingConfig?}), got ${JSON.stringify(options)}`);
  for (const k of Object.keys(options)) {
    if (!OPTION_KEYS.includes(k)) throw new KilnError(`${WHO}: unknown option '${k}' ${suggestion(k, OPTION_KEYS)}`);
  }
  const o = options as LoadLayersModelOptions;
  for (const k of OPTION_KEYS) {
    const v = (o as Record<string, unknown>)[k];
    if (v !== undefined && typeof v !== 'boolean') throw new KilnError(`${WHO}: option '${k}' must be a boolean, got ${JSON.stringify(v)}`);
  }
  return { strict: o.strict ?? true, loadTrainingConfig: o.loadTrainingConfig ?? true };
}

/** The model object of a LayersModel topology: bare `{class_name, config}` or Keras 2's `model_config` wrapper. */
function modelObject(topology: unknown, where: string): KerasObjectJson {
  if (topology === null || typeof topology !== 'object') throw new KilnError(`${WHO}: ${where}: modelTopology must be an object, got ${JSON.stringify(topology)?.slice(0, 80)}`);
  const t = topology as LayersModelTopologyJson;
  const obj = (t.model_config ?? t) as Partial<KerasObjectJson>;
  if (typeof obj.class_name !== 'string') {
    if (Array.isArray((topology as { node?: unknown }).node)) throw new KilnError(`${WHO}: ${where} is a GraphModel (a frozen TensorFlow graph); load it with kiln.loadGraphModel`);
    throw new KilnError(`${WHO}: ${where}: modelTopology has no class_name: it is not a Keras model config`);
  }
  return obj as KerasObjectJson;
}

/** Keras 2 writes 'Model', Keras 3 and tfjs 'Functional'; very old Keras a bare layer list for Sequential. */
function kilnModelConfig(obj: KerasObjectJson, where: string): { className: string; config: object } {
  const keras3 = JSON.stringify(obj).includes('"__keras_tensor__"');
  const ts = pythonicToTs(normalizeKeras3(obj)) as { className: string; config: unknown };
  const className = ts.className === 'Model' ? 'Functional' : ts.className;
  let config = ts.config;
  if (className === 'Sequential' && Array.isArray(config)) config = { layers: config };
  config = shiftNestedNodeIndices(config, -1, keras3, where);
  config = stripNodeKwargs(config as { layers?: unknown[] });
  return { className, config: config as object };
}

/**
 * `[name, node, tensor, kwargs]`: call options (`useCausalMask`...) stay on a node's first
 * reference, where Functional.fromConfig hands them to the layer, which refuses any it does not
 * take; `training: null` (no option) is dropped; tensors passed as keyword arguments are refused.
 */
function stripNodeKwargs(config: { layers?: unknown[] }): object {
  if (!Array.isArray(config.layers)) return config;
  // Layer names inside kwargs went through the camelCase conversion with the other values.
  const layerNames = new Map<unknown, string>();
  for (const l of config.layers) {
    const name = (l as { name?: unknown }).name;
    if (typeof name === 'string') layerNames.set(toCamelCase(name), name);
  }
  const layers = config.layers.map((l) => {
    const entry = l as { name?: string; className?: string; inboundNodes?: unknown[][][]; config?: { layers?: unknown[] } };
    const inner = entry.config && typeof entry.config === 'object' ? { config: stripNodeKwargs(entry.config) } : {};
    if (!Array.isArray(entry.inboundNodes)) return { ...entry, ...inner };
    const nodes = (entry.inboundNodes ?? []).map((refs) => {
      const options: Record<string, unknown> = {};
      const extra: unknown[][] = [];
      for (const r of refs) {
        const kwargs = (r[3] ?? {}) as Record<string, unknown>;
        for (const [k, v] of Object.entries(kwargs)) {
          if (k === 'training' && v === null) continue;
          // Keras 2 writes MultiHeadAttention(query, value, key) as `[query, {value: ref, key: ref}]`:
          // those tensors are the layer's further inputs, in call order.
          if ((k === 'value' || k === 'key') && isTensorRef(v) && entry.className === 'MultiHeadAttention') continue;
          if (v !== null && typeof v === 'object') {
            throw new KilnError(`${WHO}: layer '${entry.name}' is called with keyword argument '${k}' = ${JSON.stringify(v).slice(0, 80)}; Kiln layers take tensors only as inputs, and call options only as plain values`);
          }
          options[k] = v;
        }
        for (const k of ['value', 'key']) {
          const v = kwargs[k];
          if (isTensorRef(v) && entry.className === 'MultiHeadAttention') extra.push([layerNames.get(v[0]) ?? v[0], v[1], v[2]]);
        }
      }
      return [...refs, ...extra].map((r, i) => (i === 0 && Object.keys(options).length > 0 ? [...r.slice(0, 3), options] : r.slice(0, 3)));
    });
    return { ...entry, ...inner, inboundNodes: nodes };
  });
  return { ...config, layers };
}

/** `[layerName, nodeIndex, tensorIndex]` as a file writes a tensor reference. */
function isTensorRef(v: unknown): v is [string, number, number] {
  return Array.isArray(v) && v.length >= 3 && typeof v[0] === 'string' && typeof v[1] === 'number' && typeof v[2] === 'number';
}

/** Model weights by the file's names: exact, without `:0`, or a name scope shortened as tfjs-layers does. */
function matchWeights(model: Model, weights: Map<string, DecodedWeight>, strict: boolean, where: string): Set<Variable> {
  const vars = model.weights;
  const byName = new Map<string, Variable>(vars.map((v) => [v.name, v]));
  const assigned = new Map<Variable, DecodedWeight>();
  const unmatched: string[] = [];
  for (const [name, w] of weights) {
    const base = name.replace(/:\d+$/, '');
    const tokens = base.split('/');
    const candidates = [name, base, [...tokens.slice(0, -2), tokens[tokens.length - 1]].join('/'), tokens.slice(-2).join('/')];
    const v = candidates.map((c) => byName.get(c)).find((x) => x !== undefined && !assigned.has(x));
    if (!v) {
      unmatched.push(name);
      continue;
    }
    const want = v.shape;
    if (w.shape.length !== want.length || w.shape.some((d, i) => d !== want[i])) {
      throw new KilnError(`${WHO}: ${where}: weight '${name}' has shape [${w.shape.join(',')}] but the model's '${v.name}' is [${want.join(',')}]`);
    }
    if (w.dtype !== v.dtype && !(w.dtype === 'f32' && (v.dtype === 'f16' || v.dtype === 'bf16'))) {
      throw new KilnError(`${WHO}: ${where}: weight '${name}' is ${w.dtype} but the model's '${v.name}' is ${v.dtype}`);
    }
    assigned.set(v, w);
  }
  const unset = vars.filter((v) => !assigned.has(v));
  if (strict && unmatched.length > 0) {
    throw new KilnError(`${WHO}: ${where}: ${unmatched.length} weight(s) in the file have no target in the model: ${unmatched.slice(0, 8).join(', ')}${unmatched.length > 8 ? ', ...' : ''} (model weights: ${vars.map((v) => v.name).slice(0, 8).join(', ')}${vars.length > 8 ? ', ...' : ''}); pass {strict: false} to ignore them`);
  }
  if (strict && unset.length > 0) {
    throw new KilnError(`${WHO}: ${where}: ${unset.length} of ${vars.length} model weights are not in the file: ${unset.slice(0, 8).map((v) => v.name).join(', ')}${unset.length > 8 ? ', ...' : ''}`);
  }
  for (const [v, w] of assigned) v.assign(Tensor.concrete(literal(w.shape, v.dtype, w.data instanceof Uint8Array ? Float32Array.from(w.data) : w.data)));
  return new Set(assigned.keys());
}

function lossId(loss: TrainingConfigJson['loss'], where: string): string | SerializedLoss {
  if (typeof loss === 'string') return toCamelCase(loss);
  if (loss !== null && typeof loss === 'object' && !Array.isArray(loss) && typeof loss['class_name'] === 'string') {
    return { class_name: loss['class_name'], config: (loss['config'] ?? {}) as SerializedLoss['config'] };
  }
  if (Array.isArray(loss) && loss.length === 1 && typeof loss[0] === 'string') return toCamelCase(loss[0]);
  throw new KilnError(`${WHO}: ${where}: trainingConfig.loss ${JSON.stringify(loss)} is not supported (one loss name per model)`);
}

function applyTrainingConfig(model: Model, tc: TrainingConfigJson, optimizerWeights: readonly { spec: WeightSpec; value: DecodedWeight }[], where: string): void {
  for (const k of ['weighted_metrics', 'loss_weights', 'sample_weight_mode'] as const) {
    if (tc[k] !== undefined && tc[k] !== null) throw new KilnError(`${WHO}: ${where}: trainingConfig.${k} is not supported`);
  }
  const opt = tc.optimizer_config;
  if (!opt || typeof opt.class_name !== 'string') throw new KilnError(`${WHO}: ${where}: trainingConfig.optimizer_config must be {class_name, config}`);
  const metrics = Array.isArray(tc.metrics) ? tc.metrics.map((m) => toCamelCase(m)) : tc.metrics ? Object.values(tc.metrics).map((m) => toCamelCase(m)) : [];
  model.compile({
    // As written: the optimizer deserializer reads Keras's snake_case, tfjs's camelCase and nested schedules.
    optimizer: { class_name: opt.class_name, config: (opt.config ?? {}) as Record<string, never> },
    loss: lossId(tc.loss, where),
    metrics,
  });
  if (optimizerWeights.length > 0) {
    const tensors: StateTensor[] = optimizerWeights.map(({ spec, value }) => {
      if (value.dtype !== 'f32' && value.dtype !== 'i32') throw new KilnError(`${WHO}: ${where}: optimizer weight '${spec.name}' is ${value.dtype}; expected float32 or int32`);
      return { name: spec.name, shape: value.shape, dtype: value.dtype, data: value.data as Float32Array | Int32Array };
    });
    setOptimizerState(model, fromTfjsOptimizerOrder(model, tensors, opt.class_name, `${WHO}: ${where}`));
  }
}

function hasInputs(model: Model): boolean {
  try {
    return model.inputs.length > 0;
  } catch {
    return false;
  }
}

/**
 * Load a TensorFlow.js LayersModel: `source` is a model.json path or directory, a `file://` or
 * `http(s)://` URL, a tfjs IOHandler (anything with `load()`), or ModelArtifacts in memory.
 */
export async function loadLayersModel(source: ModelSource, options?: LoadLayersModelOptions): Promise<Model> {
  const opts = checkOptions(options);
  const { json, specs, bytes, where } = await readModelArtifacts(source, WHO);
  if (json.format === 'graph-model') throw new KilnError(`${WHO}: ${where} is a GraphModel (format 'graph-model'); load it with kiln.loadGraphModel`);
  const obj = modelObject(json.modelTopology, where);
  const { className, config } = kilnModelConfig(obj, where);
  // Initializers run only for weights the file does not hold (strict: false), after matching.
  const built = withDeferredInitializers(() => deserializeLayer({ className, config }));
  const model: Layer = built.result;
  if (!(model instanceof Model)) {
    throw new KilnError(`${WHO}: ${where}: the topology's class '${className}' is a layer, not a model (expected Sequential, Functional or Model)`);
  }
  if (!hasInputs(model)) {
    throw new KilnError(`${WHO}: ${where}: Sequential model '${model.name}' has no input shape (its first layer has no batch_input_shape), so its weights cannot be created`);
  }
  const decoded = decodeWeights(specs, bytes, `${WHO}: ${where}`);
  const modelWeights = new Map<string, DecodedWeight>();
  const optimizerWeights: { spec: WeightSpec; value: DecodedWeight }[] = [];
  for (const spec of specs) {
    if (spec.group === 'optimizer') optimizerWeights.push({ spec, value: decoded.get(spec.name)! });
    else modelWeights.set(spec.name, decoded.get(spec.name)!);
  }
  built.initialize(matchWeights(model, modelWeights, opts.strict, where));
  if (opts.loadTrainingConfig && json.trainingConfig) applyTrainingConfig(model, json.trainingConfig, optimizerWeights, where);
  // kiln.compile keeps the weights' uint8/uint16/float16 storage (codegen/weights_encode.ts).
  recordWeightStorage(model, specs.filter((s) => s.group !== 'optimizer'));
  return model;
}
