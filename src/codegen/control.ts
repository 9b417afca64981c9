/**
 * Control flow in the program schedule: a `cond`, `while` or `scan` node becomes a branch or a
 * loop entry over the kernels of its regions (each region is fused and lowered like a function of
 * its own), not an unrolled copy of them. The layout in memory:
 *
 * - cond: the predicate's buffer is the branch flag; each branch's region reads the cond's
 *   operands where they already are, and copies its results into the cond's result buffers.
 * - while: each carried value has one fixed buffer (the while's result), filled from the initial
 *   values before the loop. Per iteration the cond region computes the flag from those buffers
 *   (the loop's head), then the body region computes the new values, which are copied back
 *   (a result that is its own carried value is not copied; results that are other carried values
 *   go through a temporary first, so a swap does not read what it just overwrote).
 * - scan: carries as for while, plus an i32 step counter in memory (zeroed before the loop,
 *   incremented by the last kernel of each iteration): per-iteration kernels copy step t (or
 *   length-1-t, reversed) of each sequence into the body's slice buffers and store the body's
 *   per-step outputs at step t of the stacked results, so the body's own kernels have fixed
 *   offsets. The loop has a static trip count.
 * The memory planner keeps every buffer a loop touches that lives outside one iteration alive
 * over the whole loop (program.ts), so loop-carried buffers are never reused inside it.
 */
import type { Func, Value } from '../ir/function.js';
import { attr } from '../ir/registry.js';
import { numel } from '../ir/types.js';
import type { DType } from '../ir/dtype.js';
import type { FusionPlan } from '../passes/fusion_plan.js';
import type { Expr, Kernel, ScalarType, Stmt } from './kernel_ir.js';
import { sadd, sdiv, smod, smul, ssub, svar, sconst, type Sym } from './symbolic.js';
import { canWriteOver, readBuffers, renameBuffer, writtenBuffers } from './kernel_buffers.js';
import { lowerLoopBody } from './packed_operands.js';

/** A schedule entry while the program is built: kernel indices, loops and branches with flag buffers. */
export type ProgramStep =
  | number
  | { readonly loop: { readonly count?: number; readonly head: ProgramStep[]; readonly flag?: number; readonly body: ProgramStep[]; readonly note: string } }
  | { readonly branch: { readonly flag: number; readonly then: ProgramStep[]; readonly else: ProgramStep[]; readonly note: string } };

/** A buffer as control lowering sees it. */
export interface ControlBuffer {
  readonly id: number;
  readonly dtype: DType;
  readonly shape: readonly number[];
}

/** What program.ts provides to lower a control node. */
export interface ControlHost {
  /** Where a value of the enclosing function lives. */
  bufOf(v: Value): ControlBuffer;
  /** Makes `v` (a region parameter or a get_result) live in `b`. */
  bind(v: Value, b: ControlBuffer): void;
  temp(dtype: DType, shape: readonly number[], note: string): ControlBuffer;
  /** Appends a kernel to the program; returns its index. */
  kernel(k: Kernel): number;
  /** The program's kernels so far, by index (a kernel may be replaced by an equivalent one). */
  readonly kernels: Kernel[];
  /** Fuses, lowers and appends a region's kernels; its parameters must be bound first. */
  region(fn: Func, plan: FusionPlan): ProgramStep[];
}

const scalarOf = (d: DType): ScalarType => (d === 'f32' || d === 'f16' || d === 'bf16' ? 'f32' : d === 'bool' ? 'bool' : 'i32');
const CHUNK = 4096;

/** A flat elementwise kernel over n elements: `body(i)` for the flat index i, chunked into work items. */
function flatKernel(name: string, note: string, bufs: readonly ControlBuffer[], n: number, body: (i: Sym) => Stmt, vector?: boolean): Kernel {
  const chunk = Math.max(1, Math.min(n, CHUNK));
  const work = n === 0 ? 0 : Math.ceil(n / chunk);
  const i = sadd(smul(svar('w', work), chunk), svar('i', chunk));
  const end = n % chunk === 0 ? undefined : ssub(n, smul(svar('w', work), chunk));
  const seen = new Set<number>();
  const kb = bufs.filter((b) => !seen.has(b.id) && seen.add(b.id)).map((b) => ({ id: b.id, dtype: b.dtype, elems: numel(b.shape) }));
  return {
    name, work, note, bufs: kb,
    body: n === 0 ? [] : [{ k: 'for', v: 'i', n: chunk, ...(vector ? { vector: 4 } : {}), ...(end ? { end } : {}), body: [body(i)] }],
  };
}

