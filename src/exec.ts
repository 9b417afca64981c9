/**
 * The compiled executor behind `fn` and `model.predict`: each traced Func is compiled once to a
 * WebAssembly artifact (cached per Func) and run synchronously in this process, single-threaded,
 * reading the artifact through the same format the runtime ships. Functions the WebAssembly
 * target cannot hold (f16/bf16 values) fall back to the interpreter with a one-time warning.
 */
import type { Func } from './ir/function.js';
import { literal, type Literal } from './ir/literal.js';
import { KilnError } from './ir/types.js';
import { setCompiledExecutor, type Executor } from './frontend/executor.js';
import { interpret } from './ir/interpreter.js';
import { compile } from './compile.js';
import { readArtifact } from './runtime/artifact.js';
import { flagValue, flattenSchedule, walkSchedule } from './runtime/schedule.js';

interface Runner {
  run(inputs: readonly Literal[]): Literal[];
}

const runners = new WeakMap<Func, Runner | 'interpret'>();
let warned = false;
let compiledCount = 0;

/** How many Funcs the compiled executor has compiled (observable in tests: predict really compiles). */
export function compiledProgramCount(): number {
  return compiledCount;
}

function makeRunner(fn: Func): Runner {
  const art = compile(fn, { threads: false, relaxedSimd: false });
  const { manifest, sections } = readArtifact(art.bytes);
  const memory = new WebAssembly.Memory({ initial: manifest.memory.pages, maximum: manifest.memory.pages });
  if (manifest.weights && sections['weights']) new Uint8Array(memory.buffer, manifest.weights.offset, manifest.weights.length).set(sections['weights']);
  const inst = new WebAssembly.Instance(new WebAssembly.Module(sections['wasm']! as Uint8Array<ArrayBuffer>), { env: { memory } });
  const flat = flattenSchedule(manifest.schedule);
  const kernels = flat.steps.map((i) => ({ fn: inst.exports[manifest.kernels[i]!.name] as (a: number, b: number) => void, work: manifest.kernels[i]!.work }));
  const mem = new Uint8Array(memory.buffer);
  return {
    run(inputs) {
      manifest.inputs.forEach((spec, i) => {
        const d = inputs[i]!.data;
        mem.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), spec.offset);
      });
      // Loops and branches: flags are read from this memory (runtime/schedule.ts).
      const view = new DataView(memory.buffer);
      walkSchedule(flat, (s) => { const k = kernels[s]!; if (k.work > 0) k.fn(0, k.work); }, (off, dt) => flagValue(view, off, dt));
      return fn.results.map((r, i) => {
        const spec = manifest.outputs[i]!;
        const out = literal(r.shape, r.dtype);
        out.data.set(new (out.data.constructor as Uint8ArrayConstructor)(mem.buffer.slice(spec.offset, spec.offset + out.data.byteLength)));
        return out;
      });
    },
  };
}

export const compiledExecutor: Executor = {
  run(func, inputs) {
    let r = runners.get(func);
    if (r === undefined) {
      try {
        r = makeRunner(func);
        compiledCount++;
      } catch (e) {
        if (!(e instanceof KilnError)) throw e;
        if (!warned) {
          warned = true;
          console.warn(`kiln: running '${func.name}' in the interpreter: ${e.message}`);
        }
        r = 'interpret';
      }
      runners.set(func, r);
    }
    return r === 'interpret' ? interpret(func, inputs) : r.run(inputs);
  },
};

/** Make compiled execution the default for `fn` and `predict` (the main entry point does this). */
export function useCompiledExecution(on = true): void {
  setCompiledExecutor(on ? compiledExecutor : undefined);
}
