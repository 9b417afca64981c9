/**
 * Kernel IR -> one WebAssembly function `(start: i32, end: i32) -> ()` over work items.
 * Buffer base addresses are constants folded into load/store offsets. Loops marked `vector`
 * run four lanes at a time with SIMD128 (contiguous accesses become v128 loads, invariant ones
 * splats) and finish with a scalar tail. Index arithmetic and loads that do not depend on a
 * loop's variable are hoisted into that loop's preheader, recursively, so inner loops only do
 * the work that varies.
 */
import binaryen from 'binaryen';
import { byteSize, type DType } from '../../ir/dtype.js';
import type { Expr, Kernel, ReduceOp, ScalarType, Stmt } from '../kernel_ir.js';
import { strideOf, type Atom, type Sym } from '../symbolic.js';
import { f32x4Bytes, type MathFn } from './math.js';

type Ref = binaryen.ExpressionRef;
const I32 = binaryen.i32, F32 = binaryen.f32, V128 = binaryen.v128;

export interface EmitEnv {
  /** Byte address of a buffer in linear memory. */
  addr(buf: number): number;
  dtype(buf: number): DType;
  /** Math functions used, filled in by the emitter so the module can add them. */
  readonly mathUsed: Set<MathFn>;
  relaxed: boolean;
}

/** One loop level: its variable, hoisted computations and their cache. */
interface Frame {
  readonly v: string | null;
  readonly parent: Frame | null;
  readonly pre: Ref[];
  readonly cache: Map<string, number>;
  /** Vector lane variable when this frame is a vectorized loop body. */
  readonly vec: string | null;
}

type Mode = 'scalar' | 'vector';

const wasmType = (t: ScalarType, mode: Mode): number => (mode === 'vector' ? V128 : t === 'f32' ? F32 : I32);

function exprType(e: Expr): ScalarType {
  return e.k === 'index' ? 'i32' : e.t;
}

class KernelEmitter {
  private readonly localTypes: number[] = [];
  private readonly vars = new Map<string, number>();
  /** Scalar locals declared by `decl`, and their vector twins inside vector loops. */
  private readonly scalars = new Map<string, { idx: number; t: ScalarType }>();
  private readonly vectors = new Map<string, number>();
  private readonly invariantMemo = new Map<Expr, Set<string>>();

  constructor(readonly m: binaryen.Module, readonly k: Kernel, readonly env: EmitEnv) {}

  local(type: number): number {
    this.localTypes.push(type);
    return 2 + this.localTypes.length - 1;
  }

  emit(): void {
    const m = this.m;
    const w = this.local(I32);
    this.vars.set('w', w);
    const root: Frame = { v: null, parent: null, pre: [], cache: new Map(), vec: null };
    const frame: Frame = { v: 'w', parent: root, pre: [], cache: new Map(), vec: null };
    const body = this.stmts(this.k.body, frame);
    const loop = this.countedLoop(w, m.local.get(0, I32), m.local.get(1, I32), 1, body);
    const fnBody = m.block(null, [...root.pre, ...frame.pre, loop]);
    m.addFunction(this.k.name, binaryen.createType([I32, I32]), binaryen.none, this.localTypes, fnBody);
    m.addFunctionExport(this.k.name, this.k.name);
  }

  /** for (v = from; v < to; v += step) body — `to` is evaluated once. */
  private countedLoop(v: number, from: Ref, to: Ref, step: number, body: Ref[], toLocal?: number): Ref {
    const m = this.m;
    const end = toLocal ?? this.local(I32);
    const label = `L${v}_${step}_${this.localTypes.length}`;
    const cond = step === 1
      ? m.i32.lt_s(m.local.get(v, I32), m.local.get(end, I32))
      : m.i32.le_s(m.i32.add(m.local.get(v, I32), m.i32.const(step)), m.local.get(end, I32));
    return m.block(null, [
      m.local.set(v, from),
      ...(toLocal === undefined ? [m.local.set(end, to)] : []),
      m.block(`${label}_exit`, [
        m.loop(label, m.block(null, [
          m.br(`${label}_exit`, m.i32.eqz(cond)),
          ...body,
          m.local.set(v, m.i32.add(m.local.get(v, I32), m.i32.const(step))),
          m.br(label),
        ])),
      ]),
    ]);
  }

  private stmts(ss: readonly Stmt[], f: Frame): Ref[] {
    return ss.flatMap((s) => this.stmt(s, f));
  }

  private mode(f: Frame): Mode {
    for (let fr: Frame | null = f; fr; fr = fr.parent) if (fr.vec) return 'vector';
    return 'scalar';
  }

