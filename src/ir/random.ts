import { castScalar, isFloat, isInt, type DType } from './dtype.js';
import { Builder } from './builder.js';
import type { Attrs, Func, Value } from './function.js';
import { literal, type Literal } from './literal.js';
import { ALL_OPS } from './ops/index.js';
import { allOps, getOp, hasOp } from './registry.js';
import { numel, shapesEqual, tensorType, typesEqual, type Shape, type TensorType } from './types.js';

/**
 * Seeded random functions for property tests: passes must preserve what `interpret` computes on
 * `randomFunc(seed)`, code generators must match the interpreter on it, and the text format must
 * round-trip it. Every registered op has an entry in GENERATORS (a test checks `missingGenerators`),
 * which builds one valid use of the op from values already in the function, creating parameters
 * or constants when none fits. Shapes are small, with size-1 dims and dims that are not multiples
 * of 4. Generators guard domains (log of a positive value, integer division by an odd divisor,
 * indices in range), so every generated function runs in the interpreter on `randomInputs`.
 */

/** mulberry32: small, fast, and the same sequence on every platform. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = (seed | 0) ^ 0x9e3779b9;
  }
  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [lo, hi] inclusive. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  choice<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }
  shuffle<T>(items: readonly T[]): T[] {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }
  /** A random subset of [0, n), in increasing order. */
  subset(n: number, p = 0.5): number[] {
    const out: number[] = [];
    for (let i = 0; i < n; i++) if (this.chance(p)) out.push(i);
    return out;
  }
}

/** Sizes for random dims: size 1 and sizes that are not multiples of 4 on purpose. */
const DIMS = [1, 2, 3, 4, 5, 7];
const MAX_ELEMENTS = 96;

const isNumeric = (v: Value) => v.dtype !== 'bool';
const isFloatV = (v: Value) => isFloat(v.dtype);
const isLogical = (v: Value) => v.dtype === 'bool' || isInt(v.dtype);

/** Generation state: the builder, the pool of values new ops may use, and helpers. */
export class Gen {
  readonly b: Builder;
  /** Values later ops may take as operands (index parameters stay out: their range is fixed by their use). */
  readonly pool: Value[] = [];
  constructor(readonly rng: Rng, private readonly allowedOps: ReadonlySet<string>, name: string) {
    this.b = new Builder(name);
  }

  allowed(op: string): boolean {
    return this.allowedOps.has(op) && hasOp(op);
  }

  floatDtype(): DType {
    return this.rng.chance(0.85) ? 'f32' : this.rng.choice(['f16', 'bf16'] as const);
  }
  anyDtype(): DType {
    const r = this.rng.next();
    if (r < 0.6) return 'f32';
    if (r < 0.72) return 'i32';
    if (r < 0.8) return 'bool';
    return this.rng.choice(['f16', 'bf16', 'i8', 'u8'] as const);
  }

  /** A random shape of rank in [minRank, maxRank] with at most MAX_ELEMENTS elements. */
  shape(minRank = 0, maxRank = 3): number[] {
    const rank = this.rng.int(minRank, maxRank);
    const shape: number[] = [];
    for (let i = 0; i < rank; i++) {
      const d = this.rng.choice(DIMS);
      shape.push(numel(shape) * d <= MAX_ELEMENTS ? d : 1);
    }
    return shape;
  }

  param(type: TensorType, pooled = true, prefix = 'p'): Value {
    const v = this.b.param(type, `${prefix}${this.b.params.length}`);
    if (pooled) this.pool.push(v);
    return v;
  }

  op(name: string, inputs: readonly Value[], attrs: Attrs = {}): Value {
    const v = this.b.op(name, inputs, attrs);
    this.pool.push(v);
    return v;
  }

  /** A pool value satisfying `pred`, biased toward recent values so ops chain. */
  pick(pred: (v: Value) => boolean = () => true): Value | undefined {
    const c = this.pool.filter(pred);
    if (!c.length) return undefined;
    const r = this.rng.next();
    return c[Math.min(c.length - 1, Math.floor(c.length * (1 - r * r)))];
  }

  /** A pool value satisfying `pred`, else a new parameter of a type from `fallback`. */
  operand(pred: (v: Value) => boolean, fallback: () => TensorType): Value {
    return (this.rng.chance(0.9) ? this.pick(pred) : undefined) ?? this.param(fallback());
  }

