/**
 * The artifact validator: every rule refuses a manifest edited to break it with a
 * KilnRuntimeError naming the field path and the bad value, before anything runs. Edited files
 * are re-sealed (a correct checksum) so the structural checks, not the checksum, answer; with
 * `rebind` the code is re-bound to the edited manifest too (a consistent forgery), so what answers
 * is the rule itself and not the binding. The oracle for "accepted" is the unedited artifact's
 * outputs.
 */
import { describe, expect, it } from 'vitest';
import { parseFunc } from '../ir/parse.js';
import { compile } from '../compile.js';
import { programOf } from '../codegen/cuda/test_util.js';
import { buildCudaArtifact } from '../codegen/cuda/artifact.js';
import { assemble } from '../../test/fuzz/assemble.js';
import { parseSeed } from '../../test/fuzz/mutate.js';
import { relaxedSimdAvailable } from './host.js';
import { load, readArtifact, KilnRuntimeError, type Program } from './index.js';
import { checkCudaManifest, loadCuda, type CudaDriver } from './cuda/index.js';
import '../ir/ops/index.js';

const fn = () => parseFunc(`func @f(%x: f32[4,64], %y: f32[4,64]) -> (s: f32[4], z: f32[4,64]) {
  %c = constant() {value=f32[]{2}} : f32[]
  %w = constant() {value=f32[4]{1, 2, 3, 4}} : f32[4]
  %wb = broadcast_in_dim(%w) {shape=[4,64], dims=[0]} : f32[4,64]
  %cb = broadcast_in_dim(%c) {shape=[4,64], dims=[]} : f32[4,64]
  %0 = mul(%x, %wb) : f32[4,64]
  %1 = add(%0, %cb) : f32[4,64]
  %2 = reduce(%1) {op="sum", axes=[1]} : f32[4]
  %3 = add(%x, %y) : f32[4,64]
  return %2, %3
}`);

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- edits reach anywhere in the JSON

const wasmBytes = compile(fn(), { threads: false, name: 'v' }).bytes;
const seed = parseSeed(wasmBytes);
const x = Float32Array.from({ length: 256 }, (_, i) => Math.sin(i));
const y = Float32Array.from({ length: 256 }, (_, i) => Math.cos(i));

/** The artifact with its manifest edited and the file re-sealed (and re-bound, with `rebind`). */
function edited(edit: (m: Obj, s: Record<string, Uint8Array>) => void, o: { rebind?: boolean; from?: typeof seed } = {}): Uint8Array {
  const from = o.from ?? seed;
  const m = structuredClone(from.manifest) as Obj;
  const sections = { ...from.sections };
  edit(m, sections);
  return assemble(m, sections, { rebind: o.rebind ?? false, version: 3 });
}

async function rejects(bytes: Uint8Array, message: RegExp): Promise<void> {
  let caught: unknown;
  let prog: Program | undefined;
  try {
    prog = await load(bytes);
  } catch (e) {
    caught = e;
  }
  prog?.dispose();
  expect(caught, `expected a rejection matching ${message}`).toBeInstanceOf(KilnRuntimeError);
  expect((caught as Error).message).toMatch(message);
}

async function outputs(bytes: Uint8Array): Promise<number[]> {
  const p = await load(bytes);
  try {
    const out = p.runSync({ [p.inputs[0]!.name]: x, [p.inputs[1]!.name]: y });
    return Object.keys(out).sort().flatMap((k) => Array.from(out[k]!));
  } finally {
    p.dispose();
  }
}

