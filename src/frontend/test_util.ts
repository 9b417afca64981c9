/**
 * Helpers shared by the frontend tests (not part of the public API): deterministic random
 * data, conversion to tfjs-core tensors (the oracle), and a check that runs a function both
 * eagerly and traced through `fn` (the traced Func interpreted) against an expected tf result.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { expect } from 'vitest';
import type { DType } from '../ir/dtype.js';
import { ensureCpuBackend, tfDtype } from '../ir/interpreter.js';
import { numel } from '../ir/types.js';
import { tensor } from './creation.js';
import { Tensor } from './tensor.js';
import { fn } from './tracing.js';

export { tf };

export function useCpu(): void {
  ensureCpuBackend();
}

/** Deterministic values in [lo, hi) (mulberry32); integers for int dtypes. */
export function randValues(n: number, seed = 1, lo = -2, hi = 2, integer = false): number[] {
  let s = seed >>> 0;
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const u = lo + (hi - lo) * (((t ^ (t >>> 14)) >>> 0) / 4294967296);
    out[i] = integer ? Math.floor(u) : u;
  }
  return out;
}

export function rand(shape: readonly number[], seed = 1, lo = -2, hi = 2, dtype: DType = 'f32'): Tensor {
  const integer = dtype !== 'f32' && dtype !== 'f16' && dtype !== 'bf16';
  const vals = randValues(numel(shape), seed, lo, hi, integer);
  return tensor(dtype === 'bool' ? vals.map((v) => (v > (lo + hi) / 2 ? 1 : 0)) : vals, shape, dtype);
}

/** The same data as a tfjs-core tensor. */
export function toTf(t: Tensor): tf.Tensor {
  const dt = tfDtype(t.dtype);
  const data = t.dataSync();
  return tf.tensor(dt === 'float32' ? Float32Array.from(data) : dt === 'int32' ? Int32Array.from(data) : Uint8Array.from(data), t.shape, dt);
}

/** Shapes equal and values within `tol` (absolute + relative), NaNs matching NaNs. */
export function expectClose(actual: Tensor, expected: tf.Tensor | Tensor, tol = 1e-5, label = ''): void {
  const eShape = expected instanceof Tensor ? expected.shape : expected.shape;
  const eData = expected instanceof Tensor ? expected.dataSync() : expected.dataSync();
  expect(actual.shape, `${label} shape`).toEqual(eShape);
  const a = actual.dataSync();
  expect(a.length).toBe(eData.length);
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!, y = Number(eData[i]);
    if (Number.isNaN(y)) {
      expect(Number.isNaN(x), `${label} element ${i}: ${x} vs NaN`).toBe(true);
      continue;
    }
    if (x === y) continue;
    const err = Math.abs(x - y);
    if (err > tol * (1 + Math.abs(y))) {
      expect.fail(`${label} element ${i}: got ${x}, expected ${y} (|diff| ${err} > tol ${tol})`);
    }
  }
}

/**
 * Run `f` on `inputs` eagerly and through `fn` (traced once, then the Func interpreted) and
 * compare both with `expected`. Returns the traced function so tests can inspect its IR.
 */
export function checkBoth(f: (...xs: Tensor[]) => Tensor, inputs: readonly Tensor[], expected: tf.Tensor, tol = 1e-5, label = ''): void {
  expectClose(f(...inputs), expected, tol, `${label} eager`);
  const g = fn((...xs: Tensor[]) => f(...xs), { name: label || 'check' });
  const traced = g(...inputs);
  expect(traced.isSymbolic).toBe(false);
  expectClose(traced, expected, tol, `${label} traced`);
  expect(g.ir(...inputs).params.length).toBe(inputs.length);
  expect(g.traceCount).toBe(1);
}