  /** A second operand of exactly `a`'s type: a pool value, `a` itself, or a new parameter. */
  partner(a: Value): Value {
    const other = this.pick((v) => v !== a && typesEqual(v.type, a.type));
    if (other && this.rng.chance(0.8)) return other;
    return this.rng.chance(0.3) ? a : this.param(a.type);
  }

  /** A literal of `type` with values that are safe everywhere (small, finite). */
  randomLiteral(type: TensorType): Literal {
    const n = numel(type.shape);
    const vals = new Array<number>(n);
    for (let i = 0; i < n; i++) vals[i] = sampleValue(this.rng, type.dtype);
    return literal(type.shape, type.dtype, vals);
  }

  /** `x` broadcast to `type`, as a constant (through broadcast_in_dim when allowed). */
  splat(x: number, type: TensorType): Value | undefined {
    if (!this.allowed('constant')) return undefined;
    if (type.shape.length > 0 && this.allowed('broadcast_in_dim') && this.rng.chance(0.7)) {
      const s = this.b.op('constant', [], { value: literal([], type.dtype, [x]) });
      return this.b.op('broadcast_in_dim', [s], { shape: type.shape, dims: [] });
    }
    return this.b.op('constant', [], { value: literal(type.shape, type.dtype, x) });
  }

  /**
   * A positive float derived from `x`: `x` itself when it is a parameter (randomInputs makes
   * parameters feeding log/sqrt/... positive), else exp(-|tanh x|) in [0.36, 1] (bounded both
   * ways, so no underflow to 0 and no inf, even for infinite x), else a fresh parameter.
   */
  positive(x: Value): Value {
    if (x.op === 'parameter') return x;
    if (['exp', 'neg', 'abs', 'tanh'].every((op) => this.allowed(op))) {
      return this.b.op('exp', [this.b.op('neg', [this.b.op('abs', [this.b.op('tanh', [x])])])]);
    }
    return this.param(x.type);
  }

  /** A value in (-1, 1) derived from `x` (tanh), or `x` when it is a parameter or tanh is not allowed. */
  bounded(x: Value): Value {
    return x.op === 'parameter' || !this.allowed('tanh') ? x : this.b.op('tanh', [x]);
  }

  /** Integer index parameter or constant in [0, bound), kept out of the pool. */
  indices(shape: Shape, bound: number): Value {
    if (this.allowed('constant') && this.rng.chance(0.4)) {
      const vals = Array.from({ length: numel(shape) }, () => this.rng.int(0, bound - 1));
      return this.b.op('constant', [], { value: literal(shape, 'i32', vals) });
    }
    return this.param(tensorType(shape, 'i32'), false, 'idx');
  }
}

export type OpGenerator = (g: Gen) => Value | undefined;

const UNARY_DOMAIN: Record<string, (v: Value) => boolean> = {
  neg: isNumeric, abs: isNumeric, sign: isNumeric, not: isLogical,
};
/** Float ops that need a positive operand (log1p only needs > -1; positive is simplest). */
const NEEDS_POSITIVE = new Set(['log', 'log1p', 'sqrt', 'rsqrt']);

function unaryGen(op: string): OpGenerator {
  const pred = UNARY_DOMAIN[op] ?? isFloatV;
  return (g) => {
    let x = g.operand(pred, () => tensorType(g.shape(), op === 'not' ? g.rng.choice(['bool', 'i32'] as const) : g.floatDtype()));
    if (NEEDS_POSITIVE.has(op)) x = g.positive(x);
    return g.op(op, [x]);
  };
}

function binaryGen(op: string, pred: (v: Value) => boolean, dtype: (g: Gen) => DType): OpGenerator {
  return (g) => {
    let a = g.operand(pred, () => tensorType(g.shape(), dtype(g)));
    let b = g.partner(a);
    if (op === 'pow') {
      a = g.positive(a);
      b = g.bounded(b);
    }
    if (op === 'mul' && a.dtype === 'i32') {
      // Keep i32 products far below 2^31 so every target computes them exactly.
      a = mask(g, a);
      b = mask(g, b);
    }
    if (op === 'div') b = divisor(g, b);
    return g.op(op, [a, b]);
  };
}

function mask(g: Gen, x: Value): Value {
  if (!g.allowed('and')) return x.op === 'parameter' ? x : g.param(x.type);
  const m = g.splat(255, x.type);
  return m ? g.b.op('and', [x, m]) : x.op === 'parameter' ? x : g.param(x.type);
}