describe('manifest validator (wasm)', () => {
  const m0 = seed.manifest as Obj;
  const w = m0.weights as { offset: number; length: number };

  it('accepts the unedited artifact, and edits of fields the program does not depend on', async () => {
    const want = await outputs(wasmBytes);
    expect(await outputs(edited(() => {}))).toEqual(want);
    expect(await outputs(edited((m) => ((m.name = 'renamed'), (m.meta = { any: [1] }), (m.createdBy = 'someone'))))).toEqual(want);
  });

  it('names the field and the bad value for integers out of range, wrong types and nulls', async () => {
    const cases: [(m: Obj) => void, RegExp][] = [
      [(m) => (m.kernels[0].work = 2 ** 32), /invalid artifact manifest: manifest\.kernels\[0\]\.work must be an integer in \[0, 2\^31\), got 4294967296/],
      [(m) => (m.kernels[0].work = -1), /manifest\.kernels\[0\]\.work must be an integer in \[0, 2\^31\), got -1/],
      [(m) => (m.kernels[0].work = 0.5), /manifest\.kernels\[0\]\.work must be an integer .*, got 0\.5/],
      [(m) => (m.kernels[0].work = '7'), /manifest\.kernels\[0\]\.work must be an integer .*, got "7"/],
      [(m) => (m.kernels[0].minWorkPerThread = 2 ** 31), /manifest\.kernels\[0\]\.minWorkPerThread must be an integer in \[0, 2\^31\), got 2147483648/],
      [(m) => (m.kernels = null), /manifest\.kernels must be an array, got null/],
      [(m) => (m.kernels[1] = null), /manifest\.kernels\[1\] must be an object, got null/],
      [(m) => (m.kernels[1].name = m.kernels[0].name), /manifest\.kernels\[1\]\.name must be unique \(manifest\.kernels\[0\] has it too\)/],
      [(m) => (m.weights = null), /manifest\.weights must be an object, got null/],
      [(m) => (m.weights.offset = 2 ** 32), /manifest\.weights\.offset must be an integer in \[0, 2\^31\), got 4294967296/],
      [(m) => (m.weights.length += 4), new RegExp(`manifest\\.weights\\.length must be the 'weights' section's size ${w.length}, got ${w.length + 4}`)],
      [(m) => delete m.weights, /manifest\.weights must be an object \{offset, length\} \(the file has a \d+-byte 'weights' section\), got undefined/],
      [(m) => (m.memory = null), /manifest\.memory must be an object, got null/],
      [(m) => (m.memory.pages = 0), /manifest\.memory\.pages must be an integer in \[1, 65536\], got 0/],
      [(m) => (m.memory.pages = 2 ** 32), /manifest\.memory\.pages must be an integer in \[1, 65536\], got 4294967296/],
      [(m) => (m.memory.shared = 'yes'), /manifest\.memory\.shared must be a boolean, got "yes"/],
      [(m) => (m.memory.arenaOffset = 2 ** 31 + 4), /manifest\.memory\.arenaOffset must be an integer in \[0, 2\^31\)/],
      [(m) => (m.threads = { default: 1e9 }), /manifest\.threads\.default must be an integer in \[0, 1024\], got 1000000000/],
      [(m) => (m.threads = null), /manifest\.threads must be an object, got null/],
      [(m) => (m.inputs = null), /manifest\.inputs must be an array, got null/],
      [(m) => (m.inputs[0] = null), /manifest\.inputs\[0\] must be an object, got null/],
      [(m) => (m.inputs[0].shape = [4, 2 ** 31]), /manifest\.inputs\[0\]\.shape\[1\] must be an integer in \[0, 2\^31\), got 2147483648/],
      [(m) => (m.inputs[0].shape = [65536, 65536]), /manifest\.inputs\[0\] \('x'\) shape \[65536, 65536\] of f32 is 17179869184 bytes, more than 2\^31/],
      [(m) => (m.inputs[0].dtype = 'f64'), /manifest\.inputs\[0\]\.dtype must be one of 'f32', .*, got "f64"/],
      [(m) => (m.inputs[0].dtype = null), /manifest\.inputs\[0\]\.dtype must be one of .*, got null/],
      [(m) => (m.inputs[0].offset += 2), /manifest\.inputs\[0\]\.offset must be a multiple of the f32 size 4, got \d+/],
      [(m) => (m.inputs[1].name = m.inputs[0].name), /manifest\.inputs\[1\]\.name must be unique \(manifest\.inputs\[0\] has it too\), got "x"/],
      [(m) => (m.inputs[0].name = ''), /manifest\.inputs\[0\]\.name must be a non-empty string, got ""/],
      [(m) => (m.outputs[1].offset = m.memory.pages * 65536 - 8), /manifest\.outputs\[1\] \('z'\) \[\d+, \d+\) does not fit the \d+-byte memory/],
      [(m) => (m.schedule = [0, m.kernels.length]), new RegExp(`manifest\\.schedule\\[1\\] must be an integer in \\[0, ${m0.kernels.length - 1}\\], got ${m0.kernels.length}`)],
      [(m) => (m.schedule = null), /manifest\.schedule must be an array, got null/],
      [(m) => (m.schedule = []), /manifest\.schedule must be non-empty \(output 's', manifest\.outputs\[0\], is computed by no kernel\), got \[\]/],
      [(m) => (m.target = 'cuda'), /artifact targets 'cuda'; this executor runs 'wasm' artifacts/],
      [(m) => (m.target = null), /manifest\.target must be a non-empty string, got null/],
      [(m) => (m.version = 2), /manifest\.version must be 3 \(the header's format version\), got 2/],
      [(m) => (m.format = 'onnx'), /manifest\.format must be "kiln", got "onnx"/],
      [(m) => (m.meta = null), /manifest\.meta must be an object, got null/],
      [(m) => (m.entries = null), /manifest\.entries must be an object, got null/],
      [(m) => (m.entries = { other: null }), /manifest\.entries\['other'\] must be an object, got null/],
      [(m) => (m.defaultEntry = 5), /manifest\.defaultEntry must be a non-empty string, got 5/],
      [(m) => (m.state = [{ name: 's', shape: [4], dtype: 'f32', offset: 0, init: 2 ** 32 }]), /manifest\.state\[0\]\.init must be an integer in \[0, 2\^31\), got 4294967296/],
    ];
    for (const [edit, message] of cases) await rejects(edited(edit, { rebind: true }), message);
  });

  it('keeps inputs, state, weights and the arena apart, and sections aligned and disjoint', async () => {
    await rejects(
      edited((m) => (m.inputs[0].offset = w.offset), { rebind: true }),
      /manifest\.inputs\[0\] 'x' \[\d+, \d+\) overlaps manifest\.weights \[\d+, \d+\) \(inputs, state and weights must not share bytes\)|manifest\.weights .* overlaps manifest\.inputs\[0\] 'x'/,
    );
    await rejects(edited((m) => (m.inputs[1].offset = m.inputs[0].offset), { rebind: true }), /manifest\.inputs\[\d\] '[xy]' .* overlaps manifest\.inputs\[\d\] '[xy]'/);
    await rejects(
      edited((m) => (m.state = [{ name: 'acc', shape: [4], dtype: 'f32', offset: w.offset }]), { rebind: true }),
      /manifest\.state\[0\] 'acc' .* overlaps manifest\.weights|manifest\.weights .* overlaps manifest\.state\[0\] 'acc'/,
    );
    await rejects(edited((m) => (m.memory.arenaOffset = w.offset), { rebind: true }), /the arena \(manifest\.memory\.arenaOffset\) .* overlaps manifest\.weights|manifest\.weights .* overlaps the arena/);
    const table = (f: (t: { name: string; offset: number; length: number }[]) => unknown) => assemble(seed.manifest, seed.sections, { keepTable: f });
    await rejects(table((t) => ((t[0]!.offset += 8), t)), /manifest\.sections\[0\]\.offset must be a multiple of 16, got \d+/);
    await rejects(table((t) => ((t[1]!.offset = t[0]!.offset), t)), /section '.*' \(manifest\.sections\[\d\]\) \[\d+, \d+\) overlaps section '.*'/);
    await rejects(table((t) => ((t[0]!.length = 2 ** 32), t)), /manifest\.sections\[0\]\.length must be an integer in \[0, 2\^31\), got 4294967296/);
  });

  it('refuses a manifest edited after compilation (re-sealed but not re-bound): work counts, swapped kernels, offsets', async () => {
    const notBound = /invalid artifact: the manifest does not belong to the 'wasm' section \(its kiln\.bind digest is [0-9a-f]+, the manifest's is [0-9a-f]+\)/;
    await rejects(edited((m) => (m.kernels[0].work = 1e9)), notBound);
    await rejects(edited((m) => (m.kernels[0].work += 1)), notBound);
    await rejects(edited((m) => ([m.kernels[0].name, m.kernels[1].name] = [m.kernels[1].name, m.kernels[0].name])), notBound);
    await rejects(edited((m) => (m.outputs[0].offset = m.outputs[1].offset)), notBound);
    // Re-bound (a deliberate forgery), a name the module does not export is still refused.
    await rejects(edited((m) => (m.kernels[0].name = 'nope'), { rebind: true }), /kernel 'nope' is listed in the manifest but the 'wasm' module exports no such function/);
    // A plain module standing in for the relaxed one carries the wrong section's binding.
    const withRelaxed = parseSeed(compile(fn(), { threads: false }).bytes);
    if (withRelaxed.sections['wasm-relaxed']) {
      await rejects(edited((_m, s) => (s['wasm-relaxed'] = s['wasm']!), { from: withRelaxed }), /does not belong to the 'wasm-relaxed' section/);
    }
  });

  it('validates both WebAssembly modules, the relaxed one where the host can (structure only elsewhere)', async () => {
    // Sound section structure, invalid body (opcode 0xff, no end).
    const invalid = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 0x60, 0, 0, 3, 2, 1, 0, 10, 4, 1, 2, 0, 0xff]);
    await rejects(edited((_m, s) => (s['wasm'] = invalid), { rebind: true }), /the 'wasm' section does not validate as WebAssembly/);
    await rejects(edited((_m, s) => (s['wasm'] = new TextEncoder().encode('(module)')), { rebind: true }), /the 'wasm' section is not a WebAssembly module: it does not start with the WebAssembly magic/);
    await rejects(edited((_m, s) => (s['wasm-relaxed'] = new Uint8Array([1, 2, 3])), { rebind: true }), /the 'wasm-relaxed' section is not a WebAssembly module/);
    const relaxedInvalid = edited((_m, s) => (s['wasm-relaxed'] = invalid), { rebind: true });
    if (relaxedSimdAvailable()) await rejects(relaxedInvalid, /the 'wasm-relaxed' section does not validate as WebAssembly/);
    else expect(await outputs(relaxedInvalid)).toEqual(await outputs(wasmBytes)); // never run on this host: the plain module runs
  });

  it('reads format versions 1 and 2 with structural checks only', async () => {
    const v2 = (edit: (m: Obj) => void) => {
      const m = structuredClone(seed.manifest) as Obj;
      m.version = 2;
      edit(m);
      return assemble(m, seed.sections, { version: 2 });
    };
    expect(await outputs(v2(() => {}))).toEqual(await outputs(wasmBytes));
    await rejects(v2((m) => (m.kernels[0].work = 2 ** 32)), /manifest\.kernels\[0\]\.work must be an integer in \[0, 2\^31\), got 4294967296/);
    const v1 = structuredClone(seed.manifest) as Obj;
    v1.version = 1;
    v1.defaultEntry = 'main';
    await rejects(assemble(v1, seed.sections, { version: 1 }), /manifest\.defaultEntry must be absent in a version-1 artifact/);
  });
});

describe('manifest validator (cuda, no driver)', () => {
  const cuda = parseSeed(buildCudaArtifact(programOf(fn()), { sm: 80 }).bytes);
  const untouchable: CudaDriver = new Proxy({} as CudaDriver, {
    get: (_t, k) => () => {
      throw new Error(`the driver was touched (${String(k)}) before validation finished`);
    },
  });
  const check = (bytes: Uint8Array) => {
    const a = readArtifact(bytes);
    return checkCudaManifest(a.manifest, a.sections);
  };
  const cudaRejects = async (bytes: Uint8Array, message: RegExp) => {
    expect(() => check(bytes)).toThrow(message);
    await expect(loadCuda(bytes, { driver: untouchable })).rejects.toThrow(KilnRuntimeError);
    await expect(loadCuda(bytes, { driver: untouchable })).rejects.toThrow(message);
  };

  it('accepts the unedited artifact', () => {
    expect(check(cuda.bytes).cuda.launches.length).toBe((cuda.manifest as Obj).kernels.length);
  });

  it('applies the shared rules and its own, naming the field, before the driver is opened', async () => {
    const cases: [(m: Obj, s: Record<string, Uint8Array>) => void, RegExp][] = [
      [(m) => (m.cuda = null), /manifest\.cuda must be an object \{sm, memoryBytes, launches\}, got null/],
      [(m) => (m.cuda.sm = 'x'), /manifest\.cuda\.sm must be an integer in \[50, 1000\] \(80 = sm_80\), got "x"/],
      [(m) => (m.cuda.memoryBytes = 2 ** 32), /manifest\.cuda\.memoryBytes must be an integer in \[1, 2\^31\), got 4294967296/],
      [(m) => (m.cuda.launches = null), /manifest\.cuda\.launches must be an array with one entry per kernel \(\d+\), got null/],
      [(m) => (m.cuda.launches[0] = null), /manifest\.cuda\.launches\[0\] must be an object \{grid, block, threadsPerItem\}, got null/],
      [(m) => (m.cuda.launches[0].block = [2048, 1, 1]), /manifest\.cuda\.launches\[0\]\.block must be 3 integers in \[1, 1024\], got \[2048,1,1\]/],
      [(m) => (m.cuda.launches[0].grid = [2 ** 32, 1, 1]), /manifest\.cuda\.launches\[0\]\.grid must be 3 integers/],
      [(m) => (m.cuda.launches[0].threadsPerItem = 5), /manifest\.cuda\.launches\[0\]\.threadsPerItem must be 0, 1 or 32, got 5/],
      [(m) => (m.kernels[0].work = 2 ** 32), /manifest\.kernels\[0\]\.work must be an integer in \[0, 2\^31\), got 4294967296/],
      [(m) => (m.inputs[0].offset = m.cuda.memoryBytes), /manifest\.inputs\[0\] \('x'\) \[\d+, \d+\) does not fit the \d+-byte device memory/],
      [(m) => (m.inputs[0].offset = m.weights.offset), /overlaps/],
      [(m) => (m.kernels[0].name = 'nope'), /manifest\.kernels\[0\]\.name 'nope' is not an \.entry of the PTX/],
      [(m) => (m.cuda.sm = 90), /the PTX targets sm_80 but manifest\.cuda\.sm is 90/],
      [(_m, s) => (s['ptx'] = new Uint8Array([0xff, 0xfe])), /the 'ptx' section is not UTF-8 text/],
      [(_m, s) => delete s['ptx'], /a 'cuda' artifact needs a 'ptx' section/],
    ];
    for (const [edit, message] of cases) await cudaRejects(edited(edit, { rebind: true, from: cuda }), message);
    // Not re-bound: the PTX's binding refuses the edit.
    await cudaRejects(edited((m) => (m.kernels[0].work = 1e9), { from: cuda }), /the manifest does not belong to the 'ptx' section/);
  });
});