function copyKernel(name: string, src: ControlBuffer, dst: ControlBuffer, note: string): Kernel {
  const t = scalarOf(src.dtype);
  return flatKernel(name, note, [src, dst], numel(src.shape), (i) => ({ k: 'store', buf: dst.id, at: i, val: { k: 'load', buf: src.id, at: i, t } }), t === 'f32');
}

function fillKernel(name: string, dst: ControlBuffer, note: string): Kernel {
  const t = scalarOf(dst.dtype);
  return flatKernel(name, note, [dst], numel(dst.shape), (i) => ({ k: 'store', buf: dst.id, at: i, val: { k: 'const', t, v: 0 } }));
}

const at0 = sconst(0);
const loadCounter = (c: ControlBuffer): Expr => ({ k: 'load', buf: c.id, at: at0, t: 'i32' });

/** counter = 0, or counter += 1: one work item. */
function counterKernel(name: string, c: ControlBuffer, increment: boolean): Kernel {
  const val: Expr = increment ? { k: 'bin', op: 'add', a: loadCounter(c), b: { k: 'const', t: 'i32', v: 1 }, t: 'i32' } : { k: 'const', t: 'i32', v: 0 };
  return { name, work: 1, note: increment ? 'scan step counter += 1' : 'scan step counter = 0', bufs: [{ id: c.id, dtype: 'i32', elems: 1 }], body: [{ k: 'store', buf: c.id, at: at0, val }] };
}

/**
 * The element of stacked buffer `big` (step axis `axis` of `length`) matching flat element i of
 * one step, at the step the counter says (reversed: length-1-counter).
 */
function stepIndex(big: ControlBuffer, axis: number, length: number, counter: ControlBuffer, reverse: boolean, i: Sym): Expr {
  const inner = big.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const fixed = sadd(smul(sdiv(i, inner), length * inner), smod(i, inner));
  const c = loadCounter(counter);
  const t: Expr = reverse ? { k: 'bin', op: 'sub', a: { k: 'const', t: 'i32', v: length - 1 }, b: c, t: 'i32' } : c;
  return { k: 'bin', op: 'add', a: { k: 'index', s: fixed }, b: { k: 'bin', op: 'mul', a: t, b: { k: 'const', t: 'i32', v: inner }, t: 'i32' }, t: 'i32' };
}

/** slice = big[..., t, ...] (t from the counter). */
function sliceKernel(name: string, big: ControlBuffer, slice: ControlBuffer, axis: number, length: number, counter: ControlBuffer, reverse: boolean): Kernel {
  const t = scalarOf(big.dtype);
  return flatKernel(name, `scan: step of a sequence -> slice`, [big, slice, counter], numel(slice.shape),
    (i) => ({ k: 'store', buf: slice.id, at: i, val: { k: 'loadx', buf: big.id, at: stepIndex(big, axis, length, counter, reverse, i), t } }));
}

/** big[..., t, ...] = y (t from the counter). */
function stackKernel(name: string, y: ControlBuffer, big: ControlBuffer, axis: number, length: number, counter: ControlBuffer, reverse: boolean): Kernel {
  const t = scalarOf(y.dtype);
  return flatKernel(name, `scan: per-step output -> step of the stacked result`, [y, big, counter], numel(y.shape),
    (i) => ({ k: 'storex', buf: big.id, at: stepIndex(big, axis, length, counter, reverse, i), val: { k: 'load', buf: y.id, at: i, t } }));
}

/**
 * Copies region results into the carried buffers. A result that is its own carried buffer needs
 * nothing; one living in another carried buffer is first copied aside, so no copy reads a buffer
 * an earlier copy of the same batch overwrote.
 */
