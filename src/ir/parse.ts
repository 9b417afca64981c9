import { castScalar, hostArray, isDType, isFloat, type DType } from './dtype.js';
import { Func, Value, type Alias, type AttrValue } from './function.js';
import { makeValue } from './builder.js';
import type { Literal } from './literal.js';
import { ALL_OPS } from './ops/index.js';
import { getOp, hasOp, type AttrSpec } from './registry.js';
import { KilnError, numel, tensorType, tupleType, typeToString, typesEqual, type TensorType } from './types.js';

/**
 * Reads the text form written by `printFunc` (docs/ir.md) back into a Func. Values are built
 * with `makeValue`, so arity, attributes and types are checked exactly as for IR built in code;
 * a `: type` annotation, when present, must equal the inferred type. Errors are KilnErrors
 * starting with `line:column`. `//` starts a comment that runs to the end of the line.
 */

// Importing the op table guarantees every op is registered before text refers to it.
void ALL_OPS;

type TokKind = 'ident' | 'value' | 'global' | 'number' | 'string' | 'punct' | 'eof';
interface Token {
  readonly kind: TokKind;
  /** Identifier text, name (without % or @), decoded string, number text or punctuation. */
  readonly text: string;
  readonly line: number;
  readonly col: number;
}

const NUMBER = /-?(?:0x[0-9a-fA-F]*|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf\b|nan\b)/y;
const IDENT = /[A-Za-z_][A-Za-z0-9_.]*/y;
const STRING = /"(?:[^"\\\n]|\\.)*"/y;
const PUNCT = /->|[(){}[\],:=]/y;

function tokenize(text: string): Token[] {
  const toks: Token[] = [];
  let pos = 0, line = 1, lineStart = 0;
  const fail = (msg: string): never => {
    throw new KilnError(`${line}:${pos - lineStart + 1}: ${msg}`);
  };
  const match = (re: RegExp): string | undefined => {
    re.lastIndex = pos;
    const m = re.exec(text);
    return m ? m[0] : undefined;
  };
  const decodeString = (s: string): string => {
    try {
      return JSON.parse(s) as string;
    } catch {
      return fail(`bad string literal ${s}`);
    }
  };
  while (pos < text.length) {
    const c = text[pos]!;
    if (c === '\n') {
      pos++;
      line++;
      lineStart = pos;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\r') {
      pos++;
      continue;
    }
    if (text.startsWith('//', pos)) {
      while (pos < text.length && text[pos] !== '\n') pos++;
      continue;
    }
    const at = { line, col: pos - lineStart + 1 };
    if (c === '%' || c === '@') {
      pos++;
      const s = match(STRING);
      const name = s !== undefined ? decodeString(s) : match(/[A-Za-z0-9_.]+/y);
      if (name === undefined) fail(`expected a name after '${c}'`);
      pos += (s ?? name!).length;
      toks.push({ kind: c === '%' ? 'value' : 'global', text: name!, ...at });
      continue;
    }
    let m: string | undefined;
    if ((m = match(PUNCT)) !== undefined) toks.push({ kind: 'punct', text: m, ...at });
    else if ((m = match(NUMBER)) !== undefined) toks.push({ kind: 'number', text: m, ...at });
    else if ((m = match(IDENT)) !== undefined) toks.push({ kind: 'ident', text: m, ...at });
    else if ((m = match(STRING)) !== undefined) toks.push({ kind: 'string', text: decodeString(m), ...at });
    else if ((m = match(/<\d+ values>/y)) !== undefined) fail(`the constant ${m} was elided by printFunc's elideConstants and cannot be read back; print with printFunc(f) (exact) for text that parses`);
    else fail(`unexpected character '${c}'`);
    pos += m!.length;
  }
  toks.push({ kind: 'eof', text: '<end of input>', line, col: pos - lineStart + 1 });
  return toks;
}

