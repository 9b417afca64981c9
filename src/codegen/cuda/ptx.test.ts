import { describe, expect, it } from 'vitest';
import { allOps } from '../../ir/registry.js';
import { INT8_OPS, randomFunc } from '../../ir/random.js';
import { printFunc } from '../../ir/print.js';
import { parseFunc } from '../../ir/parse.js';
import type { Func } from '../../ir/function.js';
import type { Program } from '../program.js';
import { assemblePtx, findPtxas } from './ptxas.js';
import { mergedPtx, programOf } from './test_util.js';
import { emitPtx, buildPtxModule } from './backend.js';
import '../../ir/ops/index.js';

// Every kernel the WebAssembly tests produce (each op alone, random graphs) must also assemble
// with ptxas for sm_80 and sm_90, under both work mappings (thread per item, warp per item).
const PTXAS = findPtxas();
if (!PTXAS) console.warn('SKIPPED: ptxas not found (install the CUDA toolkit or set PTXAS); PTX is not validated');
const withPtxas = PTXAS ? it : it.skip;

const ARCHS = [80, 90] as const;
// The int8 ops have no PTX lowering yet (issue 10 point 4, CUDA half): a compile fails naming them.
const OPS = allOps().map((d) => d.name).filter((n) => n !== 'constant' && !INT8_OPS.includes(n));

const isWide = (fn: Func) => [...fn.params, ...fn.body].some((v) => v.dtype === 'f16' || v.dtype === 'bf16');

function checkAssembles(programs: Program[], what: string): number {
  let total = 0;
  for (const sm of ARCHS) {
    for (const mapping of ['thread', undefined] as const) {
      const { ptx, kernels } = mergedPtx(programs, { sm, mapping });
      const r = assemblePtx(ptx, sm);
      expect(r.ok, `${what} sm_${sm} ${mapping ?? 'auto'}: ${r.log.slice(0, 2000)}`).toBe(true);
      total += kernels;
    }
  }
  return total;
}

describe('PTX for each op assembles with ptxas', () => {
  for (const op of OPS) {
    withPtxas(op, () => {
      const programs: Program[] = [];
      const texts: string[] = [];
      for (let seed = 1; programs.length < 4 && seed < 60; seed++) {
        const fn = randomFunc(seed * 7919 + op.length, { ops: [op], size: 3 });
        if (isWide(fn) || !fn.body.some((v) => v.op === op)) continue;
        programs.push(programOf(fn));
        texts.push(printFunc(fn));
      }
      expect(programs.length).toBeGreaterThan(0);
      checkAssembles(programs, `${op}\n${texts.join('\n')}`);
    });
  }
});

describe('PTX for random graphs assembles with ptxas', () => {
  withPtxas('40 random graphs (loop, row, dot/conv, sibling groups)', () => {
    const programs: Program[] = [];
    for (let seed = 100; programs.length < 40 && seed < 500; seed++) {
      const fn = randomFunc(seed, { size: 14 });
      if (isWide(fn)) continue;
      try {
        programs.push(programOf(fn));
      } catch (e) {
        // Not a PTX concern: the shared program builder rejects it for every target.
        console.warn(`seed ${seed}: program not built: ${(e as Error).message}`);
      }
    }
    const kernels = checkAssembles(programs, 'random graphs');
    expect(kernels).toBeGreaterThan(40);
    // the vectorized loops (16-byte accesses) are among what was assembled
    expect(mergedPtx(programs, { sm: 80 }).ptx).toMatch(/(ld|st)\.global\.v4\.f32/);
  });
  withPtxas('random graphs with f16/bf16 values (loaded and stored as 16-bit)', () => {
    const programs: Program[] = [];
    for (let seed = 100; programs.length < 10 && seed < 800; seed++) {
      const fn = randomFunc(seed, { size: 10 });
      if (!isWide(fn)) continue;
      try {
        programs.push(programOf(fn));
      } catch {
        continue; // constants of 16-bit types are not packed by the program builder yet
      }
    }
    expect(programs.length).toBeGreaterThan(0);
    checkAssembles(programs, 'f16/bf16 graphs');
  });
});