  private stmt(s: Stmt, f: Frame): Ref[] {
    const m = this.m;
    const mode = this.mode(f);
    switch (s.k) {
      case 'for': return [this.forLoop(s, f)];
      case 'store': {
        const dt = this.env.dtype(s.buf);
        const val = this.expr(s.val, f, mode);
        const ptr = this.symBytes(s.at, f, byteSize(dt));
        const off = this.env.addr(s.buf);
        if (mode === 'vector') return [m.v128.store(off, 4, ptr, val)];
        return [this.storeScalar(dt, off, ptr, val, exprType(s.val))];
      }
      case 'storex': {
        const dt = this.env.dtype(s.buf);
        const ptr = m.i32.shl(this.expr(s.at, f, 'scalar'), m.i32.const(Math.log2(byteSize(dt))));
        return [this.storeScalar(dt, this.env.addr(s.buf), ptr, this.expr(s.val, f, 'scalar'), exprType(s.val))];
      }
      case 'decl': {
        if (mode === 'vector') {
          const idx = this.local(V128);
          this.vectors.set(s.name, idx);
          return [m.local.set(idx, this.expr(s.init, f, 'vector'))];
        }
        const idx = this.local(wasmType(s.t, 'scalar'));
        this.scalars.set(s.name, { idx, t: s.t });
        return [m.local.set(idx, this.expr(s.init, f, 'scalar'))];
      }
      case 'accum': {
        if (mode === 'vector') {
          const idx = this.vectors.get(s.name);
          if (idx === undefined) throw new Error(`emit: accumulator ${s.name} has no vector form`);
          return [m.local.set(idx, this.combine(s.op, m.local.get(idx, V128), this.expr(s.val, f, 'vector'), 'f32', 'vector'))];
        }
        const sc = this.scalars.get(s.name)!;
        const t = wasmType(sc.t, 'scalar');
        return [m.local.set(sc.idx, this.combine(s.op, m.local.get(sc.idx, t), this.expr(s.val, f, 'scalar'), sc.t, 'scalar'))];
      }
      case 'set': {
        const sc = this.scalars.get(s.name)!;
        return [m.local.set(sc.idx, this.expr(s.val, f, 'scalar'))];
      }
      case 'gemm':
      case 'conv2d':
      case 'gemm_i8':
        throw new Error(`emit: ${s.k} statements are emitted by the blocked micro-kernel generators`);
    }
  }

  private storeScalar(dt: DType, off: number, ptr: Ref, val: Ref, t: ScalarType): Ref {
    const m = this.m;
    if (dt === 'f32') return m.f32.store(off, 4, ptr, t === 'f32' ? val : m.f32.convert_s.i32(val));
    if (dt === 'i32') return m.i32.store(off, 4, ptr, val);
    if (dt === 'i8' || dt === 'u8' || dt === 'bool') return m.i32.store8(off, 1, ptr, val);
    throw new Error(`emit: the wasm target does not store ${dt}`);
  }

  private combine(op: ReduceOp, a: Ref, b: Ref, t: ScalarType, mode: Mode): Ref {
    const m = this.m;
    if (mode === 'vector') {
      switch (op) {
        case 'sum': return m.f32x4.add(a, b);
        case 'prod': return m.f32x4.mul(a, b);
        case 'max': return m.f32x4.max(a, b);
        case 'min': return m.f32x4.min(a, b);
      }
    }
    if (t === 'f32') {
      switch (op) {
        case 'sum': return m.f32.add(a, b);
        case 'prod': return m.f32.mul(a, b);
        case 'max': return m.f32.max(a, b);
        case 'min': return m.f32.min(a, b);
      }
    }
    return this.intBin(op === 'sum' ? 'add' : op === 'prod' ? 'mul' : op, a, b);
  }

