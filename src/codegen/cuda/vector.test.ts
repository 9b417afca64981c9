import { describe, expect, it } from 'vitest';
import { parseFunc } from '../../ir/parse.js';
import { sadd, sconst, smul, svar } from '../symbolic.js';
import type { Expr, Stmt } from '../kernel_ir.js';
import { assemblePtx, findPtxas } from './ptxas.js';
import { programOf } from './test_util.js';
import { buildPtxModule } from './backend.js';
import { planVector, v4Aligned } from './vector.js';
import type { PtxEnv } from './ptx.js';
import '../../ir/ops/index.js';

// 16-byte vector accesses in `vector` loops: where alignment is provable they appear, where it
// is not they do not, and every module still assembles.
const PTXAS = findPtxas();
const withPtxas = PTXAS ? it : it.skip;

const count = (ptx: string, re: RegExp) => ptx.match(re)?.length ?? 0;
const V4LD = /ld\.global\.v4\.f32/g;
const V4ST = /st\.global\.v4\.f32/g;

function ptxOf(src: string, mapping?: 'thread' | 'warp', vectorize?: boolean): string {
  const fn = parseFunc(src);
  const m = buildPtxModule(programOf(fn), { sm: 80, mapping, vectorize });
  if (PTXAS) {
    for (const sm of [80, 90] as const) {
      const r = assemblePtx(buildPtxModule(programOf(fn), { sm, mapping, vectorize }).ptx, sm);
      expect(r.ok, r.log.slice(0, 2000)).toBe(true);
    }
  }
  return m.ptx;
}

describe('v4Aligned: element index a multiple of 4 at vector steps, 16-aligned buffer', () => {
  const i = svar('i', 64), w = svar('w', 10), r = svar('r', 7);
  it('accepts stride-1 indices whose other terms and constant are multiples of 4', () => {
    expect(v4Aligned(i, 'i', 0)).toBe(true);
    expect(v4Aligned(sadd(smul(w, 64), i), 'i', 64)).toBe(true);
    expect(v4Aligned(sadd(sadd(smul(r, 32), smul(w, 4)), i), 'i', 128)).toBe(true);
    expect(v4Aligned(sadd(i, 8), 'i', 16)).toBe(true);
    expect(v4Aligned(sadd(i, -4), 'i', 16)).toBe(true);
  });
  it('rejects misaligned constants, coefficients and buffer offsets', () => {
    expect(v4Aligned(sadd(i, 1), 'i', 0)).toBe(false);
    expect(v4Aligned(sadd(i, 2), 'i', 0)).toBe(false);
    expect(v4Aligned(sadd(smul(w, 7), i), 'i', 0)).toBe(false);
    expect(v4Aligned(sadd(smul(w, 6), i), 'i', 0)).toBe(false);
    expect(v4Aligned(i, 'i', 8)).toBe(false);
    expect(v4Aligned(i, 'i', 4)).toBe(false);
  });
  it('rejects strides other than 1 and indices that ignore the variable', () => {
    expect(v4Aligned(smul(i, 2), 'i', 0)).toBe(false);
    expect(v4Aligned(smul(w, 4), 'i', 0)).toBe(false);
    expect(v4Aligned(sconst(0), 'i', 0)).toBe(false);
  });
});

describe('planVector', () => {
  const env = (addr: Record<number, number>): PtxEnv => ({ addr: (b) => addr[b] ?? 0, dtype: () => 'f32' });
  const i = svar('i', 64);
  const load = (buf: number, at = i): Expr => ({ k: 'load', buf, at, t: 'f32' });
  const loop = (body: Stmt[], n = 64): Extract<Stmt, { k: 'for' }> => ({ k: 'for', v: 'i', n, body, vector: 4 });

  it('plans an aligned copy loop, not a short or unannotated one', () => {
    const body: Stmt[] = [{ k: 'store', buf: 1, at: i, val: load(0) }];
    expect(planVector(loop(body), env({ 0: 0, 1: 64 }))?.v4Accesses).toBe(2);
    expect(planVector(loop(body, 3), env({}))).toBeUndefined();
    expect(planVector({ k: 'for', v: 'i', n: 64, body }, env({}))).toBeUndefined();
  });
  it('skips a loop with no provably aligned access', () => {
    const body: Stmt[] = [{ k: 'store', buf: 1, at: i, val: load(0) }];
    expect(planVector(loop(body), env({ 0: 4, 1: 8 }))).toBeUndefined();
    expect(planVector(loop(body), env({ 0: 4, 1: 0 }))?.v4Accesses).toBe(1);
  });
  it('keeps outer reductions only when they are the whole body and do not read themselves', () => {
    const acc: Stmt = { k: 'accum', name: 'a', op: 'sum', val: load(0) };
    expect(planVector(loop([acc]), env({}))?.outerAccums.has('a')).toBe(true);
    expect(planVector(loop([acc, { k: 'store', buf: 1, at: i, val: load(0) }]), env({}))).toBeUndefined();
    expect(planVector(loop([acc, acc]), env({}))).toBeUndefined();
    const self: Stmt = { k: 'accum', name: 'a', op: 'sum', val: { k: 'bin', op: 'mul', a: load(0), b: { k: 'local', name: 'a', t: 'f32' }, t: 'f32' } };
    expect(planVector(loop([self]), env({}))).toBeUndefined();
  });
  it('refuses scatter, gather and lane-dependent nested trip counts', () => {
    expect(planVector(loop([{ k: 'storex', buf: 1, at: { k: 'index', s: i }, val: load(0) }]), env({}))).toBeUndefined();
    expect(planVector(loop([{ k: 'store', buf: 1, at: i, val: { k: 'loadx', buf: 0, at: { k: 'index', s: i }, t: 'f32' } }]), env({}))).toBeUndefined();
    const inner: Stmt = { k: 'for', v: 'r', n: 8, end: i, body: [{ k: 'store', buf: 1, at: i, val: load(0) }] };
    expect(planVector(loop([inner]), env({}))).toBeUndefined();
  });
});

