/**
 * Gradient tapes for custom training loops written the TensorFlow / TensorFlow.js way:
 * `const tape = new GradientTape(); const loss = tape.record(() => ...); tape.gradient(loss, vars)`
 * and tfjs's `variableGrads(f, varList?)` -> `{value, grads}` (grads keyed by variable name).
 *
 * Kiln differentiates IR, not a runtime op log (see grad.ts), so a tape records by tracing: the
 * recorded function runs under a TapeTrace that binds every Variable it touches to a parameter
 * of its own (so the tape knows what was read and a later `gradient` can differentiate with
 * respect to any of them) and lifts symbolic tensors of an enclosing trace into parameters too.
 * Outside any trace the recorded Func is then evaluated on the reference interpreter, the same
 * kernels eager ops use, and the caller gets concrete tensors; variable assignments inside (e.g.
 * batch-norm statistics) take effect as they would eagerly. Inside a trace (a training step under
 * `fn`) it is inlined into that trace instead, so a tape-based step compiles like any other.
 * `gradient` builds the gradient Func with the autodiff pass and evaluates (or inlines) it on the
 * very inputs the recording saw. Inside the recorded function tensors are symbolic: reading a
 * value there (`.item()`) is the usual tracing error.
 */
import type { Func, Value } from '../ir/function.js';
import { literal, type Literal } from '../ir/literal.js';
import { isFloat } from '../ir/dtype.js';
import { KilnError } from '../ir/types.js';
import { gradFunc } from '../passes/autodiff.js';
import { activeTrace, Trace, withTrace, type VariableRef } from './context.js';
import { runFunc } from './executor.js';
import { Tensor } from './tensor.js';
import { Variable } from './variable.js';

/** What a recorded function may return. */
export type RecordedStructure = Tensor | readonly Tensor[] | { readonly [name: string]: Tensor };

/** Where each parameter of a recorded Func comes from. */
type TapeInput = { kind: 'variable'; variable: Variable } | { kind: 'tensor'; tensor: Tensor };

/**
 * Bindings that bind any variable the moment it is read or assigned (Variable.read/assign ask
 * `get`/`has`), each to a fresh parameter of the tape's Func.
 */
class AutoBindings extends Map<VariableRef, Tensor> {
  constructor(private readonly tape: TapeTrace) {
    super();
  }
  override get(v: VariableRef): Tensor {
    return super.get(v) ?? this.bind(v);
  }
  override has(v: VariableRef): boolean {
    if (!super.has(v)) this.bind(v);
    return true;
  }
  private bind(v: VariableRef): Tensor {
    if (!(v instanceof Variable)) throw new KilnError(`GradientTape: cannot bind ${v.name}: not a kiln Variable`);
    const t = this.tape.symbolic(this.tape.builder.param(v.value.type, v.name));
    this.tape.inputs.push({ kind: 'variable', variable: v });
    super.set(v, t);
    return t;
  }
}

class TapeTrace extends Trace {
  readonly inputs: TapeInput[] = [];
  private readonly lifted = new Map<Tensor, Value>();

  constructor(name: string) {
    super(name);
    (this as { bindings: Map<VariableRef, Tensor> }).bindings = new AutoBindings(this);
  }

  /** A symbolic tensor of an enclosing (still open) trace becomes a parameter of the tape's Func. */
  override valueOf(t: Tensor, op: string): Value {
    if (t.value && t.trace !== this && t.trace?.open) {
      let v = this.lifted.get(t);
      if (!v) {
        v = this.builder.param(t.type, `captured${this.lifted.size}`);
        this.lifted.set(t, v);
        this.inputs.push({ kind: 'tensor', tensor: t });
      }
      return v;
    }
    return super.valueOf(t, op);
  }
}

/** One `record` call: its Func, what was fed to it, and the tensors it returned. */
interface Recording {
  func: Func;
  inputs: TapeInput[];
  /** The tensors fed to the Func's parameters (concrete, or symbolic in `trace`). */
  args: Tensor[];
  outputs: Tensor[];
  /** The trace the recording was inlined into (undefined when it ran eagerly). */
  trace: Trace | undefined;
  grads: Map<string, Func>;
}

function flatten(out: unknown, who: string): { tensors: Tensor[]; unflatten(ts: Tensor[]): RecordedStructure } {
  if (out instanceof Tensor) return { tensors: [out], unflatten: (ts) => ts[0]! };
  if (Array.isArray(out) && out.every((t) => t instanceof Tensor)) return { tensors: [...(out as Tensor[])], unflatten: (ts) => ts };
  if (out !== null && typeof out === 'object' && Object.getPrototypeOf(out) === Object.prototype && Object.values(out).every((t) => t instanceof Tensor)) {
    const keys = Object.keys(out);
    return { tensors: keys.map((k) => (out as Record<string, Tensor>)[k]!), unflatten: (ts) => Object.fromEntries(keys.map((k, i) => [k, ts[i]!])) };
  }
  const what = out === null ? 'null' : Array.isArray(out) ? 'an array holding a non-Tensor' : typeof out === 'object' ? `an object (${(out as object).constructor?.name})` : `${typeof out}`;
  throw new KilnError(`${who}: the recorded function must return a Tensor, an array of Tensors or a record of Tensors; got ${what}`);
}

