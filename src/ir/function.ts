import type { Literal } from './literal.js';
import type { TensorType } from './types.js';

/** An attribute value. Literals only appear on `constant`. */
export type AttrValue = number | boolean | string | readonly number[] | Literal;
export type Attrs = Readonly<Record<string, AttrValue>>;

let nextId = 1;

/**
 * An SSA value: the single result of one node. Parameters are values whose op is
 * `parameter` (attrs.index gives their position). Values are never mutated after a
 * pass finishes with them; `inputs` is mutable only so rewrites can redirect uses.
 */
export class Value {
  readonly id = nextId++;
  constructor(
    readonly op: string,
    public inputs: Value[],
    readonly attrs: Attrs,
    readonly type: TensorType,
    /** Optional readable name, used by the printer for parameters and for debugging. */
    public name?: string,
    /**
     * Nested functions of a control-flow node (cond's branches, while's cond and body, scan's
     * body). Regions are closed: they read only their own parameters (outer values a branch needs
     * are passed as operands), so passes treat each region as a function of its own.
     */
    public regions: Func[] = [],
  ) {}
  get shape(): readonly number[] {
    return this.type.shape;
  }
  get dtype(): TensorType['dtype'] {
    return this.type.dtype;
  }
}

/** A result aliased to a parameter: the parameter's buffer is donated to the result (state updates). */
export interface Alias {
  readonly result: number;
  readonly param: number;
}

/**
 * A function: parameters, a body of values in topological order, and results.
 * Results may be parameters or body values; a value may be returned more than once.
 */
export class Func {
  constructor(
    public name: string,
    public params: Value[],
    public body: Value[],
    public results: Value[],
    public resultNames: string[] = results.map((_, i) => `out${i}`),
    public aliases: Alias[] = [],
  ) {}

  /** Number of uses of each value (as node inputs and as results). */
  useCounts(): Map<Value, number> {
    const counts = new Map<Value, number>();
    for (const v of this.body) for (const i of v.inputs) counts.set(i, (counts.get(i) ?? 0) + 1);
    for (const r of this.results) counts.set(r, (counts.get(r) ?? 0) + 1);
    return counts;
  }

  /** Users of each value, in body order (results are not listed). */
  users(): Map<Value, Value[]> {
    const users = new Map<Value, Value[]>();
    for (const v of this.body) {
      for (const i of v.inputs) {
        let list = users.get(i);
        if (!list) users.set(i, (list = []));
        if (!list.includes(v)) list.push(v);
      }
    }
    return users;
  }

  /** Redirect every use of `from` (node inputs and results) to `to`. */
  replaceAllUses(from: Value, to: Value): void {
    if (from === to) return;
    for (const v of this.body) {
      for (let k = 0; k < v.inputs.length; k++) if (v.inputs[k] === from) v.inputs[k] = to;
    }
    for (let k = 0; k < this.results.length; k++) if (this.results[k] === from) this.results[k] = to;
  }

  /** Insert `v` into the body right before `anchor` (or at the end when anchor is absent). */
  insertBefore(anchor: Value | undefined, ...vs: Value[]): void {
    const at = anchor ? this.body.indexOf(anchor) : -1;
    if (at < 0) this.body.push(...vs);
    else this.body.splice(at, 0, ...vs);
  }

  /** A deep copy: new Value objects with the same ops, attrs, types and structure. */
  clone(): Func {
    const map = new Map<Value, Value>();
    const get = (v: Value): Value => {
      const m = map.get(v);
      if (!m) throw new Error(`clone: value %${v.id} used before its definition`);
      return m;
    };
    const params = this.params.map((p) => {
      const q = new Value(p.op, [], p.attrs, p.type, p.name);
      map.set(p, q);
      return q;
    });
    const body = this.body.map((v) => {
      const q = new Value(v.op, v.inputs.map(get), v.attrs, v.type, v.name, v.regions.map((r) => r.clone()));
      map.set(v, q);
      return q;
    });
    return new Func(this.name, params, body, this.results.map(get), [...this.resultNames], [...this.aliases]);
  }
}
