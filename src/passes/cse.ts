/**
 * cse: common subexpression elimination. After the pass no two body nodes compute the same
 * thing: the same op with bit-identical attributes (constants' literals included) on the same
 * operands (in either order for commutative ops). All ops are pure, and rng ops are counter-based
 * functions of their key and attributes, so two identical rng nodes draw the same numbers and may
 * merge. Parameters are not body nodes and never merge. Control-flow nodes merge only when their
 * regions are structurally equal as well, and CSE runs inside every region (a region is closed,
 * so nothing merges across its boundary). The later duplicate is removed and its
 * uses point at the first one, which dominates it because the body is in topological order.
 */
import type { Attrs, AttrValue, Func, Value } from '../ir/function.js';
import type { Literal } from '../ir/literal.js';
import { funcDiff } from '../ir/equal.js';
import type { Pass } from './manager.js';
import { runInRegions } from './regions.js';

/** Ops whose two operands may be swapped without changing any result bit. */
const COMMUTATIVE = new Set(['add', 'mul', 'max', 'min', 'and', 'or']);

function isCommutative(v: Value): boolean {
  if (COMMUTATIVE.has(v.op)) return true;
  return v.op === 'compare' && (v.attrs['dir'] === 'eq' || v.attrs['dir'] === 'ne');
}

function isLiteral(a: AttrValue): a is Literal {
  return typeof a === 'object' && a !== null && !Array.isArray(a) && 'data' in a;
}

/** FNV-1a over the literal's bytes: a cheap bucket key; equality is confirmed element by element. */
/** Hashes by literal object: literals are never mutated, and each fixpoint round would rehash every weight. */
const literalHashes = new WeakMap<Literal, string>();

function literalHash(l: Literal): string {
  const known = literalHashes.get(l);
  if (known !== undefined) return known;
  const bytes = new Uint8Array(l.data.buffer, l.data.byteOffset, l.data.byteLength);
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
  const key = `${l.type.dtype}[${l.type.shape.join(',')}]#${(h >>> 0).toString(16)}`;
  literalHashes.set(l, key);
  return key;
}

function attrKey(a: AttrValue): string {
  if (isLiteral(a)) return literalHash(a);
  if (typeof a === 'number' && Object.is(a, -0)) return '-0';
  return JSON.stringify(a);
}

/** Bit-level equality: -0 differs from +0 (1/x tells them apart) and NaN equals NaN. */
function sameNumber(x: number, y: number): boolean {
  return Object.is(x, y);
}

function attrsIdentical(a: Attrs, b: Attrs): boolean {
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every((k) => k in b && attrIdentical(a[k]!, b[k]!));
}

function attrIdentical(a: AttrValue, b: AttrValue): boolean {
  if (isLiteral(a) || isLiteral(b)) {
    if (!isLiteral(a) || !isLiteral(b)) return false;
    if (a.type.dtype !== b.type.dtype || a.data.length !== b.data.length) return false;
    if (a.type.shape.length !== b.type.shape.length || a.type.shape.some((d, i) => d !== b.type.shape[i])) return false;
    for (let i = 0; i < a.data.length; i++) if (!sameNumber(a.data[i]!, b.data[i]!)) return false;
    return true;
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => sameNumber(x as number, b[i] as number));
  }
  return typeof a === 'number' && typeof b === 'number' ? sameNumber(a, b) : a === b;
}

function operandsMatch(v: Value, w: Value): boolean {
  if (v.inputs.length !== w.inputs.length) return false;
  if (v.inputs.every((x, i) => x === w.inputs[i])) return true;
  return isCommutative(v) && v.inputs[0] === w.inputs[1] && v.inputs[1] === w.inputs[0];
}

function identical(v: Value, w: Value): boolean {
  return v.op === w.op && v.dtype === w.dtype && operandsMatch(v, w) && attrsIdentical(v.attrs, w.attrs) && regionsIdentical(v, w);
}

/** Control-flow nodes are the same computation only when their regions are structurally equal too. */
function regionsIdentical(v: Value, w: Value): boolean {
  return v.regions.length === w.regions.length && v.regions.every((r, i) => funcDiff(r, w.regions[i]!, { names: false }) === null);
}

export const cse: Pass = {
  name: 'cse',
  run(fn: Func): boolean {
    const ids = new Map<Value, number>();
    fn.params.forEach((p, i) => ids.set(p, i));
    const subst = new Map<Value, Value>();
    const buckets = new Map<string, Value[]>();
    const body: Value[] = [];
    for (const v of fn.body) {
      for (let k = 0; k < v.inputs.length; k++) v.inputs[k] = subst.get(v.inputs[k]!) ?? v.inputs[k]!;
      let operandIds = v.inputs.map((x) => ids.get(x) ?? -1);
      if (isCommutative(v)) operandIds = [...operandIds].sort((a, b) => a - b);
      const attrs = Object.keys(v.attrs).sort().map((k) => `${k}=${attrKey(v.attrs[k]!)}`);
      const key = `${v.op}(${operandIds.join(',')}){${attrs.join(',')}}`;
      const bucket = buckets.get(key);
      const same = bucket?.find((w) => identical(v, w));
      if (same) {
        subst.set(v, same);
        continue;
      }
      if (bucket) bucket.push(v);
      else buckets.set(key, [v]);
      ids.set(v, ids.size);
      body.push(v);
    }
    // Regions are functions of their own: common subexpressions are merged inside each.
    const inRegions = runInRegions(fn, (r) => cse.run(r));
    if (subst.size === 0) return inRegions;
    fn.body = body;
    fn.results = fn.results.map((r) => subst.get(r) ?? r);
    return true;
  },
};
