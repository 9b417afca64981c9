import { describe, expect, it } from 'vitest';
import { parseFunc } from '../../ir/parse.js';
import { randomInputs } from '../../ir/random.js';
import { literal } from '../../ir/literal.js';
import { compile } from '../../compile.js';
import { compareCompiled } from './test_util.js';
import '../../ir/ops/index.js';

// dot_general groups lower to the register-blocked GEMM micro-kernel: weights packed at compile
// time when constant, packed by a kernel at run time otherwise (training), A read transposed
// when its contracting dim is outer, and the group's epilogue applied before the store.
function weights(k: number, n: number, seed: number): string {
  const vals = Array.from({ length: k * n }, (_, i) => (Math.sin(i * 12.9898 + seed) * 0.5).toFixed(6));
  return `f32[${k},${n}]{${vals.join(', ')}}`;
}

describe('GEMM lowering', () => {
  it('dense + bias + relu with constant weights is one packed-GEMM kernel and matches', async () => {
    const fn = parseFunc(`func @dense(%x: f32[7,13]) -> (y: f32[7,10]) {
  %w = constant() {value=${weights(13, 10, 1)}} : f32[13,10]
  %b = constant() {value=${weights(1, 10, 2).replace('f32[1,10]', 'f32[10]')}} : f32[10]
  %0 = dot_general(%x, %w) {lhs_batch=[], rhs_batch=[], lhs_contract=[1], rhs_contract=[0]} : f32[7,10]
  %1 = broadcast_in_dim(%b) {shape=[7,10], dims=[1]} : f32[7,10]
  %2 = add(%0, %1) : f32[7,10]
  %z = constant() {value=f32[]{0}} : f32[]
  %3 = broadcast_in_dim(%z) {shape=[7,10], dims=[]} : f32[7,10]
  %4 = max(%2, %3) : f32[7,10]
  return %4
}`);
    const art = compile(fn);
    expect(art.program.kernels.map((k) => k.note)).toEqual(['gemm 7x10x13']);
    for (const threads of [1, 2]) {
      expect(await compareCompiled(fn, randomInputs(fn, 3), { load: { threads } })).toBeUndefined();
    }
  });

  it('runtime operands (as in training) are packed by a kernel; transposed A; residual epilogue', async () => {
    const fn = parseFunc(`func @f(%x: f32[9,6], %w: f32[9,11], %r: f32[6,11]) -> (y: f32[6,11]) {
  %0 = dot_general(%x, %w) {lhs_batch=[], rhs_batch=[], lhs_contract=[0], rhs_contract=[0]} : f32[6,11]
  %1 = add(%0, %r) : f32[6,11]
  %2 = tanh(%1) : f32[6,11]
  return %2
}`);
    const art = compile(fn);
    expect(art.program.kernels.map((k) => k.note)).toEqual(['pack rhs', 'gemm 6x11x9']);
    expect(await compareCompiled(fn, randomInputs(fn, 5), { load: { threads: 2 } })).toBeUndefined();
  });

  it('a transposed right operand (x @ w^T) and sizes that are not multiples of the tile', async () => {
    const fn = parseFunc(`func @f(%x: f32[33,17], %w: f32[65,17]) -> (y: f32[33,65]) {
  %0 = dot_general(%x, %w) {lhs_batch=[], rhs_batch=[], lhs_contract=[1], rhs_contract=[1]} : f32[33,65]
  return %0
}`);
    expect(compile(fn).program.kernels.some((k) => k.note.startsWith('gemm'))).toBe(true);
    const x = literal([33, 17], 'f32', Array.from({ length: 33 * 17 }, (_, i) => Math.cos(i)));
    const w = literal([65, 17], 'f32', Array.from({ length: 65 * 17 }, (_, i) => Math.sin(i * 0.37)));
    expect(await compareCompiled(fn, [x, w], { load: { threads: 1 } })).toBeUndefined();
    expect(await compareCompiled(fn, [x, w], { load: { threads: 2 } })).toBeUndefined();
  });
  it('sign in the epilogue (an L1 penalty\'s gradient) is applied per vector: 1, -1, and zeros kept', async () => {
    const fn = parseFunc(`func @f(%x: f32[5,3], %w: f32[3,9]) -> (y: f32[5,9]) {
  %0 = dot_general(%x, %w) {lhs_batch=[], rhs_batch=[], lhs_contract=[1], rhs_contract=[0]} : f32[5,9]
  %1 = sign(%0) : f32[5,9]
  return %1
}`);
    expect(compile(fn).program.kernels.map((k) => k.note)).toEqual(['pack rhs', 'gemm 5x9x3']);
    // Rows of x with zeros give exact zero products, so all three outcomes of sign occur.
    const x = literal([5, 3], 'f32', [1, 2, 3, 0, 0, 0, -1, 0.5, 2, 4, -4, 1, 0, 0, -2]);
    const w = literal([3, 9], 'f32', Array.from({ length: 27 }, (_, i) => Math.sin(i * 0.91)));
    for (const threads of [1, 2]) expect(await compareCompiled(fn, [x, w], { load: { threads } })).toBeUndefined();
  });
  it('one time step of a time-major projection (a contiguous block) is read in the epilogue at an offset, with no slice kernel', async () => {
    // z_t = P[t] + h·R for t = 2 of a [4, 6, 10] projection: the slice is rows 12..17 of P.
    const fn = parseFunc(`func @f(%p: f32[24,10], %h: f32[6,5], %r: f32[5,10]) -> (z: f32[6,10]) {
  %0 = reshape(%p) {shape=[4,6,10]} : f32[4,6,10]
  %1 = slice(%0) {start=[2, 0, 0], limit=[3, 6, 10], strides=[1, 1, 1]} : f32[1,6,10]
  %2 = reshape(%1) {shape=[6,10]} : f32[6,10]
  %3 = dot_general(%h, %r) {lhs_batch=[], rhs_batch=[], lhs_contract=[1], rhs_contract=[0]} : f32[6,10]
  %4 = add(%2, %3) : f32[6,10]
  %5 = tanh(%4) : f32[6,10]
  return %5
}`);
    expect(compile(fn).program.kernels.map((k) => k.note)).toEqual(['pack rhs', 'gemm 6x10x5']);
    for (const threads of [1, 2]) expect(await compareCompiled(fn, randomInputs(fn, 8), { load: { threads } })).toBeUndefined();
  });
  it('a splat operand computed in the group (a zero or constant initial state) is written out and multiplied by the GEMM, not the scalar dot', async () => {
    for (const c of ['0', '0.5']) {
      const fn = parseFunc(`func @f(%r: f32[7,12], %x: f32[5,12]) -> (z: f32[5,12], g: f32[7,12]) {
  %c = constant() {value=f32[]{${c}}} : f32[]
  %h = broadcast_in_dim(%c) {shape=[5,7], dims=[]} : f32[5,7]
  %0 = dot_general(%h, %r) {lhs_batch=[], rhs_batch=[], lhs_contract=[1], rhs_contract=[0]} : f32[5,12]
  %1 = add(%x, %0) : f32[5,12]
  %2 = dot_general(%h, %x) {lhs_batch=[], rhs_batch=[], lhs_contract=[0], rhs_contract=[0]} : f32[7,12]
  return %1, %2
}`);
      const notes = compile(fn).program.kernels.map((k) => k.note);
      expect(notes.filter((n) => n.startsWith('gemm 5x12x7') || n.startsWith('gemm 7x12x5')), notes.join('; ')).toHaveLength(2);
      expect(notes).not.toContain('dot_general');
      for (const threads of [1, 2]) expect(await compareCompiled(fn, randomInputs(fn, 10), { load: { threads } })).toBeUndefined();
    }
  });
  it('a strided slice (one time step of a batch-major sequence) stays out of the GEMM epilogue', async () => {
    const fn = parseFunc(`func @f(%p: f32[6,4,10], %h: f32[6,5], %r: f32[5,10]) -> (z: f32[6,10]) {
  %1 = slice(%p) {start=[0, 2, 0], limit=[6, 3, 10], strides=[1, 1, 1]} : f32[6,1,10]
  %2 = reshape(%1) {shape=[6,10]} : f32[6,10]
  %3 = dot_general(%h, %r) {lhs_batch=[], rhs_batch=[], lhs_contract=[1], rhs_contract=[0]} : f32[6,10]
  %4 = add(%2, %3) : f32[6,10]
  return %4
}`);
    const notes = compile(fn).program.kernels.map((k) => k.note);
    expect(notes).toContain('gemm 6x10x5');
    expect(await compareCompiled(fn, randomInputs(fn, 9), { load: { threads: 1 } })).toBeUndefined();
    // A contiguous block of a transposed value: the transpose is not computed inside the epilogue.
    const tr = parseFunc(`func @f(%p: f32[6,4,10], %h: f32[6,5], %r: f32[5,10]) -> (z: f32[6,10]) {
  %0 = transpose(%p) {perm=[1, 0, 2]} : f32[4,6,10]
  %1 = slice(%0) {start=[2, 0, 0], limit=[3, 6, 10], strides=[1, 1, 1]} : f32[1,6,10]
  %2 = reshape(%1) {shape=[6,10]} : f32[6,10]
  %3 = dot_general(%h, %r) {lhs_batch=[], rhs_batch=[], lhs_contract=[1], rhs_contract=[0]} : f32[6,10]
  %4 = add(%2, %3) : f32[6,10]
  return %4
}`);
    const trNotes = compile(tr).program.kernels.map((k) => k.note);
    expect(trNotes, trNotes.join('; ')).toContain('gemm 6x10x5');
    expect(await compareCompiled(tr, randomInputs(tr, 9), { load: { threads: 1 } })).toBeUndefined();
  });
});
