/**
 * Where model artifacts come from and go to: a file path or `file://` URL (Node; a directory
 * means its model.json), an `http(s)://` URL (global fetch; weight paths resolve against the
 * model.json URL, following the manifest's `paths`), any tfjs IOHandler (`load()` / `save()`,
 * so tfjs's own browser-file and IndexedDB handlers work unchanged), or ModelArtifacts already
 * in memory. node:fs is imported only when a file is read or written.
 */
import { KilnError } from '../../ir/types.js';
import type { IOHandler, ModelArtifacts, ModelJson, SaveResult, WeightSpec } from './formats.js';
import { concatBytes, shardWeights } from './weights.js';
import { writeFilesAtomic } from './atomic.js';
import { nodeHost } from '../../host/node.js';

export type ModelSource = string | URL | IOHandler | ModelArtifacts;
export type ModelDestination = string | URL | IOHandler;

/** What every reader returns: model.json's fields, the flat weight specs and all weight bytes. */
export interface LoadedArtifacts {
  json: ModelJson;
  specs: WeightSpec[];
  bytes: Uint8Array;
  /** How messages name the source (a path, a URL, 'the given IOHandler'). */
  where: string;
}

function isLoadHandler(s: unknown): s is Required<Pick<IOHandler, 'load'>> {
  return typeof s === 'object' && s !== null && typeof (s as IOHandler).load === 'function';
}

function describe(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'an array';
  return typeof x === 'object' ? `an object with keys ${Object.keys(x as object).slice(0, 6).join(', ') || '(none)'}` : `${typeof x} ${JSON.stringify(x)}`;
}

/** Read model.json and its weights from any source. `who` names the caller in errors. */
export async function readModelArtifacts(source: ModelSource, who: string): Promise<LoadedArtifacts> {
  if (typeof source === 'string' || source instanceof URL) return readFromUrlOrPath(String(source), who);
  if (isLoadHandler(source)) {
    const artifacts = await source.load();
    if (artifacts === null || typeof artifacts !== 'object') throw new KilnError(`${who}: the IOHandler's load() returned ${describe(artifacts)}, expected tfjs ModelArtifacts`);
    return fromArtifacts(artifacts, 'the given IOHandler', who);
  }
  if (source !== null && typeof source === 'object' && 'modelTopology' in source) return fromArtifacts(source, 'the given ModelArtifacts', who);
  throw new KilnError(`${who}: source must be a path, a file:// or http(s):// URL, a tfjs IOHandler (with load()) or ModelArtifacts; got ${describe(source)}`);
}

function fromArtifacts(a: ModelArtifacts, where: string, who: string): LoadedArtifacts {
  if (a.modelTopology === undefined || a.modelTopology === null) throw new KilnError(`${who}: ${where} has no modelTopology`);
  const data = a.weightData === undefined ? [] : Array.isArray(a.weightData) ? a.weightData : [a.weightData];
  const json: ModelJson = {
    modelTopology: a.modelTopology, format: a.format, generatedBy: a.generatedBy, convertedBy: a.convertedBy,
    trainingConfig: a.trainingConfig, signature: a.signature, userDefinedMetadata: a.userDefinedMetadata,
  };
  return { json, specs: a.weightSpecs ?? [], bytes: concatBytes(data.map((b) => new Uint8Array(b))), where };
}

async function readFromUrlOrPath(where: string, who: string): Promise<LoadedArtifacts> {
  const http = /^https?:\/\//i.test(where);
  let modelUrl = where;
  if (!http) {
    const fs = nodeHost('reading or writing a model by file path').fsp;
    const file = await toPath(where);
    const st = await fs.stat(file).catch(() => undefined);
    if (!st) throw new KilnError(`${who}: ${file} does not exist`);
    if (st.isDirectory()) modelUrl = `${file.replace(/\/+$/, '')}/model.json`;
    else modelUrl = file;
  }
  const text = new TextDecoder().decode(await readBytes(modelUrl, http, who));
  let json: ModelJson;
  try {
    json = JSON.parse(text) as ModelJson;
  } catch (e) {
    throw new KilnError(`${who}: ${modelUrl} is not valid JSON (${(e as Error).message}); is it a model.json?`);
  }
  if (json === null || typeof json !== 'object' || json.modelTopology === undefined) {
    throw new KilnError(`${who}: ${modelUrl} has no modelTopology: it is not a TensorFlow.js model.json`);
  }
  const manifest = json.weightsManifest ?? [];
  if (!Array.isArray(manifest)) throw new KilnError(`${who}: ${modelUrl}: weightsManifest must be a list of {paths, weights}, got ${describe(manifest)}`);
  const base = modelUrl.slice(0, modelUrl.lastIndexOf('/') + 1);
  const specs: WeightSpec[] = [];
  const buffers: Uint8Array[] = [];
  manifest.forEach((group, g) => {
    if (!group || !Array.isArray(group.paths) || !Array.isArray(group.weights)) {
      throw new KilnError(`${who}: ${modelUrl}: weightsManifest[${g}] must have 'paths' and 'weights' lists, got ${describe(group)}`);
    }
    specs.push(...group.weights);
  });
  for (const group of manifest) for (const p of group.paths) buffers.push(await readBytes(base + p, http, who));
  return { json, specs, bytes: concatBytes(buffers), where: modelUrl };
}