/** A parsed attribute before it is matched against the op's AttrSpec. */
type RawAttr =
  | { kind: 'number'; value: number; text: string }
  | { kind: 'list'; value: number[] }
  | { kind: 'word'; value: string }
  | { kind: 'literal'; value: Literal };

class Parser {
  private i = 0;
  constructor(private readonly toks: Token[]) {}

  private peek(): Token {
    return this.toks[this.i]!;
  }
  private next(): Token {
    return this.toks[this.i++]!;
  }
  fail(tok: Token, msg: string): never {
    throw new KilnError(`${tok.line}:${tok.col}: ${msg}`);
  }
  private describe(t: Token): string {
    if (t.kind === 'eof') return t.text;
    if (t.kind === 'value') return `'%${t.text}'`;
    if (t.kind === 'global') return `'@${t.text}'`;
    return `'${t.text}'`;
  }
  private isPunct(p: string): boolean {
    const t = this.peek();
    return t.kind === 'punct' && t.text === p;
  }
  private eat(p: string): boolean {
    if (!this.isPunct(p)) return false;
    this.i++;
    return true;
  }
  private expect(p: string, what = `'${p}'`): Token {
    const t = this.next();
    if (t.kind !== 'punct' || t.text !== p) this.fail(t, `expected ${what}, got ${this.describe(t)}`);
    return t;
  }
  private expectKind(kind: TokKind, what: string): Token {
    const t = this.next();
    if (t.kind !== kind) this.fail(t, `expected ${what}, got ${this.describe(t)}`);
    return t;
  }
  private keyword(word: string): boolean {
    const t = this.peek();
    if (t.kind !== 'ident' || t.text !== word) return false;
    this.i++;
    return true;
  }
  /** Comma-separated items up to `close` (consumed). */
  private list<T>(close: string, item: () => T): T[] {
    const out: T[] = [];
    if (this.eat(close)) return out;
    do out.push(item()); while (this.eat(','));
    this.expect(close, `',' or '${close}'`);
    return out;
  }

  private int(): number {
    const t = this.expectKind('number', 'an integer');
    const n = Number(t.text);
    if (!Number.isInteger(n)) this.fail(t, `expected an integer, got '${t.text}'`);
    return n;
  }

  private dtype(): DType {
    const t = this.expectKind('ident', 'a dtype');
    if (!isDType(t.text)) this.fail(t, `unknown dtype '${t.text}' (expected f32, f16, bf16, i32, i8, u8 or bool)`);
    return t.text;
  }

  /** `f32[2,3]`, or a control-flow node's tuple `(f32[2], i32[])` */
  type(): TensorType {
    if (this.eat('(')) return tupleType(this.list(')', () => this.type()));
    const d = this.dtype();
    this.expect('[');
    const shape = this.list(']', () => {
      const t = this.peek();
      const n = this.int();
      if (n < 0) this.fail(t, `dimension ${n} is negative`);
      return n;
    });
    return tensorType(shape, d);
  }

  private number(t: Token): number {
    const s = t.text.replace(/^(-?)inf$/, '$1Infinity').replace(/^-?nan$/, 'NaN');
    const n = Number(s);
    if (Number.isNaN(n) && s !== 'NaN') this.fail(t, `bad number '${t.text}'`);
    return n;
  }

  /** `f32[2]{1, -inf}` or the hex dump `f32[2]{0x0000803f000080ff}` of the host array. */
  private literalAfterType(type: TensorType, at: Token): Literal {
    const n = numel(type.shape);
    const data = hostArray(type.dtype, n);
    this.expect('{');
    const first = this.peek();
    if (first.kind === 'number' && /^0x/i.test(first.text)) {
      this.next();
      const hex = first.text.slice(2);
      if (hex.length !== data.byteLength * 2) {
        this.fail(first, `hex literal for ${typeToString(type)} needs ${data.byteLength * 2} hex digits, got ${hex.length}`);
      }
      new Uint8Array(data.buffer).set(Buffer.from(hex, 'hex'));
      this.expect('}');
      return { type, data };
    }
    const values = this.list('}', () => {
      const t = this.expectKind('number', 'a number');
      return { t, x: this.number(t) };
    });
    if (values.length !== n) this.fail(at, `literal ${typeToString(type)} needs ${n} values, got ${values.length}`);
    values.forEach(({ t, x }, k) => {
      const v = castScalar(x, type.dtype);
      if (!isFloat(type.dtype) && v !== x) this.fail(t, `value ${t.text} does not fit ${type.dtype}`);
      data[k] = v;
    });
    return { type, data };
  }

