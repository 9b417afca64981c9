/**
 * The compiler entry point, the one place that ties the stages together:
 * trace (frontend) -> optimize (passes) -> fusion plan -> lower to kernel IR and plan memory
 * (codegen/program) -> emit WebAssembly (codegen/wasm) -> pack a one-file artifact (runtime format).
 */
import { writeFileAtomic } from './frontend/io/atomic.js';
import type { Func } from './ir/function.js';
import { KilnError, tensorType, typeToString, type TensorType } from './ir/types.js';
import type { DType } from './ir/dtype.js';
import type { Literal } from './ir/literal.js';
import { optimize } from './passes/pipeline.js';
import { planFusion, type FusionPlan, type FusionOptions } from './passes/fusion_plan.js';
import { explainPlan } from './passes/explain.js';
import { buildProgram, manifestSchedule, type Program, type ProgramBuffer } from './codegen/program.js';
import { analyzeBatch, type BatchFactors } from './passes/batch_poly.js';
import { describeBatchWork, planBatchWork, type BatchPlan } from './codegen/batch_work.js';
import { unrollShortLoops } from './codegen/unroll.js';
import { emitWasm, memoryPages, WASM_DTYPES, wantsRelaxedVariant } from './codegen/wasm/backend.js';
import { writeArtifact } from './runtime/artifact.js';
import { buildCudaArtifact, buildCudaEntriesArtifact } from './codegen/cuda/artifact.js';
import { makeMixedPrecision } from './passes/mixed_precision.js';
import { verify } from './ir/verify.js';
import type { Int8QuantizeOptions } from './quantize_options.js';
import { quantizeInt8 } from './quantize_int8.js';
import { describeQuantization, type QuantizeReport } from './passes/quantize.js';
import { CUDA_DTYPES } from './codegen/cuda/backend.js';
import type { Manifest, ManifestInput } from './runtime/manifest.js';
import { Tensor } from './frontend/tensor.js';
import { trace } from './frontend/tracing.js';
import { checkCompileOptions, EXPLAIN_OPTION_NAMES } from './compile_options.js';
import { describe } from './runtime/args.js';
import { describeEncoded, encodeArtifact, encodeWeights, type WeightsMode } from './codegen/weights_encode.js';
import { weightStorageOf } from './frontend/io/weight_storage.js';

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
  /**
   * Run binaryen's optimizer on the module. Default false: V8's optimizing tier does the same
   * work at load, and measured kernels run no faster while compiles take 2-4x longer.
   */
  optimizeWasm?: boolean;
  fusion?: FusionOptions;
  name?: string;
  /**
   * Compute dot_general and conv in f16 or bf16 with f32 accumulation and results; weights stay
   * f32 master copies (CUDA's tensor cores take these; the WebAssembly target computes f32 only).
   */
  mixedPrecision?: 'f16' | 'bf16';
  /**
   * Called after each stage with its wall time in milliseconds, in order: 'trace', 'passes',
   * 'fusion', 'codegen', 'pack' (on CUDA, PTX emission and packing are one 'codegen' step).
   * The `kiln compile` command prints these as progress lines.
   */
  onStage?: (stage: CompileStage, ms: number) => void;
  /**
   * Compile one artifact that runs any batch from 1 to maxBatch: the model's unknown leading
   * dimension (for a function, every input's leading dimension, given as maxBatch in inputShapes)
   * stays the batch; kernels run only the work of the batch given at run time. Refused, naming the
   * op, when the function mixes batch items (a reduction over the batch, a transpose moving it).
   */
  maxBatch?: number;
  /**
   * Quantization. The weight-only modes store the weights compressed in the artifact and decode
   * them once at load, computing in f32 as before: 'int8-weights' (int8 blocks of 64 values with
   * an f32 scale each, about 27% of the f32 size), 'float16-weights' (IEEE half, about 50%).
   * Biases and other vectors, and buffers under 1024 values, stay exact f32. Without this option
   * a model imported with uint8/uint16/float16 weights keeps that storage losslessly; 'none'
   * stores every weight as f32. The artifact's explain() reports what each weight became.
   */
  quantize?: QuantizeOptions | Int8QuantizeOptions;
}

