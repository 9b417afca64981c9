/**
 * The GPU bench cases, built on the compiling machine by prepare.mjs: each case is a Func (IR
 * text, random graphs, or a Keras model) compiled to a "cuda" artifact and to a WebAssembly
 * artifact (the peer measured in the same run on the GPU machine's CPU), with seeded inputs and
 * the interpreter's outputs as the expected values. Plus raw tensor-core GEMM artifacts (the
 * standalone mma.sync kernels) whose expected outputs come from naive loops over the
 * f16/bf16-rounded operands.
 */
import * as kiln from '../../src/index.js';
import { parseFunc } from '../../src/ir/parse.js';
import { interpret } from '../../src/ir/interpreter.js';
import { literal, type Literal } from '../../src/ir/literal.js';
import { randomFunc, randomInputs, Rng } from '../../src/ir/random.js';
import type { Func } from '../../src/ir/function.js';
import { optimize } from '../../src/passes/pipeline.js';
import { planFusion } from '../../src/passes/fusion_plan.js';
import { buildProgram } from '../../src/codegen/program.js';
import { CUDA_DTYPES } from '../../src/codegen/cuda/backend.js';
import { buildCudaArtifact } from '../../src/codegen/cuda/artifact.js';
import { emitMmaGemmModule, emitMmaGemmKernel, type MmaGemmSpec } from '../../src/codegen/cuda/mma.js';
import { writeArtifact } from '../../src/runtime/artifact.js';
import { assemblePtx, findPtxas } from '../../src/codegen/cuda/ptxas.js';
import { f32ToF16Bits, f16BitsToF32, f32ToBf16Bits, bf16BitsToF32 } from '../../src/runtime/dtypes.js';
import '../../src/ir/ops/index.js';

export interface Tensor {
  name: string;
  dtype: string;
  shape: number[];
  data: number[];
}

export interface BenchCase {
  name: string;
  /** 'correctness' cases are compared only; 'perf' cases are also timed. */
  kind: 'correctness' | 'perf';
  cuda: Uint8Array;
  wasm?: Uint8Array;
  inputs: Tensor[];
  expected: Tensor[];
  rtol: number;
  atol: number;
}

const lit = (l: Literal, name: string): Tensor => ({ name, dtype: l.type.dtype, shape: [...l.type.shape], data: Array.from(l.data as ArrayLike<number>) });

function fromFunc(name: string, kind: BenchCase['kind'], fn: Func, inputs: Literal[], sm: 80 | 90, rtol = 1e-4, atol = 1e-5): BenchCase {
  const opt = optimize(fn);
  const program = buildProgram(opt, planFusion(opt), { dtypes: CUDA_DTYPES });
  const art = buildCudaArtifact(program, { sm });
  checkPtx(name, art.module.ptx, sm);
  const want = interpret(fn, inputs);
  let wasm: Uint8Array | undefined;
  try {
    wasm = kiln.compile(fn, { threads: false }).bytes;
  } catch {
    wasm = undefined; // e.g. f16 values: the WebAssembly target does not store them
  }
  return {
    name, kind, cuda: art.bytes, wasm, rtol, atol,
    inputs: inputs.map((l, i) => lit(l, art.manifest.inputs[i]!.name)),
    expected: want.map((l, i) => lit(l, art.manifest.outputs[i]!.name)),
  };
}

/** Where ptxas is installed, a case whose PTX it rejects stops the preparation. */
class PtxRejected extends Error {}
function checkPtx(name: string, ptx: string, sm: number): void {
  if (!findPtxas()) return;
  const r = assemblePtx(ptx, sm);
  if (!r.ok) throw new PtxRejected(`${name}: ptxas rejected the PTX for sm_${sm}:\n${r.log}`);
}

function seeded(shape: number[], seed: number, scale = 1): Literal {
  const r = new Rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return literal(shape, 'f32', Array.from({ length: n }, () => (r.next() * 2 - 1) * scale));
}

