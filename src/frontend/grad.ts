/**
 * Gradients for users: `grad(f)` and `valueAndGrad(f)` trace f (once per argument signature, like
 * `fn`), differentiate the traced Func with the autodiff transform (src/passes/autodiff.ts: an IR
 * transform, not a runtime tape) and run the gradient Func. Gradients can be taken with respect to
 * arguments (`argnums`) and to Variables (`variables`, bound to parameters while tracing, which is
 * how Keras differentiates a loss with respect to its weights). Called inside another trace (a
 * training step under `fn`), the gradient program is inlined into that trace. `gradIR` returns
 * the gradient Func itself for given argument types, for the compiled training step.
 */
import type { Func, Value } from '../ir/function.js';
import type { Literal } from '../ir/literal.js';
import { isFloat } from '../ir/dtype.js';
import { KilnError, typeToString, type TensorType } from '../ir/types.js';
import { gradFunc } from '../passes/autodiff.js';
import { activeTrace } from './context.js';
import { runFunc } from './executor.js';
import { symbolicReadError, Tensor } from './tensor.js';
import { trace } from './tracing.js';
import type { Variable } from './variable.js';

export interface GradOptions {
  /**
   * Arguments to differentiate: one index (the gradient is one Tensor) or a list (a list of
   * Tensors). Default 0, or none when `variables` are given.
   */
  argnums?: number | readonly number[];
  /** Variables to differentiate with respect to (their reads inside f become parameters). */
  variables?: readonly Variable[];
  /** Name of the traced function (default: f's name). */
  name?: string;
}

export interface ValueAndGrad<G> {
  /** f's value. */
  value: Tensor;
  /** Gradients with respect to the arguments in `argnums`. */
  grads: G;
  /** Gradients with respect to `variables`, in their order. */
  variableGrads: Tensor[];
}

/** The gradient program for one argument signature. */
export interface GradIR {
  /**
   * Parameters: f's arguments, then the `variables`' values. Results: f's value, then the new
   * values of variables f assigned (aliased to their parameters), then the gradients for `argnums`,
   * then for `variables`.
   */
  func: Func;
  argnums: number[];
  variables: Variable[];
  /** Variables f assigned while tracing (e.g. batch-norm statistics), results 1..n. */
  updatedVariables: Variable[];
  /** Variables read but not bound: their current values are baked in as constants. */
  capturedVariables: Variable[];
}

type ScalarFn = (...args: Tensor[]) => Tensor;

function normalizeArgnums(name: string, argnums: GradOptions['argnums'], hasVariables: boolean, nArgs: number): number[] {
  const list = argnums === undefined ? (hasVariables ? [] : [0]) : typeof argnums === 'number' ? [argnums] : [...argnums];
  const seen = new Set<number>();
  for (const a of list) {
    if (!Number.isInteger(a) || a < 0 || a >= nArgs) throw new KilnError(`grad of '${name}': argnums entry ${a} is out of range for ${nArgs} argument(s)`);
    if (seen.has(a)) throw new KilnError(`grad of '${name}': argnums lists argument ${a} twice`);
    seen.add(a);
  }
  return list;
}

/** Trace f on `argTypes` and build its value-and-gradient Func. */
export function gradIR(f: ScalarFn, argTypes: readonly TensorType[], opts: GradOptions = {}): GradIR {
  const name = opts.name ?? (f.name || 'grad');
  const variables = [...(opts.variables ?? [])];
  const argnums = normalizeArgnums(name, opts.argnums, variables.length > 0, argTypes.length);
  argnums.forEach((a) => {
    if (!isFloat(argTypes[a]!.dtype)) {
      throw new KilnError(`grad of '${name}': argument ${a} is ${typeToString(argTypes[a]!)}; only floating-point arguments can be differentiated`);
    }
  });
  variables.forEach((v) => {
    if (!isFloat(v.dtype)) throw new KilnError(`grad of '${name}': variable '${v.name}' is ${v.value.describe()}; only floating-point variables can be differentiated`);
  });
  const traced = trace((...xs: Tensor[]) => {
    const out: unknown = f(...xs);
    if (!(out instanceof Tensor)) {
      throw new KilnError(`grad of '${name}': the function must return one Tensor (the value to differentiate), got ${Array.isArray(out) ? 'an array' : typeof out}`);
    }
    if (!isFloat(out.dtype)) throw new KilnError(`grad of '${name}': the function returned ${out.describe()}; only a floating-point value can be differentiated`);
    return out;
  }, argTypes, { name, variables });
  const wrt = [...argnums, ...variables.map((_, j) => argTypes.length + j)];
  return {
    func: gradFunc(traced.func, { wrt, resultIndex: 0 }),
    argnums, variables,
    updatedVariables: traced.updatedVariables,
    capturedVariables: traced.capturedVariables,
  };
}

