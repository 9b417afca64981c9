/**
 * From an optimized Func and its fusion plan to a target-neutral program: the kernel schedule
 * (each group lowered to kernel IR, groups that cannot be lowered split into single ops), one
 * buffer per materialized value, and the static memory layout: constants first (the weights
 * image), then one arena whose offsets come from the memory planner (liveness over the schedule,
 * best-fit, in-place reuse for elementwise kernels). Both the WebAssembly and the CUDA back ends
 * consume this.
 */
import type { Func, Value } from '../ir/function.js';
import { attr } from '../ir/registry.js';
import { byteSize, type DType } from '../ir/dtype.js';
import { numel, KilnError, typeToString } from '../ir/types.js';
import type { FusionGroup, FusionPlan } from '../passes/fusion_plan.js';
import { planMemory, type PlanBuffer, type InPlaceHint } from '../passes/memory_plan.js';
import type { Kernel, Stmt, Expr } from './kernel_ir.js';
import { lowerGroup, LoweringError, type LowerGroup } from './lower.js';
import { sadd, smul, ssub, svar } from './symbolic.js';
import { lowerControl, type ControlHost, type ProgramStep } from './control.js';
import { readBuffers, walk, writtenBuffers } from './kernel_buffers.js';
import type { FlagSpec, ScheduleEntry } from '../runtime/manifest.js';

export type BufferKind = 'input' | 'const' | 'temp' | 'state';

export interface ProgramBuffer {
  readonly id: number;
  readonly kind: BufferKind;
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly bytes: number;
  /** Byte offset in linear memory (constants: inside the weights image). */
  offset: number;
  /** The IR value stored here (absent for buffers the lowering made up: packed weights, scratch). */
  readonly value?: Value;
  /** Contents of a synthesized constant (packed weights); IR constants read their literal. */
  readonly data?: Uint8Array;
  readonly note?: string;
}

export interface ProgramIO {
  readonly name: string;
  readonly buffer: ProgramBuffer;
}

export interface Program {
  readonly name: string;
  /** In schedule order: a loop's or a branch's kernels are contiguous. */
  readonly kernels: Kernel[];
  /** Kernel indices in execution order, with loops and branches over flag buffers (manifestSchedule gives the manifest form). */
  readonly steps: ProgramStep[];
  readonly buffers: ProgramBuffer[];
  readonly inputs: ProgramIO[];
  readonly outputs: ProgramIO[];
  /** Bytes of the weights image (constants), starting at `weightsOffset`. */
  readonly weights: Uint8Array;
  readonly weightsOffset: number;
  readonly arenaOffset: number;
  readonly arenaBytes: number;
  readonly peakBytes: number;
  /** Bytes all intermediate (non-input, non-constant) buffers would take without reuse. */
  readonly sumIntermediateBytes: number;
  readonly totalBytes: number;
  /** Groups that had to be split because lowering could not express them (with the reason). */
  readonly splits: string[];
  /**
   * Kernels (indices, after the schedule's) that pack unchanging state into persistent buffers
   * (ProgramOptions.unchangingState): run once the state is set and after each change; the
   * schedule does not hold them.
   */
  readonly refresh: number[];
}

export interface ProgramOptions {
  /** Types the target can hold in memory; others are a KilnError naming the value. */
  readonly dtypes?: readonly DType[];
  readonly alignment?: number;
  /** The target emits `conv2d` statements (blocked conv/pool kernels); default true. */
  readonly windowKernels?: boolean;
  /** The target's GEMM takes f16/bf16 operands with f32 accumulation (tensor cores); default false. */
  readonly lowPrecisionGemm?: boolean;
  /** The target's GEMM splits columns across work items (Gemm.nSplit); default true. */
  readonly gemmColumnSplit?: boolean;
  /**
   * Parameters that are resident state, by parameter index, with their fixed byte offsets: they
   * are never planned into the arena, and results aliased to them (Func.aliases) are written back
   * into them at the end of the schedule.
   */
  readonly state?: ReadonlyMap<number, number>;
  /**
   * State parameters (by index) the program never updates, e.g. the weights of a compiled predict:
   * a GEMM or conv operand that is one of them is packed into a persistent buffer by a kernel of
   * `Program.refresh`, which the host runs when the state changed, instead of on every run.
   */
  readonly unchangingState?: ReadonlySet<number>;
}

const ALIGN = 64;
const alignUp = (x: number, a: number) => Math.ceil(x / a) * a;