/** Replay `func` into the active trace on `inputs`. */
function inline(trace: Trace, func: Func, inputs: readonly Tensor[], op: string): Tensor[] {
  const map = new Map<Value, Value>();
  func.params.forEach((p, i) => map.set(p, trace.valueOf(inputs[i]!, op)));
  for (const v of func.body) map.set(v, trace.builder.op(v.op, v.inputs.map((x) => map.get(x)!), v.attrs, v.regions.map((r) => r.clone())));
  return func.results.map((r) => trace.symbolic(map.get(r)!));
}

function literals(args: readonly Tensor[]): Literal[] {
  return args.map((t) => t.literal!);
}

export interface GradientTapeOptions {
  /** Allow several `gradient` calls (TensorFlow's default is one). Default false. */
  persistent?: boolean;
}

/** Sources of `gradient`: one Variable, or a list. */
export type GradientSources = Variable | readonly Variable[];

/**
 * A TensorFlow-style gradient tape. `record(f)` runs `f` (no arguments) and returns its result;
 * `gradient(target, sources)` differentiates a tensor `record` returned (summed when not a
 * scalar) with respect to Variables. A variable the recording never read gets a zero gradient.
 */
export class GradientTape {
  readonly persistent: boolean;
  private readonly recordings: Recording[] = [];
  private used = false;

  constructor(options: GradientTapeOptions = {}) {
    if (options === null || typeof options !== 'object') throw new KilnError(`GradientTape: options must be an object ({persistent?}), got ${String(options)}`);
    for (const k of Object.keys(options)) {
      if (k !== 'persistent') throw new KilnError(`GradientTape: unknown option '${k}' (valid: persistent)`);
    }
    this.persistent = options.persistent ?? false;
  }

  /** Run `f` under the tape and return its (concrete outside a trace) result. */
  record<R extends RecordedStructure>(f: () => R): R {
    if (typeof f !== 'function') throw new KilnError(`GradientTape.record: expects a function of no arguments, got ${typeof f}`);
    const outer = activeTrace();
    const tape = new TapeTrace(f.name || 'tape');
    const { func, flat } = withTrace(tape, () => {
      const flat = flatten(f(), 'GradientTape.record');
      const results = flat.tensors.map((t) => tape.valueOf(t, 'GradientTape.record'));
      for (const u of tape.updates.values()) results.push(tape.valueOf(u, 'GradientTape.record (variable update)'));
      return { func: tape.builder.build(results), flat };
    });
    const updated = [...tape.updates.keys()] as Variable[];
    const inputs = tape.inputs;
    const args = inputs.map((i) => (i.kind === 'variable' ? (outer ? i.variable.read() : i.variable.value) : i.tensor));
    const outs = outer ? inline(outer, func, args, 'GradientTape.record') : runFunc(func, literals(args), 'interpreter').map((l) => Tensor.concrete(l));
    const n = flat.tensors.length;
    updated.forEach((v, i) => v.assign(outs[n + i]!));
    const outputs = outs.slice(0, n);
    this.recordings.push({ func, inputs, args, outputs, trace: outer, grads: new Map() });
    return flat.unflatten(outputs) as R;
  }

  /** The variables the recordings read, in first-read order. */
  get watchedVariables(): Variable[] {
    const out: Variable[] = [];
    for (const r of this.recordings) for (const i of r.inputs) if (i.kind === 'variable' && !out.includes(i.variable)) out.push(i.variable);
    return out;
  }

