/**
 * The compiler entry point, the one place that ties the stages together:
 * trace (frontend) -> optimize (passes) -> fusion plan -> lower to kernel IR and plan memory
 * (codegen/program) -> emit WebAssembly (codegen/wasm) -> pack a one-file artifact (runtime format).
 */
import { writeFile } from 'node:fs/promises';
import type { Func } from './ir/function.js';
import { KilnError, tensorType, typeToString, type TensorType } from './ir/types.js';
import type { DType } from './ir/dtype.js';
import { optimize } from './passes/pipeline.js';
import { planFusion, type FusionPlan, type FusionOptions } from './passes/fusion_plan.js';
import { explainPlan } from './passes/explain.js';
import { buildProgram, type Program } from './codegen/program.js';
import { emitWasm, memoryPages, WASM_DTYPES, wantsRelaxedVariant } from './codegen/wasm/backend.js';
import { writeArtifact } from './runtime/artifact.js';
import { buildCudaArtifact } from './codegen/cuda/artifact.js';
import { CUDA_DTYPES } from './codegen/cuda/backend.js';
import type { Manifest, ManifestInput } from './runtime/manifest.js';
import { Tensor } from './frontend/tensor.js';
import { trace } from './frontend/tracing.js';

export interface CompileOptions {
  /** 'wasm' (default): WebAssembly SIMD; 'cuda': PTX for NVIDIA GPUs (sm_80 and newer). */
  target?: 'wasm' | 'cuda';
  /** CUDA: the SM architecture the PTX targets (80 or 90). */
  sm?: 80 | 90;
  /**
   * Input shapes (one per input) where the model leaves dimensions unknown (the batch): a model's
   * null dims default to 1. For a plain function, give inputShapes (and inputDtypes) or example tensors.
   */
  inputShapes?: readonly (readonly number[])[];
  inputDtypes?: readonly DType[];
  /** Compile for threads (shared memory). Default true; the runtime still runs it on one thread where needed. */
  threads?: boolean;
  /** Also emit a relaxed-SIMD variant (chosen at load time where the host supports it). Default true. */
  relaxedSimd?: boolean;
  /** Run binaryen's optimizer on the module. Default true. */
  optimizeWasm?: boolean;
  fusion?: FusionOptions;
  name?: string;
}

/** What `kiln.compile` returns: the artifact bytes plus what the compiler knows about them. */
export class CompiledArtifact {
  constructor(
    readonly bytes: Uint8Array,
    readonly manifest: ManifestInput,
    readonly func: Func,
    readonly plan: FusionPlan,
    readonly program: Program,
  ) {}
  /** Peak bytes of the intermediate arena, and what all intermediates would take unplanned. */
  get memory(): { peakBytes: number; sumIntermediateBytes: number; weightsBytes: number } {
    return { peakBytes: this.program.peakBytes, sumIntermediateBytes: this.program.sumIntermediateBytes, weightsBytes: this.program.weights.length };
  }
  explain(): string {
    return explainPlan(this.plan);
  }
  async save(path: string): Promise<void> {
    await writeFile(path, this.bytes);
  }
}

/** Something that can be compiled: an IR Func, a Keras model, or a function of tensors. */
export type Compilable =
  | Func
  | { call(inputs: Tensor | Tensor[], args: { training?: boolean }): Tensor | Tensor[]; readonly inputs: readonly { shape: readonly (number | null)[]; dtype?: string }[]; readonly name: string }
  | ((...args: Tensor[]) => Tensor | readonly Tensor[] | Record<string, Tensor>);

function isFunc(x: unknown): x is Func {
  return typeof x === 'object' && x !== null && 'params' in x && 'body' in x && 'results' in x;
}

