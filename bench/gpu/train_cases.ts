/**
 * GPU bench cases for training and tensor cores (used by cases.ts):
 * - cnn_train_adam_b64: one compiled training step (forward, cross-entropy loss, autodiff
 *   backward, Adam update) of conv32-maxpool-conv64-maxpool-dense128-dense10 on 28x28x1, batch
 *   64, as a CUDA training artifact with resident state (buildCudaEntriesArtifact). Expected:
 *   the interpreter running the same step STEPS times (loss per step, final weights).
 * - mma_f16_4096: C = A·B, 4096^3, f16 operands with f32 accumulation on the mma.sync kernel;
 *   inputs are generated on the GPU machine from a seed (bench/gpu/seeded.ts; 2 x 32 MiB would
 *   bloat the bundle) and a sample of outputs is checked against naive f64 dots here.
 * The PyTorch peer (torch_peer.py) runs the same shapes: cuBLAS f16 matmul and an eager
 * training step with torch.optim.Adam.
 */
import { trace } from '../../src/frontend/tracing.js';
import { valueAndGrad } from '../../src/frontend/grad.js';
import { ops, type Tensor } from '../../src/keras/backend.js';
import { categoricalCrossentropy } from '../../src/keras/losses.js';
import { adam } from '../../src/keras/optimizers/adam.js';
import { interpret } from '../../src/ir/interpreter.js';
import { literal, type Literal } from '../../src/ir/literal.js';
import { tensorType } from '../../src/ir/types.js';
import { optimize } from '../../src/passes/pipeline.js';
import { planFusion } from '../../src/passes/fusion_plan.js';
import { buildProgram } from '../../src/codegen/program.js';
import { CUDA_DTYPES } from '../../src/codegen/cuda/backend.js';
import { buildCudaEntriesArtifact } from '../../src/codegen/cuda/artifact.js';
import { emitMmaGemmKernel, emitMmaGemmModule, type MmaGemmSpec } from '../../src/codegen/cuda/mma.js';
import { writeArtifact } from '../../src/runtime/artifact.js';
import { f16BitsToF32, f32ToF16Bits } from '../../src/runtime/dtypes.js';
import { seededValues } from './seeded.js';

export const CNN_BATCH = 64;
export const CNN_STEPS = 3;
const PARAM_SHAPES = [[3, 3, 1, 32], [32], [3, 3, 32, 64], [64], [1600, 128], [128], [128, 10], [10]];
const PARAM_NAMES = ['conv1/kernel', 'conv1/bias', 'conv2/kernel', 'conv2/bias', 'dense1/kernel', 'dense1/bias', 'dense2/kernel', 'dense2/bias'];

function cnnLogits(x: Tensor, p: Tensor[]): Tensor {
  let h = ops.relu(ops.add(ops.conv2d(x, p[0]!), p[1]!));
  h = ops.maxPool(h, 2);
  h = ops.relu(ops.add(ops.conv2d(h, p[2]!), p[3]!));
  h = ops.maxPool(h, 2);
  h = ops.reshape(h, [x.shape[0]!, 1600]);
  h = ops.relu(ops.add(ops.matmul(h, p[4]!), p[5]!));
  return ops.add(ops.matmul(h, p[6]!), p[7]!);
}

/** Glorot-uniform-like seeded weights, zero biases (as Keras initializes them). */
function initParams(): Literal[] {
  return PARAM_SHAPES.map((s, i) => {
    const n = s.reduce((a, b) => a * b, 1);
    if (s.length === 1) return literal(s, 'f32', new Float32Array(n));
    const fanIn = s.slice(0, -1).reduce((a, b) => a * b, 1), fanOut = s[s.length - 1]! * (s.length === 4 ? s[0]! * s[1]! : 1);
    const lim = Math.sqrt(6 / (fanIn + fanOut));
    return literal(s, 'f32', seededValues(n, 1000 + i, -lim, lim));
  });
}

export interface TrainCase {
  readonly name: string;
  readonly cuda: Uint8Array;
  readonly batch: { name: string; shape: number[]; data: Float32Array }[];
  readonly steps: number;
  /** Interpreter loss after each step, and the weights after the last. */
  readonly losses: number[];
  readonly finalState: { name: string; data: Float32Array }[];
}

