import { describe, expect, test } from 'vitest';
import { Builder, Func, KilnError, literal, tensorType, Value } from './index.js';
import { formatF32, printFunc, printLiteral, printValue } from './print.js';
import { parseFunc, parseType } from './parse.js';
import { funcDiff, funcsEqual } from './equal.js';
import { randomFunc } from './random.js';

/** Text format: golden printer output, exact round trips, parser errors and structural equality. */

const f32 = (...shape: number[]) => tensorType(shape, 'f32');

function smallFunc(): Func {
  const b = new Builder('step');
  const x = b.param(f32(2, 3), 'x');
  const w = b.param(f32(2, 3), 'w');
  const s = b.op('add', [x, w]);
  const m = b.op('compare', [s, x], { dir: 'gt' });
  const y = b.op('select', [m, s, x]);
  const i = b.op('cast', [y], { dtype: 'i32' });
  const f = b.build([i, y], ['y', 'w_new']);
  f.aliases.push({ result: 1, param: 1 });
  return f;
}

function roundTrip(f: Func): Func {
  const g = parseFunc(printFunc(f));
  const diff = funcDiff(f, g);
  if (diff) throw new Error(`round trip differs: ${diff}\n${printFunc(f)}`);
  return g;
}

describe('printer', () => {
  test('golden text of a small function', () => {
    expect(printFunc(smallFunc())).toBe(
      [
        'func @step(%x: f32[2,3], %w: f32[2,3]) -> (y: i32[2,3], w_new: f32[2,3]) {',
        '  %0 = add(%x, %w) : f32[2,3]',
        '  %1 = compare(%0, %x) {dir=gt} : bool[2,3]',
        '  %2 = select(%1, %0, %x) : f32[2,3]',
        '  %3 = cast(%2) {dtype=i32} : i32[2,3]',
        '  return %3, %2',
        '  aliases {1: %w}',
        '}',
        '',
      ].join('\n'),
    );
  });

  test('golden text: returning parameters, no results, odd and duplicate names', () => {
    const b = new Builder('id');
    const a = b.param(tensorType([], 'bool'), 'a/b:0');
    const c = b.param(tensorType([1, 5], 'u8'), 'c');
    const c2 = b.param(tensorType([1, 5], 'u8'), 'c');
    const n = b.op('not', [a]);
    expect(printFunc(b.build([n, c, c2, c], ['inf', 'r', 'r', 'x y']))).toBe(
      [
        'func @id(%"a/b:0": bool[], %c: u8[1,5], %c_1: u8[1,5]) -> ("inf": bool[], r: u8[1,5], r: u8[1,5], "x y": u8[1,5]) {',
        '  %0 = not(%"a/b:0") : bool[]',
        '  return %0, %c, %c_1, %c',
        '}',
        '',
      ].join('\n'),
    );
    expect(printFunc(new Builder('empty').build([]))).toBe('func @empty() -> () {\n  return\n}\n');
  });

  test('golden text with structured ops: declared attribute order, defaults omitted, literals', () => {
    const b = new Builder('name');
    const x = b.param(f32(2, 3), 'x');
    const w = b.param(f32(3, 4), 'w');
    const d = b.op('dot_general', [x, w], { rhs_contract: [0], lhs_contract: [1], rhs_batch: [], lhs_batch: [] });
    const c = b.constant(literal([4], 'f32', [0.5, 1, -2, 3]));
    const bc = b.op('broadcast_in_dim', [c], { shape: [2, 4], dims: [1] });
    const y = b.op('add', [d, bc]);
    const p = b.op('pad', [y], { low: [0, 1], high: [0, -1], interior: [0, 0], value: 0 });
    const q = b.op('pad', [y], { low: [0, 0], high: [1, 0], interior: [0, 0], value: -Infinity });
    expect(printFunc(b.build([p, q], ['y', 'z']))).toBe(
      [
        'func @name(%x: f32[2,3], %w: f32[3,4]) -> (y: f32[2,4], z: f32[3,4]) {',
        '  %0 = dot_general(%x, %w) {lhs_batch=[], rhs_batch=[], lhs_contract=[1], rhs_contract=[0]} : f32[2,4]',
        '  %1 = constant() {value=f32[4]{0.5, 1, -2, 3}} : f32[4]',
        '  %2 = broadcast_in_dim(%1) {shape=[2, 4], dims=[1]} : f32[2,4]',
        '  %3 = add(%0, %2) : f32[2,4]',
        '  %4 = pad(%3) {low=[0, 1], high=[0, -1], interior=[0, 0]} : f32[2,4]',
        '  %5 = pad(%3) {low=[0, 0], high=[1, 0], interior=[0, 0], value=-inf} : f32[3,4]',
        '  return %4, %5',
        '}',
        '',
      ].join('\n'),
    );
  });

  test('printValue names operands by the function when given one', () => {
    const f = smallFunc();
    expect(printValue(f.body[1]!, f)).toBe('%1 = compare(%0, %x) {dir=gt} : bool[2,3]');
    expect(printValue(f.params[1]!, f)).toBe('%w: f32[2,3] (parameter 1)');
    expect(printValue(f.body[0]!)).toBe(`%v${f.body[0]!.id} = add(%x, %w) : f32[2,3]`);
  });

  test('f32 values print as their shortest round-trip decimal', () => {
    expect(formatF32(Math.fround(0.1))).toBe('0.1');
    expect(formatF32(1)).toBe('1');
    expect(formatF32(-0)).toBe('-0');
    expect(formatF32(Math.fround(1 / 3))).toBe('0.33333334');
    expect(formatF32(Math.fround(3.4028234663852886e38))).toBe('3.4028235e+38');
    expect(formatF32(1.401298464324817e-45)).toBe('1e-45');
    // Independent check against 10,000 random bit patterns: the text reads back to the same f32.
    const bits = new Uint32Array(1), f = new Float32Array(bits.buffer);
    let seed = 12345;
    for (let k = 0; k < 10000; k++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      bits[0] = (seed ^ (seed << 7)) >>> 0;
      const x = f[0]!;
      const back = Math.fround(Number(formatF32(x).replace('inf', 'Infinity').replace('nan', 'NaN')));
      if (Number.isNaN(x)) expect(Number.isNaN(back)).toBe(true);
      else expect(Object.is(back, x)).toBe(true);
    }
  });

  test('literals print every value, exactly', () => {
    expect(printLiteral(literal([2, 2], 'f32', [1, 2.5, -Infinity, NaN]))).toBe('f32[2,2]{1, 2.5, -inf, nan}');
    expect(printLiteral(literal([3], 'i8', [-128, 0, 127]))).toBe('i8[3]{-128, 0, 127}');
    expect(printLiteral(literal([2], 'bool', [1, 0]))).toBe('bool[2]{1, 0}');
    expect(printLiteral(literal([], 'bf16', [0.1]))).toBe('bf16[]{0.1}');
    expect(printLiteral(literal([2], 'f16', [0.1, 65504]))).toBe('f16[2]{0.1, 65500}');
  });
});

