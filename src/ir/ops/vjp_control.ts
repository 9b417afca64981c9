/**
 * Reverse-mode rules of the control-flow ops (control.ts). Regions are differentiated by the
 * autodiff transform itself, handed in as `ad.vjp` (the IR layer does not import the passes):
 * - cond: a cond on the same predicate whose branches are the VJPs of the original branches.
 * - scan: a residual scan (the original body that also emits the carries each step starts from),
 *   which replaces the primal scan (it computes the same values, so the forward runs once), then
 *   a scan running the other way whose carries are the carries' cotangents and whose per-step
 *   outputs are the sequences' cotangents. Both run along the scan's axis; when a carry's rank is
 *   below that axis (it could not be stacked there) they run along axis 0 on transposed
 *   sequences instead, and the primal scan stays.
 * - while: with max_iterations = N it is the scan of N steps over (carried..., active) that
 *   applies the body while `active && cond` and keeps the values otherwise, differentiated as a
 *   scan (whose residual scan then replaces the primal while); without a bound there is no static
 *   trip count to reverse, and it is refused. The masked steps still evaluate the body: a body
 *   that overflows to inf there yields NaN gradients (0 * inf), as masking does in any framework.
 * Each region a rule builds recomputes its forward values (rematerialization, no saved state
 * besides the residual carries).
 */
import { Builder } from '../builder.js';
import { isFloat } from '../dtype.js';
import { Func, Value } from '../function.js';
import { attr, type RegionAutodiff, type TupleVjpRule } from '../registry.js';
import { KilnError, tensorType, typeToString, type TensorType } from '../types.js';

/** Copy `fn`'s body into `b` with its parameters bound to `args`; returns the copies of its results. */
export function inlineFunc(b: Builder, fn: Func, args: readonly Value[]): Value[] {
  if (args.length !== fn.params.length) throw new Error(`inlineFunc @${fn.name}: ${fn.params.length} parameters, ${args.length} arguments`);
  const map = new Map<Value, Value>();
  fn.params.forEach((p, i) => map.set(p, args[i]!));
  for (const v of fn.body) {
    const nv = new Value(v.op, v.inputs.map((x) => map.get(x)!), v.attrs, v.type, v.name, v.regions.map((r) => r.clone()));
    b.body.push(nv);
    map.set(v, nv);
  }
  return fn.results.map((r) => map.get(r)!);
}

/** `b.build(results)` without the nodes no result needs (rule scaffolding, unused zeros). */
function buildPruned(b: Builder, results: readonly Value[]): Func {
  const live = new Set<Value>(results);
  for (let i = b.body.length - 1; i >= 0; i--) {
    const v = b.body[i]!;
    if (live.has(v)) for (const x of v.inputs) live.add(x);
  }
  const f = b.build(results);
  f.body = f.body.filter((v) => live.has(v));
  return f;
}

const floatIndices = (types: readonly TensorType[]): number[] => types.flatMap((t, i) => (isFloat(t.dtype) ? [i] : []));

/**
 * Emit, inside builder `b`, the gradients of region `fn` at `args` with respect to its parameters
 * `wrt`, given cotangents of its results (null: zero). Returns one value per `wrt` entry.
 */
function regionGrads(b: Builder, fn: Func, args: readonly Value[], cts: readonly (Value | null)[], wrt: readonly number[], ad: Parameters<TupleVjpRule>[3]): Value[] {
  const g = ad.vjp(fn, wrt);
  const ctArgs = fn.results.map((r, i) => cts[i] ?? b.full(0, r.type));
  return inlineFunc(b, g, [...args, ...ctArgs]).slice(fn.results.length);
}

