/**
 * Data-dependent control flow: `cond`, `whileLoop` and `scan` (TensorFlow's tf.cond,
 * tf.while_loop and tf.scan). Eagerly they run on the host: cond reads its predicate and calls one
 * branch, whileLoop and scan loop in JavaScript. Under a trace each function argument is traced
 * into a region (a nested, closed Func) and one `cond` / `while` / `scan` node is recorded, so the
 * branch or trip count is decided when the program runs. Symbolic tensors a region closes over
 * (from any enclosing trace) are lifted into extra region operands: for cond they are operands of
 * both branches, for whileLoop and scan extra loop-carried values the body passes through.
 * Regions are differentiable (grad/valueAndGrad); a whileLoop needs `maximumIterations` for that.
 */
import { Builder, makeValue } from '../ir/builder.js';
import { Func, Value } from '../ir/function.js';
import { literal } from '../ir/literal.js';
import { inlineFunc } from '../ir/ops/vjp_control.js';
import { KilnError, typeToString, typesEqual, type TensorType } from '../ir/types.js';
import { activeTrace, Trace, withTrace, type VariableRef } from './context.js';
import { emit } from './emit.js';
import { stack, unstack } from './manipulation.js';
import { Tensor } from './tensor.js';
import { runFunc } from './executor.js';
import { trace as traceFunction } from './tracing.js';

/** A region being traced: outer symbolic tensors it reads become parameters (captures). */
class RegionTrace extends Trace {
  /** Outer tensors read in the region, by their IR value, with the parameter standing for each. */
  readonly captures = new Map<Value, { outer: Tensor; param: Value }>();
  declare readonly bindings: Map<VariableRef, Tensor>;
  declare readonly capturedVariables: Set<VariableRef>;

  constructor(name: string, readonly parent: Trace) {
    super(name);
    // A bound variable read in a region is the enclosing program's parameter (lifted like any
    // outer value); an unbound one is captured as a constant of the enclosing function.
    (this as { bindings: Map<VariableRef, Tensor> }).bindings = parent.bindings;
    (this as { capturedVariables: Set<VariableRef> }).capturedVariables = parent.capturedVariables;
    // `updates` stays this region's own: an assign inside a region is refused after tracing.
  }

  private encloses(t: Tensor): boolean {
    for (let p: Trace | undefined = this.parent; p; p = p instanceof RegionTrace ? p.parent : undefined) {
      if (t.trace === p) return true;
    }
    return false;
  }

  override valueOf(t: Tensor, op: string): Value {
    if (t.value && t.trace !== this && t.trace?.open && this.encloses(t)) {
      let c = this.captures.get(t.value);
      if (!c) {
        c = { outer: t, param: this.builder.param(t.type, `capture${this.captures.size}`) };
        this.captures.set(t.value, c);
      }
      return c.param;
    }
    return super.valueOf(t, op);
  }
}

interface Region {
  func: Func;
  /** Parameters of `func` that stand for the explicit arguments, in order. */
  args: Value[];
  /** Outer tensors the region read, with their parameters. */
  captures: { outer: Tensor; param: Value }[];
}

/** Trace `body` on symbolic parameters of `types` into a region of the active trace. */
function traceRegion(who: string, name: string, parent: Trace, types: readonly TensorType[], body: (args: Tensor[]) => Tensor[]): Region {
  const rt = new RegionTrace(`${parent.name}.${name}`, parent);
  rt.builder.name = name;
  const args = types.map((t, i) => rt.builder.param(t, `a${i}`));
  return withTrace(rt, () => {
    const outs = body(args.map((a) => rt.symbolic(a)));
    const results = outs.map((t) => rt.valueOf(t, `${who} ${name}`));
    if (rt.updates.size) {
      const names = [...rt.updates.keys()].map((v) => `'${v.name}'`).join(', ');
      throw new KilnError(`${who}: variable ${names} is assigned inside the ${name} function; return the new value from it and assign after the ${who}`);
    }
    return { func: rt.builder.build(results), args, captures: [...rt.captures.values()] };
  });
}

/** Outer tensors read by any of `regions`, each once, in first-seen order. */
function unionCaptures(regions: readonly Region[]): Tensor[] {
  const seen = new Map<Value, Tensor>();
  for (const r of regions) for (const c of r.captures) if (!seen.has(c.outer.value!)) seen.set(c.outer.value!, c.outer);
  return [...seen.values()];
}