describe('parser', () => {
  test('parses hand-written text with comments, named values and omitted types', () => {
    const f = parseFunc(`
      // a comment line
      func @main(%x: f32[4], %y: f32[4]) -> (out: f32[4]) {
        %s = add(%x, %y)          // type omitted: inferred
        %1 = mul(%s, %s) : f32[4]
        return %1
      }`);
    expect(f.name).toBe('main');
    expect(f.params.map((p) => p.name)).toEqual(['x', 'y']);
    expect(f.body.map((v) => v.op)).toEqual(['add', 'mul']);
    expect(f.body[1]!.inputs).toEqual([f.body[0], f.body[0]]);
    expect(f.resultNames).toEqual(['out']);
    expect(f.params[1]!.attrs).toEqual({ index: 1 });
  });

  test('round trip of hand-built functions, including aliases and odd names', () => {
    roundTrip(smallFunc());
    const b = new Builder('weird name');
    const a = b.param(tensorType([1], 'i8'), 'nan');
    const c = b.param(tensorType([1], 'i8'));
    const s = b.op('sub', [a, c]);
    roundTrip(b.build([s, s, a], ['', 'true', 'a"b']));
  });

  test('parseType', () => {
    expect(parseType('bf16[1,2,3]')).toEqual(tensorType([1, 2, 3], 'bf16'));
    expect(parseType('i32[]')).toEqual(tensorType([], 'i32'));
    expect(() => parseType('f64[2]')).toThrow(/1:1: unknown dtype 'f64'/);
    expect(() => parseType('f32[2] x')).toThrow(/1:8: unexpected 'x'/);
  });

  const errors: [string, string, RegExp][] = [
    ['undefined value', 'func @f(%x: f32[2]) -> (y: f32[2]) {\n  %0 = neg(%z)\n  return %0\n}', /2:12: undefined value %z/],
    ['type mismatch', 'func @f(%x: f32[2]) -> (y: f32[2]) {\n  %0 = neg(%x) : f32[3]\n  return %0\n}', /2:18: %0 is declared f32\[3\] but neg infers f32\[2\]/],
    ['unknown op', 'func @f(%x: f32[2]) -> (y: f32[2]) {\n  %0 = frobnicate(%x)\n  return %0\n}', /2:8: unknown op 'frobnicate'/],
    ['op check', 'func @f(%x: f32[2], %y: f32[3]) -> (y: f32[2]) {\n  %0 = add(%x, %y)\n  return %0\n}', /2:8: add\(f32\[2\], f32\[3\]\): operand shapes differ/],
    ['arity', 'func @f(%x: f32[2]) -> (y: f32[2]) {\n  %0 = add(%x)\n  return %0\n}', /2:8: add\(f32\[2\]\): expects 2 operand/],
    ['bad attribute value', 'func @f(%x: f32[2]) -> (y: bool[2]) {\n  %0 = compare(%x, %x) {dir=sideways}\n  return %0\n}', /2:8: .*attribute 'dir' must be one of/],
    ['attribute kind', 'func @f(%x: f32[2]) -> (y: bool[2]) {\n  %0 = compare(%x, %x) {dir=[1]}\n  return %0\n}', /2:25: attribute 'dir' must be string/],
    ['unknown attribute', 'func @f(%x: f32[2]) -> (y: f32[2]) {\n  %0 = neg(%x) {alpha=1}\n  return %0\n}', /2:8: .*unknown attribute 'alpha'/],
    ['duplicate definition', 'func @f(%x: f32[2]) -> (y: f32[2]) {\n  %x = neg(%x)\n  return %x\n}', /2:3: value %x is defined twice/],
    ['result count', 'func @f(%x: f32[2]) -> (y: f32[2], z: f32[2]) {\n  return %x\n}', /2:3: @f declares 2 results but returns 1/],
    ['result type', 'func @f(%x: f32[2]) -> (y: f32[3]) {\n  return %x\n}', /1:25: result 'y' is declared f32\[3\] but the returned value is f32\[2\]/],
    ['bad character', 'func @f(%x: f32[2]) -> (y: f32[2]) {\n  return %x;\n}', /2:12: unexpected character ';'/],
    ['missing brace', 'func @f(%x: f32[2]) -> (y: f32[2]) {\n  return %x\n', /3:1: expected '}' closing the function, got <end of input>/],
    ['trailing text', 'func @f(%x: f32[2]) -> (y: f32[2]) {\n  return %x\n}\nfunc', /4:1: unexpected 'func'/],
    ['alias target', 'func @f(%x: f32[2]) -> (y: f32[2]) {\n  %0 = neg(%x)\n  return %0\n  aliases {0: %0}\n}', /4:15: alias target %0 is not a parameter/],
    ['alias range', 'func @f(%x: f32[2]) -> (y: f32[2]) {\n  return %x\n  aliases {3: %x}\n}', /3:12: alias result index 3 out of range/],
    ['missing func', '@f() -> () {}', /1:1: expected 'func'/],
    ['negative dim', 'func @f(%x: f32[-2]) -> () {\n return\n}', /1:17: dimension -2 is negative/],
  ];
  test.each(errors)('error: %s', (_name, text, re) => {
    let err: unknown;
    try {
      parseFunc(text);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KilnError);
    expect((err as Error).message).toMatch(re);
  });
});

