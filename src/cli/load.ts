/**
 * Loading an artifact file for `kiln run` and `kiln bench` through kiln/runtime alone (the
 * WebAssembly executor, or the CUDA one for 'cuda' artifacts), with the runtime's errors turned
 * into CommandErrors that name the file.
 */
import { load, readArtifact, KilnRuntimeError, type TensorData, type TensorInfo } from '../runtime/index.js';
import { UsageError } from './args.js';
import { CommandError, readBytes, type CliContext } from './io.js';

/** What run and bench need of a loaded program, on either executor. */
export interface LoadedProgram {
  readonly target: string;
  readonly inputs: readonly TensorInfo[];
  readonly outputs: readonly TensorInfo[];
  /** Threads it runs on (WebAssembly), or 1. */
  readonly threads: number;
  /** 'simd' / 'relaxed-simd' (WebAssembly) or the GPU's name. */
  readonly variant: string;
  /** Batch-polymorphic artifacts: inputs and outputs lead with any batch up to this one. */
  readonly maxBatch?: number | undefined;
  runSync(inputs: Record<string, TensorData>): Record<string, TensorData>;
  dispose(): void;
}

/** Runs `f`, turning a KilnRuntimeError into a CommandError that starts with `where`. */
export function runtimeCall<T>(where: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof KilnRuntimeError) throw new CommandError(`${where}: ${e.message}`);
    throw e;
  }
}

export async function loadProgram(ctx: CliContext, file: string, threads: number | undefined, command: string): Promise<LoadedProgram> {
  const bytes = await readBytes(ctx, file, 'artifact');
  const target = runtimeCall(`'${file}'`, () => readArtifact(bytes).manifest.target);
  try {
    if (target === 'cuda') {
      if (threads !== undefined) throw new UsageError(`--threads applies to WebAssembly artifacts; '${file}' targets cuda`, command);
      const { loadCuda } = await import('../runtime/cuda/index.js');
      const p = await loadCuda(bytes);
      return { target, inputs: p.inputs, outputs: p.outputs, threads: 1, variant: `cuda (${p.device.name})`, runSync: (x) => p.runSync(x), dispose: () => p.dispose() };
    }
    const p = await load(bytes, threads === undefined ? {} : { threads });
    return { target, inputs: p.inputs, outputs: p.outputs, threads: p.threads, variant: p.variant, maxBatch: p.maxBatch, runSync: (x) => p.runSync(x), dispose: () => p.dispose() };
  } catch (e) {
    if (e instanceof KilnRuntimeError) throw new CommandError(`cannot load '${file}': ${e.message}`);
    throw e;
  }
}
