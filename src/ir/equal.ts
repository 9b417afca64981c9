import type { AttrValue, Func, Value } from './function.js';
import { literalsEqual, type Literal } from './literal.js';
import { attrValuesEqual, paramNames, printAttrValue, printName } from './print.js';
import { getOp, hasOp } from './registry.js';
import { typeToString, typesEqual } from './types.js';

/**
 * Structural equality of functions: the same parameters (names and types), the same body ops in
 * order with equal attributes and types and the same operand structure (operands are compared
 * by position: parameter i or body value k), the same results, result names and aliases.
 * Value ids and body value names do not matter; literals compare with `literalsEqual`.
 * `funcDiff` says where two functions first differ, for test failure messages.
 */

export interface EqualOptions {
  /** Compare the function, parameter and result names (default true). */
  readonly names?: boolean;
}

export function funcsEqual(a: Func, b: Func, opts: EqualOptions = {}): boolean {
  return funcDiff(a, b, opts) === null;
}

/** Where `a` and `b` first differ, or null when they are structurally equal. */
export function funcDiff(a: Func, b: Func, opts: EqualOptions = {}): string | null {
  const names = opts.names ?? true;
  if (names && a.name !== b.name) return `function names differ: @${a.name} vs @${b.name}`;
  if (a.params.length !== b.params.length) return `parameter counts differ: ${a.params.length} vs ${b.params.length}`;
  const an = paramNames(a), bn = paramNames(b);
  for (let i = 0; i < a.params.length; i++) {
    const p = a.params[i]!, q = b.params[i]!;
    if (names && an[i] !== bn[i]) return `parameter ${i} names differ: %${printName(an[i]!)} vs %${printName(bn[i]!)}`;
    if (!typesEqual(p.type, q.type)) return `parameter ${i} (%${printName(an[i]!)}) types differ: ${typeToString(p.type)} vs ${typeToString(q.type)}`;
  }
  // Position of every value: p<i> for parameters, b<k> for body values.
  const position = (f: Func): Map<Value, string> => {
    const m = new Map<Value, string>();
    f.params.forEach((p, i) => m.set(p, `parameter ${i}`));
    f.body.forEach((v, k) => {
      if (!m.has(v)) m.set(v, `%${k}`);
    });
    return m;
  };
  const pa = position(a), pb = position(b);
  const where = (m: Map<Value, string>, v: Value) => m.get(v) ?? `a value outside the function (${v.op})`;
  if (a.body.length !== b.body.length) return `body lengths differ: ${a.body.length} vs ${b.body.length}`;
  for (let k = 0; k < a.body.length; k++) {
    const v = a.body[k]!, w = b.body[k]!;
    const at = `%${k}`;
    if (v.op !== w.op) return `${at}: ops differ: ${v.op} vs ${w.op}`;
    if (!typesEqual(v.type, w.type)) return `${at} (${v.op}): types differ: ${typeToString(v.type)} vs ${typeToString(w.type)}`;
    if (v.inputs.length !== w.inputs.length) return `${at} (${v.op}): operand counts differ: ${v.inputs.length} vs ${w.inputs.length}`;
    for (let j = 0; j < v.inputs.length; j++) {
      const x = where(pa, v.inputs[j]!), y = where(pb, w.inputs[j]!);
      if (x !== y) return `${at} (${v.op}): operand ${j} differs: ${x} vs ${y}`;
    }
    const diff = attrsDiff(v.op, v.attrs, w.attrs);
    if (diff) return `${at} (${v.op}): ${diff}`;
    if (v.regions.length !== w.regions.length) return `${at} (${v.op}): region counts differ: ${v.regions.length} vs ${w.regions.length}`;
    for (let j = 0; j < v.regions.length; j++) {
      const d = funcDiff(v.regions[j]!, w.regions[j]!, opts);
      if (d) return `${at} (${v.op}): region ${j}: ${d}`;
    }
  }
  if (a.results.length !== b.results.length) return `result counts differ: ${a.results.length} vs ${b.results.length}`;
  for (let i = 0; i < a.results.length; i++) {
    const x = where(pa, a.results[i]!), y = where(pb, b.results[i]!);
    if (x !== y) return `result ${i} differs: ${x} vs ${y}`;
    const na = a.resultNames[i] ?? `out${i}`, nb = b.resultNames[i] ?? `out${i}`;
    if (names && na !== nb) return `result ${i} names differ: ${na} vs ${nb}`;
  }
  if (a.aliases.length !== b.aliases.length) return `alias counts differ: ${a.aliases.length} vs ${b.aliases.length}`;
  for (let i = 0; i < a.aliases.length; i++) {
    const x = a.aliases[i]!, y = b.aliases[i]!;
    if (x.result !== y.result || x.param !== y.param) {
      return `alias ${i} differs: result ${x.result} <- parameter ${x.param} vs result ${y.result} <- parameter ${y.param}`;
    }
  }
  return null;
}

/** Attributes compare after filling defaults, so an omitted default equals the default spelled out. */
function attrsDiff(op: string, x: Readonly<Record<string, AttrValue>>, y: Readonly<Record<string, AttrValue>>): string | null {
  const specs = hasOp(op) ? getOp(op).attrs : {};
  const keys = [...new Set([...Object.keys(x), ...Object.keys(y)])].sort();
  for (const k of keys) {
    const u = x[k] ?? specs[k]?.default, v = y[k] ?? specs[k]?.default;
    if (u === undefined || v === undefined) return `attribute '${k}' is ${u === undefined ? 'missing in the first' : 'missing in the second'}`;
    const same = isLiteral(u) && isLiteral(v) ? literalsEqual(u, v) : attrValuesEqual(u, v);
    if (!same) return `attribute '${k}' differs: ${short(printAttrValue(u))} vs ${short(printAttrValue(v))}`;
  }
  return null;
}

function isLiteral(v: AttrValue): v is Literal {
  return typeof v === 'object' && !Array.isArray(v);
}

function short(s: string): string {
  return s.length > 120 ? `${s.slice(0, 117)}...` : s;
}