  private forLoop(s: Extract<Stmt, { k: 'for' }>, f: Frame): Ref {
    const m = this.m;
    const v = this.local(I32);
    this.vars.set(s.v, v);
    const endLocal = this.local(I32);
    const endVal = s.end ? m.select(m.i32.lt_s(this.sym(s.end, f), m.i32.const(s.n)), this.sym(s.end, f), m.i32.const(s.n)) : m.i32.const(s.n);
    const out: Ref[] = [m.local.set(endLocal, endVal)];
    const mode = this.mode(f);
    if (s.vector && mode === 'scalar' && s.n >= 4) {
      // Vector part: accumulators declared outside get vector shadows, reduced after the loop.
      const shadows = this.outerAccums(s.body).filter((a) => !this.vectors.has(a.name) && this.scalars.has(a.name));
      const saved = shadows.map((a) => ({ ...a, idx: this.local(V128) }));
      for (const a of saved) {
        this.vectors.set(a.name, a.idx);
        out.push(m.local.set(a.idx, m.v128.const(f32x4Bytes(IDENTITY[a.op]))));
      }
      const vf: Frame = { v: s.v, parent: f, pre: [], cache: new Map(), vec: s.v };
      const vbody = this.stmts(s.body, vf);
      out.push(...vf.pre, this.countedLoop(v, m.i32.const(0), m.i32.const(0), 4, vbody, endLocal));
      for (const a of saved) {
        this.vectors.delete(a.name);
        const sc = this.scalars.get(a.name)!;
        const lanes = [0, 1, 2, 3].map((l) => m.f32x4.extract_lane(m.local.get(a.idx, V128), l));
        const h = this.combine(a.op, this.combine(a.op, lanes[0]!, lanes[1]!, 'f32', 'scalar'), this.combine(a.op, lanes[2]!, lanes[3]!, 'f32', 'scalar'), 'f32', 'scalar');
        out.push(m.local.set(sc.idx, this.combine(a.op, m.local.get(sc.idx, F32), h, 'f32', 'scalar')));
      }
      // Scalar tail continues from where the vector loop stopped.
      const tf: Frame = { v: s.v, parent: f, pre: [], cache: new Map(), vec: null };
      const tbody = this.stmts(s.body, tf);
      out.push(...tf.pre, this.countedLoop(v, m.local.get(v, I32), m.i32.const(0), 1, tbody, endLocal));
      return m.block(null, out);
    }
    const lf: Frame = { v: s.v, parent: f, pre: [], cache: new Map(), vec: null };
    const body = this.stmts(s.body, lf);
    out.push(...lf.pre, this.countedLoop(v, m.i32.const(0), m.i32.const(0), 1, body, endLocal));
    return m.block(null, out);
  }

  /** Accumulations in `ss` (not inside nested decls) targeting locals declared outside `ss`. */
  private outerAccums(ss: readonly Stmt[]): { name: string; op: ReduceOp }[] {
    const declared = new Set<string>();
    const out: { name: string; op: ReduceOp }[] = [];
    const walk = (list: readonly Stmt[]) => {
      for (const s of list) {
        if (s.k === 'decl') declared.add(s.name);
        else if (s.k === 'accum' && !declared.has(s.name) && !out.some((o) => o.name === s.name)) out.push({ name: s.name, op: s.op });
        else if (s.k === 'for') walk(s.body);
      }
    };
    walk(ss);
    return out;
  }

  // ---- index expressions ----

  /** Variables (loop vars) an expression depends on, plus '*' for locals/accumulators/data-dependent loads. */
  private deps(e: Expr): Set<string> {
    const hit = this.invariantMemo.get(e);
    if (hit) return hit;
    const out = new Set<string>();
    const add = (s: Set<string>) => s.forEach((x) => out.add(x));
    switch (e.k) {
      case 'const': break;
      case 'index': symVars(e.s, out); break;
      case 'load': symVars(e.at, out); break;
      case 'loadx': out.add('*'); add(this.deps(e.at)); break;
      case 'local': case 'acc': out.add('*'); break;
      case 'un': add(this.deps(e.a)); break;
      case 'bin': case 'cmp': add(this.deps(e.a)); add(this.deps(e.b)); break;
      case 'sel': add(this.deps(e.c)); add(this.deps(e.a)); add(this.deps(e.b)); break;
      case 'cast': add(this.deps(e.a)); break;
      case 'rng': symVars(e.counter, out); add(this.deps(e.k0)); add(this.deps(e.k1)); break;
      case 'requant': add(this.deps(e.a)); add(this.deps(e.m)); add(this.deps(e.s)); break;
    }
    this.invariantMemo.set(e, out);
    return out;
  }

  /**
   * The outermost loop frame whose variable (and every variable of the loops inside it, up to
   * `f`) the value does not depend on: the value can be computed once in that frame's preheader.
   * Undefined when the value depends on `f`'s own variable (or on mutable locals).
   */
  private hoistTarget(deps: Set<string>, f: Frame): Frame | undefined {
    if (deps.has('*')) return undefined;
    let target: Frame | undefined;
    for (let fr: Frame | null = f; fr && fr.v !== null; fr = fr.parent) {
      if (deps.has(fr.v)) break;
      target = fr;
    }
    return target;
  }

  /** Mode to compute a hoisted value in: vector only if it varies along an enclosing vector lane. */
  private hoistMode(deps: Set<string>, ctx: Frame): Mode {
    if (this.mode(ctx) === 'scalar') return 'scalar';
    return deps.has(this.vecVar(ctx)) ? 'vector' : 'scalar';
  }

