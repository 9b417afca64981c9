/**
 * int8 post-training quantization inside compile: the calibration data as literals, then
 * calibrate on the f32 function (passes/quantize_calibration.ts), rewrite it
 * (passes/quantize.ts) and tidy up with the standard passes, before the fusion plan.
 */
import type { Func } from './ir/function.js';
import type { Literal } from './ir/literal.js';
import { KilnError, shapesEqual, typeToString } from './ir/types.js';
import { verify } from './ir/verify.js';
import { Tensor } from './frontend/tensor.js';
import { runPipeline } from './passes/manager.js';
import { STANDARD_PIPELINE } from './passes/pipeline.js';
import type { QuantizeReport } from './passes/quantize.js';
import { quantizeCalibrated } from './passes/quantize_calibration.js';
import { describe } from './runtime/args.js';
import type { CalibrationBatch, CalibrationData, Int8QuantizeOptions } from './quantize_options.js';

function toLiteral(x: unknown, where: string): Literal {
  if (x instanceof Tensor) return x.concreteLiteral(where);
  if (typeof x === 'object' && x !== null && 'type' in x && 'data' in x) return x as Literal;
  throw new KilnError(`${where} must be a tensor, got ${describe(x)}`);
}

/** Calibration data as batches of literals (one per input), all of the same shapes. */
export function calibrationBatches(data: CalibrationData, inputs: number): Literal[][] {
  const source = typeof data === 'function' ? data() : data;
  if (typeof source !== 'object' || source === null || !(Symbol.iterator in source)) {
    throw new KilnError(`quantize.calibration: the generator function must return an iterable of batches, got ${describe(source)}`);
  }
  const out: Literal[][] = [];
  for (const batch of source as Iterable<CalibrationBatch>) {
    const where = `quantize.calibration batch ${out.length}`;
    const parts = Array.isArray(batch) ? batch : [batch];
    if (parts.length !== inputs) throw new KilnError(`${where}: ${parts.length} tensors, but the model has ${inputs} input(s); give one tensor per input`);
    const lits = parts.map((p, i) => toLiteral(p, inputs === 1 ? where : `${where} input ${i}`));
    if (out.length > 0) {
      lits.forEach((l, i) => {
        const first = out[0]![i]!;
        if (!shapesEqual(l.type.shape, first.type.shape) || l.type.dtype !== first.type.dtype) {
          throw new KilnError(`${where}${inputs === 1 ? '' : ` input ${i}`}: ${typeToString(l.type)} differs from batch 0's ${typeToString(first.type)}; give batches of one shape (drop a smaller last batch)`);
        }
      });
    }
    out.push(lits);
  }
  if (out.length === 0) throw new KilnError('quantize.calibration: no batches (the array or generator was empty)');
  return out;
}

/**
 * Quantize `fn` (optimized, f32) in place. `retrace(shapes)` gives the same model optimized at
 * the calibration batch's shapes when they differ from fn's (undefined when fn's shapes are fixed).
 */
export function quantizeInt8(fn: Func, q: Int8QuantizeOptions, retrace: ((shapes: number[][]) => Func) | undefined): QuantizeReport {
  const batches = calibrationBatches(q.calibration, fn.params.length);
  const shapes = batches[0]!.map((l) => [...l.type.shape]);
  const same = shapes.every((s, i) => shapesEqual(s, fn.params[i]!.shape));
  let probe = fn;
  if (!same) {
    if (!retrace) throw new KilnError(`quantize.calibration: batches of shape ${shapes.map((s) => `[${s.join(',')}]`).join(', ')} do not fit @${fn.name}'s inputs (${fn.params.map((p) => typeToString(p.type)).join(', ')}), whose shapes are fixed; give batches of those shapes`);
    probe = retrace(shapes);
  }
  const report = quantizeCalibrated(fn, probe, batches, { method: q.method ?? 'minmax', ...(q.percentile !== undefined ? { percentile: q.percentile } : {}) });
  runPipeline(fn, STANDARD_PIPELINE);
  verify(fn);
  return report;
}

