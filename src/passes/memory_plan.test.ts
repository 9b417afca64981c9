import { describe, expect, it } from 'vitest';
import { Builder, tensorType } from '../ir/index.js';
import { KilnError } from '../ir/types.js';
import { planFusion } from './fusion_plan.js';
import { planMemory, scheduleBuffers, type InPlaceHint, type MemoryPlan, type PlanBuffer } from './memory_plan.js';

const align = (n: number, a: number) => Math.ceil(n / a) * a;

/** Live ranges overlap in time (inclusive steps). */
function overlapInTime(a: PlanBuffer, b: PlanBuffer): boolean {
  return a.def <= b.lastUse && b.def <= a.lastUse;
}

/** Check every pair: buffers live at the same step never share bytes, except in-place pairs that were allowed. */
function checkNoOverlap(buffers: PlanBuffer[], plan: MemoryPlan, allowed: Set<string> = new Set()): void {
  for (const b of buffers) {
    const off = plan.offsets.get(b.id)!;
    expect(off % plan.alignment).toBe(0);
    expect(off + b.bytes).toBeLessThanOrEqual(plan.peakBytes);
  }
  for (let i = 0; i < buffers.length; i++) {
    for (let j = i + 1; j < buffers.length; j++) {
      const a = buffers[i]!, b = buffers[j]!;
      if (a.bytes === 0 || b.bytes === 0 || !overlapInTime(a, b)) continue;
      if (allowed.has(`${a.id},${b.id}`) || allowed.has(`${b.id},${a.id}`)) continue;
      const oa = plan.offsets.get(a.id)!, ob = plan.offsets.get(b.id)!;
      const disjoint = oa + align(a.bytes, plan.alignment) <= ob || ob + align(b.bytes, plan.alignment) <= oa;
      expect(disjoint, `buffers ${a.id} [${oa}, +${a.bytes}) and ${b.id} [${ob}, +${b.bytes}) are both live`).toBe(true);
    }
  }
}

/** A chain: kernel i reads buffer i-1 and writes buffer i. */
function chain(n: number, bytes: number, lastIsOutput = true): PlanBuffer[] {
  return Array.from({ length: n }, (_, i) => ({ id: i, bytes, def: i, lastUse: i === n - 1 && lastIsOutput ? Infinity : i + 1 }));
}

