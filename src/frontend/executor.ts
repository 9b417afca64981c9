/**
 * How the frontend runs a traced Func on concrete inputs. The reference interpreter is always
 * available; the compiler entry point installs the compiled WebAssembly executor as the default
 * (src/exec.ts), so `fn`, `predict` and everything above them run compiled code without this
 * layer depending on the compiler (arrows point down).
 */
import type { Func } from '../ir/function.js';
import { interpret } from '../ir/interpreter.js';
import type { Literal } from '../ir/literal.js';

export type ExecutionMode = 'compiled' | 'interpreter';

/** What the caller knows about a Func's parameters. */
export interface RunOptions {
  /**
   * The last `resident` parameters are state (an `fn`'s bound variables: a model's weights):
   * an executor may keep them in its program between calls and copy one in only when it is
   * handed a different Literal than the last call.
   */
  resident?: number;
}

export interface Executor {
  run(func: Func, inputs: readonly Literal[], options?: RunOptions): Literal[];
}

const interpreterExecutor: Executor = { run: (func, inputs) => interpret(func, inputs) };
let compiledExecutor: Executor | undefined;

/** Install the executor used for mode 'compiled' (done by the compiler entry point). */
export function setCompiledExecutor(e: Executor | undefined): void {
  compiledExecutor = e;
}

/** Run `func`: compiled when an executor is installed and mode allows it, else interpreted. */
export function runFunc(func: Func, inputs: readonly Literal[], mode: ExecutionMode = 'compiled', options?: RunOptions): Literal[] {
  const exec = mode === 'compiled' && compiledExecutor ? compiledExecutor : interpreterExecutor;
  return exec.run(func, inputs, options);
}
