/**
 * NumPy `.npy` sources: `npy({xs: 'x.npy', ys: 'y.npy'})` (or one file) reads the arrays with
 * the reader the CLI uses (src/frontend/io/npy.ts) and slices them along their first axis.
 */
import { readNpy } from '../../frontend/io/npy.js';
import { KilnError } from '../../ir/types.js';
import { fromArrays } from './arrays.js';
import { readBytes, type ByteSource } from './bytes.js';
import type { Dataset } from './dataset.js';
import { viewTensor, type Element } from './element.js';
import type { Tensor } from '../backend.js';

async function npyTensor(who: string, src: ByteSource): Promise<Tensor> {
  const a = readNpy(await readBytes(who, src), typeof src === 'string' ? src : '.npy bytes');
  if (a.shape.length === 0) throw new KilnError(`${who}: ${typeof src === 'string' ? src : 'the array'} is a scalar (shape ()); a dataset needs a first axis to slice`);
  return viewTensor(a.shape, a.dtype, a.data);
}

/** A dataset of the rows of one .npy array, or of several keyed ({xs, ys}) or listed ([x, y]). */
export async function npy(source: ByteSource | readonly ByteSource[] | Readonly<Record<string, ByteSource>>): Promise<Dataset<Element>> {
  const who = 'data.npy';
  if (typeof source === 'string' || source instanceof Uint8Array || source instanceof ArrayBuffer) return fromArrays(await npyTensor(who, source));
  if (Array.isArray(source)) return fromArrays(await Promise.all(source.map((s) => npyTensor(who, s))));
  if (source === null || typeof source !== 'object') throw new KilnError(`${who}: expects a path, bytes, or an array/object of them, got ${source === null ? 'null' : typeof source}`);
  const entries = await Promise.all(Object.entries(source).map(async ([k, s]) => [k, await npyTensor(`${who} '${k}'`, s as ByteSource)] as const));
  return fromArrays(Object.fromEntries(entries));
}
