/**
 * How an imported model's weights were stored on disk (uint8/uint16 with min and scale, float16),
 * remembered per model so `kiln.compile` can keep that storage in the artifact
 * (codegen/weights_encode.ts) instead of widening every weight to f32. The loaders record it; a
 * model built in code has none. The values themselves are what tfjs's decodeWeights gives; these
 * are only the encodings that reproduce them exactly.
 */
import type { WeightSpec } from './formats.js';

/** One stored encoding: `fround(q * scale + min)` over `bits`-bit codes, or IEEE half. */
export type WeightStorage = { kind: 'affine'; bits: 8 | 16; scale: number; min: number } | { kind: 'f16' };

const storage = new WeakMap<object, WeightStorage[]>();

/** The distinct encodings among `specs` (float32 weights only: those are what compile encodes). */
export function storageOfSpecs(specs: readonly WeightSpec[]): WeightStorage[] {
  const seen = new Map<string, WeightStorage>();
  for (const w of specs) {
    const q = w.quantization;
    if (!q || w.dtype !== 'float32') continue;
    if (q.dtype === 'float16') seen.set('f16', { kind: 'f16' });
    else if (Number.isFinite(q.scale) && Number.isFinite(q.min)) {
      const bits = q.dtype === 'uint8' ? 8 : 16;
      seen.set(`${bits}:${q.scale}:${q.min}`, { kind: 'affine', bits, scale: q.scale!, min: q.min! });
    }
  }
  return [...seen.values()];
}

/** Record the storage of `model`'s weights (called by the loaders). */
export function recordWeightStorage(model: object, specs: readonly WeightSpec[]): void {
  const s = storageOfSpecs(specs);
  if (s.length > 0) storage.set(model, s);
}

/** The storage recorded for `model` (empty for a model built in code). */
export function weightStorageOf(model: unknown): readonly WeightStorage[] {
  return typeof model === 'object' && model !== null ? storage.get(model) ?? [] : [];
}