  private sym(s: Sym, f: Frame): Ref {
    const m = this.m;
    if (s.terms.length === 0) return m.i32.const(s.c);
    const deps = new Set<string>();
    symVars(s, deps);
    const target = this.hoistTarget(deps, f);
    if (target) return m.local.get(this.cached(`s:${s.key}`, target, I32, () => this.symDirect(s, target.parent!)), I32);
    // Split off the terms that do not involve this loop's variable; they hoist out of it.
    if (f.v !== null) {
      const inner = s.terms.filter((t) => atomMentions(t.atom, f.v!));
      if (inner.length < s.terms.length && s.terms.length > 1) {
        const outerTerms = s.terms.filter((t) => !atomMentions(t.atom, f.v!));
        const outer: Sym = { ...s, terms: outerTerms, key: `${outerTerms.map((t) => `${t.coef}*${t.key}`).join('+')}+${s.c}#o`, lo: -Infinity, hi: Infinity };
        const innerSym: Sym = { ...s, c: 0, terms: inner };
        return m.i32.add(this.sym(outer, f), this.symDirect(innerSym, f));
      }
    }
    return this.symDirect(s, f);
  }

  private cached(key: string, f: Frame, type: number, make: () => Ref): number {
    const hit = f.cache.get(key);
    if (hit !== undefined) return hit;
    const idx = this.local(type);
    f.pre.push(this.m.local.set(idx, make()));
    f.cache.set(key, idx);
    return idx;
  }

  private symDirect(s: Sym, f: Frame): Ref {
    const m = this.m;
    let acc: Ref | null = s.c !== 0 ? m.i32.const(s.c) : null;
    for (const t of s.terms) {
      let a = this.atom(t.atom, f);
      if (t.coef !== 1) a = m.i32.mul(a, m.i32.const(t.coef));
      acc = acc === null ? a : m.i32.add(acc, a);
    }
    return acc ?? m.i32.const(0);
  }

  private atom(a: Atom, f: Frame): Ref {
    const m = this.m;
    switch (a.k) {
      case 'var': {
        const idx = this.vars.get(a.name);
        if (idx === undefined) throw new Error(`emit: unknown loop variable ${a.name}`);
        return m.local.get(idx, I32);
      }
      case 'div': {
        const x = this.sym(a.a, f);
        if (a.a.lo >= 0) return m.i32.div_u(x, m.i32.const(a.c));
        // floor division for possibly negative values: (x - (c-1)) / c when x < 0
        const t = this.local(I32);
        return m.block(null, [
          m.local.set(t, x),
          m.i32.div_s(m.select(m.i32.lt_s(m.local.get(t, I32), m.i32.const(0)), m.i32.sub(m.local.get(t, I32), m.i32.const(a.c - 1)), m.local.get(t, I32)), m.i32.const(a.c)),
        ], I32);
      }
      case 'mod': {
        const x = this.sym(a.a, f);
        if (a.a.lo >= 0) return m.i32.rem_u(x, m.i32.const(a.c));
        const t = this.local(I32);
        return m.block(null, [
          m.local.set(t, m.i32.rem_s(x, m.i32.const(a.c))),
          m.select(m.i32.lt_s(m.local.get(t, I32), m.i32.const(0)), m.i32.add(m.local.get(t, I32), m.i32.const(a.c)), m.local.get(t, I32)),
        ], I32);
      }
      case 'min': case 'max': {
        const x = this.local(I32), y = this.local(I32);
        const cmp = a.k === 'min' ? m.i32.lt_s(m.local.get(x, I32), m.local.get(y, I32)) : m.i32.gt_s(m.local.get(x, I32), m.local.get(y, I32));
        return m.block(null, [m.local.set(x, this.sym(a.a, f)), m.local.set(y, this.sym(a.b, f)), m.select(cmp, m.local.get(x, I32), m.local.get(y, I32))], I32);
      }
    }
  }

  /** Byte offset of element index `s` (scaled by the element size), lane 0 in vector mode. */
  private symBytes(s: Sym, f: Frame, size: number): Ref {
    const x = this.sym(s, f);
    return size === 1 ? x : this.m.i32.shl(x, this.m.i32.const(Math.log2(size)));
  }

  /** The vector variable of the innermost vector frame. */
  private vecVar(f: Frame): string {
    for (let fr: Frame | null = f; fr; fr = fr.parent) if (fr.vec) return fr.vec;
    throw new Error('emit: not in a vector loop');
  }

  // ---- value expressions ----

  private expr(e: Expr, f: Frame, mode: Mode): Ref {
    const m = this.m;
    // Hoist loop-invariant work to the outermost frame where its inputs are defined.
    if (e.k !== 'const' && e.k !== 'local' && e.k !== 'acc') {
      const deps = this.deps(e);
      const target = this.hoistTarget(deps, f);
      if (target) {
        const t = exprType(e);
        const ctx = target.parent!;
        const hm = this.hoistMode(deps, ctx);
        const idx = this.cached(`e${hm}:${exprId(e)}`, target, wasmType(t, hm), () => this.exprDirect(e, ctx, hm));
        const v = m.local.get(idx, wasmType(t, hm));
        return mode === 'vector' && hm === 'scalar' ? this.splat(v, t) : v;
      }
    }
    if (mode === 'vector' && e.k !== 'const') {
      // Invariant in the vector lane variable (but not hoistable): compute once as scalar and splat.
      const deps = this.deps(e);
      if (!deps.has('*') && !deps.has(this.vecVar(f))) return this.splat(this.exprDirect(e, f, 'scalar'), exprType(e));
    }
    return this.exprDirect(e, f, mode);
  }

