/**
 * Transcendental functions for WebAssembly kernels, which have no exp/log/sin instructions.
 * Each is a module-level function over f32x4 (v128 -> v128); scalar code calls it on a splat and
 * takes lane 0, so there is exactly one implementation per function. Algorithms are the Cephes
 * single-precision ones (range reduction + minimax polynomials), accurate to a few ulp on normal
 * inputs, and they propagate NaN and handle ±inf and 0 the way tfjs-core does.
 */
import binaryen from 'binaryen';

type Ref = binaryen.ExpressionRef;

export type MathFn = 'exp' | 'log' | 'log1p' | 'tanh' | 'logistic' | 'erf' | 'sin' | 'cos' | 'pow';

const V = binaryen.v128;

/** Small helper DSL over one function's locals. */
class F {
  readonly locals: number[] = [];
  constructor(readonly m: binaryen.Module, readonly nParams: number) {}
  local(): number {
    this.locals.push(V);
    return this.nParams + this.locals.length - 1;
  }
  get(i: number): Ref { return this.m.local.get(i, V); }
  set(i: number, v: Ref): Ref { return this.m.local.set(i, v); }
  f(x: number): Ref { return this.m.v128.const(f32x4Bytes(x)); }
  i(x: number): Ref { return this.m.i32x4.splat(this.m.i32.const(x)); }
  add(a: Ref, b: Ref): Ref { return this.m.f32x4.add(a, b); }
  sub(a: Ref, b: Ref): Ref { return this.m.f32x4.sub(a, b); }
  mul(a: Ref, b: Ref): Ref { return this.m.f32x4.mul(a, b); }
  div(a: Ref, b: Ref): Ref { return this.m.f32x4.div(a, b); }
  /** Horner: c[0]*x^n + ... + c[n]. */
  poly(x: () => Ref, c: readonly number[]): Ref {
    let acc = this.f(c[0]!);
    for (let k = 1; k < c.length; k++) acc = this.add(this.mul(acc, x()), this.f(c[k]!));
    return acc;
  }
  sel(mask: Ref, a: Ref, b: Ref): Ref { return this.m.v128.bitselect(a, b, mask); }
}

export function f32x4Bytes(x: number): number[] {
  const b = new Uint8Array(new Float32Array([x, x, x, x]).buffer);
  return [...b];
}

const LOG2E = 1.44269504088896341;
const LN2_HI = 0.693359375;
const LN2_LO = -2.12194440e-4;

function defineExp(m: binaryen.Module): void {
  const f = new F(m, 1);
  const x = f.local(), n = f.local(), r = f.local();
  const body = m.block(null, [
    f.set(x, m.f32x4.min(m.f32x4.max(f.get(0), f.f(-87.33654)), f.f(88.72283))),
    f.set(n, m.f32x4.nearest(f.mul(f.get(x), f.f(LOG2E)))),
    f.set(r, f.sub(f.sub(f.get(x), f.mul(f.get(n), f.f(LN2_HI))), f.mul(f.get(n), f.f(LN2_LO)))),
    // p(r) ~ e^r on [-ln2/2, ln2/2]
    f.set(x, f.add(f.add(f.mul(f.poly(() => f.get(r), [1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1]), f.mul(f.get(r), f.get(r))), f.get(r)), f.f(1))),
    // scale by 2^n through the exponent bits
    f.set(n, m.i32x4.shl(m.i32x4.add(m.i32x4.trunc_sat_f32x4_s(f.get(n)), f.i(127)), m.i32.const(23))),
    f.set(x, f.mul(f.get(x), f.get(n))),
    // exp(-inf) = 0, exp(+inf) = inf, NaN stays NaN
    f.set(x, f.sel(m.f32x4.eq(f.get(0), f.f(-Infinity)), f.f(0), f.get(x))),
    f.set(x, f.sel(m.f32x4.gt(f.get(0), f.f(88.72283)), f.f(Infinity), f.get(x))),
    f.sel(m.f32x4.ne(f.get(0), f.get(0)), f.get(0), f.get(x)),
  ], V);
  m.addFunction('v_exp', binaryen.createType([V]), V, f.locals, body);
}