export const condVjp: TupleVjpRule = (b, node, cts, ad) => {
  const [pred, ...ops] = node.inputs;
  const tuple = node.type.tuple!;
  const wrt = floatIndices(ops.map((o) => o.type));
  const ctIdx = tuple.flatMap((t, i) => (isFloat(t.dtype) && cts[i] ? [i] : []));
  if (!wrt.length || !ctIdx.length) return node.inputs.map(() => null);
  const branch = (fn: Func): Func => {
    const r = new Builder(`${fn.name}_vjp`);
    const ps = fn.params.map((p) => r.param(p.type, p.name));
    const cps = ctIdx.map((i) => r.param(tuple[i]!, `ct${i}`));
    const full: (Value | null)[] = tuple.map(() => null);
    ctIdx.forEach((i, k) => (full[i] = cps[k]!));
    return buildPruned(r, regionGrads(r, fn, ps, full, wrt, ad));
  };
  const c = b.op('cond', [pred!, ...ops, ...ctIdx.map((i) => cts[i]!)], {}, node.regions.map(branch));
  const out: (Value | null)[] = node.inputs.map(() => null);
  wrt.forEach((j, k) => (out[j + 1] = b.op('get_result', [c], { index: k })));
  return out;
};

/** Move dimension `axis` of `v` to the front (identity for axis 0). */
function toFront(b: Builder, v: Value, axis: number): Value {
  if (axis === 0) return v;
  const rest = v.shape.map((_, i) => i).filter((i) => i !== axis);
  return b.op('transpose', [v], { perm: [axis, ...rest] });
}

/** Inverse of toFront: move the leading dimension back to `axis`. */
function fromFront(b: Builder, v: Value, axis: number): Value {
  if (axis === 0) return v;
  const perm = v.shape.map((_, i) => i).slice(1);
  perm.splice(axis, 0, 0);
  return b.op('transpose', [v], { perm });
}

/**
 * The residual scan computes the primal scan's carries and outputs (same indices) and more: move
 * it next to the primal node and let the primal's readers read it, so the forward pass runs once
 * (the primal node is left dead, for DCE).
 */
function shareForward(b: Builder, node: Value, res: Value): void {
  if (b.body.indexOf(node) < 0) return;
  b.body.splice(b.body.indexOf(res), 1);
  // Right after the primal node and after the residual's own operands.
  const at = Math.max(b.body.indexOf(node), ...res.inputs.map((x) => b.body.indexOf(x)));
  b.body.splice(at + 1, 0, res);
  for (const v of b.body) if (v.op === 'get_result' && v.inputs[0] === node) v.inputs[0] = res;
}

export const scanVjp: TupleVjpRule = (b, node, cts, ad) => scanVjpOf(b, node, cts, ad, node);

