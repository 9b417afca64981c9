/**
 * Where AutoGraph's runtime finds `kiln.cond` and `kiln.whileLoop` (src/frontend/control_flow.ts,
 * written alongside AutoGraph). Until that module lands, converted statements whose condition is
 * a symbolic Tensor fail here with a message that says so; plain-JS conditions never get here.
 */
import { KilnError } from '../../ir/types.js';
import type { Tensor } from '../tensor.js';

export interface ControlFlowOps {
  cond<T extends Tensor | Tensor[]>(pred: Tensor, thenFn: () => T, elseFn: () => T): T;
  whileLoop(
    condFn: (...vars: Tensor[]) => Tensor, bodyFn: (...vars: Tensor[]) => Tensor[], loopVars: Tensor[],
    opts?: { maximumIterations?: number },
  ): Tensor[];
}

export function controlFlow(): ControlFlowOps {
  throw new KilnError(
    'AutoGraph: kiln.cond / kiln.whileLoop (src/frontend/control_flow.ts) are not available in this build yet, ' +
    'so a statement with a tensor condition cannot be converted',
  );
}