function defineLog(m: binaryen.Module): void {
  const f = new F(m, 1);
  const bits = f.local(), e = f.local(), mm = f.local(), z = f.local(), y = f.local(), small = f.local();
  const SQRTHF = 0.707106781186547524;
  const body = m.block(null, [
    f.set(bits, f.get(0)),
    // exponent e and mantissa m in [0.5, 1)
    f.set(e, m.f32x4.convert_i32x4_s(m.i32x4.sub(m.i32x4.shr_u(f.get(bits), m.i32.const(23)), f.i(126)))),
    f.set(mm, m.v128.or(m.v128.and(f.get(bits), f.i(0x807fffff | 0)), f.i(0x3f000000))),
    f.set(small, m.f32x4.lt(f.get(mm), f.f(SQRTHF))),
    f.set(e, f.sel(f.get(small), f.sub(f.get(e), f.f(1)), f.get(e))),
    f.set(mm, f.sel(f.get(small), f.sub(f.add(f.get(mm), f.get(mm)), f.f(1)), f.sub(f.get(mm), f.f(1)))),
    f.set(z, f.mul(f.get(mm), f.get(mm))),
    f.set(y, f.mul(f.mul(f.poly(() => f.get(mm), [7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1, 1.4249322787e-1, -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1]), f.get(mm)), f.get(z))),
    f.set(y, f.add(f.get(y), f.mul(f.get(e), f.f(LN2_LO)))),
    f.set(y, f.sub(f.get(y), f.mul(f.get(z), f.f(0.5)))),
    f.set(y, f.add(f.add(f.get(mm), f.get(y)), f.mul(f.get(e), f.f(LN2_HI)))),
    // log(0) = -inf, log(x<0) = NaN, log(inf) = inf, NaN stays NaN
    f.set(y, f.sel(m.f32x4.eq(f.get(0), f.f(0)), f.f(-Infinity), f.get(y))),
    f.set(y, f.sel(m.f32x4.eq(f.get(0), f.f(Infinity)), f.f(Infinity), f.get(y))),
    f.sel(m.v128.or(m.f32x4.lt(f.get(0), f.f(0)), m.f32x4.ne(f.get(0), f.get(0))), f.f(NaN), f.get(y)),
  ], V);
  m.addFunction('v_log', binaryen.createType([V]), V, f.locals, body);
}

function defineLog1p(m: binaryen.Module): void {
  const f = new F(m, 1);
  const u = f.local(), d = f.local();
  // log1p(x) = log(u) * x / (u - 1) with u = 1 + x corrects the rounding of 1 + x (Goldberg).
  const body = m.block(null, [
    f.set(u, f.add(f.get(0), f.f(1))),
    f.set(d, f.sub(f.get(u), f.f(1))),
    f.sel(m.f32x4.eq(f.get(d), f.f(0)), f.get(0),
      f.sel(m.f32x4.eq(f.get(u), f.f(Infinity)), f.get(u), f.div(f.mul(m.call('v_log', [f.get(u)], V), f.get(0)), f.get(d)))),
  ], V);
  m.addFunction('v_log1p', binaryen.createType([V]), V, f.locals, body);
}

function defineTanh(m: binaryen.Module): void {
  const f = new F(m, 1);
  const ax = f.local(), z = f.local(), big = f.local(), small = f.local();
  const body = m.block(null, [
    f.set(ax, m.f32x4.abs(f.get(0))),
    // |x| >= 0.625: 1 - 2 / (exp(2|x|) + 1), with the sign restored
    f.set(big, f.sub(f.f(1), f.div(f.f(2), f.add(m.call('v_exp', [f.add(f.get(ax), f.get(ax))], V), f.f(1))))),
    f.set(big, m.v128.or(f.get(big), m.v128.and(f.get(0), f.i(0x80000000 | 0)))),
    // |x| < 0.625: odd polynomial
    f.set(z, f.mul(f.get(0), f.get(0))),
    f.set(small, f.add(f.mul(f.mul(f.poly(() => f.get(z), [-5.70498872745e-3, 2.06390887954e-2, -5.37397155531e-2, 1.33314422036e-1, -3.33332819422e-1]), f.get(z)), f.get(0)), f.get(0))),
    f.sel(m.f32x4.lt(f.get(ax), f.f(0.625)), f.get(small), f.get(big)),
  ], V);
  m.addFunction('v_tanh', binaryen.createType([V]), V, f.locals, body);
}

function defineLogistic(m: binaryen.Module): void {
  const f = new F(m, 1);
  const body = f.div(f.f(1), f.add(f.f(1), m.call('v_exp', [m.f32x4.neg(f.get(0))], V)));
  m.addFunction('v_logistic', binaryen.createType([V]), V, f.locals, body);
}

function defineErf(m: binaryen.Module): void {
  const f = new F(m, 1);
  const ax = f.local(), t = f.local(), y = f.local(), z = f.local();
  // Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7) for |x| >= 0.5; Taylor series near 0 keeps
  // the relative error small where erf(x) ~ 2x/sqrt(pi).
  const body = m.block(null, [
    f.set(ax, m.f32x4.abs(f.get(0))),
    f.set(t, f.div(f.f(1), f.add(f.f(1), f.mul(f.f(0.3275911), f.get(ax))))),
    f.set(y, f.sub(f.f(1), f.mul(f.mul(f.poly(() => f.get(t), [1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592]), f.get(t)),
      m.call('v_exp', [m.f32x4.neg(f.mul(f.get(ax), f.get(ax)))], V)))),
    f.set(y, m.v128.or(f.get(y), m.v128.and(f.get(0), f.i(0x80000000 | 0)))),
    f.set(z, f.mul(f.get(0), f.get(0))),
    f.set(z, f.mul(f.get(0), f.poly(() => f.get(z), [-1 / 1320 * 1.1283791670955126 * 1, 1 / 216 * 1.1283791670955126, -1 / 42 * 1.1283791670955126, 1 / 10 * 1.1283791670955126, -1 / 3 * 1.1283791670955126, 1.1283791670955126]))),
    f.sel(m.f32x4.lt(f.get(ax), f.f(0.5)), f.get(z), f.get(y)),
  ], V);
  m.addFunction('v_erf', binaryen.createType([V]), V, f.locals, body);
}