/** A divisor away from zero: integers | 1 (odd, never 0); floats |x| + 0.5; parameters as they are. */
function divisor(g: Gen, d: Value): Value {
  if (d.op === 'parameter') return d;
  const int = isInt(d.dtype);
  const c = g.allowed(int ? 'or' : 'add') && (int || g.allowed('abs')) ? g.splat(int ? 1 : 0.5, d.type) : undefined;
  if (!c) return g.param(d.type);
  return int ? g.b.op('or', [d, c]) : g.b.op('add', [g.b.op('abs', [d]), c]);
}

const anyValue = (g: Gen): Value => g.operand(() => true, () => tensorType(g.shape(), g.anyDtype()));

const GENERATORS: Record<string, OpGenerator> = {
  ...Object.fromEntries(
    ['neg', 'abs', 'sign', 'exp', 'log', 'log1p', 'sqrt', 'rsqrt', 'tanh', 'logistic', 'sin', 'cos', 'floor', 'ceil', 'round', 'erf', 'not']
      .map((op) => [op, unaryGen(op)]),
  ),
  ...Object.fromEntries(
    ['add', 'sub', 'mul', 'div', 'max', 'min'].map((op) => [op, binaryGen(op, isNumeric, (g) => (g.rng.chance(0.8) ? g.floatDtype() : g.rng.choice(['i32', 'i8', 'u8'] as const)))]),
  ),
  pow: binaryGen('pow', isFloatV, (g) => g.floatDtype()),
  and: binaryGen('and', isLogical, (g) => g.rng.choice(['bool', 'i32', 'u8'] as const)),
  or: binaryGen('or', isLogical, (g) => g.rng.choice(['bool', 'i32', 'i8'] as const)),
  compare(g) {
    const a = anyValue(g);
    return g.op('compare', [a, g.partner(a)], { dir: g.rng.choice(['eq', 'ne', 'lt', 'le', 'gt', 'ge']) });
  },
  select(g) {
    const a = anyValue(g);
    const b = g.partner(a);
    let p = g.pick((v) => v.dtype === 'bool' && shapesEqual(v.shape, a.shape));
    if (!p || g.rng.chance(0.3)) {
      p = g.allowed('compare') && isNumeric(a) && g.rng.chance(0.7)
        ? g.b.op('compare', [a, b], { dir: g.rng.choice(['lt', 'ge']) })
        : g.param(tensorType(a.shape, 'bool'));
    }
    return g.op('select', [p, a, b]);
  },
  cast: (g) => g.op('cast', [anyValue(g)], { dtype: g.anyDtype() }),

  constant: (g) => g.op('constant', [], { value: g.randomLiteral(tensorType(g.shape(), g.anyDtype())) }),
  iota(g) {
    const shape = g.shape(1, 3);
    return g.op('iota', [], { shape, dim: g.rng.int(0, shape.length - 1), dtype: g.rng.choice(['f32', 'i32', 'f16', 'u8'] as const) });
  },
  broadcast_in_dim(g) {
    const x = g.operand((v) => v.shape.length <= 3, () => tensorType(g.shape(0, 2), g.anyDtype()));
    const rank = x.shape.length + g.rng.int(0, 2);
    // Operand dims map to distinct output dims, usually in order, sometimes permuted.
    let dims = g.rng.shuffle([...Array(rank).keys()]).slice(0, x.shape.length);
    if (g.rng.chance(0.7)) dims = dims.sort((p, q) => p - q);
    const shape = Array.from({ length: rank }, () => g.rng.choice(DIMS));
    dims.forEach((d, i) => { shape[d] = x.shape[i] === 1 && g.rng.chance(0.5) ? shape[d]! : x.shape[i]!; });
    for (let d = 0; d < rank && numel(shape) > MAX_ELEMENTS * 2; d++) if (!dims.includes(d)) shape[d] = 1;
    return g.op('broadcast_in_dim', [x], { shape, dims });
  },
  reshape(g) {
    const x = anyValue(g);
    return g.op('reshape', [x], { shape: factorShape(g.rng, numel(x.shape)) });
  },
  transpose(g) {
    const x = g.operand((v) => v.shape.length >= 2, () => tensorType(g.shape(2, 4), g.anyDtype()));
    return g.op('transpose', [x], { perm: g.rng.shuffle([...x.shape.keys()]) });
  },
  slice(g) {
    const x = g.operand((v) => v.shape.length >= 1, () => tensorType(g.shape(1, 3), g.anyDtype()));
    const start: number[] = [], limit: number[] = [], strides: number[] = [];
    for (const n of x.shape) {
      const s = g.rng.int(0, n - 1);
      start.push(s);
      limit.push(g.rng.int(s + 1, n));
      strides.push(g.rng.chance(0.6) ? 1 : g.rng.int(2, 3));
    }
    return g.op('slice', [x], { start, limit, strides });
  },
  pad(g) {
    const x = g.operand((v) => v.shape.length >= 1, () => tensorType(g.shape(1, 3), g.anyDtype()));
    const low: number[] = [], high: number[] = [], interior: number[] = [];
    for (const n of x.shape) {
      const inner = g.rng.chance(0.7) ? 0 : g.rng.int(1, 2);
      const size = n + (n - 1) * inner;
      // Negative padding crops; keep at least one element per dim.
      const lo = g.rng.int(-Math.min(1, size - 1), 2);
      const hi = g.rng.int(-Math.min(1, size + lo - 1), 2);
      low.push(lo); high.push(hi); interior.push(inner);
    }
    const value = isFloat(x.dtype) ? g.rng.choice([0, 0, 1.5, -2]) : x.dtype === 'bool' ? g.rng.int(0, 1) : g.rng.int(-3, 3);
    const attrs: Record<string, number | number[]> = { low, high, interior };
    if (value !== 0 || g.rng.chance(0.5)) attrs['value'] = value;
    return g.op('pad', [x], attrs);
  },
  concat(g) {
    const x = g.operand((v) => v.shape.length >= 1, () => tensorType(g.shape(1, 3), g.anyDtype()));
    const axis = g.rng.int(0, x.shape.length - 1);
    const parts = [x];
    for (let k = g.rng.int(0, 2); k > 0; k--) {
      const fits = (v: Value) => v.dtype === x.dtype && v.shape.length === x.shape.length && v.shape.every((d, i) => i === axis || d === x.shape[i]);
      parts.push(g.pick(fits) ?? g.param(tensorType(x.shape.map((d, i) => (i === axis ? g.rng.choice(DIMS) : d)), x.dtype)));
    }
    return g.op('concat', g.rng.shuffle(parts), { axis });
  },
  reduce(g) {
    const x = g.operand(isNumeric, () => tensorType(g.shape(1, 3), g.floatDtype()));
    const op = g.rng.choice(['sum', 'max', 'min', 'prod']);
    return g.op('reduce', [x], { op, axes: g.rng.shuffle(g.rng.subset(x.shape.length, 0.6)) });
  },
  dot_general(g) {
    const lhs = g.operand((v) => isNumeric(v) && v.shape.length >= 1 && v.shape.length <= 3, () => tensorType(g.shape(1, 3), g.floatDtype()));
    // Each lhs dim is batch, contracting or free; rhs gets the batch and contracting dims plus free dims, shuffled.
    const roles = lhs.shape.map(() => g.rng.choice(['batch', 'contract', 'contract', 'free'] as const));
    const lb = roles.flatMap((r, i) => (r === 'batch' ? [i] : []));
    const lc = roles.flatMap((r, i) => (r === 'contract' ? [i] : []));
    const lhsFree = numel(lhs.shape.filter((_, i) => roles[i] !== 'contract'));
    const rhsFree: number[] = [];
    for (let k = g.rng.int(0, 2); k > 0; k--) {
      const d = g.rng.choice(DIMS);
      rhsFree.push(lhsFree * numel(rhsFree) * d <= MAX_ELEMENTS * 2 ? d : 1);
    }
    const slots = g.rng.shuffle([...lb.map((d) => ({ kind: 'b', d })), ...lc.map((d) => ({ kind: 'c', d })), ...rhsFree.map((n) => ({ kind: 'f', d: n }))]);
    const rshape = slots.map((s) => (s.kind === 'f' ? s.d : lhs.shape[s.d]!));
    const rb = lb.map((d) => slots.findIndex((s) => s.kind === 'b' && s.d === d));
    const rc = lc.map((d) => slots.findIndex((s) => s.kind === 'c' && s.d === d));
    const rtype = tensorType(rshape, lhs.dtype);
    const rhs = g.pick((v) => typesEqual(v.type, rtype)) ?? (g.allowed('constant') && g.rng.chance(0.3)
      ? g.b.op('constant', [], { value: g.randomLiteral(rtype) }) : g.param(rtype));
    const attrs: Record<string, number[] | string> = { lhs_batch: lb, rhs_batch: rb, lhs_contract: lc, rhs_contract: rc };
    if (lhs.dtype === 'i8' || lhs.dtype === 'u8' ? g.rng.chance(0.5) : lhs.dtype !== 'f32' && g.rng.chance(0.3)) attrs['dtype'] = isFloat(lhs.dtype) ? 'f32' : 'i32';
    return g.rng.chance(0.5) ? g.op('dot_general', [lhs, rhs], attrs) : g.op('dot_general', [rhs, lhs], swapDot(attrs));
  },
  conv(g) {
    const dtype = g.rng.chance(0.85) ? g.floatDtype() : 'i32';
    const x = g.pick((v) => v.shape.length === 4 && v.dtype === dtype && numel(v.shape) <= MAX_ELEMENTS * 2)
      ?? g.param(tensorType([g.rng.int(1, 2), g.rng.int(1, 6), g.rng.int(1, 6), g.rng.choice([1, 2, 3, 4])], dtype));
    const [, h, w, c] = x.shape as [number, number, number, number];
    const groups = g.rng.choice([1, 1, c].filter((k) => c % k === 0));
    const co = groups * g.rng.int(1, 2);
    const strides = [g.rng.int(1, 2), g.rng.int(1, 2)];
    const lhsDil = [g.rng.chance(0.8) ? 1 : 2, g.rng.chance(0.8) ? 1 : 2];
    const rhsDil = [g.rng.chance(0.8) ? 1 : 2, g.rng.chance(0.8) ? 1 : 2];
    const padLo = [g.rng.int(0, 1), g.rng.int(0, 1)], padHi = [g.rng.int(0, 1), g.rng.int(0, 1)];
    // Kernel extent fits the padded, dilated input so the output is never empty.
    const k = [h, w].map((n, i) => {
      const room = padLo[i]! + padHi[i]! + (n - 1) * lhsDil[i]! + 1;
      return Math.max(1, Math.min(g.rng.int(1, 3), Math.floor((room - 1) / rhsDil[i]!) + 1));
    });
    const wt = tensorType([k[0]!, k[1]!, c / groups, co], dtype);
    const kernel = g.pick((v) => typesEqual(v.type, wt)) ?? (g.allowed('constant') && g.rng.chance(0.5)
      ? g.b.op('constant', [], { value: g.randomLiteral(wt) }) : g.param(wt));
    const attrs: Record<string, number | number[]> = { strides, pad_lo: padLo, pad_hi: padHi };
    if (lhsDil.some((d) => d !== 1) || g.rng.chance(0.2)) attrs['lhs_dilation'] = lhsDil;
    if (rhsDil.some((d) => d !== 1) || g.rng.chance(0.2)) attrs['rhs_dilation'] = rhsDil;
    if (groups !== 1 || g.rng.chance(0.2)) attrs['groups'] = groups;
    return g.op('conv', [x, kernel], attrs);
  },
  reduce_window(g) {
    const x = g.operand((v) => isNumeric(v) && v.shape.length >= 1, () => tensorType(g.shape(1, 4), g.floatDtype()));
    const rank = x.shape.length;
    // Padding narrower than the window: no window lies wholly in padding (a max there is -inf).
    const window = x.shape.map((n) => g.rng.int(1, Math.min(3, n + 1)));
    const padLo = window.map((w) => (g.rng.chance(0.7) ? 0 : g.rng.int(0, w - 1)));
    // At least one window: n + lo + hi >= w (the fix-up stays below w because w <= n + 1).
    const padHi = window.map((w, i) => Math.max(g.rng.chance(0.7) ? 0 : g.rng.int(0, w - 1), w - x.shape[i]! - padLo[i]!));
    const strides = Array.from({ length: rank }, () => g.rng.int(1, 2));
    return g.op('reduce_window', [x], { op: g.rng.choice(['max', 'sum']), window, strides, pad_lo: padLo, pad_hi: padHi });
  },
  gather(g) {
    const x = g.operand((v) => v.shape.length >= 1 && v.shape.every((d) => d >= 1), () => tensorType(g.shape(1, 3), g.anyDtype()));
    const axis = g.rng.int(0, x.shape.length - 1);
    return g.op('gather', [x, g.indices(g.shape(0, 2), x.shape[axis]!)], { axis });
  },
  scatter_add(g) {
    const base = g.operand((v) => isNumeric(v) && v.shape.length >= 1 && v.shape.length <= 3, () => tensorType(g.shape(1, 3), g.floatDtype()));
    const axis = g.rng.int(0, base.shape.length - 1);
    const idxShape = g.shape(0, 2);
    const idx = g.indices(idxShape, base.shape[axis]!);
    const ut = tensorType([...base.shape.slice(0, axis), ...idxShape, ...base.shape.slice(axis + 1)], base.dtype);
    const updates = g.pick((v) => typesEqual(v.type, ut)) ?? g.param(ut);
    return g.op('scatter_add', [base, idx, updates], { axis });
  },
  rng_uniform: rngGen('rng_uniform'),
  rng_normal: rngGen('rng_normal'),
  quantize(g) {
    const x = g.operand((v) => v.dtype === 'f32', () => tensorType(g.shape(), 'f32'));
    return g.op('quantize', [x], quantAttrs(g, x, () => g.rng.choice([0.004, 0.01, 0.02, 0.1, 0.37])));
  },
  dequantize(g) {
    const x = g.operand((v) => v.dtype === 'i8', () => tensorType(g.shape(), 'i8'));
    return g.op('dequantize', [x], quantAttrs(g, x, () => g.rng.choice([0.004, 0.01, 0.02, 0.1, 0.37])));
  },
  requantize(g) {
    const x = g.operand((v) => v.dtype === 'i32', () => tensorType(g.shape(), 'i32'));
    const axis = x.shape.length && g.rng.chance(0.5) ? g.rng.int(0, x.shape.length - 1) : -1;
    const n = axis === -1 ? 1 : x.shape[axis]!;
    const multiplier = Array.from({ length: n }, () => g.rng.int(2 ** 30, 2 ** 31 - 1));
    const shift = Array.from({ length: n }, () => g.rng.choice([0, -1, -3, -8, -17, -31, g.rng.int(-31, 0)]));
    const zp = g.rng.int(-128, 127);
    const lo = g.rng.chance(0.5) ? -128 : g.rng.int(-128, zp), hi = g.rng.chance(0.5) ? 127 : g.rng.int(lo, 127);
    return g.op('requantize', [x], { multiplier, shift, axis, zero_point: zp, min: lo, max: hi });
  },
  ...controlGenerators(),
};