/** scan's VJP; the residual scan takes over the readers of `primal` (whose tuple starts like node's). */
function scanVjpOf(b: Builder, node: Value, cts: readonly (Value | null)[], ad: RegionAutodiff, primal: Value): (Value | null)[] {
  const nc = attr.int(node.attrs, 'carries'), length = attr.int(node.attrs, 'length');
  const axis = attr.int(node.attrs, 'axis'), reverse = attr.bool(node.attrs, 'reverse');
  const body = node.regions[0]!;
  const carries = node.inputs.slice(0, nc), xs = node.inputs.slice(nc);
  const tuple = node.type.tuple!;
  const ny = tuple.length - nc;
  const fc = floatIndices(carries.map((c) => c.type));
  const fx = floatIndices(xs.map((x) => x.type));
  if (!fc.length && !fx.length) return node.inputs.map(() => null);
  const ctOf = (i: number): Value | null => (isFloat(tuple[i]!.dtype) ? cts[i] ?? null : null);
  const fy = Array.from({ length: ny }, (_, k) => k).filter((k) => ctOf(nc + k) !== null);
  if (!fc.some((j) => ctOf(j)) && !fy.length) return node.inputs.map(() => null);

  // Forward again, also emitting the carries each step starts from, stacked along the scan axis;
  // a carry of lower rank than the axis cannot be stacked there, so then everything moves to axis 0.
  const direct = carries.every((c) => c.shape.length >= axis);
  const sa = direct ? axis : 0;
  const xsS = direct ? xs : xs.map((x) => toFront(b, x, axis));
  const rb = new Builder(`${body.name}_residual`);
  const rps = body.params.map((p) => rb.param(p.type, p.name));
  const res = b.op('scan', [...carries, ...xsS], { carries: nc, length, reverse, axis: sa },
    [rb.build([...inlineFunc(rb, body, rps), ...rps.slice(0, nc)])]);
  if (direct) shareForward(b, primal, res);
  const stackedCarries = carries.map((_, j) => b.op('get_result', [res], { index: nc + ny + j }));
  const ctYs = fy.map((k) => (direct ? ctOf(nc + k)! : toFront(b, ctOf(nc + k)!, axis)));

  // Backward: carries are the cotangents of the float carries; per-step outputs the sequences'.
  const gb = new Builder(`${body.name}_vjp`);
  const ctc = fc.map((j) => gb.param(carries[j]!.type, `ct_c${j}`));
  const cs = carries.map((c, j) => gb.param(c.type, `c${j}`));
  const xts = body.params.slice(nc).map((p, k) => gb.param(p.type, `x${k}`));
  const ctyt = fy.map((k) => gb.param(body.results[nc + k]!.type, `ct_y${k}`));
  const resultCts: (Value | null)[] = body.results.map(() => null);
  fc.forEach((j, k) => (resultCts[j] = ctc[k]!));
  fy.forEach((k, m) => (resultCts[nc + k] = ctyt[m]!));
  const wrt = [...fc, ...fx.map((k) => nc + k)];
  const grads = regionGrads(gb, body, [...cs, ...xts], resultCts, wrt, ad);
  const initCt = fc.map((j) => ctOf(j) ?? b.full(0, carries[j]!.type));
  const back = b.op('scan', [...initCt, ...stackedCarries, ...xsS, ...ctYs],
    { carries: fc.length, length, reverse: !reverse, axis: sa }, [buildPruned(gb, grads)]);

  const out: (Value | null)[] = node.inputs.map(() => null);
  fc.forEach((j, k) => (out[j] = b.op('get_result', [back], { index: k })));
  fx.forEach((k, m) => {
    const g = b.op('get_result', [back], { index: fc.length + m });
    out[nc + k] = direct ? g : fromFront(b, g, axis);
  });
  return out;
};

export const whileVjp: TupleVjpRule = (b, node, cts, ad) => {
  const max = attr.int(node.attrs, 'max_iterations');
  if (max < 0) {
    throw new KilnError(
      `while(${node.inputs.map((v) => typeToString(v.type)).join(', ')}): differentiating a while loop needs a static bound on its trip count; ` +
      `give it maximumIterations (kiln.whileLoop(cond, body, vars, {maximumIterations: N}); max_iterations=N in the IR), ` +
      'and it is then differentiated like a scan of N steps');
  }
  const [condR, bodyR] = node.regions as [Func, Func];
  const types = node.inputs.map((v) => v.type);
  // The masked scan carries (vars..., active): its first carries are the while's results, so it
  // also replaces the primal while (the gradient needs its N steps anyway).
  const mb = new Builder(`${bodyR.name}_masked`);
  const vars = types.map((t, i) => mb.param(t, `v${i}`));
  const active = mb.param(tensorType([], 'bool'), 'active');
  const go = mb.op('and', [active, inlineFunc(mb, condR, vars)[0]!]);
  const next = inlineFunc(mb, bodyR, vars);
  const kept = vars.map((v, i) => {
    const p = v.shape.length ? mb.op('broadcast_in_dim', [go], { shape: v.shape, dims: [] }) : go;
    return mb.op('select', [p, next[i]!, v]);
  });
  const yes = b.scalar(1, 'bool');
  if (b.body.includes(node)) {
    b.body.splice(b.body.indexOf(yes), 1);
    b.body.splice(b.body.indexOf(node) + 1, 0, yes);
  }
  const equivalent = b.op('scan', [...node.inputs, yes], { carries: types.length + 1, length: max }, [mb.build([...kept, go])]);
  return scanVjpOf(b, equivalent, [...cts, null], ad, node).slice(0, types.length);
};
