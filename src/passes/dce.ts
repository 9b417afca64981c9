/**
 * dce: dead code elimination. After the pass every body node contributes to some result: it is a
 * result or an operand, transitively, of one. All ops are pure (rng included: it is a function of
 * its key), so nothing else keeps a node alive. Parameters always stay, used or not: they are the
 * function's signature, and aliases (result i donates parameter j's buffer) refer to them by
 * position; aliased results are results, so they and what they read stay too.
 *
 * Control flow: regions are cleaned the same way, and a control-flow node drops the tuple elements
 * nobody reads (get_result) where that is safe: a cond its unused results and the operands no
 * remaining branch result reads; a scan its unused per-step outputs, and a carry only when neither
 * its final value nor anything kept depends on it (through the body, over the iterations); a
 * while a carried value only when its final value is unused and neither the condition nor a kept
 * value depends on it. Everything else about the loop (trip count, kept values) is unchanged.
 */
import { makeValue } from '../ir/builder.js';
import type { Func, Value } from '../ir/function.js';
import { attr } from '../ir/registry.js';
import type { Pass } from './manager.js';
import { paramDeps, restrictRegion, runInRegions } from './regions.js';

function sweep(fn: Func): boolean {
  const live = new Set<Value>(fn.results);
  // Users come after their operands, so one backward sweep finds every live node.
  for (let i = fn.body.length - 1; i >= 0; i--) {
    const v = fn.body[i]!;
    if (live.has(v)) for (const x of v.inputs) live.add(x);
  }
  const body = fn.body.filter((v) => live.has(v));
  if (body.length === fn.body.length) return false;
  fn.body = body;
  return true;
}

const range = (n: number, from = 0): number[] => Array.from({ length: n }, (_, i) => from + i);

/** Close `needed` (parameter = result indices of a loop body) under the body's dependencies. */
function closeOver(needed: Set<number>, deps: readonly Set<number>[], carried: number): void {
  for (let grew = true; grew;) {
    grew = false;
    for (const j of [...needed]) {
      for (const d of deps[j] ?? []) {
        if (d < carried && !needed.has(d)) {
          needed.add(d);
          grew = true;
        }
      }
    }
  }
}

/**
 * The narrowed form of control-flow node `v` given the tuple indices in use: the new node and,
 * per old tuple index, its new index (-1: dropped). Undefined when nothing can be dropped.
 */
function narrow(v: Value, used: ReadonlySet<number>): { node: Value; index: number[] } | undefined {
  const tuple = v.type.tuple!;
  if (v.op === 'cond') {
    const [pred, ...ops] = v.inputs;
    const keepRes = range(tuple.length).filter((i) => used.has(i));
    const reads = new Set<number>();
    for (const r of v.regions) {
      const deps = paramDeps(r);
      for (const i of keepRes) for (const d of deps[i]!) reads.add(d);
    }
    const keepOps = range(ops.length).filter((i) => reads.has(i));
    if (keepRes.length === tuple.length && keepOps.length === ops.length) return undefined;
    const node = makeValue('cond', [pred!, ...keepOps.map((i) => ops[i]!)], v.attrs, v.regions.map((r) => restrictRegion(r, keepOps, keepRes)));
    return { node, index: range(tuple.length).map((i) => keepRes.indexOf(i)) };
  }
  if (v.op === 'while') {
    const [condR, bodyR] = v.regions as [Func, Func];
    const n = v.inputs.length;
    const needed = new Set<number>([...used, ...paramDeps(condR)[0]!]);
    closeOver(needed, paramDeps(bodyR), n);
    const keep = range(n).filter((i) => needed.has(i));
    if (keep.length === n) return undefined;
    const node = makeValue('while', keep.map((i) => v.inputs[i]!), v.attrs, [restrictRegion(condR, keep, [0]), restrictRegion(bodyR, keep, keep)]);
    return { node, index: range(n).map((i) => keep.indexOf(i)) };
  }
  if (v.op === 'scan') {
    const body = v.regions[0]!;
    const nc = attr.int(v.attrs, 'carries');
    const nx = v.inputs.length - nc, ny = tuple.length - nc;
    const deps = paramDeps(body);
    const keptYs = range(ny).filter((k) => used.has(nc + k));
    const neededC = new Set(range(nc).filter((j) => used.has(j)));
    for (const k of keptYs) for (const d of deps[nc + k]!) if (d < nc) neededC.add(d);
    closeOver(neededC, deps, nc);
    const carries = range(nc).filter((j) => neededC.has(j));
    const reads = new Set<number>();
    for (const r of [...carries, ...keptYs.map((k) => nc + k)]) for (const d of deps[r]!) reads.add(d);
    const xs = range(nx).filter((k) => reads.has(nc + k));
    if (carries.length === nc && keptYs.length === ny && xs.length === nx) return undefined;
    const region = restrictRegion(body, [...carries, ...xs.map((k) => nc + k)], [...carries, ...keptYs.map((k) => nc + k)]);
    const node = makeValue('scan', [...carries.map((j) => v.inputs[j]!), ...xs.map((k) => v.inputs[nc + k]!)], { ...v.attrs, carries: carries.length }, [region]);
    const index = [...range(nc).map((j) => carries.indexOf(j)), ...range(ny).map((k) => (keptYs.includes(k) ? carries.length + keptYs.indexOf(k) : -1))];
    return { node, index };
  }
  return undefined;
}

/** Narrow every control-flow node to the tuple elements its get_result users read. */
function narrowControlFlow(fn: Func): boolean {
  const readers = new Map<Value, Value[]>();
  for (const v of fn.body) {
    if (v.op !== 'get_result') continue;
    const list = readers.get(v.inputs[0]!) ?? [];
    list.push(v);
    readers.set(v.inputs[0]!, list);
  }
  let changed = false;
  for (const v of [...fn.body]) {
    if (!v.type.tuple || !v.regions.length) continue;
    const rs = readers.get(v) ?? [];
    const n = narrow(v, new Set(rs.map((g) => attr.int(g.attrs, 'index'))));
    if (!n) continue;
    changed = true;
    fn.body.splice(fn.body.indexOf(v), 1, n.node);
    for (const g of rs) {
      const ng = makeValue('get_result', [n.node], { index: n.index[attr.int(g.attrs, 'index')]! });
      fn.body.splice(fn.body.indexOf(g), 1, ng);
      fn.replaceAllUses(g, ng);
    }
  }
  return changed;
}

export const dce: Pass = {
  name: 'dce',
  run(fn: Func): boolean {
    let changed = sweep(fn);
    if (narrowControlFlow(fn)) {
      sweep(fn);
      changed = true;
    }
    return runInRegions(fn, (r) => dce.run(r)) || changed;
  },
};