/** quantize / dequantize attributes: per tensor or per channel along a random dim. */
function quantAttrs(g: Gen, x: Value, scale: () => number): Attrs {
  const axis = x.shape.length && g.rng.chance(0.5) ? g.rng.int(0, x.shape.length - 1) : -1;
  const n = axis === -1 ? 1 : x.shape[axis]!;
  return {
    scale: Array.from({ length: n }, () => Math.fround(scale())),
    zero_point: Array.from({ length: n }, () => (g.rng.chance(0.3) ? 0 : g.rng.int(-128, 127))),
    axis,
  };
}

/**
 * Control flow is drawn only when `opts.ops` names it: until the code generators schedule loops
 * and branches, the default random functions (which every target compiles) leave it out.
 */
export const CONTROL_FLOW_OPS: readonly string[] = ['cond', 'while', 'scan', 'get_result'];

/**
 * The int8 ops (ops/quant.ts) are drawn only when `opts.ops` names them, like control flow: the
 * default random graphs that every target compiles leave them out until every target lowers them.
 */
export const INT8_OPS: readonly string[] = ['quantize', 'dequantize', 'requantize'];

/** A type-preserving op of `x` in a region body (regions use any op, whatever `opts.ops` allows). */
function keepType(g: Gen, b: Builder, x: Value): Value {
  const ops = isFloat(x.dtype) ? ['neg', 'abs', 'tanh', 'sin', 'floor'] : x.dtype === 'bool' ? ['not'] : x.dtype === 'u8' ? ['abs'] : ['neg', 'abs'];
  return b.op(g.rng.choice(ops), [x]);
}

