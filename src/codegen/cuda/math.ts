/**
 * Transcendental functions for PTX kernels, emitted inline as straight-line code (selects, no
 * branches) so they can sit anywhere in an expression. They are the same Cephes single-precision
 * algorithms as the WebAssembly back end (wasm/math.ts: range reduction + minimax polynomials,
 * a few ulp on normal inputs, NaN/±inf/0 handled the way tfjs-core does), with fused
 * multiply-adds. The hardware `.approx` instructions (ex2, lg2, sin, tanh) are deliberately not
 * used: they lose accuracy on large arguments and would not match the interpreter to 1e-4.
 */
import { f32Lit as L, type PtxBuilder } from './ptx_builder.js';

export type PtxMathFn = 'exp' | 'log' | 'log1p' | 'tanh' | 'logistic' | 'erf' | 'sin' | 'cos';

const LOG2E = 1.44269504088896341;
const LN2_HI = 0.693359375;
const LN2_LO = -2.12194440e-4;

/** Horner with fma: c[0]*x^n + ... + c[n]. */
function poly(b: PtxBuilder, x: string, c: readonly number[]): string {
  let acc = b.f((d) => `mov.f32 ${d}, ${L(c[0]!)}`);
  for (let k = 1; k < c.length; k++) {
    const prev = acc;
    acc = b.f((d) => `fma.rn.f32 ${d}, ${prev}, ${x}, ${L(c[k]!)}`);
  }
  return acc;
}

/** d = cond ? a : b, where cond is a predicate. */
function sel(b: PtxBuilder, p: string, a: string, c: string): string {
  return b.f((d) => `selp.f32 ${d}, ${a}, ${c}, ${p}`);
}

function setp(b: PtxBuilder, cmp: string, a: string, c: string): string {
  return b.p((d) => `setp.${cmp}.f32 ${d}, ${a}, ${c}`);
}

/** x * sign(s) bitwise: |x| with the sign bit of s (x is non-negative). */
function withSignOf(b: PtxBuilder, x: string, s: string): string {
  const sb = b.r((d) => `and.b32 ${d}, ${s}, -2147483648`);
  const xb = b.r((d) => `mov.b32 ${d}, ${x}`);
  const o = b.r((d) => `or.b32 ${d}, ${xb}, ${sb}`);
  return b.f((d) => `mov.b32 ${d}, ${o}`);
}

export function ptxExp(b: PtxBuilder, x: string): string {
  const xc0 = b.f((d) => `max.f32 ${d}, ${x}, ${L(-87.33654)}`);
  const xc = b.f((d) => `min.f32 ${d}, ${xc0}, ${L(88.72283)}`);
  const t = b.f((d) => `mul.rn.f32 ${d}, ${xc}, ${L(LOG2E)}`);
  const n = b.f((d) => `cvt.rni.f32.f32 ${d}, ${t}`);
  const r0 = b.f((d) => `fma.rn.f32 ${d}, ${n}, ${L(-LN2_HI)}, ${xc}`);
  const r = b.f((d) => `fma.rn.f32 ${d}, ${n}, ${L(-LN2_LO)}, ${r0}`);
  const p = poly(b, r, [1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1]);
  const r2 = b.f((d) => `mul.rn.f32 ${d}, ${r}, ${r}`);
  const y0 = b.f((d) => `fma.rn.f32 ${d}, ${p}, ${r2}, ${r}`);
  const y1 = b.f((d) => `add.rn.f32 ${d}, ${y0}, ${L(1)}`);
  // 2^n in two factors so n in [-126, 128] never overflows one exponent field.
  const ni = b.r((d) => `cvt.rzi.s32.f32 ${d}, ${n}`);
  const e1 = b.r((d) => `shr.s32 ${d}, ${ni}, 1`);
  const e2 = b.r((d) => `sub.s32 ${d}, ${ni}, ${e1}`);
  const scale = (e: string) => {
    const a = b.r((d) => `add.s32 ${d}, ${e}, 127`);
    const s = b.r((d) => `shl.b32 ${d}, ${a}, 23`);
    return b.f((d) => `mov.b32 ${d}, ${s}`);
  };
  const s1 = scale(e1), s2 = scale(e2);
  const y2 = b.f((d) => `mul.rn.f32 ${d}, ${y1}, ${s1}`);
  const y3 = b.f((d) => `mul.rn.f32 ${d}, ${y2}, ${s2}`);
  // exp(-inf) = 0, exp(big) = inf, NaN stays NaN
  const y4 = sel(b, setp(b, 'eq', x, L(-Infinity)), L(0), y3);
  const y5 = sel(b, setp(b, 'gt', x, L(88.72283)), L(Infinity), y4);
  return sel(b, setp(b, 'nan', x, x), x, y5);
}

