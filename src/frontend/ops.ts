/** All tensor ops in one namespace (`kiln.ops.add`, ...), for code that prefers a prefix. */
export * from './creation.js';
export * from './elementwise.js';
export * from './manipulation.js';
export * from './linalg.js';
export * from './reduction.js';
export * from './activations.js';
export * from './conv.js';
export * from './image.js';
