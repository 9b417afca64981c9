/**
 * What an op translation sees and returns. Each family file exports a table from TensorFlow op
 * name to a function of the node's (already evaluated) input tensors and its decoded
 * attributes, returning frontend tensors; the walk in graph_model.ts looks ops up in the merged
 * table (index.ts) and never branches on op names itself.
 */
import { KilnError } from '../../../ir/types.js';
import type { DType } from '../../../ir/dtype.js';
import { tensor } from '../../creation.js';
import { Tensor } from '../../tensor.js';
import type { NodeAttrs, NodeDefJson } from '../graph_def.js';

export interface OpContext {
  readonly node: NodeDefJson;
  readonly attrs: NodeAttrs;
  /** Data inputs in order (control inputs `^name` removed). */
  readonly inputs: readonly Tensor[];
}

export type OpTranslator = (ctx: OpContext) => Tensor | Tensor[];
export type OpTable = Readonly<Record<string, OpTranslator>>;

/** Input `i`, or an error naming the node and how many inputs it has. */
export function input(ctx: OpContext, i: number): Tensor {
  const t = ctx.inputs[i];
  if (!t) throw new KilnError(`node '${ctx.node.name}' (${ctx.node.op}) needs input ${i}, it has ${ctx.inputs.length}`);
  return t;
}

/**
 * The values of an input that must be known at import time (shapes, axes, paddings, sizes):
 * Const nodes, or subgraphs folded from static shapes. A symbolic one (computed from the model's
 * inputs) cannot make a static shape.
 */
export function staticValues(ctx: OpContext, i: number, what: string): number[] {
  const t = input(ctx, i);
  if (t.isSymbolic) {
    throw new KilnError(`node '${ctx.node.name}' (${ctx.node.op}): input ${i} (${what}) depends on the model's input data (${t.describe()}); ` +
      'Kiln needs it known at import time (static shapes)');
  }
  return Array.from(t.dataSync());
}

export function staticScalar(ctx: OpContext, i: number, what: string): number {
  const v = staticValues(ctx, i, what);
  if (v.length !== 1) throw new KilnError(`node '${ctx.node.name}' (${ctx.node.op}): input ${i} (${what}) must be a scalar, got [${v.join(',')}]`);
  return v[0]!;
}

/** A concrete tensor from values (used for folded shape arithmetic). */
export function constant(values: readonly number[], shape: readonly number[], dtype: DType): Tensor {
  return tensor([...values], shape, dtype);
}

export function fail(ctx: OpContext, message: string): never {
  throw new KilnError(`node '${ctx.node.name}' (${ctx.node.op}): ${message}`);
}