/** Trace (if needed) to the IR Func the compiler starts from. */
export function toFunc(target: Compilable, opts: CompileOptions = {}): Func {
  if (isFunc(target)) return target;
  if (typeof target === 'function') {
    const shapes = opts.inputShapes;
    if (!shapes) throw new KilnError(`compile: give inputShapes (and inputDtypes if not f32) for function '${target.name || 'anonymous'}'`);
    const types = shapes.map((s, i) => tensorType(s, opts.inputDtypes?.[i] ?? 'f32'));
    return trace(target as (...a: Tensor[]) => Tensor, types, { name: opts.name ?? (target.name || 'main') }).func;
  }
  const model = target;
  const types: TensorType[] = model.inputs.map((inp, i) => {
    const given = opts.inputShapes?.[i];
    const shape = inp.shape.map((d, j) => {
      if (given) {
        const g = given[j];
        if (g === undefined || (d !== null && d !== g)) {
          throw new KilnError(`compile: model '${model.name}' input ${i} has shape [${inp.shape.map((x) => x ?? 'null')}], inputShapes gives [${given}]`);
        }
        return g;
      }
      return d ?? 1;
    });
    return tensorType(shape, (opts.inputDtypes?.[i] ?? inp.dtype ?? 'f32') as DType);
  });
  const names = model.inputs.map((_, i) => (model.inputs.length === 1 ? 'input' : `input${i}`));
  return trace((...xs: Tensor[]) => {
    const out = model.call(xs.length === 1 ? xs[0]! : xs, { training: false });
    return Array.isArray(out) ? out : (out as Tensor);
  }, types, { name: opts.name ?? model.name, argNames: names }).func;
}

/** Compile a model or function to a one-file WebAssembly artifact. */
export function compile(target: Compilable, opts: CompileOptions = {}): CompiledArtifact {
  const tgt = opts.target ?? 'wasm';
  if (tgt !== 'wasm' && tgt !== 'cuda') throw new KilnError(`compile: unknown target '${String(tgt)}' (available: 'wasm', 'cuda')`);
  const traced = toFunc(target, opts);
  const fn = optimize(traced);
  const plan = planFusion(fn, opts.fusion);
  if (tgt === 'cuda') {
    const program = buildProgram(fn, plan, { dtypes: CUDA_DTYPES, windowKernels: false });
    const cuda = buildCudaArtifact(program, { sm: opts.sm ?? 80 }, { signature: fn.params.map((p) => typeToString(p.type)) });
    return new CompiledArtifact(cuda.bytes, cuda.manifest as ManifestInput, fn, plan, program);
  }
  const program = buildProgram(fn, plan, { dtypes: WASM_DTYPES });
  const shared = opts.threads ?? true;
  const sections: Record<string, Uint8Array> = {
    wasm: emitWasm(program, { relaxed: false, shared, optimize: opts.optimizeWasm }),
  };
  if ((opts.relaxedSimd ?? true) && wantsRelaxedVariant(program)) {
    sections['wasm-relaxed'] = emitWasm(program, { relaxed: true, shared, optimize: opts.optimizeWasm });
  }
  if (program.weights.length > 0) sections['weights'] = program.weights;
  const spec = (io: { name: string; buffer: { shape: readonly number[]; dtype: DType; offset: number } }) =>
    ({ name: io.name, shape: [...io.buffer.shape], dtype: io.buffer.dtype, offset: io.buffer.offset });
  const manifest: ManifestInput = {
    format: 'kiln',
    version: 1,
    target: 'wasm',
    name: fn.name,
    createdBy: 'kiln 0.1.0',
    inputs: program.inputs.map(spec),
    outputs: program.outputs.map(spec),
    memory: {
      pages: memoryPages(program), shared,
      arenaOffset: program.arenaOffset, arenaBytes: program.arenaBytes,
      peakBytes: program.peakBytes, sumIntermediateBytes: program.sumIntermediateBytes,
    },
    ...(program.weights.length > 0 ? { weights: { offset: program.weightsOffset, length: program.weights.length } } : {}),
    kernels: program.kernels.map((k) => ({ name: k.name, work: k.work, note: k.note })),
    schedule: program.kernels.map((_, i) => i),
    meta: { splits: program.splits, signature: fn.params.map((p) => typeToString(p.type)) },
  };
  const bytes = writeArtifact({ manifest, sections });
  return new CompiledArtifact(bytes, manifest, fn, plan, program);
}

export type { Manifest };
