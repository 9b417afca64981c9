/**
 * AutoGraph's runtime helpers: what converted source calls instead of `if`, `?:`, `while`, `&&`,
 * `<`, `+`... (TensorFlow's `ag__.if_stmt` / `while_stmt`). Each helper decides at trace time:
 * when the condition (or an operand) is a symbolic Tensor it builds `kiln.cond` /
 * `kiln.whileLoop` over the statement's variables (or the tensor op); otherwise it runs plain
 * JavaScript, exactly as the original statement would, so conditions on JS values keep running
 * (and unrolling) at trace time. A concrete one-element tensor used as a condition is read (its
 * value exists); a larger one is refused, as a JS object would otherwise be silently truthy.
 *
 * Statement variables cross a converted statement through `get`/`set` closures the transform
 * writes (`() => [a, b]`, `(v) => { [a, b] = v; }`): the helper snapshots them, runs a branch
 * or the body inside the region function, and reads them back. Numbers and booleans assigned
 * there become scalar tensors (the dtype of the value they meet, else i32 / f32 / bool).
 */
import type { DType } from '../../ir/dtype.js';
import { isFloat } from '../../ir/dtype.js';
import { KilnError, typeToString } from '../../ir/types.js';
import { scalar } from '../creation.js';
import * as ew from '../elementwise.js';
import { reshape } from '../manipulation.js';
import { Tensor } from '../tensor.js';
import { cond as kilnCond, whileLoop as kilnWhileLoop } from '../control_flow.js';

/** One converted statement or expression, for messages: `the if at line 3 (`if (c) {`)`. */
export interface Site {
  readonly construct: string;
  /** 1-based line in the function's source text (`f.toString()`). */
  readonly line: number;
  /** That line, trimmed. */
  readonly text: string;
}

export interface RuntimeOptions {
  /** Bound given to every tensor `while` (kiln.whileLoop's maximumIterations): needed for gradients. */
  maximumIterations?: number;
}

type Thunk = () => unknown;
type Getter = () => unknown[];
type Setter = (values: unknown[]) => void;

const isSymbolic = (x: unknown): x is Tensor => x instanceof Tensor && x.isSymbolic;

/** How one variable crosses a tensor-conditioned statement: as a tensor, or as an unchanged JS value. */
type Slot = { kind: 'tensor'; type: string; dtype: DType; fromJs?: string } | { kind: 'js'; value: unknown };

export class AutographRuntime {
  constructor(
    /** The converted function's name, for messages. */
    readonly fnName: string,
    readonly sites: readonly Site[],
    readonly options: RuntimeOptions = {},
  ) {}

  private where(site: number): string {
    const s = this.sites[site];
    return s ? `the ${s.construct} at line ${s.line} of '${this.fnName}' (\`${s.text}\`)` : `'${this.fnName}'`;
  }

  private fail(site: number, msg: string): never {
    throw new KilnError(`AutoGraph: ${this.where(site)}: ${msg}`);
  }

  // ---- conditions -----------------------------------------------------------------------------

  /** JS truthiness, reading a concrete tensor's single element; symbolic tensors never get here. */
  private truthy(x: unknown, site: number): boolean {
    if (x instanceof Tensor) {
      if (x.size !== 1) this.fail(site, `the condition is a tensor of ${x.describe()}; a condition must have one element (reduce it with kiln.any / kiln.all / kiln.sum first)`);
      return x.dataSync()[0] !== 0;
    }
    return Boolean(x);
  }

  /** A symbolic condition as a bool scalar predicate. */
  private predicate(c: Tensor, site: number): Tensor {
    if (c.size !== 1) this.fail(site, `the condition is ${c.describe()}; a tensor condition must have one element (reduce it with kiln.any / kiln.all / kiln.sum first)`);
    const b = toBool(c);
    return b.rank === 0 ? b : reshape(b, []);
  }

