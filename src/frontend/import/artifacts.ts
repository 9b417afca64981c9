/**
 * Reading a GraphModel's artifacts: model.json and its weight shards from a path / file:// URL,
 * an http(s) URL, a tfjs IOHandler (`load()` returning ModelArtifacts) or ModelArtifacts in
 * memory, and decoding the weights (float32, int32, bool, float16, and uint8/uint16 quantized
 * with min/scale, dequantized as tfjs does). Temporary home until the shared loader in
 * src/frontend/io lands; it is the only copy of this logic.
 */
import { KilnError } from '../../ir/types.js';
import type { DType } from '../../ir/dtype.js';
import type { GraphDefJson, SignatureJson } from './graph_def.js';

export interface WeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype: string; min?: number; scale?: number; original_dtype?: string };
}

export interface WeightGroup {
  paths: string[];
  weights: WeightSpec[];
}

export interface GraphModelJson {
  format?: string;
  generatedBy?: string;
  convertedBy?: string;
  modelTopology: GraphDefJson;
  weightsManifest?: WeightGroup[];
  signature?: SignatureJson;
  userDefinedMetadata?: unknown;
}

/** The tfjs ModelArtifacts subset a GraphModel needs (weightData is one buffer or a list of them). */
export interface GraphModelArtifacts {
  modelTopology?: unknown;
  weightSpecs?: WeightSpec[];
  weightData?: ArrayBuffer | ArrayBuffer[];
  signature?: unknown;
  format?: string;
}

export interface GraphModelIOHandler {
  load(): Promise<GraphModelArtifacts>;
}

export type GraphModelSource = string | URL | GraphModelIOHandler | GraphModelArtifacts;

export interface DecodedWeight {
  dtype: DType;
  shape: number[];
  data: Float32Array | Int32Array | Uint8Array;
}

function isHandler(s: unknown): s is GraphModelIOHandler {
  return typeof s === 'object' && s !== null && typeof (s as GraphModelIOHandler).load === 'function';
}

/** model.json's graph, signature and weights, whatever the source. */
export async function readGraphModel(source: GraphModelSource): Promise<{ graph: GraphDefJson; signature?: SignatureJson; weights: Map<string, DecodedWeight>; where: string }> {
  if (typeof source === 'string' || source instanceof URL) {
    const where = String(source);
    const isHttp = /^https?:\/\//.test(where);
    const readText = async (p: string): Promise<string> => new TextDecoder().decode(await readBytes(p, isHttp));
    const json = JSON.parse(await readText(where)) as GraphModelJson;
    checkJson(json, where);
    const base = where.slice(0, where.lastIndexOf('/') + 1);
    const specs: WeightSpec[] = [];
    const buffers: Uint8Array[] = [];
    for (const group of json.weightsManifest ?? []) {
      specs.push(...group.weights);
      for (const p of group.paths) buffers.push(await readBytes(base + p, isHttp));
    }
    return { graph: json.modelTopology, signature: json.signature, weights: decodeWeights(specs, concat(buffers), where), where };
  }
  const artifacts = isHandler(source) ? await source.load() : source;
  const where = 'the given IOHandler / ModelArtifacts';
  const json = { modelTopology: artifacts.modelTopology, format: artifacts.format } as GraphModelJson;
  checkJson(json, where);
  const data = artifacts.weightData === undefined ? [] : Array.isArray(artifacts.weightData) ? artifacts.weightData : [artifacts.weightData];
  const bytes = concat(data.map((b) => new Uint8Array(b)));
  return { graph: json.modelTopology, signature: artifacts.signature as SignatureJson | undefined, weights: decodeWeights(artifacts.weightSpecs ?? [], bytes, where), where };
}

function checkJson(json: GraphModelJson, where: string): void {
  const topo = json.modelTopology as GraphDefJson | undefined;
  if (json.format !== undefined && json.format !== 'graph-model') {
    throw new KilnError(`loadGraphModel: ${where} has format '${json.format}', expected 'graph-model'${json.format === 'layers-model' ? '; use kiln.loadLayersModel for it' : ''}`);
  }
  if (!topo || !Array.isArray(topo.node)) {
    throw new KilnError(`loadGraphModel: ${where} has no modelTopology.node list: it is not a tfjs GraphModel (a frozen GraphDef as JSON)`);
  }
}

async function readBytes(path: string, http: boolean): Promise<Uint8Array> {
  if (http) {
    const res = await fetch(path);
    if (!res.ok) throw new KilnError(`loadGraphModel: fetching ${path} failed: HTTP ${res.status} ${res.statusText}`);
    return new Uint8Array(await res.arrayBuffer());
  }
  const fs = await import('node:fs/promises');
  const { fileURLToPath } = await import('node:url');
  const file = path.startsWith('file://') ? fileURLToPath(path) : path;
  try {
    return new Uint8Array(await fs.readFile(file));
  } catch (e) {
    throw new KilnError(`loadGraphModel: cannot read ${file}: ${(e as Error).message}`);
  }
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

const STORED_BYTES: Readonly<Record<string, number>> = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2 };

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

/** Weight values by name, in manifest order over the concatenated shards. */
export function decodeWeights(specs: readonly WeightSpec[], bytes: Uint8Array, where: string): Map<string, DecodedWeight> {
  const out = new Map<string, DecodedWeight>();
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  for (const w of specs) {
    const n = w.shape.reduce((p, d) => p * d, 1);
    const stored = w.quantization?.dtype ?? w.dtype;
    const size = STORED_BYTES[stored];
    if (size === undefined) throw new KilnError(`loadGraphModel: weight '${w.name}' in ${where} is stored as ${stored}; supported: ${Object.keys(STORED_BYTES).join(', ')}`);
    if (at + n * size > bytes.byteLength) {
      throw new KilnError(`loadGraphModel: weight '${w.name}' [${w.shape.join(',')}] ${stored} needs bytes ${at}..${at + n * size} but the weight files of ${where} hold ${bytes.byteLength}`);
    }
    let data: Float32Array | Int32Array | Uint8Array;
    let dtype: DType;
    if (w.dtype === 'float32') {
      dtype = 'f32';
      const f = new Float32Array(n);
      const q = w.quantization;
      for (let i = 0; i < n; i++) {
        const o = at + i * size;
        if (stored === 'float32') f[i] = view.getFloat32(o, true);
        else if (stored === 'float16') f[i] = halfToFloat(view.getUint16(o, true));
        else f[i] = (stored === 'uint8' ? view.getUint8(o) : view.getUint16(o, true)) * q!.scale! + q!.min!;
      }
      data = f;
    } else if (w.dtype === 'int32') {
      dtype = 'i32';
      const q = w.quantization;
      const d = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const o = at + i * size;
        d[i] = stored === 'int32' ? view.getInt32(o, true) : Math.round((stored === 'uint8' ? view.getUint8(o) : view.getUint16(o, true)) * q!.scale! + q!.min!);
      }
      data = d;
    } else if (w.dtype === 'bool') {
      dtype = 'bool';
      data = bytes.slice(at, at + n);
    } else {
      throw new KilnError(`loadGraphModel: weight '${w.name}' in ${where} has dtype '${w.dtype}'; supported: float32, int32, bool`);
    }
    out.set(w.name, { dtype, shape: [...w.shape], data });
    at += n * size;
  }
  return out;
}
