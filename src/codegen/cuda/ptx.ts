/**
 * Kernel IR -> one PTX `.entry <name>(.param .u64 mem, .param .u32 start, .param .u32 end)`.
 * `mem` is the device copy of the program's memory image (weights at their offsets, then the
 * arena), so a buffer is `mem + offset` with the offset folded into each address. Work items
 * [start, end) are strided over the grid. Two mappings, chosen per kernel (`planWarp`):
 * - thread: one thread runs a whole work item, inner loops sequential;
 * - warp: a warp runs one work item and its 32 lanes split each top-level loop (coalesced rows),
 *   reductions finish with a shfl.sync butterfly, row-level stores are done by lane 0.
 * Expressions become straight-line code over fresh virtual registers (ptxas allocates and CSEs);
 * semantics follow the WebAssembly emitter and the interpreter: XLA integer division
 * (x/0 = -1, INT_MIN/-1 = INT_MIN), saturating float->int casts, NaN-propagating max/min,
 * Threefry-2x32-20 random bits.
 */
import { byteSize, type DType } from '../../ir/dtype.js';
import type { Expr, Kernel, ReduceOp, ScalarType, Stmt } from '../kernel_ir.js';
import type { Atom, Sym } from '../symbolic.js';
import { LANES, mentions, planVector, v4Aligned, type VectorPlan } from './vector.js';
import { ptxMath, ptxPow, ptxLog, ptxSinCos } from './math.js';
import { f32Lit, PtxBuilder } from './ptx_builder.js';

export interface PtxEnv {
  /** Byte offset of a buffer in the device memory image. */
  addr(buf: number): number;
  dtype(buf: number): DType;
}

/** How the runtime launches one kernel: grid and block sizes (x, y, z). */
export interface PtxLaunch {
  readonly name: string;
  readonly grid: readonly [number, number, number];
  readonly block: readonly [number, number, number];
  /** Threads cooperating on one work item (1: thread mapping, 32: warp mapping, 0: gemm tiles). */
  readonly threadsPerItem: number;
}

export interface PtxKernel {
  readonly text: string;
  readonly launch: PtxLaunch;
}

export const BLOCK = 256;
/** Grid cap: kernels stride over their work, so more blocks than this only add scheduling cost. */
export const MAX_GRID = 65536;

/** A computed scalar: its register and kernel-IR type (bool lives in a b32 register as 0/1). */
export interface Val {
  readonly reg: string;
  readonly t: ScalarType;
}

const exprType = (e: Expr): ScalarType => (e.k === 'index' ? 'i32' : e.t);

const IDENTITY: Record<ScalarType, Record<ReduceOp, number>> = {
  f32: { sum: 0, prod: 1, max: -Infinity, min: Infinity },
  i32: { sum: 0, prod: 1, max: -2147483648, min: 2147483647 },
  bool: { sum: 0, prod: 1, max: 0, min: 1 },
};

/**
 * The body of a vectorized loop is emitted once per statement for 4 lanes (iterations v+0..v+3):
 * `lane` selects which iteration's registers the loop variable and lane locals resolve to.
 */
export interface LaneCtx {
  /** The vectorized loop's variable. */
  readonly v: string;
  /** Registers holding v+0 .. v+3. */
  readonly regs: readonly string[];
  readonly plan: VectorPlan;
  lane: number;
}

/**
 * Emits statements and expressions of one kernel into a builder. Registers for loop variables and
 * locals live in maps; expression values are memoized per statement (one straight-line block),
 * by Expr identity and by Sym key, so shared subtrees are computed once. Inside a vectorized loop
 * values that depend on the lane are memoized per lane, the others (invariant loads included)
 * once for all lanes, and contiguous aligned f32 loads are one ld.global.v4.f32 for the 4 lanes.
 */
export class PtxEmitter {
  readonly vars = new Map<string, string>();
  readonly locals = new Map<string, Val>();
  /** Register of the gemm accumulator while emitting an epilogue. */
  acc: string | undefined;
  private memo = new Map<Expr, Val>();
  private symMemo = new Map<string, string>();
  private vec: LaneCtx | undefined;
  /** Per-lane registers of locals declared inside the vectorized body. */
  private readonly laneLocals = new Map<string, Val[]>();
  private laneMemo: Map<Expr, Val>[] = [];
  private laneSymMemo: Map<string, string>[] = [];
  private laneDepMemo = new Map<Expr, boolean>();
  /** The 4 lane registers of each v4 load issued in this straight-line region, by buffer and index. */
  private vloads = new Map<string, string[]>();

  constructor(readonly b: PtxBuilder, readonly env: PtxEnv, readonly mem: string) {}

  /** Start a new straight-line region: memoized values may not dominate what follows. */
  resetMemo(): void {
    this.memo = new Map();
    this.symMemo = new Map();
    this.laneMemo = Array.from({ length: LANES }, () => new Map());
    this.laneSymMemo = Array.from({ length: LANES }, () => new Map());
    this.vloads = new Map();
  }

  // ---- vectorized loop bodies ----

  get lanes(): LaneCtx | undefined {
    return this.vec;
  }

  /** Enter (ctx) or leave (undefined) a vectorized loop body. */
  setLanes(ctx: LaneCtx | undefined): void {
    this.vec = ctx;
    this.laneDepMemo = new Map();
    if (!ctx) this.laneLocals.clear();
    this.resetMemo();
    if (ctx) this.setLane(0);
  }

  setLane(j: number): void {
    const c = this.vec!;
    c.lane = j;
    this.vars.set(c.v, c.regs[j]!);
  }

