import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseFunc } from '../../ir/parse.js';
import { compile } from '../../compile.js';
import { programOf } from '../../codegen/cuda/test_util.js';
import { buildCudaArtifact } from '../../codegen/cuda/artifact.js';
import { loadCuda, type CudaDriver } from './index.js';
import '../../ir/ops/index.js';

const fn = () => parseFunc(`func @f(%x: f32[4,300], %y: f32[4,300]) -> (s: f32[4], z: f32[4,300]) {
  %c = constant() {value=f32[]{2}} : f32[]
  %w = constant() {value=f32[4]{1, 2, 3, 4}} : f32[4]
  %wb = broadcast_in_dim(%w) {shape=[4,300], dims=[0]} : f32[4,300]
  %cb = broadcast_in_dim(%c) {shape=[4,300], dims=[]} : f32[4,300]
  %0 = mul(%x, %wb) : f32[4,300]
  %1 = add(%0, %cb) : f32[4,300]
  %2 = reduce(%1) {op="sum", axes=[1]} : f32[4]
  %3 = add(%x, %y) : f32[4,300]
  return %2, %3
}`);

/** A driver that keeps "device memory" in host RAM and records launches (no PTX is executed). */
function fakeDriver(onLaunch: (name: string, mem: Uint8Array, start: number, end: number) => void) {
  const log: string[] = [];
  const names = new Map<bigint, string>();
  const mems = new Map<bigint, Uint8Array>();
  let next = 1n;
  const d: CudaDriver = {
    init: () => ({ devices: 1 }),
    device: () => ({ name: 'Fake GPU', major: 9, minor: 0 }),
    contextCreate: () => { log.push('ctx'); return 7n; },
    contextRelease: () => { log.push('release'); },
    moduleLoad: (ptx) => { log.push(`module ${ptx.includes('.target sm_80')}`); return 99n; },
    moduleUnload: () => { log.push('unload'); },
    getFunction: (_m, name) => { const h = next++; names.set(h, name); return h; },
    memAlloc: (bytes) => { const h = 1000n + next++; mems.set(h, new Uint8Array(bytes)); log.push(`alloc ${bytes}`); return h; },
    memFree: (p) => { mems.delete(p); log.push('free'); },
    memcpyHtoD: (p, off, data) => { mems.get(p)!.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), off); log.push(`htod ${off} ${data.byteLength}`); },
    memcpyDtoH: (dst, p, off) => { const u = new Uint8Array(dst.buffer, dst.byteOffset, dst.byteLength); u.set(mems.get(p)!.subarray(off, off + u.length)); },
    launch: (f, gx, gy, gz, bx, by, bz, _sh, mem, start, end) => { log.push(`launch ${names.get(f)} ${gx}x${gy}x${gz} ${bx}x${by}x${bz} [${start},${end})`); onLaunch(names.get(f)!, mems.get(mem)!, start, end); },
    synchronize: () => { log.push('sync'); },
  };
  return { d, log, mems };
}

