/**
 * The `quantize: {mode: 'int8', calibration, method}` option of compile: its types and checking.
 * Kept free of the compiler (compile_options and the CLI import it); the work is quantize_int8.ts.
 */
import type { Literal } from './ir/literal.js';
import { KilnError } from './ir/types.js';
import type { Tensor } from './frontend/tensor.js';
import type { CalibrationMethod } from './passes/quantize_calibration.js';
import { describe, suggest } from './runtime/args.js';

/** A Kiln tensor (checked by shape, so this module stays free of the frontend). */
const isTensorLike = (x: unknown): boolean => typeof x === 'object' && x !== null && 'concreteLiteral' in x;

/** One calibration batch: a tensor (one-input models) or one tensor per input. */
export type CalibrationBatch = Tensor | Literal | readonly (Tensor | Literal)[];
/** Calibration data: batches, an iterable of them (a generator object), or a function returning one. */
export type CalibrationData = readonly CalibrationBatch[] | Iterable<CalibrationBatch> | (() => Iterable<CalibrationBatch>);

/** `quantize: {mode: 'int8', ...}`: full integer inference of dense and conv layers. */
export interface Int8QuantizeOptions {
  mode: 'int8';
  /** Representative inputs (a few hundred samples): the activation ranges are observed on them. */
  calibration: CalibrationData;
  /** How a range is chosen from the observed values (default 'minmax'). */
  method?: CalibrationMethod;
  /** method 'percentile': the upper percentile kept, in (50, 100] (default 99.99). */
  percentile?: number;
}

/** The calibration methods (passes/quantize_calibration.ts). */
export const CALIBRATION_METHODS = ['minmax', 'percentile', 'mse'] as const satisfies readonly CalibrationMethod[];

export const INT8_KEYS = ['mode', 'calibration', 'method', 'percentile'] as const;

/** Check the int8-only keys of a `quantize` object whose mode is 'int8' (unknown keys are refused by the caller). */
export function checkInt8Options(who: string, q: Record<string, unknown>): void {
  const c = q['calibration'];
  if (c === undefined) throw new KilnError(`${who}: quantize mode 'int8' needs 'calibration': an array of sample input batches (tensors), or a generator of them`);
  const iterable = typeof c === 'function' || (typeof c === 'object' && c !== null && Symbol.iterator in c);
  if (!iterable || isTensorLike(c)) throw new KilnError(`${who}: option 'quantize.calibration' must be an array of batches (a tensor, or one tensor per input, each), an iterable or a generator function, got ${describe(c)}`);
  const m = q['method'];
  if (m !== undefined && !(CALIBRATION_METHODS as readonly unknown[]).includes(m)) {
    throw new KilnError(`${who}: option 'quantize.method' must be one of ${CALIBRATION_METHODS.map((x) => `'${x}'`).join(', ')}, got ${describe(m)}${typeof m === 'string' ? suggest(m, CALIBRATION_METHODS) : ''}`);
  }
  const p = q['percentile'];
  if (p !== undefined) {
    if (m !== 'percentile') throw new KilnError(`${who}: option 'quantize.percentile' applies to method 'percentile' only, got method ${describe(m ?? 'minmax')}`);
    if (typeof p !== 'number' || !(p > 50 && p <= 100)) throw new KilnError(`${who}: option 'quantize.percentile' must be a number in (50, 100], got ${describe(p)}`);
  }
}

