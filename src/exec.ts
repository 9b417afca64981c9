/**
 * The compiled executor behind `fn` and `model.predict`: each traced Func is compiled once to a
 * WebAssembly artifact (cached per Func) and run synchronously in this process, single-threaded,
 * reading the artifact through the same format the runtime ships. Functions the WebAssembly
 * target cannot hold (f16/bf16 values) fall back to the interpreter with a one-time warning.
 *
 * Resident parameters: when the caller says the last `resident` parameters are state (an `fn`'s
 * bound variables, e.g. a model's weights in predict), they are compiled as resident state
 * (compileEntries) and copied into memory only when the caller hands a different Literal than
 * last time (a Variable keeps its Literal until assigned), so a weight change costs one copy of
 * the changed weights, not a retrace and a recompile. GEMM and conv operands that are state are
 * packed into persistent buffers by a compiled repack entry (compileEntries' `<name>__refresh`),
 * run once at load and again only after a state tensor changed (bench/resident_weights.ts), after
 * the derive entry that computes what depends on state alone (src/exec_derive.ts).
 *
 * Batch-polymorphic programs (`batched`, model.predict's): the same resident-state program whose
 * main entry runs any batch from 1 to maxBatch (compileEntries' `batch`), the batch written into
 * the program's slot and each kernel's work taken at that batch.
 *
 * Every compile the compiler side does for the user (this executor, the training program) is
 * reported once here: `compileCount()` and `onCompile(cb)`.
 */
import type { Func } from './ir/function.js';
import { literal, type Literal } from './ir/literal.js';
import { KilnError } from './ir/types.js';
import { byteSize } from './ir/dtype.js';
import { setCompiledExecutor, type BatchedProgram, type Executor, type OtherBatch, type RunOptions } from './frontend/executor.js';
import { interpret } from './ir/interpreter.js';
import { compile, compileEntries } from './compile.js';
import { readArtifact } from './runtime/artifact.js';
import { workAtBatch, type Manifest } from './runtime/manifest.js';
import { MAX_BATCH } from './compile_options.js';
import { flagValue, flattenSchedule, walkSchedule } from './runtime/schedule.js';
import { splitDerived } from './exec_derive.js';

// ---- the compile counter ------------------------------------------------------------------------

/** What was compiled: 'function' (an `fn` or `model.predict` program), 'training' (a fit/evaluate program). */
export type CompileKind = 'function' | 'training';

export interface CompileEvent {
  kind: CompileKind;
  /** The Func's or the training program's name. */
  name: string;
  /** Wall time of the compile (trace excluded), in milliseconds. */
  ms: number;
  /** A program for every batch from 1 to this (model.predict's); absent for a fixed-shape program. */
  maxBatch?: number;
  /** Why this compile happened where one might expect none (predict compiling one program per batch size: why). */
  note?: string;
}

const counts: Record<CompileKind, number> = { function: 0, training: 0 };
const listeners = new Set<(e: CompileEvent) => void>();
const KINDS: readonly CompileKind[] = ['function', 'training'];

/** Record one compile (called by this executor and by the training program's builder). */
export function noteCompile(event: CompileEvent): void {
  counts[event.kind]++;
  for (const cb of [...listeners]) cb(event);
}

/** How many programs have been compiled in this process: all of them, or those of one kind. */
export function compileCount(kind?: CompileKind): number {
  if (kind === undefined) return counts.function + counts.training;
  if (!KINDS.includes(kind)) throw new KilnError(`compileCount: kind must be one of ${KINDS.map((k) => `'${k}'`).join(', ')}, got ${JSON.stringify(kind)}`);
  return counts[kind];
}

/** Call `cb` after every compile; returns a function that removes it. */
export function onCompile(cb: (e: CompileEvent) => void): () => void {
  if (typeof cb !== 'function') throw new KilnError(`onCompile: expected a function (event) => void, got ${cb === null ? 'null' : typeof cb}`);
  listeners.add(cb);
  return () => { listeners.delete(cb); };
}