/**
 * The region re-signed: parameters are `layout` (explicit argument k as `{arg: k}`, a capture as
 * `{capture: tensor}`); results are `results(outs, params)` (default: the region's own).
 */
function resign(r: Region, layout: readonly ({ arg: number } | { capture: Tensor })[], results?: (outs: Value[], ps: Value[]) => Value[]): Func {
  const b = new Builder(r.func.name);
  const ps = layout.map((l, i) => b.param('arg' in l ? r.args[l.arg]!.type : l.capture.type, 'arg' in l ? `a${l.arg}` : `capture${i}`));
  const byOuter = new Map<Value, Value>();
  layout.forEach((l, i) => {
    if ('capture' in l) byOuter.set(l.capture.value!, ps[i]!);
  });
  const argAt = (k: number) => ps[layout.findIndex((l) => 'arg' in l && l.arg === k)]!;
  const oldArgs = r.func.params.map((p) => {
    const k = r.args.indexOf(p);
    if (k >= 0) return argAt(k);
    const c = r.captures.find((x) => x.param === p)!;
    return byOuter.get(c.outer.value!)!;
  });
  const outs = inlineFunc(b, r.func, oldArgs);
  return b.build(results ? results(outs, ps) : outs);
}

/** Record `op` with regions in `trace` and return its tuple elements as symbolic tensors. */
function record(trace: Trace, op: string, operands: readonly Tensor[], attrs: Record<string, number | boolean>, regions: Func[], count: number): Tensor[] {
  const node = makeValue(op, operands.map((t) => trace.valueOf(t, op)), attrs, regions);
  trace.builder.body.push(node);
  return Array.from({ length: count }, (_, i) => trace.symbolic(trace.builder.op('get_result', [node], { index: i })));
}

function checkTensor(who: string, what: string, x: unknown): Tensor {
  if (!(x instanceof Tensor)) throw new KilnError(`${who}: ${what} must be a Tensor, got ${describeJs(x)}`);
  return x;
}

function describeJs(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return `an array of ${x.length}`;
  if (typeof x === 'object') return `an object (${(x as object).constructor?.name ?? 'no prototype'})`;
  return `${typeof x} ${String(x)}`;
}

/** A predicate: a scalar bool or numeric tensor (numeric means `!= 0`). */
function checkPredicate(who: string, what: string, p: unknown): Tensor {
  const t = checkTensor(who, what, p);
  if (t.rank !== 0) {
    throw new KilnError(`${who}: ${what} must be a scalar (rank-0) bool or numeric tensor, got ${t.describe()}; reduce it to one value first (e.g. kiln.sum, kiln.max, or a comparison of such)`);
  }
  return t;
}

function asBool(p: Tensor): Tensor {
  if (p.dtype === 'bool') return p;
  return emit('compare', [p, Tensor.concrete(literal([], p.dtype, [0]))], { dir: 'ne' });
}

function truthy(p: Tensor): boolean {
  return p.literal!.data[0] !== 0;
}

/** Flatten a branch result: a Tensor or an array of Tensors. */
function flatOut(who: string, what: string, out: unknown): { tensors: Tensor[]; single: boolean } {
  if (out instanceof Tensor) return { tensors: [out], single: true };
  if (Array.isArray(out)) {
    out.forEach((t, i) => checkTensor(who, `element ${i} of what ${what} returns`, t));
    return { tensors: [...(out as Tensor[])], single: false };
  }
  throw new KilnError(`${who}: ${what} must return a Tensor or an array of Tensors, got ${describeJs(out)}`);
}

const showTypes = (ts: readonly Tensor[] | readonly TensorType[]): string =>
  `(${ts.map((t) => typeToString(t instanceof Tensor ? t.type : t)).join(', ')})`;

function refuseUnknown(who: string, opts: object | undefined, valid: readonly string[]): void {
  if (opts === undefined) return;
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) throw new KilnError(`${who}: options must be an object, got ${describeJs(opts)}`);
  for (const k of Object.keys(opts)) {
    if (valid.includes(k)) continue;
    const near = valid.find((v) => editDistance(v.toLowerCase(), k.toLowerCase()) <= Math.max(2, Math.floor(k.length / 3)));
    throw new KilnError(`${who}: unknown option '${k}'${near ? ` (did you mean '${near}'?)` : ''}; valid options are: ${valid.join(', ')}`);
  }
}

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
  }
  return d[a.length]![b.length]!;
}

