/**
 * kiln/runtime honours manifest kernels[].batchSegments (batch-polymorphic artifacts whose
 * kernels write time-major values, as an unrolled LSTM/GRU does): at batch n such a kernel runs
 * only the live items at the start of each segment. Outputs equal artifacts specialized for each
 * batch, on 1 and 2 threads; the kernel calls on one thread cover exactly the live runs; the
 * validator refuses segments that do not fit the kernel's work.
 */
import { afterAll, describe, expect, it } from 'vitest';
import * as kiln from '../index.js';
import { firstMismatch } from '../codegen/wasm/test_util.js';
import { load, readArtifact, KilnRuntimeError, type Program } from './index.js';
import { workAtBatch, type Manifest } from './manifest.js';
import type { EntryPlan } from './program.js';
import { validateWasm } from './validate.js';

const L = kiln.layers;
const MAX = 16;
const T = 6;

function data(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) { s = (s * 1103515245 + 12345) >>> 0; out[i] = (s / 2 ** 32) * 2 - 1; }
  return out;
}

function recurrent(kind: 'lstm' | 'gru'): kiln.Sequential {
  const rec = kind === 'lstm' ? L.lstm : L.gru;
  return kiln.sequential({ name: kind, layers: [rec({ units: 12, returnSequences: true, inputShape: [T, 5] }), rec({ units: 8 }), L.dense({ units: 3 })] });
}

const programs: Program[] = [];
afterAll(() => { for (const p of programs) p.dispose(); });

describe('batchSegments in kiln/runtime', () => {
  for (const kind of ['lstm', 'gru'] as const) {
    it(`${kind}: batches 1, 3, 16, 5, 1 equal specialized artifacts on 1 and 2 threads`, async () => {
      const model = recurrent(kind);
      const poly = kiln.compile(model, { maxBatch: MAX });
      const segmented = poly.manifest.kernels.filter((k) => k.batchSegments);
      expect(segmented.length).toBeGreaterThan(0);
      const out = poly.manifest.outputs[0]!.name;
      const specialized = new Map([1, 3, 5, 16].map((n) => [n, kiln.compile(model, { inputShapes: [[n, T, 5]] }).bytes]));
      for (const threads of [1, 2]) {
        const prog = await load(poly.bytes, { threads });
        programs.push(prog);
        for (const n of [1, 3, 16, 5, 1]) {
          const sp = await load(specialized.get(n)!, { threads });
          const x = data(n * T * 5, 11 + n);
          const got = prog.runSync({ input: x })[out]!, want = sp.runSync({ input: x })[out]!;
          expect(firstMismatch(`${kind} batch ${n} threads ${threads}`, got, want, 1e-5, 1e-6)).toBeUndefined();
          sp.dispose();
        }
      }
    });
  }

  it('on one thread a segmented kernel is called on the live items at the start of each segment, nothing else', async () => {
    const poly = kiln.compile(recurrent('lstm'), { maxBatch: MAX });
    const prog = await load(poly.bytes, { threads: 1, chunkedRuns: 0 });
    programs.push(prog);
    const m = poly.manifest as Manifest;
    const plan = (prog as unknown as { parts: { plans: EntryPlan[] } }).parts.plans[0]!;
    const calls = new Map<number, [number, number][]>();
    plan.schedule.forEach((k, i) => {
      if (!m.kernels[k]!.batchSegments) return;
      const f = plan.fns[i]!;
      calls.set(i, []);
      plan.fns[i] = (a, b) => { calls.get(i)!.push([a, b]); f(a, b); };
    });
    expect(calls.size).toBeGreaterThan(0);
    for (const n of [1, 3, MAX]) {
      for (const c of calls.values()) c.length = 0;
      prog.runSync({ input: data(n * T * 5, n) });
      for (const [i, got] of calls) {
        const spec = m.kernels[plan.schedule[i]!]!;
        const { count, work } = spec.batchSegments!;
        const len = spec.work / count, live = workAtBatch({ work: len, batch: work }, n);
        // At maxBatch every item runs in one call; below it, one call per segment over its first `live` items.
        const want: [number, number][] = live === len ? [[0, spec.work]] : Array.from({ length: count }, (_, g) => [g * len, g * len + live]);
        expect(got, `${spec.name} at batch ${n}`).toEqual(want);
        expect(live).toBeLessThanOrEqual(len);
        if (n === 1) expect(live).toBeLessThan(len);
      }
    }
  });

  it('the validator refuses segments that do not divide the work or run past a segment', () => {
    const poly = kiln.compile(recurrent('gru'), { maxBatch: MAX });
    const art = readArtifact(poly.bytes);
    const i = art.manifest.kernels.findIndex((k) => k.batchSegments);
    const refuse = (edit: (k: Record<string, unknown>) => void, message: RegExp) => {
      const m = structuredClone(art.manifest);
      edit(m.kernels[i] as unknown as Record<string, unknown>);
      let caught: unknown;
      try { validateWasm(m, art.sections); } catch (e) { caught = e; }
      expect(caught).toBeInstanceOf(KilnRuntimeError);
      expect((caught as Error).message).toMatch(message);
    };
    const k = art.manifest.kernels[i]!;
    const len = k.work / k.batchSegments!.count;
    refuse((k) => { (k.batchSegments as { count: number }).count = k.work as number + 1; }, new RegExp(`kernels\\[${i}\\]\\.batchSegments\\.count must be a divisor of work ${k.work}`));
    refuse((k) => { (k.batchSegments as { work: unknown }).work = len; }, new RegExp(`kernels\\[${i}\\]\\.batchSegments\\.work must be work counts for batch 1\\.\\.${MAX}, each at most work / count ${len}, got ${len}`));
    refuse((k) => { (k.batchSegments as { work: unknown }).work = [1, 2]; }, /batchSegments\.work must be work counts for batch/);
    expect(() => validateWasm(structuredClone(art.manifest), art.sections)).not.toThrow();
  });
});
