/**
 * Loop and branch schedule entries in the runtime: the flattened jump code runs kernels in the
 * order a direct recursive reading of the nested manifest gives (the oracle below), threads and
 * the CUDA host walker read flags the same way, a failing kernel ends a data-dependent loop, and
 * the validator refuses malformed loop and branch entries naming the field.
 */
import { describe, expect, it } from 'vitest';
import { Builder } from '../ir/builder.js';
import { tensorType } from '../ir/types.js';
import { compile } from '../compile.js';
import { assemble } from '../../test/fuzz/assemble.js';
import { parseSeed } from '../../test/fuzz/mutate.js';
import { flattenSchedule, walkSchedule, flagValue, FLAG_DTYPES } from './schedule.js';
import { executeSchedule, CTRL_SLOTS, takeFailure } from './threads.js';
import { load, KilnRuntimeError, type Program } from './index.js';
import type { ScheduleEntry } from './manifest.js';
import '../ir/ops/index.js';

/** Oracle: the nested schedule read directly; flags come from `flags` (offset -> successive values). */
function reference(s: readonly ScheduleEntry[], flags: Map<number, number[]>, out: number[]): void {
  const take = (off: number) => flags.get(off)!.shift()!;
  for (const e of s) {
    if (typeof e === 'number') out.push(e);
    else if ('loop' in e) {
      const l = e.loop;
      for (let i = 0; l.count === undefined || i < l.count; i++) {
        reference(l.head ?? [], flags, out);
        if (l.flag && !take(l.flag.offset)) break;
        reference(l.body, flags, out);
      }
    } else reference(take(e.branch.flag.offset) ? e.branch.then : e.branch.else, flags, out);
  }
}

const sched: ScheduleEntry[] = [
  0,
  { loop: { count: 3, body: [1, { branch: { flag: { offset: 0, dtype: 'i32' }, then: [2], else: [3, 4] } }, { loop: { count: 2, body: [5] } }] } },
  { loop: { head: [6], flag: { offset: 4, dtype: 'bool' }, body: [7, { loop: { count: 0, body: [8] } }] } },
  { loop: { count: 2, head: [9], flag: { offset: 8, dtype: 'f32' }, body: [10] } },
  11,
];
const flagValues = (): Map<number, number[]> => new Map([[0, [1, 0, 1]], [4, [1, 1, 1, 0]], [8, [1, 1, 1]]]);

describe('flattened schedules', () => {
  it('run kernels in the order of the nested schedule (counted, flag-ended and bounded loops, branches)', () => {
    const want: number[] = [];
    reference(sched, flagValues(), want);
    const flat = flattenSchedule(sched);
    expect(flat.steps).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    // CUDA's host walker.
    const fv = flagValues();
    const got: number[] = [];
    walkSchedule(flat, (s) => got.push(flat.steps[s]!), (off) => fv.get(off)!.shift()! !== 0);
    expect(got).toEqual(want);
    // The threads' walker (shipped to workers): flags in memory, changed by the kernels that precede each read.
    const mem = new ArrayBuffer(16);
    const view = new DataView(mem);
    const fv2 = flagValues();
    const ran: number[] = [];
    const setFlags = (k: number) => {
      if (k === 1) view.setInt32(0, fv2.get(0)!.shift()!, true);
      if (k === 6) view.setUint8(4, fv2.get(4)!.shift()!);
      if (k === 9) view.setFloat32(8, fv2.get(8)!.shift()!, true);
    };
    const fns = flat.steps.map((k) => () => { ran.push(k); setFlags(k); });
    const ctrl = new Int32Array(CTRL_SLOTS);
    expect(executeSchedule(fns, flat.steps.map(() => 1), flat.steps.map(() => 1), ctrl, 0, 1, true, Infinity, flat.code, mem)).toBe(true);
    expect(ran).toEqual(want);
  });

  it('read flags as the manifest dtype: zero is false, NaN true, -0 false', () => {
    const v = new DataView(new ArrayBuffer(4));
    v.setFloat32(0, NaN, true);
    expect(flagValue(v, 0, FLAG_DTYPES.f32)).toBe(true);
    v.setFloat32(0, -0, true);
    expect(flagValue(v, 0, FLAG_DTYPES.f32)).toBe(false);
    v.setInt32(0, 256, true);
    expect(flagValue(v, 0, FLAG_DTYPES.i32)).toBe(true);
    expect(flagValue(v, 0, FLAG_DTYPES.bool)).toBe(false);
  });

  it('a failing kernel ends a loop whose flag would never clear, and is reported', () => {
    const flat = flattenSchedule([{ loop: { head: [0], flag: { offset: 0, dtype: 'i32' }, body: [1] } }]);
    const mem = new ArrayBuffer(4);
    new Int32Array(mem)[0] = 1;
    let calls = 0;
    const fns = [() => {}, () => { if (++calls === 3) throw new Error('boom'); }];
    const ctrl = new Int32Array(CTRL_SLOTS);
    expect(executeSchedule(fns, [1, 1], [1, 1], ctrl, 0, 1, true, Infinity, flat.code, mem)).toBe(true);
    expect(calls).toBe(3);
    expect(takeFailure(ctrl)).toMatchObject({ step: 1, message: 'boom' });
  });
});