  /** Run `f` for each lane in order (loop variable and lane locals bound to that iteration). */
  eachLane<T>(f: (lane: number) => T): T[] {
    const out: T[] = [];
    for (let j = 0; j < LANES; j++) { this.setLane(j); out.push(f(j)); }
    this.setLane(0);
    return out;
  }

  declareLaneLocal(name: string, vals: Val[]): void {
    this.laneLocals.set(name, vals);
  }

  laneLocal(name: string): Val[] | undefined {
    return this.vec ? this.laneLocals.get(name) : undefined;
  }

  /** Whether element `at` of `buf` is accessed with a 16-byte vector in the current vectorized body. */
  isV4(buf: number, at: Sym): boolean {
    return this.vec !== undefined && this.env.dtype(buf) === 'f32' && v4Aligned(at, this.vec.v, this.env.addr(buf));
  }

  /** st.global.v4.f32 of the 4 lanes' values at element `at` (lane 0's index) of `buf`. */
  storeV4(buf: number, at: Sym, vals: readonly Val[]): void {
    const regs = vals.map((v) => this.convert(v, 'f32').reg);
    this.setLane(0);
    const addr = this.address(buf, this.sym(at));
    this.b.op(`st.global.v4.f32 ${addr}, {${regs.join(', ')}}`);
  }

  private loadV4(buf: number, at: Sym): string[] {
    const key = `${buf}|${at.key}`;
    const hit = this.vloads.get(key);
    if (hit) return hit;
    const c = this.vec!;
    const lane = c.lane;
    this.setLane(0);
    const addr = this.address(buf, this.sym(at));
    this.setLane(lane);
    const regs = Array.from({ length: LANES }, () => this.b.reg('f'));
    this.b.op(`ld.global.v4.f32 {${regs.join(', ')}}, ${addr}`);
    this.vloads.set(key, regs);
    return regs;
  }

  /** Whether `e` differs between the lanes of the current vectorized body. */
  private laneDep(e: Expr): boolean {
    const c = this.vec!;
    const hit = this.laneDepMemo.get(e);
    if (hit !== undefined) return hit;
    let r: boolean;
    switch (e.k) {
      case 'const': case 'acc': r = false; break;
      case 'index': r = mentions(e.s, c.v); break;
      case 'load': r = mentions(e.at, c.v); break;
      case 'loadx': r = this.laneDep(e.at); break;
      case 'local': r = this.laneLocals.has(e.name) || c.plan.laneLocals.has(e.name) || c.plan.outerAccums.has(e.name); break;
      case 'un': case 'cast': r = this.laneDep(e.a); break;
      case 'bin': case 'cmp': r = this.laneDep(e.a) || this.laneDep(e.b); break;
      case 'sel': r = this.laneDep(e.c) || this.laneDep(e.a) || this.laneDep(e.b); break;
      case 'rng': r = mentions(e.counter, c.v) || this.laneDep(e.k0) || this.laneDep(e.k1); break;
      case 'requant': r = this.laneDep(e.a) || this.laneDep(e.m) || this.laneDep(e.s); break;
    }
    this.laneDepMemo.set(e, r);
    return r;
  }

  // ---- addresses ----

  /** 64-bit address of element `idx` (an s32 register) of `buf`, with the byte offset as immediate. */
  address(buf: number, idx: string): string {
    const b = this.b;
    const size = byteSize(this.env.dtype(buf));
    const off = b.reg('rd');
    b.op(`mul.wide.s32 ${off}, ${idx}, ${size}`);
    const a = b.reg('rd');
    b.op(`add.s64 ${a}, ${this.mem}, ${off}`);
    const base = this.env.addr(buf);
    if (base === 0) return `[${a}]`;
    if (base < 2 ** 31) return `[${a}+${base}]`;
    const a2 = b.reg('rd');
    b.op(`add.s64 ${a2}, ${a}, ${base}`);
    return `[${a2}]`;
  }

  load(buf: number, idx: string, t: ScalarType): Val {
    const b = this.b;
    const at = this.address(buf, idx);
    const dt = this.env.dtype(buf);
    let v: Val;
    switch (dt) {
      case 'f32': v = { reg: b.f((d) => `ld.global.f32 ${d}, ${at}`), t: 'f32' }; break;
      case 'i32': v = { reg: b.r((d) => `ld.global.b32 ${d}, ${at}`), t: 'i32' }; break;
      case 'i8': v = { reg: b.r((d) => `ld.global.s8 ${d}, ${at}`), t: 'i32' }; break;
      case 'u8': v = { reg: b.r((d) => `ld.global.u8 ${d}, ${at}`), t: 'i32' }; break;
      case 'bool': {
        const raw = b.r((d) => `ld.global.u8 ${d}, ${at}`);
        v = { reg: b.r((d) => `min.u32 ${d}, ${raw}, 1`), t: 'bool' };
        break;
      }
      case 'f16': {
        const h = b.reg('h');
        b.op(`ld.global.b16 ${h}, ${at}`);
        v = { reg: b.f((d) => `cvt.f32.f16 ${d}, ${h}`), t: 'f32' };
        break;
      }
      case 'bf16': {
        const raw = b.r((d) => `ld.global.u16 ${d}, ${at}`);
        const sh = b.r((d) => `shl.b32 ${d}, ${raw}, 16`);
        v = { reg: b.f((d) => `mov.b32 ${d}, ${sh}`), t: 'f32' };
        break;
      }
    }
    return this.convert(v, t);
  }

