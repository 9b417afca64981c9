import { castScalar, isFloat, type DType } from './dtype.js';
import type { AttrValue, Attrs, Func, Value } from './function.js';
import type { Literal } from './literal.js';
import { hasOp, getOp } from './registry.js';
import { KilnError, typeToString } from './types.js';

/**
 * The IR's text form (docs/ir.md), written by `printFunc` and read back by `parse.ts`:
 *
 *   func @name(%x: f32[2,3]) -> (y: f32[2,3]) {
 *     %0 = exp(%x) : f32[2,3]
 *     return %0
 *     aliases {0: %x}
 *   }
 *
 * Body values are renumbered %0, %1, ... in body order; parameters print by name. Attributes
 * print in their OpDef's declaration order and are omitted when equal to the spec's default.
 * Every literal prints exactly (f32 with its shortest round-trip decimal), so parsing the text
 * gives a structurally equal function. Output for people (the demo, error messages) can elide big
 * constants instead (`{elideConstants: n}`: `f32[3,3,1,32]{<288 values>}`); that text does not
 * parse back.
 */

export interface PrintOptions {
  /**
   * Literals with more elements than this print as their count, `f32[3,3,1,32]{<288 values>}`,
   * which parseFunc cannot read back. Default Infinity: every literal exact (round trips, dumps).
   */
  elideConstants?: number;
}

/** What output meant for people uses: constants over 16 values elided. */
export const ELIDED: Readonly<PrintOptions> = { elideConstants: 16 };

function checkPrintOptions(who: string, opts: unknown): PrintOptions {
  if (opts === undefined) return {};
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) throw new KilnError(`${who}: options must be an object like {elideConstants: 16}, got ${opts === null ? 'null' : typeof opts}`);
  for (const k of Object.keys(opts)) {
    if (k !== 'elideConstants') throw new KilnError(`${who}: unknown option '${k}' (valid: elideConstants)`);
  }
  const n = (opts as PrintOptions).elideConstants;
  if (n !== undefined && (typeof n !== 'number' || !(n >= 0) || (!Number.isInteger(n) && n !== Infinity))) {
    throw new KilnError(`${who}: elideConstants must be a non-negative integer or Infinity, got ${String(n)}`);
  }
  return opts as PrintOptions;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_.]*$/;

/** A name as it appears after `%`, `@` or in the result list: bare when it is an identifier, else quoted. */
export function printName(name: string): string {
  // inf and nan read back as numbers, so as names they need quotes.
  return IDENT.test(name) && name !== 'inf' && name !== 'nan' ? name : JSON.stringify(name);
}

/**
 * The names parameters print under: `Value.name` (or `arg<i>` when unset), made unique by a
 * `_<k>` suffix. Structural equality compares these, so printing and parsing keeps them.
 */
export function paramNames(fn: Func): string[] {
  const used = new Set<string>();
  return fn.params.map((p, i) => {
    const base = p.name !== undefined && p.name !== '' ? p.name : `arg${i}`;
    let name = base;
    for (let k = 1; used.has(name); k++) name = `${base}_${k}`;
    used.add(name);
    return name;
  });
}

/**
 * Shortest decimal that reads back to the same value of `dtype` (f32, or f16/bf16 whose values
 * are rounded on reading, so bf16 0.10009765625 prints as 0.1). inf, -inf, nan and -0 are spelled out.
 */
export function formatF32(x: number, dtype: DType = 'f32'): string {
  const special = formatSpecial(x);
  if (special !== undefined) return special;
  for (let p = 1; p <= 9; p++) {
    const s = String(Number(x.toPrecision(p)));
    if (castScalar(Number(s), dtype) === x) return s;
  }
  return String(x);
}

/** A float attribute (an f64): JavaScript's shortest round-trip decimal, specials spelled out. */
export function formatF64(x: number): string {
  return formatSpecial(x) ?? String(x);
}

function formatSpecial(x: number): string | undefined {
  if (Number.isNaN(x)) return 'nan';
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  if (Object.is(x, -0)) return '-0';
  return undefined;
}

/** Literals with more elements than this print as the hex dump of their host array. */
export const HEX_LITERAL_THRESHOLD = 1024;

/**
 * `f32[2,2]{1, 2.5, -inf, nan}`; big literals print as `f32[64,64]{0x<little-endian host bytes>}`,
 * or, past `opts.elideConstants` elements, as `f32[64,64]{<4096 values>}`.
 */
export function printLiteral(lit: Literal, opts: PrintOptions = {}): string {
  const t = typeToString(lit.type);
  if (lit.data.length > (opts.elideConstants ?? Infinity)) return `${t}{<${lit.data.length} values>}`;
  if (lit.data.length > HEX_LITERAL_THRESHOLD) {
    const bytes = new Uint8Array(lit.data.buffer, lit.data.byteOffset, lit.data.byteLength);
    return `${t}{0x${Buffer.from(bytes).toString('hex')}}`;
  }
  const d = lit.type.dtype;
  const parts: string[] = [];
  for (let i = 0; i < lit.data.length; i++) parts.push(isFloat(d) ? formatF32(lit.data[i]!, d) : String(lit.data[i]!));
  return `${t}{${parts.join(', ')}}`;
}

export function printAttrValue(v: AttrValue, opts: PrintOptions = {}): string {
  if (typeof v === 'number') return formatF64(v);
  if (typeof v === 'boolean') return String(v);
  if (typeof v === 'string') return printName(v);
  if (Array.isArray(v)) return `[${(v as readonly number[]).map(formatF64).join(', ')}]`;
  return printLiteral(v as Literal, opts);
}

