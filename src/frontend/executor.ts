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
  /** Why this run may compile a program, reported with the compile event (e.g. why predict compiles one program per batch size). */
  note?: string;
}

/** A compiled program that runs any batch from 1 to `maxBatch` (model.predict's one program per model). */
export interface BatchedProgram {
  readonly maxBatch: number;
  /**
   * Run at batch `n`: `inputs` as for Executor.run, the batch inputs holding n rows; each result
   * that carries the batch leads with n (times its factor) instead of maxBatch.
   */
  run(inputs: readonly Literal[], n: number): Literal[];
}

/** Where the same function was traced at another batch size (how the batch dims are told apart). */
export interface OtherBatch {
  readonly func: Func;
  readonly batch: number;
}

export interface Executor {
  run(func: Func, inputs: readonly Literal[], options?: RunOptions): Literal[];
  /**
   * Compile `func`, traced at batch `maxBatch` (every input's leading dim), into one program for
   * every batch from 1 to maxBatch. Throws a KilnError naming what keeps the function from it (an
   * op that mixes batch items). Executors without compiled programs (the interpreter) have none.
   */
  batched?(func: Func, other: OtherBatch, maxBatch: number, inputs: readonly Literal[], options?: RunOptions): BatchedProgram;
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

/** The installed compiled executor's batch-polymorphic compile, if there is one. */
export function batchedExecutor(): Required<Pick<Executor, 'batched'>> | undefined {
  const b = compiledExecutor?.batched;
  return b ? { batched: b.bind(compiledExecutor) } : undefined;
}
