/**
 * Which buffers a kernel reads and writes, and renaming one buffer for another in a kernel: what
 * liveness (program.ts) and loop-carried buffers written in place (control.ts) need to know.
 */
import type { Expr, Kernel, Stmt } from './kernel_ir.js';

export function walk(ss: readonly Stmt[], f: (s: Stmt) => void): void {
  for (const s of ss) {
    f(s);
    if (s.k === 'for') walk(s.body, f);
  }
}

export function writtenBuffers(k: Kernel): number[] {
  const ids = new Set<number>();
  walk(k.body, (s) => {
    if (s.k === 'store' || s.k === 'storex') ids.add(s.buf);
    if (s.k === 'gemm') ids.add(s.g.out);
    if (s.k === 'conv2d') ids.add(s.c.out);
    if (s.k === 'gemm_i8') ids.add(s.g.out);
  });
  return [...ids];
}

/** Every load of an expression tree, with the buffer and index it reads (indexed loads: at = undefined). */
function visitLoads(e: Expr, f: (buf: number, at: string | undefined) => void): void {
  switch (e.k) {
    case 'load': f(e.buf, e.at.key); break;
    case 'loadx': f(e.buf, undefined); visitLoads(e.at, f); break;
    case 'un': case 'cast': visitLoads(e.a, f); break;
    case 'bin': case 'cmp': visitLoads(e.a, f); visitLoads(e.b, f); break;
    case 'sel': visitLoads(e.c, f); visitLoads(e.a, f); visitLoads(e.b, f); break;
    case 'rng': visitLoads(e.k0, f); visitLoads(e.k1, f); break;
    case 'requant': visitLoads(e.a, f); visitLoads(e.m, f); visitLoads(e.s, f); break;
    default: break;
  }
}

/** Buffers read, with the index of each plain load (undefined: a structured or indexed read). */
function reads(k: Kernel, f: (buf: number, at: string | undefined) => void): void {
  walk(k.body, (s) => {
    switch (s.k) {
      case 'store': visitLoads(s.val, f); break;
      case 'storex': visitLoads(s.at, f); visitLoads(s.val, f); break;
      case 'decl': visitLoads(s.init, f); break;
      case 'accum': case 'set': visitLoads(s.val, f); break;
      case 'gemm': f(s.g.a.buf, undefined); f(s.g.bPacked, undefined); visitLoads(s.g.epilogue, f); break;
      case 'conv2d': f(s.c.input, undefined); if (s.c.weights >= 0) f(s.c.weights, undefined); visitLoads(s.c.epilogue, f); break;
      case 'gemm_i8': f(s.g.a.buf, undefined); f(s.g.packed, undefined); break;
      default: break;
    }
  });
}

export function readBuffers(k: Kernel): Set<number> {
  const ids = new Set<number>();
  reads(k, (b) => ids.add(b));
  return ids;
}

/**
 * May kernel k write its output `out` into buffer `buf` while reading it? Yes when it does not
 * read it, or when it is a plain elementwise kernel (stores at one index, no indexed stores,
 * GEMM, conv or accumulators) reading `buf` only at that index and never after its store to
 * `out` (a later statement would read the new value).
 */
export function canWriteOver(k: Kernel, buf: number, out: number): boolean {
  const loads: (string | undefined)[] = [];
  reads(k, (b, at) => { if (b === buf) loads.push(at); });
  if (loads.length === 0) return true;
  const stores = new Set<string>();
  let plain = true;
  let stored = false;
  walk(k.body, (s) => {
    if (stored && s.k !== 'for') reads({ ...k, body: [s] }, (b) => { if (b === buf) plain = false; });
    if (s.k === 'store') {
      stores.add(s.at.key);
      if (s.buf === out) stored = true;
    } else if (s.k === 'storex' || s.k === 'gemm' || s.k === 'conv2d' || s.k === 'gemm_i8' || s.k === 'accum') plain = false;
  });
  return plain && stores.size === 1 && loads.every((at) => at !== undefined && stores.has(at));
}

/** k with every reference to buffer `from` made to `to`. */
export function renameBuffer(k: Kernel, from: number, to: number): Kernel {
  const id = (b: number) => (b === from ? to : b);
  const ex = (e: Expr): Expr => {
    switch (e.k) {
      case 'load': return { ...e, buf: id(e.buf) };
      case 'loadx': return { ...e, buf: id(e.buf), at: ex(e.at) };
      case 'un': case 'cast': return { ...e, a: ex(e.a) };
      case 'bin': return { ...e, a: ex(e.a), b: ex(e.b) };
      case 'cmp': return { ...e, a: ex(e.a), b: ex(e.b) };
      case 'sel': return { ...e, c: ex(e.c), a: ex(e.a), b: ex(e.b) };
      case 'rng': return { ...e, k0: ex(e.k0), k1: ex(e.k1) };
      case 'requant': return { ...e, a: ex(e.a), m: ex(e.m), s: ex(e.s) };
      default: return e;
    }
  };
  const st = (s: Stmt): Stmt => {
    switch (s.k) {
      case 'for': return { ...s, body: s.body.map(st) };
      case 'store': return { ...s, buf: id(s.buf), val: ex(s.val) };
      case 'storex': return { ...s, buf: id(s.buf), at: ex(s.at), val: ex(s.val) };
      case 'decl': return { ...s, init: ex(s.init) };
      case 'accum': case 'set': return { ...s, val: ex(s.val) };
      case 'gemm': return { ...s, g: { ...s.g, a: { ...s.g.a, buf: id(s.g.a.buf) }, bPacked: id(s.g.bPacked), out: id(s.g.out), epilogue: ex(s.g.epilogue) } };
      case 'conv2d': return { ...s, c: { ...s.c, input: id(s.c.input), weights: s.c.weights >= 0 ? id(s.c.weights) : s.c.weights, out: id(s.c.out), epilogue: ex(s.c.epilogue) } };
      case 'gemm_i8': return { ...s, g: { ...s.g, a: { ...s.g.a, buf: id(s.g.a.buf) }, packed: id(s.g.packed), out: id(s.g.out) } };
      default: return s;
    }
  };
  const seen = new Set<number>();
  const bufs = k.bufs.map((b) => ({ ...b, id: id(b.id) })).filter((b) => !seen.has(b.id) && seen.add(b.id));
  return { ...k, bufs, body: k.body.map(st) };
}
