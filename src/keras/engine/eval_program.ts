/**
 * model.evaluate's compiled program (fit's validation too): ONE program per model and input
 * signature for every batch size, run by kiln/runtime on its threads, weights resident as state.
 * What it computes has no reduction over the batch, so it is batch-polymorphic
 * (compileEntries' `batch`): per sample, the loss (`loss.perSample`, averaged over its other
 * axes) and each metric's value (a MeanMetricWrapper's `batchValues`, averaged the way
 * `Mean.accumulate` does). The host sums the first n rows of each and divides by the sample
 * count: what the loss tracker (mean loss times batch size) and the metrics' [total, count]
 * accumulate over the same batches. The sums do not depend on the batch size, so batches larger
 * than the program's maxBatch are cut to it: evaluate compiles once for every batch size.
 *
 * The weights are state; arithmetic on them alone is derived state (exec_derive.ts) and GEMM/conv
 * operands are packed by a refresh entry, both run again only after a weight changed (as
 * model.predict's program does, src/exec.ts).
 *
 * `run` answers undefined where this program cannot serve and evaluate uses the training
 * program's entries instead: a model that mixes batch items or fixes its batch (the batch
 * analysis refuses it), a loss or metric of one value per batch (a per-batch loss would need the
 * batch's rows; Mean counts a per-batch metric once per batch, not per sample), and metrics that
 * are not MeanMetricWrappers (their state need not be a sum; evalProgramRefusal).
 *
 * Sparse labels are checked on the host, against the class count seen while tracing.
 */
import type { Func } from '../../ir/function.js';
import { literal, type Literal } from '../../ir/literal.js';
import { KilnError, tensorType } from '../../ir/types.js';
import { trace } from '../../frontend/tracing.js';
import { compileEntries, type StateTensor } from '../../compile.js';
import { MAX_BATCH } from '../../compile_options.js';
import { noteCompile } from '../../exec.js';
import { splitDerived } from '../../exec_derive.js';
import { load, type Program, type TensorData } from '../../runtime/index.js';
import { ops, type Tensor, type Variable } from '../backend.js';
import { watchSparseLabels, type Loss } from '../losses.js';
import { MeanMetricWrapper, type Metric } from '../metrics.js';
import { largestValueBytes, MEMORY_BUDGET, MIN_PREDICT_BATCH } from './predict_program.js';

/** Why evaluate cannot use one program for every batch size with these metrics (undefined: it can). */
export function evalProgramRefusal(metrics: readonly Metric[]): string | undefined {
  const other = metrics.find((m) => !(m instanceof MeanMetricWrapper));
  return other ? `metric '${other.name}' is not a MeanMetricWrapper (its state need not be a sum over samples)` : undefined;
}

/** A loss or metric of one value per batch: the rows would not add up to what Keras accumulates. */
class NotPerSample extends KilnError {}

/** What one evaluate adds up: per output (loss first, then the metrics), the sum over samples. */
export interface EvalSums {
  sums: number[];
  samples: number;
}

interface Compiled {
  program: Program;
  maxBatch: number;
  weights: Variable[];
  /** The Literal of each weight the program holds (a Variable gets a new one when assigned). */
  held: Literal[];
  /** Unbound variables baked in as constants, with their versions then (a change rebuilds). */
  captured: [Variable, number][];
  /** Entries run after a weight change: derived state, then the packed operands. */
  refresh: string[];
}

const nextPow2 = (n: number) => 2 ** Math.ceil(Math.log2(Math.max(1, n)));
const pow2Floor = (n: number) => 2 ** Math.floor(Math.log2(Math.max(1, n)));

export class EvalProgram {
  private readonly compiled = new Map<string, Compiled>();
  /** Signatures this program cannot serve. */
  private readonly refused = new Set<string>();
  /** The class count of sparse labels, seen while tracing (undefined: no sparse loss or metric). */
  classes?: number;

  constructor(
    private readonly name: string,
    private readonly forward: (xs: Tensor[]) => Tensor,
    private readonly loss: Loss,
    private readonly metrics: readonly MeanMetricWrapper[],
  ) {}

  /** The per-sample rows of one batch: [loss, ...metrics], each f32 [B]. */
  private values(ins: Tensor[]): Tensor[] {
    const xs = ins.slice(0, -1), y = ins[ins.length - 1]!;
    const b = y.shape[0]!;
    const { result, classes } = watchSparseLabels(() => {
      const pred = this.forward(xs);
      return [['loss', this.loss.perSample(y, pred)] as const, ...this.metrics.map((m) => [`metric '${m.name}'`, m.batchValues(y, pred)] as const)].map(([what, v]) => {
        if (v.rank === 0 || v.shape[0] !== b) throw new NotPerSample(`${what} gives one value per batch, not per sample`);
        const f = v.dtype === 'f32' ? v : ops.cast(v, 'f32');
        return f.rank > 1 ? ops.mean(f, f.shape.slice(1).map((_, i) => i + 1)) : f;
      });
    });
    this.classes = classes;
    return result;
  }

