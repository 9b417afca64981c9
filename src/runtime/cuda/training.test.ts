/**
 * Training artifacts on the CUDA target with a fake driver: buildCudaEntriesArtifact packs a
 * train step and a predict entry sharing resident state; loadCuda copies the state to the device
 * once, each step moves only the batch in and the outputs out, getState copies state out. The
 * fake "GPU" runs each entry's function through the interpreter on the device memory image at the
 * manifest's offsets when the entry's last kernel launches, so what the executor reads back is
 * what the compiled step computes.
 */
import { describe, expect, it } from 'vitest';
import { parseFunc } from '../../ir/parse.js';
import { interpret } from '../../ir/interpreter.js';
import { literal } from '../../ir/literal.js';
import type { Func } from '../../ir/function.js';
import { optimize } from '../../passes/pipeline.js';
import { planFusion } from '../../passes/fusion_plan.js';
import { buildProgram } from '../../codegen/program.js';
import { CUDA_DTYPES } from '../../codegen/cuda/backend.js';
import { buildCudaEntriesArtifact, type CudaEntryProgram } from '../../codegen/cuda/artifact.js';
import { readArtifact } from '../artifact.js';
import { loadCuda, type CudaDriver } from './index.js';
import '../../ir/ops/index.js';

const trainText = `func @train(%x: f32[8,4], %t: f32[8], %w: f32[4], %n: i32[]) -> (loss: f32[], new_w: f32[4], new_n: i32[]) {
  %0 = broadcast_in_dim(%w) {shape=[8,4], dims=[1]} : f32[8,4]
  %1 = mul(%x, %0) : f32[8,4]
  %2 = reduce(%1) {op="sum", axes=[1]} : f32[8]
  %3 = sub(%2, %t) : f32[8]
  %4 = mul(%3, %3) : f32[8]
  %5 = reduce(%4) {op="sum", axes=[0]} : f32[]
  %6 = broadcast_in_dim(%3) {shape=[8,4], dims=[0]} : f32[8,4]
  %7 = mul(%6, %x) : f32[8,4]
  %8 = reduce(%7) {op="sum", axes=[0]} : f32[4]
  %9 = constant() {value=f32[]{0.05}} : f32[]
  %10 = broadcast_in_dim(%9) {shape=[4], dims=[]} : f32[4]
  %11 = mul(%8, %10) : f32[4]
  %12 = sub(%w, %11) : f32[4]
  %13 = constant() {value=i32[]{1}} : i32[]
  %14 = add(%n, %13) : i32[]
  return %5, %12, %14
}`;
const predictText = `func @predict(%x: f32[8,4], %w: f32[4]) -> (y: f32[8]) {
  %0 = broadcast_in_dim(%w) {shape=[8,4], dims=[1]} : f32[8,4]
  %1 = mul(%x, %0) : f32[8,4]
  %2 = reduce(%1) {op="sum", axes=[1]} : f32[8]
  return %2
}`;

const W0 = [0.5, -1, 0.25, 2];
const state = [
  { name: 'w', shape: [4], dtype: 'f32' as const, offset: 0, init: new Uint8Array(new Float32Array(W0).buffer) },
  { name: 'n', shape: [], dtype: 'i32' as const, offset: 64, init: new Uint8Array(new Int32Array([0]).buffer) },
];
const STATE_BYTES = 128;

function entry(name: string, text: string, aliases: { result: number; param: number }[]): CudaEntryProgram & { fn: Func } {
  const fn = optimize(parseFunc(text));
  fn.aliases.push(...aliases);
  const pinned = new Map<number, number>();
  fn.params.forEach((p, i) => { const s = state.find((t) => t.name === p.name); if (s) pinned.set(i, s.offset); });
  const program = buildProgram(fn, planFusion(fn), { dtypes: CUDA_DTYPES, state: pinned });
  program.kernels.forEach((k, i) => { program.kernels[i] = { ...k, name: `${name}__${k.name}` }; });
  return { name, program, pinned, aliases: fn.aliases, fn };
}

function build() {
  const train = entry('train_step', trainText, [{ result: 1, param: 2 }, { result: 2, param: 3 }]);
  const predict = entry('predict', predictText, []);
  const art = buildCudaEntriesArtifact([train, predict], state, STATE_BYTES, { sm: 80 });
  return { art, train, predict };
}

