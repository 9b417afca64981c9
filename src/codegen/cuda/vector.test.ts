import { describe, expect, it } from 'vitest';
import { parseFunc } from '../../ir/parse.js';
import { sadd, sconst, smul, svar } from '../symbolic.js';
import type { Expr, Stmt } from '../kernel_ir.js';
import { assemblePtx, findPtxas } from './ptxas.js';
import { programOf } from './test_util.js';
import { buildPtxModule } from './backend.js';
import { planVector, v4Aligned } from './vector.js';
import { parsePtx, runKernel } from './ptx_sim.js';
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

// Without a GPU: run both emissions in a sequential PTX interpreter (thread-independent kernels)
// on random data, compare bit for bit, and against naive loops.
function simulate(src: string, inputs: Float32Array[], opts: { mapping?: 'thread' | 'warp'; vectorize?: boolean }): Float32Array[] {
  const p = programOf(parseFunc(src));
  const m = buildPtxModule(p, { sm: 80, ...opts });
  const mem = new DataView(new ArrayBuffer(p.totalBytes + 64));
  new Uint8Array(mem.buffer).set(p.weights, p.weightsOffset);
  p.inputs.forEach((io, k) => new Float32Array(mem.buffer, io.buffer.offset, inputs[k]!.length).set(inputs[k]!));
  const entries = parsePtx(m.ptx);
  p.kernels.forEach((k, i) => runKernel(entries.get(k.name)!, m.launches[i]!, k.work, mem, k.name));
  return p.outputs.map((io) => new Float32Array(mem.buffer.slice(io.buffer.offset, io.buffer.offset + io.buffer.bytes)));
}

function rand(n: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => { s = (Math.imul(s, 1103515245) + 12345) | 0; return ((s >>> 8) / 2 ** 24) * 4 - 2; });
}

const bits = (x: Float32Array) => Array.from(new Uint32Array(x.buffer, x.byteOffset, x.length));

describe('simulated runs: vectorized PTX equals scalar PTX bit for bit', () => {
  const biasRelu = (rows: number, n: number) => `func @f(%x: f32[${rows},${n}], %b: f32[${n}]) -> (y: f32[${rows},${n}]) {
  %0 = broadcast_in_dim(%b) {shape=[${rows},${n}], dims=[1]} : f32[${rows},${n}]
  %1 = add(%x, %0) : f32[${rows},${n}]
  %2 = constant() {value=f32[]{0}} : f32[]
  %3 = broadcast_in_dim(%2) {shape=[${rows},${n}], dims=[]} : f32[${rows},${n}]
  %4 = max(%1, %3) : f32[${rows},${n}]
  return %4
}`;
  for (const [rows, n, v4ld, v4st] of [[5, 66, 1, 0], [3, 72, 2, 1]] as const) {
    it(`bias add + relu over ${rows} rows of ${n}, thread and warp mappings`, () => {
      const src = biasRelu(rows, n);
      const x = rand(rows * n, 1), b = rand(n, 2);
      const want = Float32Array.from({ length: rows * n }, (_, k) => Math.max(0, Math.fround(x[k]! + b[k % n]!)));
      for (const mapping of ['thread', 'warp'] as const) {
        const ptx = buildPtxModule(programOf(parseFunc(src)), { sm: 80, mapping }).ptx;
        // rows of 66 floats: only the bias row is provably 16-aligned; rows of 72: everything
        expect(count(ptx, V4LD), mapping).toBe(v4ld);
        expect(count(ptx, V4ST), mapping).toBe(v4st);
        const vec = simulate(src, [x, b], { mapping })[0]!;
        const sca = simulate(src, [x, b], { mapping, vectorize: false })[0]!;
        expect(bits(vec), mapping).toEqual(bits(sca));
        expect(bits(vec), mapping).toEqual(bits(want));
      }
    });
  }

  it('flat elementwise with a runtime-bounded last chunk (1030 elements)', () => {
    const src = `func @f(%x: f32[1030], %y: f32[1030]) -> (z: f32[1030]) {
  %0 = mul(%x, %y) : f32[1030]
  %1 = sub(%0, %x) : f32[1030]
  return %1
}`;
    const x = rand(1030, 3), y = rand(1030, 4);
    const vec = simulate(src, [x, y], { mapping: 'thread' })[0]!;
    expect(bits(vec)).toEqual(bits(simulate(src, [x, y], { mapping: 'thread', vectorize: false })[0]!));
    expect(bits(vec)).toEqual(bits(Float32Array.from(x, (v, k) => Math.fround(Math.fround(v * y[k]!) - v))));
  });

  for (const [rows, n] of [[1, 103], [2, 100]] as const) {
    it(`row sum + max reductions over ${rows} rows of ${n} (thread mapping): lane-ordered combines match the scalar loop exactly`, () => {
      const src = `func @f(%x: f32[${rows},${n}]) -> (s: f32[${rows}], m: f32[${rows}]) {
  %0 = reduce(%x) {op="sum", axes=[1]} : f32[${rows}]
  %1 = reduce(%x) {op="max", axes=[1]} : f32[${rows}]
  return %0, %1
}`;
      expect(count(buildPtxModule(programOf(parseFunc(src)), { sm: 80, mapping: 'thread' }).ptx, V4LD)).toBe(2);
      const x = rand(rows * n, 5);
      const vec = simulate(src, [x], { mapping: 'thread' });
      const sca = simulate(src, [x], { mapping: 'thread', vectorize: false });
      expect(bits(vec[0]!)).toEqual(bits(sca[0]!));
      expect(bits(vec[1]!)).toEqual(bits(sca[1]!));
      for (let r = 0; r < rows; r++) {
        let s = 0, m = -Infinity;
        for (let c = 0; c < n; c++) { s = Math.fround(s + x[r * n + c]!); m = Math.max(m, x[r * n + c]!); }
        expect(vec[0]![r]).toBe(s);
        expect(vec[1]![r]).toBe(m);
      }
    });
  }

  for (const [C, v4ld] of [[12, 1], [10, 0]] as const) {
    it(`column reduction layout over ${C} channels (4-channel blocks${C % 4 ? ', a runtime-bounded partial block' : ''})`, () => {
      const src = `func @f(%x: f32[37,${C}]) -> (y: f32[${C}]) {
  %0 = reduce(%x) {op="sum", axes=[0]} : f32[${C}]
  return %0
}`;
      const ptx = buildPtxModule(programOf(parseFunc(src)), { sm: 80, mapping: 'thread' }).ptx;
      expect(count(ptx, V4LD)).toBe(v4ld);
      expect(count(ptx, V4ST)).toBe(1);
      const x = rand(37 * C, 6);
      const vec = simulate(src, [x], { mapping: 'thread' })[0]!;
      expect(bits(vec)).toEqual(bits(simulate(src, [x], { mapping: 'thread', vectorize: false })[0]!));
      const want = Float32Array.from({ length: C }, (_, c) => { let s = 0; for (let r = 0; r < 37; r++) s = Math.fround(s + x[r * C + c]!); return s; });
      expect(bits(vec)).toEqual(bits(want));
    });
  }
});
