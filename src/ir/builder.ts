import { Func, Value, type Attrs } from './function.js';
import { literal, type Literal } from './literal.js';
import { checkAttrs, getOp } from './registry.js';
import { KilnError, typeToString, type TensorType } from './types.js';
import type { DType } from './dtype.js';

/**
 * Create a checked value for `op`: arity, attributes (defaults filled) and the inferred output
 * type. The value is not placed in any function; Builder and passes do that.
 */
export function makeValue(op: string, inputs: readonly Value[], attrs: Attrs = {}, regions: readonly Func[] = []): Value {
  const def = getOp(op);
  const types = inputs.map((v) => v.type);
  if (def.arity === 'variadic' ? inputs.length < 1 : inputs.length !== def.arity) {
    const want = def.arity === 'variadic' ? 'at least 1' : String(def.arity);
    throw new KilnError(`${op}(${types.map(typeToString).join(', ')}): expects ${want} operand(s), got ${inputs.length}`);
  }
  checkRegionCount(op, def.regions ?? 0, regions.length, types);
  const full = checkAttrs(def, attrs, types);
  const type = def.infer(types, full, regions);
  return new Value(op, [...inputs], full, type, undefined, [...regions]);
}

/** Regions are part of an op's signature: a cond has exactly two, a plain op none. */
export function checkRegionCount(op: string, want: number, got: number, types: readonly TensorType[]): void {
  if (want !== got) throw new KilnError(`${op}(${types.map(typeToString).join(', ')}): expects ${want} region(s), got ${got}`);
}

/** Builds a Func node by node, in topological order by construction. */
export class Builder {
  readonly params: Value[] = [];
  readonly body: Value[] = [];

  constructor(public name = 'main') {}

  param(type: TensorType, name?: string): Value {
    const v = new Value('parameter', [], { index: this.params.length }, type, name ?? `arg${this.params.length}`);
    this.params.push(v);
    return v;
  }

  op(op: string, inputs: readonly Value[], attrs: Attrs = {}, regions: readonly Func[] = []): Value {
    const v = makeValue(op, inputs, attrs, regions);
    this.body.push(v);
    return v;
  }

  constant(lit: Literal): Value {
    return this.op('constant', [], { value: lit });
  }

  /** A rank-0 constant. */
  scalar(x: number, dtype: DType = 'f32'): Value {
    return this.constant(literal([], dtype, [x]));
  }

  /** A constant of `type` filled with `x`. */
  full(x: number, type: TensorType): Value {
    return this.op('broadcast_in_dim', [this.scalar(x, type.dtype)], { shape: type.shape, dims: [] });
  }

  build(results: readonly Value[], resultNames?: readonly string[]): Func {
    return new Func(this.name, [...this.params], [...this.body], [...results], resultNames ? [...resultNames] : undefined);
  }
}

export function describe(v: Value): string {
  return `${v.op} %${v.id}: ${typeToString(v.type)}`;
}
