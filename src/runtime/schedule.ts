/**
 * Loops and branches in a schedule (format version 4): the nested entries of
 * the manifest are flattened once, at load, into the kernel steps of a plain
 * schedule plus a small jump code that every executor walks the same way.
 * Steps are numbered in the order they appear in the manifest (a kernel inside
 * a loop body is one step, however often it runs), so error messages keep
 * naming "schedule step s". A schedule of kernel indices only has no code and
 * runs as before.
 *
 * The code is a flat Int32Array of 4-word instructions [op, a, b, c]:
 *   K s          run step s (then the barrier, with threads)
 *   Z off dt pc  jump to pc if the flag at byte `off` (dt: FLAG_DTYPES) is 0
 *   J pc         jump to pc
 *   S slot n     loop counter[slot] = n
 *   D slot pc    if counter[slot] is 0 jump to pc, else decrement it
 * Every participant of a threaded run walks the same code; a flag is read
 * after the barrier that follows the kernel that wrote it, so all of them
 * read the same value and take the same path, and they meet again before
 * any goes on (so the next kernel may reuse the flag's bytes). The walker in
 * threads.ts is a self-contained copy (it is shipped to workers as source
 * text).
 */
import type { FlagSpec, ScheduleEntry } from './manifest.js';

export const OP = { K: 0, Z: 1, J: 2, S: 3, D: 4 } as const;
/** Flag dtype codes in the code: 1-byte, i32, f32. */
export const FLAG_DTYPES: Readonly<Record<FlagSpec['dtype'], number>> = { bool: 1, u8: 1, i8: 1, i32: 4, f32: 5 };

export interface FlatSchedule {
  /** Kernel index of each step. */
  steps: number[];
  /** The jump code, or undefined when the schedule is kernel indices only. */
  code: Int32Array | undefined;
}

export function flattenSchedule(schedule: readonly ScheduleEntry[]): FlatSchedule {
  const steps: number[] = [];
  if (schedule.every((e) => typeof e === 'number')) return { steps: [...(schedule as number[])], code: undefined };
  const code: number[] = [];
  let slots = 0;
  const emit = (op: number, a = 0, b = 0, c = 0): number => code.push(op, a, b, c) / 4 - 1;
  const patch = (at: number, word: number, pc: number) => { code[at * 4 + word] = pc; };
  const here = () => code.length / 4;
  const flag = (f: FlagSpec): number => emit(OP.Z, f.offset, FLAG_DTYPES[f.dtype]);
  const walk = (es: readonly ScheduleEntry[]): void => {
    for (const e of es) {
      if (typeof e === 'number') {
        emit(OP.K, steps.length);
        steps.push(e);
      } else if ('loop' in e) {
        const l = e.loop;
        const slot = slots++;
        const exits: [number, number][] = [];
        if (l.count !== undefined) emit(OP.S, slot, l.count);
        const top = here();
        if (l.count !== undefined) exits.push([emit(OP.D, slot), 2]);
        walk(l.head ?? []);
        if (l.flag) exits.push([flag(l.flag), 3]);
        walk(l.body);
        emit(OP.J, top);
        for (const [at, word] of exits) patch(at, word, here());
      } else {
        const b = e.branch;
        const toElse = flag(b.flag);
        walk(b.then);
        const toEnd = emit(OP.J);
        patch(toElse, 3, here());
        walk(b.else);
        patch(toEnd, 1, here());
      }
    }
  };
  walk(schedule);
  return { steps, code: Int32Array.from(code) };
}

/**
 * Walks flattened code on one thread, for executors that drive a device from
 * the host (CUDA): `run(step)` launches a step's kernel, `flag(offset, dt)`
 * reads a flag (copying it back from the device). Without code, runs the
 * steps in order.
 */
export function walkSchedule(flat: FlatSchedule, run: (step: number) => void, flag: (offset: number, dt: number) => boolean): void {
  const { code, steps } = flat;
  if (!code) {
    for (let s = 0; s < steps.length; s++) run(s);
    return;
  }
  const cnt: number[] = [];
  for (let pc = 0; pc < code.length / 4;) {
    const i = pc * 4, op = code[i]!, a = code[i + 1]!, b = code[i + 2]!, c = code[i + 3]!;
    pc++;
    if (op === OP.K) run(a);
    else if (op === OP.Z) { if (!flag(a, b)) pc = c; }
    else if (op === OP.J) pc = a;
    else if (op === OP.S) cnt[a] = b;
    else if (cnt[a] === 0) pc = b;
    else cnt[a]!--;
  }
}

/** A flag's truth from its bytes (little-endian), as the walkers read it: nonzero (NaN too) is true. */
export function flagValue(view: DataView, offset: number, dt: number): boolean {
  return dt === 1 ? view.getUint8(offset) !== 0 : dt === 4 ? view.getInt32(offset, true) !== 0 : view.getFloat32(offset, true) !== 0;
}
