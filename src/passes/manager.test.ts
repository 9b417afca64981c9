import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { KilnError, Value, type Func } from '../ir/index.js';
import { parseFunc } from '../ir/parse.js';
import { printFunc } from '../ir/print.js';
import { dce } from './dce.js';
import { fixpoint, runPipeline, type Pass } from './manager.js';
import { optimize, optimizeWithReport, STANDARD_PIPELINE } from './pipeline.js';
import { simplify } from './simplify.js';

/** The pass manager: verification between passes, dumps, fixpoint groups and the report. */

const source = `func @g(%x: f32[4]) -> (out0: f32[4]) {
  %0 = neg(%x)
  %1 = neg(%0)
  %2 = exp(%1)
  return %2
}`;

/** Removes the body's first node without fixing its uses: dangling operands. */
const breaksSsa: Pass = {
  name: 'drop-first',
  run(fn: Func) {
    fn.body = fn.body.slice(1);
    return true;
  },
};

/** Changes the first node's type behind the registry's back. */
const breaksType: Pass = {
  name: 'retype',
  run(fn: Func) {
    const v = fn.body[0]!;
    const w = new Value(v.op, v.inputs, v.attrs, { shape: [4], dtype: 'i32' });
    fn.body[0] = w;
    fn.replaceAllUses(v, w);
    return true;
  },
};

const dirs: string[] = [];
afterEach(() => {
  delete process.env['KILN_DUMP'];
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'kiln-dump-'));
  dirs.push(d);
  return d;
}