  /** A condition kept as plain JS because its statement could not be converted: refuse a symbolic tensor. */
  jsCond(c: unknown, site: number, why: string): boolean {
    if (isSymbolic(c)) {
      this.fail(site, `the condition is a symbolic tensor (${c.describe()}), but this ${this.sites[site]?.construct ?? 'statement'} cannot be converted ` +
        `to kiln.cond / kiln.whileLoop: ${why}. Write it with kiln.cond, kiln.whileLoop or kiln.scan directly`);
    }
    return this.truthy(c, site);
  }

  /** `a && b` in a condition: tensor logicalAnd when either side is symbolic. */
  and(a: Thunk, b: Thunk): unknown {
    const x = a();
    if (!isSymbolic(x)) return this.truthy(x, -1) ? b() : x;
    const y = b();
    if (!isSymbolic(y)) return this.truthy(y, -1) ? toBool(x) : false;
    return ew.logicalAnd(toBool(x), toBool(y));
  }

  /** `a || b` in a condition. */
  or(a: Thunk, b: Thunk): unknown {
    const x = a();
    if (!isSymbolic(x)) return this.truthy(x, -1) ? x : b();
    const y = b();
    if (!isSymbolic(y)) return this.truthy(y, -1) ? true : toBool(x);
    return ew.logicalOr(toBool(x), toBool(y));
  }

  /** `!a` in a condition. */
  not(x: unknown): unknown {
    return isSymbolic(x) ? ew.logicalNot(toBool(x)) : !this.truthy(x, -1);
  }

  // ---- operators (JS on JS values, tensor ops when an operand is a Tensor) -------------------------

  add(a: unknown, b: unknown): unknown {
    return tensorOp(a, b) ? ew.add(...promote(a, b)) : (a as number) + (b as number);
  }
  sub(a: unknown, b: unknown): unknown {
    return tensorOp(a, b) ? ew.sub(...promote(a, b)) : (a as number) - (b as number);
  }
  mul(a: unknown, b: unknown): unknown {
    return tensorOp(a, b) ? ew.mul(...promote(a, b)) : (a as number) * (b as number);
  }
  div(a: unknown, b: unknown): unknown {
    return tensorOp(a, b) ? ew.div(...promote(a, b)) : (a as number) / (b as number);
  }
  mod(a: unknown, b: unknown): unknown {
    return tensorOp(a, b) ? ew.mod(...promote(a, b)) : (a as number) % (b as number);
  }
  pow(a: unknown, b: unknown): unknown {
    return tensorOp(a, b) ? ew.pow(...promote(a, b)) : (a as number) ** (b as number);
  }
  neg(a: unknown): unknown {
    return a instanceof Tensor ? ew.neg(a) : -(a as number);
  }
  lt(a: unknown, b: unknown): unknown {
    return tensorOp(a, b) ? ew.less(...promote(a, b)) : (a as number) < (b as number);
  }
  le(a: unknown, b: unknown): unknown {
    return tensorOp(a, b) ? ew.lessEqual(...promote(a, b)) : (a as number) <= (b as number);
  }
  gt(a: unknown, b: unknown): unknown {
    return tensorOp(a, b) ? ew.greater(...promote(a, b)) : (a as number) > (b as number);
  }
  ge(a: unknown, b: unknown): unknown {
    return tensorOp(a, b) ? ew.greaterEqual(...promote(a, b)) : (a as number) >= (b as number);
  }

  // ---- statements ----------------------------------------------------------------------------------

