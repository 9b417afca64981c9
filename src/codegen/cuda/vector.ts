/**
 * Planning for 4-wide vectorized loops in the PTX emitter: which `vector`-annotated loops are
 * emitted 4 iterations per step (ld.global.v4.f32 / st.global.v4.f32 for contiguous f32 accesses,
 * 4 scalar registers per value for the math, a scalar tail for the remainder), and the alignment
 * reasoning that makes a v4 access legal. A v4 access needs its byte address 16-aligned; the
 * device allocation is 256-aligned (cuMemAlloc) and buffer offsets are checked here, so what is
 * left to prove is that the element index is a multiple of 4 whenever the loop variable is.
 * Vectorizing must not change results: iterations stay independent scalar computations (lanes),
 * and reductions into accumulators declared outside the loop combine lane by lane in iteration
 * order, exactly as the scalar loop does.
 */
import type { Expr, Stmt } from '../kernel_ir.js';
import { strideOf, type Sym } from '../symbolic.js';
import type { PtxEnv } from './ptx.js';

export const LANES = 4;

type ForStmt = Extract<Stmt, { k: 'for' }>;

/** Whether `s` depends on the variable `v` (directly or inside div/mod/min/max atoms). */
export function mentions(s: Sym, v: string): boolean {
  return strideOf(s, v) !== 0;
}

/**
 * Whether element `at` of a buffer at byte offset `base` may be accessed as one 16-byte vector
 * (4 consecutive f32 starting at `at`) at every step where `v` is a multiple of 4: the index
 * walks `v` with stride 1 and every other part of it (the constant, each other term's
 * coefficient times an unknown integer) is a multiple of 4, and the buffer itself is 16-aligned.
 */
export function v4Aligned(at: Sym, v: string, base: number): boolean {
  if (base % 16 !== 0) return false;
  if (strideOf(at, v) !== 1) return false;
  if (at.c % 4 !== 0) return false;
  return at.terms.every((t) => (t.atom.k === 'var' && t.atom.name === v) || t.coef % 4 === 0);
}

/** What the emitter needs to know about a loop it vectorizes. */
export interface VectorPlan {
  /** Locals declared inside the body: one register per lane. */
  readonly laneLocals: ReadonlySet<string>;
  /** Accumulators declared outside the body (combined lane by lane in iteration order). */
  readonly outerAccums: ReadonlySet<string>;
  /** Accesses that become v4 loads/stores (at least one, or the loop is not worth vectorizing). */
  readonly v4Accesses: number;
}

function visitExpr(e: Expr, f: (x: Expr) => void): void {
  f(e);
  switch (e.k) {
    case 'un': case 'cast': visitExpr(e.a, f); break;
    case 'bin': case 'cmp': visitExpr(e.a, f); visitExpr(e.b, f); break;
    case 'sel': visitExpr(e.c, f); visitExpr(e.a, f); visitExpr(e.b, f); break;
    case 'loadx': visitExpr(e.at, f); break;
    case 'rng': visitExpr(e.k0, f); visitExpr(e.k1, f); break;
    case 'requant': visitExpr(e.a, f); visitExpr(e.m, f); visitExpr(e.s, f); break;
    default: break;
  }
}

/**
 * Plans the vectorization of a `vector`-annotated loop, or undefined when it must (or need not)
 * stay scalar: too short, data-dependent accesses (gather/scatter could alias what the lanes
 * reorder), nested loops whose trip count depends on the lane, `set` of outer locals, reductions
 * into outer locals that are not the whole body (interleaving them with other statements across
 * lanes would reorder effects), or no access that can use a 16-byte vector.
 */
export function planVector(s: ForStmt, env: PtxEnv): VectorPlan | undefined {
  if (!s.vector || s.vector < LANES || s.n < LANES) return undefined;
  const v = s.v;
  const laneLocals = new Set<string>();
  const outerAccums = new Set<string>();
  let ok = true;
  let v4 = 0;
  let nestedOrOther = false;
  const reads = new Set<string>();
  const checkExpr = (e: Expr) => visitExpr(e, (x) => {
    if (x.k === 'loadx' || x.k === 'acc') ok = false;
    else if (x.k === 'local') reads.add(x.name);
    else if (x.k === 'load' && env.dtype(x.buf) === 'f32' && v4Aligned(x.at, v, env.addr(x.buf))) v4++;
  });
  const walk = (ss: readonly Stmt[], depth: number) => {
    for (const st of ss) {
      switch (st.k) {
        case 'for':
          nestedOrOther = true;
          if (st.end && mentions(st.end, v)) ok = false;
          walk(st.body, depth + 1);
          break;
        case 'store':
          nestedOrOther = true;
          checkExpr(st.val);
          if (env.dtype(st.buf) === 'f32' && v4Aligned(st.at, v, env.addr(st.buf))) v4++;
          break;
        case 'decl': nestedOrOther = true; laneLocals.add(st.name); checkExpr(st.init); break;
        case 'set':
          nestedOrOther = true;
          if (!laneLocals.has(st.name)) ok = false;
          checkExpr(st.val);
          break;
        case 'accum':
          checkExpr(st.val);
          if (laneLocals.has(st.name)) { nestedOrOther = true; break; }
          // An outer accumulator: only at the top of the body, one statement per accumulator.
          if (depth > 0 || outerAccums.has(st.name)) ok = false;
          outerAccums.add(st.name);
          break;
        case 'storex': case 'gemm': case 'conv2d': case 'gemm_i8': ok = false; break;
      }
    }
  };
  walk(s.body, 0);
  if (outerAccums.size > 0) {
    if (nestedOrOther) ok = false;
    // A lane's value must not see the other lanes' updates of an accumulator (the scalar loop
    // would, in a different order).
    for (const name of outerAccums) if (reads.has(name)) ok = false;
  }
  if (!ok || v4 === 0) return undefined;
  return { laneLocals, outerAccums, v4Accesses: v4 };
}
