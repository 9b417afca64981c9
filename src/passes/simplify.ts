/**
 * simplify: algebraic identities and chain rewrites. After the pass no node matches a rule of
 * RULES (identities such as x+0, x*1, neg(neg x), no-op movement ops, and chains of casts,
 * reshapes, transposes and broadcasts collapsed into one op), and no constant of more than one
 * element holds a single repeated value (it becomes a broadcast of a scalar constant, which later
 * passes and code generators treat as free). Every rewrite is exact for all inputs, NaN and
 * infinities included; that is why x*0 -> 0 and x-x -> 0 are absent (NaN*0 is NaN, inf-inf is NaN).
 * Replaced nodes are removed; operands they leave unused are left for DCE. The rules apply inside
 * control-flow regions too.
 */
import { isFloat, type DType } from '../ir/dtype.js';
import type { Attrs, Func, Value } from '../ir/function.js';
import { makeValue } from '../ir/builder.js';
import { literal } from '../ir/literal.js';
import { attr } from '../ir/registry.js';
import { numel, shapesEqual, typeToString, typesEqual } from '../ir/types.js';
import type { Pass } from './manager.js';
import { runInRegions } from './regions.js';

/** What a rule may do besides returning an existing value: create new nodes placed before the node. */
export interface Rewriter {
  emit(op: string, inputs: readonly Value[], attrs?: Attrs): Value;
}

/** One row of the table: for nodes with one of `ops`, return the replacement or null when it does not apply. */
export interface Rule {
  readonly name: string;
  readonly ops: readonly string[];
  rewrite(v: Value, r: Rewriter): Value | null;
}

/**
 * The value every element of `v` has, when `v` is a constant (possibly behind broadcasts and
 * reshapes) holding one repeated value; undefined otherwise. Elements must be identical to the
 * bit as far as numbers tell (Object.is: NaN matches NaN, -0 does not match +0), so a splat can
 * replace the constant exactly.
 */
export function splatValue(v: Value): number | undefined {
  while (v.op === 'broadcast_in_dim' || v.op === 'reshape') v = v.inputs[0]!;
  if (v.op !== 'constant') return undefined;
  const data = attr.literal(v.attrs, 'value').data;
  if (data.length === 0) return undefined;
  const first = data[0]!;
  for (let i = 1; i < data.length; i++) {
    if (!Object.is(data[i]!, first)) return undefined;
  }
  return first;
}

const isSplat = (v: Value, x: number): boolean => splatValue(v) === x;
const isIota = (xs: readonly number[]): boolean => xs.every((x, i) => x === i);
const allZero = (xs: readonly number[]): boolean => xs.every((x) => x === 0);

/**
 * Casts `from -> via` that keep every value of `from` exactly. Casts are functions of the numeric
 * value alone, so cast(cast(x, via), to) == cast(x, to) whenever `from -> via` is exact.
 */
function castIsExact(from: DType, via: DType): boolean {
  if (from === via || from === 'bool') return true;
  if (from === 'u8' || from === 'i8') return via === 'i32' || isFloat(via); // |x| <= 255 fits every float's significand
  if (from === 'f16' || from === 'bf16') return via === 'f32';
  return false;
}

/** A binary rule on the two operands: returns the operand that replaces the node, or null. */
function binaryRule(name: string, ops: readonly string[], pick: (a: Value, b: Value) => Value | null): Rule {
  return { name, ops, rewrite: (v) => pick(v.inputs[0]!, v.inputs[1]!) };
}

