/**
 * The standard optimization pipeline, declared as data so it can be printed, extended and
 * dumped pass by pass. Frontend and Keras code call `optimize` on traced functions.
 */
import type { Func } from '../ir/function.js';
import { cse } from './cse.js';
import { dce } from './dce.js';
import { fold } from './fold.js';
import { fixpoint, runPipeline, type Pipeline, type PipelineOptions, type PipelineReport } from './manager.js';
import { simplify } from './simplify.js';
import { foldBatchnorm } from './fold_batchnorm.js';
import { layout } from './layout.js';

/**
 * Simplify, CSE, fold and DCE enable one another (a fold exposes an x+0, CSE exposes a chain), so
 * they repeat together; batch-norm folding runs once its per-channel affine has been folded to
 * constants, and its scaled weights fold further; layout folds transposes of constants of any
 * size (fold stops at its size limit) so weights reach code generation as plain constants.
 */
export const STANDARD_PIPELINE: Pipeline = [fixpoint([simplify, cse, fold, foldBatchnorm, layout, dce])];

/** Optimize a copy of `fn`; the input is left untouched. */
export function optimize(fn: Func, opts?: PipelineOptions): Func {
  return optimizeWithReport(fn, opts).fn;
}

/** Like `optimize`, also returning what each pass did. */
export function optimizeWithReport(fn: Func, opts?: PipelineOptions): { fn: Func; report: PipelineReport } {
  const copy = fn.clone();
  const report = runPipeline(copy, STANDARD_PIPELINE, opts);
  return { fn: copy, report };
}
