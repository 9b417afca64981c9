/**
 * model.predict's compiled programs. A model keeps ONE program per input signature (feature
 * shapes and dtypes, the batch left out) that runs every batch from 1 to its maxBatch
 * (passes/batch_poly.ts, codegen/batch_work.ts), with the weights as resident state. A call with
 * more rows than maxBatch grows it: one recompile at max(next power of two, twice the old
 * maxBatch), so a growing workload recompiles O(log) times, never once per size. maxBatch starts
 * at 32 (Keras's default batch size) unless the model's activations are large: the arena a
 * program plans scales with maxBatch, so maxBatch is capped where the largest activation times
 * the batch would pass MEMORY_BUDGET, and larger calls run in chunks of maxBatch (exact: the
 * analysis proved the batch rows independent). A model that cannot run that way (an op that
 * mixes batch items, a fixed batch dimension, a stateful layer) gets one program per batch size,
 * as before, and the first of those compiles says why in its compile event (`note`).
 */
import type { Func } from '../../ir/function.js';
import type { Literal } from '../../ir/literal.js';
import { byteSize } from '../../ir/dtype.js';
import { KilnError, numel, tensorType, type TensorType } from '../../ir/types.js';
import { batchedExecutor, runFunc, type BatchedProgram } from '../../frontend/executor.js';
import { trace, type TraceResult } from '../../frontend/tracing.js';
import { MAX_BATCH } from '../../compile_options.js';
import { ops, Tensor, type Variable } from '../backend.js';

/** The smallest maxBatch predict compiles (Keras's default batch size). */
export const MIN_PREDICT_BATCH = 32;
/** Bytes the largest activation may take at maxBatch: bounds the program's arena (a few of them). */
export const MEMORY_BUDGET = 16 * 2 ** 20;

const nextPow2 = (n: number) => 2 ** Math.ceil(Math.log2(Math.max(1, n)));
const pow2Floor = (n: number) => 2 ** Math.floor(Math.log2(Math.max(1, n)));

interface Poly {
  program: BatchedProgram;
  /** Unbound variables baked in as constants, with their versions then (a change retraces). */
  captured: [Variable, number][];
}

interface Fixed {
  trace: TraceResult<Tensor[]>;
  captured: [Variable, number][];
}

const stale = (captured: readonly [Variable, number][]) => captured.some(([v, version]) => v.version !== version);

export class PredictPrograms {
  private readonly poly = new Map<string, Poly>();
  /** Largest maxBatch the memory budget allows, per signature. */
  private readonly caps = new Map<string, number>();
  /** Why a signature cannot have one program for every batch size. */
  private readonly refused = new Map<string, string>();
  private readonly fixed = new Map<string, Fixed>();
  private noted = false;
  /** Programs traced (a batch-polymorphic one counts once, though traced at two batch sizes). */
  traces = 0;

  constructor(
    private readonly name: string,
    private readonly forward: (xs: Tensor[]) => Tensor[],
    private readonly weights: readonly Variable[],
    /** Whether the inputs' leading dimension is the batch (unknown in the model's input shapes). */
    private readonly openBatch: boolean,
  ) {}

  /** The largest maxBatch compiled so far for inputs like `xs` (undefined: none, or per batch size). */
  maxBatchFor(xs: readonly Tensor[]): number | undefined {
    return this.poly.get(signature(xs))?.program.maxBatch;
  }

  /** Why inputs like `xs` get one program per batch size (undefined when they share one). */
  refusalFor(xs: readonly Tensor[]): string | undefined {
    return this.refused.get(signature(xs));
  }

  /** Run the forward pass on one batch (all inputs lead with the same batch size). */
  run(xs: Tensor[]): Tensor[] {
    const key = signature(xs);
    const exec = batchedExecutor();
    if (!exec || !this.openBatch || xs.some((x) => x.rank === 0 || x.shape[0] === 0)) return this.runFixed(xs);
    if (this.refused.has(key)) return this.runFixed(xs, this.refused.get(key));
    const n = xs[0]!.shape[0]!;
    let p = this.poly.get(key);
    if (p && stale(p.captured)) p = undefined;
    const cap = this.cap(key, xs);
    if (!p || (p.program.maxBatch < n && p.program.maxBatch < cap)) {
      const max = Math.min(cap, MAX_BATCH, Math.max(MIN_PREDICT_BATCH, nextPow2(n), 2 * (p?.program.maxBatch ?? 0)));
      try {
        p = this.build(xs, max, exec.batched);
      } catch (e) {
        // A KilnError names what mixes batch items; anything else is a compiler bug, said the same way rather than failing predict.
        this.poly.delete(key);
        const why = e instanceof KilnError ? e.message : `internal error: ${e instanceof Error ? e.message : String(e)}`;
        this.refused.set(key, `predict: model '${this.name}' compiles one program per batch size: ${why}`);
        return this.runFixed(xs, this.refused.get(key));
      }
      this.poly.set(key, p);
    }
    const m = p.program.maxBatch;
    if (n <= m) return this.runPoly(p, xs, n);
    // More rows than the memory budget allows at once: chunks of maxBatch (rows are independent).
    const chunks: Tensor[][] = [];
    for (let start = 0; start < n; start += m) {
      const size = Math.min(m, n - start);
      chunks.push(this.runPoly(p, xs.map((t) => ops.slice(t, [start, ...t.shape.slice(1).map(() => 0)], [size, ...t.shape.slice(1)])), size));
    }
    return chunks[0]!.map((_, i) => ops.concat(chunks.map((c) => c[i]!), 0));
  }

