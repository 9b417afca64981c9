/**
 * What makes `class M extends kiln.Model { call(x, {training}) }` (and a custom Layer holding
 * other layers) work like Keras: tracking, building, shapes and weight files.
 *
 * - Tracking: the layers and Variables a layer holds in its own properties, directly or in
 *   arrays and plain objects, in property-assignment order (Keras's attribute tracking), so
 *   weights come out in a deterministic order: the layer's own weights (addWeight, assigned
 *   Variables), then each tracked sublayer's.
 * - Building: a subclassed model remembers the input specs of its first call (or of
 *   `build(inputShape)`, f32) and builds by tracing `call` once on symbolic inputs, which builds
 *   every sublayer (Keras builds subclassed models by calling them on placeholders). Output shapes
 *   come from the same kind of trace.
 * - Weight files (`saveWeights`/`loadWeights`): the tfjs weights format (a `weights_manifest.json`
 *   list of {paths, weights} beside `group1-shardNofM.bin` shards, which tfjs-core's
 *   io.loadWeights/decodeWeights read), each weight named by its attribute path (`encoder/0/kernel`,
 *   `head/bias`), not by layer names, which depend on how many layers a process created first.
 *   A Sequential or Functional part is entered through its `layers` list (`layers/<i>/...`).
 */
import type { DType } from '../../ir/dtype.js';
import { KilnError, tensorType, typeToString } from '../../ir/types.js';
import { trace } from '../../frontend/tracing.js';
import type { IOHandler, ModelArtifacts, SaveResult, WeightGroup, WeightSpec } from '../../frontend/io/formats.js';
import { concatBytes, decodeWeights, encodeWeights, shardWeights } from '../../frontend/io/weights.js';
import { writeFilesAtomic } from '../../frontend/io/atomic.js';
import { literal } from '../../ir/literal.js';
import { Tensor, Variable } from '../backend.js';
import type { KerasShape } from './keras_tensor.js';
import { assignWeights, isShapeList, Layer, withCallContext } from './layer.js';
import { nodeHost } from '../../host/node.js';

// ---- tracking -----------------------------------------------------------------------------------

/**
 * The properties Kiln's base classes define (Layer's fields, then Model's), recorded at the end of
 * their constructors, before a subclass's fields exist: bookkeeping such as predict's bound
 * weights or weight penalties, never user-assigned sublayers or weights.
 */
const engineKeys = new WeakMap<object, ReadonlySet<string>>();

export function markEngineKeys(layer: object): void {
  engineKeys.set(layer, new Set(Object.keys(layer)));
}

export interface Tracked {
  /** Sublayers with the property path they were found at (`d1`, `blocks/0`). */
  layers: { path: string; layer: Layer }[];
  variables: { path: string; variable: Variable }[];
}

/** The layers and Variables held in `owner`'s own properties, in assignment order. */
export function tracked(owner: Layer): Tracked {
  const out: Tracked = { layers: [], variables: [] };
  const seen = new Set<unknown>([owner]);
  const walk = (v: unknown, path: string, depth: number): void => {
    if (v === null || typeof v !== 'object' || seen.has(v) || depth > 8) return;
    if (v instanceof Layer) {
      seen.add(v);
      out.layers.push({ path, layer: v });
    } else if (v instanceof Variable) {
      seen.add(v);
      out.variables.push({ path, variable: v });
    } else if (Array.isArray(v)) {
      seen.add(v);
      v.forEach((x, i) => walk(x, `${path}/${i}`, depth + 1));
    } else if (Object.getPrototypeOf(v) === Object.prototype || v instanceof Map) {
      seen.add(v);
      const entries = v instanceof Map ? [...v.entries()] : Object.entries(v);
      for (const [k, x] of entries) if (typeof k === 'string') walk(x, `${path}/${k}`, depth + 1);
    }
  };
  const skip = engineKeys.get(owner);
  for (const key of Object.keys(owner)) {
    if (!skip?.has(key)) walk((owner as unknown as Record<string, unknown>)[key], key, 0);
  }
  return out;
}

