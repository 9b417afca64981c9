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

// An int8 GEMM micro-kernel from codegen/wasm/gemm_i8.ts (1 row x 8 columns x K=4, relaxed build:
// two i32x4.relaxed_dot_i8x16_i7x16_add_s per weight vector), and its packed weights + column
// corrections. V8 11.3 (Node 20) computes this kernel wrongly on its baseline tier (Liftoff) while
// its optimizing tier is exact; the simple one-instruction case is right on both, so the probe is
// the real kernel pattern, with enough live vectors to hit the miscompile.
const DOT_PROBE =
  'AGFzbQEAAAABBgFgAn9/AAIPAQNlbnYGbWVtb3J5AgABAwIBAAcFAQFnAAAKjQIBigICB38GewNAIAAgAU9FBEAgAEEEdCEGIABBB3QhB0EQIQRBACEDA0AgA0ECdEEQaiIC/QAEICEJIAL9AAQwIQogBCECIAYiBUEEaiEIA0AgBf0JAAAiDf1NIgsgAv0ABAAiDP0MAAAAAAAAAAAAAAAAAAAAAP14Ig4gDP1xIA0gDiAJ/ZMC/ZMCIQkgCyAC/QAEECIL/QwAAAAAAAAAAAAAAAAAAAAA/XgiDCAL/XEgDSAMIAr9kwL9kwIhCiACQSBqIQIgCCAFQQRqIgVHDQALIAcgA0ECdGoiAiAJ/QsCgAEgAiAK/QsCkAEgBEEgaiEEIANBCGoiA0EISQ0ACyAAQQFqIQAMAQsLCw==';
const DOT_PROBE_WEIGHTS = 'gYiPlo6VnKOboqmwqK+2vbW8w8rCydDXz9bd5Nzj6vHSAQAAngEAAGoBAAA2AQAAAgEAAM4AAACaAAAAZgAAAA==';

const fromBase64 = (s: string): Uint8Array<ArrayBuffer> => Uint8Array.from(atob(s), (ch) => ch.charCodeAt(0));

/**
 * Whether the relaxed int8 dot product computes exactly here, checked at load on the tier that runs
 * a freshly compiled kernel first (where V8 11.3 is wrong): relaxed modules that use it fall back to
 * the plain module when not. Not cached, as relaxedSimdAvailable.
 */
export function relaxedDotExact(): boolean {
  if (!relaxedSimdAvailable()) return false;
  try {
    const memory = new WebAssembly.Memory({ initial: 1 });
    const u8 = new Uint8Array(memory.buffer);
    const a = [-128, -91, -54, -17];
    u8.set(a.map((x) => x & 255), 0);
    u8.set(fromBase64(DOT_PROBE_WEIGHTS), 16);
    const inst = new WebAssembly.Instance(new WebAssembly.Module(fromBase64(DOT_PROBE)), { env: { memory } });
    (inst.exports['g'] as (s: number, e: number) => void)(0, 1);
    const out = new Int32Array(memory.buffer, 128, 8);
    for (let n = 0; n < 8; n++) {
      let want = 0;
      for (let k = 0; k < 4; k++) want += a[k]! * (((k * 7 + n * 13) % 255) - 127);
      if (out[n] !== want) return false;
    }
    return true;
  } catch {
    return false;
  }
}

/** Whether a WebAssembly module's code contains i32x4.relaxed_dot_i8x16_i7x16_add_s (0xfd 0x113). */
export function usesRelaxedDot(bytes: Uint8Array): boolean {
  for (let i = 0; i + 2 < bytes.length; i++) if (bytes[i] === 0xfd && bytes[i + 1] === 0x93 && bytes[i + 2] === 0x02) return true;
  return false;
}