// ---------------------------------------------------------------------------------------------

/**
 * `thenFn()` when the scalar `pred` is true (non-zero), else `elseFn()`. Both branches return the
 * same structure (a Tensor or an array of Tensors) of the same types. Eagerly (a concrete
 * predicate) only the chosen branch runs; a symbolic predicate traces both into one `cond` node.
 */
export function cond<T extends Tensor | Tensor[]>(pred: Tensor, thenFn: () => T, elseFn: () => T): T {
  const who = 'kiln.cond';
  const p = checkPredicate(who, 'the predicate', pred);
  if (typeof thenFn !== 'function' || typeof elseFn !== 'function') throw new KilnError(`${who}: thenFn and elseFn must be functions`);
  if (!p.isSymbolic) {
    const taken = truthy(asBool(p));
    const out = taken ? thenFn() : elseFn();
    flatOut(who, taken ? 'thenFn' : 'elseFn', out);
    return out;
  }
  const trace = activeTrace()!;
  let thenShape: { single: boolean } | undefined, elseShape: { single: boolean } | undefined;
  const t = traceRegion(who, 'then', trace, [], () => {
    const f = flatOut(who, 'thenFn', thenFn());
    thenShape = f;
    return f.tensors;
  });
  const e = traceRegion(who, 'else', trace, [], () => {
    const f = flatOut(who, 'elseFn', elseFn());
    elseShape = f;
    return f.tensors;
  });
  const tt = t.func.results.map((r) => r.type), et = e.func.results.map((r) => r.type);
  if (thenShape!.single !== elseShape!.single || tt.length !== et.length || !tt.every((x, i) => typesEqual(x, et[i]!))) {
    const desc = (s: { single: boolean }, ts: TensorType[]) => (s.single ? `a Tensor ${typeToString(ts[0]!)}` : `an array ${showTypes(ts)}`);
    throw new KilnError(`${who}: the branches must return the same structure and types; thenFn returns ${desc(thenShape!, tt)}, elseFn returns ${desc(elseShape!, et)}`);
  }
  if (tt.length === 0) throw new KilnError(`${who}: the branches return an empty array; a cond needs at least one result`);
  const captures = unionCaptures([t, e]);
  const layout = captures.map((c) => ({ capture: c }));
  const outs = record(trace, 'cond', [asBool(p), ...captures], {}, [resign(t, layout), resign(e, layout)], tt.length);
  return (thenShape!.single ? outs[0]! : outs) as T;
}

export interface WhileLoopOptions {
  /**
   * Stop after this many iterations even if condFn still holds (TensorFlow's
   * maximum_iterations). Needed to differentiate the loop.
   */
  maximumIterations?: number;
}

/**
 * `while (condFn(...vars)) vars = bodyFn(...vars)`, starting from `loopVars`; returns the final
 * vars. bodyFn returns as many tensors as loopVars, of the same types. Eagerly (no active trace)
 * it loops on the host; under a trace it records one `while` node.
 */