describe('runPipeline', () => {
  test('the verifier names the pass that broke the IR', () => {
    expect(() => runPipeline(parseFunc(source), [dce, breaksSsa, simplify])).toThrow(/pass 'drop-first' broke the IR of @g/);
    expect(() => runPipeline(parseFunc(source), [fixpoint([dce, breaksType])])).toThrow(KilnError);
    expect(() => runPipeline(parseFunc(source), [fixpoint([dce, breaksType])])).toThrow(/pass 'retype' broke the IR/);
  });

  test('the dump holds the broken IR, for reading what the pass did', () => {
    const dir = tempDir();
    expect(() => runPipeline(parseFunc(source), [breaksSsa], { dumpDir: dir })).toThrow(/drop-first/);
    expect(readdirSync(dir).sort()).toEqual(['g.00.input.txt', 'g.01.drop-first.txt']);
    expect(readFileSync(join(dir, 'g.01.drop-first.txt'), 'utf8')).toMatch(/neg\(%<undefined neg/);
  });

  test('verification can be turned off (the broken IR then goes through)', () => {
    const fn = parseFunc(source);
    const report = runPipeline(fn, [breaksSsa], { verify: false, dumpDir: null });
    expect(report.changed).toBe(true);
    expect(fn.body.length).toBe(2);
  });

  test('invalid input is reported before any pass runs', () => {
    const fn = parseFunc(source);
    fn.body.reverse();
    let ran = false;
    const spy: Pass = { name: 'spy', run: () => (ran = true) };
    expect(() => runPipeline(fn, [spy])).toThrow(/does not verify \(before any pass ran\)/);
    expect(ran).toBe(false);
  });

  test('a pass that throws a plain error is named', () => {
    const crash: Pass = { name: 'crashy', run: () => { throw new TypeError('oops'); } };
    expect(() => runPipeline(parseFunc(source), [crash])).toThrow(/pass 'crashy' crashed on @g: oops/);
  });

  test('KILN_DUMP writes the input and one file per pass run, in order', () => {
    const dir = tempDir();
    process.env['KILN_DUMP'] = dir;
    const fn = parseFunc(source);
    const report = runPipeline(fn, [simplify, dce]);
    const files = readdirSync(dir).sort();
    expect(files).toEqual(['g.00.input.txt', 'g.01.simplify.txt', 'g.02.dce.txt']);
    expect(report.dumped.map((f) => f.slice(dir.length + 1))).toEqual(files);
    expect(readFileSync(join(dir, files[0]!), 'utf8')).toBe(printFunc(parseFunc(source)));
    expect(readFileSync(join(dir, files[2]!), 'utf8')).toBe(printFunc(fn));
    // After simplify the two negs are bypassed but still present (DCE removes them).
    expect(readFileSync(join(dir, files[1]!), 'utf8')).toContain('neg');
    expect(readFileSync(join(dir, files[2]!), 'utf8')).not.toContain('neg');
  });

  test('dumpDir: null overrides KILN_DUMP; dumpDir option works without it', () => {
    const dir = tempDir();
    process.env['KILN_DUMP'] = dir;
    runPipeline(parseFunc(source), [dce], { dumpDir: null });
    expect(readdirSync(dir)).toEqual([]);
    delete process.env['KILN_DUMP'];
    const other = tempDir();
    runPipeline(parseFunc(source), [fixpoint([simplify, dce])], { dumpDir: join(other, 'nested') });
    // input, then round 1 (both change), round 2 (nothing changes): 1 + 2 + 2 files.
    expect(readdirSync(join(other, 'nested')).length).toBe(5);
  });

  test('fixpoint repeats until a round changes nothing', () => {
    let budget = 3;
    const countdown: Pass = { name: 'countdown', run: () => budget-- > 0 };
    const report = runPipeline(parseFunc(source), [fixpoint([countdown, dce])], { dumpDir: null });
    // Three changing rounds and a fourth that confirms the fixpoint.
    expect(report.records.filter((r) => r.pass === 'countdown').map((r) => r.changed)).toEqual([true, true, true, false]);
    expect(report.records.map((r) => r.iteration)).toEqual([1, 1, 2, 2, 3, 3, 4, 4]);
    expect(report.unconverged).toBe(0);
    expect(report.changed).toBe(true);
  });

  test('a fixpoint that never converges stops at its cap and is reported', () => {
    const always: Pass = { name: 'always', run: () => true };
    const report = runPipeline(parseFunc(source), [fixpoint([always], { maxIterations: 5 })], { dumpDir: null });
    expect(report.records.length).toBe(5);
    expect(report.unconverged).toBe(1);
    expect(() => fixpoint([always], { maxIterations: 0 })).toThrow(KilnError);
  });

  test('nested fixpoints and the report of nodes and timings', () => {
    const fn = parseFunc(source);
    const report = runPipeline(fn, [fixpoint([fixpoint([simplify]), dce])], { dumpDir: null });
    expect(report.changed).toBe(true);
    expect(report.unconverged).toBe(0);
    const first = report.records[0]!;
    // simplify bypasses both negs and removes the outer one; the inner one is DCE's.
    expect(first).toMatchObject({ pass: 'simplify', changed: true, nodesBefore: 3, nodesAfter: 2, iteration: 1 });
    expect(report.records.map((r) => [r.pass, r.changed])).toEqual([
      ['simplify', true], ['simplify', false], ['dce', true], // round 1 (inner group converges in 2)
      ['simplify', false], ['dce', false], // round 2 confirms
    ]);
    expect(report.records[2]).toMatchObject({ nodesBefore: 2, nodesAfter: 1 });
    for (const r of report.records) expect(r.ms).toBeGreaterThanOrEqual(0);
    expect(report.totalMs).toBeGreaterThanOrEqual(0);
  });
});

describe('optimize', () => {
  test('optimizes a copy and leaves the input alone', () => {
    const fn = parseFunc(source);
    const before = printFunc(fn);
    const out = optimize(fn, { dumpDir: null });
    expect(printFunc(fn)).toBe(before);
    expect(printFunc(out)).toBe(printFunc(parseFunc(`func @g(%x: f32[4]) -> (out0: f32[4]) {
      %0 = exp(%x)
      return %0
    }`)));
  });

  test('the standard pipeline is one fixpoint of simplify, cse, fold, fold_batchnorm, dce', () => {
    expect(STANDARD_PIPELINE.length).toBe(1);
    const fp = STANDARD_PIPELINE[0]!;
    expect('kind' in fp && fp.kind === 'fixpoint' ? fp.steps.map((s) => ('name' in s ? s.name : 'group')) : []).toEqual(['simplify', 'cse', 'fold', 'fold_batchnorm', 'layout', 'dce']);
  });

  test('passes enable each other: fold exposes x*1, CSE exposes a cancelling transpose pair', () => {
    const fn = parseFunc(`func @h(%x: f32[2,3]) -> (out0: f32[2,3]) {
      %a = constant() {value=f32[]{0.5}}
      %b = constant() {value=f32[]{2}}
      %ab = mul(%a, %b)
      %one = broadcast_in_dim(%ab) {shape=[2,3], dims=[]}
      %y = mul(%x, %one)
      %t1 = transpose(%y) {perm=[1, 0]}
      %t2 = transpose(%y) {perm=[1, 0]}
      %u = transpose(%t2) {perm=[1, 0]}
      %s = add(%u, %y)
      return %s
    }`);
    const { fn: out, report } = optimizeWithReport(fn, { dumpDir: null });
    expect(printFunc(out)).toBe(printFunc(parseFunc(`func @h(%x: f32[2,3]) -> (out0: f32[2,3]) {
      %0 = add(%x, %x)
      return %0
    }`)));
    expect(report.records.some((r) => r.pass === 'fold' && r.changed)).toBe(true);
  });
});