// ---------------------------------------------------------------- validator

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- edits reach anywhere in the JSON

function whileBytes(): Uint8Array {
  const b = new Builder('w');
  const x = b.param(tensorType([8], 'f32'), 'x');
  const t = (r: Builder) => r.param(tensorType([8], 'f32'), 'p');
  const cb = new Builder('cond');
  const cp = t(cb);
  const cond = cb.build([cb.op('compare', [cb.op('reduce', [cp], { op: 'sum', axes: [0] }), cb.scalar(100)], { dir: 'lt' })]);
  const bb = new Builder('body');
  const bp = t(bb);
  const body = bb.build([bb.op('add', [bb.op('mul', [bp, bb.full(2, tensorType([8], 'f32'))]), bb.full(1, tensorType([8], 'f32'))])]);
  const w = b.op('while', [x], {}, [cond, body]);
  return compile(b.build([b.op('get_result', [w], { index: 0 })], ['y']), { threads: false }).bytes;
}

describe('manifest validator: loop and branch entries', () => {
  const bytes = whileBytes();
  const seed = parseSeed(bytes);
  const loopAt = (seed.manifest as Obj).schedule.findIndex((e: unknown) => typeof e === 'object');
  const edited = (edit: (m: Obj, loop: Obj) => void, version = 4): Uint8Array => {
    const m = structuredClone(seed.manifest) as Obj;
    edit(m, m.schedule[loopAt].loop);
    return assemble({ ...m, version }, { ...seed.sections }, { rebind: true, version });
  };
  async function rejects(b: Uint8Array, message: RegExp): Promise<void> {
    let caught: unknown;
    let prog: Program | undefined;
    try {
      prog = await load(b);
    } catch (e) {
      caught = e;
    }
    prog?.dispose();
    expect(caught, `expected a rejection matching ${message}`).toBeInstanceOf(KilnRuntimeError);
    expect((caught as Error).message).toMatch(message);
  }
  const run = async (b: Uint8Array, x: Float32Array) => {
    const p = await load(b);
    try {
      return Array.from(p.runSync({ x })['y'] as Float32Array);
    } finally {
      p.dispose();
    }
  };

  it('accepts the compiled loop (version 4), and a count bounding it', async () => {
    expect(loopAt).toBeGreaterThanOrEqual(0);
    const x = new Float32Array(8).fill(1);
    // Oracle: x -> 2x + 1 while sum(x) < 100: 1, 3, 7, 15 (sum 120).
    expect(await run(bytes, x)).toEqual(new Array(8).fill(15));
    expect(await run(edited((_, l) => { l.count = 2; }), x)).toEqual(new Array(8).fill(7));
  });

  it('refuses malformed loop and branch entries, naming the field', async () => {
    const at = `manifest\\.schedule\\[${loopAt}\\]`;
    await rejects(edited(() => {}, 3), new RegExp(`${at} must be a kernel index \\(version 3; loops and branches need version 4\\)`));
    await rejects(edited((_, l) => { delete l.flag; }), new RegExp(`${at}\\.loop must be a loop with a count, a flag or both`));
    await rejects(edited((_, l) => { l.count = -1; }), new RegExp(`${at}\\.loop\\.count must be an integer in \\[0, 2\\^31\\), got -1`));
    await rejects(edited((_, l) => { l.cnt = 3; }), new RegExp(`${at}\\.loop\\.cnt is not a field here \\(fields: count, head, flag, body, note\\)`));
    await rejects(edited((_, l) => { l.flag.dtype = 'f16'; }), new RegExp(`${at}\\.loop\\.flag\\.dtype must be one of bool, u8, i8, i32, f32, got "f16"`));
    await rejects(edited((_, l) => { l.flag.offset = 2 ** 30; }), new RegExp(`${at}\\.loop\\.flag \\('flag'\\) \\[1073741824, 1073741825\\) does not fit the \\d+-byte memory`));
    await rejects(edited((_, l) => { l.flag = { offset: 2, dtype: 'i32' }; }), new RegExp(`${at}\\.loop\\.flag\\.offset must be a multiple of the i32 size 4, got 2`));
    await rejects(edited((m, l) => { l.body = [m.kernels.length]; }), new RegExp(`${at}\\.loop\\.body\\[0\\] must be an integer in \\[0, ${(seed.manifest as Obj).kernels.length - 1}\\]`));
    await rejects(edited((m) => { m.schedule[loopAt] = { branch: { flag: m.schedule[loopAt].loop.flag, then: [0] } }; }), new RegExp(`${at}\\.branch\\.else must be an array, got undefined`));
    await rejects(edited((m) => { m.schedule[loopAt] = { loop: m.schedule[loopAt].loop, branch: {} }; }), new RegExp(`${at} must be a kernel index, \\{loop\\} or \\{branch\\}`));
  });
});

