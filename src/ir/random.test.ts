import { describe, expect, test } from 'vitest';
import { allOps, interpret, isFloat, numel, type Func } from './index.js';
import { CONTROL_FLOW_OPS, generatableOps, INT8_OPS, missingGenerators, randomFunc, randomInputs, Rng } from './random.js';
import { printFunc } from './print.js';
import { parseFunc } from './parse.js';
import { verify } from './verify.js';

/**
 * The random function generator: complete over the registry, deterministic, and every function
 * it makes verifies and runs in the interpreter on randomInputs.
 */

const SEEDS = Array.from({ length: 120 }, (_, i) => i * 7919 + 1);

describe('randomFunc', () => {
  test('every registered op has a generator', () => {
    expect(missingGenerators()).toEqual([]);
    expect(generatableOps().sort()).toEqual(allOps().map((d) => d.name).filter((n) => !CONTROL_FLOW_OPS.includes(n) && !INT8_OPS.includes(n)).sort());
  });

  test('deterministic for a seed; different across seeds', () => {
    for (const s of [0, 1, 42]) {
      const f = randomFunc(s);
      expect(printFunc(randomFunc(s))).toBe(printFunc(f));
      const a = randomInputs(f, 3), b = randomInputs(f, 3);
      a.forEach((l, i) => expect(Array.from(l.data)).toEqual(Array.from(b[i]!.data)));
    }
    expect(new Set(SEEDS.slice(0, 20).map((s) => printFunc(randomFunc(s)))).size).toBe(20);
    const r = new Rng(5);
    const xs = Array.from({ length: 1000 }, () => r.next());
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
    expect(Math.abs(xs.reduce((p, q) => p + q, 0) / 1000 - 0.5)).toBeLessThan(0.05);
  });

  test('every op appears across the seeds, with size-1 dims and dims that are not multiples of 4', () => {
    const seen = new Set<string>();
    const dims = new Set<number>();
    for (const s of SEEDS) {
      const f = randomFunc(s);
      for (const v of [...f.params, ...f.body]) {
        seen.add(v.op);
        v.shape.forEach((d) => dims.add(d));
      }
    }
    for (const op of generatableOps()) expect(seen, `op ${op} never generated`).toContain(op);
    expect(dims).toContain(1);
    expect([...dims].some((d) => d % 4 !== 0 && d > 1)).toBe(true);
  });

  test('generated functions verify and run in the interpreter', () => {
    let elements = 0, nonFinite = 0;
    for (const s of SEEDS) {
      const f = randomFunc(s);
      verify(f);
      expect(f.results.length).toBeGreaterThan(0);
      const out = runOrExplain(f, s);
      out.forEach((l, i) => {
        expect(l.type).toEqual(f.results[i]!.type);
        if (!isFloat(l.type.dtype)) return;
        elements += l.data.length;
        for (const x of l.data) if (!Number.isFinite(x)) nonFinite++;
      });
    }
    // Domain guards keep results meaningful: every float result is finite.
    expect(elements).toBeGreaterThan(1000);
    expect(nonFinite).toBe(0);
    // Long chains run too (here overflow to inf is allowed).
    for (const s of SEEDS.slice(0, 8)) runOrExplain(randomFunc(s, { size: 60 }), s);
  });

  test('restricting ops: only those ops (and parameters) appear', () => {
    for (const s of SEEDS.slice(0, 30)) {
      const ops = ['add', 'mul', 'log', 'div', 'exp'];
      const f = randomFunc(s, { ops, size: 6 });
      verify(f);
      for (const v of f.body) expect(ops).toContain(v.op);
      runOrExplain(f, s);
    }
    expect(() => randomFunc(1, { ops: ['nonexistent'] })).toThrow(/none of the ops \[nonexistent\]/);
  });

  test('control flow on request: regions verify, run and round-trip through the text form', () => {
    const ops = ['add', 'mul', 'tanh', 'reduce', 'cond', 'while', 'scan'];
    const seen = new Set<string>();
    for (const s of SEEDS.slice(0, 30)) {
      const f = randomFunc(s, { ops, size: 6 });
      verify(f);
      f.body.forEach((v) => seen.add(v.op));
      runOrExplain(f, s);
      expect(printFunc(parseFunc(printFunc(f)))).toBe(printFunc(f));
    }
    for (const op of ['cond', 'while', 'scan', 'get_result']) expect(seen).toContain(op);
  });

  test('each op alone: the function uses only that op, verifies and runs', () => {
    for (const def of allOps().filter((d) => !CONTROL_FLOW_OPS.includes(d.name))) {
      for (const s of [1, 2, 3]) {
        const f = randomFunc(s, { ops: [def.name], size: 3 });
        verify(f);
        expect(f.body.length).toBeGreaterThan(0);
        for (const v of f.body) expect(v.op).toBe(def.name);
        runOrExplain(f, s);
      }
    }
  });

  test('size controls the number of drawn ops', () => {
    const small = randomFunc(9, { size: 2 }), big = randomFunc(9, { size: 40 });
    expect(big.body.length).toBeGreaterThanOrEqual(40);
    expect(small.body.length).toBeLessThan(big.body.length);
  });
});

describe('randomInputs', () => {
  test('inputs respect the domain of each parameter use', () => {
    let checkedIdx = 0, checkedPos = 0;
    for (const s of SEEDS) {
      const f = randomFunc(s);
      const ins = randomInputs(f, s);
      f.params.forEach((p, i) => {
        const lit = ins[i]!;
        expect(lit.type).toEqual(p.type);
        expect(lit.data.length).toBe(numel(p.shape));
        for (const v of f.body) {
          v.inputs.forEach((x, j) => {
            if (x !== p) return;
            if (['log', 'sqrt', 'rsqrt', 'log1p'].includes(v.op) || (v.op === 'pow' && j === 0)) {
              checkedPos++;
              for (const e of lit.data) expect(e).toBeGreaterThan(0);
            }
            if (v.op === 'div' && j === 1) for (const e of lit.data) expect(e).not.toBe(0);
            if ((v.op === 'gather' || v.op === 'scatter_add') && j === 1) {
              checkedIdx++;
              const n = v.inputs[0]!.shape[v.attrs['axis'] as number]!;
              for (const e of lit.data) expect(e >= 0 && e < n).toBe(true);
            }
          });
        }
      });
    }
    expect(checkedIdx).toBeGreaterThan(0);
    expect(checkedPos).toBeGreaterThan(0);
  });
});

function runOrExplain(f: Func, seed: number) {
  try {
    return interpret(f, randomInputs(f, seed));
  } catch (e) {
    throw new Error(`seed ${seed}: ${(e as Error).message}\n${printFunc(f)}`);
  }
}
