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

let cached: CudaDriver | undefined;

/**
 * The addon at `path`, or KILN_CUDA_ADDON, or native/cuda/build/Release/kiln_cuda.node next to
 * the package (this file sits three levels below the package root in src/ and in dist/).
 */
export async function loadAddon(path?: string): Promise<CudaDriver> {
  if (!path && cached) return cached;
  const isNode = typeof process !== 'undefined' && !!process.versions?.node;
  if (!isNode) throw new KilnRuntimeError('the CUDA executor runs in Node.js only (it needs the kiln_cuda native addon)');
  const { default: NodeModule } = await import('node:module');
  const { existsSync } = await import('node:fs');
  const { fileURLToPath } = await import('node:url');
  const candidates = [
    path,
    process.env.KILN_CUDA_ADDON,
    fileURLToPath(new URL('../../../native/cuda/build/Release/kiln_cuda.node', import.meta.url)),
  ].filter((p): p is string => !!p);
  const found = candidates.find((p) => existsSync(p));
  if (!found) {
    throw new KilnRuntimeError(`CUDA addon not built (looked for ${candidates.join(', ')}); build it with \`node native/cuda/build.mjs\` or set KILN_CUDA_ADDON`);
  }
  const req = NodeModule.createRequire(import.meta.url);
  const addon = req(found) as CudaDriver;
  if (!path) cached = addon;
  return addon;
}