  private splat(v: Ref, t: ScalarType): Ref {
    return t === 'f32' ? this.m.f32x4.splat(v) : this.m.i32x4.splat(t === 'bool' ? this.m.i32.sub(this.m.i32.const(0), v) : v);
  }

  private exprDirect(e: Expr, f: Frame, mode: Mode): Ref {
    const m = this.m;
    const vec = mode === 'vector';
    switch (e.k) {
      case 'const':
        if (vec) return e.t === 'f32' ? m.v128.const(f32x4Bytes(e.v)) : m.i32x4.splat(m.i32.const(e.t === 'bool' ? -(e.v ? 1 : 0) : e.v));
        return e.t === 'f32' ? m.f32.const(e.v) : m.i32.const(e.t === 'bool' ? (e.v ? 1 : 0) : e.v);
      case 'index': {
        if (!vec) return this.sym(e.s, f);
        const stride = strideOf(e.s, this.vecVar(f));
        if (stride === 'complex') throw new Error('emit: vector index with complex stride');
        const base = m.i32x4.splat(this.sym(e.s, f));
        return m.i32x4.add(base, m.v128.const(i32x4Bytes([0, stride, 2 * stride, 3 * stride])));
      }
      case 'load': {
        const dt = this.env.dtype(e.buf);
        const off = this.env.addr(e.buf);
        const size = byteSize(dt);
        if (vec) {
          const stride = strideOf(e.at, this.vecVar(f));
          const ptr = this.symBytes(e.at, f, size);
          if (stride === 1 && dt === 'f32') return m.v128.load(off, 4, ptr);
          if (stride === 0 && dt === 'f32') return m.v128.load32_splat(off, 4, ptr);
          throw new Error(`emit: vector load of ${dt} with stride ${stride}`);
        }
        return this.loadScalar(dt, off, this.symBytes(e.at, f, size));
      }
      case 'loadx': {
        const dt = this.env.dtype(e.buf);
        const ptr = m.i32.shl(this.expr(e.at, f, 'scalar'), m.i32.const(Math.log2(byteSize(dt))));
        return this.loadScalar(dt, this.env.addr(e.buf), ptr);
      }
      case 'local': {
        if (vec) {
          const v = this.vectors.get(e.name);
          if (v !== undefined) return m.local.get(v, V128);
          const sc = this.scalars.get(e.name)!;
          return this.splat(m.local.get(sc.idx, wasmType(sc.t, 'scalar')), sc.t);
        }
        const sc = this.scalars.get(e.name);
        if (!sc) throw new Error(`emit: unknown local ${e.name}`);
        return m.local.get(sc.idx, wasmType(sc.t, 'scalar'));
      }
      case 'acc': throw new Error('emit: acc outside a gemm epilogue');
      case 'un': return this.unary(e.op, this.expr(e.a, f, mode), e.t, mode);
      case 'bin': {
        const a = this.expr(e.a, f, mode), b = this.expr(e.b, f, mode);
        if (e.op === 'pow') return this.mathCall('pow', [a, b], mode);
        if (vec) {
          if (e.t === 'bool') return e.op === 'and' ? m.v128.and(a, b) : m.v128.or(a, b);
          switch (e.op) {
            case 'add': return m.f32x4.add(a, b);
            case 'sub': return m.f32x4.sub(a, b);
            case 'mul': return m.f32x4.mul(a, b);
            case 'div': return m.f32x4.div(a, b);
            case 'max': return m.f32x4.max(a, b);
            case 'min': return m.f32x4.min(a, b);
            default: throw new Error(`emit: vector ${e.op}`);
          }
        }
        if (e.t === 'f32') {
          switch (e.op) {
            case 'add': return m.f32.add(a, b);
            case 'sub': return m.f32.sub(a, b);
            case 'mul': return m.f32.mul(a, b);
            case 'div': return m.f32.div(a, b);
            case 'max': return m.f32.max(a, b);
            case 'min': return m.f32.min(a, b);
            default: throw new Error(`emit: f32 ${e.op}`);
          }
        }
        return this.intBin(e.op, a, b);
      }
      case 'cmp': {
        const t = exprType(e.a);
        const a = this.expr(e.a, f, mode), b = this.expr(e.b, f, mode);
        if (vec) {
          if (t === 'f32') return (m.f32x4 as unknown as Record<string, (x: Ref, y: Ref) => Ref>)[e.op]!(a, b);
          const ops: Record<string, (x: Ref, y: Ref) => Ref> = { eq: m.i32x4.eq, ne: m.i32x4.ne, lt: m.i32x4.lt_s, le: m.i32x4.le_s, gt: m.i32x4.gt_s, ge: m.i32x4.ge_s };
          return ops[e.op]!.call(m.i32x4, a, b);
        }
        if (t === 'f32') return (m.f32 as unknown as Record<string, (x: Ref, y: Ref) => Ref>)[e.op]!(a, b);
        const ops: Record<string, (x: Ref, y: Ref) => Ref> = { eq: m.i32.eq, ne: m.i32.ne, lt: m.i32.lt_s, le: m.i32.le_s, gt: m.i32.gt_s, ge: m.i32.ge_s };
        return ops[e.op]!.call(m.i32, a, b);
      }
      case 'sel': {
        const c = this.expr(e.c, f, mode), a = this.expr(e.a, f, mode), b = this.expr(e.b, f, mode);
        return vec ? m.v128.bitselect(a, b, c) : m.select(c, a, b);
      }
      case 'cast': return this.cast(e, f, mode);
      case 'rng': {
        if (vec) throw new Error('emit: vector rng');
        return this.rng(e, f);
      }
      case 'requant': {
        if (vec) throw new Error('emit: vector requant');
        return this.requant(this.expr(e.a, f, 'scalar'), this.expr(e.m, f, 'scalar'), this.expr(e.s, f, 'scalar'));
      }
    }
  }

