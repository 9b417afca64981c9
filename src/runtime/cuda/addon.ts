/**
 * Finding and loading the kiln_cuda native addon (native/cuda), lazily: nothing here runs until
 * a CUDA artifact is loaded, so the runtime stays importable in browsers and on machines without
 * the addon. The addon dlopens libcuda.so.1 itself; its init() throws "CUDA driver not found
 * (libcuda.so.1 could not be loaded): ..." where there is no driver.
 */
import { KilnRuntimeError } from '../errors.js';

/** The addon's functions (native/cuda/kiln_cuda.cc). Handles and device pointers are BigInt. */
export interface CudaDriver {
  init(): { devices: number };
  device(ordinal: number): { name: string; major: number; minor: number };
  contextCreate(ordinal: number): bigint;
  contextRelease(ordinal: number): void;
  moduleLoad(ptx: string): bigint;
  moduleUnload(mod: bigint): void;
  getFunction(mod: bigint, name: string): bigint;
  memAlloc(bytes: number): bigint;
  memFree(ptr: bigint): void;
  memcpyHtoD(ptr: bigint, byteOffset: number, data: ArrayBufferView): void;
  memcpyDtoH(dst: ArrayBufferView, ptr: bigint, byteOffset: number): void;
  launch(fn: bigint, gx: number, gy: number, gz: number, bx: number, by: number, bz: number, sharedBytes: number, mem: bigint, start: number, end: number): void;
  synchronize(): void;
}

let cached: { file: string; addon: CudaDriver } | undefined;

const DRIVER_FUNCTIONS: readonly (keyof CudaDriver)[] = [
  'init', 'device', 'contextCreate', 'contextRelease', 'moduleLoad', 'moduleUnload', 'getFunction',
  'memAlloc', 'memFree', 'memcpyHtoD', 'memcpyDtoH', 'launch', 'synchronize',
];

/**
 * The addon at `path`, or KILN_CUDA_ADDON, or native/cuda/build/Release/kiln_cuda.node next to
 * the package (this file sits three levels below the package root in src/ and in dist/). A path
 * given explicitly (the argument or KILN_CUDA_ADDON) must be a loadable kiln_cuda addon: if it is
 * missing, a directory, not loadable or lacks the driver functions, the error names the file,
 * where it came from and why; there is no silent fallback to another file.
 */
export async function loadAddon(path?: string): Promise<CudaDriver> {
  const isNode = typeof process !== 'undefined' && !!process.versions?.node;
  if (!isNode) throw new KilnRuntimeError('the CUDA executor runs in Node.js only (it needs the kiln_cuda native addon)');
  const { default: NodeModule } = await import('node:module');
  const { statSync } = await import('node:fs');
  const { fileURLToPath } = await import('node:url');
  const env = process.env.KILN_CUDA_ADDON;
  const [file, from] = path
    ? [path, 'addonPath']
    : env
      ? [env, 'KILN_CUDA_ADDON']
      : [fileURLToPath(new URL('../../../native/cuda/build/Release/kiln_cuda.node', import.meta.url)), 'the package build'];
  if (cached?.file === file) return cached.addon;
  const stat = statSync(file, { throwIfNoEntry: false });
  if (!stat) {
    throw new KilnRuntimeError(
      from === 'the package build'
        ? `CUDA addon not built (looked for ${file}); build it with \`node native/cuda/build.mjs\` or set KILN_CUDA_ADDON`
        : `CUDA addon '${file}' (from ${from}) does not exist; build it with \`node native/cuda/build.mjs\`${from === 'KILN_CUDA_ADDON' ? ' or unset KILN_CUDA_ADDON to use the package build' : ''}`,
    );
  }
  if (!stat.isFile()) throw new KilnRuntimeError(`CUDA addon '${file}' (from ${from}) is a directory, not a kiln_cuda.node file`);
  let addon: Partial<CudaDriver>;
  try {
    addon = NodeModule.createRequire(import.meta.url)(file) as Partial<CudaDriver>;
  } catch (e) {
    throw new KilnRuntimeError(
      `CUDA addon '${file}' (from ${from}) could not be loaded: ${(e as Error).message.split('\n')[0]}; it must be kiln_cuda.node as built by \`node native/cuda/build.mjs\` for this Node.js (${process.version})`,
    );
  }
  const missing = DRIVER_FUNCTIONS.filter((f) => typeof (addon as Record<string, unknown> | null)?.[f] !== 'function');
  if (missing.length > 0) {
    throw new KilnRuntimeError(`CUDA addon '${file}' (from ${from}) is not the kiln_cuda addon: it lacks the function${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`);
  }
  cached = { file, addon: addon as CudaDriver };
  return addon as CudaDriver;
}
