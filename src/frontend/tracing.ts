/**
 * Tracing functions of tensors into IR, and `fn` (like tf.function): a callable that traces once
 * per input signature (tensor shapes and dtypes, plus the static non-tensor arguments), caches
 * the Func, and runs the cached Func on later calls. Calling an `fn` while another trace is open
 * simply inlines it into that trace.
 */
import type { Func } from '../ir/function.js';
import type { Literal } from '../ir/literal.js';
import { KilnError, typeToString, type TensorType } from '../ir/types.js';
import { suggest } from '../runtime/args.js';
import { checkMaximumIterations, checkScope, convert } from './autograph/index.js';
import { activeTrace, Trace, withTrace, type VariableRef } from './context.js';
import { runFunc, type ExecutionMode } from './executor.js';
import { symbolicReadError, Tensor } from './tensor.js';
import type { Variable } from './variable.js';

/** What a traced function may return. */
export type TensorStructure = Tensor | readonly Tensor[] | { readonly [name: string]: Tensor };

export interface TraceOptions {
  /** The Func's name (default: the JS function's name, or 'main'). */
  name?: string;
  /** Parameter names for the regular arguments (default arg0, arg1, ...). */
  argNames?: readonly string[];
  /**
   * Variables bound to parameters (added after the regular arguments, named by the variable):
   * read() gives the symbolic parameter, and assign() records an output aliased to it.
   * Variables not listed here are captured as constants when read.
   */
  variables?: readonly Variable[];
}

export interface TraceResult<R> {
  func: Func;
  /** The returned structure, holding the (now closed) symbolic tensors. */
  outputs: R;
  /** Names of the regular results (record keys, or out0, out1, ...). */
  outputNames: string[];
  /** Rebuild the output structure from one tensor per regular result. */
  unflatten(results: readonly Tensor[]): R;
  /** Unbound variables whose current value was baked into the Func as a constant. */
  capturedVariables: Variable[];
  /** Bound variables assigned in the trace; their new values are the results after the regular ones. */
  updatedVariables: Variable[];
}

interface FlatOutputs {
  tensors: Tensor[];
  names: string[];
  unflatten(results: readonly Tensor[]): TensorStructure;
}

function flattenOutputs(name: string, out: unknown): FlatOutputs {
  const bad = (what: string): never => {
    throw new KilnError(`fn '${name}' must return a Tensor, an array of Tensors or a record of Tensors; got ${what}`);
  };
  if (out instanceof Tensor) return { tensors: [out], names: ['out0'], unflatten: (r) => r[0]! };
  if (Array.isArray(out)) {
    out.forEach((t, i) => { if (!(t instanceof Tensor)) bad(`${describeValue(t)} at index ${i}`); });
    return { tensors: [...(out as Tensor[])], names: out.map((_, i) => `out${i}`), unflatten: (r) => [...r] };
  }
  if (out !== null && typeof out === 'object' && Object.getPrototypeOf(out) === Object.prototype) {
    const keys = Object.keys(out);
    const rec = out as Record<string, unknown>;
    for (const k of keys) if (!(rec[k] instanceof Tensor)) bad(`${describeValue(rec[k])} under key '${k}'`);
    return {
      tensors: keys.map((k) => rec[k] as Tensor),
      names: keys,
      unflatten: (r) => Object.fromEntries(keys.map((k, i) => [k, r[i]!])),
    };
  }
  return bad(describeValue(out));
}

function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a nested array';
  if (typeof v === 'object') return `an object (${(v as object).constructor?.name ?? 'no prototype'})`;
  return `${typeof v} ${String(v)}`;
}

/** Trace `body` on fresh parameters of `paramTypes` into a Func. */
function traceCore(
  name: string, paramTypes: readonly TensorType[], paramNames: readonly string[],
  variables: readonly Variable[], body: (params: Tensor[]) => unknown, assigned?: Set<VariableRef>,
): TraceResult<TensorStructure> {
  const trace = new Trace(name);
  if (assigned) (trace as { bindings: Map<VariableRef, Tensor> }).bindings = new AssignDiscovery(assigned);
  const b = trace.builder;
  const params = paramTypes.map((t, i) => trace.symbolic(b.param(t, paramNames[i])));
  for (const v of variables) trace.bindings.set(v, trace.symbolic(b.param(v.value.type, v.name)));
  return withTrace(trace, () => {
    const flat = flattenOutputs(name, body(params));
    const results = flat.tensors.map((t) => trace.valueOf(t, `return from '${name}'`));
    const names = [...flat.names];
    const updated = variables.filter((v) => trace.updates.has(v));
    const aliases = updated.map((v) => {
      const result = results.length;
      results.push(trace.valueOf(trace.updates.get(v)!, `update of variable '${v.name}'`));
      names.push(v.name);
      return { result, param: paramTypes.length + variables.indexOf(v) };
    });
    const func = b.build(results, names);
    func.aliases = aliases;
    return {
      func,
      outputs: flat.unflatten(flat.tensors),
      outputNames: flat.names,
      unflatten: flat.unflatten,
      capturedVariables: [...trace.capturedVariables] as Variable[],
      updatedVariables: updated,
    };
  });
}

