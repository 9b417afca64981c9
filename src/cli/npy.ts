/** The .npy reader/writer lives in src/frontend/io/npy.ts (kiln.data reads .npy too); the CLI uses it from there. */
export * from '../frontend/io/npy.js';