/** `quantize.mode` values (codegen/weights_encode.ts). */
export type QuantizeMode = 'int8-weights' | 'float16-weights' | 'none';
export interface QuantizeOptions {
  mode: QuantizeMode;
}

/** The stages `compile` reports through `onStage`. */
export type CompileStage = 'trace' | 'passes' | 'fusion' | 'codegen' | 'pack';

/** Runs one compile stage, reporting its time to `opts.onStage`. */
function stage<T>(opts: CompileOptions, name: CompileStage, run: () => T): T {
  if (!opts.onStage) return run();
  const t0 = performance.now();
  const out = run();
  opts.onStage(name, performance.now() - t0);
  return out;
}

/** Scans unrolled before planning (codegen/unroll.ts), by the optimized Func, for the plan's explanation. */
const unrolledLog = new WeakMap<Func, string[]>();

/** Short scans unrolled, the standard passes, then mixed precision when asked. */
function optimizeFor(fn: Func, opts: CompileOptions): Func {
  const u = unrollShortLoops(fn);
  const out = optimize(u.func);
  unrolledLog.set(out, u.unrolled);
  if (opts.mixedPrecision) {
    if ((opts.target ?? 'wasm') !== 'cuda') throw new KilnError(`compile: mixedPrecision '${opts.mixedPrecision}' needs target 'cuda' (the WebAssembly target computes in f32)`);
    makeMixedPrecision({ dtype: opts.mixedPrecision }).run(out);
    verify(out);
  }
  return out;
}

/**
 * int8 post-training quantization of the optimized `fn`, in place (quantize_int8.ts). Calibration
 * batches of another batch size than the compiled one run on the model traced at their shape.
 */
function quantizeFor(target: Compilable, fn: Func, q: Int8QuantizeOptions, opts: CompileOptions): QuantizeReport {
  if ((opts.target ?? 'wasm') === 'cuda') throw new KilnError(`compile: quantize mode 'int8' is not supported for target 'cuda' yet (no int8 PTX kernels); use target 'wasm', or mixedPrecision 'f16' on CUDA`);
  if (opts.maxBatch !== undefined) throw new KilnError(`compile: quantize mode 'int8' with option 'maxBatch' is not supported yet; compile one int8 artifact per batch size`);
  const retrace = isFunc(target) ? undefined : (shapes: number[][]) => optimizeFor(toFuncChecked(target, { ...opts, inputShapes: shapes }, 'compile'), opts);
  return quantizeInt8(fn, q, retrace);
}

/** The fusion plan, its control-flow decisions preceded by the scans unrolled before it. */
function planFor(fn: Func, opts: CompileOptions): FusionPlan {
  const plan = planFusion(fn, opts.fusion);
  plan.controls.unshift(...(unrolledLog.get(fn) ?? []));
  return plan;
}