export function cnnTrainCase(sm: 80 | 90, checkPtx: (name: string, ptx: string) => void): TrainCase {
  const opt = adam({ learningRate: 1e-3 });
  const loss = categoricalCrossentropy({ fromLogits: true });
  const grads = valueAndGrad((xb: Tensor, yb: Tensor, ...ps: Tensor[]) => loss(yb, cnnLogits(xb, ps)), { argnums: PARAM_SHAPES.map((_, i) => 2 + i) });
  const init = initParams();
  const initTensors = init.map((l) => ops.tensor(l.data as Float32Array, [...l.type.shape]));
  const optState = opt.stateTensors(opt.init(initTensors));
  const nP = PARAM_SHAPES.length;
  const step = (xb: Tensor, yb: Tensor, ...rest: Tensor[]) => {
    const ps = rest.slice(0, nP), st = rest.slice(nP);
    const { value, grads: g } = grads(xb, yb, ...ps);
    const r = opt.apply(ps, g, opt.fromTensors(st, nP));
    return [value, ...r.params, ...opt.stateTensors(r.state)];
  };
  const stateLits = [...init, ...optState.map((t) => t.literal!)];
  const stateNames = [...PARAM_NAMES, ...optState.map((_, i) => `adam/${i}`)];
  const types = [tensorType([CNN_BATCH, 28, 28, 1], 'f32'), tensorType([CNN_BATCH, 10], 'f32'), ...stateLits.map((l) => l.type)];
  const { func } = trace(step, types, { name: 'train_step', argNames: ['x', 'y', ...stateNames] });
  func.resultNames = ['loss', ...stateNames.map((n) => `new_${n}`)];
  stateNames.forEach((_, i) => func.aliases.push({ result: 1 + i, param: 2 + i }));

  // The compileEntries layout, for CUDA: state at the bottom, 64-byte aligned.
  const offsets: number[] = [];
  let top = 0;
  for (const l of stateLits) { offsets.push(top); top = Math.ceil((top + l.data.byteLength) / 64) * 64; }
  const fn = optimize(func.clone());
  const pinned = new Map<number, number>();
  fn.params.forEach((p, i) => { const j = stateNames.indexOf(p.name ?? ''); if (j >= 0) pinned.set(i, offsets[j]!); });
  const program = buildProgram(fn, planFusion(fn), { dtypes: CUDA_DTYPES, state: pinned });
  program.kernels.forEach((k, i) => { program.kernels[i] = { ...k, name: `train_step__${k.name}` }; });
  const art = buildCudaEntriesArtifact([{ name: 'train_step', program, pinned, aliases: fn.aliases }], stateLits.map((l, i) => ({
    name: stateNames[i]!, shape: [...l.type.shape], dtype: l.type.dtype, offset: offsets[i]!,
    init: new Uint8Array(l.data.buffer, l.data.byteOffset, l.data.byteLength),
  })), top, { sm });
  checkPtx('cnn_train_adam_b64', art.module.ptx);

  // Batch: seeded images in [0, 1), one-hot labels.
  const x = seededValues(CNN_BATCH * 784, 7, 0, 1);
  const labels = seededValues(CNN_BATCH, 8, 0, 10);
  const y = new Float32Array(CNN_BATCH * 10);
  labels.forEach((v, i) => { y[i * 10 + Math.min(9, Math.floor(v))] = 1; });
  let carried = stateLits;
  const losses: number[] = [];
  for (let s = 0; s < CNN_STEPS; s++) {
    const out = interpret(func, [literal([CNN_BATCH, 28, 28, 1], 'f32', x), literal([CNN_BATCH, 10], 'f32', y), ...carried]);
    losses.push(out[0]!.data[0]!);
    carried = out.slice(1);
  }
  return {
    name: 'cnn_train_adam_b64', cuda: art.bytes, steps: CNN_STEPS, losses,
    batch: [{ name: 'x', shape: [CNN_BATCH, 28, 28, 1], data: x }, { name: 'y', shape: [CNN_BATCH, 10], data: y }],
    finalState: PARAM_NAMES.map((n, i) => ({ name: n, data: carried[i]!.data as Float32Array })),
  };
}

export interface SeededMmaCase {
  readonly name: string;
  readonly cuda: Uint8Array;
  /** Inputs generated on the GPU machine: seededValues(n, seed, -1, 1) rounded to f16. */
  readonly inputs: { name: string; shape: number[]; seed: number }[];
  /** Sampled outputs: flat index -> expected value. */
  readonly sample: { at: number[]; want: number[] };
}

export function mmaF16Case(n: number, sm: 80 | 90, checkPtx: (name: string, ptx: string) => void): SeededMmaCase {
  const name = `mma_f16_${n}`;
  const a = 0, b = n * n * 2, c = 2 * n * n * 2;
  const spec: MmaGemmSpec = { name, M: n, N: n, K: n, dtype: 'f16', aLayout: 'row', bLayout: 'row', a, b, c };
  const ptx = emitMmaGemmModule(spec, sm);
  checkPtx(name, ptx);
  const kernel = emitMmaGemmKernel(spec);
  const memoryBytes = c + n * n * 4;
  const manifest = {
    format: 'kiln' as const, version: 1, target: 'cuda', name,
    inputs: [{ name: 'a', shape: [n, n], dtype: 'f16' as const, offset: a }, { name: 'b', shape: [n, n], dtype: 'f16' as const, offset: b }],
    outputs: [{ name: 'c', shape: [n, n], dtype: 'f32' as const, offset: c }],
    memory: { pages: Math.ceil(memoryBytes / 65536) },
    kernels: [{ name, work: 0 }], schedule: [0],
    cuda: { sm, memoryBytes, launches: [{ grid: [...kernel.launch.grid], block: [...kernel.launch.block], threadsPerItem: 0 }] },
  };
  const bytes = writeArtifact({ manifest, sections: { ptx: new TextEncoder().encode(ptx) } });
  const round = (x: number) => f16BitsToF32(f32ToF16Bits(x));
  const A = seededValues(n * n, 11, -1, 1).map(round), B = seededValues(n * n, 12, -1, 1).map(round);
  const at: number[] = [], want: number[] = [];
  for (let s = 0; s < 256; s++) {
    const m = (s * 2654435761) % n, j = (s * 40503 + 17) % n;
    let acc = 0;
    for (let k = 0; k < n; k++) acc += A[m * n + k]! * B[k * n + j]!;
    at.push(m * n + j);
    want.push(acc);
  }
  return { name, cuda: bytes, inputs: [{ name: 'a', shape: [n, n], seed: 11 }, { name: 'b', shape: [n, n], seed: 12 }], sample: { at, want } };
}