export function ptxLog(b: PtxBuilder, x: string): string {
  const SQRTHF = 0.707106781186547524;
  const bits = b.r((d) => `mov.b32 ${d}, ${x}`);
  const eb = b.r((d) => `shr.u32 ${d}, ${bits}, 23`);
  const eb2 = b.r((d) => `sub.s32 ${d}, ${eb}, 126`);
  const e0 = b.f((d) => `cvt.rn.f32.s32 ${d}, ${eb2}`);
  const mb = b.r((d) => `and.b32 ${d}, ${bits}, ${0x807fffff | 0}`);
  const mb2 = b.r((d) => `or.b32 ${d}, ${mb}, ${0x3f000000}`);
  const m0 = b.f((d) => `mov.b32 ${d}, ${mb2}`);
  const small = setp(b, 'lt', m0, L(SQRTHF));
  const em1 = b.f((d) => `sub.rn.f32 ${d}, ${e0}, ${L(1)}`);
  const e = sel(b, small, em1, e0);
  const m2 = b.f((d) => `add.rn.f32 ${d}, ${m0}, ${m0}`);
  const ms = b.f((d) => `sub.rn.f32 ${d}, ${m2}, ${L(1)}`);
  const mbig = b.f((d) => `sub.rn.f32 ${d}, ${m0}, ${L(1)}`);
  const m = sel(b, small, ms, mbig);
  const z = b.f((d) => `mul.rn.f32 ${d}, ${m}, ${m}`);
  const p = poly(b, m, [7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1, 1.4249322787e-1, -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1]);
  const pm = b.f((d) => `mul.rn.f32 ${d}, ${p}, ${m}`);
  const y0 = b.f((d) => `mul.rn.f32 ${d}, ${pm}, ${z}`);
  const y1 = b.f((d) => `fma.rn.f32 ${d}, ${e}, ${L(LN2_LO)}, ${y0}`);
  const y2 = b.f((d) => `fma.rn.f32 ${d}, ${z}, ${L(-0.5)}, ${y1}`);
  const y3 = b.f((d) => `add.rn.f32 ${d}, ${m}, ${y2}`);
  const y4 = b.f((d) => `fma.rn.f32 ${d}, ${e}, ${L(LN2_HI)}, ${y3}`);
  // log(0) = -inf, log(inf) = inf, log(x<0) = NaN, NaN stays NaN
  const y5 = sel(b, setp(b, 'eq', x, L(0)), L(-Infinity), y4);
  const y6 = sel(b, setp(b, 'eq', x, L(Infinity)), L(Infinity), y5);
  return sel(b, setp(b, 'ltu', x, L(0)), L(NaN), y6);
}

export function ptxLog1p(b: PtxBuilder, x: string): string {
  // log1p(x) = log(u) * x / (u - 1) with u = 1 + x corrects the rounding of 1 + x (Goldberg).
  const u = b.f((d) => `add.rn.f32 ${d}, ${x}, ${L(1)}`);
  const dd = b.f((d) => `sub.rn.f32 ${d}, ${u}, ${L(1)}`);
  const lu = ptxLog(b, u);
  const num = b.f((d) => `mul.rn.f32 ${d}, ${lu}, ${x}`);
  const q = b.f((d) => `div.rn.f32 ${d}, ${num}, ${dd}`);
  const y = sel(b, setp(b, 'eq', u, L(Infinity)), u, q);
  return sel(b, setp(b, 'eq', dd, L(0)), x, y);
}

