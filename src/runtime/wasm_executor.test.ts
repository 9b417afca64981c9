import { afterEach, describe, expect, it } from 'vitest';
import { load, readArtifact, writeArtifact, KilnRuntimeError, type Program, type ManifestInput } from './index.js';
import {
  addScaleArtifact,
  addScaleLayout,
  addScaleReference,
  assemble,
  copyArtifact,
} from '../../test/browser/fixture.js';

const N = 64;
const rand = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + seed) * 3);
const W = rand(N, 1);

const open: Program[] = [];
async function loaded(bytes: Uint8Array, opts?: Parameters<typeof load>[1]): Promise<Program> {
  const p = await load(bytes, opts);
  open.push(p);
  return p;
}
afterEach(() => {
  for (const p of open.splice(0)) p.dispose();
});

async function expectRejects(p: Promise<unknown> | (() => unknown), message: RegExp): Promise<void> {
  let caught: unknown;
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(KilnRuntimeError);
  expect((caught as Error).message).toMatch(message);
}

function expectClose(actual: Float32Array, expected: Float32Array, tol = 1e-5): void {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < actual.length; i++) worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!) / (1 + Math.abs(expected[i]!)));
  expect(worst).toBeLessThanOrEqual(tol);
}

describe('wasm executor', () => {
  it('runs a 3-kernel SIMD program single-threaded and matches the JS computation', async () => {
    const prog = await loaded(addScaleArtifact(W));
    expect(prog.threads).toBe(1);
    expect(prog.variant).toBe('simd');
    expect(prog.inputs).toEqual([{ name: 'x', shape: [N], dtype: 'f32' }]);
    expect(prog.outputs.map((o) => [o.name, o.shape])).toEqual([
      ['y', [N / 4, 4]],
      ['sum', []],
    ]);
    for (const seed of [2, 3]) {
      const x = rand(N, seed);
      const ref = addScaleReference(x, W);
      const out = await prog.run({ x });
      expect(out['y']).toBeInstanceOf(Float32Array);
      expect(Array.from(out['y']!)).toEqual(Array.from(ref.y)); // mul+add in f32, same order: exact
      expect(out['sum']![0]).toBe(ref.sum);
      expect(out['sum']!.length).toBe(1);
    }
  });

  it.each([1, 2, 3])('runs on shared memory with %i thread(s), main thread participating', async (threads) => {
    const prog = await loaded(addScaleArtifact(W, { shared: true }), { threads });
    expect(prog.threads).toBe(threads);
    // Repeated runs with changing inputs shake out barrier races: the scale
    // kernel reads the add kernel's output from other threads' chunks, and
    // sum reads everything scale wrote.
    for (let r = 0; r < 40; r++) {
      const x = rand(N, 10 + r);
      const ref = addScaleReference(x, W);
      const out = r % 2 ? prog.runSync({ x }) : await prog.run({ x });
      expect(Array.from(out['y']!)).toEqual(Array.from(ref.y));
      expect(out['sum']![0]).toBe(ref.sum);
    }
  });

  it('gives threads idle when a kernel has fewer work items than threads or than minWorkPerThread', async () => {
    // 8 elements = 2 groups over 3 threads; and a grain that keeps the kernels on one thread.
    const w8 = rand(8, 4);
    for (const opts of [{}, { minWorkPerThread: 100 }]) {
      const prog = await loaded(addScaleArtifact(w8, { shared: true, ...opts }), { threads: 3 });
      const x = rand(8, 5);
      const out = prog.runSync({ x });
      expect(Array.from(out['y']!)).toEqual(Array.from(addScaleReference(x, w8).y));
    }
  });

  it('returns fresh arrays that later runs do not overwrite', async () => {
    const prog = await loaded(addScaleArtifact(W, { shared: true }), { threads: 2 });
    const x1 = rand(N, 1);
    const first = prog.runSync({ x: x1 });
    prog.runSync({ x: rand(N, 2) });
    expect(Array.from(first['y']!)).toEqual(Array.from(addScaleReference(x1, W).y));
  });

  it('reports a trap with the kernel and thread, and keeps working afterwards', async () => {
    for (const threads of [1, 2]) {
      const prog = await loaded(addScaleArtifact(W, { shared: true, trapKernel: true }), { threads });
      const x = rand(N, 7);
      const flag0 = new Int32Array([0]);
      expect(prog.runSync({ x, flag: flag0 })['sum']![0]).toBe(addScaleReference(x, W).sum);
      // Threads 2: thread 0 gets [0, n/4) and is fine; the worker's chunk reaches past n/4.
      const thread = threads === 1 ? 0 : 1;
      await expectRejects(
        prog.run({ x, flag: new Int32Array([1]) }),
        new RegExp(`kernel 'maybe_trap' \\(schedule step 3\\) failed on thread ${thread}: .*unreachable`),
      );
      expect(prog.runSync({ x, flag: flag0 })['sum']![0]).toBe(addScaleReference(x, W).sum);
    }
  });

  it('validates inputs: missing, unexpected, wrong type, wrong length', async () => {
    const prog = await loaded(addScaleArtifact(W));
    const x = rand(N, 1);
    await expectRejects(() => prog.runSync({}), /missing input 'x' \(f32\[64\] \(64 elements, Float32Array\)\)/);
    await expectRejects(prog.run({ x, z: x }), /unknown input 'z'; the program's inputs are: x/);
    await expectRejects(
      () => prog.runSync({ x: new Float32Array(100) }),
      /input 'x' must be f32\[64\] \(64 elements, Float32Array\), got Float32Array\(100\)/,
    );
    await expectRejects(() => prog.runSync({ x: new Int32Array(N) }), /input 'x' must be .*Float32Array\), got Int32Array\(64\)/);
    await expectRejects(() => prog.runSync({ x: Array.from(x) as unknown as Float32Array }), /got Array\(64\)/);
    await expectRejects(() => prog.runSync(null as unknown as Record<string, Float32Array>), /inputs must be an object of named typed arrays \{x\}, got null/);
  });

  it('refuses threads on an artifact compiled without shared memory, and bad thread counts', async () => {
    const bytes = addScaleArtifact(W);
    await expectRejects(load(bytes, { threads: 2 }), /compiled without threads.*threads: 1/);
    await expectRejects(load(bytes, { threads: 0 }), /load\(\) options: threads must be an integer in \[1, 64\] \(the runtime's limit is MAX_THREADS = 64\), got number 0/);
    await expectRejects(load(bytes, { threads: 1.5 }), /threads must be an integer in \[1, 64\].*got number 1.5/);
  });

  it('picks a default thread count within the host and the cap', async () => {
    const prog = await loaded(addScaleArtifact(W, { shared: true }));
    // The fixture's threads.default is 2; a 1-core host would give 1.
    expect(prog.threads).toBeGreaterThanOrEqual(1);
    expect(prog.threads).toBeLessThanOrEqual(2);
    const x = rand(N, 3);
    expect(prog.runSync({ x })['sum']![0]).toBe(addScaleReference(x, W).sum);
  });

  it('dispose stops the workers and later runs fail clearly', async () => {
    const prog = await load(addScaleArtifact(W, { shared: true }), { threads: 3 });
    prog.dispose();
    prog.dispose(); // idempotent
    await expectRejects(() => prog.runSync({ x: rand(N, 1) }), /disposed/);
  });

  it('converts every dtype at the boundary (f16/bf16 via Float32Array)', async () => {
    // Copy kernel: inputs land in one region, outputs view the copied bytes,
    // sometimes under another dtype so the encoding itself is checked.
    const bytes = copyArtifact(
      [
        { name: 'h', shape: [4], dtype: 'f16', at: 0 },
        { name: 'b', shape: [2], dtype: 'bf16', at: 16 },
        { name: 'i', shape: [3], dtype: 'i32', at: 32 },
        { name: 's', shape: [2, 2], dtype: 'i8', at: 48 },
        { name: 'u', shape: [3], dtype: 'u8', at: 64 },
        { name: 'q', shape: [2], dtype: 'bool', at: 80 },
      ],
      [
        { name: 'h_back', shape: [4], dtype: 'f16', at: 0 },
        { name: 'h_bits', shape: [8], dtype: 'u8', at: 0 },
        { name: 'b_bits', shape: [4], dtype: 'u8', at: 16 },
        { name: 'b_back', shape: [2], dtype: 'bf16', at: 16 },
        { name: 'i_back', shape: [3], dtype: 'i32', at: 32 },
        { name: 's_back', shape: [4], dtype: 'i8', at: 48 },
        { name: 'u_back', shape: [3], dtype: 'u8', at: 64 },
        { name: 'q_back', shape: [2], dtype: 'bool', at: 80 },
      ],
      96,
    );
    const prog = await loaded(bytes);
    const out = await prog.run({
      h: new Float32Array([1, -2, 0.5, 65504]),
      b: new Float32Array([1, Math.PI]),
      i: new Int32Array([-7, 2 ** 31 - 1, 0]),
      s: new Int8Array([-128, 127, -1, 5]),
      u: new Uint8Array([0, 200, 255]),
      q: new Uint8Array([1, 0]),
    });
    expect(Array.from(out['h_back']!)).toEqual([1, -2, 0.5, 65504]);
    expect(out['h_back']).toBeInstanceOf(Float32Array);
    // Little-endian IEEE half bits: 0x3c00, 0xc000, 0x3800, 0x7bff.
    expect(Array.from(out['h_bits']!)).toEqual([0x00, 0x3c, 0x00, 0xc0, 0x00, 0x38, 0xff, 0x7b]);
    expect(Array.from(out['b_bits']!)).toEqual([0x80, 0x3f, 0x49, 0x40]);
    expect(Array.from(out['b_back']!)).toEqual([1, 3.140625]);
    expect(out['i_back']).toBeInstanceOf(Int32Array);
    expect(Array.from(out['i_back']!)).toEqual([-7, 2 ** 31 - 1, 0]);
    expect(out['s_back']).toBeInstanceOf(Int8Array);
    expect(Array.from(out['s_back']!)).toEqual([-128, 127, -1, 5]);
    expect(Array.from(out['u_back']!)).toEqual([0, 200, 255]);
    expect(out['q_back']).toBeInstanceOf(Uint8Array);
    expect(Array.from(out['q_back']!)).toEqual([1, 0]);
    await expectRejects(prog.run({ ...({} as Record<string, Float32Array>) }), /missing input 'h' \(f16\[4\] \(4 elements, Float32Array\)\)/);
  });
});

describe('wasm executor: load errors', () => {
  const base = readArtifact(addScaleArtifact(W));
  const rewrite = (patch: (m: ManifestInput) => void, sections = base.sections): Uint8Array => {
    const m = structuredClone(base.manifest) as ManifestInput;
    patch(m);
    return writeArtifact({ manifest: m, sections });
  };

  it('reads container errors before anything else', async () => {
    await expectRejects(load(new Uint8Array(20)), /not a Kiln artifact: bad magic/);
    const bytes = addScaleArtifact(W);
    await expectRejects(load(bytes.subarray(0, bytes.length - 5)), /damaged Kiln artifact: checksum mismatch/);
  });

  it('names the manifest field that is wrong', async () => {
    await expectRejects(load(rewrite((m) => (m.target = 'cuda'))), /targets 'cuda'; this executor runs 'wasm'/);
    await expectRejects(load(rewrite((m) => (m.schedule = [0, 5]))), /manifest\.schedule\[1\] must be an integer in \[0, 2\], got 5/);
    await expectRejects(
      load(rewrite((m) => (m.outputs[0]!.offset = 65536 - 8))),
      /manifest\.outputs\[0\] \('y'\) \[65528, \d+\) does not fit the 65536-byte memory/,
    );
    await expectRejects(load(rewrite((m) => (m.inputs[0]!.offset = 66))), /manifest\.inputs\[0\]\.offset must be a multiple of the f32 size 4, got 66/);
    await expectRejects(load(rewrite((m) => ((m.inputs[0] as { dtype: string }).dtype = 'f64'))), /manifest\.inputs\[0\]\.dtype must be one of .*, got "f64"/);
    await expectRejects(load(rewrite((m) => (m.weights!.length = 12))), /manifest\.weights\.length must be the 'weights' section's size 256, got 12/);
    await expectRejects(load(rewrite((m) => (m.kernels[1]!.name = 'nope'))), /kernel 'nope' is listed in the manifest but the 'wasm' module exports no such function/);
    await expectRejects(load(rewrite(() => {}, { weights: base.sections['weights']! })), /needs a 'wasm' section/);
  });

  it('explains a memory mismatch and a module that imports more than env.memory', async () => {
    // Manifest says not shared, module imports shared memory.
    const shared = readArtifact(addScaleArtifact(W, { shared: true }));
    await expectRejects(load(rewrite(() => {}, shared.sections)), /could not instantiate the 'wasm' module: .*shared: false/);
    const importing = assemble(`(module (import "env" "memory" (memory 1 1)) (import "env" "log" (func $log (param i32)))
      (func (export "add") (param i32 i32)) (func (export "scale") (param i32 i32)) (func (export "sum") (param i32 i32)))`);
    await expectRejects(
      load(rewrite(() => {}, { wasm: importing, weights: base.sections['weights']! })),
      /imports function 'env.log'; Kiln modules may import only the memory env.memory/,
    );
    await expectRejects(load(rewrite(() => {}, { wasm: new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 99]), weights: base.sections['weights']! })), /the 'wasm' section is not a WebAssembly module/);
  });
});
