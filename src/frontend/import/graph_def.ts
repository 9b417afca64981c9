/**
 * The TensorFlow GraphDef as tfjs-converter writes it into a GraphModel's model.json (protobuf
 * JSON: int64 values as decimal strings, bytes as base64), and the one place its attributes are
 * decoded. Translation functions read attributes only through `NodeAttrs`, which checks each
 * value's kind and names the node, the attribute and what it found when it is missing or wrong.
 */
import { parseDType, type DType } from '../../ir/dtype.js';
import { KilnError } from '../../ir/types.js';
import type { TensorShapeJson, TensorJson, AttrValueJson, NodeDefJson, GraphDefJson, SignatureTensorJson, SignatureJson } from '../io/formats.js';

// The GraphDef JSON types are typed with the other serialized formats in io/formats.ts.
export type { TensorShapeJson, TensorJson, AttrValueJson, NodeDefJson, GraphDefJson, SignatureTensorJson, SignatureJson } from '../io/formats.js';

/** TensorFlow's DT_* enum names that Kiln can hold, as Kiln dtypes (int64 arrives as int32 from tfjs). */
const TF_DTYPES: Readonly<Record<string, DType>> = {
  DT_FLOAT: 'f32', DT_HALF: 'f16', DT_BFLOAT16: 'bf16', DT_INT32: 'i32', DT_INT64: 'i32', DT_INT8: 'i8', DT_UINT8: 'u8', DT_BOOL: 'bool', DT_DOUBLE: 'f32',
};

export function tfDType(name: string | undefined, where: string): DType {
  const d = name === undefined ? undefined : TF_DTYPES[name];
  if (d) return d;
  throw new KilnError(`${where}: TensorFlow dtype ${JSON.stringify(name)} is not supported (supported: ${Object.keys(TF_DTYPES).join(', ')})`);
}

/** Dims of a TensorShapeProto, -1 for unknown; undefined for an unknown rank. */
export function shapeDims(s: TensorShapeJson | undefined): number[] | undefined {
  if (!s || s.unknownRank) return undefined;
  return (s.dim ?? []).map((d) => Number(d.size ?? -1));
}

// atob and TextDecoder exist in Node and browsers alike (no Buffer, so bundles need no shim).
function base64Bytes(s: string): Uint8Array {
  return Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
}

export function base64String(s: string): string {
  return new TextDecoder().decode(base64Bytes(s));
}

/** A small tensor stored inline in a node's attribute (`attr.value.tensor`): values and shape. */
export function decodeTensorJson(t: TensorJson, where: string): { dtype: DType; shape: number[]; values: ArrayLike<number> } {
  const dtype = tfDType(t.dtype, where);
  const shape = shapeDims(t.tensorShape) ?? [];
  if (shape.some((d) => d < 0)) throw new KilnError(`${where}: inline tensor has an unknown dimension: [${shape.join(',')}]`);
  const n = shape.reduce((p, d) => p * d, 1);
  if (t.tensorContent !== undefined) {
    const bytes = base64Bytes(t.tensorContent);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const out = new Array<number>(n);
    const wide = t.dtype === 'DT_INT64' || t.dtype === 'DT_DOUBLE';
    for (let i = 0; i < n; i++) {
      if (dtype === 'f32') out[i] = wide ? view.getFloat64(i * 8, true) : view.getFloat32(i * 4, true);
      else if (dtype === 'i32') out[i] = wide ? Number(view.getBigInt64(i * 8, true)) : view.getInt32(i * 4, true);
      else if (dtype === 'u8' || dtype === 'bool') out[i] = view.getUint8(i);
      else if (dtype === 'i8') out[i] = view.getInt8(i);
      else throw new KilnError(`${where}: inline tensorContent of dtype ${t.dtype} is not supported`);
    }
    return { dtype, shape, values: out };
  }
  const raw: (number | string | boolean)[] = t.floatVal ?? t.doubleVal ?? t.intVal ?? t.int64Val ?? t.boolVal ?? t.halfVal ?? [];
  if (t.stringVal) throw new KilnError(`${where}: string tensors are not supported`);
  const vals = raw.map((v) => (typeof v === 'boolean' ? (v ? 1 : 0) : Number(v)));
  // TensorProto repeats the last value to fill the shape (a splat stores one value).
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) out[i] = vals.length === 0 ? 0 : vals[Math.min(i, vals.length - 1)]!;
  return { dtype, shape, values: out };
}

const ZERO_ATTRS: Partial<Record<keyof AttrValueJson, AttrValueJson>> = {
  i: { i: '0' }, f: { f: 0 }, b: { b: false }, s: { s: '' }, list: { list: {} },
};

/** Typed access to one node's attributes; errors name the node, its op and the attribute. */
export class NodeAttrs {
  constructor(readonly node: NodeDefJson) {}

  private where(name: string): string {
    return `node '${this.node.name}' (${this.node.op}): attribute '${name}'`;
  }

  has(name: string): boolean {
    return this.node.attr?.[name] !== undefined;
  }

  private get(name: string, kind: keyof AttrValueJson, dflt: unknown): AttrValueJson | undefined {
    const a = this.node.attr?.[name];
    if (a === undefined) {
      if (dflt === undefined) throw new KilnError(`${this.where(name)} is missing`);
      return undefined;
    }
    // Protobuf JSON may drop a zero value ({} for i: 0 or b: false): that is the zero of the kind.
    if (Object.keys(a).length === 0 && ZERO_ATTRS[kind]) return ZERO_ATTRS[kind];
    if (a[kind] === undefined && kind !== 'list') {
      throw new KilnError(`${this.where(name)} should hold '${kind}', got ${JSON.stringify(a)}`);
    }
    return a;
  }

  string(name: string, dflt?: string): string {
    const a = this.get(name, 's', dflt);
    return a ? base64String(a.s!) : dflt!;
  }

  int(name: string, dflt?: number): number {
    const a = this.get(name, 'i', dflt);
    return a ? Number(a.i) : dflt!;
  }

  float(name: string, dflt?: number): number {
    const a = this.get(name, 'f', dflt);
    return a ? Number(a.f) : dflt!;
  }

  bool(name: string, dflt?: boolean): boolean {
    const a = this.get(name, 'b', dflt);
    return a ? a.b! : dflt!;
  }

  dtype(name: string, dflt?: DType): DType {
    const a = this.get(name, 'type', dflt);
    return a ? tfDType(a.type, this.where(name)) : dflt!;
  }

  ints(name: string, dflt?: number[]): number[] {
    const a = this.get(name, 'list', dflt);
    return a ? (a.list?.i ?? []).map(Number) : dflt!;
  }

  floats(name: string, dflt?: number[]): number[] {
    const a = this.get(name, 'list', dflt);
    return a ? (a.list?.f ?? []).map(Number) : dflt!;
  }

  strings(name: string, dflt?: string[]): string[] {
    const a = this.get(name, 'list', dflt);
    return a ? (a.list?.s ?? []).map(base64String) : dflt!;
  }

  shape(name: string): number[] | undefined {
    return shapeDims(this.node.attr?.[name]?.shape);
  }

  tensor(name: string): { dtype: DType; shape: number[]; values: ArrayLike<number> } | undefined {
    const t = this.node.attr?.[name]?.tensor;
    return t ? decodeTensorJson(t, this.where(name)) : undefined;
  }
}

/** Parse a GraphDef dtype name, also accepting tfjs names ('float32'), for messages and signatures. */
export function anyDType(name: string | undefined, where: string): DType {
  if (name?.startsWith('DT_')) return tfDType(name, where);
  return parseDType(name, where);
}
