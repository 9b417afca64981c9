/**
 * layout: the layout pass (issue 10, point 1). FIRST PIECE ONLY: constant transforms.
 *
 * Invariant after the pass: no `transpose` whose operand is a `constant` remains in the function
 * or its regions, whatever the constant's size: each was replaced by a constant holding the
 * transposed elements, computed at compile time with plain typed-array loops over precomputed
 * strides (no interpreter call, no per-element index objects), so it equals the transpose the
 * interpreter computes element for element. Unlike `fold`, no size limit applies: a transposed
 * weight is as large as the weight it replaces, and the old constant is left for DCE.
 *
 * Not built yet (see the issue): per-target layout constraints (packed GEMM panels and blocked
 * conv weights for WebAssembly, tensor-core tiles for CUDA), their assignment with explicit layout
 * changes where constraints conflict, transpose sinking, and explain() output of the decisions.
 */
import type { Func, Value } from '../ir/function.js';
import { makeValue } from '../ir/builder.js';
import { literal, type Literal } from '../ir/literal.js';
import { attr } from '../ir/registry.js';
import { KilnError } from '../ir/types.js';
import type { Pass } from './manager.js';
import { runInRegions } from './regions.js';

/** `lit` transposed by `perm` (output axis d is input axis perm[d]), with typed-array loops. */
export function transposeLiteral(lit: Literal, perm: readonly number[]): Literal {
  const shape = lit.type.shape;
  const rank = shape.length;
  if (perm.length !== rank || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) {
    throw new KilnError(`transposeLiteral: perm [${perm.join(', ')}] is not a permutation of the ${rank} axes of shape [${shape.join(', ')}]`);
  }
  const outShape = perm.map((p) => shape[p]!);
  const inStrides = new Array<number>(rank);
  let s = 1;
  for (let d = rank - 1; d >= 0; d--) { inStrides[d] = s; s *= shape[d]!; }
  const out = literal(outShape, lit.type.dtype);
  const src = lit.data, dst = out.data;
  if (s === 0) return out;
  // Walk the output row-major with an odometer; the innermost axis is a strided copy.
  const srcStride = perm.map((p) => inStrides[p]!);
  const inner = rank === 0 ? 1 : outShape[rank - 1]!, innerStride = rank === 0 ? 0 : srcStride[rank - 1]!;
  const idx = new Array<number>(Math.max(rank - 1, 0)).fill(0);
  let base = 0;
  for (let o = 0; o < s; o += inner) {
    for (let i = 0, q = base; i < inner; i++, q += innerStride) dst[o + i] = src[q]!;
    for (let d = rank - 2; d >= 0; d--) {
      idx[d]!++;
      base += srcStride[d]!;
      if (idx[d]! < outShape[d]!) break;
      base -= idx[d]! * srcStride[d]!;
      idx[d] = 0;
    }
  }
  return out;
}

function foldConstantTransposes(fn: Func): boolean {
  let changed = false;
  for (const v of [...fn.body]) {
    if (v.op !== 'transpose') continue;
    const x = v.inputs[0]!;
    if (x.op !== 'constant') continue;
    const c: Value = makeValue('constant', [], { value: transposeLiteral(x.attrs['value'] as Literal, attr.ints(v.attrs, 'perm')) });
    fn.insertBefore(v, c);
    fn.replaceAllUses(v, c);
    fn.body.splice(fn.body.indexOf(v), 1);
    changed = true;
  }
  return changed;
}

export const layout: Pass = {
  name: 'layout',
  run(fn: Func): boolean {
    // Regions first (each may hold regions of its own), then this function's body.
    const inner = runInRegions(fn, (r) => layout.run(r));
    return foldConstantTransposes(fn) || inner;
  },
};
