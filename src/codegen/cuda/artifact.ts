/**
 * A Program -> a one-file "cuda" artifact: the PTX module as the 'ptx' section (UTF-8 text), the
 * weights image as 'weights', and a manifest whose inputs/outputs/weights are byte offsets in the
 * device memory image (the same layout the WebAssembly target uses) plus the `cuda` object:
 * target architecture, memory image size and one launch configuration per kernel.
 * docs/artifact-format.md describes the format; src/runtime/cuda runs it.
 */
import { writeArtifact } from '../../runtime/artifact.js';
import type { ManifestInput } from '../../runtime/manifest.js';
import type { CudaSpec } from '../../runtime/cuda/manifest.js';
import { manifestSchedule, type Program } from '../program.js';
import { buildPtxModule, type PtxModule, type PtxOptions } from './backend.js';

export interface CudaArtifact {
  readonly bytes: Uint8Array;
  readonly manifest: ManifestInput & { cuda: CudaSpec };
  readonly module: PtxModule;
}

export function buildCudaArtifact(p: Program, opts: PtxOptions, meta: Record<string, unknown> = {}): CudaArtifact {
  const module = buildPtxModule(p, opts);
  const spec = (io: { name: string; buffer: { shape: readonly number[]; dtype: ManifestInput['inputs'][number]['dtype']; offset: number } }) =>
    ({ name: io.name, shape: [...io.buffer.shape], dtype: io.buffer.dtype, offset: io.buffer.offset });
  const memoryBytes = Math.max(1, p.totalBytes);
  const manifest: ManifestInput & { cuda: CudaSpec } = {
    format: 'kiln',
    version: 1,
    target: 'cuda',
    name: p.name,
    createdBy: 'kiln 0.1.0',
    inputs: p.inputs.map(spec),
    outputs: p.outputs.map(spec),
    memory: {
      pages: Math.max(1, Math.ceil(memoryBytes / 65536)),
      arenaOffset: p.arenaOffset, arenaBytes: p.arenaBytes, peakBytes: p.peakBytes, sumIntermediateBytes: p.sumIntermediateBytes,
    },
    ...(p.weights.length > 0 ? { weights: { offset: p.weightsOffset, length: p.weights.length } } : {}),
    kernels: p.kernels.map((k) => ({ name: k.name, work: k.work, note: k.note })),
    schedule: manifestSchedule(p),
    meta: { splits: p.splits, ...meta },
    cuda: {
      sm: opts.sm,
      memoryBytes,
      launches: module.launches.map((l) => ({ grid: [...l.grid], block: [...l.block], threadsPerItem: l.threadsPerItem })),
    },
  };
  const sections: Record<string, Uint8Array> = { ptx: new TextEncoder().encode(module.ptx) };
  if (p.weights.length > 0) sections['weights'] = p.weights;
  return { bytes: writeArtifact({ manifest, sections }), manifest, module };
}

/** One entry of a multi-entry CUDA artifact, as compileEntries builds it (program not yet relocated). */
export interface CudaEntryProgram {
  readonly name: string;
  /** Built with the state parameters pinned at their offsets (ProgramOptions.state). */
  readonly program: Program;
  /** Parameter index -> byte offset of the state tensor it is. */
  readonly pinned: ReadonlyMap<number, number>;
  /** The optimized Func's aliases (result -> parameter): results aliased to state are not outputs. */
  readonly aliases: readonly { readonly result: number; readonly param: number }[];
}

/** One resident state tensor at its byte offset in [0, stateBytes). */
export interface CudaStateTensor {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: ManifestInput['inputs'][number]['dtype'];
  readonly offset: number;
  /** Initial value (its bytes). */
  readonly init: Uint8Array;
}

const align64 = (x: number) => Math.ceil(x / 64) * 64;

/**
 * Several entry points sharing resident state in one "cuda" artifact (version 2 manifest): the
 * same memory layout compileEntries gives WebAssembly, [state][weights of each entry][one shared
 * arena], the programs relocated into it (their buffer offsets are updated in place), one PTX
 * module holding every entry's kernels, the 'state' section with the initial values, and a
 * launch configuration per kernel. `stateBytes` is the size of the state region the pinned
 * offsets lie in.
 */
