/**
 * Calibration for int8 quantization: runs the f32 function in the IR interpreter over the
 * calibration batches and observes the activations entering and leaving every quantization site
 * (passes/quantize.ts findSites), reducing each to a real range [min, max] by one of three methods:
 * - 'minmax': the exact extremes over every batch (TFLite's default);
 * - 'percentile': the p-th and (100-p)-th percentiles (p = 99.99 by default), which ignores a few
 *   outliers at the cost of clipping them;
 * - 'mse': the range [a*min, a*max] (a in [0.3, 1]) that minimizes the mean squared error of
 *   quantize-dequantize over the observed values (a histogram of 2048 bins).
 * Percentile and MSE work on an evenly strided sample of at most SAMPLE_PER_BATCH values per
 * batch; the extremes are always exact. Ranges always include 0 (activationParams widens them).
 */
import { Func, type Value } from '../ir/function.js';
import { interpret } from '../ir/interpreter.js';
import type { Literal } from '../ir/literal.js';
import { KilnError, shapesEqual, typeToString } from '../ir/types.js';
import { quantizeScalar, dequantizeScalar } from '../ir/ops/quant.js';
import { activationParams, findSites, quantizeFunc, type QuantizeReport, type QuantRange, type Site } from './quantize.js';

export type CalibrationMethod = 'minmax' | 'percentile' | 'mse';

export interface CalibrationOptions {
  readonly method?: CalibrationMethod;
  /** For 'percentile': the upper percentile kept, in (50, 100] (default 99.99). */
  readonly percentile?: number;
}

/** Values sampled per batch and observed tensor for 'percentile' and 'mse'. */
export const SAMPLE_PER_BATCH = 65536;

/** Collects one tensor's values over the calibration batches. */
export class Observer {
  min = Infinity;
  max = -Infinity;
  private readonly samples: Float32Array[] = [];
  constructor(private readonly keepSamples: boolean) {}

  observe(data: ArrayLike<number>): void {
    let lo = this.min, hi = this.max;
    for (let i = 0; i < data.length; i++) {
      const x = data[i]!;
      if (x < lo) lo = x;
      if (x > hi) hi = x;
    }
    this.min = lo;
    this.max = hi;
    if (!this.keepSamples || data.length === 0) return;
    const stride = Math.max(1, Math.ceil(data.length / SAMPLE_PER_BATCH));
    const s = new Float32Array(Math.ceil(data.length / stride));
    for (let i = 0, k = 0; i < data.length; i += stride) s[k++] = data[i]!;
    this.samples.push(s);
  }

  range(opts: CalibrationOptions): QuantRange {
    if (this.min > this.max) throw new KilnError('calibration: no values observed (empty calibration batches?)');
    if (!Number.isFinite(this.min) || !Number.isFinite(this.max)) {
      throw new KilnError(`calibration: an activation reached ${Number.isFinite(this.min) ? this.max : this.min} on the calibration data; int8 needs finite ranges`);
    }
    const method = opts.method ?? 'minmax';
    if (method === 'minmax') return { min: this.min, max: this.max };
    const all = this.sampleArray();
    if (method === 'percentile') {
      const p = opts.percentile ?? 99.99;
      all.sort();
      const at = (q: number) => all[Math.min(all.length - 1, Math.max(0, Math.round(q * (all.length - 1))))]!;
      return { min: at((100 - p) / 100), max: at(p / 100) };
    }
    return mseRange(all, this.min, this.max);
  }

  private sampleArray(): Float32Array {
    const n = this.samples.reduce((a, s) => a + s.length, 0);
    const all = new Float32Array(n);
    let k = 0;
    for (const s of this.samples) { all.set(s, k); k += s.length; }
    return all;
  }
}