function regionOf(name: string, types: readonly TensorType[], body: (b: Builder, ps: Value[]) => Value[]): Func {
  const b = new Builder(name);
  const ps = types.map((t, i) => b.param(t, `r${i}`));
  return b.build(body(b, ps));
}

function controlGenerators(): Record<string, OpGenerator> {
  const cond: OpGenerator = (g) => {
    const x = anyValue(g);
    const pred = g.param(tensorType([], 'bool'), false, 'pred');
    const branch = (name: string) => regionOf(name, [x.type], (b, [a]) => {
      let y = a!;
      for (let k = g.rng.int(0, 2); k > 0; k--) y = keepType(g, b, y);
      return [y];
    });
    const c = g.b.op('cond', [pred, x], {}, [branch('then'), branch('else')]);
    return g.op('get_result', [c], { index: 0 });
  };
  const loop: OpGenerator = (g) => {
    const x = anyValue(g);
    const trips = g.rng.int(0, 3);
    const zero = g.b.op('constant', [], { value: literal([], 'i32', [0]) });
    const types = [tensorType([], 'i32'), x.type];
    const c = regionOf('cond', types, (b, [i]) => [b.op('compare', [i!, b.scalar(trips, 'i32')], { dir: 'lt' })]);
    const body = regionOf('body', types, (b, [i, a]) => [b.op('add', [i!, b.scalar(1, 'i32')]), keepType(g, b, a!)]);
    const w = g.b.op('while', [zero, x], { max_iterations: g.rng.chance(0.5) ? -1 : g.rng.int(0, 4) }, [c, body]);
    return g.op('get_result', [w], { index: 1 });
  };
  const scan: OpGenerator = (g) => {
    const c0 = g.operand(isNumeric, () => tensorType(g.shape(0, 2), g.floatDtype()));
    const length = g.rng.int(1, 4), axis = g.rng.int(0, c0.shape.length);
    const xs = g.param(tensorType([...c0.shape.slice(0, axis), length, ...c0.shape.slice(axis)], c0.dtype));
    const body = regionOf('step', [c0.type, c0.type], (b, [c, x]) => {
      const nc = b.op('add', [c!, x!]);
      return [nc, keepType(g, b, nc)];
    });
    const v = g.b.op('scan', [c0, xs], { carries: 1, length, reverse: g.rng.chance(0.5), axis }, [body]);
    g.op('get_result', [v], { index: 1 });
    return g.op('get_result', [v], { index: 0 });
  };
  return { cond, while: loop, scan, get_result: (g) => g.rng.choice([cond, loop, scan])(g) };
}

