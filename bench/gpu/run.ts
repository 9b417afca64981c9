/**
 * The GPU-side bench runner (bundled by prepare.mjs into <bundle>/run.mjs; depends only on the
 * Kiln runtime). For each prepared case: load the "cuda" artifact, run it on the prepared inputs,
 * compare every output with the interpreter's expected values (rtol/atol per case), and for
 * performance cases time the kernel schedule (launchAll, device-synchronized) and the full run
 * with copies, against the WebAssembly artifact of the same function on this machine's CPU
 * (one thread) measured in the same process. Prints a table, writes results.json, exits 1 on
 * any mismatch or failure.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { load, type TensorData } from '../../src/runtime/index.js';
import { loadCuda, type CudaProgram } from '../../src/runtime/cuda/index.js';
import { seededValues } from './seeded.js';

interface TensorRef { name: string; dtype: string; shape: number[]; offset: number; length: number }
interface CaseRef {
  name: string; kind: 'correctness' | 'perf' | 'train' | 'seeded'; rtol: number; atol: number; wasm: boolean; inputs: TensorRef[]; expected: TensorRef[];
  /** train: steps to run on the same batch and the interpreter's loss after each. */
  steps?: number; losses?: number[];
  /** seeded: inputs generated here (seededValues in [-1, 1)), outputs checked at sampled flat indices. */
  seeded?: { name: string; shape: number[]; seed: number }[]; sample?: { at: number[]; want: number[] };
}

const HOST: Record<string, Float32ArrayConstructor | Int32ArrayConstructor | Int8ArrayConstructor | Uint8ArrayConstructor> = {
  f32: Float32Array, f16: Float32Array, bf16: Float32Array, i32: Int32Array, i8: Int8Array, u8: Uint8Array, bool: Uint8Array,
};

function tensor(bin: Uint8Array, t: TensorRef): TensorData {
  const C = HOST[t.dtype]!;
  const copy = bin.slice(t.offset, t.offset + t.length * C.BYTES_PER_ELEMENT);
  return new C(copy.buffer, 0, t.length);
}

function mismatch(got: ArrayLike<number>, want: ArrayLike<number>, rtol: number, atol: number): string | undefined {
  if (got.length !== want.length) return `length ${got.length} != ${want.length}`;
  let worst = -1, worstErr = 0;
  for (let i = 0; i < want.length; i++) {
    const a = Number(got[i]), b = Number(want[i]);
    if ((Number.isNaN(a) && Number.isNaN(b)) || a === b) continue;
    const err = Math.abs(a - b) - (atol + rtol * Math.abs(b));
    if (!(err <= 0) && (worst < 0 || err > worstErr || Number.isNaN(err))) { worst = i; worstErr = err; }
  }
  return worst < 0 ? undefined : `index ${worst}: got ${got[worst]}, want ${want[worst]}`;
}

function timeMs(f: () => void, minMs = 200, minIters = 5): number {
  f(); // warm-up
  let iters = 0;
  const t0 = performance.now();
  while (iters < minIters || performance.now() - t0 < minMs) { f(); iters++; }
  return (performance.now() - t0) / iters;
}