/** Variables in order, each once. */
export function uniqueVariables(vs: readonly Variable[]): Variable[] {
  return [...new Set(vs)];
}

// ---- input specs and building -----------------------------------------------------------------------

export interface InputSpec {
  /** The batch dimension is null. */
  shape: KerasShape;
  dtype: DType;
}

const specs = new WeakMap<Layer, InputSpec[]>();

/** The input specs a subclassed model was built for (undefined before its first call or build). */
export function inputSpecsOf(model: Layer): InputSpec[] | undefined {
  return specs.get(model);
}

/** Record the input specs (batch dimension left open) unless the model already has them. */
export function noteInputSpecs(model: Layer, shapes: KerasShape | KerasShape[], dtypes?: DType | DType[]): void {
  if (specs.has(model)) return;
  const list = isShapeList(shapes) ? shapes : [shapes];
  const ds = dtypes === undefined ? [] : Array.isArray(dtypes) ? dtypes : [dtypes];
  specs.set(model, list.map((s, i) => ({ shape: [null, ...s.slice(1)], dtype: ds[i] ?? 'f32' })));
}

/** A concrete type for a Keras shape: unknown dimensions (the batch) become 1. */
function concreteTypes(shapes: readonly KerasShape[], dtypes: readonly DType[]) {
  return shapes.map((s, i) => tensorType(s.map((d) => d ?? 1), dtypes[i] ?? 'f32'));
}

/**
 * Trace `call` once on symbolic inputs of these shapes (unknown dims taken as 1): sublayers build
 * as they are applied. Returns the outputs' shapes (the batch dimension open again when it was).
 */
export function traceCall(model: Layer, shapes: readonly KerasShape[], dtypes: readonly DType[]): { shapes: KerasShape[]; dtypes: DType[] } {
  const types = concreteTypes(shapes, dtypes);
  let outs: Tensor[] = [];
  try {
    trace((...xs: Tensor[]) => {
      const inputs = xs.length === 1 ? xs[0]! : xs;
      const out = withCallContext({ training: false }, () => model.callConverted(inputs, { training: false }));
      outs = Array.isArray(out) ? out : [out];
      return outs;
    }, types, { name: `${model.name}_build` });
  } catch (e) {
    if (e instanceof KilnError) throw new KilnError(`${model.label}: building by calling it on ${types.map(typeToString).join(', ')} failed: ${e.message}`);
    throw e;
  }
  const openBatch = shapes.every((s) => s[0] === null);
  return { shapes: outs.map((t) => (openBatch && t.rank > 0 ? [null, ...t.shape.slice(1)] : [...t.shape])), dtypes: outs.map((t) => t.dtype) };
}

// ---- weight files ---------------------------------------------------------------------------------

/** A weight and the stable path it is saved under. */
export interface WeightPath {
  path: string;
  variable: Variable;
}

/** The short name of a layer's weight: its variable name without the `<layer>/` prefix. */
function shortName(layer: Layer, v: Variable): string {
  return v.name.startsWith(`${layer.name}/`) ? v.name.slice(layer.name.length + 1) : v.name;
}

/**
 * Every weight under `root` with its attribute path. A layer's own weights (addWeight, assigned
 * Variables) first, then its tracked sublayers; a model that lists `layers` itself (Sequential,
 * Functional) is entered through that list.
 */