  private rawAttr(): RawAttr {
    const t = this.peek();
    if (this.eat('[')) {
      // Integers for 'ints', any number (inf, nan spelled out) for 'floats': checked in attrValue.
      return { kind: 'list', value: this.list(']', () => this.number(this.expectKind('number', 'a number'))) };
    }
    if (t.kind === 'number') {
      this.next();
      return { kind: 'number', value: this.number(t), text: t.text };
    }
    if (t.kind === 'string') {
      this.next();
      return { kind: 'word', value: t.text };
    }
    if (t.kind === 'ident') {
      if (isDType(t.text) && this.toks[this.i + 1]?.kind === 'punct' && this.toks[this.i + 1]?.text === '[') {
        const type = this.type();
        return { kind: 'literal', value: this.literalAfterType(type, t) };
      }
      this.next();
      return { kind: 'word', value: t.text };
    }
    return this.fail(t, `expected an attribute value, got ${this.describe(t)}`);
  }

  /** Match a parsed attribute against its spec (unknown attributes pass through for makeValue to reject). */
  private attrValue(raw: RawAttr, spec: AttrSpec | undefined, key: string, at: Token): AttrValue {
    const bad = (): never => this.fail(at, `attribute '${key}' must be ${spec!.kind}`);
    const word = raw.kind === 'word' ? raw.value : undefined;
    switch (spec?.kind) {
      case undefined:
        return raw.value;
      case 'bool':
        if (word === 'true' || word === 'false') return word === 'true';
        return bad();
      case 'int':
        if (raw.kind !== 'number' || !Number.isInteger(raw.value)) return bad();
        return raw.value;
      case 'float':
        return raw.kind === 'number' ? raw.value : bad();
      case 'ints':
        return raw.kind === 'list' && raw.value.every((x) => Number.isInteger(x)) ? raw.value : bad();
      case 'floats':
        return raw.kind === 'list' ? raw.value : bad();
      case 'literal':
        return raw.kind === 'literal' ? raw.value : bad();
      case 'string':
      case 'dtype':
        return word ?? bad();
    }
  }

  func(): Func {
    const f = this.funcNoEnd();
    this.end();
    return f;
  }