describe('a loop that never ends', () => {
  it('is stopped by timeoutMs, naming the kernel, run after run (the workers are replaced between)', async () => {
    const b = new Builder('forever');
    const x = b.param(tensorType([4], 'f32'), 'x');
    const cb = new Builder('cond');
    const cp = cb.param(tensorType([4], 'f32'), 'p');
    // x >= x holds for every number this loop makes (it only adds 1): the flag never clears.
    const cond = cb.build([cb.op('compare', [cb.op('reduce', [cp], { op: 'sum', axes: [0] }), cb.op('reduce', [cp], { op: 'sum', axes: [0] })], { dir: 'ge' })]);
    const bb = new Builder('body');
    const bp = bb.param(tensorType([4], 'f32'), 'p');
    const body = bb.build([bb.op('add', [bp, bb.full(1, tensorType([4], 'f32'))])]);
    const w = b.op('while', [x], {}, [cond, body]);
    const loop = compile(b.build([b.op('get_result', [w], { index: 0 })], ['y']), { threads: true }).bytes;
    const prog = await load(loop, { threads: 2 });
    try {
      if (!prog.sharedMemory) return; // timeoutMs needs shared memory; checked elsewhere
      await expect(prog.run({ x: new Float32Array(4) }, { timeoutMs: 300 })).rejects.toThrow(/did not finish within timeoutMs 300 \(thread 0 was at schedule step \d+, kernel '[^']+'\)/);
      // Loops stay runnable after a restart (a bounded one through another artifact is covered above).
      await expect(prog.run({ x: new Float32Array(4) }, { timeoutMs: 200 })).rejects.toThrow(/did not finish within timeoutMs 200/);
    } finally {
      prog.dispose();
    }
  });
});