export function weightPaths(root: Layer): WeightPath[] {
  const out: WeightPath[] = [];
  const seen = new Set<Variable>();
  const visited = new Set<Layer>();
  const add = (path: string, v: Variable): void => {
    if (seen.has(v)) return;
    seen.add(v);
    out.push({ path, variable: v });
  };
  const visit = (layer: Layer, prefix: string): void => {
    if (visited.has(layer)) return;
    visited.add(layer);
    const t = tracked(layer);
    const own = layer.ownWeights();
    for (const v of own) add(`${prefix}${shortName(layer, v)}`, v);
    for (const { path, variable } of t.variables) add(`${prefix}${path}`, variable);
    const listed = (layer as Layer & { listsLayers?: boolean }).listsLayers ? (layer as Layer & { layers: Layer[] }).layers : undefined;
    if (listed) listed.forEach((l, i) => visit(l, `${prefix}layers/${i}/`));
    else for (const { path, layer: l } of t.layers) visit(l, `${prefix}${path}/`);
    // Weights reachable only through the layer's own getters (e.g. a wrapper's inner cell).
    for (const v of layer.weights) add(`${prefix}${shortName(layer, v)}`, v);
  };
  visit(root, '');
  const names = out.map((w) => w.path);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) throw new KilnError(`saveWeights: ${root.label} has two weights saved as '${dup}'; give the weights distinct names`);
  return out;
}

export type WeightsDestination = string | URL | IOHandler;
export type WeightsSource = string | URL | IOHandler;

const MANIFEST = 'weights_manifest.json';

async function toDir(where: string | URL, who: string): Promise<string> {
  const s = String(where);
  if (/^https?:\/\//i.test(s)) throw new KilnError(`${who}: cannot use ${s}: give a directory (path or file://) or an IOHandler`);
  let path = s;
  if (s.startsWith('file://')) {
    const { fileURLToPath } = nodeHost('saveWeights/loadWeights with a file path').url;
    path = fileURLToPath(s);
  }
  return path.replace(/\/weights_manifest\.json$/, '').replace(/\/+$/, '') || '/';
}

function describeDest(x: unknown): string {
  if (x === null) return 'null';
  return typeof x === 'object' ? `an object with keys ${Object.keys(x as object).join(', ') || '(none)'}` : `${typeof x} ${String(x)}`;
}

/**
 * Write `weights` (path + current value) in the tfjs weights format to a directory (created if
 * missing; shards then weights_manifest.json, each atomically) or an IOHandler's save().
 */
export async function writeWeights(weights: readonly { path: string; value: Tensor }[], dest: WeightsDestination, who: string): Promise<SaveResult> {
  const { specs: ws, data } = encodeWeights(weights.map((w) => ({ name: w.path, shape: w.value.shape, dtype: w.value.dtype, data: w.value.dataSync() })), who);
  if (typeof dest === 'string' || dest instanceof URL) {
    const dir = await toDir(dest, who);
    const fs = nodeHost('saveWeights/loadWeights with a file path').fsp;
    const st = await fs.stat(dir).catch(() => undefined);
    if (st && !st.isDirectory()) throw new KilnError(`${who}: ${dir} exists and is not a directory; saveWeights writes ${MANIFEST} and weight shards into a directory`);
    await fs.mkdir(dir, { recursive: true });
    const { manifest, shards } = shardWeights(ws, data);
    await writeFilesAtomic([...shards.map((s) => ({ path: `${dir}/${s.path}`, data: s.data })), { path: `${dir}/${MANIFEST}`, data: JSON.stringify(manifest) }]);
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON', weightSpecsBytes: JSON.stringify(ws).length, weightDataBytes: data.byteLength } };
  }
  if (dest !== null && typeof dest === 'object' && typeof dest.save === 'function') {
    const artifacts: ModelArtifacts = { format: 'weights', generatedBy: 'Kiln', weightSpecs: ws, weightData: data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer };
    return dest.save(artifacts);
  }
  throw new KilnError(`${who}: destination must be a directory (path or file:// URL) or a tfjs IOHandler with save(); got ${describeDest(dest)}`);
}

/** Read weights in the tfjs weights format (a directory's weights_manifest.json, or an IOHandler's load()). */
export async function readWeights(source: WeightsSource, who: string): Promise<Map<string, Tensor>> {
  let specsList: WeightSpec[];
  let bytes: Uint8Array;
  if (typeof source === 'string' || source instanceof URL) {
    const dir = await toDir(source, who);
    const fs = nodeHost('saveWeights/loadWeights with a file path').fsp;
    const file = `${dir}/${MANIFEST}`;
    const text = await fs.readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
      throw new KilnError(`${who}: cannot read ${file}: ${e.code === 'ENOENT' ? 'no such file (saveWeights writes it)' : e.message}`);
    });
    let manifest: WeightGroup[];
    try {
      manifest = JSON.parse(text) as WeightGroup[];
    } catch (e) {
      throw new KilnError(`${who}: ${file} is not valid JSON (${(e as Error).message})`);
    }
    if (!Array.isArray(manifest) || manifest.some((g) => !g || !Array.isArray(g.paths) || !Array.isArray(g.weights))) {
      throw new KilnError(`${who}: ${file} must be a list of {paths, weights} groups (the tfjs weights manifest)`);
    }
    specsList = manifest.flatMap((g) => g.weights);
    const parts: Uint8Array[] = [];
    for (const p of manifest.flatMap((g) => g.paths)) {
      parts.push(new Uint8Array(await fs.readFile(`${dir}/${p}`).catch((e: NodeJS.ErrnoException) => {
        throw new KilnError(`${who}: cannot read the shard ${dir}/${p} listed in ${file}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`);
      })));
    }
    bytes = concatBytes(parts);
  } else if (source !== null && typeof source === 'object' && typeof source.load === 'function') {
    const a = await source.load();
    if (!a || !Array.isArray(a.weightSpecs)) throw new KilnError(`${who}: the IOHandler's load() returned no weightSpecs`);
    specsList = a.weightSpecs;
    const d = a.weightData === undefined ? [] : Array.isArray(a.weightData) ? a.weightData : [a.weightData];
    bytes = concatBytes(d.map((b) => new Uint8Array(b)));
  } else {
    throw new KilnError(`${who}: source must be a directory (path or file:// URL) or a tfjs IOHandler with load(); got ${describeDest(source)}`);
  }
  const decoded = decodeWeights(specsList, bytes, who);
  return new Map([...decoded].map(([name, w]) => [name, Tensor.concrete(literal(w.shape, w.dtype, w.data))]));
}

