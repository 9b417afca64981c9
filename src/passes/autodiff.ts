/**
 * autodiff: reverse-mode differentiation as an IR transform (JAX style). Given a Func, it builds
 * a new Func that computes the original results (the primal, unchanged and first, so aliases and
 * state updates keep their positions) followed by the gradients with respect to chosen
 * parameters. The backward half is written by each op's VJP rule (OpDef.vjp, src/ir/ops/vjp_*.ts)
 * through a Builder, so every node is type-checked; cotangents of a value used several times are
 * summed. Only values on a path from a differentiated parameter to a seeded result get a
 * cotangent: integer and bool values never do, and no zero cotangent is materialized except for a
 * requested gradient that nothing reaches. The output is ordinary IR for the usual passes
 * (simplify, CSE, DCE, fusion); nothing here optimizes beyond dropping rule output nobody uses.
 */
import { Builder } from '../ir/builder.js';
import { isFloat } from '../ir/dtype.js';
import { Func, Value } from '../ir/function.js';
import { getOp, type RegionAutodiff } from '../ir/registry.js';
import { KilnError, typeToString, typesEqual } from '../ir/types.js';

export interface VjpOptions {
  /** Indices of the parameters to differentiate with respect to (default: every float parameter). */
  wrt?: readonly number[];
  /** The new function's name (default: the original's with a suffix). */
  name?: string;
}

export interface GradOptions extends VjpOptions {
  /** The result to differentiate (default 0). Its cotangent seed is ones (the gradient of its sum). */
  resultIndex?: number;
}

/**
 * The vector-Jacobian product of `fn`. Parameters: fn's parameters, then one cotangent per result
 * (same type as the result, named `ct_<result name>`; cotangents of non-float results are ignored).
 * Results: fn's results, then the cotangent of each `wrt` parameter (named `grad_<param name>`).
 */
export function vjpFunc(fn: Func, opts: VjpOptions = {}): Func {
  const wrt = resolveWrt(fn, opts.wrt);
  return differentiate(fn, wrt, opts.name ?? `${fn.name}_vjp`, (b, results) =>
    results.map((r, i) => {
      const ct = b.param(r.type, `ct_${fn.resultNames[i] ?? `out${i}`}`);
      return isFloat(r.dtype) ? ct : null;
    }));
}

/**
 * Value and gradient of one result of `fn`: parameters are fn's own; results are fn's results,
 * then the gradient of result `resultIndex` (seeded with ones, so a non-scalar result is summed)
 * with respect to each `wrt` parameter.
 */
export function gradFunc(fn: Func, opts: GradOptions = {}): Func {
  const wrt = resolveWrt(fn, opts.wrt);
  const k = opts.resultIndex ?? 0;
  const out = fn.results[k];
  if (!out) throw new KilnError(`grad of @${fn.name}: result index ${k} is out of range (${fn.results.length} results)`);
  if (!isFloat(out.dtype)) {
    throw new KilnError(`grad of @${fn.name}: result ${k} ('${fn.resultNames[k]}': ${typeToString(out.type)}) is not floating-point; only float results can be differentiated`);
  }
  return differentiate(fn, wrt, opts.name ?? `${fn.name}_grad`, (b, results) =>
    results.map((r, i) => (i === k ? b.full(1, r.type) : null)));
}

function resolveWrt(fn: Func, wrt: readonly number[] | undefined): number[] {
  if (!wrt) return fn.params.map((p, i) => (isFloat(p.dtype) ? i : -1)).filter((i) => i >= 0);
  const seen = new Set<number>();
  for (const i of wrt) {
    const p = fn.params[i];
    if (!Number.isInteger(i) || !p) throw new KilnError(`grad of @${fn.name}: wrt index ${i} is out of range (${fn.params.length} parameters)`);
    if (seen.has(i)) throw new KilnError(`grad of @${fn.name}: wrt index ${i} is listed twice`);
    if (!isFloat(p.dtype)) {
      throw new KilnError(`grad of @${fn.name}: parameter ${i} ('${p.name}': ${typeToString(p.type)}) is not floating-point; only float parameters can be differentiated`);
    }
    seen.add(i);
  }
  return [...wrt];
}

/**
 * Copy fn's primal into a Builder, seed cotangents on its results, sweep the body in reverse
 * applying VJP rules, and return primal results + gradients of the `wrt` parameters.
 */