/** What `kiln.compile` returns: the artifact bytes plus what the compiler knows about them. */
export class CompiledArtifact {
  constructor(
    readonly bytes: Uint8Array,
    readonly manifest: ManifestInput,
    readonly func: Func,
    readonly plan: FusionPlan,
    readonly program: Program,
    /** maxBatch: how each kernel's work follows the run's batch (for explain). */
    readonly batchNote?: string,
    /** How the weights are stored (codegen/weights_encode.ts), for explain. */
    readonly weightsNote?: string,
    /** What int8 quantization computed in integers and what stayed f32 (passes/quantize.ts), for explain. */
    readonly quantizeNote?: string,
  ) {}
  /** Peak bytes of the intermediate arena, and what all intermediates would take unplanned. */
  get memory(): { peakBytes: number; sumIntermediateBytes: number; weightsBytes: number } {
    return { peakBytes: this.program.peakBytes, sumIntermediateBytes: this.program.sumIntermediateBytes, weightsBytes: this.program.weights.length };
  }
  explain(): string {
    return explainPlan(this.plan) + (this.batchNote ? `\n${this.batchNote}\n` : '') + (this.weightsNote ? `\n${this.weightsNote}\n` : '') + (this.quantizeNote ? `\n${this.quantizeNote}\n` : '');
  }
  async save(path: string): Promise<void> {
    // Crash-safe: a temporary name, fsync, rename; a reader never sees half an artifact.
    await writeFileAtomic(path, this.bytes);
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

function isModelLike(x: unknown): x is Exclude<Compilable, Func | ((...args: Tensor[]) => unknown)> {
  return typeof x === 'object' && x !== null && typeof (x as { call?: unknown }).call === 'function' && Array.isArray((x as { inputs?: unknown }).inputs);
}

/** Trace (if needed) to the IR Func the compiler starts from. */
export function toFunc(target: Compilable, options: CompileOptions = {}): Func {
  const opts = checkCompileOptions('toFunc', options);
  return toFuncChecked(target, opts, 'toFunc', opts.maxBatch);
}

/** `batch`: with maxBatch, the size given to each input's leading (batch) dimension. */
function toFuncChecked(target: Compilable, opts: CompileOptions, who: string, batch?: number): Func {
  if (isFunc(target)) {
    if (batch !== undefined) throw new KilnError(`${who}: option 'maxBatch' needs a Keras model or a function of tensors (traced at two batch sizes); Func '${target.name}' has fixed shapes`);
    const shapes = opts.inputShapes;
    if (shapes !== undefined && (shapes.length !== target.params.length || shapes.some((s, i) => typeToString(tensorType(s, target.params[i]!.type.dtype)) !== typeToString(target.params[i]!.type)))) {
      throw new KilnError(`${who}: Func '${target.name}' takes (${target.params.map((p) => typeToString(p.type)).join(', ')}), inputShapes gives [${shapes.map((s) => `[${s.join(', ')}]`).join(', ')}] (a Func's shapes are fixed: leave inputShapes out)`);
    }
    return target;
  }
  if (typeof target !== 'function' && !isModelLike(target)) {
    throw new KilnError(`${who}: expected a Keras model, a GraphModel, a function of tensors or an IR Func to compile, got ${describe(target)}`);
  }
  if (typeof target === 'function') {
    const shapes = opts.inputShapes;
    if (!shapes) throw new KilnError(`compile: give inputShapes (and inputDtypes if not f32) for function '${target.name || 'anonymous'}'`);
    if (batch !== undefined) {
      shapes.forEach((s, i) => {
        if (s[0] !== opts.maxBatch) throw new KilnError(`${who}: with maxBatch ${opts.maxBatch}, every input's leading dimension is the batch: inputShapes[${i}] is [${s.join(', ')}], give [${[opts.maxBatch, ...s.slice(1)].join(', ')}]`);
      });
    }
    const types = shapes.map((s, i) => tensorType(batch === undefined ? s : [batch, ...s.slice(1)], opts.inputDtypes?.[i] ?? 'f32'));
    return trace(target as (...a: Tensor[]) => Tensor, types, { name: opts.name ?? (target.name || 'main') }).func;
  }
  const model = target;
  for (const [key, given] of [['inputShapes', opts.inputShapes], ['inputDtypes', opts.inputDtypes]] as const) {
    if (given !== undefined && given.length !== model.inputs.length) {
      throw new KilnError(`${who}: model '${model.name}' has ${model.inputs.length} input(s), ${key} gives ${given.length}; give one per input`);
    }
  }
  const types: TensorType[] = model.inputs.map((inp, i) => {
    const given = opts.inputShapes?.[i];
    if (batch !== undefined && inp.shape[0] !== null) {
      throw new KilnError(`${who}: option 'maxBatch' needs an unknown (null) leading dimension, but model '${model.name}' input ${i} has shape [${inp.shape.map((x) => x ?? 'null').join(', ')}]`);
    }
    const shape = inp.shape.map((d, j) => {
      if (batch !== undefined && j === 0) {
        if (given && given[0] !== opts.maxBatch) throw new KilnError(`${who}: with maxBatch ${opts.maxBatch}, inputShapes[${i}] must lead with ${opts.maxBatch} (the batch), got [${given}]`);
        return batch;
      }
      if (given) {
        const g = given[j];
        if (g === undefined || (d !== null && d !== g)) {
          throw new KilnError(`${who}: model '${model.name}' input ${i} has shape [${inp.shape.map((x) => x ?? 'null')}], inputShapes gives [${given}]`);
        }
        return g;
      }
      return d ?? 1;
    });
    return tensorType(shape, (opts.inputDtypes?.[i] ?? inp.dtype ?? 'f32') as DType);
  });
  const names = model.inputs.map((_, i) => (model.inputs.length === 1 ? 'input' : `input${i}`));
  return trace((...xs: Tensor[]) => {
    const inputs = xs.length === 1 ? xs[0]! : xs;
    // A Keras model's callForward runs a subclassed model's call through AutoGraph, as predict and fit do.
    const m = model as typeof model & { callForward?: typeof model.call };
    const out = m.callForward ? m.callForward(inputs, { training: false }) : model.call(inputs, { training: false });
    return Array.isArray(out) ? out : (out as Tensor);
  }, types, { name: opts.name ?? model.name, argNames: names }).func;
}

/** Compile a model or function to a one-file WebAssembly artifact. */
export function compile(target: Compilable, options: CompileOptions = {}): CompiledArtifact {
  const checked = checkCompileOptions('compile', options);
  // int8 rewrites the function itself (below); the weight-only storage modes act on the artifact.
  const int8 = checked.quantize?.mode === 'int8' ? checked.quantize : undefined;
  const opts = (int8 ? { ...checked, quantize: undefined } : checked) as CompileOptions & { quantize?: QuantizeOptions };
  const tgt = opts.target ?? 'wasm';
  const maxB = opts.maxBatch;
  const traced = stage(opts, 'trace', () => toFuncChecked(target, opts, 'compile', maxB));
  let qreport: QuantizeReport | undefined;
  const fn = stage(opts, 'passes', () => {
    const f = optimizeFor(traced, opts);
    if (int8) qreport = quantizeFor(target, f, int8, opts);
    return f;
  });
  // maxBatch: the same function at another batch shows which dims are the batch (passes/batch_poly.ts).
  const batch = maxB === undefined ? undefined : analyzeBatch(fn, optimizeFor(toFuncChecked(target, opts, 'compile', maxB + 1), opts), maxB, maxB + 1);
  const plan = stage(opts, 'fusion', () => planFor(fn, opts));
  if (tgt === 'cuda') {
    if (maxB !== undefined) throw new KilnError(`compile: option 'maxBatch' is not supported for target 'cuda' yet (the CUDA executor runs a fixed grid); compile one artifact per batch size, or use target 'wasm'`);
    return stage(opts, 'codegen', () => {
      const program = buildProgram(fn, plan, { dtypes: CUDA_DTYPES, windowKernels: false, gemmColumnSplit: false, lowPrecisionGemm: true });
      const cuda = buildCudaArtifact(program, { sm: opts.sm ?? 80 }, { signature: fn.params.map((p) => typeToString(p.type)) });
      // Weights kept as imported or compressed as `quantize` asks: the executor decodes them on the host.
      const mode = opts.quantize?.mode ?? 'keep';
      const enc = mode === 'none' || program.weights.length === 0 ? undefined : encodeArtifact(cuda.bytes, program, mode, weightStorageOf(target));
      if (!enc?.encoded.encoding) return new CompiledArtifact(cuda.bytes, cuda.manifest as ManifestInput, fn, plan, program);
      const manifest = { ...cuda.manifest, weights: { ...cuda.manifest.weights!, encoding: enc.encoded.encoding } } as ManifestInput;
      return new CompiledArtifact(enc.bytes, manifest, fn, plan, program, undefined, describeEncoded(enc.encoded, mode as WeightsMode));
    });
  }
  const shared = opts.threads ?? true;
  const { program, sections, bw } = stage(opts, 'codegen', () => {
    const built = buildProgram(fn, plan, { dtypes: WASM_DTYPES });
    const bw = batch && planBatchWork(built, batch.factors, batch.maxBatch, batch.strided);
    const program = bw ? bw.program : built;
    const sections: Record<string, Uint8Array> = {
      wasm: emitWasm(program, { relaxed: false, shared, optimize: opts.optimizeWasm }),
    };
    if ((opts.relaxedSimd ?? true) && wantsRelaxedVariant(program)) {
      sections['wasm-relaxed'] = emitWasm(program, { relaxed: true, shared, optimize: opts.optimizeWasm });
    }
    return { program, sections, bw };
  });
  // Weights: kept as imported (uint8/uint16/float16 storage), or compressed as `quantize` asks.
  const wmode = opts.quantize?.mode ?? 'keep';
  const encoded = wmode === 'none' ? undefined : encodeWeights(program, wmode, weightStorageOf(target));
  if (program.weights.length > 0) sections['weights'] = encoded?.section ?? program.weights;
  const spec = (io: { name: string; buffer: ProgramBuffer }) => {
    const k = batch && io.buffer.value ? batch.factors.get(io.buffer.value) : undefined;
    return { name: io.name, shape: [...io.buffer.shape], dtype: io.buffer.dtype, offset: io.buffer.offset, ...(k ? { batch: k } : {}) };
  };
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
    ...(program.weights.length > 0 ? { weights: { offset: program.weightsOffset, length: program.weights.length, ...(encoded?.encoding ? { encoding: encoded.encoding } : {}) } } : {}),
    kernels: program.kernels.map((k, i) => ({ name: k.name, work: k.work, note: k.note, ...(bw?.work[i] !== undefined ? { batch: bw.work[i] } : {}), ...(bw?.segments[i] ? { batchSegments: bw.segments[i] } : {}) })),
    schedule: manifestSchedule(program),
    ...(bw ? { batch: { max: bw.maxBatch, slot: bw.slot } } : {}),
    meta: { splits: program.splits, signature: fn.params.map((p) => typeToString(p.type)) },
  };
  const bytes = stage(opts, 'pack', () => writeArtifact({ manifest, sections }));
  const weightsNote = encoded && (encoded.encoding || wmode !== 'keep') ? describeEncoded(encoded, wmode as WeightsMode) : undefined;
  return new CompiledArtifact(bytes, manifest, fn, plan, program, bw && describeBatchWork(program, bw), weightsNote, qreport && describeQuantization(qreport));
}

export type { Manifest };

/** One entry point of a multi-entry artifact (e.g. train_step, eval_step, predict). */
export interface Entry {
  readonly name: string;
  /**
   * Parameters named like a state tensor are that state (resident in memory between runs);
   * the others are the entry's inputs. Results aliased to a state parameter (Func.aliases)
   * update it; the other results are the entry's outputs.
   */
  readonly func: Func;
}

export interface StateTensor {
  readonly name: string;
  readonly value: Literal;
}

const alignTo = (x: number, a: number) => Math.ceil(x / a) * a;

/** compileEntries settings for Kiln's own callers, not users. */
export interface EntriesInternal {
  /**
   * The compiled executor's resident predict (src/exec.ts): GEMM/conv operands that are state no
   * entry updates are packed by an extra entry `<entry>__refresh` (run by the host after the state
   * changes) into persistent buffers, not on every run. Off for artifacts whose host does not
   * run that entry (the runtime's setState does not).
   */
  readonly repackEntry?: boolean;
  /**
   * Entries the host runs only after the state changed, before the repack entry (the executor's
   * derived state, src/exec_derive.ts): the state they write counts as unchanging for the others,
   * and their own operands are packed as they run.
   */
  readonly refreshEntries?: readonly string[];
  /**
   * The first entry runs any batch from 1 to `maxBatch` (model.predict's one program for every
   * batch size): its Func is traced at maxBatch, `other` is the same function traced at
   * `otherBatch`, and passes/batch_poly.ts tells the batch dims apart (refusing, with a KilnError
   * naming the op, a function that mixes batch items). The manifest gets `batch` as compile's does.
   */
  readonly batch?: { readonly other: Func; readonly maxBatch: number; readonly otherBatch: number };
}

/** compileEntries' arguments: entries of {name, func}, state of {name, value}; no inputShapes (Funcs fix them). */
function checkEntriesArgs(entries: unknown, state: unknown, opts: CompileOptions): void {
  if (!Array.isArray(entries)) throw new KilnError(`compileEntries: entries must be an array of {name, func}, got ${describe(entries)}`);
  entries.forEach((e: unknown, i) => {
    const ok = typeof e === 'object' && e !== null && typeof (e as Entry).name === 'string' && (e as Entry).name !== '' && isFunc((e as Entry).func);
    if (!ok) throw new KilnError(`compileEntries: entries[${i}] must be {name: string, func: Func}, got ${describe(e)}`);
  });
  if (!Array.isArray(state)) throw new KilnError(`compileEntries: state must be an array of {name, value} (empty for none), got ${describe(state)}`);
  state.forEach((s: unknown, i) => {
    const ok = typeof s === 'object' && s !== null && typeof (s as StateTensor).name === 'string' && typeof (s as StateTensor).value === 'object' && (s as StateTensor).value !== null && ArrayBuffer.isView((s as StateTensor).value.data);
    if (!ok) throw new KilnError(`compileEntries: state[${i}] must be {name: string, value: Literal}, got ${describe(s)}`);
  });
  for (const key of ['inputShapes', 'inputDtypes', 'maxBatch'] as const) {
    if (opts[key] !== undefined) throw new KilnError(`compileEntries: option '${key}' does not apply (each entry's Func fixes its input types)`);
  }
  if (opts.quantize !== undefined) throw new KilnError(`compileEntries: option 'quantize' does not apply (it compresses the constant weights of an inference artifact; compileEntries' weights are resident state)`);
}

/**
 * Compile several entry points sharing resident state into one WebAssembly artifact: the state
 * tensors live at fixed offsets for the artifact's lifetime (initialized from `state`), each
 * entry has its own kernels and constants, and all entries share one scratch arena (they never
 * run at the same time). This is the compiled training step: the runtime's `step(batch)` runs
 * the default (first) entry without moving state through JavaScript.
 */
export function compileEntries(entries: readonly Entry[], state: readonly StateTensor[], options: CompileOptions = {}, internal: EntriesInternal = {}): CompiledArtifact {
  const opts = checkCompileOptions('compileEntries', options);
  const tgt = opts.target ?? 'wasm';
  checkEntriesArgs(entries, state, opts);
  if (entries.length === 0) throw new KilnError('compileEntries: give at least one entry');
  const shared = opts.threads ?? true;
  // 1. State region at the bottom of memory.
  const stateOffsets = new Map<string, number>();
  let top = 0;
  for (const s of state) {
    if (stateOffsets.has(s.name)) throw new KilnError(`compileEntries: state tensor '${s.name}' is listed twice`);
    stateOffsets.set(s.name, top);
    top = alignTo(top + s.value.data.byteLength, 64);
  }
  const stateBytes = top;
  // 2. One program per entry, state parameters pinned.
  const refreshing = new Set(internal.refreshEntries ?? []);
  const updated = new Set(entries.filter((e) => !refreshing.has(e.name)).flatMap((e) => e.func.aliases.map((a) => e.func.params[a.param]!.name)));
  if (internal.batch && tgt === 'cuda') throw new KilnError(`compileEntries: a batch-polymorphic entry ('${entries[0]!.name}', maxBatch ${internal.batch.maxBatch}) is not supported for target 'cuda' yet (the CUDA executor runs a fixed grid); use target 'wasm'`);
  let bw: BatchPlan | undefined;
  let batchFactors: BatchFactors | undefined;
  const built = entries.map((e, ei) => {
    const fn = optimizeFor(e.func, opts);
    const ib = ei === 0 ? internal.batch : undefined;
    const analysis = ib && analyzeBatch(fn, optimizeFor(ib.other, opts), ib.maxBatch, ib.otherBatch);
    const pinned = new Map<number, number>();
    fn.params.forEach((p, i) => {
      const s = state.find((t) => t.name === p.name);
      if (!s) return;
      if (typeToString(s.value.type) !== typeToString(p.type)) {
        throw new KilnError(`compileEntries: entry '${e.name}' parameter '${p.name}' is ${typeToString(p.type)} but state '${s.name}' is ${typeToString(s.value.type)}`);
      }
      pinned.set(i, stateOffsets.get(s.name)!);
    });
    const plan = planFor(fn, opts);
    let program = tgt === 'cuda'
      ? buildProgram(fn, plan, { dtypes: CUDA_DTYPES, state: pinned, windowKernels: false, gemmColumnSplit: false, lowPrecisionGemm: true })
      : buildProgram(fn, plan, { dtypes: WASM_DTYPES, state: pinned, ...(internal.repackEntry && !refreshing.has(e.name) ? { unchangingState: new Set([...pinned.keys()].filter((i) => !updated.has(fn.params[i]!.name))) } : {}) });
    if (analysis) {
      bw = planBatchWork(program, analysis.factors, analysis.maxBatch, analysis.strided);
      batchFactors = analysis.factors;
      program = bw.program;
    }
    program.kernels.forEach((k, i) => { program.kernels[i] = { ...k, name: `${e.name}__${k.name}` }; });
    return { entry: e, fn, plan, program, pinned };
  });
  if (tgt === 'cuda') {
    const c = buildCudaEntriesArtifact(
      built.map((b) => ({ name: b.entry.name, program: b.program, pinned: b.pinned, aliases: b.fn.aliases })),
      state.map((s) => ({
        name: s.name, shape: [...s.value.type.shape], dtype: s.value.type.dtype, offset: stateOffsets.get(s.name)!,
        init: new Uint8Array(s.value.data.buffer, s.value.data.byteOffset, s.value.data.byteLength),
      })),
      stateBytes, { sm: opts.sm ?? 80, name: opts.name ?? entries[0]!.name });
    return new CompiledArtifact(c.bytes, c.manifest as ManifestInput, built[0]!.fn, built[0]!.plan, built[0]!.program);
  }
  // 3. Relocate: [state][weights of each entry][shared arena].
  let w = stateBytes;
  const weightBases = built.map((b) => {
    const base = w;
    w = alignTo(w + b.program.weights.length, 64);
    return base;
  });
  const arenaBase = w;
  built.forEach((b, i) => {
    for (const buf of b.program.buffers) {
      if (buf.kind === 'const') buf.offset += weightBases[i]! - b.program.weightsOffset;
      else if (buf.kind === 'input' || buf.kind === 'temp') buf.offset += arenaBase - b.program.arenaOffset;
    }
  });
  const arenaBytes = Math.max(...built.map((b) => b.program.arenaBytes));
  const pages = Math.max(1, Math.ceil((arenaBase + arenaBytes) / 65536));
  const programs = built.map((b) => b.program);
  const sections: Record<string, Uint8Array> = { wasm: emitWasm(programs, { relaxed: false, shared, pages, optimize: opts.optimizeWasm }) };
  if ((opts.relaxedSimd ?? true) && programs.some(wantsRelaxedVariant)) {
    sections['wasm-relaxed'] = emitWasm(programs, { relaxed: true, shared, pages, optimize: opts.optimizeWasm });
  }
  const weights = new Uint8Array(arenaBase - stateBytes);
  built.forEach((b, i) => weights.set(b.program.weights, weightBases[i]! - stateBytes));
  if (weights.length > 0) sections['weights'] = weights;
  const init = new Uint8Array(stateBytes);
  for (const s of state) init.set(new Uint8Array(s.value.data.buffer, s.value.data.byteOffset, s.value.data.byteLength), stateOffsets.get(s.name)!);
  if (stateBytes > 0) sections['state'] = init;
  // 4. Manifest: kernels of all entries; each entry's inputs, outputs and schedule.
  const kernels = programs.flatMap((p) => p.kernels);
  let first = 0;
  const entrySpecs = built.map((b, ei) => {
    const { fn, program } = b;
    const aliased = new Set(fn.aliases.filter((a) => b.pinned.has(a.param)).map((a) => a.result));
    const spec = (io: { name: string; buffer: ProgramBuffer }) => {
      const k = ei === 0 && batchFactors && io.buffer.value ? batchFactors.get(io.buffer.value) : undefined;
      return { name: io.name, shape: [...io.buffer.shape], dtype: io.buffer.dtype, offset: io.buffer.offset, ...(k ? { batch: k } : {}) };
    };
    const inputs = program.inputs.filter((_, i) => !b.pinned.has(i)).map(spec);
    const outputs = program.outputs.filter((_, i) => !aliased.has(i)).map(spec);
    const schedule = manifestSchedule(program, first);
    const refresh = program.refresh.map((k) => k + first);
    first += program.kernels.length;
    return { name: b.entry.name, inputs, outputs, schedule, refresh };
  });
  // Repacking entries (internal.repackEntry): no inputs or outputs, state in, persistent buffers out.
  const refreshSpecs = entrySpecs.filter((e) => e.refresh.length > 0).map((e) => ({ name: `${e.name}__refresh`, inputs: [], outputs: [], schedule: e.refresh }));
  const main = entrySpecs[0]!;
  const manifest: ManifestInput = {
    format: 'kiln', version: 2, target: 'wasm', name: opts.name ?? entries[0]!.name, createdBy: 'kiln 0.1.0',
    inputs: main.inputs, outputs: main.outputs, schedule: main.schedule, defaultEntry: main.name,
    entries: Object.fromEntries([...entrySpecs.slice(1), ...refreshSpecs].map((e) => [e.name, { inputs: e.inputs, outputs: e.outputs, schedule: e.schedule }])),
    state: state.map((s) => ({ name: s.name, shape: [...s.value.type.shape], dtype: s.value.type.dtype, offset: stateOffsets.get(s.name)!, init: stateOffsets.get(s.name)! })),
    memory: { pages, shared, arenaOffset: arenaBase, arenaBytes, peakBytes: arenaBytes, sumIntermediateBytes: Math.max(...programs.map((p) => p.sumIntermediateBytes)) },
    ...(weights.length > 0 ? { weights: { offset: stateBytes, length: weights.length } } : {}),
    kernels: kernels.map((k, i) => ({ name: k.name, work: k.work, note: k.note, ...(bw?.work[i] !== undefined ? { batch: bw.work[i] } : {}), ...(bw?.segments[i] ? { batchSegments: bw.segments[i] } : {}) })),
    ...(bw ? { batch: { max: bw.maxBatch, slot: programs[0]!.buffers[bw.slotBuffer]!.offset } } : {}),
    meta: { splits: programs.flatMap((p) => p.splits) },
  } as ManifestInput;
  const bytes = writeArtifact({ manifest, sections });
  return new CompiledArtifact(bytes, manifest, built[0]!.fn, built[0]!.plan, programs[0]!, bw && describeBatchWork(programs[0]!, bw));
}

export interface ExplainOptions extends CompileOptions {
  /** Where the plan goes (default console.log); pass null to only return it. */
  print?: ((text: string) => void) | null;
}

/**
 * The fusion plan the compiler would build for a model or function: its groups (the kernels),
 * their ops, inputs and outputs, and every fusion decision with its reason. Printed and returned.
 */
export function explain(target: Compilable, options: ExplainOptions = {}): string {
  const opts = checkCompileOptions('explain', options, EXPLAIN_OPTION_NAMES);
  const maxB = opts.maxBatch;
  const fn = optimizeFor(toFuncChecked(target, opts, 'explain', maxB), opts);
  let text = explainPlan(planFor(fn, opts));
  if (maxB !== undefined) {
    // Whether one program can serve every batch, and if not, which op keeps it from doing so.
    try {
      analyzeBatch(fn, optimizeFor(toFuncChecked(target, opts, 'explain', maxB + 1), opts), maxB, maxB + 1);
      text += `\nmaxBatch ${maxB}: one program runs every batch from 1 to ${maxB} (compile lists each kernel's work per batch in its explain())\n`;
    } catch (e) {
      if (!(e instanceof KilnError)) throw e;
      text += `\n${e.message}\n`;
    }
  }
  if (opts.print !== null) (opts.print ?? console.log)(text);
  return text;
}
