import { registerOp, type OpDef } from '../registry.js';
import { elementwiseOps } from './elementwise.js';
import { controlOps } from './control.js';
import { convOps } from './conv.js';
import { dotOps } from './dot.js';
import { gatherOps } from './gather.js';
import { movementOps } from './movement.js';
import { quantOps } from './quant.js';
import { randomOps } from './random.js';
import { reduceOps } from './reduce.js';
import { sourceOps } from './source.js';
import { windowOps } from './window.js';

/** Every op of the IR, registered once. Add a new op file's list here. */
export const ALL_OPS: readonly OpDef[] = [...elementwiseOps, ...sourceOps, ...movementOps, ...reduceOps, ...dotOps, ...convOps, ...windowOps, ...gatherOps, ...randomOps, ...quantOps, ...controlOps];

for (const def of ALL_OPS) registerOp(def);