  /**
   * `if (cond) then else`: the variables `names` (assigned in a branch; `live[k]` when read after
   * the statement) become kiln.cond's outputs when cond is symbolic.
   */
  ifStmt(cond: unknown, thenFn: () => void, elseFn: () => void, get: Getter, set: Setter,
    names: readonly string[], live: readonly number[], site: number): void {
    if (!isSymbolic(cond)) {
      if (this.truthy(cond, site)) thenFn();
      else elseFn();
      return;
    }
    const pred = this.predicate(cond, site);
    const init = get();
    const outIdx = names.map((_, k) => k).filter((k) => live[k]);
    if (outIdx.length === 0) {
      // Nothing the branches assign is read afterwards: both branches are dead code.
      set(init);
      return;
    }
    let slots: Slot[] | undefined;
    const branch = (which: 'then' | 'else', body: () => void) => (): Tensor[] => {
      set(init);
      body();
      const vals = get();
      const first = slots === undefined;
      const mine: Slot[] = [];
      const outs: Tensor[] = [];
      outIdx.forEach((k, j) => {
        const v = vals[k];
        const name = names[k]!;
        if (v === undefined) {
          this.fail(site, `variable '${name}' is read after the if but has no value at the end of its ${which} branch ` +
            `(it is assigned only in the other branch); a tensor-conditioned if needs it in both: give it a value before the if or in the ${which} branch`);
        }
        const other = slots?.[j];
        if (v instanceof Tensor || typeof v === 'number' || typeof v === 'boolean') {
          const hint = other?.kind === 'tensor' ? other.dtype : init[k] instanceof Tensor ? (init[k] as Tensor).dtype : undefined;
          const t = toTensor(v, hint);
          if (other && other.kind === 'tensor' && typeToString(t.type) !== other.type) {
            this.fail(site, `variable '${name}' is ${other.type}${other.fromJs ?? ''} after the then branch but ${typeToString(t.type)}` +
              `${v instanceof Tensor ? '' : ` (from the JS value ${String(v)})`} after the else branch; both branches must give it the same dtype and shape`);
          }
          if (other && other.kind === 'js') {
            this.fail(site, `variable '${name}' holds a JS ${describeJs(other.value)} after the then branch but a tensor after the else branch; only tensors (or numbers) can depend on a tensor condition`);
          }
          mine.push({ kind: 'tensor', type: typeToString(t.type), dtype: t.dtype, fromJs: v instanceof Tensor ? undefined : ` (from the JS value ${String(v)})` });
          outs.push(t);
        } else {
          if (other && (other.kind !== 'js' || other.value !== v)) {
            this.fail(site, `variable '${name}' holds a JS ${describeJs(v)} that depends on the tensor condition; only tensors (or numbers and booleans) can be assigned in a tensor-conditioned branch and read after it`);
          }
          mine.push({ kind: 'js', value: v });
        }
      });
      if (first) slots = mine;
      // Every variable kept a JS value the branches agree on: kiln.cond still needs one result.
      if (outs.length === 0) outs.push(scalar(false, 'bool'));
      return outs;
    };
    const out = kilnCond(pred, branch('then', thenFn), branch('else', elseFn));
    const result = [...init];
    let t = 0;
    outIdx.forEach((k, j) => {
      const s = slots![j]!;
      result[k] = s.kind === 'tensor' ? out[t++]! : s.value;
    });
    set(result);
  }

  /** `if (cond) { ...; return a } else { ...; return b }`: the returned values go through kiln.cond. */
  ifReturn(cond: unknown, thenFn: Thunk, elseFn: Thunk, site: number): unknown {
    if (!isSymbolic(cond)) return this.truthy(cond, site) ? thenFn() : elseFn();
    return this.condValue(this.predicate(cond, site), thenFn, elseFn, site, 'return value');
  }

  /** `cond ? a : b`. */
  ifExp(cond: unknown, a: Thunk, b: Thunk, site: number): unknown {
    if (!isSymbolic(cond)) return this.truthy(cond, site) ? a() : b();
    return this.condValue(this.predicate(cond, site), a, b, site, 'value');
  }

