/**
 * The frontend's public API: Tensor, creation helpers, ops (eager or traced), trace/fn and
 * Variables. `import * as kiln from 'kiln'` re-exports all of it.
 */
export { Tensor, type NestedArray } from './tensor.js';
export { emit } from './emit.js';
export { activeTrace } from './context.js';
export { runFunc } from './executor.js';
export * from './creation.js';
export * from './elementwise.js';
export * from './manipulation.js';
export * from './linalg.js';
export * from './reduction.js';
export * from './activations.js';
export * from './conv.js';
export * from './image.js';
export * from './variable.js';
export * from './tracing.js';
export * as ops from './ops.js';
export * from './grad.js';
export * as autograph from './autograph/api.js';
export * from './control_flow.js';
export { GradientTape, variableGrads, type GradientTapeOptions, type GradientSources, type RecordedStructure } from './tape.js';