/** sin and cos share a range reduction to [-pi/4, pi/4] and the quadrant logic. */
function defineSinCos(m: binaryen.Module, which: 'sin' | 'cos'): void {
  const f = new F(m, 1);
  const q = f.local(), r = f.local(), z = f.local(), s = f.local(), c = f.local(), swap = f.local(), neg = f.local();
  const DP1 = 0.78515625 * 2, DP2 = 2.4187564849853515625e-4 * 2, DP3 = 3.77489497744594108e-8 * 2;
  const body = m.block(null, [
    f.set(q, m.f32x4.nearest(f.mul(f.get(0), f.f(0.63661977236758134)))), // x * 2/pi
    f.set(r, f.sub(f.sub(f.sub(f.get(0), f.mul(f.get(q), f.f(DP1))), f.mul(f.get(q), f.f(DP2))), f.mul(f.get(q), f.f(DP3)))),
    f.set(z, f.mul(f.get(r), f.get(r))),
    f.set(s, f.add(f.mul(f.mul(f.poly(() => f.get(z), [-1.9515295891e-4, 8.3321608736e-3, -1.6666654611e-1]), f.get(z)), f.get(r)), f.get(r))),
    f.set(c, f.add(f.sub(f.mul(f.mul(f.poly(() => f.get(z), [2.443315711809948e-5, -1.388731625493765e-3, 4.166664568298827e-2]), f.get(z)), f.get(z)), f.mul(f.get(z), f.f(0.5))), f.f(1))),
    // quadrant k = q mod 4 (q may be negative): sin: k=0 s, 1 c, 2 -s, 3 -c; cos: k=0 c, 1 -s, 2 -c, 3 s
    f.set(q, m.v128.and(m.i32x4.trunc_sat_f32x4_s(f.get(q)), f.i(3))),
    ...(which === 'cos' ? [f.set(q, m.v128.and(m.i32x4.add(f.get(q), f.i(1)), f.i(3)))] : []),
    f.set(swap, m.i32x4.eq(m.v128.and(f.get(q), f.i(1)), f.i(1))),
    f.set(neg, m.i32x4.eq(m.v128.and(f.get(q), f.i(2)), f.i(2))),
    f.set(r, f.sel(f.get(swap), f.get(c), f.get(s))),
    f.set(r, f.sel(f.get(neg), m.f32x4.neg(f.get(r)), f.get(r))),
    // inf -> NaN
    f.sel(m.f32x4.eq(m.f32x4.abs(f.get(0)), f.f(Infinity)), f.f(NaN), f.get(r)),
  ], V);
  m.addFunction(`v_${which}`, binaryen.createType([V]), V, f.locals, body);
}

function definePow(m: binaryen.Module): void {
  const f = new F(m, 2);
  const r = f.local(), isInt = f.local(), odd = f.local(), a = 0, b = 1;
  const body = m.block(null, [
    f.set(r, m.call('v_exp', [f.mul(f.get(b), m.call('v_log', [m.f32x4.abs(f.get(a))], V))], V)),
    f.set(isInt, m.f32x4.eq(m.f32x4.trunc(f.get(b)), f.get(b))),
    // odd integer exponent: b/2 is not an integer
    f.set(odd, m.v128.and(f.get(isInt), m.f32x4.ne(m.f32x4.trunc(f.mul(f.get(b), f.f(0.5))), f.mul(f.get(b), f.f(0.5))))),
    // negative base: integer exponent keeps magnitude (sign by parity), otherwise NaN
    f.set(r, f.sel(m.f32x4.lt(f.get(a), f.f(0)),
      f.sel(f.get(isInt), f.sel(f.get(odd), m.f32x4.neg(f.get(r)), f.get(r)), f.f(NaN)), f.get(r))),
    f.sel(m.f32x4.eq(f.get(b), f.f(0)), f.f(1), f.get(r)),
  ], V);
  m.addFunction('v_pow', binaryen.createType([V, V]), V, f.locals, body);
}

/** Add the functions `v_<name>` that `used` needs (with their dependencies) to the module. */
export function addMathFunctions(m: binaryen.Module, used: ReadonlySet<MathFn>): void {
  const need = new Set<MathFn>(used);
  if (need.has('pow')) { need.add('exp'); need.add('log'); }
  if (need.has('log1p')) need.add('log');
  if (need.has('tanh') || need.has('logistic') || need.has('erf')) need.add('exp');
  if (need.has('exp')) defineExp(m);
  if (need.has('log')) defineLog(m);
  if (need.has('log1p')) defineLog1p(m);
  if (need.has('tanh')) defineTanh(m);
  if (need.has('logistic')) defineLogistic(m);
  if (need.has('erf')) defineErf(m);
  if (need.has('sin')) defineSinCos(m, 'sin');
  if (need.has('cos')) defineSinCos(m, 'cos');
  if (need.has('pow')) definePow(m);
}
