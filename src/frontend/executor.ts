/**
 * How the frontend runs a traced Func on concrete inputs. Today it is the reference interpreter;
 * this is the single place a later change routes through the optimization passes and the
 * compiled WebAssembly path, so `fn` and everything above it stay unchanged.
 */
import type { Func } from '../ir/function.js';
import { interpret } from '../ir/interpreter.js';
import type { Literal } from '../ir/literal.js';

export function runFunc(func: Func, inputs: readonly Literal[]): Literal[] {
  return interpret(func, inputs);
}