  store(buf: number, idx: string, val: Val): void {
    const b = this.b;
    const dt = this.env.dtype(buf);
    switch (dt) {
      case 'f32': { const v = this.convert(val, 'f32'); b.op(`st.global.f32 ${this.address(buf, idx)}, ${v.reg}`); return; }
      case 'i32': { const v = this.convert(val, 'i32'); b.op(`st.global.b32 ${this.address(buf, idx)}, ${v.reg}`); return; }
      case 'i8': case 'u8': case 'bool': {
        const v = this.convert(val, dt === 'bool' ? 'bool' : 'i32');
        b.op(`st.global.u8 ${this.address(buf, idx)}, ${v.reg}`);
        return;
      }
      case 'f16': case 'bf16': {
        const v = this.convert(val, 'f32');
        const h = b.reg('h');
        b.op(`cvt.rn.${dt}.f32 ${h}, ${v.reg}`);
        b.op(`st.global.b16 ${this.address(buf, idx)}, ${h}`);
        return;
      }
    }
  }

  /** Value conversion between kernel scalar types (the implicit ones loads and stores need). */
  convert(v: Val, t: ScalarType): Val {
    const b = this.b;
    if (v.t === t) return v;
    if (t === 'f32') return { reg: b.f((d) => `cvt.rn.f32.s32 ${d}, ${v.reg}`), t };
    if (t === 'bool') {
      const p = v.t === 'f32' ? b.p((d) => `setp.neu.f32 ${d}, ${v.reg}, 0f00000000`) : b.p((d) => `setp.ne.s32 ${d}, ${v.reg}, 0`);
      return { reg: b.r((d) => `selp.u32 ${d}, 1, 0, ${p}`), t };
    }
    if (v.t === 'f32') return { reg: b.r((d) => `cvt.rzi.s32.f32 ${d}, ${v.reg}`), t };
    return { reg: v.reg, t };
  }

  // ---- index expressions ----

  sym(s: Sym): string {
    const memo = this.vec && mentions(s, this.vec.v) ? this.laneSymMemo[this.vec.lane]! : this.symMemo;
    const hit = memo.get(s.key);
    if (hit) return hit;
    const b = this.b;
    let acc: string | undefined;
    for (const t of s.terms) {
      const a = this.atom(t.atom);
      if (acc === undefined) {
        acc = t.coef === 1 ? a : b.r((d) => `mul.lo.s32 ${d}, ${a}, ${t.coef}`);
      } else {
        const prev = acc;
        acc = t.coef === 1 ? b.r((d) => `add.s32 ${d}, ${prev}, ${a}`) : b.r((d) => `mad.lo.s32 ${d}, ${a}, ${t.coef}, ${prev}`);
      }
    }
    let out: string;
    if (acc === undefined) out = b.r((d) => `mov.u32 ${d}, ${s.c | 0}`);
    else if (s.c !== 0) { const prev = acc; out = b.r((d) => `add.s32 ${d}, ${prev}, ${s.c | 0}`); }
    else out = acc;
    memo.set(s.key, out);
    return out;
  }

  private atom(a: Atom): string {
    const b = this.b;
    switch (a.k) {
      case 'var': {
        const r = this.vars.get(a.name);
        if (r === undefined) throw new Error(`ptx: unknown loop variable ${a.name}`);
        return r;
      }
      case 'div': {
        const x = this.sym(a.a);
        if (a.a.lo >= 0) return b.r((d) => `div.u32 ${d}, ${x}, ${a.c}`);
        // floor division for possibly negative values: (x - (c-1)) / c when x < 0
        const neg = b.p((d) => `setp.lt.s32 ${d}, ${x}, 0`);
        const adj = b.r((d) => `sub.s32 ${d}, ${x}, ${a.c - 1}`);
        const y = b.r((d) => `selp.b32 ${d}, ${adj}, ${x}, ${neg}`);
        return b.r((d) => `div.s32 ${d}, ${y}, ${a.c}`);
      }
      case 'mod': {
        const x = this.sym(a.a);
        if (a.a.lo >= 0) return b.r((d) => `rem.u32 ${d}, ${x}, ${a.c}`);
        const r = b.r((d) => `rem.s32 ${d}, ${x}, ${a.c}`);
        const neg = b.p((d) => `setp.lt.s32 ${d}, ${r}, 0`);
        const adj = b.r((d) => `add.s32 ${d}, ${r}, ${a.c}`);
        return b.r((d) => `selp.b32 ${d}, ${adj}, ${r}, ${neg}`);
      }
      case 'min': case 'max': {
        const x = this.sym(a.a), y = this.sym(a.b);
        return b.r((d) => `${a.k}.s32 ${d}, ${x}, ${y}`);
      }
    }
  }

  // ---- value expressions ----

  expr(e: Expr): Val {
    if (e.k === 'local' || e.k === 'acc') return this.exprDirect(e);
    const memo = this.vec && this.laneDep(e) ? this.laneMemo[this.vec.lane]! : this.memo;
    const hit = memo.get(e);
    if (hit) return hit;
    const v = this.exprDirect(e);
    memo.set(e, v);
    return v;
  }