/** The rewrite table. Order within an op matters only for which of two valid rewrites wins. */
export const RULES: readonly Rule[] = [
  // x + 0 is exact except that (-0) + (+0) gives +0; like XLA we accept that sign-of-zero change.
  binaryRule('add-zero', ['add'], (a, b) => (isSplat(b, 0) ? a : isSplat(a, 0) ? b : null)),
  binaryRule('sub-zero', ['sub'], (a, b) => (isSplat(b, 0) ? a : null)),
  binaryRule('mul-one', ['mul'], (a, b) => (isSplat(b, 1) ? a : isSplat(a, 1) ? b : null)),
  binaryRule('div-one', ['div'], (a, b) => (isSplat(b, 1) ? a : null)),
  binaryRule('max-min-same', ['max', 'min'], (a, b) => (a === b ? a : null)),
  {
    name: 'involution', ops: ['neg', 'not'],
    rewrite: (v) => (v.inputs[0]!.op === v.op ? v.inputs[0]!.inputs[0]! : null),
  },
  {
    name: 'select-known', ops: ['select'],
    rewrite(v) {
      const [p, a, b] = v.inputs as [Value, Value, Value];
      if (a === b) return a;
      const known = splatValue(p);
      return known === undefined ? null : known !== 0 ? a : b;
    },
  },
  { name: 'cast-same', ops: ['cast'], rewrite: (v) => (v.inputs[0]!.dtype === v.dtype ? v.inputs[0]! : null) },
  {
    name: 'cast-chain', ops: ['cast'],
    rewrite(v, r) {
      const mid = v.inputs[0]!;
      if (mid.op !== 'cast' || !castIsExact(mid.inputs[0]!.dtype, mid.dtype)) return null;
      return r.emit('cast', [mid.inputs[0]!], { dtype: v.dtype });
    },
  },
  { name: 'reshape-same', ops: ['reshape'], rewrite: (v) => (shapesEqual(v.inputs[0]!.shape, v.shape) ? v.inputs[0]! : null) },
  {
    name: 'reshape-chain', ops: ['reshape'],
    rewrite: (v, r) => (v.inputs[0]!.op === 'reshape' ? r.emit('reshape', [v.inputs[0]!.inputs[0]!], { shape: v.shape }) : null),
  },
  { name: 'transpose-identity', ops: ['transpose'], rewrite: (v) => (isIota(attr.ints(v.attrs, 'perm')) ? v.inputs[0]! : null) },
  {
    name: 'transpose-chain', ops: ['transpose'],
    rewrite(v, r) {
      const mid = v.inputs[0]!;
      if (mid.op !== 'transpose') return null;
      // out dim i = mid dim outer[i] = x dim inner[outer[i]].
      const inner = attr.ints(mid.attrs, 'perm'), outer = attr.ints(v.attrs, 'perm');
      return r.emit('transpose', [mid.inputs[0]!], { perm: outer.map((p) => inner[p]!) });
    },
  },
  {
    name: 'broadcast-identity', ops: ['broadcast_in_dim'],
    rewrite: (v) => (shapesEqual(v.inputs[0]!.shape, v.shape) && isIota(attr.ints(v.attrs, 'dims')) ? v.inputs[0]! : null),
  },
  {
    name: 'broadcast-chain', ops: ['broadcast_in_dim'],
    rewrite(v, r) {
      const mid = v.inputs[0]!;
      if (mid.op !== 'broadcast_in_dim') return null;
      // x dim j -> mid dim inner[j] -> out dim outer[inner[j]]; sizes stay 1-or-equal along the way.
      const inner = attr.ints(mid.attrs, 'dims'), outer = attr.ints(v.attrs, 'dims');
      return r.emit('broadcast_in_dim', [mid.inputs[0]!], { shape: v.shape, dims: inner.map((d) => outer[d]!) });
    },
  },
  {
    // A scalar broadcast looks the same after any reshape or transpose: re-broadcast to the new shape.
    name: 'movement-of-scalar-broadcast', ops: ['reshape', 'transpose'],
    rewrite(v, r) {
      const b = v.inputs[0]!;
      if (b.op !== 'broadcast_in_dim' || b.inputs[0]!.shape.length !== 0) return null;
      return r.emit('broadcast_in_dim', [b.inputs[0]!], { shape: v.shape, dims: [] });
    },
  },
  {
    name: 'slice-full', ops: ['slice'],
    rewrite(v) {
      const x = v.inputs[0]!;
      const full = allZero(attr.ints(v.attrs, 'start')) && shapesEqual(attr.ints(v.attrs, 'limit'), x.shape)
        && attr.ints(v.attrs, 'strides').every((s) => s === 1);
      return full ? x : null;
    },
  },
  {
    name: 'pad-none', ops: ['pad'],
    rewrite: (v) => (['low', 'high', 'interior'].every((k) => allZero(attr.ints(v.attrs, k))) ? v.inputs[0]! : null),
  },
  { name: 'concat-single', ops: ['concat'], rewrite: (v) => (v.inputs.length === 1 ? v.inputs[0]! : null) },
  { name: 'reduce-no-axes', ops: ['reduce'], rewrite: (v) => (attr.ints(v.attrs, 'axes').length === 0 ? v.inputs[0]! : null) },
  {
    // A repeated value is stored once: later rules see a splat, and artifacts stay small.
    name: 'splat-constant', ops: ['constant'],
    rewrite(v, r) {
      if (numel(v.shape) <= 1) return null;
      const x = splatValue(v);
      if (x === undefined) return null;
      const scalar = r.emit('constant', [], { value: literal([], v.dtype, [x]) });
      return r.emit('broadcast_in_dim', [scalar], { shape: v.shape, dims: [] });
    },
  },
];