export function ptxTanh(b: PtxBuilder, x: string): string {
  const ax = b.f((d) => `abs.f32 ${d}, ${x}`);
  // |x| >= 0.625: 1 - 2 / (exp(2|x|) + 1), sign restored
  const a2 = b.f((d) => `add.rn.f32 ${d}, ${ax}, ${ax}`);
  const ex = ptxExp(b, a2);
  const den = b.f((d) => `add.rn.f32 ${d}, ${ex}, ${L(1)}`);
  const q = b.f((d) => `div.rn.f32 ${d}, ${L(2)}, ${den}`);
  const big0 = b.f((d) => `sub.rn.f32 ${d}, ${L(1)}, ${q}`);
  const big = withSignOf(b, big0, x);
  // |x| < 0.625: odd polynomial
  const z = b.f((d) => `mul.rn.f32 ${d}, ${x}, ${x}`);
  const p = poly(b, z, [-5.70498872745e-3, 2.06390887954e-2, -5.37397155531e-2, 1.33314422036e-1, -3.33332819422e-1]);
  const pz = b.f((d) => `mul.rn.f32 ${d}, ${p}, ${z}`);
  const small = b.f((d) => `fma.rn.f32 ${d}, ${pz}, ${x}, ${x}`);
  const y = sel(b, setp(b, 'lt', ax, L(0.625)), small, big);
  return sel(b, setp(b, 'nan', x, x), x, y);
}

export function ptxLogistic(b: PtxBuilder, x: string): string {
  const nx = b.f((d) => `neg.f32 ${d}, ${x}`);
  const e = ptxExp(b, nx);
  const den = b.f((d) => `add.rn.f32 ${d}, ${e}, ${L(1)}`);
  return b.f((d) => `div.rn.f32 ${d}, ${L(1)}, ${den}`);
}

export function ptxErf(b: PtxBuilder, x: string): string {
  // Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7) for |x| >= 0.5; Taylor series near 0 keeps the
  // relative error small where erf(x) ~ 2x/sqrt(pi).
  const ax = b.f((d) => `abs.f32 ${d}, ${x}`);
  const den = b.f((d) => `fma.rn.f32 ${d}, ${ax}, ${L(0.3275911)}, ${L(1)}`);
  const t = b.f((d) => `div.rn.f32 ${d}, ${L(1)}, ${den}`);
  const p = poly(b, t, [1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592]);
  const pt = b.f((d) => `mul.rn.f32 ${d}, ${p}, ${t}`);
  const ax2 = b.f((d) => `mul.rn.f32 ${d}, ${ax}, ${ax}`);
  const nax2 = b.f((d) => `neg.f32 ${d}, ${ax2}`);
  const e = ptxExp(b, nax2);
  const y0 = b.f((d) => `fma.rn.f32 ${d}, ${pt}, ${e}, ${L(-1)}`);
  const y1 = b.f((d) => `neg.f32 ${d}, ${y0}`);
  const big = withSignOf(b, y1, x);
  const z = b.f((d) => `mul.rn.f32 ${d}, ${x}, ${x}`);
  const C = 1.1283791670955126;
  const ps = poly(b, z, [-1 / 1320 * C, 1 / 216 * C, -1 / 42 * C, 1 / 10 * C, -1 / 3 * C, C]);
  const small = b.f((d) => `mul.rn.f32 ${d}, ${x}, ${ps}`);
  const y = sel(b, setp(b, 'lt', ax, L(0.5)), small, big);
  return sel(b, setp(b, 'nan', x, x), x, y);
}

