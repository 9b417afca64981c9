/**
 * Between Keras JSON on disk (snake_case keys, Keras dtype names; Keras 2 and Keras 3 dialects)
 * and the camelCase configs Kiln's layers take. The case conversion follows tfjs-layers'
 * convertPythonicToTs / convertTsToPythonic exactly (string values are converted too, except
 * names and class names), so a config round-trips through tfjs-layers and Kiln alike. Keras 3
 * configs are first rewritten to the Keras 2 shape: `__keras_tensor__` call arguments become
 * `[layer, node, tensor, kwargs]` references, DTypePolicy objects become dtype names, and the
 * `module` / `registered_name` / `build_config` bookkeeping is dropped.
 */
import { kerasDTypeName, isDType } from '../../ir/dtype.js';
import { KilnError } from '../../ir/types.js';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** tfjs's toCamelCase: only identifiers with underscores change (`kernel_size` -> `kernelSize`). */
export function toCamelCase(s: string): string {
  if (s.length <= 1 || !s.includes('_')) return s;
  return s.replace(/[_]+(\w|$)/g, (_, c: string) => c.toUpperCase());
}

/** tfjs's toSnakeCase (`kernelSize` -> `kernel_size`, `glorotUniform` -> `glorot_uniform`). */
export function toSnakeCase(s: string): string {
  const snake = s.replace(/(.)([A-Z][a-z0-9]+)/g, '$1_$2').replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase();
  return snake[0] !== '_' ? snake : `private${snake}`;
}

const NAME_LISTS = new Set(['inboundNodes', 'inputLayers', 'outputLayers']);
const isNameItem = (key: string | undefined, i: number, v: unknown): boolean => key !== undefined && NAME_LISTS.has(key) && i === 0 && typeof v === 'string';

/** snake_case JSON -> camelCase config (tfjs-layers' convertPythonicToTs). */
export function pythonicToTs(v: unknown, key?: string): unknown {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string') return toCamelCase(v);
  if (typeof v === 'number' || typeof v === 'boolean') return v;
  if (Array.isArray(v)) return v.map((item, i) => (isNameItem(key, i, item) ? item : pythonicToTs(item, key)));
  const out: Record<string, unknown> = {};
  for (const [k, val] of Object.entries(v as Record<string, unknown>)) {
    if (k === 'name' && typeof val === 'string') out[k] = val;
    else {
      const tk = toCamelCase(k);
      out[tk] = pythonicToTs(val, tk);
    }
  }
  return out;
}

/** camelCase config -> snake_case JSON (tfjs-layers' convertTsToPythonic), with Keras dtype names. */
export function tsToPythonic(v: unknown, key?: string): Json {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string') return key === 'dtype' && isDType(v) ? kerasDTypeName(v) : toSnakeCase(v);
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new KilnError(`model.save: config field '${key}' is ${v}, which JSON cannot hold`);
    return v;
  }
  if (typeof v === 'boolean') return v;
  if (Array.isArray(v)) return v.map((item, i) => (isNameItem(key, i, item) ? item : tsToPythonic(item, key)));
  const out: { [k: string]: Json } = {};
  for (const [k, val] of Object.entries(v as Record<string, unknown>)) {
    if (val === undefined) continue;
    const pk = toSnakeCase(k);
    out[pk] = (k === 'name' || k === 'className') && typeof val === 'string' ? val : tsToPythonic(val, k);
  }
  return out;
}

// ---- Keras 3 -> Keras 2 -------------------------------------------------------------------------

const KERAS3_BOOKKEEPING = ['module', 'registered_name', 'build_config', 'compile_config', 'shared_object_id'];

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A Keras 3 `__keras_tensor__` argument -> `[layer, node, tensor, {}]`. */
function tensorRef(arg: unknown, where: string): unknown[] {
  if (isObj(arg) && arg['class_name'] === '__keras_tensor__' && isObj(arg['config']) && Array.isArray(arg['config']['keras_history'])) {
    const [layer, node, tensor] = arg['config']['keras_history'] as unknown[];
    return [layer, node, tensor, {}];
  }
  throw new KilnError(`loadLayersModel: ${where}: a call argument is not a tensor reference (${JSON.stringify(arg).slice(0, 120)}); only tensors can be passed between layers`);
}

/** Keras 3 inbound node `{args, kwargs}` -> Keras 2 `[[layer, node, tensor, kwargs], ...]`. */
function keras3Node(node: Record<string, unknown>, where: string): unknown[] {
  const args = (node['args'] as unknown[] | undefined) ?? [];
  const flat = args.length === 1 && Array.isArray(args[0]) ? (args[0] as unknown[]) : args;
  const kwargs = isObj(node['kwargs']) ? node['kwargs'] : {};
  const tensorKw = Object.entries(kwargs).filter(([, v]) => isObj(v) && v['class_name'] === '__keras_tensor__');
  if (tensorKw.length > 0) throw new KilnError(`loadLayersModel: ${where}: tensors passed as keyword arguments (${tensorKw.map(([k]) => k).join(', ')}) are not supported`);
  // Other keyword arguments (use_causal_mask, training...) ride on the first reference, as in
  // Keras 2, so the loader can refuse the ones Kiln cannot honour instead of dropping them.
  return flat.map((a, i) => {
    const ref = tensorRef(a, where);
    if (i === 0 && Object.keys(kwargs).length > 0) ref[3] = { ...kwargs };
    return ref;
  });
}