interface Entry {
  ir: GradIR;
  captured: [Variable, number][];
}

/** The value-and-gradient callable shared by grad and valueAndGrad. */
function gradRunner(f: ScalarFn, opts: GradOptions): (args: readonly Tensor[]) => ValueAndGrad<Tensor[]> {
  const name = opts.name ?? (f.name || 'grad');
  const cache = new Map<string, Entry>();
  return (args) => {
    args.forEach((a, i) => {
      if (!(a instanceof Tensor)) throw new KilnError(`grad of '${name}': argument ${i} must be a Tensor`);
    });
    const key = args.map((a) => typeToString(a.type)).join(', ');
    let entry = cache.get(key);
    if (entry && entry.captured.some(([v, version]) => v.version !== version)) entry = undefined;
    if (!entry) {
      const ir = gradIR(f, args.map((a) => a.type), { ...opts, name });
      entry = { ir, captured: ir.capturedVariables.map((v) => [v, v.version]) };
      cache.set(key, entry);
    }
    const { ir } = entry;
    const outs = activeTrace() ? inline(ir.func, [...args, ...ir.variables.map((v) => v.read())]) : run(name, ir, args);
    const nUpd = ir.updatedVariables.length, nArg = ir.argnums.length;
    ir.updatedVariables.forEach((v, i) => v.assign(outs[1 + i]!));
    return {
      value: outs[0]!,
      grads: outs.slice(1 + nUpd, 1 + nUpd + nArg),
      variableGrads: outs.slice(1 + nUpd + nArg),
    };
  };
}

function run(name: string, ir: GradIR, args: readonly Tensor[]): Tensor[] {
  const inputs: Literal[] = args.map((t) => {
    if (!t.literal) throw symbolicReadError(t, `an argument of grad of '${name}'`);
    return t.literal;
  });
  for (const v of ir.variables) inputs.push(v.value.literal!);
  return runFunc(ir.func, inputs).map((l) => Tensor.concrete(l));
}

/** Replay `func` into the active trace on `inputs` (nested use: a gradient inside a traced step). */
function inline(func: Func, inputs: readonly Tensor[]): Tensor[] {
  const t = activeTrace()!;
  const map = new Map<Value, Value>();
  func.params.forEach((p, i) => map.set(p, t.valueOf(inputs[i]!, 'grad')));
  for (const v of func.body) map.set(v, t.builder.op(v.op, v.inputs.map((x) => map.get(x)!), v.attrs, v.regions.map((r) => r.clone())));
  return func.results.map((r) => t.symbolic(map.get(r)!));
}

/**
 * The gradient of scalar-valued `f` with respect to argument `argnums` (default 0): one Tensor, or
 * a list for a list of indices. A non-scalar value is summed first (the gradient of sum(f)).
 */
export function grad(f: ScalarFn, opts?: { argnums?: number; name?: string }): (...args: Tensor[]) => Tensor;
export function grad(f: ScalarFn, opts: { argnums: readonly number[]; name?: string }): (...args: Tensor[]) => Tensor[];
export function grad(f: ScalarFn, opts: { argnums?: number | readonly number[]; name?: string } = {}): (...args: Tensor[]) => Tensor | Tensor[] {
  const runner = gradRunner(f, opts);
  return (...args) => {
    const { grads } = runner(args);
    return typeof opts.argnums === 'number' || opts.argnums === undefined ? grads[0]! : grads;
  };
}

/**
 * f's value together with its gradients with respect to `argnums` (one Tensor for one index, a
 * list for a list) and to `variables` (always a list).
 */
export function valueAndGrad(f: ScalarFn, opts: GradOptions & { argnums: readonly number[] }): (...args: Tensor[]) => ValueAndGrad<Tensor[]>;
export function valueAndGrad(f: ScalarFn, opts: GradOptions & { variables: readonly Variable[]; argnums?: undefined }): (...args: Tensor[]) => ValueAndGrad<Tensor[]>;
export function valueAndGrad(f: ScalarFn, opts?: GradOptions & { argnums?: number }): (...args: Tensor[]) => ValueAndGrad<Tensor>;
export function valueAndGrad(f: ScalarFn, opts: GradOptions = {}): (...args: Tensor[]) => ValueAndGrad<Tensor | Tensor[]> {
  const runner = gradRunner(f, opts);
  const single = typeof opts.argnums === 'number' || (opts.argnums === undefined && !opts.variables?.length);
  return (...args) => {
    const r = runner(args);
    return single ? { ...r, grads: r.grads[0]! } : r;
  };
}