describe('PTX emitter structure', () => {
  const softmax = parseFunc(`func @f(%x: f32[3,300]) -> (y: f32[3,300]) {
  %0 = reduce(%x) {op="max", axes=[1]} : f32[3]
  %1 = broadcast_in_dim(%0) {shape=[3,300], dims=[0]} : f32[3,300]
  %2 = sub(%x, %1) : f32[3,300]
  %3 = exp(%2) : f32[3,300]
  %4 = reduce(%3) {op="sum", axes=[1]} : f32[3]
  %5 = broadcast_in_dim(%4) {shape=[3,300], dims=[0]} : f32[3,300]
  %6 = div(%3, %5) : f32[3,300]
  return %6
}`);

  it('a long-row reduction uses the warp mapping with shfl butterflies', () => {
    const m = buildPtxModule(programOf(softmax), { sm: 80 });
    const row = m.launches.find((l) => l.threadsPerItem === 32);
    expect(row, JSON.stringify(m.launches)).toBeDefined();
    expect(m.ptx).toContain('shfl.sync.bfly.b32');
    // two reductions (max, sum), five butterfly steps each
    expect(m.ptx.match(/shfl\.sync\.bfly/g)!.length).toBe(10);
    expect(m.ptx).toContain('max.NaN.f32');
  });

  it('the thread mapping has no shuffles and one thread per work item', () => {
    const m = buildPtxModule(programOf(softmax), { sm: 80, mapping: 'thread' });
    expect(m.ptx).not.toContain('shfl');
    expect(m.launches.every((l) => l.threadsPerItem === 1)).toBe(true);
  });

  it('i32 division follows XLA (guards for 0 and -1) and casts saturate', () => {
    const fn = parseFunc(`func @f(%a: i32[6], %b: i32[6], %c: f32[6]) -> (q: i32[6], i: i8[6]) {
  %0 = div(%a, %b) : i32[6]
  %1 = cast(%c) {dtype="i8"} : i8[6]
  return %0, %1
}`);
    const ptx = emitPtx(programOf(fn), { sm: 90 });
    expect(ptx).toMatch(/setp\.eq\.s32 %p\d+, %r\d+, 0/);
    expect(ptx).toMatch(/setp\.eq\.s32 %p\d+, %r\d+, -1/);
    expect(ptx).toContain('cvt.rzi.s32.f32');
    expect(ptx).toContain('.target sm_90');
  });

  withPtxas('dot_general with a fused epilogue becomes the shared-memory tiled gemm kernel', () => {
    const fn = parseFunc(`func @f(%x: f32[70,33], %w: f32[33,90], %bias: f32[90]) -> (y: f32[70,90]) {
  %0 = dot_general(%x, %w) {lhs_batch=[], rhs_batch=[], lhs_contract=[1], rhs_contract=[0]} : f32[70,90]
  %1 = broadcast_in_dim(%bias) {shape=[70,90], dims=[1]} : f32[70,90]
  %2 = add(%0, %1) : f32[70,90]
  %3 = tanh(%2) : f32[70,90]
  return %3
}`);
    const m = buildPtxModule(programOf(fn), { sm: 80 });
    const g = m.launches.find((l) => l.threadsPerItem === 0);
    expect(g, JSON.stringify(m.launches)).toBeDefined();
    // 64x64 tiles over N=90, M=70
    expect(g!.grid).toEqual([2, 2, 1]);
    expect(m.ptx).toContain('.shared .align 16 .f32');
    expect(m.ptx).toContain('bar.sync 0');
    for (const sm of ARCHS) {
      const r = assemblePtx(buildPtxModule(programOf(fn), { sm }).ptx, sm);
      expect(r.ok, r.log).toBe(true);
    }
  });
});