  private loadScalar(dt: DType, off: number, ptr: Ref): Ref {
    const m = this.m;
    switch (dt) {
      case 'f32': return m.f32.load(off, 4, ptr);
      case 'i32': return m.i32.load(off, 4, ptr);
      case 'i8': return m.i32.load8_s(off, 1, ptr);
      case 'u8': case 'bool': return m.i32.load8_u(off, 1, ptr);
      default: throw new Error(`emit: the wasm target does not load ${dt}`);
    }
  }

  private intBin(op: string, a: Ref, b: Ref): Ref {
    const m = this.m;
    switch (op) {
      case 'add': return m.i32.add(a, b);
      case 'sub': return m.i32.sub(a, b);
      case 'mul': return m.i32.mul(a, b);
      case 'div': {
        // XLA semantics, as the interpreter: x / 0 = -1 and INT_MIN / -1 = INT_MIN (i32.div_s would trap).
        const x = this.local(I32), y = this.local(I32);
        const gx = () => m.local.get(x, I32), gy = () => m.local.get(y, I32);
        return m.block(null, [m.local.set(x, a), m.local.set(y, b),
          m.select(m.i32.eqz(gy()), m.i32.const(-1),
            m.select(m.i32.eq(gy(), m.i32.const(-1)), m.i32.sub(m.i32.const(0), gx()),
              m.i32.div_s(gx(), m.select(m.i32.or(m.i32.eqz(gy()), m.i32.eq(gy(), m.i32.const(-1))), m.i32.const(1), gy()))))], I32);
      }
      case 'and': return m.i32.and(a, b);
      case 'or': return m.i32.or(a, b);
      case 'max': case 'min': {
        const x = this.local(I32), y = this.local(I32);
        const c = op === 'max' ? m.i32.gt_s(m.local.get(x, I32), m.local.get(y, I32)) : m.i32.lt_s(m.local.get(x, I32), m.local.get(y, I32));
        return m.block(null, [m.local.set(x, a), m.local.set(y, b), m.select(c, m.local.get(x, I32), m.local.get(y, I32))], I32);
      }
      default: throw new Error(`emit: i32 ${op}`);
    }
  }

  private mathCall(fn: MathFn, args: Ref[], mode: Mode): Ref {
    const m = this.m;
    this.env.mathUsed.add(fn);
    if (mode === 'vector') return m.call(`v_${fn}`, args, V128);
    return m.f32x4.extract_lane(m.call(`v_${fn}`, args.map((a) => m.f32x4.splat(a)), V128), 0);
  }

