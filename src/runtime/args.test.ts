/**
 * Every runtime entry refuses bad arguments with a KilnRuntimeError naming the argument, the
 * expected and the received value: load (bytes, options, device, threads), run/runSync/step
 * (inputs, options, entries, timeoutMs), getState/setState, and the CUDA loader (options,
 * ordinal, addon files), with one wording for both executors.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseFunc } from '../ir/parse.js';
import { programOf } from '../codegen/cuda/test_util.js';
import { buildCudaArtifact } from '../codegen/cuda/artifact.js';
import '../ir/ops/index.js';
import { addScaleArtifact, counterArtifact } from '../../test/browser/fixture.js';
import { load, KilnRuntimeError, MAX_THREADS, type Program } from './index.js';
import { loadCuda, type CudaDriver } from './cuda/index.js';
import { suggest } from './args.js';

const N = 64;
const W = Float32Array.from({ length: N }, (_, i) => Math.cos(i));
const x = Float32Array.from({ length: N }, (_, i) => i / 8);

const open: { dispose(): void }[] = [];
async function loaded(bytes: Uint8Array | ArrayBuffer, opts?: Parameters<typeof load>[1]): Promise<Program> {
  const p = await load(bytes, opts);
  open.push(p);
  return p;
}
afterEach(() => {
  for (const p of open.splice(0)) p.dispose();
});

async function refused(f: () => unknown, message: RegExp): Promise<void> {
  let caught: unknown;
  try {
    await f();
  } catch (e) {
    caught = e;
  }
  expect(caught, `expected a refusal matching ${message}`).toBeInstanceOf(KilnRuntimeError);
  expect((caught as Error).message).toMatch(message);
}

describe('load() arguments', () => {
  const bytes = addScaleArtifact(W);
  it('bytes must be a Uint8Array or an ArrayBuffer', async () => {
    await refused(() => load(null as unknown as Uint8Array), /^load\(bytes\): bytes must be a Uint8Array or an ArrayBuffer holding an artifact, got null$/);
    await refused(() => load('model.kiln' as unknown as Uint8Array), /got 'model\.kiln'$/);
    await refused(() => load([1, 2, 3] as unknown as Uint8Array), /got Array\(3\)$/);
    await refused(() => load(new Float32Array(4) as unknown as Uint8Array), /got Float32Array\(4\)$/);
    // An ArrayBuffer is accepted.
    const p = await loaded(bytes.slice().buffer);
    expect(p.threads).toBe(1);
  });

  it('options: an object with known keys, the closest valid name suggested', async () => {
    await refused(() => load(bytes, 'wasm' as never), /^load\(\) options must be an object with keys among \{threads, relaxedSimd, device, warmup, chunkedRuns, ordinal, addonPath\}, got 'wasm'$/);
    await refused(() => load(bytes, { thread: 2 } as never), /^load\(\) options: unknown option 'thread' \(did you mean 'threads'\?\); valid options are: threads, relaxedSimd, device, warmup, chunkedRuns, ordinal, addonPath$/);
    await refused(() => load(bytes, { relaxedSIMD: false } as never), /unknown option 'relaxedSIMD' \(did you mean 'relaxedSimd'\?\)/);
    await refused(() => load(bytes, { quantize: true } as never), /^load\(\) options: unknown option 'quantize'; valid options are/);
    await refused(() => load(bytes, { relaxedSimd: 'no' } as never), /^load\(\) options: relaxedSimd must be a boolean, got 'no'$/);
  });

  it("device is 'wasm' or 'cuda'; options of the other device are refused", async () => {
    await refused(() => load(bytes, { device: 'gpu' } as never), /^load\(\) options: device must be one of 'wasm', 'cuda', got 'gpu'$/);
    await refused(() => load(bytes, { device: 'cdua' } as never), /got 'cdua' \(did you mean 'cuda'\?\)$/);
    await refused(() => load(bytes, { device: 'wasm', ordinal: 1 }), /^load\(\) options: 'ordinal' applies to device 'cuda' only, and this load is for device 'wasm'$/);
    await refused(() => load(bytes, { addonPath: '/x.node' }), /'addonPath' applies to device 'cuda' only/);
    await refused(() => load(bytes, { device: 'cuda', threads: 2 }), /^load\(\) options: 'threads' applies to device 'wasm' only, and this load is for device 'cuda'$/);
    expect((await loaded(bytes, { device: 'wasm' })).variant).toBe('simd');
  });

  it(`threads: an integer in [1, ${MAX_THREADS}], the limit named; the default within the host's parallelism`, async () => {
    const shared = addScaleArtifact(W, { shared: true });
    for (const bad of [0, -1, 1.5, NaN, MAX_THREADS + 1, 1000]) {
      await refused(() => load(shared, { threads: bad }), new RegExp(`^load\\(\\) options: threads must be an integer in \\[1, 64\\] \\(the runtime's limit is MAX_THREADS = 64\\), got number ${String(bad).replace('.', '\\.')}$`));
    }
    await refused(() => load(shared, { threads: '2' } as never), /threads must be an integer in \[1, 64\].*got '2'$/);
    const p = await loaded(shared);
    expect(p.threads).toBeGreaterThanOrEqual(1);
    expect(p.threads).toBeLessThanOrEqual(Math.min(availableParallelism(), 8));
  });
});

describe('run/runSync/step arguments', () => {
  it('options must be an object with known keys: a string where options go is refused (it used to run a training step)', async () => {
    const p = await loaded(counterArtifact());
    const xs = new Float32Array(16);
    await refused(() => p.run({ x: xs }, 'eval_step' as never), /^run\(\) options must be an object with keys among \{entry, timeoutMs\}, got 'eval_step'$/);
    await refused(() => p.step({ x: xs }, 'eval_step' as never), /^run\(\) options must be an object/);
    await refused(() => p.runSync({ x: xs }, 'eval_step' as never), /^runSync\(\) options must be an object with keys among \{entry\}, got 'eval_step'$/);
    await refused(() => p.run({ x: xs }, { entri: 'eval_step' } as never), /^run\(\) options: unknown option 'entri' \(did you mean 'entry'\?\); valid options are: entry, timeoutMs$/);
    await refused(() => p.run({ x: xs }, { entry: 'eval_8' }), /^unknown entry point 'eval_8'; the artifact's entries are: train_step, eval_step$/);
    await refused(() => p.run({ x: xs }, { entry: 'eval_stp' }), /^unknown entry point 'eval_stp' \(did you mean 'eval_step'\?\)/);
    await refused(() => p.runSync({ x: xs }, { entry: 3 } as never), /^unknown entry point number 3; the artifact's entries are: train_step, eval_step$/);
    await refused(() => p.entry('eval_step').run({ x: xs }, { entry: 'train_step' } as never), /^entry\('eval_step'\)\.run\(\) options: unknown option 'entry'; valid options are: timeoutMs$/);
    await refused(() => p.entry('nope'), /^unknown entry point 'nope'; the artifact's entries are: train_step, eval_step$/);
    // Nothing ran: the step counter is where it started.
    expect(p.stats.runs).toBe(0);
    expect(Array.from(p.getState('step')['step']!)).toEqual([0]);
  });

  it('timeoutMs: a positive number, on run/step only, and only where workers can stop a run', async () => {
    const shared = await loaded(addScaleArtifact(W, { shared: true }), { threads: 1 });
    for (const bad of [0, -5, NaN, Infinity, '100'])
      await refused(() => shared.run({ x }, { timeoutMs: bad as number }), /^run\(\) options: timeoutMs must be a number of milliseconds in \(0, 2147483647\], got /);
    await refused(() => shared.runSync({ x }, { timeoutMs: 100 } as never), /^runSync\(\) options: timeoutMs applies to run\(\) and step\(\) only/);
    const plain = await loaded(addScaleArtifact(W));
    await refused(() => plain.run({ x }, { timeoutMs: 100 }), /^run\(\) options: timeoutMs needs worker threads on shared memory, and this program runs on one thread without shared memory \(the artifact was compiled without threads/);
    // Within the limit, a timed run gives the same output as an untimed one.
    const timed = await shared.run({ x }, { timeoutMs: 10_000 });
    expect(Array.from(timed['y']!)).toEqual(Array.from((await shared.run({ x }))['y']!));
  });

  it('inputs: an object of the named typed arrays, each of the right dtype and length', async () => {
    const p = await loaded(addScaleArtifact(W));
    await refused(() => p.run(x as never), /^inputs must be an object of named typed arrays \{x\}, got Float32Array\(64\)$/);
    await refused(() => p.run([x] as never), /got Array\(1\)$/);
    await refused(() => p.runSync(null as never), /got null$/);
    await refused(() => p.run({ x: Array.from(x) } as never), /^input 'x' must be f32\[64\] \(64 elements, Float32Array\), got Array\(64\)$/);
    await refused(() => p.run({ x: new Float64Array(N) } as never), /got Float64Array\(64\)$/);
    await refused(() => p.run({ x: x.subarray(1) }), /got Float32Array\(63\)$/);
    await refused(() => p.run({}), /^missing input 'x' \(f32\[64\] \(64 elements, Float32Array\)\); the program's inputs are: x$/);
    await refused(() => p.run({ x, X: x }), /^unknown input 'X' \(did you mean 'x'\?\); the program's inputs are: x$/);
  });
});

describe('getState/setState arguments', () => {
  it('getState takes nothing, a name or an array of names; unknown names are listed', async () => {
    const p = await loaded(counterArtifact());
    expect(Object.keys(p.getState())).toEqual(['acc', 'step', 'total', 'h']);
    expect(Object.keys(p.getState('step'))).toEqual(['step']);
    expect(Object.keys(p.getState(['total', 'acc']))).toEqual(['total', 'acc']);
    await refused(() => p.getState('stpe'), /^getState\(\): unknown state tensor 'stpe' \(did you mean 'step'\?\); the program's state is: acc, step, total, h$/);
    await refused(() => p.getState(['acc', 'nope', 'gone']), /^getState\(\): unknown state tensors 'nope', 'gone'; the program's state is: acc, step, total, h$/);
    await refused(() => p.getState(3 as never), /^getState\(\) takes a state tensor name or an array of names, got number 3$/);
    await refused(() => p.getState([1] as never), /unknown state tensor number 1;/);
  });

  it('setState takes an object of named state tensors; all are checked before any is written', async () => {
    const p = await loaded(counterArtifact());
    await refused(() => p.setState(null as never), /^setState\(\) takes an object of named state tensors \{acc, step, total, h\}, got null$/);
    await refused(() => p.setState(new Float32Array(16) as never), /got Float32Array\(16\)$/);
    await refused(() => p.setState({ totl: new Float32Array(1) }), /^setState\(\): unknown state tensor 'totl' \(did you mean 'total'\?\); the program's state is: acc, step, total, h$/);
    await refused(() => p.setState({ total: new Float32Array([5]), step: new Float32Array(1) }), /^state tensor 'step' must be i32\[\] \(1 element, Int32Array\), got Float32Array\(1\)$/);
    expect(p.getState('total')['total']![0]).toBe(0);
  });
});

describe('CUDA loader arguments (fake driver, and the real addon loader)', () => {
  const cudaBytes = buildCudaArtifact(
    programOf(parseFunc(`func @f(%x: f32[8]) -> (y: f32[8]) {
  %0 = add(%x, %x) : f32[8]
  return %0
}`)),
    { sm: 80 },
  ).bytes;
  const driver = (): CudaDriver => {
    const mem = new Map<bigint, Uint8Array>();
    return {
      init: () => ({ devices: 1 }),
      device: () => ({ name: 'Fake GPU', major: 9, minor: 0 }),
      contextCreate: () => 1n,
      contextRelease: () => {},
      moduleLoad: () => 2n,
      moduleUnload: () => {},
      getFunction: () => 3n,
      memAlloc: (n) => (mem.set(4n, new Uint8Array(n)), 4n),
      memFree: () => {},
      memcpyHtoD: (p, off, d) => mem.get(p)!.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), off),
      memcpyDtoH: (dst, p, off) => new Uint8Array(dst.buffer, dst.byteOffset, dst.byteLength).set(mem.get(p)!.subarray(off, off + dst.byteLength)),
      launch: () => {},
      synchronize: () => {},
    };
  };

  it('validates bytes, options, ordinal and driver', async () => {
    await refused(() => loadCuda({} as never), /^loadCuda\(bytes\): bytes must be a Uint8Array or an ArrayBuffer holding an artifact, got object$/);
    await refused(() => loadCuda(cudaBytes, { driver: driver(), devcie: 'cuda' } as never), /^loadCuda\(\) options: unknown option 'devcie' \(did you mean 'device'\?\); valid options are: device, ordinal, addonPath, driver$/);
    await refused(() => loadCuda(cudaBytes, { driver: driver(), device: 'gpu' } as never), /^loadCuda\(\) options: device must be 'cuda', got 'gpu'$/);
    await refused(() => loadCuda(cudaBytes, { driver: driver(), ordinal: -1 }), /^loadCuda\(\) options: ordinal must be an integer in \[0, 2147483647\], got number -1$/);
    await refused(() => loadCuda(cudaBytes, { driver: driver(), ordinal: 0.5 }), /got number 0\.5$/);
    await refused(() => loadCuda(cudaBytes, { driver: driver(), ordinal: 1 }), /^loadCuda\(\) options: ordinal must be a device index in \[0, 1\) \(the driver reports 1 CUDA device\), got 1$/);
    await refused(() => loadCuda(cudaBytes, { driver: 'fake' as never }), /^loadCuda\(\) options: driver must be a CudaDriver object, got 'fake'$/);
    await refused(() => loadCuda(cudaBytes, { addonPath: 7 as never }), /^loadCuda\(\) options: addonPath must be the path of kiln_cuda\.node \(a non-empty string\), got number 7$/);
  });

  it('run/step/getState/setState: the same checks and wording as the WebAssembly Program', async () => {
    const p = await loadCuda(cudaBytes, { driver: driver() });
    open.push(p);
    const xs = new Float32Array(8);
    await refused(() => p.runSync({ x: xs }, 'main' as never), /^run\(\) options must be an object with keys among \{entry\}, got 'main'$/);
    await refused(() => p.run({ x: xs }, { timeoutMs: 10 } as never), /^run\(\) options: timeoutMs is not supported by the CUDA executor \(a launched kernel cannot be stopped\)/);
    await refused(() => p.run({ x: xs }, { entry: 'train' }), /^unknown entry point 'train'; the artifact's entries are: main$/);
    await refused(() => p.run(xs as never), /^inputs must be an object of named typed arrays \{x\}, got Float32Array\(8\)$/);
    await refused(() => p.run({ x: new Int32Array(8) } as never), /^input 'x' must be f32\[8\] \(8 elements, Float32Array\), got Int32Array\(8\)$/);
    await refused(() => p.getState('w'), /^getState\(\): unknown state tensor 'w'; the program's state is: \(none\)$/);
    await refused(() => p.setState({ w: xs }), /^setState\(\): unknown state tensor 'w'; the program's state is: \(none\)$/);
    expect(p.stats.runs).toBe(0);
  });

  describe('a bad addon file is named, with where it came from and why', () => {
    let dir = '';
    const saved = process.env.KILN_CUDA_ADDON;
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'kiln-addon-'));
      mkdirSync(join(dir, 'folder.node'));
      writeFileSync(join(dir, 'garbage.node'), 'not a shared object');
      writeFileSync(join(dir, 'partial.js'), 'module.exports = { init() { return { devices: 0 }; }, launch() {} };');
    });
    afterAll(() => {
      if (saved === undefined) delete process.env.KILN_CUDA_ADDON;
      else process.env.KILN_CUDA_ADDON = saved;
      rmSync(dir, { recursive: true, force: true });
    });
    const withEnv = async (file: string, message: RegExp) => {
      process.env.KILN_CUDA_ADDON = file;
      await refused(() => loadCuda(cudaBytes), message);
    };
    it('missing, a directory, not loadable, not the kiln_cuda addon', async () => {
      await withEnv(join(dir, 'absent.node'), /^CUDA addon '.*absent\.node' \(from KILN_CUDA_ADDON\) does not exist; build it with `node native\/cuda\/build\.mjs` or unset KILN_CUDA_ADDON to use the package build$/);
      await withEnv(join(dir, 'folder.node'), /^CUDA addon '.*folder\.node' \(from KILN_CUDA_ADDON\) is a directory, not a kiln_cuda\.node file$/);
      await withEnv(join(dir, 'garbage.node'), /^CUDA addon '.*garbage\.node' \(from KILN_CUDA_ADDON\) could not be loaded: .*; it must be kiln_cuda\.node as built by `node native\/cuda\/build\.mjs` for this Node\.js \(v\d+/);
      await withEnv(join(dir, 'partial.js'), /^CUDA addon '.*partial\.js' \(from KILN_CUDA_ADDON\) is not the kiln_cuda addon: it lacks the functions device, contextCreate, contextRelease, moduleLoad, moduleUnload, getFunction, memAlloc, memFree, memcpyHtoD, memcpyDtoH, synchronize$/);
      delete process.env.KILN_CUDA_ADDON;
      await refused(() => loadCuda(cudaBytes, { addonPath: join(dir, 'absent.node') }), /^CUDA addon '.*absent\.node' \(from addonPath\) does not exist; build it with `node native\/cuda\/build\.mjs`$/);
      // Through load(): options of the other device left undefined are ignored.
      await refused(() => load(cudaBytes, { device: 'cuda', threads: undefined, addonPath: join(dir, 'folder.node') }), /\(from addonPath\) is a directory/);
    });
  });
});

describe('suggest', () => {
  it('offers the closest name only when it is close', () => {
    expect(suggest('thraeds', ['threads', 'device'])).toBe(" (did you mean 'threads'?)");
    expect(suggest('DEVICE', ['threads', 'device'])).toBe(" (did you mean 'device'?)");
    expect(suggest('z', ['x'])).toBe('');
    expect(suggest('quantize', ['threads', 'device'])).toBe('');
    expect(suggest('train', ['main'])).toBe('');
    expect(suggest('stpe', ['acc', 'step'])).toBe(" (did you mean 'step'?)");
  });
});
