/**
 * The frontend's Tensor: either concrete (owns a Literal: a plain typed array and its type) or
 * symbolic (an IR Value recorded in the Trace that is active while a function is being traced).
 * The same op functions accept both. Reading the data of a symbolic tensor is an error that
 * explains why and what to do instead: under tracing, host code runs once, before any data exists.
 * A symbolic tensor used directly as a JS condition (`if (t)`) cannot be trapped (every object is
 * truthy and JS asks it nothing): AutoGraph (autograph/) rewrites such conditions instead.
 */
import type { DType, HostArray } from '../ir/dtype.js';
import type { Value } from '../ir/function.js';
import type { Literal } from '../ir/literal.js';
import { KilnError, numel, tensorType, typeToString, type TensorType } from '../ir/types.js';

/** What the data of a tensor looks like as nested JS arrays (a scalar is a bare number). */
export type NestedArray = number | NestedArray[];

/** The part of a trace a symbolic tensor needs to know about (the trace itself lives in context.ts). */
export interface TraceRef {
  readonly name: string;
  /** False once the trace has finished: its symbolic tensors must not be used any more. */
  readonly open: boolean;
}

const inspectSymbol = Symbol.for('nodejs.util.inspect.custom');

export class Tensor {
  readonly type: TensorType;
  readonly shape: number[];
  readonly dtype: DType;
  readonly rank: number;
  readonly size: number;
  /** Concrete data, absent for symbolic tensors. */
  readonly literal: Literal | undefined;
  /** The IR value this tensor stands for while tracing, absent for concrete tensors. */
  readonly value: Value | undefined;
  readonly trace: TraceRef | undefined;

  private constructor(type: TensorType, lit: Literal | undefined, value: Value | undefined, trace: TraceRef | undefined) {
    this.type = type;
    this.shape = [...type.shape];
    this.dtype = type.dtype;
    this.rank = type.shape.length;
    this.size = numel(type.shape);
    this.literal = lit;
    this.value = value;
    this.trace = trace;
  }

  static concrete(lit: Literal): Tensor {
    return new Tensor(tensorType(lit.type.shape, lit.type.dtype), lit, undefined, undefined);
  }

  static symbolic(value: Value, trace: TraceRef): Tensor {
    return new Tensor(value.type, undefined, value, trace);
  }

  get isSymbolic(): boolean {
    return this.value !== undefined;
  }

  /** `f32[2,3]`, plus where a symbolic tensor comes from. Never throws; use it in messages. */
  describe(): string {
    const t = typeToString(this.type);
    return this.trace ? `symbolic ${t} (traced in '${this.trace.name}')` : t;
  }

  /** The concrete literal, or the explanatory error for a symbolic tensor. */
  concreteLiteral(reading: string): Literal {
    if (this.literal) return this.literal;
    throw symbolicReadError(this, reading);
  }

  /** The elements in row-major order (the tensor's own array: do not mutate it). */
  dataSync(): HostArray {
    return this.concreteLiteral('dataSync()').data;
  }

  data(): Promise<HostArray> {
    try {
      return Promise.resolve(this.dataSync());
    } catch (e) {
      return Promise.reject(e);
    }
  }

  arraySync(): NestedArray {
    const data = this.concreteLiteral('arraySync()').data;
    return toNested(data, this.shape);
  }

  array(): Promise<NestedArray> {
    try {
      return Promise.resolve(this.arraySync());
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** The single element of a one-element tensor. */
  item(): number {
    const data = this.concreteLiteral('item()').data;
    if (data.length !== 1) {
      throw new KilnError(`item(): needs a tensor with exactly one element, got ${this.describe()}; use arraySync() or dataSync()`);
    }
    return data[0]!;
  }

  toString(): string {
    const lit = this.concreteLiteral('toString()');
    return `Tensor ${typeToString(lit.type)}\n${formatNested(toNested(lit.data, this.shape))}`;
  }

  print(): void {
    console.log(this.toString());
  }

  valueOf(): number {
    return this.primitive('valueOf()');
  }

  [Symbol.toPrimitive](hint: string): number | string {
    if (hint === 'string') {
      this.concreteLiteral('conversion to a string');
      return this.toString();
    }
    return this.primitive(hint === 'number' ? 'conversion to a number (e.g. +x)' : 'conversion to a JS value (e.g. x > 0)');
  }

  private primitive(reading: string): number {
    const data = this.concreteLiteral(reading).data;
    if (data.length !== 1) {
      throw new KilnError(`${reading}: only a one-element tensor converts to a number, got ${this.describe()}; use arraySync() or dataSync()`);
    }
    return data[0]!;
  }

  [inspectSymbol](): string {
    if (this.literal) return this.size <= 64 ? this.toString() : `Tensor ${typeToString(this.type)}`;
    return `Tensor<${this.describe()}>`;
  }
}

export function symbolicReadError(t: Tensor, reading: string): KilnError {
  const who = t.trace ? `fn '${t.trace.name}' is tracing` : 'it belongs to a trace';
  const stale = t.trace && !t.trace.open
    ? ` (that trace has already finished: this tensor escaped from the traced function, e.g. through a variable or closure)`
    : '';
  return new KilnError(
    `cannot read ${reading} of ${typeToString(t.type)}: the tensor is symbolic because ${who}${stale}; ` +
    `its value does not exist until the compiled program runs. ` +
    `Use kiln.where(cond, a, b) for data-dependent choices, kiln.cond / kiln.whileLoop for data-dependent branches and loops ` +
    `(kiln.fn's AutoGraph writes them for \`if (x > 0)\` / \`while\` on tensors when it can resolve the function's names: see its scope option), ` +
    `or return the tensor from the function and read it after the call.`,
  );
}

function toNested(data: HostArray, shape: readonly number[]): NestedArray {
  if (shape.length === 0) return data[0]!;
  const build = (dim: number, offset: number, stride: number): NestedArray[] => {
    const n = shape[dim]!;
    const inner = stride / (n || 1);
    const out: NestedArray[] = [];
    for (let i = 0; i < n; i++) {
      out.push(dim === shape.length - 1 ? data[offset + i]! : build(dim + 1, offset + i * inner, inner));
    }
    return out;
  };
  return build(0, 0, numel(shape));
}

function formatNested(v: NestedArray, indent = 0): string {
  if (typeof v === 'number') return String(v);
  if (v.length === 0 || typeof v[0] === 'number') return `[${v.join(', ')}]`;
  const pad = ' '.repeat(indent + 1);
  return `[${v.map((x, i) => (i === 0 ? '' : pad) + formatNested(x, indent + 1)).join(',\n')}]`;
}