  private exprDirect(e: Expr): Val {
    const b = this.b;
    switch (e.k) {
      case 'const':
        if (e.t === 'f32') return { reg: b.f((d) => `mov.f32 ${d}, ${f32Lit(e.v)}`), t: 'f32' };
        return { reg: b.r((d) => `mov.u32 ${d}, ${e.t === 'bool' ? (e.v ? 1 : 0) : e.v | 0}`), t: e.t };
      case 'index': return { reg: this.sym(e.s), t: 'i32' };
      case 'load':
        if (this.isV4(e.buf, e.at)) return this.convert({ reg: this.loadV4(e.buf, e.at)[this.vec!.lane]!, t: 'f32' }, e.t);
        return this.load(e.buf, this.sym(e.at), e.t);
      case 'loadx': return this.load(e.buf, this.convert(this.expr(e.at), 'i32').reg, e.t);
      case 'local': {
        const lanes = this.laneLocal(e.name);
        if (lanes) return this.convert(lanes[this.vec!.lane]!, e.t);
        const l = this.locals.get(e.name);
        if (!l) throw new Error(`ptx: unknown local ${e.name}`);
        return this.convert(l, e.t);
      }
      case 'acc':
        if (this.acc === undefined) throw new Error('ptx: acc outside a gemm epilogue');
        return { reg: this.acc, t: 'f32' };
      case 'un': return this.unary(e.op, this.expr(e.a), e.t);
      case 'bin': return this.binary(e.op, this.expr(e.a), this.expr(e.b), e.t);
      case 'cmp': {
        const ta = exprType(e.a);
        const a = this.expr(e.a), c = this.convert(this.expr(e.b), a.t);
        // Ordered compares are false on NaN; `ne` is the unordered one (NaN != x), as in JS.
        const op = ta === 'f32' ? (e.op === 'ne' ? 'neu' : e.op) : e.op;
        const p = b.p((d) => `setp.${op}.${ta === 'f32' ? 'f32' : 's32'} ${d}, ${a.reg}, ${c.reg}`);
        return { reg: b.r((d) => `selp.u32 ${d}, 1, 0, ${p}`), t: 'bool' };
      }
      case 'sel': {
        const c = this.expr(e.c);
        const p = b.p((d) => `setp.ne.b32 ${d}, ${c.reg}, 0`);
        const x = this.convert(this.expr(e.a), e.t), y = this.convert(this.expr(e.b), e.t);
        if (e.t === 'f32') return { reg: b.f((d) => `selp.f32 ${d}, ${x.reg}, ${y.reg}, ${p}`), t: e.t };
        return { reg: b.r((d) => `selp.b32 ${d}, ${x.reg}, ${y.reg}, ${p}`), t: e.t };
      }
      case 'cast': return this.cast(this.expr(e.a), e.to, e.t);
      case 'rng': return this.rng(e);
      case 'requant': throw new Error('ptx: requantize (int8) is not lowered for the CUDA target yet');
    }
  }

  combine(op: ReduceOp | 'add' | 'sub' | 'mul' | 'div' | 'max' | 'min' | 'and' | 'or', a: Val, c: Val, t: ScalarType): Val {
    const b = this.b;
    const x = this.convert(a, t), y = this.convert(c, t);
    if (t === 'f32') {
      switch (op) {
        case 'sum': case 'add': return { reg: b.f((d) => `add.rn.f32 ${d}, ${x.reg}, ${y.reg}`), t };
        case 'sub': return { reg: b.f((d) => `sub.rn.f32 ${d}, ${x.reg}, ${y.reg}`), t };
        case 'prod': case 'mul': return { reg: b.f((d) => `mul.rn.f32 ${d}, ${x.reg}, ${y.reg}`), t };
        case 'div': return { reg: b.f((d) => `div.rn.f32 ${d}, ${x.reg}, ${y.reg}`), t };
        // .NaN: NaN in either operand gives NaN, like Math.max and WebAssembly f32.max.
        case 'max': return { reg: b.f((d) => `max.NaN.f32 ${d}, ${x.reg}, ${y.reg}`), t };
        case 'min': return { reg: b.f((d) => `min.NaN.f32 ${d}, ${x.reg}, ${y.reg}`), t };
        default: throw new Error(`ptx: f32 ${op}`);
      }
    }
    switch (op) {
      case 'sum': case 'add': return { reg: b.r((d) => `add.s32 ${d}, ${x.reg}, ${y.reg}`), t };
      case 'sub': return { reg: b.r((d) => `sub.s32 ${d}, ${x.reg}, ${y.reg}`), t };
      case 'prod': case 'mul': return { reg: b.r((d) => `mul.lo.s32 ${d}, ${x.reg}, ${y.reg}`), t };
      case 'max': return { reg: b.r((d) => `max.s32 ${d}, ${x.reg}, ${y.reg}`), t };
      case 'min': return { reg: b.r((d) => `min.s32 ${d}, ${x.reg}, ${y.reg}`), t };
      case 'and': return { reg: b.r((d) => `and.b32 ${d}, ${x.reg}, ${y.reg}`), t };
      case 'or': return { reg: b.r((d) => `or.b32 ${d}, ${x.reg}, ${y.reg}`), t };
      case 'div': {
        // XLA semantics, as the interpreter: x / 0 = -1 and INT_MIN / -1 = INT_MIN.
        const zero = b.p((d) => `setp.eq.s32 ${d}, ${y.reg}, 0`);
        const mone = b.p((d) => `setp.eq.s32 ${d}, ${y.reg}, -1`);
        const special = b.p((d) => `or.pred ${d}, ${zero}, ${mone}`);
        const safe = b.r((d) => `selp.b32 ${d}, 1, ${y.reg}, ${special}`);
        const q = b.r((d) => `div.s32 ${d}, ${x.reg}, ${safe}`);
        const negx = b.r((d) => `neg.s32 ${d}, ${x.reg}`);
        const q1 = b.r((d) => `selp.b32 ${d}, ${negx}, ${q}, ${mone}`);
        return { reg: b.r((d) => `selp.b32 ${d}, -1, ${q1}, ${zero}`), t };
      }
    }
  }