/** How many Funcs the compiled executor has compiled: compileCount('function'). */
export function compiledProgramCount(): number {
  return counts.function;
}

// ---- runners ----------------------------------------------------------------------------------------

interface Runner {
  run(inputs: readonly Literal[]): Literal[];
}

const runners = new WeakMap<Func, Runner | 'interpret'>();
let warned = false;

/** Instantiate an artifact synchronously: memory from the manifest, weights and initial state copied in. */
function instantiate(bytes: Uint8Array): { manifest: Manifest; memory: WebAssembly.Memory; inst: WebAssembly.Instance } {
  const { manifest, sections } = readArtifact(bytes);
  const memory = new WebAssembly.Memory({ initial: manifest.memory.pages, maximum: manifest.memory.pages });
  if (manifest.weights && sections['weights']) new Uint8Array(memory.buffer, manifest.weights.offset, manifest.weights.length).set(sections['weights']);
  if (manifest.state && sections['state']) {
    const init = sections['state'];
    for (const s of manifest.state) {
      if (s.init === undefined) continue;
      const n = s.shape.reduce((a, b) => a * b, 1) * byteSize(s.dtype);
      new Uint8Array(memory.buffer, s.offset, n).set(init.subarray(s.init, s.init + n));
    }
  }
  const inst = new WebAssembly.Instance(new WebAssembly.Module(sections['wasm']! as Uint8Array<ArrayBuffer>), { env: { memory } });
  return { manifest, memory, inst };
}

function copyIn(mem: Uint8Array, lit: Literal, offset: number): void {
  const d = lit.data;
  mem.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), offset);
}

function copyOut(mem: Uint8Array, shape: readonly number[], dtype: Literal['type']['dtype'], offset: number): Literal {
  const out = literal([...shape], dtype);
  out.data.set(new (out.data.constructor as Uint8ArrayConstructor)(mem.buffer.slice(offset, offset + out.data.byteLength)));
  return out;
}

/** Names for resident state: the parameters' own when unique among all parameters, else none. */
function residentNames(fn: Func, resident: number): string[] | undefined {
  if (resident <= 0 || resident > fn.params.length) return undefined;
  const names = fn.params.map((p) => p.name ?? '');
  if (names.some((n) => n === '') || new Set(names).size !== names.length) return undefined;
  return names.slice(fn.params.length - resident);
}

/** A batch-polymorphic main entry (Executor.batched): the function at another batch, and the largest batch. */
interface BatchSpec {
  readonly other: Func;
  readonly otherBatch: number;
  readonly maxBatch: number;
}

function makeRunner(fn: Func, inputs: readonly Literal[], resident: number): Runner {
  const stateNames = residentNames(fn, resident);
  if (stateNames === undefined) return makePlainRunner(fn);
  const r = makeResidentRunner(fn, inputs, resident, stateNames);
  return { run: (ins) => r.run(ins, undefined) };
}

/**
 * The resident-state program: weights copied in only when their Literal changed, derived state
 * and the repack entry run after a change. With `batch`, the main entry runs any batch n from 1
 * to batch.maxBatch: the runtime's batch slot holds n, kernels run their work at n, results that
 * carry the batch are read back with n rows.
 */
