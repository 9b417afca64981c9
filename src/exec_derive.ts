/**
 * Work that depends on resident state only, done once per state change instead of every run.
 *
 * A predict Func whose weights are resident state (src/exec.ts) still holds the arithmetic that
 * constant folding used to do at compile time: batch normalization's scale and shift
 * (gamma * rsqrt(variance + eps), beta - mean * scale), gate slices of recurrent kernels, and
 * so on. `splitDerived` moves every value computed from state (and constants) alone, where the
 * rest of the function reads it, into a `derive` Func whose results become new state tensors
 * ("derived state"); the main Func reads them as parameters. Broadcasts and reshapes of such
 * values stay in the main Func (a derived tensor is never larger than what it came from, so a
 * per-channel vector stays a vector that fuses as an epilogue). State the main Func updates
 * (aliased parameters) is not derived from: it changes on every run.
 */
import { Builder } from './ir/builder.js';
import type { Func, Value } from './ir/function.js';

export interface DerivedSplit {
  /** The original parameters, then one parameter per derived tensor (named like the state). */
  main: Func;
  /** Parameters: the resident state, then the derived tensors; results: the derived tensors, aliased to them. */
  derive: Func;
  /** Names of the derived state tensors, in order. */
  names: string[];
}

const PASS_THROUGH = new Set(['broadcast_in_dim', 'reshape']);
const STORABLE = new Set(['f32', 'i32']);

/** Split `fn` whose parameters from `first` on are resident state; undefined when nothing derives from state alone. */
export function splitDerived(fn: Func, first: number): DerivedSplit | undefined {
  const updated = new Set(fn.aliases.map((a) => fn.params[a.param]!));
  const state = new Set(fn.params.slice(first).filter((p) => !updated.has(p)));
  // Values computed from unchanging state and constants alone (at least one state input on the way).
  const only = new Set<Value>();
  // Values of constants alone (a broadcast scalar): folded by the passes, fine as inputs of derived ones.
  const constant = new Set<Value>();
  for (const v of fn.body) {
    if (v.op === 'constant') { constant.add(v); continue; }
    if (v.op === 'parameter' || v.inputs.length === 0 || v.regions.length > 0) continue;
    if (v.inputs.every((i) => constant.has(i))) { constant.add(v); continue; }
    if (v.inputs.every((i) => state.has(i) || only.has(i) || constant.has(i))) only.add(v);
  }
  if (only.size === 0) return undefined;
  // The derived tensors: state-only values the rest reads, looked through broadcasts and reshapes.
  const pick = (v: Value): Value | undefined => {
    while (PASS_THROUGH.has(v.op)) {
      const i = v.inputs[0]!;
      if (!only.has(i)) return undefined;
      v = i;
    }
    return v.regions.length === 0 && STORABLE.has(v.dtype) ? v : undefined;
  };
  const derived: Value[] = [];
  const isDerived = new Set<Value>();
  const consider = (v: Value) => {
    if (!only.has(v)) return;
    const p = pick(v);
    if (p && !isDerived.has(p)) { isDerived.add(p); derived.push(p); }
  };
  for (const v of fn.body) if (!only.has(v)) v.inputs.forEach(consider);
  fn.results.forEach(consider);
  if (derived.length === 0) return undefined;
  const names = derived.map((_, i) => `${fn.name}/derived_${i}`);

  // Main: the original parameters, then the derived ones; body values the results need, derived ones replaced.
  const mb = new Builder(fn.name);
  const map = new Map<Value, Value>();
  fn.params.forEach((p) => map.set(p, mb.param(p.type, p.name)));
  derived.forEach((d, i) => map.set(d, mb.param(d.type, names[i])));
  replay(fn, fn.results, map, mb, isDerived);
  const main = mb.build(fn.results.map((r) => map.get(r)!), fn.resultNames);
  main.aliases = fn.aliases.map((a) => ({ ...a }));

  // Derive: the state parameters (all of them, so that the state layout is shared), then the derived ones.
  const db = new Builder(`${fn.name}__derive`);
  const dmap = new Map<Value, Value>();
  fn.params.slice(first).forEach((p) => dmap.set(p, db.param(p.type, p.name)));
  // The derived tensors' own parameters: where the aliased results land.
  derived.forEach((d, i) => db.param(d.type, names[i]));
  replay(fn, derived, dmap, db, new Set());
  const derive = db.build(derived.map((d) => dmap.get(d)!), names.map((n) => `new:${n}`));
  derive.aliases = derived.map((_, i) => ({ result: i, param: fn.params.length - first + i }));
  return { main, derive, names };
}

/** Copy into `b`, in body order, the values `roots` need; `map` holds what is already there (stops at `stop`). */
function replay(fn: Func, roots: readonly Value[], map: Map<Value, Value>, b: Builder, stop: ReadonlySet<Value>): void {
  const needed = new Set<Value>();
  const stack = [...roots];
  while (stack.length) {
    const v = stack.pop()!;
    if (needed.has(v) || map.has(v)) continue;
    needed.add(v);
    if (stop.has(v)) continue;
    stack.push(...v.inputs);
  }
  for (const v of fn.body) {
    if (!needed.has(v) || map.has(v)) continue;
    map.set(v, b.op(v.op, v.inputs.map((i) => map.get(i)!), v.attrs, v.regions));
  }
}