  private binary(op: string, a: Val, c: Val, t: ScalarType): Val {
    const b = this.b;
    if (op === 'pow') {
      const x = this.convert(a, 'f32'), y = this.convert(c, 'f32');
      const r = ptxPow(b, x.reg, y.reg);
      if (t === 'f32') return { reg: r, t };
      return { reg: b.r((d) => `cvt.rni.s32.f32 ${d}, ${r}`), t };
    }
    return this.combine(op as 'add', a, c, t);
  }

  private unary(op: string, a0: Val, t: ScalarType): Val {
    const b = this.b;
    if (t === 'f32') {
      const a = this.convert(a0, 'f32').reg;
      const f = (text: (d: string) => string): Val => ({ reg: b.f(text), t });
      switch (op) {
        case 'neg': return f((d) => `neg.f32 ${d}, ${a}`);
        case 'abs': return f((d) => `abs.f32 ${d}, ${a}`);
        case 'sqrt': return f((d) => `sqrt.rn.f32 ${d}, ${a}`);
        case 'rsqrt': { const s = b.f((d) => `sqrt.rn.f32 ${d}, ${a}`); return f((d) => `div.rn.f32 ${d}, 0f3F800000, ${s}`); }
        case 'floor': return f((d) => `cvt.rmi.f32.f32 ${d}, ${a}`);
        case 'ceil': return f((d) => `cvt.rpi.f32.f32 ${d}, ${a}`);
        case 'round': return f((d) => `cvt.rni.f32.f32 ${d}, ${a}`);
        case 'sign': {
          const pos = b.p((d) => `setp.gt.f32 ${d}, ${a}, 0f00000000`);
          const neg = b.p((d) => `setp.lt.f32 ${d}, ${a}, 0f00000000`);
          const s1 = b.f((d) => `selp.f32 ${d}, 0fBF800000, ${a}, ${neg}`);
          return f((d) => `selp.f32 ${d}, 0f3F800000, ${s1}, ${pos}`);
        }
        case 'exp': case 'log': case 'log1p': case 'tanh': case 'logistic': case 'erf': case 'sin': case 'cos':
          return { reg: ptxMath(b, op, a), t };
        default: throw new Error(`ptx: f32 ${op}`);
      }
    }
    const a = this.convert(a0, t).reg;
    const r = (text: (d: string) => string): Val => ({ reg: b.r(text), t });
    switch (op) {
      case 'neg': return r((d) => `neg.s32 ${d}, ${a}`);
      case 'abs': return r((d) => `abs.s32 ${d}, ${a}`);
      case 'sign': {
        const pos = b.p((d) => `setp.gt.s32 ${d}, ${a}, 0`);
        const neg = b.p((d) => `setp.lt.s32 ${d}, ${a}, 0`);
        const s1 = b.r((d) => `selp.b32 ${d}, -1, 0, ${neg}`);
        return r((d) => `selp.b32 ${d}, 1, ${s1}, ${pos}`);
      }
      case 'not': return t === 'bool' ? r((d) => `xor.b32 ${d}, ${a}, 1`) : r((d) => `not.b32 ${d}, ${a}`);
      case 'floor': case 'ceil': case 'round': return { reg: a, t };
      default: throw new Error(`ptx: ${t} ${op}`);
    }
  }

  private cast(a: Val, to: DType, t: ScalarType): Val {
    const b = this.b;
    if (to === 'f32') return this.convert(a, 'f32');
    if (to === 'f16' || to === 'bf16') {
      // Round to the narrow type's precision and back: the value is computed in f32.
      const f = this.convert(a, 'f32');
      const h = b.reg('h');
      b.op(`cvt.rn.${to}.f32 ${h}, ${f.reg}`);
      if (to === 'f16') return { reg: b.f((d) => `cvt.f32.f16 ${d}, ${h}`), t: 'f32' };
      const u = b.r((d) => `cvt.u32.u16 ${d}, ${h}`);
      const sh = b.r((d) => `shl.b32 ${d}, ${u}, 16`);
      return { reg: b.f((d) => `mov.b32 ${d}, ${sh}`), t: 'f32' };
    }
    if (to === 'bool') return this.convert(a, 'bool');
    // cvt.rzi.s32.f32 truncates, saturates and maps NaN to 0, like i32.trunc_sat_f32_s.
    const i = a.t === 'f32' ? b.r((d) => `cvt.rzi.s32.f32 ${d}, ${a.reg}`) : a.reg;
    let out = i;
    if (to === 'i8') {
      const s = b.r((d) => `shl.b32 ${d}, ${i}, 24`);
      out = b.r((d) => `shr.s32 ${d}, ${s}, 24`);
    } else if (to === 'u8') {
      out = b.r((d) => `and.b32 ${d}, ${i}, 255`);
    }
    return this.convert({ reg: out, t: 'i32' }, t);
  }