export function whileLoop(
  condFn: (...vars: Tensor[]) => Tensor, bodyFn: (...vars: Tensor[]) => Tensor[], loopVars: Tensor[], opts: WhileLoopOptions = {},
): Tensor[] {
  const who = 'kiln.whileLoop';
  refuseUnknown(who, opts, ['maximumIterations']);
  if (typeof condFn !== 'function' || typeof bodyFn !== 'function') throw new KilnError(`${who}: condFn and bodyFn must be functions`);
  if (!Array.isArray(loopVars) || loopVars.length === 0) throw new KilnError(`${who}: loopVars must be a non-empty array of Tensors, got ${describeJs(loopVars)}`);
  const vars0 = loopVars.map((v, i) => checkTensor(who, `loopVars[${i}]`, v));
  const max = opts.maximumIterations;
  if (max !== undefined && (!Number.isInteger(max) || max < 0)) throw new KilnError(`${who}: maximumIterations must be a non-negative integer, got ${String(max)}`);
  const types = vars0.map((v) => v.type);
  const checkBody = (out: unknown): Tensor[] => {
    if (!Array.isArray(out)) throw new KilnError(`${who}: bodyFn must return an array of ${types.length} Tensor(s) like loopVars ${showTypes(types)}, got ${describeJs(out)}`);
    const ts = out.map((t, i) => checkTensor(who, `element ${i} of bodyFn's result`, t));
    if (ts.length !== types.length || !ts.every((t, i) => typesEqual(t.type, types[i]!))) {
      throw new KilnError(`${who}: bodyFn must return the loop variables' types ${showTypes(types)}, got ${showTypes(ts)}`);
    }
    return ts;
  };
  const trace = activeTrace();
  if (!trace) {
    let vars = vars0;
    for (let i = 0; max === undefined || i < max; i++) {
      if (!truthy(asBool(checkPredicate(who, "condFn's result", condFn(...vars))))) break;
      vars = checkBody(bodyFn(...vars));
    }
    return vars;
  }
  const c = traceRegion(who, 'cond', trace, types, (vs) => [asBool(checkPredicate(who, "condFn's result", condFn(...vs)))]);
  const b = traceRegion(who, 'body', trace, types, (vs) => checkBody(bodyFn(...vs)));
  const captures = unionCaptures([c, b]);
  const layout = [...types.map((_, k) => ({ arg: k })), ...captures.map((x) => ({ capture: x }))];
  const condF = resign(c, layout);
  const bodyF = resign(b, layout, (outs, ps) => [...outs, ...ps.slice(types.length)]);
  const attrs: Record<string, number> = max === undefined ? {} : { max_iterations: max };
  return record(trace, 'while', [...vars0, ...captures], attrs, [condF, bodyF], types.length);
}

export interface ScanOptions {
  /** Run the steps from last to first (outputs still stack in the order of xs). */
  reverse?: boolean;
  /** The axis of xs to scan over and to stack outputs along (default 0). */
  axis?: number;
}

/**
 * `fn(carry, x)` applied to each step of `xs` along `axis`: it returns [new carry, per-step
 * outputs]; scan returns [final carry, per-step outputs stacked along `axis`]. All xs have the
 * same length along `axis`. Eagerly it loops on the host; under a trace it records one `scan`.
 */