function matmul(M: number, K: number, N: number): Func {
  return parseFunc(`func @matmul(%a: f32[${M},${K}], %b: f32[${K},${N}]) -> (c: f32[${M},${N}]) {
  %0 = dot_general(%a, %b) {lhs_batch=[], rhs_batch=[], lhs_contract=[1], rhs_contract=[0]} : f32[${M},${N}]
  return %0
}`);
}

function softmax(R: number, C: number): Func {
  return parseFunc(`func @softmax(%x: f32[${R},${C}]) -> (y: f32[${R},${C}]) {
  %0 = reduce(%x) {op="max", axes=[1]} : f32[${R}]
  %1 = broadcast_in_dim(%0) {shape=[${R},${C}], dims=[0]} : f32[${R},${C}]
  %2 = sub(%x, %1) : f32[${R},${C}]
  %3 = exp(%2) : f32[${R},${C}]
  %4 = reduce(%3) {op="sum", axes=[1]} : f32[${R}]
  %5 = broadcast_in_dim(%4) {shape=[${R},${C}], dims=[0]} : f32[${R},${C}]
  %6 = div(%3, %5) : f32[${R},${C}]
  return %6
}`);
}

function cnn(batch: number): Func {
  kiln.resetLayerNames();
  const m = kiln.sequential([
    kiln.layers.conv2d({ filters: 32, kernelSize: 3, padding: 'same', activation: 'relu', inputShape: [32, 32, 3] }),
    kiln.layers.maxPooling2d({ poolSize: 2 }),
    kiln.layers.conv2d({ filters: 64, kernelSize: 3, padding: 'same', activation: 'relu' }),
    kiln.layers.globalAveragePooling2d({}),
    kiln.layers.dense({ units: 10, activation: 'softmax' }),
  ]);
  return kiln.toFunc(m as unknown as kiln.Compilable, { inputShapes: [[batch, 32, 32, 3]] });
}

function mmaCase(spec: Omit<MmaGemmSpec, 'a' | 'b' | 'c' | 'name'>, sm: 80 | 90, seed: number): BenchCase {
  const { M, N, K, dtype } = spec;
  const name = `mma_${dtype}_${spec.aLayout}${spec.bLayout}_${M}x${N}x${K}`;
  const align = (x: number) => Math.ceil(x / 256) * 256;
  const a = 0, b = align(M * K * 2), bias = align(b + K * N * 2), c = align(bias + N * 4);
  const full: MmaGemmSpec = { ...spec, name, a, b, c, epilogue: { bias, activation: 'relu', out: 'f32' } };
  const round = dtype === 'f16' ? (x: number) => f16BitsToF32(f32ToF16Bits(x)) : (x: number) => bf16BitsToF32(f32ToBf16Bits(x));
  const r = new Rng(seed);
  const A = Array.from({ length: M * K }, () => round(r.next() * 2 - 1)); // stored in aLayout order
  const B = Array.from({ length: K * N }, () => round(r.next() * 2 - 1)); // stored in bLayout order
  const Bias = Array.from({ length: N }, () => r.next() - 0.5);
  const at = (m: number, k: number) => (spec.aLayout === 'row' ? A[m * K + k]! : A[k * M + m]!);
  const bt = (k: number, n: number) => (spec.bLayout === 'row' ? B[k * N + n]! : B[n * K + k]!);
  const C: number[] = [];
  for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) {
    let s = 0;
    for (let k = 0; k < K; k++) s += at(m, k) * bt(k, n);
    C.push(Math.max(0, s + Bias[n]!));
  }
  const kernel = emitMmaGemmKernel(full);
  const memoryBytes = c + M * N * 4;
  const manifest = {
    format: 'kiln' as const, version: 1, target: 'cuda', name,
    inputs: [
      { name: 'a', shape: spec.aLayout === 'row' ? [M, K] : [K, M], dtype, offset: a },
      { name: 'b', shape: spec.bLayout === 'row' ? [K, N] : [N, K], dtype, offset: b },
      { name: 'bias', shape: [N], dtype: 'f32' as const, offset: bias },
    ],
    outputs: [{ name: 'c', shape: [M, N], dtype: 'f32' as const, offset: c }],
    memory: { pages: Math.ceil(memoryBytes / 65536) },
    kernels: [{ name, work: 0 }],
    schedule: [0],
    cuda: { sm, memoryBytes, launches: [{ grid: [...kernel.launch.grid], block: [...kernel.launch.block], threadsPerItem: 0 }] },
  };
  const ptx = emitMmaGemmModule(full, sm);
  checkPtx(name, ptx, sm);
  const bytes = writeArtifact({ manifest, sections: { ptx: new TextEncoder().encode(ptx) } });
  return {
    name, kind: 'perf', cuda: bytes, rtol: 2e-3, atol: 2e-3,
    inputs: [
      { name: 'a', dtype, shape: manifest.inputs[0]!.shape, data: A },
      { name: 'b', dtype, shape: manifest.inputs[1]!.shape, data: B },
      { name: 'bias', dtype: 'f32', shape: [N], data: Bias },
    ],
    expected: [{ name: 'c', dtype: 'f32', shape: [M, N], data: C }],
  };
}