  /** d(sum of target)/d(source) for each source, in the sources' structure. */
  gradient(target: Tensor, sources: Variable): Tensor;
  gradient(target: Tensor, sources: readonly Variable[]): Tensor[];
  gradient(target: Tensor, sources: GradientSources): Tensor | Tensor[] {
    const who = 'GradientTape.gradient';
    if (!(target instanceof Tensor)) throw new KilnError(`${who}: target must be a Tensor returned by tape.record, got ${typeof target}`);
    const list = sources instanceof Variable ? [sources] : sources;
    if (!Array.isArray(list)) throw new KilnError(`${who}: sources must be a Variable or a list of Variables, got ${typeof sources}`);
    list.forEach((v, i) => {
      if (!(v instanceof Variable)) throw new KilnError(`${who}: sources[${i}] must be a kiln Variable (gradients with respect to plain tensors: kiln.grad / kiln.valueAndGrad), got ${v instanceof Tensor ? v.describe() : typeof v}`);
    });
    if (this.used && !this.persistent) {
      throw new KilnError(`${who}: this tape already computed gradients; a non-persistent tape gives one set (create it with new GradientTape({persistent: true}) for several)`);
    }
    const rec = this.recordings.find((r) => r.outputs.includes(target));
    if (!rec) {
      throw new KilnError(`${who}: the target ${target.describe()} was not returned by this tape's record(); return the loss from the recorded function and pass that tensor`);
    }
    if (!isFloat(target.dtype)) throw new KilnError(`${who}: the target is ${target.describe()}; only a floating-point value can be differentiated`);
    list.forEach((v) => {
      if (!isFloat(v.dtype)) throw new KilnError(`${who}: variable '${v.name}' is ${v.value.describe()}; only floating-point variables can be differentiated`);
    });
    if (rec.trace && (activeTrace() !== rec.trace || !rec.trace.open)) {
      throw new KilnError(`${who}: the recording was made while tracing '${rec.trace.name}'; take its gradient inside the same traced function`);
    }
    this.used = true;
    const resultIndex = rec.outputs.indexOf(target);
    const index = list.map((v) => rec.inputs.findIndex((i) => i.kind === 'variable' && i.variable === v));
    const wrt = [...new Set(index.filter((i) => i >= 0))];
    const grads: Tensor[] = [];
    if (wrt.length > 0) {
      const key = `${resultIndex}:${wrt.join(',')}`;
      let g = rec.grads.get(key);
      if (!g) rec.grads.set(key, (g = gradFunc(rec.func, { wrt, resultIndex })));
      const outs = rec.trace ? inline(rec.trace, g, rec.args, who) : runFunc(g, literals(rec.args), 'interpreter').map((l) => Tensor.concrete(l));
      grads.push(...outs.slice(rec.func.results.length));
    }
    const out = index.map((i, k) => (i >= 0 ? grads[wrt.indexOf(i)]! : zerosOf(list[k]!)));
    return sources instanceof Variable ? out[0]! : out;
  }
}

/** A zero gradient for a variable the recording did not read. */
function zerosOf(v: Variable): Tensor {
  return Tensor.concrete(literal(v.shape, v.dtype));
}

// ---- tfjs's variableGrads ---------------------------------------------------------------------

/** The variables behind each `variableGrads` result, so optimizer.applyGradients can take its grads map. */
const gradVariables = new WeakMap<object, ReadonlyMap<string, Variable>>();

/** The variables (by name) of a grads map that `variableGrads` returned, if it is one. */
export function variablesOfGrads(grads: object): ReadonlyMap<string, Variable> | undefined {
  return gradVariables.get(grads);
}

export interface VariableGradsList {
  value: Tensor;
  variables: Variable[];
  grads: Tensor[];
}

/**
 * `variableGrads` as parallel lists: the value of `f` and its gradients with respect to the
 * variables in `varList` that f reads (default: every trainable variable f reads).
 */
export function variableGradsList(f: () => Tensor, varList?: readonly Variable[], who = 'variableGrads'): VariableGradsList {
  if (typeof f !== 'function') throw new KilnError(`${who}: expects a function of no arguments returning a scalar, got ${typeof f}`);
  if (varList !== undefined) {
    if (!Array.isArray(varList)) throw new KilnError(`${who}: varList must be a list of Variables, got ${typeof varList}`);
    varList.forEach((v, i) => { if (!(v instanceof Variable)) throw new KilnError(`${who}: varList[${i}] must be a kiln Variable, got ${typeof v}`); });
  }
  const tape = new GradientTape();
  const value = tape.record(() => {
    const y: unknown = f();
    if (!(y instanceof Tensor)) throw new KilnError(`${who}: f must return a scalar Tensor, got ${typeof y}`);
    if (y.rank !== 0) throw new KilnError(`${who}: the result of f() must be a scalar, got ${y.describe()}`);
    return y;
  });
  const read = tape.watchedVariables;
  const variables = (varList ?? read.filter((v) => v.trainable)).filter((v) => read.includes(v));
  if (variables.length === 0) {
    const which = varList ? `the ${varList.length} given variable(s) (${varList.map((v) => `'${v.name}'`).join(', ')})` : 'any trainable variable';
    throw new KilnError(`${who}: f() does not read ${which}; there is nothing to differentiate (f read: ${read.map((v) => `'${v.name}'`).join(', ') || 'no variables'})`);
  }
  return { value, variables, grads: tape.gradient(value, variables) };
}

/**
 * tfjs's `tf.variableGrads`: the value of scalar-valued `f` and its gradients with respect to
 * `varList` (default: every trainable variable f reads), keyed by variable name. The grads map
 * goes straight to `optimizer.applyGradients(grads)`.
 */
export function variableGrads(f: () => Tensor, varList?: readonly Variable[]): { value: Tensor; grads: Record<string, Tensor> } {
  const r = variableGradsList(f, varList);
  const grads: Record<string, Tensor> = {};
  const byName = new Map<string, Variable>();
  r.variables.forEach((v, i) => {
    if (byName.has(v.name)) throw new KilnError(`variableGrads: two variables are named '${v.name}'; name them apart (the grads map is keyed by name) or use a GradientTape`);
    byName.set(v.name, v);
    grads[v.name] = r.grads[i]!;
  });
  gradVariables.set(grads, byName);
  return { value: r.value, grads };
}