  /** kiln.cond over branch values: a Tensor, a number, or an array / record of them. */
  private condValue(pred: Tensor, a: Thunk, b: Thunk, site: number, what: string): unknown {
    let shape: Structure | undefined;
    let types: string[] | undefined;
    let dtypes: DType[] | undefined;
    const run = (which: 'then' | 'else', f: Thunk) => (): Tensor[] => {
      const v = f();
      const s = structureOf(v);
      if (!s) {
        this.fail(site, `the ${which} branch's ${what} is ${describeJs(v)}; under a tensor condition each branch must give a Tensor (or a number, or an array or record of them)`);
      }
      const leaves = s.leaves.map((x, i) => toTensor(x, dtypes?.[i]));
      if (!shape) {
        shape = s;
        types = leaves.map((t) => typeToString(t.type));
        dtypes = leaves.map((t) => t.dtype);
      } else if (s.key !== shape.key) {
        this.fail(site, `the then branch's ${what} is ${shape.key} but the else branch's is ${s.key}; both branches must give the same structure`);
      } else {
        leaves.forEach((t, i) => {
          if (typeToString(t.type) !== types![i]) {
            this.fail(site, `the ${what} is ${types![i]} in the then branch but ${typeToString(t.type)} in the else branch${s.leaves.length > 1 ? ` (element ${s.names[i]})` : ''}; both branches must give the same dtype and shape`);
          }
        });
      }
      return leaves;
    };
    const out = kilnCond(pred, run('then', a), run('else', b));
    return shape!.rebuild(out);
  }

  /**
   * `while (test()) body()`: plain JS while the condition is a JS value; from the first
   * symbolic condition on (usually the first), the rest of the loop is one kiln.whileLoop over
   * `names` (the variables the body assigns and the loop reads).
   */
  whileStmt(test: Thunk, body: () => void, get: Getter, set: Setter, names: readonly string[], site: number): void {
    let c = test();
    for (;;) {
      if (isSymbolic(c)) return this.tensorWhile(c, test, body, get, set, names, site);
      if (!this.truthy(c, site)) return;
      body();
      c = test();
    }
  }

  private tensorWhile(first: Tensor, test: Thunk, body: () => void, get: Getter, set: Setter, names: readonly string[], site: number): void {
    this.predicate(first, site);
    const init = get();
    const slots: Slot[] = [];
    const loopVars: Tensor[] = [];
    init.forEach((v, k) => {
      const name = names[k]!;
      if (v === undefined) {
        this.fail(site, `variable '${name}' is assigned in the loop and read by it but has no value before it; a tensor loop needs an initial value for each loop variable`);
      }
      if (v instanceof Tensor || typeof v === 'number' || typeof v === 'boolean') {
        const t = toTensor(v);
        loopVars.push(t);
        slots.push({ kind: 'tensor', type: typeToString(t.type), dtype: t.dtype, fromJs: v instanceof Tensor ? undefined : ` (from the JS value ${String(v)})` });
      } else {
        slots.push({ kind: 'js', value: v });
      }
    });
    if (loopVars.length === 0) {
      this.fail(site, `the condition is a symbolic tensor but the loop assigns no variable it could carry (${names.length ? `only JS values: ${names.join(', ')}` : 'none'}), so the condition could never change`);
    }
    const setFrom = (vs: readonly Tensor[]): void => {
      let t = 0;
      set(slots.map((s) => (s.kind === 'tensor' ? vs[t++]! : s.value)));
    };
    const condFn = (...vs: Tensor[]): Tensor => {
      setFrom(vs);
      const c = test();
      return c instanceof Tensor ? this.predicate(c, site) : scalar(this.truthy(c, site), 'bool');
    };
    const bodyFn = (...vs: Tensor[]): Tensor[] => {
      setFrom(vs);
      body();
      const after = get();
      const outs: Tensor[] = [];
      slots.forEach((s, k) => {
        const v = after[k];
        const name = names[k]!;
        if (s.kind === 'js') {
          if (v !== s.value) this.fail(site, `variable '${name}' holds a JS ${describeJs(s.value)} that the loop body changes; only tensors (or numbers and booleans) can change in a tensor loop (collect per-step values with kiln.scan)`);
          return;
        }
        if (!(v instanceof Tensor || typeof v === 'number' || typeof v === 'boolean')) {
          this.fail(site, `loop variable '${name}' enters the loop as ${s.type} but the body makes it ${describeJs(v)}`);
        }
        const t = toTensor(v, s.dtype);
        if (typeToString(t.type) !== s.type) {
          this.fail(site, `loop variable '${name}' enters the loop as ${s.type}${s.fromJs ?? ''} but one iteration makes it ${typeToString(t.type)}; ` +
            `a loop variable keeps its dtype and shape (initialize it with the right dtype, e.g. kiln.scalar(0, 'f32'))`);
        }
        outs.push(t);
      });
      return outs;
    };
    const max = this.options.maximumIterations;
    const out = kilnWhileLoop(condFn, bodyFn, loopVars, max === undefined ? undefined : { maximumIterations: max });
    setFrom(out);
  }
}

