/**
 * A kernel-IR GEMM epilogue (an Expr over `acc` and loads indexed by `m`/`n`) as the callback the
 * GEMM micro-kernel applies to each f32x4 of accumulators before storing it. Loads indexed by the
 * column become per-column vector loads, loads at the output index read the same C position of
 * another buffer (residual add; or a fixed offset from it: one step's block of a sequence), loads indexed by the row or by nothing become splats.
 * lower.ts's gemmEpilogueSupported admits exactly what this translates.
 */
import binaryen from 'binaryen';
import type { Expr } from '../kernel_ir.js';
import { strideOf, type Sym } from '../symbolic.js';
import { offsetFromOutput } from '../lower.js';
import type { EpilogueContext } from './gemm.js';
import { f32x4Bytes, type MathFn } from './math.js';

type Ref = binaryen.ExpressionRef;

/** `colOffset`: bytes to add to column-indexed addresses when the GEMM covers a column slice. */
export function gemmEpilogue(e: Expr, outAt: Sym, addr: (buf: number) => number, mathUsed: Set<MathFn>, colOffset = 0): (acc: Ref, ctx: EpilogueContext) => Ref {
  return (acc, ctx) => {
    const m = ctx.mod;
    const tr = (x: Expr): Ref => {
      switch (x.k) {
        // Each use needs its own node: a binaryen expression has exactly one parent.
        case 'acc': return m.copyExpression(acc);
        case 'const': return m.v128.const(f32x4Bytes(x.v));
        case 'load': {
          const base = addr(x.buf);
          const delta = offsetFromOutput(x.at, outAt);
          if (delta !== undefined) return ctx.loadAtOutput(base + colOffset + delta * 4);
          const sn = strideOf(x.at, 'n');
          if (sn === 1) return ctx.loadPerColumn(base + colOffset + x.at.c * 4);
          // Per-row (or constant) value: splat of one element at a*m + c.
          const coef = x.at.terms.reduce((s, t) => s + (t.atom.k === 'var' && t.atom.name === 'm' ? t.coef : 0), 0);
          const ptr = coef === 0 ? m.i32.const(0) : m.i32.mul(ctx.row(), m.i32.const(coef * 4));
          return m.v128.load32_splat(base + x.at.c * 4, 4, ptr);
        }
        case 'un': {
          if (x.op === 'sign') {
            // 1 where > 0, -1 where < 0, the value itself otherwise (zeros and NaN), as the
            // elementwise emitter computes it; each use of the operand is its own node.
            const zero = () => m.v128.const(f32x4Bytes(0));
            const neg = m.v128.bitselect(m.v128.const(f32x4Bytes(-1)), tr(x.a), m.f32x4.lt(tr(x.a), zero()));
            return m.v128.bitselect(m.v128.const(f32x4Bytes(1)), neg, m.f32x4.gt(tr(x.a), zero()));
          }
          const a = tr(x.a);
          switch (x.op) {
            case 'neg': return m.f32x4.neg(a);
            case 'abs': return m.f32x4.abs(a);
            case 'sqrt': return m.f32x4.sqrt(a);
            case 'rsqrt': return m.f32x4.div(m.v128.const(f32x4Bytes(1)), m.f32x4.sqrt(a));
            case 'floor': return m.f32x4.floor(a);
            case 'ceil': return m.f32x4.ceil(a);
            case 'round': return m.f32x4.nearest(a);
            case 'exp': case 'log': case 'log1p': case 'tanh': case 'logistic': case 'erf': case 'sin': case 'cos':
              mathUsed.add(x.op);
              return m.call(`v_${x.op}`, [a], binaryen.v128);
            default: throw new Error(`gemm epilogue: unary ${x.op}`);
          }
        }
        case 'bin': {
          const a = tr(x.a), b = tr(x.b);
          switch (x.op) {
            case 'add': return m.f32x4.add(a, b);
            case 'sub': return m.f32x4.sub(a, b);
            case 'mul': return m.f32x4.mul(a, b);
            case 'div': return m.f32x4.div(a, b);
            case 'max': return m.f32x4.max(a, b);
            case 'min': return m.f32x4.min(a, b);
            default: throw new Error(`gemm epilogue: binary ${x.op}`);
          }
        }
        case 'cmp': {
          const a = tr(x.a), b = tr(x.b);
          return (m.f32x4 as unknown as Record<string, (p: Ref, q: Ref) => Ref>)[x.op]!(a, b);
        }
        case 'sel': return m.v128.bitselect(tr(x.a), tr(x.b), tr(x.c));
        case 'cast': return tr(x.a);
        default: throw new Error(`gemm epilogue: ${x.k} is not supported`);
      }
    };
    return tr(e);
  };
}