  private unary(op: string, a: Ref, t: ScalarType, mode: Mode): Ref {
    const m = this.m;
    const vec = mode === 'vector';
    if (t === 'f32') {
      switch (op) {
        case 'neg': return vec ? m.f32x4.neg(a) : m.f32.neg(a);
        case 'abs': return vec ? m.f32x4.abs(a) : m.f32.abs(a);
        case 'sqrt': return vec ? m.f32x4.sqrt(a) : m.f32.sqrt(a);
        case 'rsqrt': return vec ? m.f32x4.div(m.v128.const(f32x4Bytes(1)), m.f32x4.sqrt(a)) : m.f32.div(m.f32.const(1), m.f32.sqrt(a));
        case 'floor': return vec ? m.f32x4.floor(a) : m.f32.floor(a);
        case 'ceil': return vec ? m.f32x4.ceil(a) : m.f32.ceil(a);
        case 'round': return vec ? m.f32x4.nearest(a) : m.f32.nearest(a);
        case 'sign': {
          const x = this.local(vec ? V128 : F32);
          const get = () => m.local.get(x, vec ? V128 : F32);
          if (vec) {
            const one = m.v128.const(f32x4Bytes(1)), mone = m.v128.const(f32x4Bytes(-1));
            return m.block(null, [m.local.set(x, a), m.v128.bitselect(one, m.v128.bitselect(mone, get(), m.f32x4.lt(get(), m.v128.const(f32x4Bytes(0)))), m.f32x4.gt(get(), m.v128.const(f32x4Bytes(0))))], V128);
          }
          return m.block(null, [m.local.set(x, a), m.select(m.f32.gt(get(), m.f32.const(0)), m.f32.const(1), m.select(m.f32.lt(get(), m.f32.const(0)), m.f32.const(-1), get()))], F32);
        }
        case 'exp': case 'log': case 'log1p': case 'tanh': case 'logistic': case 'erf': case 'sin': case 'cos':
          return this.mathCall(op, [a], mode);
        default: throw new Error(`emit: f32 ${op}`);
      }
    }
    if (vec) {
      if (op === 'not' && t === 'bool') return m.v128.not(a);
      throw new Error(`emit: vector ${t} ${op}`);
    }
    switch (op) {
      case 'neg': return m.i32.sub(m.i32.const(0), a);
      case 'abs': {
        const x = this.local(I32);
        return m.block(null, [m.local.set(x, a), m.select(m.i32.lt_s(m.local.get(x, I32), m.i32.const(0)), m.i32.sub(m.i32.const(0), m.local.get(x, I32)), m.local.get(x, I32))], I32);
      }
      case 'sign': {
        const x = this.local(I32);
        return m.block(null, [m.local.set(x, a), m.i32.sub(m.i32.gt_s(m.local.get(x, I32), m.i32.const(0)), m.i32.lt_s(m.local.get(x, I32), m.i32.const(0)))], I32);
      }
      case 'not': return t === 'bool' ? m.i32.eqz(a) : m.i32.xor(a, m.i32.const(-1));
      default: throw new Error(`emit: i32 ${op}`);
    }
  }

  private cast(e: Extract<Expr, { k: 'cast' }>, f: Frame, mode: Mode): Ref {
    const m = this.m;
    const from = exprType(e.a);
    const a = this.expr(e.a, f, mode);
    const to = e.to;
    if (mode === 'vector') {
      if (to === 'f32' && from === 'f32') return a;
      if (to === 'f32' && from === 'i32') return m.f32x4.convert_i32x4_s(a);
      if (to === 'f32' && from === 'bool') return m.f32x4.convert_i32x4_s(m.i32x4.neg(a));
      throw new Error(`emit: vector cast ${from} -> ${to}`);
    }
    if (to === 'f32' || to === 'f16' || to === 'bf16') {
      if (to !== 'f32') throw new Error(`emit: the wasm target computes ${to} only through f32 artifacts; cast to f32`);
      return from === 'f32' ? a : m.f32.convert_s.i32(a);
    }
    if (to === 'bool') return from === 'f32' ? m.f32.ne(a, m.f32.const(0)) : m.i32.ne(a, m.i32.const(0));
    const i = from === 'f32' ? m.i32.trunc_s_sat.f32(a) : a;
    if (to === 'i8') return m.i32.shr_s(m.i32.shl(i, m.i32.const(24)), m.i32.const(24));
    if (to === 'u8') return m.i32.and(i, m.i32.const(255));
    return i;
  }

  /**
   * MultiplyByQuantizedMultiplier(a, m, s): p = i64(a << max(s, 0)) * m; q = (p + 2^30) >> 31
   * (equal to gemmlowp's nudged, truncating SRDHM for every p; m > 0 so the saturating case
   * never arises); then q / 2^e rounded half away from zero, e = max(-s, 0):
   * (q + (2^e >> 1) - [q < 0 and e > 0]) >> e.
   */
  private requant(a: Ref, mul: Ref, sh: Ref): Ref {
    const m = this.m;
    const I64 = binaryen.i64;
    const s = this.local(I32), q = this.local(I64), e = this.local(I64);
    const gs = () => m.local.get(s, I32), gq = () => m.local.get(q, I64), ge = () => m.local.get(e, I64);
    const left = m.select(m.i32.gt_s(gs(), m.i32.const(0)), gs(), m.i32.const(0));
    return m.block(null, [
      m.local.set(s, sh),
      m.local.set(q, m.i64.shr_s(m.i64.add(m.i64.mul(m.i64.extend_s(m.i32.shl(a, left)), m.i64.extend_s(mul)), m.i64.const(1n << 30n)), m.i64.const(31n))),
      m.local.set(e, m.i64.extend_s(m.select(m.i32.lt_s(gs(), m.i32.const(0)), m.i32.sub(m.i32.const(0), gs()), m.i32.const(0)))),
      m.i32.wrap(m.i64.shr_s(
        m.i64.sub(m.i64.add(gq(), m.i64.shr_s(m.i64.shl(m.i64.const(1n), ge()), m.i64.const(1n))),
          m.i64.extend_u(m.i32.and(m.i64.lt_s(gq(), m.i64.const(0n)), m.i64.ne(ge(), m.i64.const(0n))))),
        ge())),
    ], I32);
  }