  /** Threefry-2x32 with 20 rounds (Random123), counter (i, 0), key (k0, k1): bit-exact with ir/rng.ts. */
  private rng(e: Extract<Expr, { k: 'rng' }>): Val {
    const b = this.b;
    const R = [13, 15, 26, 6, 17, 29, 16, 24];
    const k0 = this.convert(this.expr(e.k0), 'i32').reg, k1 = this.convert(this.expr(e.k1), 'i32').reg;
    const kx = b.r((d) => `xor.b32 ${d}, ${k0}, ${k1}`);
    const k2 = b.r((d) => `xor.b32 ${d}, ${kx}, ${0x1bd11bda}`);
    const ks = [k0, k1, k2];
    const ctr = this.sym(e.counter);
    let x0 = b.r((d) => `add.s32 ${d}, ${ctr}, ${k0}`);
    let x1 = k1;
    for (let r = 0; r < 20; r++) {
      const a0 = x0, a1 = x1;
      x0 = b.r((d) => `add.s32 ${d}, ${a0}, ${a1}`);
      const rot = b.r((d) => `shf.l.wrap.b32 ${d}, ${a1}, ${a1}, ${R[r % 8]}`);
      const n0 = x0;
      x1 = b.r((d) => `xor.b32 ${d}, ${rot}, ${n0}`);
      if (r % 4 === 3) {
        const s = (r + 1) / 4;
        const p0 = x0, p1 = x1;
        x0 = b.r((d) => `add.s32 ${d}, ${p0}, ${ks[s % 3]}`);
        const t1 = b.r((d) => `add.s32 ${d}, ${p1}, ${ks[(s + 1) % 3]}`);
        x1 = b.r((d) => `add.s32 ${d}, ${t1}, ${s}`);
      }
    }
    const unit = (x: string, plus: number) => {
      const sh = b.r((d) => `shr.u32 ${d}, ${x}, 9`);
      const s2 = plus ? b.r((d) => `add.s32 ${d}, ${sh}, ${plus}`) : sh;
      const f = b.f((d) => `cvt.rn.f32.u32 ${d}, ${s2}`);
      return b.f((d) => `mul.rn.f32 ${d}, ${f}, ${f32Lit(1 / 8388608)}`);
    };
    const fx0 = x0, fx1 = x1;
    if (e.dist === 'uniform') return { reg: unit(fx0, 0), t: 'f32' };
    // Box-Muller: u1 in (0, 1], u2 in [0, 1)
    const u1 = unit(fx0, 1);
    const lu = ptxLog(b, u1);
    const m2 = b.f((d) => `mul.rn.f32 ${d}, ${lu}, 0fC0000000`);
    const radius = b.f((d) => `sqrt.rn.f32 ${d}, ${m2}`);
    const u2 = unit(fx1, 0);
    const ang = b.f((d) => `mul.rn.f32 ${d}, ${u2}, ${f32Lit(2 * Math.PI)}`);
    const c = ptxSinCos(b, ang, 'cos');
    return { reg: b.f((d) => `mul.rn.f32 ${d}, ${radius}, ${c}`), t: 'f32' };
  }
}

// ---- statements and the kernel ----

/** Which top-level loops a warp splits across its lanes, and what to reduce after each. */
export interface WarpPlan {
  readonly split: Map<Stmt, { name: string; op: ReduceOp }[]>;
}

/** Below this inner extent a warp per work item wastes lanes. */
const WARP_MIN_EXTENT = 32;

/**
 * The warp mapping applies when every top-level loop can be split across lanes: its iterations
 * are independent except for accumulations into locals declared at top level with the identity as
 * initial value (the lanes' partial results then combine exactly like a longer reduction), and
 * no data-dependent stores (scatter read-modify-write is not safe to split or repeat).
 */
export function planWarp(k: Kernel): WarpPlan | undefined {
  const top = k.body;
  const decls = new Map<string, Extract<Stmt, { k: 'decl' }>>();
  const accumBy = new Map<string, Stmt>();
  const split = new Map<Stmt, { name: string; op: ReduceOp }[]>();
  let longest = 0;
  for (const s of top) {
    switch (s.k) {
      case 'decl': decls.set(s.name, s); break;
      case 'store': break;
      case 'set': if (accumBy.has(s.name)) return undefined; break;
      case 'accum': return undefined;
      case 'storex': case 'gemm': case 'conv2d': case 'gemm_i8': return undefined;
      case 'for': {
        const reds: { name: string; op: ReduceOp }[] = [];
        let ok = true;
        const inner = new Set<string>();
        const visit = (ss: readonly Stmt[]) => {
          for (const x of ss) {
            if (x.k === 'decl') inner.add(x.name);
            else if (x.k === 'storex' || x.k === 'gemm') ok = false;
            else if (x.k === 'set' && !inner.has(x.name)) ok = false;
            else if (x.k === 'accum' && !inner.has(x.name)) {
              const d = decls.get(x.name);
              const prev = reds.find((r) => r.name === x.name);
              if (!d || d.init.k !== 'const' || d.init.v !== IDENTITY[d.t][x.op] || (prev && prev.op !== x.op) || (accumBy.has(x.name) && accumBy.get(x.name) !== s)) ok = false;
              else if (!prev) { reds.push({ name: x.name, op: x.op }); accumBy.set(x.name, s); }
            } else if (x.k === 'for') visit(x.body);
          }
        };
        visit(s.body);
        if (!ok) return undefined;
        split.set(s, reds);
        longest = Math.max(longest, s.n);
        break;
      }
    }
  }
  if (split.size === 0 || longest < WARP_MIN_EXTENT) return undefined;
  return { split };
}

class KernelPtx {
  private readonly e: PtxEmitter;
  private lane = '';
  private lane0 = '';

  constructor(readonly b: PtxBuilder, readonly k: Kernel, env: PtxEnv, mem: string, readonly warp: WarpPlan | undefined, readonly noVector = false) {
    this.e = new PtxEmitter(b, env, mem);
  }