  /** One `func @name(...) -> (...) { ... }`, top level or a region of a control-flow node. */
  private funcNoEnd(): Func {
    if (!this.keyword('func')) this.fail(this.peek(), `expected 'func', got ${this.describe(this.peek())}`);
    const name = this.expectKind('global', "a function name like '@main'").text;
    const scope = new Map<string, Value>();
    const define = (t: Token, v: Value) => {
      if (scope.has(t.text)) this.fail(t, `value %${t.text} is defined twice`);
      scope.set(t.text, v);
    };
    this.expect('(');
    const params = this.list(')', () => {
      const t = this.expectKind('value', "a parameter like '%x: f32[2]'");
      this.expect(':');
      const p = new Value('parameter', [], { index: scope.size }, this.type(), t.text);
      define(t, p);
      return p;
    });
    this.expect('->');
    this.expect('(');
    const declared = this.list(')', () => {
      const t = this.next();
      if (t.kind !== 'ident' && t.kind !== 'string') this.fail(t, `expected a result name, got ${this.describe(t)}`);
      this.expect(':');
      return { name: t.text, at: t, type: this.type() };
    });
    this.expect('{');
    const body: Value[] = [];
    const ref = (): Value => {
      const t = this.expectKind('value', 'a value like %0');
      const v = scope.get(t.text);
      if (!v) this.fail(t, `undefined value %${t.text}`);
      return v;
    };
    let returnTok = this.peek();
    while (!this.keyword('return')) {
      const t = this.next();
      if (t.kind !== 'value') this.fail(t, `expected a value definition like '%0 = op(...)' or 'return', got ${this.describe(t)}`);
      this.expect('=');
      body.push(this.node(t, ref));
      define(t, body[body.length - 1]!);
      returnTok = this.peek();
    }
    const results: Value[] = [];
    if (this.peek().kind === 'value') do results.push(ref()); while (this.eat(','));
    const aliases: Alias[] = [];
    if (this.keyword('aliases')) {
      this.expect('{');
      aliases.push(...this.list('}', () => {
        const t = this.peek();
        const result = this.int();
        this.expect(':');
        const pt = this.peek();
        const p = ref();
        const param = params.indexOf(p);
        if (param < 0) this.fail(pt, `alias target %${pt.text} is not a parameter`);
        if (result < 0 || result >= results.length) this.fail(t, `alias result index ${result} out of range (${results.length} results)`);
        return { result, param };
      }));
    }
    this.expect('}', "'}' closing the function");
    if (declared.length !== results.length) {
      this.fail(returnTok, `@${name} declares ${declared.length} results but returns ${results.length}`);
    }
    declared.forEach((d, k) => {
      if (!typesEqual(d.type, results[k]!.type)) {
        this.fail(d.at, `result '${d.name}' is declared ${typeToString(d.type)} but the returned value is ${typeToString(results[k]!.type)}`);
      }
    });
    return new Func(name, params, body, results, declared.map((d) => d.name), aliases);
  }

  private regionsAhead(): boolean {
    const t = this.toks[this.i + 1];
    return this.isPunct('{') && t?.kind === 'ident' && t.text === 'func';
  }

  end(): void {
    const t = this.peek();
    if (t.kind !== 'eof') this.fail(t, `unexpected ${this.describe(t)}`);
  }

  /** `op(%a, %b) {k=v, ...} : type` after `%name =`. */
  private node(def: Token, ref: () => Value): Value {
    const opTok = this.expectKind('ident', 'an op name');
    const spec = hasOp(opTok.text) ? getOp(opTok.text).attrs : undefined;
    this.expect('(');
    const inputs = this.list(')', ref);
    const attrs: Record<string, AttrValue> = {};
    if (this.isPunct('{') && !this.regionsAhead()) {
      this.next();
      this.list('}', () => {
        const k = this.expectKind('ident', 'an attribute name');
        if (k.text in attrs) this.fail(k, `attribute '${k.text}' given twice`);
        this.expect('=');
        attrs[k.text] = this.attrValue(this.rawAttr(), spec?.[k.text], k.text, k);
      });
    }
    // Regions: `{ func @then(...) -> (...) { ... } func @else(...) ... }`, after the attributes.
    const regions: Func[] = [];
    if (this.regionsAhead()) {
      this.next();
      while (!this.eat('}')) regions.push(this.funcNoEnd());
    }
    let v: Value;
    try {
      v = makeValue(opTok.text, inputs, attrs, regions);
    } catch (e) {
      if (e instanceof KilnError) this.fail(opTok, e.message);
      throw e;
    }
    if (this.eat(':')) {
      const at = this.peek();
      const t = this.type();
      if (!typesEqual(t, v.type)) this.fail(at, `%${def.text} is declared ${typeToString(t)} but ${opTok.text} infers ${typeToString(v.type)}`);
    }
    if (!/^\d+$/.test(def.text)) v.name = def.text;
    return v;
  }
}

/** Parse one function in the text form of docs/ir.md. */
export function parseFunc(text: string): Func {
  return new Parser(tokenize(text)).func();
}

/** Parse a tensor type such as `f32[2,3]`. */
export function parseType(text: string): TensorType {
  const p = new Parser(tokenize(text));
  const t = p.type();
  p.end();
  return t;
}