/** Seeded xorshift so failures reproduce. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s / 2 ** 32;
  };
}

describe('planMemory', () => {
  it('needs two buffers for a chain of equal buffers, one with in-place reuse', () => {
    const bufs = chain(6, 1000);
    const plan = planMemory(bufs);
    checkNoOverlap(bufs, plan);
    expect(plan.peakBytes).toBe(2 * 1024);
    expect(plan.sumBytes).toBe(6 * 1024);

    const hints: InPlaceHint[] = bufs.slice(1).map((b) => ({ step: b.def, input: b.id - 1, output: b.id }));
    const inPlace = planMemory(bufs, { inPlace: hints });
    expect(inPlace.peakBytes).toBe(1024);
    for (const b of bufs) expect(inPlace.offsets.get(b.id)).toBe(inPlace.offsets.get(0));
  });

  it('ignores in-place hints that do not apply', () => {
    const bufs: PlanBuffer[] = [
      { id: 0, bytes: 64, def: 0, lastUse: 2 }, // does not die at step 1
      { id: 1, bytes: 64, def: 1, lastUse: 2 },
      { id: 2, bytes: 128, def: 2, lastUse: Infinity }, // bigger than its input
    ];
    const plan = planMemory(bufs, { inPlace: [{ step: 1, input: 0, output: 1 }, { step: 2, input: 1, output: 2 }] });
    checkNoOverlap(bufs, plan);
    expect(plan.offsets.get(0)).not.toBe(plan.offsets.get(1));
  });

  it('honours an in-place hint where the input dies and the output fits', () => {
    const bufs: PlanBuffer[] = [
      { id: 0, bytes: 256, def: 0, lastUse: 1 },
      { id: 1, bytes: 200, def: 1, lastUse: 3 },
      { id: 2, bytes: 256, def: 2, lastUse: Infinity },
    ];
    const plan = planMemory(bufs, { inPlace: [{ step: 1, input: 0, output: 1 }] });
    expect(plan.offsets.get(1)).toBe(plan.offsets.get(0));
    checkNoOverlap(bufs, plan, new Set(['0,1']));
    expect(plan.peakBytes).toBe(512);
  });

  it('never places anything over an output', () => {
    const bufs: PlanBuffer[] = [
      { id: 0, bytes: 100, def: 0, lastUse: Infinity },
      ...Array.from({ length: 8 }, (_, i) => ({ id: i + 1, bytes: 100, def: i + 1, lastUse: i + 2 })),
    ];
    const plan = planMemory(bufs);
    checkNoOverlap(bufs, plan);
    const o = plan.offsets.get(0)!;
    for (const b of bufs.slice(1)) {
      const ob = plan.offsets.get(b.id)!;
      expect(ob + 128 <= o || o + 128 <= ob).toBe(true);
    }
  });

  it('respects the alignment and reports it', () => {
    const bufs: PlanBuffer[] = [
      { id: 7, bytes: 3, def: 0, lastUse: 1 },
      { id: 9, bytes: 5, def: 1, lastUse: 2 },
      { id: 4, bytes: 0, def: 1, lastUse: 1 },
    ];
    const plan = planMemory(bufs, { alignment: 16 });
    expect(plan.alignment).toBe(16);
    expect(plan.sumBytes).toBe(32);
    expect(plan.peakBytes).toBe(32);
    checkNoOverlap(bufs, plan);
  });

  it('rejects bad buffers with a clear error', () => {
    expect(() => planMemory([{ id: 1, bytes: 8, def: 3, lastUse: 2 }])).toThrow(KilnError);
    expect(() => planMemory([{ id: 1, bytes: 8, def: 3, lastUse: 2 }])).toThrow(/buffer 1 .*lastUse must be >= def/);
    expect(() => planMemory([{ id: 1, bytes: -1, def: 0, lastUse: 2 }])).toThrow(/bytes must be a non-negative integer/);
    expect(() => planMemory([{ id: 1, bytes: 8, def: 0, lastUse: 1 }, { id: 1, bytes: 8, def: 0, lastUse: 1 }])).toThrow(/appears twice/);
    expect(() => planMemory([{ id: 1, bytes: 8, def: 0, lastUse: 1 }], { inPlace: [{ step: 1, input: 1, output: 5 }] })).toThrow(/unknown buffer 5/);
    expect(() => planMemory([], { alignment: 0 })).toThrow(/alignment/);
  });

  it('random interval sets: no live pair overlaps, lower bound <= peak <= sum', () => {
    const next = rng(12345);
    for (let trial = 0; trial < 300; trial++) {
      const steps = 2 + Math.floor(next() * 20);
      const n = 1 + Math.floor(next() * 25);
      const bufs: PlanBuffer[] = [];
      for (let i = 0; i < n; i++) {
        const def = Math.floor(next() * steps);
        const output = next() < 0.1;
        const lastUse = output ? Infinity : def + Math.floor(next() * 4);
        const bytes = next() < 0.05 ? 0 : 1 + Math.floor(next() * (next() < 0.5 ? 300 : 5000));
        bufs.push({ id: 100 + i, bytes, def, lastUse });
      }
      const alignment = [1, 16, 64][trial % 3]!;
      const plan = planMemory(bufs, { alignment });
      checkNoOverlap(bufs, plan);
      let lower = 0;
      for (let s = 0; s <= steps + 4; s++) {
        const live = bufs.filter((b) => b.def <= s && s <= b.lastUse).reduce((acc, b) => acc + align(b.bytes, alignment), 0);
        lower = Math.max(lower, live);
      }
      expect(plan.peakBytes).toBeGreaterThanOrEqual(lower);
      expect(plan.peakBytes).toBeLessThanOrEqual(plan.sumBytes);
      expect(plan.sumBytes).toBe(bufs.reduce((acc, b) => acc + align(b.bytes, alignment), 0));
    }
  });

  it('random chains with in-place hints: only hinted pairs share memory', () => {
    const next = rng(777);
    for (let trial = 0; trial < 200; trial++) {
      const n = 2 + Math.floor(next() * 15);
      const bufs: PlanBuffer[] = [];
      const hints: InPlaceHint[] = [];
      for (let i = 0; i < n; i++) {
        // Kernel i reads buffer i-1 (and sometimes an older one) and writes buffer i.
        const extra = next() < 0.3 ? 1 + Math.floor(next() * 3) : 0;
        bufs.push({ id: i, bytes: 1 + Math.floor(next() * 4000), def: i, lastUse: i === n - 1 ? Infinity : i + 1 + extra });
        if (i > 0 && next() < 0.7) hints.push({ step: i, input: i - 1, output: i });
      }
      const plan = planMemory(bufs, { inPlace: hints });
      // Buffers live at the same step may share bytes only as a legal in-place pair: a hint whose
      // input dies at that step, where the output is born.
      const allowed = new Set<string>();
      for (const h of hints) {
        const inp = bufs[h.input]!, out = bufs[h.output]!;
        if (inp.lastUse === h.step && out.def === h.step) allowed.add(`${inp.id},${out.id}`);
      }
      checkNoOverlap(bufs, plan, allowed);
      // Every hint on a buffer dying at its step, with an output no bigger than the chain's first buffer, is honoured.
      for (const h of hints) {
        const inp = bufs[h.input]!, out = bufs[h.output]!;
        if (inp.lastUse !== h.step) continue;
        let first = inp;
        while (hints.some((x) => x.output === first.id && plan.offsets.get(x.input) === plan.offsets.get(first.id) && bufs[x.input]!.lastUse === x.step)) {
          first = bufs[hints.find((x) => x.output === first.id)!.input]!;
        }
        if (align(out.bytes, 64) <= align(first.bytes, 64)) expect(plan.offsets.get(out.id), `hint ${h.input}->${h.output}`).toBe(plan.offsets.get(inp.id));
      }
      expect(plan.peakBytes).toBeLessThanOrEqual(plan.sumBytes);
    }
  });

  it('derives buffers and in-place hints from a fusion plan', () => {
    const b = new Builder();
    const base = b.param(tensorType([10, 4], 'f32')), ids = b.param(tensorType([3], 'i32'));
    const upd = b.param(tensorType([3, 4], 'f32'));
    // A scatter's consumers cannot fuse into it: neg runs as its own elementwise kernel and may
    // overwrite the scatter's buffer; the transpose reads other elements, so it may not.
    const sc = b.op('scatter_add', [base, ids, upd], { axis: 0 });
    const neg = b.op('neg', [sc]);
    const sc2 = b.op('scatter_add', [base, ids, upd], { axis: 0 });
    const tr = b.op('transpose', [sc2], { perm: [1, 0] });
    const fn = b.build([neg, tr]);
    const plan = planFusion(fn);
    const { buffers, inPlace } = scheduleBuffers(plan);
    const step = (v: { id: number }) => plan.groups.findIndex((g) => g.outputs.some((o) => o.id === v.id));
    expect(buffers.map((x) => x.id).sort()).toEqual([sc.id, neg.id, sc2.id, tr.id].sort());
    const bufOf = (v: { id: number }) => buffers.find((x) => x.id === v.id)!;
    expect(bufOf(sc)).toEqual({ id: sc.id, bytes: 160, def: step(sc), lastUse: step(neg) });
    expect(bufOf(neg).lastUse).toBe(Infinity);
    expect(inPlace).toEqual([{ step: step(neg), input: sc.id, output: neg.id }]);
    const mem = planMemory(buffers, { inPlace });
    expect(mem.offsets.get(neg.id)).toBe(mem.offsets.get(sc.id));
    expect(mem.offsets.get(tr.id)).not.toBe(mem.offsets.get(sc2.id));
    checkNoOverlap(buffers, mem, new Set([`${sc.id},${neg.id}`]));
  });
});