function writeBack(h: ControlHost, name: string, results: readonly ControlBuffer[], carried: readonly ControlBuffer[]): number[] {
  const ks: number[] = [];
  const carriedIds = new Set(carried.map((c) => c.id));
  const sources = results.map((r, i) => {
    if (r.id === carried[i]!.id || !carriedIds.has(r.id)) return r;
    const tmp = h.temp(r.dtype, r.shape, `${name}: carried value ${i} set aside`);
    ks.push(h.kernel(copyKernel(`${name}_aside${i}`, r, tmp, 'loop: carried value set aside')));
    return tmp;
  });
  sources.forEach((s, i) => {
    if (s.id !== carried[i]!.id) ks.push(h.kernel(copyKernel(`${name}_carry${i}`, s, carried[i]!, 'loop: new carried value')));
  });
  return ks;
}

/**
 * Loop-carried values written in place: where the body's new value i is computed by one kernel K
 * of the body's own (not inside a nested loop or branch), K may write it straight into carried
 * buffer i when no later kernel of the iteration reads the old value and K itself reads it, if
 * at all, only at the element it writes. K and the later kernels that read the new value then
 * use the carried buffer, and the end-of-iteration copy disappears. Returns the results' buffers
 * after this (carried buffers where it applied).
 */
function writeInPlace(h: ControlHost, bodyStart: number, bodySteps: readonly ProgramStep[], results: readonly ControlBuffer[], carried: readonly ControlBuffer[]): ControlBuffer[] {
  const out = [...results];
  const renamed = new Set<number>();
  const end = h.kernels.length;
  results.forEach((r, i) => {
    const c = carried[i]!;
    if (r.id === c.id || renamed.has(r.id) || carried.some((x) => x.id === r.id)) return;
    // The write-back still reads the old value where another result passes this carried value on.
    if (results.some((x, j) => j !== i && x.id === c.id)) return;
    const writers: number[] = [];
    for (let k = bodyStart; k < end; k++) if (writtenBuffers(h.kernels[k]!).includes(r.id)) writers.push(k);
    const K = writers[0];
    if (writers.length !== 1 || K === undefined || !bodySteps.includes(K)) return;
    if (!canWriteOver(h.kernels[K]!, c.id, r.id)) return;
    for (let k = K + 1; k < end; k++) if (readBuffers(h.kernels[k]!).has(c.id)) return;
    for (let k = K; k < end; k++) h.kernels[k] = renameBuffer(h.kernels[k]!, r.id, c.id);
    renamed.add(r.id);
    out.forEach((o, j) => { if (o.id === r.id) out[j] = c; });
  });
  return out;
}

/** One buffer per tuple element of a control node, bound to the get_results that read it. */
function tupleBuffers(h: ControlHost, node: Value, name: string, getResults: readonly Value[]): ControlBuffer[] {
  const out = node.type.tuple!.map((t, i) => h.temp(t.dtype, t.shape, `${name} result ${i}`));
  for (const g of getResults) h.bind(g, out[attr.int(g.attrs, 'index')]!);
  return out;
}

