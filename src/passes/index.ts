/** The pass manager, the standard pipeline and the individual passes. */
export * from './manager.js';
export * from './pipeline.js';
export { simplify, makeSimplify, RULES as SIMPLIFY_RULES, splatValue, type Rule, type Rewriter } from './simplify.js';
export { cse } from './cse.js';
export { dce } from './dce.js';
export { fold, makeFold, foldDecision, isConstantValued, DEFAULT_FOLD_MAX_ELEMENTS, type FoldOptions, type FoldDecision } from './fold.js';
export * from './fusion_plan.js';
export { shouldFuse, describeGroup } from './fusion.js';
export { explainPlan } from './explain.js';
export * from './memory_plan.js';
export { gradFunc, vjpFunc } from './autodiff.js';
export { foldBatchnorm } from './fold_batchnorm.js';
export { makeMixedPrecision } from './mixed_precision.js';