export function buildCudaEntriesArtifact(entries: readonly CudaEntryProgram[], state: readonly CudaStateTensor[], stateBytes: number, opts: PtxOptions & { name?: string }): CudaArtifact {
  if (entries.length === 0) throw new Error('buildCudaEntriesArtifact: give at least one entry');
  const names = new Set<string>();
  for (const e of entries) {
    if (names.has(e.name)) throw new Error(`buildCudaEntriesArtifact: entry '${e.name}' is listed twice`);
    names.add(e.name);
  }
  for (const s of state) {
    if (s.offset + s.init.length > stateBytes) throw new Error(`buildCudaEntriesArtifact: state '${s.name}' [${s.offset}, ${s.offset + s.init.length}) lies outside the ${stateBytes}-byte state region`);
  }
  // Relocate: [state][weights of each entry][shared arena] (entries never run at the same time).
  let w = align64(stateBytes);
  const weightBases = entries.map((e) => {
    const base = w;
    w = align64(w + e.program.weights.length);
    return base;
  });
  const arenaBase = w;
  entries.forEach((e, i) => {
    for (const buf of e.program.buffers) {
      if (buf.kind === 'const') buf.offset += weightBases[i]! - e.program.weightsOffset;
      else if (buf.kind === 'input' || buf.kind === 'temp') buf.offset += arenaBase - e.program.arenaOffset;
    }
  });
  const arenaBytes = Math.max(...entries.map((e) => e.program.arenaBytes));
  const memoryBytes = Math.max(1, arenaBase + arenaBytes);
  // One module: the header once, then every entry's kernels (names must be unique across entries).
  const modules = entries.map((e) => buildPtxModule(e.program, opts));
  const ptx = modules.map((m, i) => (i === 0 ? m.ptx : m.ptx.slice(m.ptx.indexOf('.visible')))).join('\n');
  const kernels = entries.flatMap((e) => e.program.kernels);
  const seen = new Set<string>();
  for (const k of kernels) {
    if (seen.has(k.name)) throw new Error(`buildCudaEntriesArtifact: kernel name '${k.name}' appears in two entries; prefix kernel names with the entry name`);
    seen.add(k.name);
  }
  const launches = modules.flatMap((m) => m.launches);
  const io = (x: { name: string; buffer: { shape: readonly number[]; dtype: CudaStateTensor['dtype']; offset: number } }) =>
    ({ name: x.name, shape: [...x.buffer.shape], dtype: x.buffer.dtype, offset: x.buffer.offset });
  let first = 0;
  const specs = entries.map((e) => {
    const aliased = new Set(e.aliases.filter((a) => e.pinned.has(a.param)).map((a) => a.result));
    const spec = {
      name: e.name,
      inputs: e.program.inputs.filter((_, i) => !e.pinned.has(i)).map(io),
      outputs: e.program.outputs.filter((_, i) => !aliased.has(i)).map(io),
      schedule: manifestSchedule(e.program, first),
    };
    first += e.program.kernels.length;
    return spec;
  });
  const weights = new Uint8Array(arenaBase - align64(stateBytes));
  entries.forEach((e, i) => weights.set(e.program.weights, weightBases[i]! - align64(stateBytes)));
  const init = new Uint8Array(stateBytes);
  for (const s of state) init.set(s.init, s.offset);
  const main = specs[0]!;
  const manifest: ManifestInput & { cuda: CudaSpec } = {
    format: 'kiln', version: 2, target: 'cuda', name: opts.name ?? main.name, createdBy: 'kiln 0.1.0',
    inputs: main.inputs, outputs: main.outputs, schedule: main.schedule, defaultEntry: main.name,
    entries: Object.fromEntries(specs.slice(1).map((e) => [e.name, { inputs: e.inputs, outputs: e.outputs, schedule: e.schedule }])),
    state: state.map((s) => ({ name: s.name, shape: [...s.shape], dtype: s.dtype, offset: s.offset, init: s.offset })),
    memory: {
      pages: Math.max(1, Math.ceil(memoryBytes / 65536)), arenaOffset: arenaBase, arenaBytes, peakBytes: arenaBytes,
      sumIntermediateBytes: Math.max(...entries.map((e) => e.program.sumIntermediateBytes)),
    },
    ...(weights.length > 0 ? { weights: { offset: align64(stateBytes), length: weights.length } } : {}),
    kernels: kernels.map((k) => ({ name: k.name, work: k.work, note: k.note })),
    meta: { splits: entries.flatMap((e) => e.program.splits) },
    cuda: {
      sm: opts.sm,
      memoryBytes,
      launches: launches.map((l) => ({ grid: [...l.grid], block: [...l.block], threadsPerItem: l.threadsPerItem })),
    },
  };
  const sections: Record<string, Uint8Array> = { ptx: new TextEncoder().encode(ptx) };
  if (weights.length > 0) sections['weights'] = weights;
  if (stateBytes > 0) sections['state'] = init;
  return { bytes: writeArtifact({ manifest, sections }), manifest, module: { ptx, sm: opts.sm, launches } };
}
