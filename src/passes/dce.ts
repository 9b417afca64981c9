/**
 * dce: dead code elimination. After the pass every body node contributes to some result: it is a
 * result or an operand, transitively, of one. All ops are pure (rng included: it is a function of
 * its key), so nothing else keeps a node alive. Parameters always stay, used or not: they are the
 * function's signature, and aliases (result i donates parameter j's buffer) refer to them by
 * position; aliased results are results, so they and what they read stay too.
 */
import type { Func, Value } from '../ir/function.js';
import type { Pass } from './manager.js';

export const dce: Pass = {
  name: 'dce',
  run(fn: Func): boolean {
    const live = new Set<Value>(fn.results);
    // Users come after their operands, so one backward sweep finds every live node.
    for (let i = fn.body.length - 1; i >= 0; i--) {
      const v = fn.body[i]!;
      if (live.has(v)) for (const x of v.inputs) live.add(x);
    }
    const body = fn.body.filter((v) => live.has(v));
    if (body.length === fn.body.length) return false;
    fn.body = body;
    return true;
  },
};
