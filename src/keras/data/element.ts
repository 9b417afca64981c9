/**
 * What a dataset's elements are made of, and how `batch` stacks them. An element is a Tensor, a
 * number, or an array / plain object of elements (`{xs, ys}`, `[x, y]`); batching stacks the
 * leaves at the same place along a new leading axis, so every element of a batch must have the
 * same structure, shapes and dtypes. Element tensors made by the sources are zero-copy views of
 * their arrays; a batch is one new host array per leaf.
 */
import type { DType, HostArray } from '../../ir/dtype.js';
import { hostArray } from '../../ir/dtype.js';
import { KilnError, tensorType, typeToString } from '../../ir/types.js';
import { Tensor } from '../backend.js';

export type Element = Tensor | number | readonly Element[] | { readonly [key: string]: Element };

/** One leaf of in-memory data: `data` holds rows of `row` values, each of `shape`. */
export interface Column {
  path: string;
  shape: number[];
  dtype: DType;
  data: HostArray;
  row: number;
}

/** A concrete tensor over `data` without copying it (data.length must fill the shape). */
export function viewTensor(shape: readonly number[], dtype: DType, data: HostArray): Tensor {
  return Tensor.concrete({ type: tensorType(shape, dtype), data });
}

/** The leaves of an element in a fixed order (keys in insertion order), with their paths. */
export function leaves(e: Element, path = '', out: { path: string; leaf: Tensor | number }[] = []): { path: string; leaf: Tensor | number }[] {
  if (e instanceof Tensor || typeof e === 'number') out.push({ path, leaf: e });
  else if (Array.isArray(e)) (e as readonly Element[]).forEach((x, i) => leaves(x, `${path}[${i}]`, out));
  else if (e !== null && typeof e === 'object') for (const [k, v] of Object.entries(e)) leaves(v as Element, path ? `${path}.${k}` : k, out);
  else throw new KilnError(`dataset element${path ? ` at ${path}` : ''}: expected a Tensor, a number, an array or an object of them, got ${e === null ? 'null' : typeof e}`);
  return out;
}

function flatLeaves(e: Element, out: (Tensor | number)[]): void {
  if (e instanceof Tensor || typeof e === 'number') out.push(e);
  else if (Array.isArray(e)) for (const x of e as readonly Element[]) flatLeaves(x, out);
  else if (e !== null && typeof e === 'object') for (const k in e) flatLeaves((e as { [key: string]: Element })[k]!, out);
  else out.push(e as never); // reported by the named walk
}

/** Rebuild `like`'s structure with `values` as its leaves (in leaves() order). */
export function rebuild(like: Element, values: readonly Tensor[], at = { i: 0 }): Element {
  if (like instanceof Tensor || typeof like === 'number') return values[at.i++]!;
  if (Array.isArray(like)) return (like as readonly Element[]).map((x) => rebuild(x, values, at));
  return Object.fromEntries(Object.entries(like).map(([k, v]) => [k, rebuild(v as Element, values, at)]));
}

function describe(l: Tensor | number): string {
  return l instanceof Tensor ? typeToString(l.type) : 'number';
}

/** Stack `items` (elements of one structure) along a new leading axis: one Tensor per leaf. */
export function stack(items: readonly Element[], who = 'batch'): Element {
  const first = leaves(items[0]!);
  const cols = first.map(({ path, leaf }) => {
    const shape = leaf instanceof Tensor ? leaf.shape : [];
    const dtype: DType = leaf instanceof Tensor ? leaf.dtype : 'f32';
    if (leaf instanceof Tensor && leaf.isSymbolic) throw new KilnError(`${who}: element leaf ${path || '(root)'} is a symbolic tensor; datasets hold concrete tensors`);
    const row = shape.reduce((a, b) => a * b, 1);
    return { path, shape, dtype, row, data: hostArray(dtype, row * items.length), want: describe(leaf) };
  });
  const flat: (Tensor | number)[] = [];
  items.forEach((item, j) => {
    // The fast walk first (no path strings); the named one only to explain a mismatch.
    flat.length = 0;
    flatLeaves(item, flat);
    const ls = flat.length === cols.length ? flat.map((leaf, k) => ({ path: cols[k]!.path, leaf })) : leaves(item);
    if (ls.length !== cols.length) throw new KilnError(`${who}: element ${j} has ${ls.length} leaves, element 0 has ${cols.length}; every element must have the same structure`);
    ls.forEach(({ path, leaf }, k) => {
      const c = cols[k]!;
      if (path !== c.path) throw new KilnError(`${who}: element ${j} has a leaf at '${path}' where element 0 has '${c.path}'`);
      if (typeof leaf === 'number') {
        if (c.want !== 'number') throw new KilnError(`${who}: element ${j} at '${path || '(root)'}' is a number, element 0 has ${c.want}`);
        c.data[j] = leaf;
        return;
      }
      if (leaf.dtype !== c.dtype || leaf.shape.length !== c.shape.length || leaf.shape.some((d, i) => d !== c.shape[i])) {
        throw new KilnError(`${who}: element ${j} at '${path || '(root)'}' is ${describe(leaf)}, element 0 is ${c.want}; every element must have the same shape and dtype (map them to one shape first)`);
      }
      c.data.set(leaf.dataSync() as never, j * c.row);
    });
  });
  return rebuild(items[0]!, cols.map((c) => viewTensor([items.length, ...c.shape], c.dtype, c.data)));
}