/** A fake driver whose "GPU" interprets an entry's function on device memory when its last kernel launches. */
function emulatingDriver(entries: { fn: Func; program: CudaEntryProgram['program'] }[]) {
  const log: string[] = [];
  const mems = new Map<bigint, Uint8Array>();
  const names = new Map<bigint, string>();
  let next = 1n;
  const readAt = (mem: Uint8Array, off: number, dtype: string, n: number) =>
    dtype === 'i32' ? new Int32Array(mem.slice(off, off + 4 * n).buffer) : new Float32Array(mem.slice(off, off + 4 * n).buffer);
  const d: CudaDriver = {
    init: () => ({ devices: 1 }),
    device: () => ({ name: 'Fake H100', major: 9, minor: 0 }),
    contextCreate: () => 1n,
    contextRelease: () => {},
    moduleLoad: () => 2n,
    moduleUnload: () => {},
    getFunction: (_m, name) => { const h = next++; names.set(h, name); return h; },
    memAlloc: (bytes) => { const h = 100n + next++; mems.set(h, new Uint8Array(bytes)); return h; },
    memFree: (p) => { mems.delete(p); },
    memcpyHtoD: (p, off, data) => { mems.get(p)!.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), off); log.push(`htod ${off} ${data.byteLength}`); },
    memcpyDtoH: (dst, p, off) => { const u = new Uint8Array(dst.buffer, dst.byteOffset, dst.byteLength); u.set(mems.get(p)!.subarray(off, off + u.length)); log.push(`dtoh ${off} ${u.length}`); },
    launch: (f, _gx, _gy, _gz, _bx, _by, _bz, _sh, memH, start, end) => {
      const name = names.get(f)!;
      log.push(`launch ${name} [${start},${end})`);
      const e = entries.find((x) => x.program.kernels[x.program.kernels.length - 1]!.name === name);
      if (!e) return;
      const mem = mems.get(memH)!;
      const args = e.program.inputs.map((io) => literal(io.buffer.shape, io.buffer.dtype, readAt(mem, io.buffer.offset, io.buffer.dtype, io.buffer.shape.reduce((a, b) => a * b, 1))));
      const res = interpret(e.fn, args);
      res.forEach((r, i) => {
        const alias = e.fn.aliases.find((a) => a.result === i);
        const off = alias ? e.program.inputs[alias.param]!.buffer.offset : e.program.outputs[i]!.buffer.offset;
        mem.set(new Uint8Array(r.data.buffer, r.data.byteOffset, r.data.byteLength), off);
      });
    },
    synchronize: () => { log.push('sync'); },
  };
  return { d, log };
}

