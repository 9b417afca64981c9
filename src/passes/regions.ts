/**
 * What the function-level passes (simplify, CSE, DCE, fold) share to see inside control flow:
 * regions are closed functions, so a pass runs on each region exactly as on a top-level function,
 * and a region whose signature changes (DCE dropping loop-carried values) is rebuilt with the
 * parameters and results it keeps.
 */
import { Builder } from '../ir/builder.js';
import type { Func } from '../ir/function.js';
import { inlineFunc } from '../ir/ops/vjp_control.js';

/** Run `run` on every region of `fn`'s nodes (each region's own regions are the pass's business). */
export function runInRegions(fn: Func, run: (region: Func) => boolean): boolean {
  let changed = false;
  for (const v of fn.body) for (const r of v.regions) changed = run(r) || changed;
  return changed;
}

/**
 * `fn` with only the parameters `keepParams` and the results `keepResults` (indices, in order).
 * A dropped parameter must be unused by the kept results (the caller checks with `paramDeps`).
 */
export function restrictRegion(fn: Func, keepParams: readonly number[], keepResults: readonly number[]): Func {
  const b = new Builder(fn.name);
  const ps = keepParams.map((i) => b.param(fn.params[i]!.type, fn.params[i]!.name));
  // Dropped parameters are bound to themselves; a kept result reading one would fail verify.
  const args = fn.params.map((p, i) => {
    const k = keepParams.indexOf(i);
    return k >= 0 ? ps[k]! : p;
  });
  const outs = inlineFunc(b, fn, args);
  const out = b.build(keepResults.map((i) => outs[i]!), keepResults.map((i) => fn.resultNames[i] ?? `out${i}`));
  // Drop what only the dropped results needed.
  const live = new Set(out.results);
  for (let i = out.body.length - 1; i >= 0; i--) {
    const v = out.body[i]!;
    if (live.has(v)) for (const x of v.inputs) live.add(x);
  }
  out.body = out.body.filter((v) => live.has(v));
  return out;
}

/** For each result of `fn`, the indices of the parameters it depends on. */
export function paramDeps(fn: Func): Set<number>[] {
  const deps = new Map<unknown, Set<number>>();
  fn.params.forEach((p, i) => deps.set(p, new Set([i])));
  for (const v of fn.body) {
    const s = new Set<number>();
    for (const x of v.inputs) for (const i of deps.get(x) ?? []) s.add(i);
    deps.set(v, s);
  }
  return fn.results.map((r) => new Set(deps.get(r) ?? []));
}
