/**
 * Fusion planning (mechanism): partitions a function's body into fusion groups, one kernel each,
 * in a valid execution order. The plan is an analysis; the IR is not changed.
 *
 * Invariant of the result: every body value that is not an input (parameter, non-scalar constant)
 * is a member of at least one group; a value in several groups is a cheap or free value that each
 * of them recomputes, so no group reads it from memory; every group input is a parameter, a
 * constant or an output of exactly one earlier group; the group graph is acyclic.
 *
 * Traversal (XLA's InstructionFusion order): values are visited from the last to the first, so a
 * producer is decided after all its consumers. It joins all its consumer groups or none, as
 * `shouldFuse` (fusion.ts) decides; a producer whose consumers are all in one group never creates a
 * cycle. Then sibling reductions over one input merge (multi-output), with a reachability check,
 * and free values (scalar constants, splats, iota) are copied into every group that uses them.
 */
import type { Func, Value } from '../ir/function.js';
import {
  DEFAULT_FUSION_OPTIONS, anchorKind, controlDecision, describeGroup, duplicationCost, isControl, isFree, isInput, keyString, label, reduceKey, shouldFuse,
  type FusionContext, type FusionOptions, type ReduceKey,
} from './fusion.js';
import { shapesEqual } from '../ir/types.js';

export type { FusionOptions } from './fusion.js';
export type GroupKind = 'loop' | 'reduction' | 'dot' | 'conv' | 'window' | 'gather' | 'scatter' | 'source' | 'control';

export interface FusionGroup {
  id: number;
  kind: GroupKind;
  /** The anchor (dot/conv/reduce/reduce_window/gather/scatter; a row kernel's last reduce), or a loop group's last value. */
  root: Value;
  /** The expensive ops: the anchor, or every reduce of a row kernel; [] for loop and source groups. */
  anchors: Value[];
  /** Members in body order, including root, prologue, epilogue and the free values they use. */
  values: Value[];
  /** Values defined outside the group that members read (parameters, constants, other groups' outputs), unique. */
  inputs: Value[];
  /** Members used outside the group (by other groups or as function results). */
  outputs: Value[];
  /** Members the anchor depends on (dot/conv pad and dequantize; gather/scatter cheap producers); [] for loop and reduction groups. */
  prologue: Value[];
  /** Members depending on an anchor (dot/conv/window/gather epilogues, a row kernel's per-row and broadcast-back ops). */
  epilogue: Value[];
}

export interface FusionDecision {
  producer: Value;
  consumer: Value;
  fuse: boolean;
  why: string;
}

export interface FusionPlan {
  func: Func;
  /** In a valid execution order. */
  groups: FusionGroup[];
  /** The group that computes each member; for a value copied into several groups, the first of them. */
  groupOf: Map<Value, FusionGroup>;
  decisions: FusionDecision[];
  /** Each control node's regions, planned on their own (region bodies are fused into their own kernels). */
  regions: Map<Value, FusionPlan[]>;
  /** How each control node runs, with the reason (loops unrolled before planning are listed too, by the compiler). */
  controls: string[];
}

interface Cluster {
  members: Set<Value>;
}

