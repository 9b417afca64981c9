import { registerOp, type OpDef } from '../registry.js';
import { elementwiseOps } from './elementwise.js';

/** Every op of the IR, registered once. Add a new op file's list here. */
export const ALL_OPS: readonly OpDef[] = [...elementwiseOps];

for (const def of ALL_OPS) registerOp(def);