describe('CUDA training artifacts (state + entries)', () => {
  it('manifest: version 2, state at the bottom, both entries, every kernel with a launch, a state section', () => {
    const { art, train, predict } = build();
    const m = art.manifest;
    expect(m.version).toBe(2);
    expect(m.target).toBe('cuda');
    expect(m.defaultEntry).toBe('train_step');
    expect(m.inputs.map((t) => t.name)).toEqual(['x', 't']);
    expect(m.outputs.map((t) => t.name)).toEqual(['loss']);
    expect(Object.keys(m.entries!)).toEqual(['predict']);
    expect(m.entries!['predict']!.inputs.map((t) => t.name)).toEqual(['x']);
    expect(m.state!.map((s) => [s.name, s.offset])).toEqual([['w', 0], ['n', 64]]);
    expect(m.kernels.length).toBe(train.program.kernels.length + predict.program.kernels.length);
    expect(m.cuda.launches.length).toBe(m.kernels.length);
    expect(m.entries!['predict']!.schedule[0]).toBe(train.program.kernels.length);
    // inputs and the arena lie above state and weights
    for (const t of [...m.inputs, ...m.outputs]) expect(t.offset).toBeGreaterThanOrEqual(STATE_BYTES);
    const sections = readArtifact(art.bytes).sections;
    expect(Array.from(new Float32Array(sections['state']!.slice(0, 16).buffer))).toEqual(W0);
    const ptx = new TextDecoder().decode(sections['ptx']!);
    for (const k of m.kernels) expect(ptx).toContain(`.visible .entry ${k.name}(`);
    expect(ptx.match(/\.version 8\.0/g)!.length).toBe(1);
  });

  it('state goes to the device once; a step moves only the batch and the loss; getState and setState copy state', async () => {
    const { art, train, predict } = build();
    const { d, log } = emulatingDriver([train, predict]);
    const prog = await loadCuda(art.bytes, { driver: d });
    expect(prog.entries).toEqual(['train_step', 'predict']);
    expect(prog.stateNames).toEqual(['w', 'n']);
    // load: weights (if any) and the two state tensors, nothing else
    expect(log.filter((l) => l.startsWith('htod')).filter((l) => l === 'htod 0 16' || l === 'htod 64 4').length).toBe(2);
    const x = Float32Array.from({ length: 32 }, (_, i) => Math.sin(i)), t = Float32Array.from({ length: 8 }, (_, i) => i / 8);
    // Reference: the same step through the interpreter with state carried in JavaScript.
    let w = literal([4], 'f32', W0), n = literal([], 'i32', [0]);
    for (let s = 0; s < 3; s++) {
      const before = prog.stats;
      const mark = log.length;
      const out = await prog.step({ x, t });
      const want = interpret(parseFunc(trainText), [literal([8, 4], 'f32', x), literal([8], 'f32', t), w, n]);
      [w, n] = [want[1]!, want[2]!];
      expect(out['loss']![0]).toBeCloseTo(want[0]!.data[0]!, 5);
      const after = prog.stats;
      expect(after.bytesIn - before.bytesIn).toBe((32 + 8) * 4); // only the batch went in
      expect(after.bytesOut - before.bytesOut).toBe(4); // only the loss came out
      expect(log.slice(mark).filter((l) => l.startsWith('htod')).length).toBe(2);
      expect(log.slice(mark).filter((l) => l.startsWith('launch')).length).toBe(train.program.kernels.length);
    }
    const st = prog.getState();
    expect(Array.from(st['w'] as Float32Array)).toEqual(Array.from(w.data));
    expect(Array.from(st['n'] as Int32Array)).toEqual([3]);
    // The predict entry reads the trained, resident w.
    const y = prog.entry('predict').runSync({ x });
    const wantY = interpret(parseFunc(predictText), [literal([8, 4], 'f32', x), w]);
    expect(Array.from(y['y'] as Float32Array)).toEqual(Array.from(wantY[0]!.data));
    // setState / resetState
    prog.setState({ w: new Float32Array([1, 1, 1, 1]) });
    expect(Array.from(prog.getState(['w'])['w'] as Float32Array)).toEqual([1, 1, 1, 1]);
    prog.resetState();
    expect(Array.from(prog.getState(['w'])['w'] as Float32Array)).toEqual(W0);
    expect(Array.from(prog.getState(['n'])['n'] as Int32Array)).toEqual([0]);
    // errors name what is wrong
    expect(() => prog.setState({ bias: new Float32Array(4) })).toThrow(/unknown state tensor 'bias'; the program's state is: w, n/);
    expect(() => prog.setState({ w: new Float32Array(3) })).toThrow(/^state tensor 'w' must be f32\[4\] \(4 elements, Float32Array\), got Float32Array\(3\)$/);
    expect(() => prog.runSync({ x }, { entry: 'eval' })).toThrow(/unknown entry point 'eval'; the artifact's entries are: train_step, predict/);
    expect(() => prog.entry('predict').runSync({ x, t })).toThrow(/^unknown input 't'; entry 'predict' takes: x$/);
    prog.dispose();
  });

  it('a manifest whose state overlaps an input is refused before anything is allocated', async () => {
    const { art } = build();
    const parts = readArtifact(art.bytes);
    const bad = { ...parts.manifest, state: [{ ...parts.manifest.state![0]!, offset: parts.manifest.inputs[0]!.offset }] };
    const { writeArtifact } = await import('../artifact.js');
    const bytes = writeArtifact({ manifest: bad, sections: parts.sections });
    const { d, log } = emulatingDriver([]);
    await expect(loadCuda(bytes, { driver: d })).rejects.toThrow(/invalid artifact manifest: manifest\.state\[0\] 'w' \[\d+, \d+\) overlaps manifest\.inputs\[0\] 'x'|manifest\.inputs\[0\] 'x' \[\d+, \d+\) overlaps manifest\.state\[0\] 'w'/);
    expect(log.length).toBe(0);
  });
});