/** Assign saved values to `weights` by path: every weight must be present with its shape; nothing changes otherwise. */
export function assignByPath(weights: readonly WeightPath[], values: ReadonlyMap<string, Tensor>, who: string): void {
  const missing = weights.filter((w) => !values.has(w.path)).map((w) => w.path);
  const known = new Set(weights.map((w) => w.path));
  const extra = [...values.keys()].filter((n) => !known.has(n));
  if (missing.length > 0 || extra.length > 0) {
    throw new KilnError(
      `${who}: the saved weights do not fit the model: ${missing.length ? `missing ${missing.map((n) => `'${n}'`).join(', ')}` : ''}` +
        `${missing.length && extra.length ? '; ' : ''}${extra.length ? `not in the model ${extra.map((n) => `'${n}'`).join(', ')}` : ''}` +
        ` (the model has ${[...known].map((n) => `'${n}'`).join(', ') || 'no weights: build it first'})`,
    );
  }
  weights.forEach((w) => {
    const v = values.get(w.path)!;
    if (v.dtype !== w.variable.dtype) throw new KilnError(`${who}: weight '${w.path}' is ${w.variable.value.describe()} in the model but ${v.describe()} in the file`);
  });
  try {
    assignWeights(weights.map((w) => w.variable), weights.map((w) => values.get(w.path)!));
  } catch (e) {
    if (e instanceof KilnError) throw new KilnError(`${who}: ${e.message.replace(/^setWeights: /, '')}`);
    throw e;
  }
}
