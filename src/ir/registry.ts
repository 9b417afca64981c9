import type * as tf from '@tensorflow/tfjs-core';
import type { Attrs, AttrValue, Func, Value } from './function.js';
import type { Literal } from './literal.js';
import { KilnError, typeToString, type TensorType } from './types.js';
import type { Builder } from './builder.js';

/**
 * How an op behaves for fusion and scheduling:
 * - elementwise: out[i] depends on in[i] of every input (same shapes)
 * - movement: reshape/transpose/broadcast/slice/pad/concat/iota: pure index remapping
 * - reduction: reduce over axes
 * - dot, conv, window: the expensive structured ops
 * - gather, scatter: data-dependent indexing
 * - source: parameter, constant, rng
 * - control: cond, while, scan (nodes with regions and a tuple result) and get_result
 */
export type OpKind = 'elementwise' | 'movement' | 'reduction' | 'dot' | 'conv' | 'window' | 'gather' | 'scatter' | 'source' | 'control';

export type AttrKind = 'int' | 'ints' | 'float' | 'floats' | 'bool' | 'string' | 'dtype' | 'literal';

export interface AttrSpec {
  readonly kind: AttrKind;
  /** When set, the attribute may be omitted and this value is used (the printer omits it when equal). */
  readonly default?: AttrValue;
  /** For string attributes: the allowed values. */
  readonly oneOf?: readonly string[];
}

/**
 * Reverse-mode rule: given the node, its inputs' values (node.inputs) and the cotangent of its
 * output, emit IR computing the cotangent of each input (null where the input is not
 * differentiable, e.g. integer indices). Filled in by the autodiff work.
 */
export type VjpRule = (b: Builder, node: Value, cotangent: Value) => (Value | null)[];

/**
 * Reverse-mode rule of an op with a tuple result (cond, while, scan): one cotangent per tuple
 * element (null where none reaches it), one cotangent (or null) per operand back. Regions are
 * differentiated through `ad`, which the autodiff transform provides.
 */
export type TupleVjpRule = (b: Builder, node: Value, cotangents: readonly (Value | null)[], ad: RegionAutodiff) => (Value | null)[];

export interface RegionAutodiff {
  /**
   * The VJP of a region: parameters fn's, then one cotangent per result; results fn's, then the
   * cotangent of each `wrt` parameter (src/passes/autodiff.ts vjpFunc).
   */
  vjp(fn: Func, wrt: readonly number[]): Func;
}

export interface OpDef {
  readonly name: string;
  readonly kind: OpKind;
  /** Number of inputs, or 'variadic' (one or more). */
  readonly arity: number | 'variadic';
  readonly attrs: Readonly<Record<string, AttrSpec>>;
  /** How many regions (nested functions, Value.regions) a node of this op carries (default 0). */
  readonly regions?: number;
  /**
   * Output type from input types, attributes (and regions, for control flow); throws KilnError
   * via opError on bad input. Control-flow ops return a tuple type (types.ts tupleType).
   */
  infer(inputs: readonly TensorType[], attrs: Attrs, regions?: readonly Func[]): TensorType;
  /**
   * @internal (tfjs-core's types stay out of Kiln's published .d.ts.)
   * Reference kernel on tfjs-core (cpu). Inputs carry the host dtype mapping of the interpreter
   * (floats as float32, integers as int32, bool as bool); the interpreter rounds the result to
   * `out`'s dtype afterwards.
   */
  interpret(inputs: readonly tf.Tensor[], attrs: Attrs, out: TensorType, inTypes: readonly TensorType[]): tf.Tensor;
  vjp?: VjpRule;
  /**
   * @internal Reference kernel of an op with a tuple result and regions: one tensor per tuple
   * element. The interpreter calls it instead of `interpret` (which such ops leave throwing).
   */
  interpretRegions?(inputs: readonly tf.Tensor[], attrs: Attrs, out: TensorType, regions: readonly Func[]): tf.Tensor[];
  /** VJP rule of an op with a tuple result (instead of `vjp`). */
  vjpTuple?: TupleVjpRule;
}

const registry = new Map<string, OpDef>();

export function registerOp(def: OpDef): OpDef {
  if (registry.has(def.name)) throw new Error(`op '${def.name}' registered twice`);
  registry.set(def.name, def);
  return def;
}

export function getOp(name: string): OpDef {
  const def = registry.get(name);
  if (!def) throw new KilnError(`unknown op '${name}' (known ops: ${[...registry.keys()].sort().join(', ')})`);
  return def;
}

export function hasOp(name: string): boolean {
  return registry.has(name);
}

export function allOps(): OpDef[] {
  return [...registry.values()];
}

/** Fill defaults and check every attribute's presence and kind. Returns the completed attrs. */
export function checkAttrs(def: OpDef, attrs: Attrs, inputs: readonly TensorType[]): Attrs {
  const where = () => `${def.name}(${inputs.map(typeToString).join(', ')})`;
  const out: Record<string, AttrValue> = {};
  for (const key of Object.keys(attrs)) {
    if (!(key in def.attrs)) {
      throw new KilnError(`${where()}: unknown attribute '${key}' (expected: ${Object.keys(def.attrs).join(', ') || 'none'})`);
    }
  }
  for (const [key, spec] of Object.entries(def.attrs)) {
    let v = attrs[key];
    if (v === undefined) {
      if (spec.default === undefined) throw new KilnError(`${where()}: missing attribute '${key}' (${spec.kind})`);
      v = spec.default;
    }
    if (!attrMatches(spec, v)) {
      throw new KilnError(`${where()}: attribute '${key}' must be ${describeSpec(spec)}, got ${JSON.stringify(v)}`);
    }
    out[key] = v;
  }
  return out;
}

function attrMatches(spec: AttrSpec, v: AttrValue): boolean {
  switch (spec.kind) {
    case 'int': return typeof v === 'number' && Number.isInteger(v);
    case 'float': return typeof v === 'number';
    case 'bool': return typeof v === 'boolean';
    case 'string': return typeof v === 'string' && (!spec.oneOf || spec.oneOf.includes(v));
    case 'dtype': return typeof v === 'string';
    case 'ints': return Array.isArray(v) && v.every((x) => Number.isInteger(x));
    case 'floats': return Array.isArray(v) && v.every((x) => typeof x === 'number');
    case 'literal': return typeof v === 'object' && v !== null && !Array.isArray(v) && 'data' in v;
  }
}

function describeSpec(spec: AttrSpec): string {
  if (spec.kind === 'string' && spec.oneOf) return `one of ${spec.oneOf.map((s) => `'${s}'`).join(', ')}`;
  return { int: 'an integer', float: 'a number', bool: 'a boolean', string: 'a string', dtype: 'a dtype', ints: 'a list of integers', floats: 'a list of numbers', literal: 'a literal' }[spec.kind];
}

/** Typed attribute readers for op implementations (attrs were checked on creation). */
export const attr = {
  int: (a: Attrs, k: string): number => a[k] as number,
  float: (a: Attrs, k: string): number => a[k] as number,
  bool: (a: Attrs, k: string): boolean => a[k] as boolean,
  str: (a: Attrs, k: string): string => a[k] as string,
  ints: (a: Attrs, k: string): readonly number[] => a[k] as readonly number[],
  floats: (a: Attrs, k: string): readonly number[] => a[k] as readonly number[],
  literal: (a: Attrs, k: string): Literal => a[k] as Literal,
};
