/**
 * model.evaluate's compiled program: ONE program per model and input signature for every batch
 * size (predict_program.ts's machinery), weights resident, independent of the training program.
 * What it computes has no reduction over the batch, so it stays batch-polymorphic: per sample,
 * the loss (`loss.perSample`, averaged over its other axes) and each metric's value (a
 * MeanMetricWrapper's `batchValues`, averaged the way `Mean.accumulate` does). The host sums the
 * first n rows of each (rows past n are never read back) and divides by the sample count: what
 * the loss tracker (mean loss times batch size) and the metrics' [total, count] accumulate over
 * the same batches, so the result does not depend on the batch size and the batches can be cut
 * to the program's maxBatch: evaluate compiles once for every batch size.
 *
 * A loss whose per-sample value is one number per batch (a custom loss) is broadcast over the
 * batch's rows; that reduction makes the model's program one per batch size (the batch analysis
 * refuses it), so the rows are exactly the batch. A metric whose value is one number per batch
 * (Mean counts it once per batch, not per sample) cannot be written as rows: `NotPerSample`
 * tells the caller to evaluate on the training program's entries instead, as do metrics that are
 * not MeanMetricWrappers (their state need not be a sum).
 *
 * Sparse labels are checked on the host, against the class count seen while tracing.
 */
import type { TensorData } from '../../runtime/index.js';
import { literal } from '../../ir/literal.js';
import { ops, Tensor, type Variable } from '../backend.js';
import { watchSparseLabels, type Loss } from '../losses.js';
import { MeanMetricWrapper, type Metric } from '../metrics.js';
import { PredictPrograms } from './predict_program.js';

/** A metric value of one number per batch: evaluate runs on the training program's entries instead. */
export class NotPerSample extends Error {}

/** Why evaluate cannot use one program for every batch size with these metrics (undefined: it can). */
export function evalProgramRefusal(metrics: readonly Metric[]): string | undefined {
  const other = metrics.find((m) => !(m instanceof MeanMetricWrapper));
  return other ? `metric '${other.name}' is not a MeanMetricWrapper (its state need not be a sum over samples)` : undefined;
}

/** What one evaluate adds up: per output (loss first, then the metrics), the sum over samples. */
export interface EvalSums {
  sums: number[];
  samples: number;
}

export class EvalProgram {
  private programs?: { weights: Variable[]; programs: PredictPrograms };
  /** The class count of sparse labels, seen while tracing (undefined: no sparse loss or metric). */
  classes?: number;

  constructor(
    private readonly name: string,
    private readonly forward: (xs: Tensor[]) => Tensor,
    private readonly loss: Loss,
    private readonly metrics: readonly MeanMetricWrapper[],
    private readonly openBatch: boolean,
  ) {}

  /** The per-sample rows of one batch: [loss, ...metrics], each f32 [B]. */
  private values(ins: Tensor[]): Tensor[] {
    const xs = ins.slice(0, -1), y = ins[ins.length - 1]!;
    const b = y.shape[0]!;
    const { result, classes } = watchSparseLabels(() => {
      const pred = this.forward(xs);
      const loss = this.loss.perSample(y, pred);
      // One loss per batch: each row holds it, so the rows add up to it times the batch size (what the loss tracker adds).
      const lossRows = rows(loss, b) ?? ops.broadcastTo(ops.mean(asF32(loss)), [b]);
      return [lossRows, ...this.metrics.map((m) => {
        const r = rows(m.batchValues(y, pred), b);
        if (!r) throw new NotPerSample(`metric '${m.name}' gives one value per batch, not per sample`);
        return r;
      })];
    });
    this.classes = classes;
    return result;
  }

  /** The programs for this list of weights (a layer added or built since starts anew, as predict does). */
  private programsFor(weights: Variable[]): PredictPrograms {
    const p = this.programs;
    if (p && p.weights.length === weights.length && p.weights.every((w, i) => w === weights[i])) return p.programs;
    const programs = new PredictPrograms(this.name, (ins) => this.values(ins), weights, this.openBatch, 'evaluate');
    this.programs = { weights, programs };
    return programs;
  }

  /**
   * Sum each output over the samples, in batches of at most `batchSize` rows (cut further to the
   * program's maxBatch once there is one). `like` holds x..., y (shapes and dtypes);
   * `slice(start, size)` gives their host arrays for those rows; `check(y, start, batchSize)`
   * sees each batch's labels before its results count (sparse label checks).
   */
  run(weights: Variable[], like: readonly Tensor[], samples: number, batchSize: number, slice: (start: number, size: number) => TensorData[], check: (y: TensorData, start: number, batchSize: number) => void): EvalSums {
    const programs = this.programsFor(weights);
    const sums = new Array<number>(1 + this.metrics.length).fill(0);
    // Batches fit the program compiled before, if any (the sums do not depend on the batch size).
    let b = Math.min(batchSize, programs.maxBatchFor(like) ?? batchSize);
    for (let start = 0; start < samples; start += b) {
      const size = Math.min(b, samples - start);
      const data = slice(start, size);
      const tensors = data.map((d, i) => Tensor.concrete(literal([size, ...like[i]!.shape.slice(1)], like[i]!.dtype, d)));
      const outs = programs.run(tensors);
      check(data[data.length - 1]!, start, b);
      outs.forEach((o, i) => {
        const d = o.literal!.data;
        let s = 0;
        for (let r = 0; r < size; r++) s += d[r]!;
        sums[i]! += s;
      });
      if (start === 0) b = Math.min(b, programs.maxBatchFor(tensors) ?? b);
    }
    return { sums, samples };
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

const asF32 = (t: Tensor): Tensor => (t.dtype === 'f32' ? t : ops.cast(t, 'f32'));

/** Per-sample values as f32 [b] (other axes averaged, as Mean.accumulate does), or undefined when `v` is not per sample. */
function rows(v: Tensor, b: number): Tensor | undefined {
  if (v.rank === 0 || v.shape[0] !== b) return undefined;
  const f = asF32(v);
  return f.rank > 1 ? ops.mean(f, f.shape.slice(1).map((_, i) => i + 1)) : f;
}
