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
import { loadCuda } from '../../src/runtime/cuda/index.js';

interface TensorRef { name: string; dtype: string; shape: number[]; offset: number; length: number }
interface CaseRef { name: string; kind: 'correctness' | 'perf'; rtol: number; atol: number; wasm: boolean; inputs: TensorRef[]; expected: TensorRef[] }

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
  for (const c of index.cases) {
    if (only && !c.name.includes(only)) continue;
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

main().then((code) => process.exit(code), (e) => { console.error(e); process.exit(1); });
