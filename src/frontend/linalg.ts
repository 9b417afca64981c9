/**
 * Matrix products. `matmul` multiplies the last two dims of each operand and broadcasts the
 * leading (batch) dims NumPy-style, lowering to one `dot_general` with explicit batch and
 * contracting dims.
 */
import { KilnError } from '../ir/types.js';
import { emit } from './emit.js';
import { broadcastShapes, broadcastTo } from './elementwise.js';
import { Tensor } from './tensor.js';

export function matmul(a: Tensor, b: Tensor, transposeA = false, transposeB = false): Tensor {
  const what = () => `a ${a.describe()} (transposeA=${transposeA}) and b ${b.describe()} (transposeB=${transposeB})`;
  if (!(a instanceof Tensor) || !(b instanceof Tensor)) throw new KilnError('matmul: both operands must be Tensors');
  if (a.rank < 2 || b.rank < 2) throw new KilnError(`matmul: both operands need rank >= 2: ${what()}`);
  if (a.dtype !== b.dtype) throw new KilnError(`matmul: dtypes differ: ${what()}; cast one with kiln.cast(x, dtype)`);
  const k1 = transposeA ? a.shape[a.rank - 2]! : a.shape[a.rank - 1]!;
  const k2 = transposeB ? b.shape[b.rank - 1]! : b.shape[b.rank - 2]!;
  if (k1 !== k2) throw new KilnError(`matmul: inner dimensions differ: ${what()}`);
  const batch = broadcastShapes('matmul', [a.shape.slice(0, -2), b.shape.slice(0, -2)], () => `batch dims of ${what()}`);
  const nb = batch.length;
  const x = broadcastTo(a, [...batch, ...a.shape.slice(-2)]);
  const y = broadcastTo(b, [...batch, ...b.shape.slice(-2)]);
  const batchDims = batch.map((_, i) => i);
  return emit('dot_general', [x, y], {
    lhs_batch: batchDims,
    rhs_batch: batchDims,
    lhs_contract: [transposeA ? nb : nb + 1],
    rhs_contract: [transposeB ? nb + 1 : nb],
  });
}