  /** Threefry-2x32 with 20 rounds (Random123), counter (i, 0), key (k0, k1). */
  private rng(e: Extract<Expr, { k: 'rng' }>, f: Frame): Ref {
    const m = this.m;
    const k0 = this.local(I32), k1 = this.local(I32), k2 = this.local(I32), x0 = this.local(I32), x1 = this.local(I32);
    const g = (i: number) => m.local.get(i, I32);
    const ks = [k0, k1, k2];
    const R = [13, 15, 26, 6, 17, 29, 16, 24];
    const code: Ref[] = [
      m.local.set(k0, this.expr(e.k0, f, 'scalar')),
      m.local.set(k1, this.expr(e.k1, f, 'scalar')),
      m.local.set(k2, m.i32.xor(m.i32.xor(g(k0), g(k1)), m.i32.const(0x1bd11bda))),
      m.local.set(x0, m.i32.add(this.sym(e.counter, f), g(k0))),
      m.local.set(x1, g(k1)),
    ];
    for (let r = 0; r < 20; r++) {
      code.push(m.local.set(x0, m.i32.add(g(x0), g(x1))));
      code.push(m.local.set(x1, m.i32.xor(m.i32.rotl(g(x1), m.i32.const(R[r % 8]!)), g(x0))));
      if (r % 4 === 3) {
        const s = (r + 1) / 4;
        code.push(m.local.set(x0, m.i32.add(g(x0), g(ks[s % 3]!))));
        code.push(m.local.set(x1, m.i32.add(m.i32.add(g(x1), g(ks[(s + 1) % 3]!)), m.i32.const(s))));
      }
    }
    const unit = (x: Ref) => m.f32.mul(m.f32.convert_u.i32(m.i32.shr_u(x, m.i32.const(9))), m.f32.const(1 / 8388608));
    if (e.dist === 'uniform') return m.block(null, [...code, unit(g(x0))], F32);
    // Box-Muller: u1 in (0, 1], u2 in [0, 1)
    const u1 = m.f32.mul(m.f32.convert_u.i32(m.i32.add(m.i32.shr_u(g(x0), m.i32.const(9)), m.i32.const(1))), m.f32.const(1 / 8388608));
    const radius = m.f32.sqrt(m.f32.mul(m.f32.const(-2), this.mathCall('log', [u1], 'scalar')));
    const angle = this.mathCall('cos', [m.f32.mul(m.f32.const(2 * Math.PI), unit(g(x1)))], 'scalar');
    return m.block(null, [...code, m.f32.mul(radius, angle)], F32);
  }
}

const IDENTITY: Record<ReduceOp, number> = { sum: 0, prod: 1, max: -Infinity, min: Infinity };

let exprIds = new WeakMap<Expr, number>();
let nextExprId = 1;
function exprId(e: Expr): number {
  let id = exprIds.get(e);
  if (id === undefined) exprIds.set(e, (id = nextExprId++));
  return id;
}
export function resetExprIds(): void {
  exprIds = new WeakMap();
}

function i32x4Bytes(v: readonly number[]): number[] {
  return [...new Uint8Array(new Int32Array(v).buffer)];
}

function symVars(s: Sym, out: Set<string>): void {
  for (const t of s.terms) atomVars(t.atom, out);
}

function atomVars(a: Atom, out: Set<string>): void {
  switch (a.k) {
    case 'var': out.add(a.name); break;
    case 'div': case 'mod': symVars(a.a, out); break;
    case 'min': case 'max': symVars(a.a, out); symVars(a.b, out); break;
  }
}

function atomMentions(a: Atom, v: string): boolean {
  const s = new Set<string>();
  atomVars(a, s);
  return s.has(v);
}

/** Emit `k` as an exported function of `m`. */
export function emitKernel(m: binaryen.Module, k: Kernel, env: EmitEnv): void {
  new KernelEmitter(m, k, env).emit();
}