/** sin and cos share a Cody-Waite reduction to [-pi/4, pi/4] and the quadrant logic. */
export function ptxSinCos(b: PtxBuilder, x: string, which: 'sin' | 'cos'): string {
  const DP1 = 0.78515625 * 2, DP2 = 2.4187564849853515625e-4 * 2, DP3 = 3.77489497744594108e-8 * 2;
  const t = b.f((d) => `mul.rn.f32 ${d}, ${x}, ${L(0.63661977236758134)}`);
  const q = b.f((d) => `cvt.rni.f32.f32 ${d}, ${t}`);
  const r0 = b.f((d) => `fma.rn.f32 ${d}, ${q}, ${L(-DP1)}, ${x}`);
  const r1 = b.f((d) => `fma.rn.f32 ${d}, ${q}, ${L(-DP2)}, ${r0}`);
  const r = b.f((d) => `fma.rn.f32 ${d}, ${q}, ${L(-DP3)}, ${r1}`);
  const z = b.f((d) => `mul.rn.f32 ${d}, ${r}, ${r}`);
  const ps = poly(b, z, [-1.9515295891e-4, 8.3321608736e-3, -1.6666654611e-1]);
  const psz = b.f((d) => `mul.rn.f32 ${d}, ${ps}, ${z}`);
  const s = b.f((d) => `fma.rn.f32 ${d}, ${psz}, ${r}, ${r}`);
  const pc = poly(b, z, [2.443315711809948e-5, -1.388731625493765e-3, 4.166664568298827e-2]);
  const pcz = b.f((d) => `mul.rn.f32 ${d}, ${pc}, ${z}`);
  const c0 = b.f((d) => `fma.rn.f32 ${d}, ${pcz}, ${z}, ${L(1)}`);
  const c = b.f((d) => `fma.rn.f32 ${d}, ${z}, ${L(-0.5)}, ${c0}`);
  // quadrant k = q mod 4: sin: k=0 s, 1 c, 2 -s, 3 -c; cos is sin shifted by one quadrant
  const qi = b.r((d) => `cvt.rzi.s32.f32 ${d}, ${q}`);
  const k = which === 'cos' ? b.r((d) => `add.s32 ${d}, ${qi}, 1`) : qi;
  const swapBit = b.r((d) => `and.b32 ${d}, ${k}, 1`);
  const negBit = b.r((d) => `and.b32 ${d}, ${k}, 2`);
  const swap = b.p((d) => `setp.ne.s32 ${d}, ${swapBit}, 0`);
  const neg = b.p((d) => `setp.ne.s32 ${d}, ${negBit}, 0`);
  const v = sel(b, swap, c, s);
  const nv = b.f((d) => `neg.f32 ${d}, ${v}`);
  const y = sel(b, neg, nv, v);
  const ax = b.f((d) => `abs.f32 ${d}, ${x}`);
  // inf -> NaN; NaN stays NaN (the arithmetic propagates it)
  return sel(b, setp(b, 'eq', ax, L(Infinity)), L(NaN), y);
}

export function ptxPow(b: PtxBuilder, a: string, e: string): string {
  const aa = b.f((d) => `abs.f32 ${d}, ${a}`);
  const la = ptxLog(b, aa);
  const m = b.f((d) => `mul.rn.f32 ${d}, ${e}, ${la}`);
  const r = ptxExp(b, m);
  const te = b.f((d) => `cvt.rzi.f32.f32 ${d}, ${e}`);
  const isInt = setp(b, 'eq', te, e);
  const h = b.f((d) => `mul.rn.f32 ${d}, ${e}, ${L(0.5)}`);
  const th = b.f((d) => `cvt.rzi.f32.f32 ${d}, ${h}`);
  const halfNotInt = setp(b, 'neu', th, h);
  const odd = b.p((d) => `and.pred ${d}, ${isInt}, ${halfNotInt}`);
  const nr = b.f((d) => `neg.f32 ${d}, ${r}`);
  const signed = sel(b, odd, nr, r);
  const negBase = sel(b, isInt, signed, L(NaN));
  const y = sel(b, setp(b, 'lt', a, L(0)), negBase, r);
  return sel(b, setp(b, 'eq', e, L(0)), L(1), y);
}

export function ptxMath(b: PtxBuilder, fn: PtxMathFn, x: string): string {
  switch (fn) {
    case 'exp': return ptxExp(b, x);
    case 'log': return ptxLog(b, x);
    case 'log1p': return ptxLog1p(b, x);
    case 'tanh': return ptxTanh(b, x);
    case 'logistic': return ptxLogistic(b, x);
    case 'erf': return ptxErf(b, x);
    case 'sin': return ptxSinCos(b, x, 'sin');
    case 'cos': return ptxSinCos(b, x, 'cos');
  }
}