function rulesByOp(rules: readonly Rule[]): Map<string, Rule[]> {
  const byOp = new Map<string, Rule[]>();
  for (const rule of rules) {
    for (const op of rule.ops) {
      let list = byOp.get(op);
      if (!list) byOp.set(op, (list = []));
      list.push(rule);
    }
  }
  return byOp;
}

/** Rewrites applied to one node (and to what replaces it) before moving on; guards against a cycle of rules. */
const MAX_REWRITES_PER_NODE = 64;

/** Build a simplify pass over a rule table (the default table is RULES). */
export function makeSimplify(rules: readonly Rule[] = RULES): Pass {
  const byOp = rulesByOp(rules);
  const pass: Pass = {
    name: 'simplify',
    run(fn: Func): boolean {
      const subst = new Map<Value, Value>();
      const get = (x: Value): Value => subst.get(x) ?? x;
      const body: Value[] = [];
      let changed = false;
      for (const v of fn.body) {
        for (let k = 0; k < v.inputs.length; k++) v.inputs[k] = get(v.inputs[k]!);
        const pending: Value[] = [];
        const rewriter: Rewriter = {
          emit(op, inputs, attrs = {}) {
            const n = makeValue(op, inputs, attrs);
            pending.push(n);
            return n;
          },
        };
        let cur = v;
        for (let step = 0; ; step++) {
          const next = applyOnce(byOp, cur, rewriter);
          if (!next) break;
          if (step >= MAX_REWRITES_PER_NODE) throw new Error(`simplify: rules keep rewriting ${v.op} %${v.id}; rule '${next.rule}' loops`);
          if (!typesEqual(next.value.type, v.type)) {
            throw new Error(`simplify: rule '${next.rule}' replaced ${typeToString(v.type)} with ${typeToString(next.value.type)}`);
          }
          cur = next.value;
        }
        if (cur === v) {
          body.push(v);
          continue;
        }
        changed = true;
        subst.set(v, cur);
        body.push(...reachablePending(pending, cur));
      }
      fn.body = body;
      fn.results = fn.results.map(get);
      // Region bodies are simplified the same way (each is a closed function).
      return runInRegions(fn, (r) => pass.run(r)) || changed;
    },
  };
  return pass;
}

function applyOnce(byOp: Map<string, Rule[]>, v: Value, r: Rewriter): { rule: string; value: Value } | null {
  for (const rule of byOp.get(v.op) ?? []) {
    const out = rule.rewrite(v, r);
    if (out && out !== v) return { rule: rule.name, value: out };
  }
  return null;
}

/** The emitted nodes the final replacement depends on, in emission (hence topological) order. */
function reachablePending(pending: readonly Value[], root: Value): Value[] {
  const inPending = new Set(pending);
  const keep = new Set<Value>();
  const stack = [root];
  while (stack.length) {
    const x = stack.pop()!;
    if (!inPending.has(x) || keep.has(x)) continue;
    keep.add(x);
    stack.push(...x.inputs);
  }
  return pending.filter((x) => keep.has(x));
}

export const simplify: Pass = makeSimplify();
