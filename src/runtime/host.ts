/**
 * What the host can do, detected without setting anything: Node or browser,
 * threads (SharedArrayBuffer, workers, cross-origin isolation), whether this
 * thread may block in Atomics.wait, the core count, and relaxed SIMD.
 */

interface HostGlobals {
  process?: { versions?: { node?: string } };
  navigator?: { hardwareConcurrency?: number };
  crossOriginIsolated?: boolean;
  Worker?: unknown;
}
const g = globalThis as unknown as HostGlobals;

export const isNode = typeof g.process?.versions?.node === 'string';

/** Shared memory and a way to start workers; browsers also need cross-origin isolation. */
export function threadsAvailable(): boolean {
  if (typeof SharedArrayBuffer !== 'function') return false;
  if (isNode) return true;
  return typeof g.Worker === 'function' && g.crossOriginIsolated === true;
}

/** Atomics.wait throws on a browser's main thread; elsewhere it is allowed. */
export function canBlock(): boolean {
  if (typeof SharedArrayBuffer !== 'function') return false;
  try {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
    return true;
  } catch {
    return false;
  }
}

const NODE_OS_MODULE = 'node:os';

export async function hardwareThreads(): Promise<number> {
  const n = g.navigator?.hardwareConcurrency;
  if (typeof n === 'number' && n > 0) return n;
  if (isNode) {
    const os = (await import(/* @vite-ignore */ NODE_OS_MODULE)) as {
      availableParallelism?: () => number;
      cpus: () => unknown[];
    };
    return os.availableParallelism?.() ?? os.cpus().length;
  }
  return 1;
}

// (func (param v128) (result v128) local.get 0 local.get 0 local.get 0 f32x4.relaxed_madd)
const RELAXED_SIMD_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x06, 0x01, 0x60, 0x01, 0x7b, 0x01, 0x7b, 0x03, 0x02, 0x01,
  0x00, 0x0a, 0x0d, 0x01, 0x0b, 0x00, 0x20, 0x00, 0x20, 0x00, 0x20, 0x00, 0xfd, 0x85, 0x02, 0x0b,
]);

/** Not cached: in Node the flag that enables it can be set after this module loads. */
export function relaxedSimdAvailable(): boolean {
  return WebAssembly.validate(RELAXED_SIMD_PROBE);
}