function differentiate(fn: Func, wrt: readonly number[], name: string, seed: (b: Builder, results: Value[]) => (Value | null)[]): Func {
  const b = new Builder(name);
  const map = new Map<Value, Value>();
  fn.params.forEach((p) => map.set(p, b.param(p.type, p.name)));
  const copy = (v: Value): Value => {
    const m = map.get(v);
    if (!m) throw new KilnError(`grad of @${fn.name}: %${v.id} (${v.op}) is used before its definition; the function does not verify`);
    return m;
  };
  for (const v of fn.body) {
    const nv = new Value(v.op, v.inputs.map(copy), v.attrs, v.type, v.name, v.regions.map((r) => r.clone()));
    b.body.push(nv);
    map.set(v, nv);
  }
  const primal = [...b.body];
  const results = fn.results.map(copy);
  const seeds = seed(b, results);

  // Values that depend (through float values) on a differentiated parameter. A control-flow
  // node's tuple counts as float when any element is; get_result as its element.
  const active = new Set<Value>(wrt.map((i) => b.params[i]!));
  const differentiable = (v: Value) => (v.type.tuple ? v.type.tuple.some((t) => isFloat(t.dtype)) : isFloat(v.dtype));
  for (const v of primal) if (differentiable(v) && v.inputs.some((x) => active.has(x))) active.add(v);
  // Cotangents of tuple elements, per control-flow node (get_result routes them here).
  const tupleCts = new Map<Value, (Value | null)[]>();
  const ad: RegionAutodiff = { vjp: (region, regionWrt) => vjpFunc(region, { wrt: regionWrt }) };

  const ct = new Map<Value, Value>();
  const accumulate = (v: Value, g: Value, from: string): void => {
    if (!active.has(v)) return;
    if (!typesEqual(g.type, v.type)) {
      throw new Error(`autodiff: the VJP rule of ${from} produced a ${typeToString(g.type)} cotangent for a ${typeToString(v.type)} operand`);
    }
    const prev = ct.get(v);
    ct.set(v, prev ? b.op('add', [prev, g]) : g);
  };
  results.forEach((r, i) => {
    const s = seeds[i];
    if (s) accumulate(r, s, `the seed of result ${i}`);
  });
  for (let k = primal.length - 1; k >= 0; k--) {
    const v = primal[k]!;
    if (v.type.tuple) {
      const cts = tupleCts.get(v);
      if (!cts) continue;
      const tupleRule = getOp(v.op).vjpTuple;
      if (!tupleRule) throw new KilnError(`grad of @${fn.name}: op '${v.op}' has no VJP rule`);
      const gs = tupleRule(b, v, cts, ad);
      if (gs.length !== v.inputs.length) throw new Error(`autodiff: the VJP rule of ${v.op} returned ${gs.length} cotangents for ${v.inputs.length} operands`);
      gs.forEach((gi, j) => {
        if (gi) accumulate(v.inputs[j]!, gi, `${v.op} (operand ${j})`);
      });
      continue;
    }
    const g = ct.get(v);
    if (!g) continue;
    if (v.op === 'get_result') {
      const tuple = v.inputs[0]!;
      if (!active.has(tuple)) continue;
      let cts = tupleCts.get(tuple);
      if (!cts) tupleCts.set(tuple, (cts = tuple.type.tuple!.map(() => null)));
      const i = v.attrs['index'] as number;
      cts[i] = cts[i] ? b.op('add', [cts[i]!, g]) : g;
      continue;
    }
    const rule = getOp(v.op).vjp;
    if (!rule) throw new KilnError(`grad of @${fn.name}: op '${v.op}' has no VJP rule (declare it with noGradient if it has no derivative)`);
    const gs = rule(b, v, g);
    if (gs.length !== v.inputs.length) {
      throw new Error(`autodiff: the VJP rule of ${v.op} returned ${gs.length} cotangents for ${v.inputs.length} operands`);
    }
    gs.forEach((gi, j) => {
      if (gi) accumulate(v.inputs[j]!, gi, `${v.op} (operand ${j})`);
    });
  }
  const grads = wrt.map((i) => {
    const p = b.params[i]!;
    return ct.get(p) ?? b.full(0, p.type);
  });

  const out = new Func(name, [...b.params], pruneBackward(b.body, primal.length, [...results, ...grads]), [...results, ...grads],
    [...fn.resultNames, ...wrt.map((i) => `grad_${fn.params[i]!.name ?? `arg${i}`}`)], [...fn.aliases]);
  return out;
}

/** Drop backward nodes (after the primal prefix) that no result uses, e.g. a rule's cotangent for a constant operand. */
function pruneBackward(body: readonly Value[], primalLength: number, results: readonly Value[]): Value[] {
  const live = new Set<Value>(results);
  for (let i = body.length - 1; i >= primalLength; i--) {
    const v = body[i]!;
    if (live.has(v)) for (const x of v.inputs) live.add(x);
  }
  return body.filter((v, i) => i < primalLength || live.has(v));
}