async function main(): Promise<number> {
  const dir = process.argv[2];
  if (!dir) { console.error('usage: run.mjs <bundle-dir> [--only substring]'); return 2; }
  const only = process.argv.indexOf('--only') > 0 ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
  const index = JSON.parse(readFileSync(join(dir, 'cases', 'index.json'), 'utf8')) as { sm: number; cases: CaseRef[] };
  const results: Record<string, unknown>[] = [];
  let failures = 0;
  // PyTorch peer timings (torch_peer.py, run by gpu.sh where PyTorch is installed), by case name.
  let torch: Record<string, number> = {};
  try { torch = (JSON.parse(readFileSync(join(dir, 'torch.json'), 'utf8')) as { ms: Record<string, number> }).ms; } catch { /* no peer */ }
  for (const c of index.cases) {
    if (only && !c.name.includes(only)) continue;
    if (c.kind === 'train' || c.kind === 'seeded') {
      const row = await special(dir, c, torch);
      if (!row.ok) failures++;
      results.push(row);
      console.log([c.name.padEnd(28), row.ok ? 'ok  ' : 'FAIL', typeof row.gpuMs === 'number' ? (row.gpuMs as number).toFixed(3).padStart(10) : '', row.torchMs ? `torch ${(row.torchMs as number).toFixed(3)} ms, kiln/torch time x${(row.ratioVsTorch as number).toFixed(2)}` : '(no PyTorch peer)', row.tflops ? `${(row.tflops as number).toFixed(1)} TFLOP/s` : '', row.mismatch ?? row.error ?? ''].join(' '));
      continue;
    }
    const bin = new Uint8Array(readFileSync(join(dir, 'cases', `${c.name}.bin`)));
    const inputs: Record<string, TensorData> = {};
    for (const t of c.inputs) inputs[t.name] = tensor(bin, t);
    const row: Record<string, unknown> = { name: c.name, kind: c.kind };
    try {
      const prog = await loadCuda(new Uint8Array(readFileSync(join(dir, 'cases', `${c.name}.cuda.kiln`))));
      row.device = prog.device.name;
      const out = prog.runSync(inputs);
      const bad = c.expected.map((t) => {
        const m = mismatch(out[t.name] as ArrayLike<number>, tensor(bin, t) as ArrayLike<number>, c.rtol, c.atol);
        return m && `${t.name}: ${m}`;
      }).filter(Boolean);
      row.ok = bad.length === 0;
      if (bad.length) { row.mismatch = bad.join('; '); failures++; }
      if (c.kind === 'perf') {
        row.gpuKernelsMs = timeMs(() => prog.launchAll());
        row.gpuRunMs = timeMs(() => { prog.runSync(inputs); });
        if (c.wasm) {
          const w = await load(new Uint8Array(readFileSync(join(dir, 'cases', `${c.name}.wasm.kiln`))), { threads: 1 });
          row.cpuWasmMs = timeMs(() => { w.runSync(inputs); }, 200, 2);
          row.speedupVsWasm = (row.cpuWasmMs as number) / (row.gpuRunMs as number);
          w.dispose();
        }
      }
      prog.dispose();
    } catch (e) {
      row.ok = false;
      row.error = (e as Error).message;
      failures++;
    }
    results.push(row);
    const fmt = (x: unknown) => (typeof x === 'number' ? x.toFixed(3) : '');
    console.log([c.name.padEnd(28), row.ok ? 'ok  ' : 'FAIL', fmt(row.gpuKernelsMs).padStart(10), fmt(row.gpuRunMs).padStart(10), fmt(row.cpuWasmMs).padStart(10), row.speedupVsWasm ? `x${(row.speedupVsWasm as number).toFixed(1)}` : '', row.mismatch ?? row.error ?? ''].join(' '));
  }
  const outPath = process.env.OUT ? join(process.env.OUT, 'results.json') : join(dir, 'results.json');
  writeFileSync(outPath, JSON.stringify({ sm: index.sm, results }, null, 2));
  console.log(`\n${results.length - failures}/${results.length} cases ok; columns: gpu kernels ms, gpu run ms (with copies), cpu wasm ms (1 thread), speedup; results in ${outPath}`);
  return failures ? 1 : 0;
}

/** Training steps (state resident on the device) and seeded tensor-core GEMMs. */
async function special(dir: string, c: CaseRef, torch: Record<string, number>): Promise<Record<string, unknown>> {
  const row: Record<string, unknown> = { name: c.name, kind: c.kind };
  let prog: CudaProgram | undefined;
  try {
    prog = await loadCuda(new Uint8Array(readFileSync(join(dir, 'cases', `${c.name}.cuda.kiln`))));
    row.device = prog.device.name;
    const bad: string[] = [];
    if (c.kind === 'train') {
      const bin = new Uint8Array(readFileSync(join(dir, 'cases', `${c.name}.bin`)));
      const batch: Record<string, TensorData> = {};
      for (const t of c.inputs) batch[t.name] = tensor(bin, t);
      for (let s = 0; s < c.steps!; s++) {
        const loss = (prog.runSync(batch)['loss'] as Float32Array)[0]!;
        const want = c.losses![s]!;
        if (!(Math.abs(loss - want) <= 1e-4 + 2e-3 * Math.abs(want))) bad.push(`loss at step ${s}: got ${loss}, want ${want}`);
      }
      const state = prog.getState(c.expected.map((t) => t.name));
      for (const t of c.expected) {
        const m = mismatch(state[t.name] as ArrayLike<number>, tensor(bin, t) as ArrayLike<number>, c.rtol, c.atol);
        if (m) bad.push(`state ${t.name}: ${m}`);
      }
      const before = prog.stats.bytesIn;
      row.gpuMs = timeMs(() => { prog!.runSync(batch); });
      row.bytesInPerStep = (prog.stats.bytesIn - before) / Math.max(1, prog.stats.runs - c.steps! );
    } else {
      const inputs: Record<string, TensorData> = {};
      for (const t of c.seeded!) inputs[t.name] = seededValues(t.shape.reduce((a, b) => a * b, 1), t.seed, -1, 1);
      const out = prog.runSync(inputs)['c'] as Float32Array;
      c.sample!.at.forEach((at, i) => {
        const want = c.sample!.want[i]!;
        if (!(Math.abs(out[at]! - want) <= c.atol + c.rtol * Math.abs(want)) && bad.length < 3) bad.push(`c[${at}]: got ${out[at]}, want ${want}`);
      });
      row.gpuMs = timeMs(() => prog!.launchAll());
      const n = c.seeded![0]!.shape[0]!;
      row.tflops = (2 * n ** 3) / ((row.gpuMs as number) * 1e9);
    }
    row.ok = bad.length === 0;
    if (bad.length) row.mismatch = bad.join('; ');
    if (torch[c.name]) { row.torchMs = torch[c.name]; row.ratioVsTorch = (row.gpuMs as number) / torch[c.name]!; }
  } catch (e) {
    row.ok = false;
    row.error = (e as Error).message;
  } finally {
    prog?.dispose();
  }
  return row;
}

main().then((code) => process.exit(code), (e) => { console.error(e); process.exit(1); });