  /**
   * Sum each output over the samples, in batches of at most `batchSize` rows (cut to the program's
   * maxBatch). `like` holds x..., y (shapes and dtypes); `slice(start, size)` gives their host
   * arrays for those rows; `check(y, start)` sees each batch's labels before its results count.
   * Undefined where the program cannot serve (see the file's comment).
   */
  async run(weights: Variable[], like: readonly Tensor[], samples: number, batchSize: number, slice: (start: number, size: number) => TensorData[], check: (y: TensorData, start: number) => void): Promise<EvalSums | undefined> {
    const c = await this.programFor(weights, like, batchSize);
    if (!c) return undefined;
    const { program } = c;
    // Weights assigned since the last run: copied in, then derived state and packs refreshed.
    const changed: Record<string, TensorData> = {};
    let any = false;
    weights.forEach((w, i) => {
      const lit = w.value.literal!;
      if (lit === c.held[i]) return;
      changed[program.stateNames[i]!] = lit.data as TensorData;
      c.held[i] = lit;
      any = true;
    });
    if (any) {
      program.setState(changed);
      for (const e of c.refresh) program.runSync({}, { entry: e });
    }
    const sums = new Array<number>(1 + this.metrics.length).fill(0);
    const b = Math.min(batchSize, c.maxBatch);
    for (let start = 0; start < samples; start += b) {
      const size = Math.min(b, samples - start);
      const data = slice(start, size);
      const out = program.runSync(Object.fromEntries(program.inputs.map((t, i) => [t.name, data[i]!])));
      check(data[data.length - 1]!, start);
      program.outputs.forEach((o, i) => {
        const d = out[o.name]!;
        let s = 0;
        for (let r = 0; r < size; r++) s += d[r]!;
        sums[i]! += s;
      });
    }
    return { sums, samples };
  }

  /** Release the compiled programs' worker threads. */
  dispose(): void {
    for (const c of this.compiled.values()) c.program.dispose();
    this.compiled.clear();
  }

  private async programFor(weights: Variable[], like: readonly Tensor[], batchSize: number): Promise<Compiled | undefined> {
    const key = like.map((t) => `${t.dtype}[${t.shape.slice(1)}]`).join(',');
    if (this.refused.has(key)) return undefined;
    const c = this.compiled.get(key);
    if (c && c.weights.length === weights.length && c.weights.every((w, i) => w === weights[i]) && !c.captured.some(([v, version]) => v.version !== version)) return c;
    c?.program.dispose();
    this.compiled.delete(key);
    try {
      const built = await this.build(weights, like, batchSize);
      this.compiled.set(key, built);
      return built;
    } catch {
      // The batch analysis (a KilnError naming the op), a per-batch loss or metric, or (as predict
      // treats it) a compiler bug: the training program's entries serve, as before this program.
      this.refused.add(key);
      return undefined;
    }
  }

  private async build(weights: Variable[], like: readonly Tensor[], batchSize: number): Promise<Compiled> {
    const traceAt = (batch: number) => trace((...ins: Tensor[]) => this.values(ins), like.map((t) => tensorType([batch, ...t.shape.slice(1)], t.dtype)), { name: this.name, variables: weights });
    // maxBatch: the batch asked for (at least Keras's default), within the memory budget predict keeps too.
    const cap = pow2Floor(MEMORY_BUDGET / Math.max(1, largestValueBytes(traceAt(1).func)));
    const maxBatch = Math.min(MAX_BATCH, cap, Math.max(MIN_PREDICT_BATCH, nextPow2(batchSize)));
    const at = traceAt(maxBatch);
    if (at.updatedVariables.length > 0) throw new KilnError(`the forward pass updates ${at.updatedVariables.length} variable(s)`);
    const other = traceAt(maxBatch + 1).func;
    const first = at.func.params.length - weights.length;
    const state: StateTensor[] = at.func.params.slice(first).map((p, i) => ({ name: p.name!, value: weights[i]!.value.literal! }));
    // Arithmetic on the weights alone becomes derived state, computed by its own entry (exec_derive.ts).
    const split = splitDerived(at.func, first);
    const deriveName = `${this.name}__derive`;
    let main: Func = at.func, mainOther = other;
    if (split) {
      main = split.main;
      mainOther = splitDerived(other, first)?.main ?? other;
      split.derive.params.slice(state.length).forEach((p, i) => state.push({ name: split.names[i]!, value: literal([...p.shape], p.dtype) }));
    }
    const t0 = performance.now();
    const art = compileEntries([{ name: this.name, func: main }, ...(split ? [{ name: deriveName, func: split.derive }] : [])], state, { name: this.name }, {
      repackEntry: true, refreshEntries: split ? [deriveName] : [], batch: { other: mainOther, maxBatch, otherBatch: maxBatch + 1 },
    });
    noteCompile({ kind: 'function', name: this.name, ms: performance.now() - t0, maxBatch });
    const program = await load(art.bytes);
    const refresh = [...(split ? [deriveName] : []), `${this.name}__refresh`].filter((e) => program.entries.includes(e));
    for (const e of refresh) program.runSync({}, { entry: e });
    return { program, maxBatch, weights, held: weights.map((w) => w.value.literal!), captured: at.capturedVariables.map((v) => [v, v.version]), refresh };
  }
}

/**
 * The label check of a compiled step (training.ts labelCheck) on the host, for one batch's y:
 * how many labels are not integers in [0, classes), the first such flat index and its value.
 */
export function hostLabelCheck(y: TensorData, classes: number): Record<string, TensorData> {
  let bad = 0, first = -1;
  for (let i = 0; i < y.length; i++) {
    const v = y[i]!;
    if (Number.isInteger(v) && v >= 0 && v < classes) continue;
    if (bad++ === 0) first = i;
  }
  return { 'labels/bad': Float32Array.of(bad), 'labels/first_index': Float32Array.of(first), 'labels/first_value': Float32Array.of(first < 0 ? 0 : y[first]!) };
}
