/**
 * kiln/runtime: load and run compiled Kiln artifacts. Dependency-free (no
 * other part of Kiln, no npm package), for Node and browsers; this is what
 * applications ship. See docs/artifact-format.md.
 */
export { load, DEFAULT_MAX_THREADS, COLD_RUNS } from './wasm_executor.js';
export { MAX_THREADS } from './threads.js';
export type { LoadOptions } from './wasm_executor.js';
export { Program } from './program.js';
export type { EntryPoint, RunOptions, SyncRunOptions, Stats, TensorInfo, Variant } from './program.js';
export { unshareMemoryImport } from './wasm_patch.js';
export { readArtifact, writeArtifact } from './artifact.js';
export type { Artifact } from './artifact.js';
export { FORMAT_VERSION } from './manifest.js';
export type { Manifest, ManifestInput, TensorSpec, StateSpec, EntrySpec, KernelSpec, MemorySpec, SectionEntry } from './manifest.js';
export type { DType, TensorData } from './dtypes.js';
export { KilnRuntimeError, RuntimeError } from './errors.js';