function makeResidentRunner(fn: Func, inputs: readonly Literal[], resident: number, stateNames: string[], batch?: BatchSpec): { run(ins: readonly Literal[], n: number | undefined): Literal[] } {
  const first = fn.params.length - resident;
  const state = stateNames.map((name, i) => ({ name, value: inputs[first + i]! }));
  // Arithmetic on state alone (batch norm's scale and shift, kernel slices) becomes derived state.
  const split = splitDerived(fn, first);
  const deriveName = `${fn.name}__derive`;
  const entries = split ? [{ name: fn.name, func: split.main }, { name: deriveName, func: split.derive }] : [{ name: fn.name, func: fn }];
  if (split) split.derive.params.slice(stateNames.length).forEach((p, i) => state.push({ name: split.names[i]!, value: literal([...p.shape], p.dtype) }));
  let other: BatchSpec | undefined;
  if (batch) {
    // The other trace splits the same way (derived state does not depend on the batch).
    const os = splitDerived(batch.other, first);
    other = { ...batch, other: os ? os.main : batch.other };
  }
  const art = compileEntries(entries, state, { threads: false, relaxedSimd: false, name: fn.name }, {
    repackEntry: true, refreshEntries: split ? [deriveName] : [], ...(other ? { batch: other } : {}),
  });
  const { manifest, memory, inst } = instantiate(art.bytes);
  const view = new DataView(memory.buffer);
  const runner = (schedule: Manifest['schedule'], batched = false) => {
    const flat = flattenSchedule(schedule);
    const kernels = flat.steps.map((i) => {
      const spec = manifest.kernels[i]!;
      const seg = spec.batchSegments;
      // A segmented kernel runs `work` items at the start of each of `count` segments of `len`.
      return { fn: inst.exports[spec.name] as (a: number, b: number) => void, spec, work: spec.work, count: seg?.count ?? 1, len: seg ? spec.work / seg.count : 0 };
    });
    let at: number | undefined;
    return (n?: number) => {
      if (batched && n !== undefined && n !== at) {
        for (const k of kernels) {
          const seg = k.spec.batchSegments;
          k.work = seg ? workAtBatch({ work: k.len, batch: seg.work }, n) : workAtBatch(k.spec, n);
        }
        view.setInt32(manifest.batch!.slot, n, true);
        at = n;
      }
      walkSchedule(flat, (s) => {
        const k = kernels[s]!;
        if (k.work <= 0) return;
        if (k.count === 1 || at === undefined) k.fn(0, k.count === 1 ? k.work : k.spec.work);
        else for (let g = 0; g < k.count; g++) k.fn(g * k.len, g * k.len + k.work);
      }, (off, dt) => flagValue(view, off, dt));
    };
  };
  const runMain = runner(manifest.schedule, batch !== undefined);
  // Packs the weights (GEMM/conv operands) from state into persistent buffers: now, and after each change.
  const refreshSpec = manifest.entries?.[`${fn.name}__refresh`];
  const deriveSpec = manifest.entries?.[deriveName];
  const steps = [deriveSpec, refreshSpec].filter((e) => e !== undefined).map((e) => runner(e.schedule));
  const repack = () => { for (const r of steps) r(); };
  repack();
  const mem = new Uint8Array(memory.buffer);
  const stateOffset = new Map(manifest.state!.map((s) => [s.name, s.offset]));
  // The Literal each state tensor holds now (set from `inputs` at compile time, or by an aliased result).
  const held: Literal[] = stateNames.map((_, i) => inputs[first + i]!);
  const aliasOf = new Map(fn.aliases.filter((a) => a.param >= first).map((a) => [a.result, a.param - first]));
  return {
    run(ins, n) {
      let changed = false;
      for (let k = 0; k < held.length; k++) {
        const lit = ins[first + k]!;
        if (lit === held[k]) continue;
        copyIn(mem, lit, stateOffset.get(stateNames[k]!)!);
        held[k] = lit;
        changed = true;
      }
      if (changed) repack();
      // After the repack: its entries' scratch shares the arena with the inputs.
      manifest.inputs.forEach((spec, i) => copyIn(mem, ins[i]!, spec.offset));
      runMain(n);
      let o = 0;
      const results = fn.results.map((r, i) => {
        const k = aliasOf.get(i);
        if (k !== undefined) return copyOut(mem, r.shape, r.dtype, stateOffset.get(stateNames[k]!)!);
        const spec = manifest.outputs[o++]!;
        const shape = n !== undefined && spec.batch ? [spec.batch * n, ...r.shape.slice(1)] : r.shape;
        return copyOut(mem, shape, r.dtype, spec.offset);
      });
      // The caller assigns an updated variable the very Literal returned, which memory already holds.
      for (const [i, k] of aliasOf) held[k] = results[i]!;
      return results;
    },
  };
}

