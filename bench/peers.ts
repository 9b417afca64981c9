/**
 * TensorFlow.js peers for Kiln's benchmarks, set up in Node in the same
 * process: tfjs-backend-cpu and tfjs-backend-wasm (SIMD), the latter with a
 * chosen number of threads.
 *
 * Multithreaded tfjs-backend-wasm in Node takes four workarounds, because the
 * package only enables threads in browsers:
 *  1. The WASM_HAS_MULTITHREAD_SUPPORT flag returns false under IS_NODE
 *     (tfjs issue #3830), so it is forced to true before the backend starts.
 *  2. Emscripten's pthread pool starts workers from `blob:` URLs (the worker
 *     script, from URL.createObjectURL) and hands each worker the main script
 *     as a Blob. Node's worker_threads cannot load blob: URLs and a Blob cannot
 *     be read synchronously, so a Blob subclass records the source text it is
 *     built from and URL.createObjectURL writes that text to a temporary .cjs
 *     file and returns the file path, which worker_threads can load. The
 *     worker script is rewritten to import the main script from its file.
 *  3. The main script is the Emscripten factory's source (`fn.toString()`)
 *     cut out of tfjs's Node bundle, so inside a worker it refers to that
 *     bundle's module-level names (commonjsGlobal, require$$0..4); a prelude
 *     in the worker file defines them.
 *  4. The threaded build's shared memory grows inside wasm (malloc), but the
 *     backend's JS reads Module.HEAPU8/HEAPF32/... which Emscripten refreshes
 *     lazily only from its own code, so a stale, too-short view throws
 *     "Invalid typed array length". The HEAP* properties become getters that
 *     rebuild the view when wasmMemory.buffer has changed, and the memory is
 *     grown to 1 GiB from JS up front (growth from wasm can leave the JS-side
 *     buffer stale for a while even through the getters).
 *  5. The C++ side caps the pool at os.cpus().length / 2 threads, so
 *     os.cpus() is patched to report at least 2 * threads entries.
 * The thread count is set per run with BackendWasm's init_with_threads_count
 * (what setThreadsCount feeds at backend creation) and read back with
 * get_threads_count, so callers can check it took effect.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';

/** What the Emscripten module object of tfjs-backend-wasm exposes that we use. */
interface WasmTfjsApi {
  initWithThreadsCount(n: number): void;
  getThreadsCount(): number;
}
interface BackendWasmLike {
  wasm: { tfjs: WasmTfjsApi; wasmMemory?: WebAssembly.Memory } & Record<string, unknown>;
}

const HEAP_VIEWS = {
  HEAP8: Int8Array,
  HEAP16: Int16Array,
  HEAP32: Int32Array,
  HEAPU8: Uint8Array,
  HEAPU16: Uint16Array,
  HEAPU32: Uint32Array,
  HEAPF32: Float32Array,
  HEAPF64: Float64Array,
} as const;

/** 1 GiB: room for the benchmarks' tensors without growth from inside wasm. */
const PREGROW_PAGES = 16384;

/** Make Module.HEAP* views follow memory growth (workaround 4 above). */
function refreshHeapViewsOnGrowth(module: BackendWasmLike['wasm']): void {
  const memory = module.wasmMemory;
  if (!memory) return;
  // Growing from JS up front keeps malloc from growing the memory from wasm
  // during a kernel, when V8 can still hand JS the old, shorter buffer.
  const pages = memory.buffer.byteLength / 65536;
  if (pages < PREGROW_PAGES) memory.grow(PREGROW_PAGES - pages);
  for (const [name, Ctor] of Object.entries(HEAP_VIEWS)) {
    let view = module[name] as ArrayBufferView;
    Object.defineProperty(module, name, {
      configurable: true,
      get: () => {
        if (view.buffer !== memory.buffer) view = new Ctor(memory.buffer);
        return view;
      },
      set: (v: ArrayBufferView) => {
        view = v;
      },
    });
  }
}

const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-tfjs-wasm-'));
const blobSources = new WeakMap<Blob, string>();
let mainScriptPath: string | null = null;

const WORKER_PRELUDE = [
  // Names the factory source closes over in tf-backend-wasm.node.js, as
  // globals: the worker evaluates the main script with an indirect eval.
  'globalThis.commonjsGlobal = globalThis;',
  "Object.assign(globalThis, { require$$0: require('fs'), require$$1: require('path'), require$$3: require('perf_hooks'), require$$4: require('os') });",
  '',
].join('\n');