/** The same contraction with the operands swapped: batch dims stay first, free groups swap. */
function swapDot(a: Record<string, number[] | string>): Record<string, number[] | string> {
  const out: Record<string, number[] | string> = { ...a, lhs_batch: a['rhs_batch']!, rhs_batch: a['lhs_batch']!, lhs_contract: a['rhs_contract']!, rhs_contract: a['lhs_contract']! };
  return out;
}

function rngGen(op: string): OpGenerator {
  return (g) => {
    const keyType = tensorType([2], 'i32');
    const key = g.pick((v) => typesEqual(v.type, keyType))
      ?? (g.allowed('constant') && g.rng.chance(0.5)
        ? g.b.op('constant', [], { value: literal([2], 'i32', [g.rng.int(-1000, 1000), g.rng.int(0, 1 << 30)]) })
        : g.param(keyType, true, 'key'));
    return g.op(op, [key], { shape: g.shape(0, 3), dtype: g.floatDtype() });
  };
}

/** A random shape with `n` elements: n's prime factors grouped at random, plus size-1 dims. */
function factorShape(rng: Rng, n: number): number[] {
  const factors: number[] = [];
  let m = n;
  for (let p = 2; p * p <= m; p++) while (m % p === 0) { factors.push(p); m /= p; }
  if (m > 1) factors.push(m);
  const rank = rng.int(n === 1 ? 0 : 1, Math.min(4, factors.length + 1));
  const shape = new Array<number>(rank).fill(1);
  for (const f of rng.shuffle(factors)) shape[rng.int(0, rank - 1)]! *= f;
  return shape;
}