describe('CUDA executor', () => {
  it('copies weights once, inputs and outputs per run at the manifest offsets, launches in schedule order', async () => {
    const p = programOf(fn());
    const art = buildCudaArtifact(p, { sm: 80 });
    const m = art.manifest;
    const xOff = m.inputs[0]!.offset, yOff = m.inputs[1]!.offset, zOff = m.outputs[1]!.offset;
    // Stand-in for the GPU: z = x + y computed from the fake device memory at the manifest offsets.
    const { d, log } = fakeDriver((_name, mem) => {
      const f = (off: number) => new Float32Array(mem.buffer, off, 1200);
      const z = f(zOff), x = f(xOff), y = f(yOff);
      for (let i = 0; i < 1200; i++) z[i] = x[i]! + y[i]!;
    });
    const prog = await loadCuda(art.bytes, { driver: d });
    expect(prog.device.name).toBe('Fake GPU');
    expect(log.filter((l) => l.startsWith('alloc'))).toEqual([`alloc ${m.cuda.memoryBytes}`]);
    expect(log).toContain(`htod ${m.weights!.offset} ${m.weights!.length}`);
    const x = Float32Array.from({ length: 1200 }, (_, i) => i), y = Float32Array.from({ length: 1200 }, (_, i) => 0.5 * i);
    const before = log.length;
    const out = prog.runSync({ x, y });
    const runLog = log.slice(before);
    expect(runLog.filter((l) => l.startsWith('htod'))).toEqual([`htod ${xOff} 4800`, `htod ${yOff} 4800`]);
    const launches = runLog.filter((l) => l.startsWith('launch'));
    expect(launches.length).toBe(p.kernels.length);
    p.kernels.forEach((k, i) => {
      const l = m.cuda.launches[i]!;
      expect(launches[i]).toBe(`launch ${k.name} ${l.grid.join('x')} ${l.block.join('x')} [0,${k.work})`);
    });
    expect(runLog[runLog.length - 1]).toBe('sync');
    expect(Array.from(out['z'] as Float32Array)).toEqual(Array.from(x, (v, i) => v + y[i]!));
    // The same checks and wording as the WebAssembly Program (runtime/args.ts).
    expect(() => prog.runSync({ x })).toThrow(/^missing input 'y' \(f32\[4,300\] \(1200 elements, Float32Array\)\); the program's inputs are: x, y$/);
    expect(() => prog.runSync({ x: new Float32Array(3), y })).toThrow(/^input 'x' must be f32\[4,300\] \(1200 elements, Float32Array\), got Float32Array\(3\)$/);
    prog.dispose();
    expect(log.slice(-3)).toEqual(['free', 'unload', 'release']);
    expect(() => prog.runSync({ x, y })).toThrow(/disposed/);
  });

  it('refuses artifacts for another target or a newer GPU, naming both', async () => {
    const wasm = compile(fn());
    await expect(loadCuda(wasm.bytes, { driver: fakeDriver(() => {}).d })).rejects.toThrow(/artifact targets 'wasm'; the CUDA executor runs 'cuda' artifacts/);
    const old = fakeDriver(() => {}).d;
    old.device = () => ({ name: 'Old GPU', major: 8, minor: 0 });
    const sm90 = buildCudaArtifact(programOf(fn()), { sm: 90 });
    await expect(loadCuda(sm90.bytes, { driver: old })).rejects.toThrow(/compiled for sm_90 but device 0 \(Old GPU\) is sm_80/);
  });

  const addonPath = fileURLToPath(new URL('../../../native/cuda/build/Release/kiln_cuda.node', import.meta.url));
  const buildScript = fileURLToPath(new URL('../../../native/cuda/build.mjs', import.meta.url));
  it('without a driver, loading says "CUDA driver not found" (the real addon, dlopen of libcuda.so.1)', async () => {
    if (!existsSync(addonPath)) spawnSync(process.execPath, [buildScript], { stdio: 'ignore', env: { ...process.env, KILN_CUDA_BUILD: 'direct' } });
    if (!existsSync(addonPath)) {
      console.warn('SKIPPED: the kiln_cuda addon could not be built here (no C++ compiler or Node headers)');
      return;
    }
    const { existsSync: has } = await import('node:fs');
    const driverPresent = ['/usr/lib/x86_64-linux-gnu/libcuda.so.1', '/usr/lib64/libcuda.so.1', '/usr/lib/wsl/lib/libcuda.so.1'].some((p) => has(p));
    const art = buildCudaArtifact(programOf(fn()), { sm: 80 });
    if (driverPresent) {
      console.warn('SKIPPED: this machine has a CUDA driver; the no-driver error cannot be observed');
      return;
    }
    await expect(loadCuda(art.bytes, { addonPath })).rejects.toThrow(/^CUDA driver not found \(libcuda\.so\.1 could not be loaded\): .*libcuda\.so\.1/);
  });

  it('decodes encoded weights (format version 5) on the host and uploads the f32 image', async () => {
    const { sequential, layers } = await import('../../keras/index.js');
    const { readArtifact } = await import('../artifact.js');
    const { decodeWeights } = await import('../weights_codec.js');
    const mlp = sequential({ layers: [layers.dense({ units: 48, activation: 'relu', inputShape: [40] }), layers.dense({ units: 3 })] });
    for (const mode of ['int8-weights', 'float16-weights'] as const) {
      const art = compile(mlp, { target: 'cuda', quantize: { mode } });
      const { manifest: m, sections } = readArtifact(art.bytes);
      expect(m.version).toBe(5);
      const w = m.weights!;
      expect(sections['weights']!.length).toBeLessThan(w.length);
      const { d, log, mems } = fakeDriver(() => {});
      const prog = await loadCuda(art.bytes, { driver: d });
      expect(log).toContain(`htod ${w.offset} ${w.length}`);
      const want = new Uint8Array(w.length);
      decodeWeights(sections['weights']!, w.encoding!, want);
      const device = [...mems.values()][0]!;
      expect(Array.from(device.subarray(w.offset, w.offset + w.length))).toEqual(Array.from(want));
      // Within the encoding's error of the f32 weights the compiler packed.
      const exact = new Float32Array(art.program.weights.slice().buffer), got = new Float32Array(want.buffer);
      const tol = mode === 'int8-weights' ? 1 / 127 : 1 / 1024;
      const bound = tol * 0.5 * Math.max(...exact.map(Math.abs));
      expect(Math.max(...got.map((v, i) => Math.abs(v - exact[i]!)))).toBeLessThanOrEqual(bound);
      prog.dispose();
    }
  });
});