// ---- values ------------------------------------------------------------------------------------------

function tensorOp(a: unknown, b: unknown): boolean {
  return a instanceof Tensor || b instanceof Tensor;
}

/** Operands of a tensor op: JS numbers take the tensor's dtype; int/bool meets float as float. */
function promote(a: unknown, b: unknown): [Tensor | number, Tensor | number] {
  const x = typeof a === 'boolean' ? Number(a) : a;
  const y = typeof b === 'boolean' ? Number(b) : b;
  if (!(x instanceof Tensor) && typeof x !== 'number') throw new KilnError(`AutoGraph: an operator mixes a Tensor with a JS ${describeJs(x)}`);
  if (!(y instanceof Tensor) && typeof y !== 'number') throw new KilnError(`AutoGraph: an operator mixes a Tensor with a JS ${describeJs(y)}`);
  if (x instanceof Tensor && y instanceof Tensor && x.dtype !== y.dtype) {
    if (isFloat(x.dtype) && !isFloat(y.dtype)) return [x, ew.cast(y, x.dtype)];
    if (isFloat(y.dtype) && !isFloat(x.dtype)) return [ew.cast(x, y.dtype), y];
  }
  return [x, y];
}

/** A JS number or boolean as a scalar tensor (of `dtype`, else i32 for integers, f32, bool). */
function toTensor(v: unknown, dtype?: DType): Tensor {
  if (v instanceof Tensor) return v;
  if (typeof v === 'boolean') return scalar(v, dtype ?? 'bool');
  const n = v as number;
  return scalar(n, dtype ?? (Number.isInteger(n) ? 'i32' : 'f32'));
}

function toBool(t: Tensor): Tensor {
  return t.dtype === 'bool' ? t : ew.notEqual(t, 0);
}

function describeJs(v: unknown): string {
  if (v === undefined) return 'undefined';
  if (v === null) return 'null';
  if (Array.isArray(v)) return `array (length ${v.length})`;
  if (v instanceof Tensor) return `tensor ${v.describe()}`;
  if (typeof v === 'object') return `object (${(v as object).constructor?.name ?? 'no prototype'})`;
  if (typeof v === 'string') return `string '${v}'`;
  return `${typeof v} ${String(v)}`;
}

/** A branch value flattened to leaves (Tensor or number), with a key to compare structures. */
interface Structure {
  key: string;
  leaves: unknown[];
  names: string[];
  rebuild(ts: readonly Tensor[]): unknown;
}

function structureOf(v: unknown): Structure | undefined {
  const leaf = (x: unknown) => x instanceof Tensor || typeof x === 'number' || typeof x === 'boolean';
  if (leaf(v)) return { key: 'a tensor', leaves: [v], names: ['0'], rebuild: (ts) => ts[0] };
  if (Array.isArray(v) && v.every(leaf)) {
    return { key: `an array of ${v.length}`, leaves: [...v], names: v.map((_, i) => `[${i}]`), rebuild: (ts) => [...ts] };
  }
  if (v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    const rec = v as Record<string, unknown>;
    const keys = Object.keys(rec);
    if (keys.every((k) => leaf(rec[k]))) {
      return {
        key: `a record {${keys.join(', ')}}`, leaves: keys.map((k) => rec[k]), names: keys.map((k) => `'${k}'`),
        rebuild: (ts) => Object.fromEntries(keys.map((k, i) => [k, ts[i]!])),
      };
    }
  }
  return undefined;
}