/** Executor.batched: one resident-state program for every batch from 1 to maxBatch (model.predict). */
function makeBatched(func: Func, other: OtherBatch, maxBatch: number, inputs: readonly Literal[], options?: RunOptions): BatchedProgram {
  const resident = options?.resident ?? 0;
  const names = residentNames(func, resident) ?? (resident === 0 ? [] : undefined);
  if (names === undefined) throw new KilnError(`'${func.name}': its ${resident} state parameters need distinct names to stay resident in one program for every batch size`);
  if (func.aliases.length > 0) throw new KilnError(`'${func.name}' updates state (${func.aliases.length} variable(s), e.g. a stateful layer), which one program for every batch size does not support`);
  if (!(Number.isInteger(maxBatch) && maxBatch >= 1 && maxBatch <= MAX_BATCH)) throw new KilnError(`maxBatch must be an integer from 1 to ${MAX_BATCH}, got ${maxBatch}`);
  const t0 = performance.now();
  const r = makeResidentRunner(func, inputs, resident, names, { other: other.func, otherBatch: other.batch, maxBatch });
  noteCompile({ kind: 'function', name: func.name, ms: performance.now() - t0, maxBatch, ...(options?.note ? { note: options.note } : {}) });
  return {
    maxBatch,
    run(ins, n) {
      if (!(Number.isInteger(n) && n >= 1 && n <= maxBatch)) throw new KilnError(`'${func.name}': batch must be an integer from 1 to ${maxBatch}, got ${n}`);
      return r.run(ins, n);
    },
  };
}

function makePlainRunner(fn: Func): Runner {
  const art = compile(fn, { threads: false, relaxedSimd: false });
  const { manifest, memory, inst } = instantiate(art.bytes);
  const flat = flattenSchedule(manifest.schedule);
  const kernels = flat.steps.map((i) => ({ fn: inst.exports[manifest.kernels[i]!.name] as (a: number, b: number) => void, work: manifest.kernels[i]!.work }));
  const mem = new Uint8Array(memory.buffer);
  return {
    run(inputs) {
      manifest.inputs.forEach((spec, i) => copyIn(mem, inputs[i]!, spec.offset));
      // Loops and branches: flags are read from this memory (runtime/schedule.ts).
      const view = new DataView(memory.buffer);
      walkSchedule(flat, (s) => { const k = kernels[s]!; if (k.work > 0) k.fn(0, k.work); }, (off, dt) => flagValue(view, off, dt));
      return fn.results.map((r, i) => copyOut(mem, r.shape, r.dtype, manifest.outputs[i]!.offset));
    },
  };
}

export const compiledExecutor: Executor = {
  batched: makeBatched,
  run(func, inputs, options?: RunOptions) {
    let r = runners.get(func);
    if (r === undefined) {
      try {
        const t0 = performance.now();
        r = makeRunner(func, inputs, options?.resident ?? 0);
        noteCompile({ kind: 'function', name: func.name, ms: performance.now() - t0, ...(options?.note ? { note: options.note } : {}) });
      } catch (e) {
        if (!(e instanceof KilnError)) throw e;
        if (!warned) {
          warned = true;
          console.warn(`kiln: running '${func.name}' in the interpreter: ${e.message}`);
        }
        r = 'interpret';
      }
      runners.set(func, r);
    }
    return r === 'interpret' ? interpret(func, inputs) : r.run(inputs);
  },
};

/** Make compiled execution the default for `fn` and `predict` (the main entry point does this). */
export function useCompiledExecution(on = true): void {
  setCompiledExecutor(on ? compiledExecutor : undefined);
}