export function planFusion(fn: Func, options: FusionOptions = {}): FusionPlan {
  const opts = { ...DEFAULT_FUSION_OPTIONS, ...options };
  const order = new Map<Value, number>();
  fn.params.forEach((p, i) => order.set(p, i - fn.params.length));
  fn.body.forEach((v, i) => order.set(v, i));
  const users = fn.users();
  const results = new Set(fn.results);
  const decisions: FusionDecision[] = [];
  const clustersOf = new Map<Value, Cluster[]>();
  const clusters = new Set<Cluster>();
  const rowKeys = new Map<Value, ReduceKey | null>();
  /** Extra cost charged to each value copied into several groups, with the cone it extends (see FusionContext.inheritedDuplication). */
  const spentOn = new Map<Value, number>();

  const add = (c: Cluster, v: Value) => {
    c.members.add(v);
    const list = clustersOf.get(v);
    if (list) list.push(c);
    else clustersOf.set(v, [c]);
  };
  const newCluster = (v: Value) => {
    const c: Cluster = { members: new Set() };
    clusters.add(c);
    add(c, v);
    return c;
  };
  const consumerClusters = (v: Value): Cluster[] => {
    const out: Cluster[] = [];
    for (const u of users.get(v) ?? []) for (const c of clustersOf.get(u) ?? []) if (!out.includes(c)) out.push(c);
    return out;
  };
  /** Members of c read outside it (by another group) or returned: what its kernel stores. */
  const storedMembers = (c: Cluster): number => {
    let n = 0;
    for (const m of c.members) {
      if (results.has(m) || (users.get(m) ?? []).some((u) => (clustersOf.get(u) ?? []).some((d) => d !== c && !d.members.has(m)))) n++;
    }
    return n;
  };
  const firstUserIn = (v: Value, c: Cluster): Value => (users.get(v) ?? []).find((u) => c.members.has(u))!;

  // 1. Producer into consumers, from the last value to the first.
  for (let i = fn.body.length - 1; i >= 0; i--) {
    const p = fn.body[i]!;
    if (isInput(p) || isFree(p)) continue;
    if (p.op === 'get_result') {
      // With its control node: one group computes the whole tuple (created when the node is visited).
      continue;
    }
    if (isControl(p)) {
      const c = newCluster(p);
      for (const u of users.get(p) ?? []) if (u.op === 'get_result') add(c, u);
      for (const u of users.get(p) ?? []) {
        decisions.push({ producer: p, consumer: u, fuse: u.op === 'get_result', why: u.op === 'get_result' ? `fused: ${label(u)} names one result of ${label(p)}` : `not fused: ${label(p)} is control flow` });
      }
      continue;
    }
    const targets = consumerClusters(p);
    if (targets.length === 0) {
      newCluster(p);
      continue;
    }
    let inheritedDuplication = 0;
    for (const u of users.get(p) ?? []) {
      if ((clustersOf.get(u)?.length ?? 0) > 1) inheritedDuplication = Math.max(inheritedDuplication, spentOn.get(u) ?? 0);
    }
    const ctx = { groups: targets.length, isResult: results.has(p), opts, order, rowKeys, inheritedDuplication };
    const verdicts = targets.map((c) => {
      const consumer = firstUserIn(p, c);
      const groupStores = anchorKind(p) === 'dot' && targets.length === 1 ? storedMembers(c) : undefined;
      return { c, consumer, v: shouldFuse(p, consumer, { ...ctx, group: c.members, groupStores }) };
    });
    const refusal = verdicts.find((x) => !x.v.fuse);
    if (refusal !== undefined && targets.length > 1 && anchorKind(p) !== null) {
      // An expensive op is never copied, but its consumer groups may merge around it into one
      // multi-output kernel (a dot whose output feeds two elementwise epilogues, as in training).
      const merged = tryMergeAround(p, targets, { clusters, clustersOf, users, order, decisions }, { ...ctx, groups: 1 });
      if (merged) continue;
    }
    for (const { consumer, v } of verdicts) {
      const why = refusal === undefined || !v.fuse ? v.why
        : `not fused: ${label(p)} joins all its consumer groups or none, and the one with ${label(refusal.consumer)} refused`;
      decisions.push({ producer: p, consumer, fuse: refusal === undefined, why });
    }
    if (refusal === undefined) {
      for (const { c } of verdicts) add(c, p);
      if (targets.length > 1) spentOn.set(p, duplicationCost(p, ctx));
    }
    else newCluster(p);
  }

  // 2. Sibling reductions: row kernels over the same rows that read one input share a kernel.
  mergeSiblings([...clusters], { clusters, clustersOf, users, order, decisions });

  // 3. Free values into every group that uses them; one of their own where none does.
  for (let i = fn.body.length - 1; i >= 0; i--) {
    const v = fn.body[i]!;
    if (!isFree(v)) continue;
    const all = consumerClusters(v);
    // A control node reads its operands from memory: a free operand that is not a constant is stored.
    const targets = all.filter((c) => ![...c.members].some(isControl));
    for (const c of targets) add(c, v);
    if ((targets.length === 0 || targets.length < all.length) && v.op !== 'constant') newCluster(v); // a result, a control operand, or dead code DCE left
    if (v.op !== 'constant' && v.op !== 'iota') {
      for (const c of targets) {
        decisions.push({ producer: v, consumer: firstUserIn(v, c), fuse: true, why: `fused: ${label(v)} is a splat of a scalar, free to copy into every group` });
      }
    }
  }

  const plan = finalize(fn, [...clusters], { clustersOf, users, order, results, decisions });
  for (const v of fn.body) {
    if (v.regions.length === 0) continue;
    plan.regions.set(v, v.regions.map((r) => planFusion(r, options)));
    plan.controls.push(controlDecision(v).why.replace(/: unrolled \(/, ': loop entry (not unrolled by the compiler: '));
  }
  return plan;
}

interface Graph {
  clusters: Set<Cluster>;
  clustersOf: Map<Value, Cluster[]>;
  users: Map<Value, Value[]>;
  order: Map<Value, number>;
  decisions: FusionDecision[];
}

function inOrder(vs: Iterable<Value>, order: ReadonlyMap<Value, number>): Value[] {
  return [...vs].sort((a, b) => order.get(a)! - order.get(b)!);
}

/** Groups reading a value that `c` stores (edges of the group graph). */
function successors(c: Cluster, g: Pick<Graph, 'clustersOf' | 'users'>): Set<Cluster> {
  const out = new Set<Cluster>();
  for (const m of c.members) {
    // A user duplicated into several groups counts in each: one that holds it without m reads m from c.
    for (const u of g.users.get(m) ?? []) {
      for (const d of g.clustersOf.get(u) ?? []) if (d !== c && !d.members.has(m)) out.add(d);
    }
  }
  return out;
}

/** Would merging a and b close a cycle, i.e. does a path a -> x -> ... -> b (x another group) exist, or b -> ... -> a? */
function mergeWouldCycle(a: Cluster, b: Cluster, g: Pick<Graph, 'clustersOf' | 'users'>): Cluster | null {
  for (const [from, to] of [[a, b], [b, a]] as const) {
    const seen = new Set<Cluster>();
    const stack = [...successors(from, g)].filter((x) => x !== to).map((x) => [x, x] as const);
    while (stack.length > 0) {
      const [x, via] = stack.pop()!;
      if (x === to) return via;
      if (seen.has(x)) continue;
      seen.add(x);
      for (const y of successors(x, g)) stack.push([y, via]);
    }
  }
  return null;
}

function mergeSiblings(initial: Cluster[], g: Graph): void {
  const rowKernels = initial
    .map((c) => ({ c, shape: describeGroup(inOrder(c.members, g.order)) }))
    .filter((x) => x.shape.kind === 'reduction' && x.shape.error === undefined)
    .map((x) => ({ c: x.c, key: reduceKey(x.shape.anchors[0]!), root: x.shape.anchors[x.shape.anchors.length - 1]! }));
  const readsOf = (c: Cluster, key: ReduceKey): Set<Value> => {
    const s = new Set<Value>();
    for (const m of c.members) {
      for (const i of m.inputs) if (shapesEqual(i.shape, key.shape)) s.add(i);
      if (shapesEqual(m.shape, key.shape)) s.add(m);
    }
    return s;
  };
  for (let i = 0; i < rowKernels.length; i++) {
    const a = rowKernels[i]!;
    if (!g.clusters.has(a.c)) continue;
    for (let j = i + 1; j < rowKernels.length; j++) {
      const b = rowKernels[j]!;
      if (!g.clusters.has(b.c) || keyString(a.key) !== keyString(b.key)) continue;
      const aReads = readsOf(a.c, a.key);
      const shared = [...readsOf(b.c, b.key)].find((v) => aReads.has(v));
      if (shared === undefined) continue;
      const cycleVia = mergeWouldCycle(a.c, b.c, g);
      let why: string;
      let fuse = false;
      if (cycleVia !== null) {
        why = `not fused: sibling reductions over ${label(shared)} would form a cycle through the group of ${label(inOrder(cycleVia.members, g.order).at(-1)!)}`;
      } else {
        const merged = describeGroup(inOrder([...a.c.members, ...b.c.members], g.order));
        fuse = merged.error === undefined;
        why = fuse ? `fused: sibling reductions over ${label(shared)} (rows ${keyString(a.key)}) share one kernel (multi-output)`
          : `not fused: sibling reductions over ${label(shared)}: ${merged.error}`;
      }
      g.decisions.push({ producer: a.root, consumer: b.root, fuse, why });
      if (fuse) mergeClusters(a.c, b.c, g);
    }
  }
}

/** Move b's members into a and drop b. */
function mergeClusters(a: Cluster, b: Cluster, g: Pick<Graph, 'clusters' | 'clustersOf'>): void {
  for (const m of b.members) {
    const list = g.clustersOf.get(m)!;
    const k = list.indexOf(b);
    if (a.members.has(m)) list.splice(k, 1);
    else list[k] = a;
    a.members.add(m);
  }
  g.clusters.delete(b);
}

/**
 * Merge an expensive producer's consumer groups into one kernel with it, when the merged set is a
 * valid kernel and no pair of those groups is connected through another group (cycle).
 */
function tryMergeAround(p: Value, targets: Cluster[], g: Graph, ctx: Omit<FusionContext, 'group'>): boolean {
  for (let i = 0; i < targets.length; i++) {
    for (let j = i + 1; j < targets.length; j++) if (mergeWouldCycle(targets[i]!, targets[j]!, g) !== null) return false;
  }
  const union = new Set<Value>();
  for (const c of targets) for (const m of c.members) union.add(m);
  const consumer = (g.users.get(p) ?? []).find((u) => union.has(u))!;
  const verdict = shouldFuse(p, consumer, { ...ctx, group: union });
  if (!verdict.fuse) return false;
  const [first, ...rest] = targets as [Cluster, ...Cluster[]];
  for (const c of rest) mergeClusters(first, c, g);
  first.members.add(p);
  g.clustersOf.set(p, [first]);
  for (const u of g.users.get(p) ?? []) {
    g.decisions.push({ producer: p, consumer: u, fuse: true, why: `${verdict.why} (its ${targets.length} consumer groups merge into one multi-output kernel)` });
  }
  return true;
}

function finalize(
  fn: Func, clusters: Cluster[],
  g: Pick<Graph, 'clustersOf' | 'users' | 'order' | 'decisions'> & { results: Set<Value> },
): FusionPlan {
  // Execution order: Kahn's algorithm over the group graph, earliest root first among ready groups.
  const info = new Map(clusters.map((c) => {
    const values = inOrder(c.members, g.order);
    return [c, { values, shape: describeGroup(values) }] as const;
  }));
  const rootOf = (c: Cluster): Value => {
    const { values, shape } = info.get(c)!;
    const nonFree = values.filter((v) => !isFree(v));
    return shape.anchors.at(-1) ?? nonFree.at(-1) ?? values.at(-1)!;
  };
  const succ = new Map(clusters.map((c) => [c, successors(c, g)] as const));
  const indegree = new Map<Cluster, number>(clusters.map((c) => [c, 0]));
  for (const s of succ.values()) for (const d of s) indegree.set(d, indegree.get(d)! + 1);
  const ready = clusters.filter((c) => indegree.get(c) === 0);
  const ordered: Cluster[] = [];
  while (ready.length > 0) {
    ready.sort((a, b) => g.order.get(rootOf(b))! - g.order.get(rootOf(a))!);
    const c = ready.pop()!;
    ordered.push(c);
    for (const d of succ.get(c)!) {
      indegree.set(d, indegree.get(d)! - 1);
      if (indegree.get(d) === 0) ready.push(d);
    }
  }
  if (ordered.length !== clusters.length) {
    throw new Error(`planFusion(@${fn.name}): internal error, the fusion groups form a cycle`);
  }

  const groupOf = new Map<Value, FusionGroup>();
  const groups = ordered.map((c, id): FusionGroup => {
    const { values, shape } = info.get(c)!;
    const inputs: Value[] = [];
    for (const v of values) for (const i of v.inputs) if (!c.members.has(i) && !inputs.includes(i)) inputs.push(i);
    const group: FusionGroup = {
      id, kind: shape.kind, root: rootOf(c), anchors: shape.anchors, values, inputs, outputs: [],
      prologue: shape.kind === 'loop' || shape.kind === 'reduction' || shape.kind === 'source' || shape.kind === 'control' ? [] : shape.ancestors,
      epilogue: shape.dependents,
    };
    for (const v of values) if (!groupOf.has(v)) groupOf.set(v, group);
    return group;
  });
  for (const group of groups) {
    group.outputs = group.values.filter((v) => {
      if (g.results.has(v) && groupOf.get(v) === group) return true;
      // Stored by its home group when a group holding one of its users lacks it, this one's members
      // included: a cheap user duplicated into several groups reads v from here in those that lack v.
      if (groupOf.get(v) !== group) return false;
      return (g.users.get(v) ?? []).some((u) => (g.clustersOf.get(u) ?? []).some((d) => !d.members.has(v)));
    });
  }
  return { func: fn, groups, groupOf, decisions: g.decisions, regions: new Map(), controls: [] };
}
