/**
 * The pass manager: runs a declared pipeline (a list of passes and fixpoint groups) over a
 * function in place. Invariant it keeps: after every pass the IR verifies, or the run stops with
 * a KilnError naming the pass that broke it. With KILN_DUMP=<dir> (or the dumpDir option) it
 * writes the IR text before the first pass and after each pass, so a miscompile can be bisected
 * by reading files. It returns, never prints, what each pass did and how long it took.
 */
import type { Func } from '../ir/function.js';
import { printFunc } from '../ir/print.js';
import { KilnError } from '../ir/types.js';
import { verify } from '../ir/verify.js';
import { nodeHost } from '../host/node.js';

/** A pass mutates `fn` in place and says whether it changed anything. */
export interface Pass {
  readonly name: string;
  run(fn: Func): boolean;
}

/** Passes repeated, in order, until a whole round changes nothing (or the cap is reached). */
export interface Fixpoint {
  readonly kind: 'fixpoint';
  readonly steps: readonly PipelineStep[];
  readonly maxIterations: number;
}

export type PipelineStep = Pass | Fixpoint;
export type Pipeline = readonly PipelineStep[];

/** Rounds a fixpoint group runs at most. Real pipelines converge in 2-4; more means two passes fight. */
export const DEFAULT_MAX_ITERATIONS = 16;

export function fixpoint(steps: readonly PipelineStep[], opts: { maxIterations?: number } = {}): Fixpoint {
  const maxIterations = opts.maxIterations ?? DEFAULT_MAX_ITERATIONS;
  if (!Number.isInteger(maxIterations) || maxIterations < 1) {
    throw new KilnError(`fixpoint: maxIterations must be a positive integer, got ${maxIterations}`);
  }
  return { kind: 'fixpoint', steps: [...steps], maxIterations };
}

export interface PipelineOptions {
  /** Run the verifier on the input and after every pass (default true). */
  readonly verify?: boolean;
  /**
   * Directory for IR dumps; default: the KILN_DUMP environment variable. Pass null to disable
   * dumping whatever the environment says.
   */
  readonly dumpDir?: string | null;
}

/** One pass execution. */
export interface PassRecord {
  readonly pass: string;
  readonly changed: boolean;
  /** Wall time of the pass alone, without verification or dumping. */
  readonly ms: number;
  readonly nodesBefore: number;
  readonly nodesAfter: number;
  /** 1-based round within the innermost fixpoint group; 0 outside any group. */
  readonly iteration: number;
}

export interface PipelineReport {
  readonly changed: boolean;
  readonly records: readonly PassRecord[];
  /** Fixpoint groups that hit their iteration cap while still changing the IR. */
  readonly unconverged: number;
  readonly totalMs: number;
  /** Files written to the dump directory, in order. */
  readonly dumped: readonly string[];
}

/** Run `pipeline` over `fn` in place. */
export function runPipeline(fn: Func, pipeline: Pipeline, opts: PipelineOptions = {}): PipelineReport {
  const start = performance.now();
  const shouldVerify = opts.verify ?? true;
  const dumpDir = opts.dumpDir === undefined ? (typeof process !== 'undefined' && process.env?.['KILN_DUMP']) || null : opts.dumpDir;
  const records: PassRecord[] = [];
  const dumped: string[] = [];
  let dumpCount = 0;
  let unconverged = 0;

  const dump = (label: string): void => {
    if (!dumpDir) return;
    const { fs, path } = nodeHost('dumping IR (KILN_DUMP / dumpDir)');
    fs.mkdirSync(dumpDir, { recursive: true });
    const file = path.join(dumpDir, `${safeName(fn.name)}.${String(dumpCount++).padStart(2, '0')}.${safeName(label)}.txt`);
    fs.writeFileSync(file, printFunc(fn));
    dumped.push(file);
  };

  if (shouldVerify) {
    try {
      verify(fn);
    } catch (e) {
      throw new KilnError(`pipeline input @${fn.name} does not verify (before any pass ran): ${message(e)}`, { cause: e });
    }
  }
  dump('input');

  const runPass = (pass: Pass, iteration: number): boolean => {
    const nodesBefore = fn.body.length;
    const t0 = performance.now();
    let changed: boolean;
    try {
      changed = pass.run(fn);
    } catch (e) {
      if (e instanceof KilnError) throw e;
      throw new Error(`pass '${pass.name}' crashed on @${fn.name}: ${message(e)}`, { cause: e });
    }
    const ms = performance.now() - t0;
    records.push({ pass: pass.name, changed, ms, nodesBefore, nodesAfter: fn.body.length, iteration });
    dump(pass.name);
    if (shouldVerify) {
      try {
        verify(fn);
      } catch (e) {
        throw new KilnError(`pass '${pass.name}' broke the IR of @${fn.name}: ${message(e)}`, { cause: e });
      }
    }
    return changed;
  };

  const runSteps = (steps: readonly PipelineStep[], iteration: number): boolean => {
    let changed = false;
    for (const step of steps) {
      if (isFixpoint(step)) {
        let round = 0;
        let roundChanged = true;
        while (roundChanged && round < step.maxIterations) {
          roundChanged = runSteps(step.steps, ++round);
          changed ||= roundChanged;
        }
        if (roundChanged) unconverged++;
      } else {
        changed = runPass(step, iteration) || changed;
      }
    }
    return changed;
  };

  const changed = runSteps(pipeline, 0);
  return { changed, records, unconverged, totalMs: performance.now() - start, dumped };
}

function isFixpoint(step: PipelineStep): step is Fixpoint {
  return (step as Fixpoint).kind === 'fixpoint';
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Function and pass names become file names: keep them portable. */
function safeName(s: string): string {
  return s.replace(/[^A-Za-z0-9_.-]/g, '_') || '_';
}