// The op table must stay complete; reference the registered ops so this module registers them.
void ALL_OPS;

/** Registered ops without a generator entry (a test asserts this is empty). */
export function missingGenerators(): string[] {
  return allOps().map((d) => d.name).filter((n) => !(n in GENERATORS));
}

/** Names of the ops `randomFunc` draws by default (registered, with a generator, not control flow). */
export function generatableOps(): string[] {
  return allOps().map((d) => d.name).filter((n) => n in GENERATORS && !CONTROL_FLOW_OPS.includes(n) && !INT8_OPS.includes(n));
}

export interface RandomFuncOptions {
  /** Ops to draw from (default: every registered op); helper ops outside the list are not used. */
  readonly ops?: readonly string[];
  /** Number of ops drawn (default 12); guards and operands may add more values. */
  readonly size?: number;
  /** Function name (default `rand<seed>`). */
  readonly name?: string;
}

/** A valid random function, the same for the same seed and options. */
export function randomFunc(seed: number, opts: RandomFuncOptions = {}): Func {
  const rng = new Rng(seed);
  const ops = (opts.ops ?? generatableOps()).filter((op) => hasOp(op) && op in GENERATORS);
  if (!ops.length) throw new Error(`randomFunc: none of the ops [${(opts.ops ?? []).join(', ')}] is registered with a generator`);
  const g = new Gen(rng, new Set(ops), opts.name ?? `rand${seed}`);
  for (let k = rng.int(1, 3); k > 0; k--) g.param(tensorType(g.shape(), rng.chance(0.8) ? g.floatDtype() : g.anyDtype()));
  // Structured ops count double so they are not drowned out by the many elementwise ops.
  const weighted = ops.flatMap((op) => (hasOp(op) && getOp(op).kind !== 'elementwise' ? [op, op] : [op]));
  const size = opts.size ?? 12;
  for (let k = 0; k < size; k++) GENERATORS[rng.choice(weighted)]!(g);
  return finish(g);
}

