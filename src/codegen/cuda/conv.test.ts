import { describe, expect, it } from 'vitest';
import { parseFunc } from '../../ir/parse.js';
import type { Program } from '../program.js';
import type { Conv2d, Gemm } from '../kernel_ir.js';
import { assemblePtx, findPtxas } from './ptxas.js';
import { programOf } from './test_util.js';
import { buildPtxModule } from './backend.js';
import '../../ir/ops/index.js';

// conv2d statements (implicit-GEMM conv, depthwise, max pooling) and gemm statements with 16-bit
// operands (tensor cores) become PTX that ptxas accepts for sm_80 and sm_90.
const PTXAS = findPtxas();
if (!PTXAS) console.warn('SKIPPED: ptxas not found (install the CUDA toolkit or set PTXAS); conv/mma PTX is not validated');
const withPtxas = PTXAS ? it : it.skip;

function assembles(p: Program, what: string): void {
  for (const sm of [80, 90] as const) {
    const r = assemblePtx(buildPtxModule(p, { sm }).ptx, sm);
    expect(r.ok, `${what} sm_${sm}: ${r.log.slice(0, 2000)}`).toBe(true);
  }
}

const conv2dOf = (p: Program): Conv2d[] => p.kernels.flatMap((k) => k.body.flatMap((s) => (s.k === 'conv2d' ? [s.c] : [])));

const convBiasRelu = parseFunc(`func @f(%x: f32[2,11,13,3], %k: f32[3,3,3,20], %b: f32[20]) -> (y: f32[2,6,7,20]) {
  %0 = conv(%x, %k) {strides=[2,2], pad_lo=[1,1], pad_hi=[1,1]} : f32[2,6,7,20]
  %1 = broadcast_in_dim(%b) {shape=[2,6,7,20], dims=[3]} : f32[2,6,7,20]
  %2 = add(%0, %1) : f32[2,6,7,20]
  %3 = constant() {value=f32[]{0}} : f32[]
  %4 = broadcast_in_dim(%3) {shape=[2,6,7,20], dims=[]} : f32[2,6,7,20]
  %5 = max(%2, %4) : f32[2,6,7,20]
  return %5
}`);

const dilated = parseFunc(`func @f(%x: f32[1,12,12,5], %k: f32[3,3,5,7]) -> (y: f32[1,8,8,7]) {
  %0 = conv(%x, %k) {strides=[1,1], pad_lo=[0,0], pad_hi=[0,0], rhs_dilation=[2,2]} : f32[1,8,8,7]
  return %0
}`);

const depthwise = parseFunc(`func @f(%x: f32[2,10,10,6], %k: f32[3,3,1,6]) -> (y: f32[2,10,10,6]) {
  %0 = conv(%x, %k) {strides=[1,1], pad_lo=[1,1], pad_hi=[1,1], groups=6} : f32[2,10,10,6]
  %1 = tanh(%0) : f32[2,10,10,6]
  return %1
}`);

const maxpool = parseFunc(`func @f(%x: f32[3,9,9,4]) -> (y: f32[3,5,5,4]) {
  %0 = reduce_window(%x) {op="max", window=[1,3,3,1], strides=[1,2,2,1], pad_lo=[0,1,1,0], pad_hi=[0,1,1,0]} : f32[3,5,5,4]
  return %0
}`);