/** One group per op, for groups the lowering could not express as a whole. */
function splitGroup(g: FusionGroup): LowerGroup[] {
  return g.values.filter((v) => v.op !== 'constant' && v.op !== 'parameter').map((v, i) => ({
    name: `${groupName(g)}_s${i}`, kind: 'single', root: v, values: [v], outputs: [v],
  }));
}

function groupName(g: FusionGroup): string {
  return `k${g.id}_${g.kind}_${g.root.op}`;
}

export function buildProgram(fn: Func, plan: FusionPlan, opts: ProgramOptions = {}): Program {
  const buffers: ProgramBuffer[] = [];
  const bufOf = new Map<Value, ProgramBuffer>();
  const allowed = opts.dtypes;
  const addBuffer = (v: Value, kind: BufferKind): ProgramBuffer => {
    const existing = bufOf.get(v);
    if (existing) return existing;
    if (allowed && !allowed.includes(v.dtype)) {
      throw new KilnError(`${fn.name}: value ${v.op} of type ${typeToString(v.type)} cannot be stored by this target (supported dtypes: ${allowed.join(', ')}); cast to f32 before it`);
    }
    const b: ProgramBuffer = { id: buffers.length, kind, dtype: v.dtype, shape: v.shape, bytes: numel(v.shape) * byteSize(v.dtype), offset: -1, value: v };
    buffers.push(b);
    bufOf.set(v, b);
    return b;
  };
  fn.params.forEach((p, i) => {
    const b = addBuffer(p, opts.state?.has(i) ? 'state' : 'input');
    if (b.kind === 'state') b.offset = opts.state!.get(i)!;
  });

  // Which group outputs escape, and groups to lower (splitting the ones lowering rejects).
  const kernels: Kernel[] = [];
  const refreshKernels: Kernel[] = [];
  const splits: string[] = [];
  const synth = (kind: BufferKind, dtype: DType, shape: readonly number[], note: string, data?: Uint8Array): number => {
    const b: ProgramBuffer = { id: buffers.length, kind, dtype, shape, bytes: numel(shape) * byteSize(dtype), offset: -1, data, note };
    buffers.push(b);
    return b.id;
  };
  const bufferOf = (v: Value): ProgramBuffer => {
    const b = bufOf.get(v) ?? (v.op === 'constant' ? addBuffer(v, 'const') : undefined);
    if (!b) throw new Error(`program: ${v.op} ${typeToString(v.type)} (%${v.id}) is used before any kernel computes it`);
    return b;
  };
  const ctx = {
    constBuffer: (data: Float32Array, note: string) => synth('const', 'f32', [data.length], note, new Uint8Array(data.buffer, data.byteOffset, data.byteLength)),
    constI32: (data: Int32Array, note: string) => synth('const', 'i32', [data.length], note, new Uint8Array(data.buffer, data.byteOffset, data.byteLength)),
    tempBuffer: (dtype: DType, shape: readonly number[], note: string) => synth('temp', dtype, shape, note),
    bufOf: (v: Value): number => bufferOf(v).id,
    constData: (v: Value) => (v.op === 'constant' ? attr.literal(v.attrs, 'value').data : undefined),
    persistentPack: (v: Value, dtype: DType, shape: readonly number[], note: string): number | undefined => {
      const i = fn.params.indexOf(v);
      if (i < 0 || !opts.unchangingState?.has(i) || bufOf.get(v)?.kind !== 'state') return undefined;
      // Kept with the constants (outside the arena, never reused); zero until the refresh kernels run.
      return synth('const', dtype, shape, note, new Uint8Array(numel(shape) * byteSize(dtype)));
    },
    refreshKernel: (k: Kernel): void => { refreshKernels.push(k); },
    windowKernels: opts.windowKernels ?? true,
    gemmColumnSplit: opts.gemmColumnSplit ?? true,
    lowPrecisionGemm: opts.lowPrecisionGemm ?? false,
  };
  const lowerOne = (g: LowerGroup): Kernel[] => {
    for (const o of g.outputs) if (!bufOf.has(o)) addBuffer(o, 'temp');
    return lowerGroup(g, ctx);
  };
  const push = (ks: readonly Kernel[]): number[] => ks.map((k) => kernels.push(k) - 1);
  let regionCount = 0;
  const host: ControlHost = {
    bufOf: bufferOf,
    bind: (v, b) => { bufOf.set(v, buffers[b.id]!); },
    temp: (dtype, shape, note) => buffers[synth('temp', dtype, shape, note)]!,
    kernel: (k) => push([k])[0]!,
    kernels,
    region: (r, p) => emitFunc(r, p, `${fn.name}_r${regionCount++}`),
  };
  // Kernels of one function (the top level or a region) in plan order; control groups become loop
  // and branch steps over their regions' kernels (codegen/control.ts).
  function emitFunc(f: Func, fplan: FusionPlan, prefix: string): ProgramStep[] {
    const steps: ProgramStep[] = [];
    // A group's outputs are the members that other groups read or the function returns (derived
    // here from the plan's inputs so a member read elsewhere is always stored).
    const readElsewhere = new Map<Value, Set<FusionGroup>>();
    for (const g of fplan.groups) for (const v of g.inputs) readElsewhere.set(v, (readElsewhere.get(v) ?? new Set()).add(g));
    const resultSet = new Set(f.results);
    const name = (g: FusionGroup) => (prefix === fn.name ? groupName(g) : `${prefix}_${groupName(g)}`);
    for (const g of fplan.groups) {
      if (g.values.every((v) => v.op === 'parameter' || v.op === 'constant')) continue;
      if (g.kind === 'control') {
        const node = g.values.find((v) => v.regions.length > 0)!;
        steps.push(...lowerControl(node, g.values.filter((v) => v.op === 'get_result'), fplan.regions.get(node)!, name(g), host));
        continue;
      }
      const outputs = g.values.filter((v) => v.op !== 'constant' && v.op !== 'parameter' && fplan.groupOf.get(v) === g &&
        (resultSet.has(v) || [...(readElsewhere.get(v) ?? [])].some((h) => h !== g)));
      for (const o of g.outputs) if (!outputs.includes(o)) outputs.push(o);
      const lg: LowerGroup = { name: name(g), kind: g.kind, root: g.root, values: g.values, outputs };
      let ks: Kernel[];
      try {
        ks = lowerOne(lg);
      } catch (e) {
        if (!(e instanceof LoweringError)) throw e;
        splits.push(`${lg.name}: ${e.message}`);
        // Members become their own kernels; every member is then materialized.
        ks = splitGroup(g).map((x) => ({ ...x, name: name(g) + x.name.slice(groupName(g).length) })).flatMap((x) => lowerOne(x));
      }
      steps.push(...push(ks));
    }
    return steps;
  }
  const schedule = emitFunc(fn, plan, fn.name);
  // State updates: a result aliased to a state parameter is copied into it after everything else
  // has read the old value (the copy is the last kernel, so liveness keeps the result alive).
  for (const a of fn.aliases) {
    const param = fn.params[a.param]!;
    const r = fn.results[a.result]!;
    const dst = bufOf.get(param)!;
    if (dst.kind !== 'state') continue;
    if (r.op === 'constant' && !bufOf.has(r)) addBuffer(r, 'const');
    const src = bufOf.get(r);
    if (!src) throw new Error(`program: state update ${a.result} was not computed by any kernel`);
    if (src === dst) continue;
    schedule.push(...push([copyKernel(`${fn.name}_update_${kernels.length}`, src, dst)]));
  }
  // Repacking kernels come after the schedule's: they read state and write persistent buffers only.
  const refresh = push(refreshKernels);
  // Results defined directly by constants need a buffer too.
  for (const r of fn.results) {
    if (!bufOf.has(r)) {
      if (r.op === 'constant') addBuffer(r, 'const');
      else throw new Error(`program: result ${r.op} ${typeToString(r.type)} was not computed by any kernel`);
    }
  }

  // Weights image: constants, each aligned.
  const weightsOffset = 0;
  let w = 0;
  for (const b of buffers) {
    if (b.kind !== 'const') continue;
    b.offset = weightsOffset + w;
    w = alignUp(w + b.bytes, ALIGN);
  }
  const weights = new Uint8Array(w);
  for (const b of buffers) {
    if (b.kind !== 'const') continue;
    let bytes = b.data;
    if (!bytes) {
      const data = attr.literal(b.value!.attrs, 'value').data;
      bytes = b.dtype === 'bool' || b.dtype === 'u8' ? Uint8Array.from(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    }
    weights.set(bytes.subarray(0, b.bytes), b.offset - weightsOffset);
  }

  // Liveness over the schedule: step = kernel index (kernels are numbered in schedule order, a loop's
  // and a branch's kernels contiguous). Inputs are live from the start; results forever.
  const results = new Set(fn.results.map((r) => bufOf.get(r)!.id));
  const firstDef = new Map<number, number>();
  const lastUse = new Map<number, number>();
  const written = kernels.map((k) => writtenBuffers(k));
  const read = kernels.map((k) => readBuffers(k));
  kernels.forEach((_, step) => {
    for (const id of written[step]!) if (!firstDef.has(id)) firstDef.set(id, step);
    for (const id of read[step]!) lastUse.set(id, Math.max(lastUse.get(id) ?? -1, step));
  });
  const loops = controlRanges(schedule);
  const planned = buffers.filter((b) => b.kind !== 'const' && b.kind !== 'state');
  const planBufs: PlanBuffer[] = planned.map((b) => ({
    id: b.id,
    bytes: Math.max(b.bytes, 1),
    def: b.kind === 'input' ? 0 : firstDef.get(b.id) ?? 0,
    lastUse: results.has(b.id) ? Infinity : Math.max(lastUse.get(b.id) ?? 0, b.kind === 'input' ? 0 : firstDef.get(b.id) ?? 0),
  }));
  // Inputs are written by the host before step 0: make them live across step 0 from "before" it.
  for (const pb of planBufs) if (buffers[pb.id]!.kind === 'input') (pb as { def: number }).def = -1;
  extendOverLoops(planBufs, loops, kernels.length, written, read);
  const inPlace = inPlaceHints(kernels, written, buffers, lastUse, results);
  const mem = planMemory(planBufs, { alignment: opts.alignment ?? ALIGN, inPlace });
  const arenaOffset = alignUp(weightsOffset + weights.length, ALIGN);
  for (const b of planned) b.offset = arenaOffset + mem.offsets.get(b.id)!;
  const sumIntermediateBytes = planned.filter((b) => b.kind === 'temp').reduce((s, b) => s + b.bytes, 0);

  const nameOf = (p: Value, i: number) => p.name ?? `arg${i}`;
  return {
    name: fn.name,
    kernels,
    steps: schedule,
    buffers,
    inputs: fn.params.map((p, i) => ({ name: nameOf(p, i), buffer: bufOf.get(p)! })),
    outputs: fn.results.map((r, i) => ({ name: fn.resultNames[i] ?? `out${i}`, buffer: bufOf.get(r)! })),
    weights,
    weightsOffset,
    arenaOffset,
    arenaBytes: mem.peakBytes,
    peakBytes: mem.peakBytes,
    sumIntermediateBytes,
    totalBytes: arenaOffset + mem.peakBytes,
    splits,
    refresh,
  };
}

/** dst[i] = src[i] over the flat elements (vectorized when f32). */
function copyKernel(name: string, src: ProgramBuffer, dst: ProgramBuffer): Kernel {
  const n = numel(src.shape);
  const chunk = Math.min(n, 4096);
  const work = Math.ceil(n / chunk);
  const i = sadd(smul(svar('w', work), chunk), svar('i', chunk));
  const t = src.dtype === 'f32' || src.dtype === 'f16' || src.dtype === 'bf16' ? 'f32' : src.dtype === 'bool' ? 'bool' : 'i32';
  const end = n % chunk === 0 ? undefined : ssub(n, smul(svar('w', work), chunk));
  return {
    name, work, note: 'state update',
    bufs: [{ id: src.id, dtype: src.dtype, elems: n }, { id: dst.id, dtype: dst.dtype, elems: n }],
    body: n === 0 ? [] : [{ k: 'for', v: 'i', n: chunk, vector: t === 'f32' ? 4 : undefined, end, body: [{ k: 'store', buf: dst.id, at: i, val: { k: 'load', buf: src.id, at: i, t } }] }],
  };
}

/** Kernel ranges [first, last] of every loop (with the flag it reads, if any) and of every branch (its flag). */
interface ControlRange { lo: number; hi: number; flag?: number; loop: boolean }

function controlRanges(steps: readonly ProgramStep[]): ControlRange[] {
  const out: ControlRange[] = [];
  const span = (ss: readonly ProgramStep[]): [number, number] => {
    let lo = Infinity, hi = -Infinity;
    for (const s of ss) {
      let r: [number, number];
      if (typeof s === 'number') r = [s, s];
      else if ('loop' in s) {
        r = span([...s.loop.head, ...s.loop.body]);
        if (r[0] <= r[1]) out.push({ lo: r[0], hi: r[1], ...(s.loop.flag !== undefined ? { flag: s.loop.flag } : {}), loop: true });
      } else {
        r = span([...s.branch.then, ...s.branch.else]);
        out.push({ lo: r[0] <= r[1] ? r[0] : Infinity, hi: r[1], flag: s.branch.flag, loop: false });
      }
      lo = Math.min(lo, r[0]);
      hi = Math.max(hi, r[1]);
    }
    return [lo, hi];
  };
  span(steps);
  return out;
}

/**
 * Loops run their kernels again: a buffer a loop touches that lives before or after it (a carried
 * value, the step counter, a stacked output, an operand read each iteration) is kept alive over
 * the whole loop, so nothing inside reuses its memory. A loop's flag lives over the whole loop and
 * a branch's flag over both branches (threads read it after the kernel that wrote it).
 */
function extendOverLoops(bufs: PlanBuffer[], ranges: readonly ControlRange[], steps: number, written: readonly number[][], read: readonly Set<number>[]): void {
  const byId = new Map(bufs.map((b) => [b.id, b as { def: number; lastUse: number }]));
  for (const r of ranges) {
    if (r.flag !== undefined) {
      const f = byId.get(r.flag);
      if (f) {
        f.lastUse = Math.max(f.lastUse, Number.isFinite(r.hi) ? r.hi : f.def);
        if (r.loop) f.def = Math.min(f.def, r.lo);
      }
    }
    if (!r.loop) continue;
    const touched = new Set<number>();
    for (let s = r.lo; s <= r.hi && s < steps; s++) {
      for (const id of written[s]!) touched.add(id);
      for (const id of read[s]!) touched.add(id);
    }
    for (const id of touched) {
      const b = byId.get(id);
      if (!b || (b.def >= r.lo && b.lastUse <= r.hi)) continue;
      b.def = Math.min(b.def, r.lo);
      b.lastUse = Math.max(b.lastUse, r.hi);
    }
  }
}

/**
 * The manifest's schedule of a program: kernel indices shifted by `first` (where the program's
 * kernels start in a multi-entry artifact), flags at their buffers' current offsets (call it after
 * any relocation).
 */
export function manifestSchedule(p: Pick<Program, 'steps' | 'buffers'>, first = 0): ScheduleEntry[] {
  const flag = (id: number): FlagSpec => ({ offset: p.buffers[id]!.offset, dtype: p.buffers[id]!.dtype as FlagSpec['dtype'] });
  const conv = (steps: readonly ProgramStep[]): ScheduleEntry[] => steps.map((s): ScheduleEntry => {
    if (typeof s === 'number') return s + first;
    if ('loop' in s) {
      const l = s.loop;
      return { loop: {
        ...(l.count !== undefined ? { count: l.count } : {}),
        ...(l.head.length > 0 ? { head: conv(l.head) } : {}),
        ...(l.flag !== undefined ? { flag: flag(l.flag) } : {}),
        body: conv(l.body), note: l.note,
      } };
    }
    const b = s.branch;
    return { branch: { flag: flag(b.flag), then: conv(b.then), else: conv(b.else), note: b.note } };
  });
  return conv(p.steps);
}

/**
 * A kernel whose single output is computed elementwise from an input read at exactly the output's
 * index may write over that input when the input dies there.
 */
function inPlaceHints(kernels: readonly Kernel[], written: readonly number[][], buffers: readonly ProgramBuffer[], lastUse: Map<number, number>, results: Set<number>): InPlaceHint[] {
  const hints: InPlaceHint[] = [];
  kernels.forEach((k, step) => {
    const outs = written[step]!;
    if (outs.length !== 1) return;
    const out = buffers[outs[0]!]!;
    let storeAt: string | undefined;
    let ok = true;
    const loads = new Map<number, Set<string>>();
    walk(k.body, (s) => {
      if (s.k === 'store') storeAt = s.at.key;
      if (s.k === 'storex' || s.k === 'gemm' || s.k === 'conv2d' || s.k === 'accum') ok = false;
    });
    if (!ok || storeAt === undefined) return;
    const visit = (e: Expr) => {
      switch (e.k) {
        case 'load': { const set = loads.get(e.buf) ?? new Set(); set.add(e.at.key); loads.set(e.buf, set); break; }
        case 'loadx': ok = false; break;
        case 'un': case 'cast': visit(e.a); break;
        case 'bin': case 'cmp': visit(e.a); visit(e.b); break;
        case 'sel': visit(e.c); visit(e.a); visit(e.b); break;
        default: break;
      }
    };
    walk(k.body, (s) => { if (s.k === 'store') visit(s.val); });
    if (!ok) return;
    for (const [id, keys] of loads) {
      const b = buffers[id]!;
      if (b.kind !== 'temp' || results.has(b.id)) continue;
      if (keys.size === 1 && keys.has(storeAt!) && b.bytes === out.bytes && b.dtype === out.dtype && lastUse.get(id) === step) {
        hints.push({ step, input: id, output: out.id });
        break;
      }
    }
  });
  return hints;
}