  emitBody(start: string, end: string): void {
    const b = this.b;
    const tid = b.r((d) => `mov.u32 ${d}, %tid.x`);
    const ctaid = b.r((d) => `mov.u32 ${d}, %ctaid.x`);
    const ntid = b.r((d) => `mov.u32 ${d}, %ntid.x`);
    const nctaid = b.r((d) => `mov.u32 ${d}, %nctaid.x`);
    let gid = b.r((d) => `mad.lo.s32 ${d}, ${ctaid}, ${ntid}, ${tid}`);
    let stride = b.r((d) => `mul.lo.s32 ${d}, ${nctaid}, ${ntid}`);
    if (this.warp) {
      const g = gid, s = stride;
      gid = b.r((d) => `shr.u32 ${d}, ${g}, 5`);
      stride = b.r((d) => `shr.u32 ${d}, ${s}, 5`);
      this.lane = b.r((d) => `and.b32 ${d}, ${tid}, 31`);
      this.lane0 = b.p((d) => `setp.eq.s32 ${d}, ${this.lane}, 0`);
    }
    const w = b.r((d) => `add.s32 ${d}, ${start}, ${gid}`);
    this.e.vars.set('w', w);
    const head = b.newLabel('work'), exit = b.newLabel('done');
    b.label(head);
    const p = b.p((d) => `setp.ge.s32 ${d}, ${w}, ${end}`);
    b.op(`@${p} bra ${exit}`);
    this.stmts(this.k.body, true);
    b.op(`add.s32 ${w}, ${w}, ${stride}`);
    b.op(`bra.uni ${head}`);
    b.label(exit);
    b.op('ret');
  }

  private stmts(ss: readonly Stmt[], top: boolean): void {
    for (const s of ss) {
      this.e.resetMemo();
      if (top && this.warp && (s.k === 'store' || s.k === 'storex')) {
        // Row-level results: every lane holds the same value, lane 0 writes it.
        const skip = this.b.newLabel('lane');
        this.b.op(`@!${this.lane0} bra ${skip}`);
        this.stmt(s, top);
        this.b.label(skip);
      } else {
        this.stmt(s, top);
      }
    }
    this.e.resetMemo();
  }

  private stmt(s: Stmt, top: boolean): void {
    if (this.e.lanes && s.k !== 'for') return this.laneStmt(s);
    const b = this.b, e = this.e;
    switch (s.k) {
      case 'for': return this.forLoop(s, top);
      case 'store': { const v = e.expr(s.val); e.store(s.buf, e.sym(s.at), v); return; }
      case 'storex': {
        const at = e.convert(e.expr(s.at), 'i32');
        const v = e.expr(s.val);
        e.store(s.buf, at.reg, v);
        return;
      }
      case 'decl': {
        const v = e.convert(e.expr(s.init), s.t);
        const reg = b.reg(s.t === 'f32' ? 'f' : 'r');
        b.op(`mov.${s.t === 'f32' ? 'f32' : 'b32'} ${reg}, ${v.reg}`);
        e.locals.set(s.name, { reg, t: s.t });
        return;
      }
      case 'accum': {
        const l = e.locals.get(s.name);
        if (!l) throw new Error(`ptx: unknown accumulator ${s.name}`);
        const v = e.combine(s.op, l, e.expr(s.val), l.t);
        b.op(`mov.${l.t === 'f32' ? 'f32' : 'b32'} ${l.reg}, ${v.reg}`);
        return;
      }
      case 'set': {
        const l = e.locals.get(s.name);
        if (!l) throw new Error(`ptx: unknown local ${s.name}`);
        const v = e.convert(e.expr(s.val), l.t);
        b.op(`mov.${l.t === 'f32' ? 'f32' : 'b32'} ${l.reg}, ${v.reg}`);
        return;
      }
      case 'gemm': case 'conv2d': case 'gemm_i8':
        throw new Error(`ptx: kernel ${this.k.name} mixes a ${s.k} statement with other statements; the CUDA target expects such a kernel to be the statement alone`);
    }
  }

  /** A statement of a vectorized body, for the 4 lanes (planVector admitted only these kinds). */
  private laneStmt(s: Stmt): void {
    const b = this.b, e = this.e;
    const mov = (t: ScalarType) => (t === 'f32' ? 'mov.f32' : 'mov.b32');
    switch (s.k) {
      case 'store': {
        if (e.isV4(s.buf, s.at)) {
          e.storeV4(s.buf, s.at, e.eachLane(() => e.expr(s.val)));
        } else {
          e.eachLane(() => e.store(s.buf, e.sym(s.at), e.expr(s.val)));
        }
        return;
      }
      case 'decl': {
        const vals = e.eachLane(() => {
          const v = e.convert(e.expr(s.init), s.t);
          const reg = b.reg(s.t === 'f32' ? 'f' : 'r');
          b.op(`${mov(s.t)} ${reg}, ${v.reg}`);
          return { reg, t: s.t };
        });
        e.declareLaneLocal(s.name, vals);
        return;
      }
      case 'accum': case 'set': {
        // Lane locals update per lane; an outer accumulator takes the lanes' values in iteration
        // order, one combine at a time, exactly as the scalar loop.
        const lanes = e.laneLocal(s.name);
        const outer = e.locals.get(s.name);
        if (!lanes && (!outer || s.k === 'set')) throw new Error(`ptx: ${s.k} of ${s.name} in a vectorized loop`);
        e.eachLane((j) => {
          const l = lanes ? lanes[j]! : outer!;
          const v = s.k === 'accum' ? e.combine(s.op, l, e.expr(s.val), l.t) : e.convert(e.expr(s.val), l.t);
          b.op(`${mov(l.t)} ${l.reg}, ${v.reg}`);
        });
        return;
      }
      default:
        throw new Error(`ptx: ${s.k} statement in a vectorized loop`);
    }
  }