export function attrValuesEqual(a: AttrValue, b: AttrValue): boolean {
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b)) return false;
    const x = a as readonly number[], y = b as readonly number[];
    return x.length === y.length && x.every((e, i) => e === y[i]);
  }
  if (typeof a === 'object' && typeof b === 'object') return literalsSame(a as Literal, b as Literal);
  // Object.is keeps -0 apart from 0 (a -0 differing from a 0 default must print) and NaN equal to NaN.
  return Object.is(a, b);
}

function literalsSame(a: Literal, b: Literal): boolean {
  // One literal compared with itself (verify checks a constant's attributes against their checked
  // copy): skip the element walk, which over a large model's weights costs ~1 s.
  if (a === b) return true;
  if (a.type.dtype !== b.type.dtype || typeToString(a.type) !== typeToString(b.type)) return false;
  for (let i = 0; i < a.data.length; i++) {
    const x = a.data[i]!, y = b.data[i]!;
    if (!Object.is(x, y) && !(Number.isNaN(x) && Number.isNaN(y))) return false;
  }
  return true;
}

/**
 * Attributes of `v` in print order: the op's declared order (then any undeclared keys, sorted),
 * leaving out those equal to their default.
 */
export function printedAttrs(op: string, attrs: Attrs): [string, AttrValue][] {
  const specs = hasOp(op) ? getOp(op).attrs : {};
  const keys = [...Object.keys(specs).filter((k) => k in attrs), ...Object.keys(attrs).filter((k) => !(k in specs)).sort()];
  const out: [string, AttrValue][] = [];
  for (const k of keys) {
    const v = attrs[k]!;
    const def = specs[k]?.default;
    if (def !== undefined && attrValuesEqual(def, v)) continue;
    out.push([k, v]);
  }
  return out;
}

function printNode(v: Value, nameOf: (v: Value) => string, opts: PrintOptions = {}, indent: string | null = '  '): string {
  const attrs = printedAttrs(v.op, v.attrs);
  const attrText = attrs.length ? ` {${attrs.map(([k, a]) => `${k}=${printAttrValue(a, opts)}`).join(', ')}}` : '';
  // Regions print nested, one function after another, between the attributes and the type.
  const regionText = !v.regions.length ? ''
    : indent === null ? ` {${v.regions.map((r) => `@${printName(r.name)}`).join(', ')}}`
      : ` {\n${v.regions.map((r) => printFuncLines(r, opts, `${indent}  `).join('\n')).join('\n')}\n${indent}}`;
  return `${nameOf(v)} = ${v.op}(${v.inputs.map(nameOf).join(', ')})${attrText}${regionText} : ${typeToString(v.type)}`;
}

/** Names of every value of `fn` as printed: `%param` and `%<body index>`. Foreign values print by id. */
export function valueNamer(fn: Func): (v: Value) => string {
  const names = new Map<Value, string>();
  const pnames = paramNames(fn);
  fn.params.forEach((p, i) => {
    if (!names.has(p)) names.set(p, `%${printName(pnames[i]!)}`);
  });
  fn.body.forEach((v, i) => {
    if (!names.has(v)) names.set(v, `%${i}`);
  });
  return (v) => names.get(v) ?? `%<undefined ${v.op}#${v.id}>`;
}

/**
 * The text form of `fn`. By default exact (parseFunc reads it back to an equal Func); with
 * `{elideConstants: n}` constants over n values print as their count, for reading.
 */
export function printFunc(fn: Func, options?: PrintOptions): string {
  const opts = checkPrintOptions('printFunc', options);
  return printFuncLines(fn, opts, '').join('\n') + '\n';
}

/** The lines of `fn`, each prefixed by `outer` (regions print indented inside their node). */
function printFuncLines(fn: Func, opts: PrintOptions, outer: string): string[] {
  const nameOf = valueNamer(fn);
  const pnames = paramNames(fn);
  const params = fn.params.map((p, i) => `%${printName(pnames[i]!)}: ${typeToString(p.type)}`).join(', ');
  const results = fn.results.map((r, i) => `${printName(fn.resultNames[i] ?? `out${i}`)}: ${typeToString(r.type)}`).join(', ');
  const lines = [`${outer}func @${printName(fn.name)}(${params}) -> (${results}) {`];
  const inner = `${outer}  `;
  for (const v of fn.body) lines.push(`${inner}${printNode(v, nameOf, opts, inner)}`);
  lines.push(fn.results.length ? `${inner}return ${fn.results.map(nameOf).join(', ')}` : `${inner}return`);
  if (fn.aliases.length) {
    const param = (i: number) => (fn.params[i] ? nameOf(fn.params[i]!) : `%<param ${i}>`);
    lines.push(`${inner}aliases {${fn.aliases.map((a) => `${a.result}: ${param(a.param)}`).join(', ')}}`);
  }
  lines.push(`${outer}}`);
  return lines;
}

/**
 * One value as a line of text for error messages. With `fn`, operands use the function's
 * printed names; without, values are named by their unique id (`%v12`). Constants over 16
 * values are elided (a message is for reading).
 */
export function printValue(v: Value, fn?: Func): string {
  const nameOf = fn ? valueNamer(fn) : (x: Value) => (x.op === 'parameter' && x.name ? `%${printName(x.name)}` : `%v${x.id}`);
  if (v.op === 'parameter') return `${nameOf(v)}: ${typeToString(v.type)} (parameter ${String(v.attrs['index'])})`;
  return printNode(v, nameOf, ELIDED, null);
}