export function scan(
  fn: (carry: Tensor[], x: Tensor[]) => [Tensor[], Tensor[]], init: Tensor[], xs: Tensor[], opts: ScanOptions = {},
): [Tensor[], Tensor[]] {
  const who = 'kiln.scan';
  refuseUnknown(who, opts, ['reverse', 'axis']);
  if (typeof fn !== 'function') throw new KilnError(`${who}: fn must be a function (carry, x) => [newCarry, outputs]`);
  if (!Array.isArray(init)) throw new KilnError(`${who}: init must be an array of Tensors, got ${describeJs(init)}`);
  if (!Array.isArray(xs) || xs.length === 0) throw new KilnError(`${who}: xs must be a non-empty array of Tensors (the sequences to scan), got ${describeJs(xs)}`);
  const carries0 = init.map((t, i) => checkTensor(who, `init[${i}]`, t));
  const seqs = xs.map((t, i) => checkTensor(who, `xs[${i}]`, t));
  const axis = opts.axis ?? 0, reverse = opts.reverse ?? false;
  if (typeof reverse !== 'boolean') throw new KilnError(`${who}: option 'reverse' must be true or false, got ${describeJs(reverse)}`);
  if (!Number.isInteger(axis) || axis < 0) throw new KilnError(`${who}: option 'axis' must be a non-negative integer, got ${String(axis)}`);
  seqs.forEach((x, i) => {
    if (x.rank <= axis) throw new KilnError(`${who}: xs[${i}] is ${x.describe()}, which has no axis ${axis} to scan over`);
  });
  const length = seqs[0]!.shape[axis]!;
  seqs.forEach((x, i) => {
    if (x.shape[axis] !== length) throw new KilnError(`${who}: xs[${i}] has ${x.shape[axis]} steps along axis ${axis} but xs[0] has ${length}; every sequence needs the same length`);
  });
  const carryTypes = carries0.map((c) => c.type);
  const sliceTypes = seqs.map((x) => ({ shape: x.shape.filter((_, i) => i !== axis), dtype: x.dtype }) as TensorType);
  let ysCount = -1;
  const step = (carry: Tensor[], x: Tensor[]): [Tensor[], Tensor[]] => {
    const out: unknown = fn(carry, x);
    if (!Array.isArray(out) || out.length !== 2 || !Array.isArray(out[0]) || !Array.isArray(out[1])) {
      throw new KilnError(`${who}: fn must return [newCarry (an array of Tensors), outputs (an array of Tensors)], got ${describeJs(out)}`);
    }
    const nc = (out[0] as unknown[]).map((t, i) => checkTensor(who, `newCarry[${i}]`, t));
    const ys = (out[1] as unknown[]).map((t, i) => checkTensor(who, `outputs[${i}]`, t));
    if (nc.length !== carryTypes.length || !nc.every((t, i) => typesEqual(t.type, carryTypes[i]!))) {
      throw new KilnError(`${who}: fn must return a new carry of the types of init ${showTypes(carryTypes)}, got ${showTypes(nc)}`);
    }
    if (ysCount >= 0 && ys.length !== ysCount) throw new KilnError(`${who}: fn returned ${ys.length} outputs at one step and ${ysCount} at another`);
    ysCount = ys.length;
    ys.forEach((y, i) => {
      if (y.rank < axis) throw new KilnError(`${who}: outputs[${i}] is ${y.describe()}, which cannot be stacked along axis ${axis}`);
    });
    return [nc, ys];
  };
  const trace = activeTrace();
  if (!trace && length > 0) {
    const steps = seqs.map((x) => unstack(x, axis));
    let carry = carries0;
    const ys: Tensor[][] = [];
    for (let k = 0; k < length; k++) {
      const t = reverse ? length - 1 - k : k;
      const [nc, y] = step(carry, steps.map((s) => s[t]!));
      if (k > 0 && !y.every((v, i) => typesEqual(v.type, ys[reverse ? t + 1 : t - 1]![i]!.type))) {
        throw new KilnError(`${who}: fn's outputs changed type between steps: ${showTypes(ys[reverse ? t + 1 : t - 1]!)} then ${showTypes(y)}`);
      }
      carry = nc;
      ys[t] = y;
    }
    return [carry, ys[0]!.map((_, i) => stack(ys.map((r) => r[i]!), axis))];
  }
  if (!trace) {
    // No steps to run on the host: the output types come from tracing fn, the values from the IR.
    return scanWithoutSteps(fn, carries0, seqs, opts);
  }
  const r = traceRegion(who, 'step', trace, [...carryTypes, ...sliceTypes], (ps) => {
    const [nc, ys] = step(ps.slice(0, carryTypes.length), ps.slice(carryTypes.length));
    return [...nc, ...ys];
  });
  const captures = unionCaptures([r]);
  const nc = carryTypes.length, ncap = captures.length;
  const layout = [
    ...carryTypes.map((_, k) => ({ arg: k })),
    ...captures.map((c) => ({ capture: c })),
    ...sliceTypes.map((_, k) => ({ arg: nc + k })),
  ];
  const body = resign(r, layout, (outs, ps) => [...outs.slice(0, nc), ...ps.slice(nc, nc + ncap), ...outs.slice(nc)]);
  const outs = record(trace, 'scan', [...carries0, ...captures, ...seqs], { carries: nc + ncap, length, reverse, axis }, [body], nc + ncap + ysCount);
  return [outs.slice(0, nc), outs.slice(nc + ncap)];
}

/**
 * An eager scan with no steps: fn never runs on the host, so trace the scan (which learns the
 * output types from tracing fn) and evaluate it with the interpreter.
 */
function scanWithoutSteps(
  fn: (carry: Tensor[], x: Tensor[]) => [Tensor[], Tensor[]], init: readonly Tensor[], xs: readonly Tensor[], opts: ScanOptions,
): [Tensor[], Tensor[]] {
  const inputs = [...init, ...xs];
  const traced = traceFunction((...ts: Tensor[]) => {
    const [c, y] = scan(fn, ts.slice(0, init.length), ts.slice(init.length), opts);
    return [...c, ...y];
  }, inputs.map((t) => t.type), { name: 'scan' });
  const out = runFunc(traced.func, inputs.map((t) => t.literal!), 'interpreter').map((l) => Tensor.concrete(l));
  return [out.slice(0, init.length), out.slice(init.length)];
}