describe('round trip of random functions', () => {
  test('parse(print(f)) equals f for 300 random functions covering every op', () => {
    const seen = new Set<string>();
    for (let s = 0; s < 300; s++) {
      const f = randomFunc(s, { size: 10 + (s % 15) });
      const g = roundTrip(f);
      // Printing is a fixed point: the reparsed function prints to the same text.
      expect(printFunc(g)).toBe(printFunc(f));
      f.body.forEach((v) => seen.add(v.op));
    }
    for (const op of ['constant', 'dot_general', 'pad', 'select', 'cast']) expect(seen).toContain(op);
  });

  test('big literals use the hex form and round-trip exactly, specials included', () => {
    for (const dtype of ['f32', 'bf16', 'i8', 'bool'] as const) {
      const n = 1500;
      const vals = Array.from({ length: n }, (_, i) => (dtype === 'bool' ? i % 2 : i % 7 === 0 ? NaN : i % 11 === 0 ? -Infinity : (i - 700) / 3));
      const b = new Builder('big');
      const c = b.constant(literal([3, 500], dtype, vals.map((x) => (dtype === 'i8' && !Number.isFinite(x) ? 0 : x))));
      const text = printFunc(b.build([c]));
      expect(text).toMatch(new RegExp(`value=${dtype}\\[3,500\\]\\{0x[0-9a-f]+\\}`));
      roundTrip(b.build([c]));
    }
    expect(() => parseFunc('func @f() -> (y: f32[2]) {\n  %0 = constant() {value=f32[2]{0x0000}}\n  return %0\n}')).toThrow(
      /2:33: hex literal for f32\[2\] needs 16 hex digits, got 4/,
    );
  });

  test('literal values: exact f32, rounding of f16 text, integer range checks', () => {
    const f = parseFunc('func @f() -> (a: f32[3], b: f16[2], c: u8[2]) {\n %0 = constant() {value=f32[3]{0.1, -0, 1e-45}}\n %1 = constant() {value=f16[2]{0.1, 70000}}\n %2 = constant() {value=u8[2]{0, 255}}\n return %0, %1, %2\n}');
    const lit = (k: number) => f.body[k]!.attrs['value'] as { data: ArrayLike<number> };
    expect(Array.from(lit(0).data)).toEqual([Math.fround(0.1), -0, Math.fround(1e-45)]);
    expect(Object.is(lit(0).data[1], -0)).toBe(true);
    expect(Array.from(lit(1).data)).toEqual([0.0999755859375, Infinity]);
    expect(Array.from(lit(2).data)).toEqual([0, 255]);
    expect(() => parseFunc('func @f() -> (c: u8[1]) {\n %0 = constant() {value=u8[1]{256}}\n return %0\n}')).toThrow(/2:31: value 256 does not fit u8/);
    expect(() => parseFunc('func @f() -> (c: u8[2]) {\n %0 = constant() {value=u8[2]{1}}\n return %0\n}')).toThrow(/2:25: literal u8\[2\] needs 2 values, got 1/);
  });
});