export function buildCases(sm: 80 | 90, quick: boolean): BenchCase[] {
  const cases: BenchCase[] = [];
  // Correctness: each op alone and random graphs (the same generators the WebAssembly tests use).
  for (let seed = 100; cases.length < (quick ? 10 : 60) && seed < 1000; seed++) {
    const fn = randomFunc(seed, { size: 14 });
    if ([...fn.params, ...fn.body].some((v) => v.dtype === 'f16' || v.dtype === 'bf16')) continue;
    try {
      cases.push(fromFunc(`random_${seed}`, 'correctness', fn, randomInputs(fn, seed), sm));
    } catch (e) {
      if (e instanceof PtxRejected) throw e;
      continue; // graphs the shared program builder rejects for every target
    }
  }
  // Performance (and correctness at size): matmul through the tiled gemm kernel, row softmax
  // through the warp mapping, a small CNN, tensor-core GEMMs.
  const mm = quick ? [128] : [256, 512, 1024];
  for (const n of mm) cases.push(fromFunc(`matmul_f32_${n}`, 'perf', matmul(n, n, n), [seeded([n, n], 1), seeded([n, n], 2)], sm, 1e-3, 1e-3));
  cases.push(fromFunc('softmax_512x1024', 'perf', softmax(512, 1024), [seeded([512, 1024], 3, 4)], sm));
  const fcnn = cnn(quick ? 2 : 16);
  cases.push(fromFunc(`cnn_b${quick ? 2 : 16}`, 'perf', fcnn, [seeded([...fcnn.params[0]!.shape], 4)], sm, 1e-3, 1e-4));
  for (const dtype of ['f16', 'bf16'] as const) {
    cases.push(mmaCase({ M: 200, N: 136, K: 72, dtype, aLayout: 'row', bLayout: 'col' }, sm, 5));
    cases.push(mmaCase({ M: 70, N: 45, K: 40, dtype, aLayout: 'col', bLayout: 'row' }, sm, 6));
    if (!quick) cases.push(mmaCase({ M: 1024, N: 1024, K: 1024, dtype, aLayout: 'row', bLayout: 'row' }, sm, 7));
  }
  return cases;
}

export { cnnTrainCase, mmaF16Case, type TrainCase, type SeededMmaCase } from './train_cases.js';
import { cnnTrainCase as trainCase, mmaF16Case as seededMma } from './train_cases.js';

/** The training step and the 4096^3 f16 GEMM (skipped with --quick: the reference step takes ~1 min). */
export function buildExtraCases(sm: 80 | 90, quick: boolean) {
  const check = (name: string, ptx: string) => checkPtx(name, ptx, sm);
  if (quick) return { train: [], seeded: [seededMma(256, sm, check)] };
  return { train: [trainCase(sm, check)], seeded: [seededMma(4096, sm, check)] };
}