describe('16-byte vector accesses in emitted PTX', () => {
  it('an elementwise chain loads and stores 4 floats at a time, with a scalar tail', () => {
    const src = `func @f(%x: f32[8,64], %y: f32[8,64]) -> (z: f32[8,64]) {
  %0 = mul(%x, %y) : f32[8,64]
  %1 = tanh(%0) : f32[8,64]
  %2 = add(%1, %x) : f32[8,64]
  return %2
}`;
    for (const mapping of ['thread', 'warp'] as const) {
      const ptx = ptxOf(src, mapping);
      // two inputs, each loaded once per vector step (x is shared by mul and add)
      expect(count(ptx, V4LD), mapping).toBe(2);
      expect(count(ptx, V4ST), mapping).toBe(1);
      expect(ptx).toContain('ld.global.f32');
      expect(ptx).toContain('st.global.f32');
    }
    const scalar = ptxOf(src, 'thread', false);
    expect(count(scalar, V4LD) + count(scalar, V4ST)).toBe(0);
  });

  it('bias add + relu: the bias row is a contiguous vector load too', () => {
    const ptx = ptxOf(`func @f(%x: f32[16,32], %b: f32[32]) -> (y: f32[16,32]) {
  %0 = broadcast_in_dim(%b) {shape=[16,32], dims=[1]} : f32[16,32]
  %1 = add(%x, %0) : f32[16,32]
  %2 = constant() {value=f32[]{0}} : f32[]
  %3 = broadcast_in_dim(%2) {shape=[16,32], dims=[]} : f32[16,32]
  %4 = max(%1, %3) : f32[16,32]
  return %4
}`, 'thread');
    expect(count(ptx, V4LD)).toBe(2);
    expect(count(ptx, V4ST)).toBe(1);
  });

  const softmax = `func @f(%x: f32[3,300]) -> (y: f32[3,300]) {
  %0 = reduce(%x) {op="max", axes=[1]} : f32[3]
  %1 = broadcast_in_dim(%0) {shape=[3,300], dims=[0]} : f32[3,300]
  %2 = sub(%x, %1) : f32[3,300]
  %3 = exp(%2) : f32[3,300]
  %4 = reduce(%3) {op="sum", axes=[1]} : f32[3]
  %5 = broadcast_in_dim(%4) {shape=[3,300], dims=[0]} : f32[3,300]
  %6 = div(%3, %5) : f32[3,300]
  return %6
}`;
  it('row softmax, thread mapping: both reductions and the output loop read whole vectors', () => {
    const ptx = ptxOf(softmax, 'thread');
    expect(count(ptx, V4LD)).toBe(3);
    expect(count(ptx, V4ST)).toBe(1);
    // reductions combine the 4 lanes one at a time in iteration order (no extra accumulators)
    expect(count(ptx, /max\.NaN\.f32/g)).toBe(5);
  });

  it('row softmax, warp mapping: reductions stay scalar (lane partials unchanged), the output loop is vectorized', () => {
    const ptx = ptxOf(softmax, 'warp');
    expect(count(ptx, V4LD)).toBe(1);
    expect(count(ptx, V4ST)).toBe(1);
    // each lane starts at 4*lane and steps a whole warp of vectors
    expect(ptx).toMatch(/shl\.b32 %r\d+, %r\d+, 2;/);
    expect(ptx).toMatch(/add\.s32 (%r\d+), \1, 128;/);
    expect(count(ptx, /shfl\.sync\.bfly/g)).toBe(10);
  });

  it('column reduction layout: the channel block is the vector, reduced rows stay per lane', () => {
    const ptx = ptxOf(`func @f(%x: f32[64,32]) -> (y: f32[32]) {
  %0 = reduce(%x) {op="sum", axes=[0]} : f32[32]
  return %0
}`, 'thread');
    expect(count(ptx, V4LD)).toBe(1);
    expect(count(ptx, V4ST)).toBe(1);
    // 4 independent lane accumulators inside the reduction loop, then the scalar tail's one
    expect(count(ptx, /add\.rn\.f32/g)).toBe(5);
  });

  it('column reduction with 6 channels: rows of 6 floats are not 16-aligned, the stores are', () => {
    const ptx = ptxOf(`func @f(%x: f32[64,6]) -> (y: f32[6]) {
  %0 = reduce(%x) {op="sum", axes=[0]} : f32[6]
  return %0
}`, 'thread');
    expect(count(ptx, V4LD)).toBe(0);
    expect(count(ptx, V4ST)).toBe(1);
  });

  it('no vector accesses where alignment is unknown (odd rows, offset slices)', () => {
    const ptx = ptxOf(`func @f(%x: f32[5,8]) -> (y: f32[5,7]) {
  %0 = slice(%x) {start=[0,1], limit=[5,8], strides=[1,1]} : f32[5,7]
  %1 = exp(%0) : f32[5,7]
  return %1
}`, 'thread');
    expect(count(ptx, V4LD) + count(ptx, V4ST)).toBe(0);
  });

  it('an offset slice keeps its loads scalar while the aligned stores are vectors', () => {
    const ptx = ptxOf(`func @f(%x: f32[33]) -> (y: f32[32]) {
  %0 = slice(%x) {start=[1], limit=[33], strides=[1]} : f32[32]
  %1 = exp(%0) : f32[32]
  return %1
}`, 'thread');
    expect(count(ptx, V4LD)).toBe(0);
    expect(count(ptx, V4ST)).toBe(1);
  });
});