/**
 * Trace `f` on symbolic tensors of `argTypes` into a Func whose results are f's outputs in
 * order (named by a record's keys, or out0, out1, ...).
 */
export function trace<R extends TensorStructure>(
  f: (...args: Tensor[]) => R, argTypes: readonly TensorType[], opts: TraceOptions = {},
): TraceResult<R> {
  const name = opts.name ?? (f.name || 'main');
  const names = argTypes.map((_, i) => opts.argNames?.[i] ?? `arg${i}`);
  return traceCore(name, argTypes, names, opts.variables ?? [], (params) => f(...params)) as TraceResult<R>;
}

// ---------------------------------------------------------------------------------------------
// fn: per-signature trace cache

export interface FnOptions {
  name?: string;
  /**
   * Variables bound as parameters (fed their current values each call, updated by assign). Those
   * the function assigns are bound without being listed (found by a first trace), as tf.function
   * does; variables only read are captured as constants (a retrace follows when they change).
   */
  variables?: readonly Variable[];
  /** 'interpreter' runs the reference interpreter instead of compiled code (like Keras runEagerly). */
  execution?: ExecutionMode;
  /**
   * AutoGraph (default true, docs/autograph.md): at trace time, `if`/`?:`/`while`/`for` whose
   * condition is a symbolic tensor become kiln.cond / kiln.whileLoop. false traces f as written.
   */
  autograph?: boolean;
  /**
   * Names AutoGraph's converted source may read besides globals: the closure variables and module
   * imports f uses (`{kiln, W, b}`), since JavaScript does not expose a closure's scope.
   */
  scope?: Readonly<Record<string, unknown>>;
  /** kiln.whileLoop's maximumIterations for every loop AutoGraph converts (needed to differentiate it). */
  maximumIterations?: number;
}

const FN_OPTIONS = ['name', 'variables', 'execution', 'autograph', 'scope', 'maximumIterations'];

function checkFnOptions(opts: unknown): FnOptions {
  if (opts === undefined) return {};
  if (opts === null || typeof opts !== 'object' || Array.isArray(opts)) {
    throw new KilnError(`fn: options must be an object with keys among ${FN_OPTIONS.join(', ')}, got ${opts === null ? 'null' : typeof opts}`);
  }
  for (const k of Object.keys(opts)) {
    if (!FN_OPTIONS.includes(k)) throw new KilnError(`fn: unknown option '${k}'${suggest(k, FN_OPTIONS)}; valid options are: ${FN_OPTIONS.join(', ')}`);
  }
  const o = opts as FnOptions;
  if (o.autograph !== undefined && typeof o.autograph !== 'boolean') throw new KilnError(`fn: autograph must be true or false, got ${String(o.autograph)}`);
  checkScope('fn', o.scope);
  checkMaximumIterations('fn', o.maximumIterations);
  return o;
}

export interface CompiledFn<A extends unknown[], R extends TensorStructure> {
  (...args: A): R;
  /** How many times the function has been traced (one per new signature, or after a captured variable changed). */
  readonly traceCount: number;
  /** The Func for these arguments' signature (traced if needed), without running it. */
  ir(...args: A): Func;
  /** The signature keys currently cached. */
  signatures(): string[];
}

interface CacheEntry {
  result: TraceResult<TensorStructure>;
  /** Captured (constant-folded) variables and the version baked in. */
  captured: [Variable, number][];
  /** The variables bound as parameters after the arguments: the fn's own, then those it assigns. */
  variables: Variable[];
}

/**
 * The bindings of fn's first trace of a signature: assigning a variable that is not bound counts
 * as binding it (the assignment is recorded and the variable noted in `found`), so fn learns which
 * variables the function updates (a training step's weights, optimizer slots, counters), then
 * traces again with them bound as state: parameters whose new values are results aliased to them.
 */
class AssignDiscovery extends Map<VariableRef, Tensor> {
  constructor(private readonly found: Set<VariableRef>) {
    super();
  }
  override has(v: VariableRef): boolean {
    if (!super.has(v)) this.found.add(v);
    return true;
  }
}

/**
 * Arguments form a tree of arrays and plain objects; Tensor leaves become parameters, other
 * leaves (numbers, strings, booleans, objects by identity) are static and part of the key.
 */