describe('conv2d statements on CUDA', () => {
  it('lower to conv2d statements of each kind (the CUDA program builder keeps window kernels on)', () => {
    expect(conv2dOf(programOf(convBiasRelu)).map((c) => c.kind)).toEqual(['conv']);
    expect(conv2dOf(programOf(dilated)).map((c) => [c.kind, ...c.dilations])).toEqual([['conv', 2, 2]]);
    expect(conv2dOf(programOf(depthwise)).map((c) => c.kind)).toEqual(['depthwise']);
    expect(conv2dOf(programOf(maxpool)).map((c) => c.kind)).toEqual(['maxpool']);
  });

  it('conv is the tiled gemm over output pixels x channels; depthwise/pool a grid over outputs', () => {
    const conv = buildPtxModule(programOf(convBiasRelu), { sm: 80 });
    const p = programOf(convBiasRelu);
    const ci = p.kernels.findIndex((k) => k.body[0]?.k === 'conv2d');
    // M = 2*6*7 = 84 pixels -> 2 row tiles, N = 20 channels -> 1 column tile
    expect(conv.launches[ci]!.grid).toEqual([1, 2, 1]);
    expect(conv.launches[ci]!.threadsPerItem).toBe(0);
    expect(conv.ptx).toContain('bar.sync 0');
    const plainDw = parseFunc(`func @f(%x: f32[2,10,10,6], %k: f32[3,3,1,6]) -> (y: f32[2,10,10,6]) {
  %0 = conv(%x, %k) {strides=[1,1], pad_lo=[1,1], pad_hi=[1,1], groups=6} : f32[2,10,10,6]
  return %0
}`);
    const dw = buildPtxModule(programOf(plainDw), { sm: 80 });
    // 2*10*10*6 = 1200 outputs, 256 threads per block
    expect(dw.launches[0]!.grid).toEqual([5, 1, 1]);
    expect(dw.ptx.match(/fma\.rn\.f32/g)!.length).toBe(9);
    const mp = buildPtxModule(programOf(maxpool), { sm: 80 });
    expect(mp.ptx.match(/max\.NaN\.f32/g)!.length).toBe(9);
    expect(mp.ptx).toContain('0fFF800000'); // -inf start: padded taps are skipped, not read
  });

  for (const [name, f] of [['conv + bias + relu (stride 2, pad 1)', convBiasRelu], ['dilated conv', dilated], ['depthwise + tanh', depthwise], ['max pool (padded)', maxpool]] as const) {
    withPtxas(`${name} assembles for sm_80 and sm_90`, () => assembles(programOf(f), name));
  }

  withPtxas('a small CNN (conv-maxpool-conv-maxpool-dense) assembles', () => {
    const cnn = parseFunc(`func @cnn(%x: f32[4,28,28,1], %k1: f32[3,3,1,32], %k2: f32[3,3,32,64], %w: f32[1600,10]) -> (y: f32[4,10]) {
  %0 = conv(%x, %k1) {strides=[1,1], pad_lo=[0,0], pad_hi=[0,0]} : f32[4,26,26,32]
  %1 = reduce_window(%0) {op="max", window=[1,2,2,1], strides=[1,2,2,1], pad_lo=[0,0,0,0], pad_hi=[0,0,0,0]} : f32[4,13,13,32]
  %2 = conv(%1, %k2) {strides=[1,1], pad_lo=[0,0], pad_hi=[0,0]} : f32[4,11,11,64]
  %3 = reduce_window(%2) {op="max", window=[1,2,2,1], strides=[1,2,2,1], pad_lo=[0,0,0,0], pad_hi=[0,0,0,0]} : f32[4,5,5,64]
  %4 = reshape(%3) {shape=[4,1600]} : f32[4,1600]
  %5 = dot_general(%4, %w) {lhs_batch=[], rhs_batch=[], lhs_contract=[1], rhs_contract=[0]} : f32[4,10]
  return %5
}`);
    const p = programOf(cnn);
    expect(conv2dOf(p).map((c) => c.kind)).toEqual(['conv', 'maxpool', 'conv', 'maxpool']);
    assembles(p, 'cnn');
  });
});

/** The f32 program of a dot with its A and packed-B buffers retyped to `dtype` (what a 16-bit lowering produces). */
function sixteenBit(p: Program, dtype: 'f16' | 'bf16' | 'f32', bDtype = dtype): Program {
  const k = p.kernels.find((x) => x.body[0]?.k === 'gemm')!;
  const g = (k.body[0] as { g: Gemm }).g;
  const buffers = p.buffers.map((b) => (b.id === g.a.buf ? { ...b, dtype } : b.id === g.bPacked ? { ...b, dtype: bDtype } : b));
  return { ...p, buffers, kernels: [k] };
}

describe('gemm statements with 16-bit operands use tensor cores', () => {
  const dense = parseFunc(`func @f(%x: f32[70,40], %w: f32[40,45], %b: f32[45]) -> (y: f32[70,45]) {
  %0 = dot_general(%x, %w) {lhs_batch=[], rhs_batch=[], lhs_contract=[1], rhs_contract=[0]} : f32[70,45]
  %1 = broadcast_in_dim(%b) {shape=[70,45], dims=[1]} : f32[70,45]
  %2 = add(%0, %1) : f32[70,45]
  %3 = tanh(%2) : f32[70,45]
  return %3
}`);
  const transposedA = parseFunc(`func @f(%x: f32[40,70], %w: f32[40,45]) -> (y: f32[70,45]) {
  %0 = dot_general(%x, %w) {lhs_batch=[], rhs_batch=[], lhs_contract=[0], rhs_contract=[0]} : f32[70,45]
  return %0
}`);

  it('f16 and bf16 operands give mma.sync with f32 accumulation; f32 operands keep the SIMT kernel', () => {
    for (const dt of ['f16', 'bf16'] as const) {
      const m = buildPtxModule(sixteenBit(programOf(dense), dt), { sm: 80 });
      expect(m.ptx.match(new RegExp(`mma\\.sync\\.aligned\\.m16n8k16\\.row\\.col\\.f32\\.${dt}\\.${dt}\\.f32`, 'g'))!.length).toBe(8);
      expect(m.launches[0]!.block).toEqual([128, 1, 1]);
      expect(m.launches[0]!.grid).toEqual([1, 2, 1]);
    }
    expect(buildPtxModule(sixteenBit(programOf(dense), 'f32'), { sm: 80 }).ptx).not.toContain('mma.sync');
  });

  it('mixed operand dtypes are refused with both named', () => {
    expect(() => buildPtxModule(sixteenBit(programOf(dense), 'f16', 'f32'), { sm: 80 })).toThrow(/A is f16 and packed B is f32; a tensor-core gemm needs both operands in the same 16-bit dtype/);
  });

  for (const dt of ['f16', 'bf16'] as const) {
    withPtxas(`${dt} tensor-core gemm statements (epilogue bias + tanh; transposed A) assemble for sm_80 and sm_90`, () => {
      assembles(sixteenBit(programOf(dense), dt), `dense ${dt}`);
      const t = sixteenBit(programOf(transposedA), dt);
      const g = (t.kernels[0]!.body[0] as { g: Gemm }).g;
      expect(g.a.transA).toBe(true);
      assembles(t, `transposed ${dt}`);
    });
  }
});