async function toPath(where: string): Promise<string> {
  if (!where.startsWith('file://')) return where;
  const { fileURLToPath } = nodeHost('reading or writing a model by file path').url;
  return fileURLToPath(where);
}

async function readBytes(path: string, http: boolean, who: string): Promise<Uint8Array> {
  if (http) {
    let res: Response;
    try {
      res = await fetch(path);
    } catch (e) {
      throw new KilnError(`${who}: fetching ${path} failed: ${(e as Error).message}`);
    }
    if (!res.ok) throw new KilnError(`${who}: fetching ${path} failed: HTTP ${res.status} ${res.statusText}`);
    return new Uint8Array(await res.arrayBuffer());
  }
  const fs = nodeHost('reading or writing a model by file path').fsp;
  try {
    return new Uint8Array(await fs.readFile(path));
  } catch (e) {
    throw new KilnError(`${who}: cannot read ${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
}

/**
 * Save artifacts: to a directory (path or file://; created if missing) as model.json plus
 * `group1-shardNofM.bin` shards of at most 4 MB, each file written atomically with model.json
 * last; or through an IOHandler's save() (weightData as one ArrayBuffer, as tfjs passes it).
 */
export async function writeModelArtifacts(dest: ModelDestination, artifacts: ModelArtifacts & { weightData?: ArrayBuffer }, who: string): Promise<SaveResult> {
  const weightData = new Uint8Array(artifacts.weightData ?? new ArrayBuffer(0));
  if (typeof dest === 'string' || dest instanceof URL) {
    const where = String(dest);
    if (/^https?:\/\//i.test(where)) throw new KilnError(`${who}: cannot save to ${where}: give a directory (path or file://) or an IOHandler (e.g. tf.io.browserHTTPRequest)`);
    const dir = (await toPath(where)).replace(/\/model\.json$/, '');
    const fs = nodeHost('reading or writing a model by file path').fsp;
    const st = await fs.stat(dir).catch(() => undefined);
    if (st && !st.isDirectory()) throw new KilnError(`${who}: ${dir} exists and is not a directory; model.save writes model.json and weight shards into a directory`);
    await fs.mkdir(dir, { recursive: true });
    const { manifest, shards } = shardWeights(artifacts.weightSpecs ?? [], weightData);
    const json: ModelJson = {
      format: artifacts.format, generatedBy: artifacts.generatedBy, convertedBy: artifacts.convertedBy ?? null,
      modelTopology: artifacts.modelTopology, weightsManifest: manifest,
      ...(artifacts.trainingConfig ? { trainingConfig: artifacts.trainingConfig } : {}),
      ...(artifacts.userDefinedMetadata ? { userDefinedMetadata: artifacts.userDefinedMetadata } : {}),
    };
    const text = JSON.stringify(json);
    await writeFilesAtomic([...shards.map((s) => ({ path: `${dir}/${s.path}`, data: s.data })), { path: `${dir}/model.json`, data: text }]);
    return {
      modelArtifactsInfo: {
        dateSaved: new Date(), modelTopologyType: 'JSON', modelTopologyBytes: JSON.stringify(artifacts.modelTopology).length,
        weightSpecsBytes: JSON.stringify(artifacts.weightSpecs ?? []).length, weightDataBytes: weightData.byteLength,
      },
    };
  }
  if (dest !== null && typeof dest === 'object' && typeof dest.save === 'function') {
    const buffer = weightData.buffer.slice(weightData.byteOffset, weightData.byteOffset + weightData.byteLength) as ArrayBuffer;
    return dest.save({ ...artifacts, weightData: buffer });
  }
  throw new KilnError(`${who}: destination must be a directory (path or file:// URL) or a tfjs IOHandler with save(); got ${describe(dest)}`);
}