function flattenArgs(args: readonly unknown[]): { leaves: Tensor[]; key: string } {
  const leaves: Tensor[] = [];
  const walk = (v: unknown): string => {
    if (v instanceof Tensor) {
      leaves.push(v);
      return typeToString(v.type);
    }
    if (Array.isArray(v)) return `[${v.map(walk).join(',')}]`;
    if (v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
      return `{${Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}:${walk(x)}`).join(',')}}`;
    }
    if (typeof v === 'object' && v !== null || typeof v === 'function') return `#${identity(v)}`;
    if (typeof v === 'number' || typeof v === 'boolean' || v === null) return `=${String(v)}`;
    if (v === undefined) return '=undefined';
    return `=${JSON.stringify(String(v))}`;
  };
  const key = `(${args.map(walk).join(', ')})`;
  return { leaves, key };
}

const identities = new WeakMap<object, number>();
let nextIdentity = 1;
function identity(o: object): number {
  let id = identities.get(o);
  if (id === undefined) identities.set(o, (id = nextIdentity++));
  return id;
}

/** Rebuild the argument tree with Tensor leaves replaced by `leaves` in order. */
function replaceLeaves(args: readonly unknown[], leaves: readonly Tensor[]): unknown[] {
  let k = 0;
  const walk = (v: unknown): unknown => {
    if (v instanceof Tensor) return leaves[k++]!;
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
      return Object.fromEntries(Object.entries(v).map(([key, x]) => [key, walk(x)]));
    }
    return v;
  };
  return args.map(walk);
}

export function fn<A extends unknown[], R extends TensorStructure>(f: (...args: A) => R, options?: FnOptions): CompiledFn<A, R> {
  const opts = checkFnOptions(options);
  const name = opts.name ?? (f.name || 'fn');
  const variables = opts.variables ?? [];
  const cache = new Map<string, CacheEntry>();
  /** Variables the function assigned without being given them (found by a first trace; see AssignDiscovery). */
  const assignedVariables: Variable[] = [];
  let traceCount = 0;
  // AutoGraph converts f on its first trace (the transform itself is cached per function).
  let converted: ((...args: A) => R) | undefined;
  const traced = (): ((...args: A) => R) => (converted ??= opts.autograph === false ? f : convert(f, {
    name, scope: opts.scope, strict: true, maximumIterations: opts.maximumIterations, scopeHint: `kiln.fn(f, {scope: {...}})`,
  }));

  const lookup = (args: A): { entry: CacheEntry; leaves: Tensor[] } => {
    const { leaves, key } = flattenArgs(args);
    let entry = cache.get(key);
    if (entry && entry.captured.some(([v, version]) => v.version !== version)) entry = undefined;
    if (!entry) {
      traceCount++;
      const types = leaves.map((t) => t.type), names = leaves.map((_, i) => `arg${i}`);
      const body = (params: Tensor[]) => traced()(...(replaceLeaves(args, params) as A));
      let vars = [...variables, ...assignedVariables];
      const found = new Set<VariableRef>();
      let result = traceCore(name, types, names, vars, body, found);
      const fresh = [...found].filter((v) => !vars.includes(v as Variable)) as Variable[];
      if (fresh.length > 0) {
        // The function assigns variables it was not given: bind them too and trace for real.
        assignedVariables.push(...fresh);
        vars = [...variables, ...assignedVariables];
        result = traceCore(name, types, names, vars, body);
      }
      entry = { result, captured: result.capturedVariables.map((v) => [v, v.version]), variables: vars };
      cache.set(key, entry);
    }
    return { entry, leaves };
  };

  const call = (...args: A): R => {
    // Inside another trace, an fn is part of that program: inline it.
    if (activeTrace()) return traced()(...args);
    const { entry, leaves } = lookup(args);
    const inputs: Literal[] = leaves.map((t) => {
      if (!t.literal) throw symbolicReadError(t, `an argument of fn '${name}'`);
      return t.literal;
    });
    for (const v of entry.variables) inputs.push(v.value.literal!);
    // Bound variables are the Func's last parameters: resident state for the compiled executor.
    const out = runFunc(entry.result.func, inputs, opts.execution, { resident: entry.variables.length }).map((l) => Tensor.concrete(l));
    const nOut = entry.result.outputNames.length;
    entry.result.updatedVariables.forEach((v, i) => v.assign(out[nOut + i]!));
    return entry.result.unflatten(out.slice(0, nOut)) as R;
  };

  Object.defineProperty(call, 'traceCount', { get: () => traceCount });
  Object.defineProperty(call, 'name', { value: name });
  const compiled = call as CompiledFn<A, R>;
  compiled.ir = (...args: A): Func => lookup(args).entry.result.func;
  compiled.signatures = () => [...cache.keys()];
  return compiled;
}