/**
 * Rewrite Keras 3 serialization to the Keras 2 / tfjs shape, in place on a copy: drops the
 * bookkeeping keys, turns DTypePolicy objects into their dtype name, inbound nodes into reference
 * lists, InputLayer's `batch_shape` into `batch_input_shape`, and single input/output triples
 * into lists of triples. Keras 2 JSON passes through unchanged.
 */
export function normalizeKeras3(v: unknown, where = 'model'): unknown {
  if (Array.isArray(v)) return v.map((x) => normalizeKeras3(x, where));
  if (!isObj(v)) return v;
  // Keras 2 names a functional model 'Model', also when it is nested as a layer; Kiln says 'Functional'.
  if (v['class_name'] === 'Model' && isObj(v['config']) && Array.isArray(v['config']['layers'])) return normalizeKeras3({ ...v, class_name: 'Functional' }, where);
  if (v['class_name'] === 'DTypePolicy' || v['class_name'] === 'Policy') {
    const cfg = v['config'];
    return isObj(cfg) && typeof cfg['name'] === 'string' ? cfg['name'] : v;
  }
  const out: Record<string, unknown> = {};
  for (const [k, val] of Object.entries(v)) {
    if (KERAS3_BOOKKEEPING.includes(k)) continue;
    out[k] = normalizeKeras3(val, typeof v['name'] === 'string' ? `layer '${v['name']}'` : where);
  }
  const here = typeof v['name'] === 'string' ? `layer '${v['name']}'` : where;
  if (Array.isArray(out['inbound_nodes'])) {
    out['inbound_nodes'] = (out['inbound_nodes'] as unknown[]).map((n) => (isObj(n) && 'args' in n ? keras3Node(n, here) : n));
  }
  for (const key of ['input_layers', 'output_layers']) {
    const refs = out[key];
    if (Array.isArray(refs) && refs.length === 3 && typeof refs[0] === 'string' && typeof refs[1] === 'number') out[key] = [refs];
  }
  if (v['class_name'] === 'InputLayer' && isObj(out['config'])) {
    const cfg = out['config'];
    if ('batch_shape' in cfg && !('batch_input_shape' in cfg)) {
      cfg['batch_input_shape'] = cfg['batch_shape'];
      delete cfg['batch_shape'];
    }
  }
  return out;
}

// ---- node indices of nested models -------------------------------------------------------------

interface LayerEntryTs {
  className?: unknown;
  name?: unknown;
  config?: unknown;
  inboundNodes?: unknown;
}

/** A nested model whose construction made it a node of its own: Functional, or a Sequential with an input shape. */
function hasConstructionNode(entry: LayerEntryTs, keras3: boolean): boolean {
  if (entry.className === 'Functional') return true;
  if (entry.className !== 'Sequential' || keras3) return false;
  const first = (entry.config as { layers?: LayerEntryTs[] } | undefined)?.layers?.[0];
  if (!first) return false;
  return first.className === 'InputLayer' || (isObj(first.config) && Array.isArray(first.config['batchInputShape'])) || hasConstructionNode(first, keras3);
}

/**
 * Keras and tfjs-layers count a nested model's own construction as its node 0, so a file refers
 * to its first call as node 1 (Keras 3 does so for Functional models only, by its deserializer's
 * `node_index -= 1`; no Keras 3 file with a nested model was at hand to confirm); Kiln's configs count
 * calls from 0. `shift` -1 translates a camelCase model config from the file's numbering to Kiln's,
 * +1 back, in every nested model config too.
 */
export function shiftNestedNodeIndices(config: unknown, shift: 1 | -1, keras3: boolean, where: string): unknown {
  if (!isObj(config) || !Array.isArray(config['layers'])) return config;
  const layers = config['layers'] as LayerEntryTs[];
  const nested = new Set(layers.filter((l) => hasConstructionNode(l, keras3)).map((l) => l.name));
  const fix = (ref: unknown): unknown => {
    if (!Array.isArray(ref) || !nested.has(ref[0]) || typeof ref[1] !== 'number') return ref;
    const node = ref[1] + shift;
    if (node < 0) throw new KilnError(`loadLayersModel: ${where}: a tensor reference ${JSON.stringify(ref)} points at node 0 of the nested model '${ref[0]}', which is its construction, not a call`);
    return [ref[0], node, ...ref.slice(2)];
  };
  const refs = (v: unknown): unknown => (Array.isArray(v) ? v.map(fix) : v);
  return {
    ...config,
    layers: layers.map((l) => ({
      ...l,
      config: shiftNestedNodeIndices(l.config, shift, keras3, typeof l.name === 'string' ? `model '${l.name}'` : where),
      ...(Array.isArray(l.inboundNodes) ? { inboundNodes: l.inboundNodes.map(refs) } : {}),
    })),
    ...('inputLayers' in config ? { inputLayers: refs(config['inputLayers']) } : {}),
    ...('outputLayers' in config ? { outputLayers: refs(config['outputLayers']) } : {}),
  };
}
