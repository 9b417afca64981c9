export * from './dtype.js';
export * from './types.js';
export * from './literal.js';
export * from './function.js';
export * from './registry.js';
export * from './builder.js';
export * from './interpreter.js';
export { ALL_OPS } from './ops/index.js';