/** Lowers one control node and its get_results; returns its schedule entries. */
export function lowerControl(node: Value, getResults: readonly Value[], plans: readonly FusionPlan[], name: string, h: ControlHost): ProgramStep[] {
  const out = tupleBuffers(h, node, name, getResults);
  const steps: ProgramStep[] = [];
  const operands = node.inputs.map((v) => h.bufOf(v));
  const label = `${node.op} %${node.id}`;
  if (node.op === 'cond') {
    const branch = (k: 0 | 1): ProgramStep[] => {
      const fn = node.regions[k]!;
      fn.params.forEach((p, i) => h.bind(p, operands[i + 1]!));
      const s = h.region(fn, plans[k]!);
      fn.results.forEach((r, i) => s.push(h.kernel(copyKernel(`${name}_${k ? 'else' : 'then'}_out${i}`, h.bufOf(r), out[i]!, `cond: ${k ? 'else' : 'then'} result ${i}`))));
      return s;
    };
    const then = branch(0);
    steps.push({ branch: { flag: operands[0]!.id, then, else: branch(1), note: label } });
    return steps;
  }
  if (node.op === 'while') {
    operands.forEach((o, i) => steps.push(h.kernel(copyKernel(`${name}_init${i}`, o, out[i]!, 'while: initial carried value'))));
    const [condFn, bodyFn] = node.regions as [Func, Func];
    condFn.params.forEach((p, i) => h.bind(p, out[i]!));
    const headStart = h.kernels.length;
    const head = h.region(condFn, plans[0]!);
    const flag = h.bufOf(condFn.results[0]!).id;
    bodyFn.params.forEach((p, i) => h.bind(p, out[i]!));
    const bodyStart = h.kernels.length;
    const lowered = lowerLoopBody(passedThrough(bodyFn, bodyFn.params.length), () => h.region(bodyFn, plans[1]!));
    const body = lowered.result;
    body.push(...writeBack(h, name, writeInPlace(h, bodyStart, body, bodyFn.results.map((r) => h.bufOf(r)), out), out));
    const max = attr.int(node.attrs, 'max_iterations');
    // Hoisted packs go before the head's kernels (the loop's first), in index and schedule order.
    steps.push(...hoistBefore(h, headStart, lowered.hoisted, [head, body]));
    steps.push({ loop: { ...(max >= 0 ? { count: max } : {}), head, flag, body, note: label } });
    return steps;
  }
  // scan
  const nc = attr.int(node.attrs, 'carries'), length = attr.int(node.attrs, 'length'), axis = attr.int(node.attrs, 'axis');
  const reverse = attr.bool(node.attrs, 'reverse');
  const carried = out.slice(0, nc), stacked = out.slice(nc);
  operands.slice(0, nc).forEach((o, i) => steps.push(h.kernel(copyKernel(`${name}_init${i}`, o, carried[i]!, 'scan: initial carry'))));
  if (length === 0) {
    stacked.forEach((b, j) => steps.push(h.kernel(fillKernel(`${name}_empty${j}`, b, 'scan of length 0: empty stacked output'))));
    return steps;
  }
  const counter = h.temp('i32', [], `${name} step counter`);
  steps.push(h.kernel(counterKernel(`${name}_t0`, counter, false)));
  const bodyFn = node.regions[0]!;
  const body: ProgramStep[] = [];
  const bodyStart = h.kernels.length;
  const xs = operands.slice(nc);
  bodyFn.params.forEach((p, i) => {
    if (i < nc) return h.bind(p, carried[i]!);
    const slice = h.temp(p.dtype, p.shape, `${name} step of sequence ${i - nc}`);
    h.bind(p, slice);
    body.push(h.kernel(sliceKernel(`${name}_x${i - nc}`, xs[i - nc]!, slice, axis, length, counter, reverse)));
  });
  const lowered = lowerLoopBody(passedThrough(bodyFn, nc), () => h.region(bodyFn, plans[0]!));
  body.push(...lowered.result);
  const results = bodyFn.results.map((r) => h.bufOf(r));
  results.slice(nc).forEach((y, j) => body.push(h.kernel(stackKernel(`${name}_y${j}`, y, stacked[j]!, axis, length, counter, reverse))));
  body.push(...writeBack(h, name, writeInPlace(h, bodyStart, body, results.slice(0, nc), carried), carried));
  body.push(h.kernel(counterKernel(`${name}_t`, counter, true)));
  steps.push(...hoistBefore(h, bodyStart, lowered.hoisted, [body]));
  steps.push({ loop: { count: length, head: [], body, note: `${label}, ${length} steps${reverse ? ', reversed' : ''}` } });
  return steps;
}

/** The first `n` parameters of a loop body that it returns unchanged (loop-invariant carried values). */
function passedThrough(body: Func, n: number): Set<Value> {
  return new Set(body.params.filter((p, i) => i < n && body.results[i] === p));
}

/**
 * Kernels hoisted out of a loop (packs of loop-invariant operands, packed_operands.ts) become
 * kernels `at`.. (the loop's first index), so kernel indices stay in schedule order for liveness:
 * the loop's kernels from `at` on, referenced by `lists`, shift up. Returns the hoisted indices.
 */
function hoistBefore(h: ControlHost, at: number, hoisted: readonly Kernel[], lists: ProgramStep[][]): number[] {
  if (hoisted.length === 0) return [];
  const n = hoisted.length;
  h.kernels.splice(at, 0, ...hoisted);
  const shift = (ss: readonly ProgramStep[]): ProgramStep[] => ss.map((s): ProgramStep => {
    if (typeof s === 'number') return s >= at ? s + n : s;
    if ('loop' in s) return { loop: { ...s.loop, head: shift(s.loop.head), body: shift(s.loop.body) } };
    return { branch: { ...s.branch, then: shift(s.branch.then), else: shift(s.branch.else) } };
  });
  for (const list of lists) list.splice(0, list.length, ...shift(list));
  return hoisted.map((_, i) => at + i);
}