  private forLoop(s: Extract<Stmt, { k: 'for' }>, top: boolean): void {
    const b = this.b, e = this.e;
    const reds = top ? this.warp?.split.get(s) : undefined;
    const splitLanes = reds !== undefined;
    let end: string;
    if (s.end) {
      const dyn = e.sym(s.end);
      const lim = b.r((d) => `min.s32 ${d}, ${dyn}, ${s.n}`);
      // Clamped at 0 so the vector part's remainder start (end & -4) never precedes 0.
      end = b.r((d) => `max.s32 ${d}, ${lim}, 0`);
    } else {
      end = b.r((d) => `mov.u32 ${d}, ${s.n}`);
    }
    const saved = e.vars.get(s.v);
    // A warp-split reduction stays scalar: the lanes' partial sums would change grouping.
    const plan = e.lanes || (reds && reds.length > 0) || this.noVector ? undefined : planVector(s, e.env);
    let from: string;
    if (plan) {
      const v = b.reg('r');
      // Each thread (or warp lane) starts at a multiple of 4 and steps by whole vectors.
      if (splitLanes) b.op(`shl.b32 ${v}, ${this.lane}, 2`);
      else b.op(`mov.u32 ${v}, 0`);
      const head = b.newLabel('vloop'), exit = b.newLabel('vexit');
      b.label(head);
      const last = b.r((d) => `add.s32 ${d}, ${v}, ${LANES}`);
      const p = b.p((d) => `setp.gt.s32 ${d}, ${last}, ${end}`);
      b.op(`@${p} bra ${exit}`);
      const regs = [v, ...[1, 2, 3].map((k) => b.r((d) => `add.s32 ${d}, ${v}, ${k}`))];
      e.vars.set(s.v, v);
      e.setLanes({ v: s.v, regs, plan, lane: 0 });
      this.stmts(s.body, false);
      e.setLanes(undefined);
      b.op(`add.s32 ${v}, ${v}, ${splitLanes ? 32 * LANES : LANES}`);
      b.op(`bra ${head}`);
      b.label(exit);
      // The scalar remainder: the last (end mod 4) iterations.
      const rest = b.r((d) => `and.b32 ${d}, ${end}, -${LANES}`);
      from = splitLanes ? b.r((d) => `add.s32 ${d}, ${rest}, ${this.lane}`) : rest;
    } else {
      from = splitLanes ? this.lane : '0';
    }
    const v = b.reg('r');
    b.op(`mov.u32 ${v}, ${from}`);
    e.vars.set(s.v, v);
    const head = b.newLabel('loop'), exit = b.newLabel('exit');
    b.label(head);
    const p = b.p((d) => `setp.ge.s32 ${d}, ${v}, ${end}`);
    b.op(`@${p} bra ${exit}`);
    this.stmts(s.body, false);
    b.op(`add.s32 ${v}, ${v}, ${splitLanes ? 32 : 1}`);
    b.op(`bra ${head}`);
    b.label(exit);
    if (saved === undefined) e.vars.delete(s.v); else e.vars.set(s.v, saved);
    // Butterfly: after log2(32) exchanges every lane holds the whole warp's combination.
    for (const r of reds ?? []) {
      const l = e.locals.get(r.name)!;
      for (const off of [16, 8, 4, 2, 1]) {
        const other = b.reg(l.t === 'f32' ? 'f' : 'r');
        b.op(`shfl.sync.bfly.b32 ${other}, ${l.reg}, ${off}, 31, -1`);
        const c = e.combine(r.op, l, { reg: other, t: l.t }, l.t);
        b.op(`mov.${l.t === 'f32' ? 'f32' : 'b32'} ${l.reg}, ${c.reg}`);
      }
    }
  }
}

export interface EmitKernelOptions {
  /** Force a mapping (tests); default: the warp mapping wherever planWarp allows it. */
  readonly mapping?: 'thread' | 'warp';
  /** Emit `vector` loops 4 iterations per step with 16-byte accesses (default true). */
  readonly vectorize?: boolean;
}

/** One `.entry` for a loop-nest kernel (no gemm statements; see gemm.ts for those). */
export function emitLoopKernel(k: Kernel, env: PtxEnv, opts: EmitKernelOptions = {}): PtxKernel {
  const b = new PtxBuilder();
  const warp = opts.mapping === 'thread' ? undefined : planWarp(k);
  if (opts.mapping === 'warp' && !warp) throw new Error(`ptx: kernel ${k.name} cannot use the warp mapping`);
  const memParam = b.reg('rd');
  b.op(`ld.param.u64 ${memParam}, [${k.name}_param_0]`);
  const mem = b.reg('rd');
  b.op(`cvta.to.global.u64 ${mem}, ${memParam}`);
  const start = b.r((d) => `ld.param.u32 ${d}, [${k.name}_param_1]`);
  const end = b.r((d) => `ld.param.u32 ${d}, [${k.name}_param_2]`);
  new KernelPtx(b, k, env, mem, warp, opts.vectorize === false).emitBody(start, end);
  const tpi = warp ? 32 : 1;
  const grid = Math.max(1, Math.min(MAX_GRID, Math.ceil((k.work * tpi) / BLOCK)));
  return {
    text: `${entryHeader(k.name)}\n{\n${b.body()}\n}\n`,
    launch: { name: k.name, grid: [grid, 1, 1], block: [BLOCK, 1, 1], threadsPerItem: tpi },
  };
}

/** Every Kiln entry has the same parameters, so the runtime launches them all alike. */
export function entryHeader(name: string): string {
  return `.visible .entry ${name}(\n\t.param .u64 ${name}_param_0,\n\t.param .u32 ${name}_param_1,\n\t.param .u32 ${name}_param_2\n)`;
}