function installBlobUrlShims(): void {
  const g = globalThis as unknown as { Blob: typeof Blob };
  const NativeBlob = g.Blob;
  class RecordingBlob extends NativeBlob {
    constructor(parts?: BlobPart[], options?: BlobPropertyBag) {
      super(parts, options);
      if (parts && parts.every((p) => typeof p === 'string')) {
        const text = (parts as string[]).join('');
        blobSources.set(this, text);
        if (text.startsWith('var WasmBackendModuleThreadedSimd')) {
          mainScriptPath = path.join(tmpDir, 'tfjs-backend-wasm-threaded-simd.main.cjs');
          fs.writeFileSync(mainScriptPath, text);
        }
      }
    }
  }
  g.Blob = RecordingBlob;
  const nativeCreate = URL.createObjectURL.bind(URL);
  let n = 0;
  URL.createObjectURL = (obj: Blob): string => {
    const text = blobSources.get(obj);
    if (text === undefined) return nativeCreate(obj);
    let source = text;
    if (text.includes('urlOrBlob')) {
      if (!mainScriptPath) throw new Error('peers: the tfjs-backend-wasm main script was not captured before its worker');
      // Load the main script from its file instead of from a Blob.
      source = text.replace(
        'typeof e.data.urlOrBlob=="string"){importScripts(e.data.urlOrBlob)',
        `true){importScripts(${JSON.stringify(mainScriptPath)})`,
      );
      source = WORKER_PRELUDE + source;
    }
    const file = path.join(tmpDir, `blob-${n++}.cjs`);
    fs.writeFileSync(file, source);
    return file;
  };
}

function reportCpus(count: number): void {
  const real = os.cpus();
  const cpus = Array.from({ length: Math.max(count, real.length) }, (_, i) => real[i % real.length]!);
  (os as unknown as { cpus: () => os.CpuInfo[] }).cpus = () => cpus;
}

let wasmReady: Promise<BackendWasmLike> | null = null;

/** Start tfjs-backend-wasm (threaded SIMD build) once; `maxThreads` sizes the os.cpus() shim. */
export function startWasmBackend(maxThreads = 2): Promise<BackendWasmLike> {
  wasmReady ??= (async () => {
    installBlobUrlShims();
    reportCpus(2 * maxThreads);
    const wasmPkg = (await import('@tensorflow/tfjs-backend-wasm')) as unknown as {
      setThreadsCount(n: number): void;
      default?: { setThreadsCount(n: number): void };
    };
    // The flags exist once the package has registered them.
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
    tf.env().set('WASM_HAS_SIMD_SUPPORT', true);
    (wasmPkg.setThreadsCount ?? wasmPkg.default!.setThreadsCount)(maxThreads);
    await tf.setBackend('wasm');
    await tf.ready();
    const backend = tf.backend() as unknown as BackendWasmLike;
    refreshHeapViewsOnGrowth(backend.wasm);
    return backend;
  })();
  return wasmReady;
}

export type PeerName = 'tfjs-cpu' | 'tfjs-wasm-1t' | 'tfjs-wasm-2t';

/**
 * Make `peer` the active tfjs backend. For wasm peers, sets the pool size and
 * returns the thread count the backend reports (which must be checked: the
 * pool silently falls back to 1 when threads are unavailable).
 */
export async function usePeer(peer: PeerName): Promise<number> {
  if (peer === 'tfjs-cpu') {
    await tf.setBackend('cpu');
    await tf.ready();
    return 1;
  }
  const backend = await startWasmBackend(2);
  await tf.setBackend('wasm');
  const want = peer === 'tfjs-wasm-2t' ? 2 : 1;
  const api = backend.wasm.tfjs;
  if (api.getThreadsCount() !== want) {
    // Each init_with_threads_count builds a new pool; measured: the first
    // multi-thread pool after a switch runs in parallel (cpu/wall ~1.95 at 2
    // threads), but returning to 2 threads a second time gives a pool whose
    // worker no longer runs alongside the main thread (cpu/wall ~1). So a
    // process may enter the multi-thread setting once.
    if (want > 1 && enteredMultiThread) {
      throw new Error(
        `peers: tfjs-backend-wasm cannot return to ${want} threads in this process; ` +
          'run each thread count in one stretch (all 1-thread cases, then all 2-thread cases)',
      );
    }
    api.initWithThreadsCount(want);
  }
  if (want > 1) enteredMultiThread = true;
  return api.getThreadsCount();
}

let enteredMultiThread = false;

export { tf };