/** The range [a*lo, a*hi], a in [0.3, 1], whose quantize-dequantize error over `xs` is least. */
function mseRange(xs: Float32Array, min: number, max: number): QuantRange {
  const lo = Math.min(min, 0), hi = Math.max(max, 0);
  if (!(hi > lo)) return { min: lo, max: hi };
  const BINS = 2048;
  const width = (hi - lo) / BINS;
  const counts = new Float64Array(BINS);
  for (const x of xs) counts[Math.min(BINS - 1, Math.floor((x - lo) / width))]! += 1;
  let best = { err: Infinity, a: 1 };
  for (let a = 1; a >= 0.3 - 1e-9; a -= 0.01) {
    const p = activationParams({ min: a * lo, max: a * hi });
    let err = 0;
    for (let b = 0; b < BINS; b++) {
      if (counts[b] === 0) continue;
      const x = Math.fround(lo + (b + 0.5) * width);
      const d = x - dequantizeScalar(quantizeScalar(x, p.scale, p.zeroPoint), p.scale, p.zeroPoint);
      err += counts[b]! * d * d;
    }
    if (err < best.err) best = { err, a };
  }
  return { min: best.a * lo, max: best.a * hi };
}

/** The calibrated input and output range of each site of `fn` (findSites order). */
export interface SiteRanges {
  readonly input: QuantRange;
  readonly output: QuantRange;
}

/**
 * Run `fn` on every batch (one literal per parameter) and return each site's ranges. The
 * function is not modified: the observed values become the results of a function sharing its body.
 */
export function calibrate(fn: Func, batches: readonly (readonly Literal[])[], opts: CalibrationOptions = {}): { sites: Site[]; ranges: SiteRanges[] } {
  if (batches.length === 0) throw new KilnError('calibration: needs at least one batch of sample inputs');
  const { sites } = findSites(fn);
  const watched: Value[] = [];
  const index = new Map<Value, number>();
  for (const s of sites) for (const v of [s.input, s.output]) if (!index.has(v)) { index.set(v, watched.length); watched.push(v); }
  const keep = (opts.method ?? 'minmax') !== 'minmax';
  const observers = watched.map(() => new Observer(keep));
  if (watched.length > 0) {
    const probe = new Func(`${fn.name}_calibration`, fn.params, fn.body, watched);
    batches.forEach((batch, b) => {
      if (batch.length !== fn.params.length) throw new KilnError(`calibration batch ${b}: ${batch.length} inputs, but @${fn.name} takes ${fn.params.length} (${fn.params.map((p) => typeToString(p.type)).join(', ')})`);
      batch.forEach((l, i) => {
        const p = fn.params[i]!;
        if (l.type.dtype !== p.dtype || !shapesEqual(l.type.shape, p.shape)) {
          throw new KilnError(`calibration batch ${b}, input ${i}: expected ${typeToString(p.type)}, got ${typeToString(l.type)}`);
        }
      });
      const outs = interpret(probe, batch);
      outs.forEach((o, k) => observers[k]!.observe(o.data));
    });
  }
  const ranges = sites.map((s) => ({ input: observers[index.get(s.input)!]!.range(opts), output: observers[index.get(s.output)!]!.range(opts) }));
  return { sites, ranges };
}

/**
 * Calibrate on `probe` (the same function traced at the calibration batch size, or `fn` itself)
 * and quantize `fn` in place. The two must have the same sites (kind and weight shapes), in order.
 */
export function quantizeCalibrated(fn: Func, probe: Func, batches: readonly (readonly Literal[])[], opts: CalibrationOptions = {}): QuantizeReport {
  const cal = calibrate(probe, batches, opts);
  const mine = findSites(fn).sites;
  const sig = (s: Site) => `${s.kind}:${typeToString(s.weights.type)}:${s.activation}`;
  if (mine.length !== cal.sites.length || mine.some((s, i) => sig(s) !== sig(cal.sites[i]!))) {
    throw new KilnError(`quantize: the function traced at the calibration batch size has different dot/conv sites (${cal.sites.map(sig).join(', ')}) than the compiled one (${mine.map(sig).join(', ')}); give calibration batches of the compiled batch size`);
  }
  return quantizeFunc(fn, (i) => cal.ranges[i]!);
}