/** Results: the unused values (latest first, at most 4), sometimes a parameter, and a few aliases. */
function finish(g: Gen): Func {
  const { rng, b } = g;
  const used = new Set(b.body.flatMap((v) => v.inputs));
  const sinks = b.body.filter((v) => !used.has(v)).reverse();
  const results = sinks.slice(0, rng.int(1, 4));
  if (!results.length && b.params.length) results.push(b.params[0]!);
  if (rng.chance(0.2) && g.pool.length) results.push(rng.choice(g.pool));
  const fn = b.build(results, results.map((_, i) => (rng.chance(0.8) ? `out${i}` : `r${i}_${rng.int(0, 99)}`)));
  const taken = new Set<number>();
  fn.results.forEach((r, i) => {
    if (!rng.chance(0.25)) return;
    const p = fn.params.findIndex((q, j) => !taken.has(j) && typesEqual(q.type, r.type) && q.name?.startsWith('p'));
    if (p >= 0) {
      taken.add(p);
      fn.aliases.push({ result: i, param: p });
    }
  });
  return fn;
}

function sampleValue(rng: Rng, d: DType): number {
  switch (d) {
    case 'bool': return rng.int(0, 1);
    case 'i32': return rng.int(-20, 20);
    case 'i8': return rng.int(-128, 127);
    case 'u8': return rng.int(0, 255);
    default: return castScalar(rng.next() * 4 - 2, d);
  }
}

const POSITIVE_USES = new Set(['log', 'log1p', 'sqrt', 'rsqrt']);

/**
 * Valid inputs for `fn`'s parameters: small values, positive where a parameter feeds log, sqrt,
 * rsqrt, log1p or the base of pow, away from zero as a divisor, in [0, n) as gather/scatter
 * indices (n = the indexed dim), any 32-bit words as rng keys.
 */
export function randomInputs(fn: Func, seed: number): Literal[] {
  const rng = new Rng(seed ^ 0x5bd1e995);
  return fn.params.map((p) => {
    let positive = false, nonzero = false, key = false;
    let bound = Infinity;
    for (const v of fn.body) {
      v.inputs.forEach((x, j) => {
        if (x !== p) return;
        if (POSITIVE_USES.has(v.op) || (v.op === 'pow' && j === 0)) positive = true;
        if (v.op === 'div' && j === 1) nonzero = true;
        if ((v.op === 'gather' || v.op === 'scatter_add') && j === 1) bound = Math.min(bound, v.inputs[0]!.shape[v.attrs['axis'] as number]!);
        if (v.op.startsWith('rng_') || v.op === 'requantize') key = true; // any 32-bit word (an accumulator)
      });
    }
    const n = numel(p.shape);
    const vals = new Array<number>(n);
    for (let i = 0; i < n; i++) {
      if (bound !== Infinity) vals[i] = rng.int(0, Math.max(bound - 1, 0));
      else if (key) vals[i] = (rng.next() * 4294967296) | 0;
      else if (isFloat(p.dtype) && (positive || nonzero)) vals[i] = (positive || rng.chance(0.5) ? 1 : -1) * (0.25 + rng.next() * 1.75);
      else if (isInt(p.dtype) && nonzero) vals[i] = (rng.chance(0.5) ? 1 : -1) * rng.int(1, 8) & (p.dtype === 'u8' ? 0xff : -1);
      else vals[i] = sampleValue(rng, p.dtype);
    }
    return literal(p.shape, p.dtype, vals);
  });
}