  private runPoly(p: Poly, xs: Tensor[], n: number): Tensor[] {
    const inputs: Literal[] = [...xs.map((t) => t.literal!), ...this.weights.map((w) => w.value.literal!)];
    return p.program.run(inputs, n).map((l) => Tensor.concrete(l));
  }

  private traceAt(xs: readonly Tensor[], batch: number): TraceResult<Tensor[]> {
    const types = xs.map((t) => tensorType([batch, ...t.shape.slice(1)], t.dtype));
    return trace((...ins: Tensor[]) => this.forward(ins), types, { name: this.name, variables: this.weights });
  }

  private build(xs: readonly Tensor[], maxBatch: number, batched: NonNullable<ReturnType<typeof batchedExecutor>>['batched']): Poly {
    const at = this.traceAt(xs, maxBatch);
    this.traces++;
    if (at.updatedVariables.length > 0) {
      throw new KilnError(`its forward pass updates ${at.updatedVariables.length} variable(s) (${at.updatedVariables.map((v) => v.name).join(', ')}: a stateful layer), which one program for every batch size does not support`);
    }
    const other = this.traceAt(xs, maxBatch + 1);
    const inputs: Literal[] = [...xs.map((t) => t.literal!), ...this.weights.map((w) => w.value.literal!)];
    const program = batched(at.func, { func: other.func, batch: maxBatch + 1 }, maxBatch, inputs, { resident: this.weights.length });
    return { program, captured: at.capturedVariables.map((v) => [v, v.version]) };
  }

  /**
   * The largest maxBatch for inputs like `xs`: the power of two that keeps the forward pass's
   * largest activation (traced at batch 1) within MEMORY_BUDGET at maxBatch.
   */
  private cap(key: string, xs: readonly Tensor[]): number {
    let c = this.caps.get(key);
    if (c === undefined) {
      c = Math.min(MAX_BATCH, pow2Floor(MEMORY_BUDGET / Math.max(1, largestValueBytes(this.traceAt(xs, 1).func))));
      this.caps.set(key, c);
    }
    return c;
  }

  /** One program per input signature (batch included), as fn does; `note` goes with the first compile. */
  private runFixed(xs: Tensor[], note?: string): Tensor[] {
    const key = xs.map((t) => `${t.dtype}[${t.shape}]`).join(',');
    let f = this.fixed.get(key);
    if (f && stale(f.captured)) f = undefined;
    if (!f) {
      const tr = this.traceAt(xs, xs[0]?.shape[0] ?? 1);
      this.traces++;
      f = { trace: tr, captured: tr.capturedVariables.map((v) => [v, v.version]) };
      this.fixed.set(key, f);
    }
    const inputs: Literal[] = [...xs.map((t) => t.literal!), ...this.weights.map((w) => w.value.literal!)];
    const sayWhy = note !== undefined && !this.noted;
    const out = runFunc(f.trace.func, inputs, 'compiled', { resident: this.weights.length, ...(sayWhy ? { note } : {}) }).map((l) => Tensor.concrete(l));
    if (sayWhy) this.noted = true;
    const nOut = f.trace.outputNames.length;
    f.trace.updatedVariables.forEach((v, i) => v.assign(out[nOut + i]!));
    return out.slice(0, nOut);
  }
}

/** The feature signature of predict inputs: shapes without the batch, and dtypes. */
function signature(xs: readonly Tensor[]): string {
  return xs.map((t) => `${t.dtype}[${t.shape.slice(1)}]`).join(',');
}

/** Bytes of the largest value a Func computes (constants excluded): its batch-1 activations (eval_program.ts sizes its maxBatch by it too). */
export function largestValueBytes(f: Func): number {
  let most = 0;
  const visit = (fn: Func) => {
    for (const v of fn.body) {
      for (const r of v.regions) visit(r);
      if (v.op === 'constant') continue;
      const t = v.type as TensorType;
      most = Math.max(most, numel(t.shape) * byteSize(t.dtype));
    }
  };
  visit(f);
  return most;
}