describe('structural equality', () => {
  test('equal functions built separately; differences are located', () => {
    expect(funcsEqual(smallFunc(), smallFunc())).toBe(true);
    expect(funcsEqual(smallFunc(), smallFunc().clone())).toBe(true);

    const other = smallFunc();
    (other.body[1]!.attrs as Record<string, unknown>)['dir'] = 'lt';
    expect(funcDiff(smallFunc(), other)).toBe("%1 (compare): attribute 'dir' differs: gt vs lt");

    const swapped = smallFunc();
    swapped.body[0]!.inputs.reverse();
    expect(funcDiff(smallFunc(), swapped)).toBe('%0 (add): operand 0 differs: parameter 0 vs parameter 1');

    const renamed = smallFunc();
    renamed.params[0]!.name = 'z';
    expect(funcDiff(smallFunc(), renamed)).toBe('parameter 0 names differ: %x vs %z');
    expect(funcsEqual(smallFunc(), renamed, { names: false })).toBe(true);

    const noAlias = smallFunc();
    noAlias.aliases = [];
    expect(funcDiff(smallFunc(), noAlias)).toBe('alias counts differ: 1 vs 0');

    const res = smallFunc();
    res.results[1] = res.body[0]!;
    expect(funcDiff(smallFunc(), res)).toBe('result 1 differs: %2 vs %0');
  });

  test('value ids and body value names do not matter; literals compare by value', () => {
    const a = parseFunc('func @f(%x: f32[2]) -> (y: f32[2]) {\n %h = neg(%x)\n return %h\n}');
    const b = parseFunc('func @f(%x: f32[2]) -> (y: f32[2]) {\n %0 = neg(%x)\n return %0\n}');
    expect(funcsEqual(a, b)).toBe(true);
    // Attribute with a literal value, compared with literalsEqual (NaN equals NaN).
    const lit = (v: number) => new Value('neg', [], { value: literal([2], 'f32', [1, v]) }, f32(2));
    const fa = new Func('g', [], [lit(NaN)], []), fb = new Func('g', [], [lit(NaN)], []), fc = new Func('g', [], [lit(2)], []);
    expect(funcsEqual(fa, fb)).toBe(true);
    expect(funcDiff(fa, fc)).toBe("%0 (neg): attribute 'value' differs: f32[2]{1, nan} vs f32[2]{1, 2}");
  });
});
