/**
 * Predict after a weight change. `model.predict` keeps the weights as resident state of its
 * compiled program (src/exec.ts): `setWeights` then `predict` copies the new weights in and runs,
 * compiling nothing. Its peer, measured in the same process, is what predict did before: a
 * forward pass traced with the weights captured as constants (a `kiln.fn` of `model.call`), which
 * retraces and recompiles after every weight change. Two figures per model and batch:
 *
 * - after a change: setWeights + the first predict (median over several fresh weight sets; now
 *   that is a copy of the weights and the program's repack entry, which packs GEMM/conv weights);
 * - steady: the forward pass with unchanged weights, resident (batch norm not folded into the
 *   weights) vs constants (packed and folded at compile time): the price of keeping the weights
 *   as state.
 *
 * Plus the compiles each path did (kiln.compileCount). Writes bench/out/resident_weights.json and
 * .md; run through `npm run bench`.
 */
import { CNN, MLP, buildKilnModel, errorMessage, fmtMs, markdownTable, measure, median, parseArgs, writeResult, type ModelSpec } from './common.js';

const kiln = await import('kiln');
type Tensor = ReturnType<typeof kiln.tensor>;

const WARMUP = 2;
const ROUNDS = 5;

interface Row {
  model: string;
  batch: number;
  /** setWeights + first predict, ms: before (retrace + recompile) and now (resident). */
  changeBeforeMs?: number;
  changeNowMs?: number;
  /** Predict with unchanged weights, ms. */
  steadyConstMs?: number;
  steadyResidentMs?: number;
  /** Compiles over the weight changes (function kind). */
  compilesBefore?: number;
  compilesNow?: number;
  changes: number;
  error?: string;
}

function randomWeights(m: ReturnType<typeof buildKilnModel>, seed: number): Tensor[] {
  return m.weights.map((w, i) => {
    const n = w.value.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    let s = (seed * 7919 + i * 104729) >>> 0;
    for (let k = 0; k < n; k++) {
      s = (s * 1664525 + 1013904223) >>> 0;
      data[k] = (s / 2 ** 32 - 0.5) * 0.2;
    }
    return kiln.tensor(data, w.value.shape);
  });
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const budget = Number(args.get('budget') ?? 300);
  const changes = Number(args.get('changes') ?? 6);
  const rows: Row[] = [];
  for (const spec of [MLP, CNN] as ModelSpec[]) {
    for (const batch of spec.batches) {
      const row: Row = { model: spec.name, batch, changes };
      rows.push(row);
      try {
        const m = buildKilnModel(kiln, spec);
        const n = batch * spec.inputShape.reduce((a, b) => a * b, 1);
        const x = kiln.tensor(Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 0.5), [batch, ...spec.inputShape]);
        // The old predict: weights captured as constants, so a weight change retraces and recompiles.
        const before = kiln.fn((t: Tensor) => m.call(t, { training: false }) as Tensor, { name: `${m.name}_constants` });
        const read = (t: Tensor) => (t.dataSync() as Float32Array)[0];
        m.setWeights(randomWeights(m, 1));
        before(x);
        m.predict(x);
        const beforeMs: number[] = [], nowMs: number[] = [];
        let c0 = kiln.compileCount('function');
        // The first WARMUP changes of each path are not timed (V8 tiers up the compiler, the copies, the repack kernels).
        for (let k = 0; k < changes + WARMUP; k++) {
          m.setWeights(randomWeights(m, 10 + k));
          const t0 = performance.now();
          read(before(x));
          if (k >= WARMUP) beforeMs.push(performance.now() - t0);
        }
        row.compilesBefore = kiln.compileCount('function') - c0;
        c0 = kiln.compileCount('function');
        for (let k = 0; k < changes + WARMUP; k++) {
          const w = randomWeights(m, 100 + k);
          const t0 = performance.now();
          m.setWeights(w);
          read(m.predict(x) as Tensor);
          if (k >= WARMUP) nowMs.push(performance.now() - t0);
        }
        row.compilesNow = kiln.compileCount('function') - c0;
        row.changeBeforeMs = median(beforeMs);
        row.changeNowMs = median(nowMs);
        // The same forward pass with the weights bound (what predict runs), called like `before`: same JS around both.
        const resident = kiln.fn((t: Tensor) => m.call(t, { training: false }) as Tensor, { name: `${m.name}_resident`, variables: m.weights });
        // Same weights in both programs; check they agree before timing them.
        const a = before(x).dataSync(), b = resident(x).dataSync(), c = (m.predict(x) as Tensor).dataSync();
        let diff = 0;
        for (let i = 0; i < a.length; i++) diff = Math.max(diff, Math.abs(a[i]! - b[i]!), Math.abs(a[i]! - c[i]!));
        if (!(diff <= 1e-4)) throw new Error(`resident and constant programs differ by ${diff}`);
        // Interleave rounds so that load on the machine hits both alike.
        const constMs: number[] = [], residentMs: number[] = [];
        for (let r = 0; r < ROUNDS; r++) {
          constMs.push((await measure(() => { read(before(x)); }, { budgetMs: budget })).ms);
          residentMs.push((await measure(() => { read(resident(x)); }, { budgetMs: budget })).ms);
        }
        row.steadyConstMs = Math.min(...constMs);
        row.steadyResidentMs = Math.min(...residentMs);
      } catch (e) {
        row.error = errorMessage(e);
      }
      console.log(JSON.stringify(row));
    }
  }
  writeResult('resident_weights', { date: new Date().toISOString(), rows });
  const ratio = (a?: number, b?: number) => (a === undefined || b === undefined ? '—' : `${(a / b).toFixed(2)}x`);
  const md = [
    `setWeights followed by predict, median of ${changes} weight changes (after ${WARMUP} untimed ones): before, predict traced the ` +
      'weights as constants and retraced and recompiled after each change; now the compiled program keeps them as resident state, ' +
      'copies the new ones in and runs its repack entry (GEMM/conv weights into their packed layout). "steady" is the forward pass ' +
      `with unchanged weights (best of ${ROUNDS} rounds of medians, both through kiln.fn): weights as constants (packed and batch norm ` +
      `folded at compile time) against weights as resident state (what predict runs).`,
    '',
    markdownTable(
      ['model', 'batch', 'after a change: before', 'now', 'speedup', `compiles (${changes + WARMUP} changes) before / now`, 'steady: constants', 'resident', 'resident / constants'],
      rows.map((r) => r.error
        ? [r.model, String(r.batch), `error: ${r.error}`, '', '', '', '', '', '']
        : [
            r.model, String(r.batch), `${fmtMs(r.changeBeforeMs)} ms`, `${fmtMs(r.changeNowMs)} ms`, ratio(r.changeBeforeMs, r.changeNowMs),
            `${r.compilesBefore} / ${r.compilesNow}`, `${fmtMs(r.steadyConstMs)} ms`, `${fmtMs(r.steadyResidentMs)} ms`, ratio(r.steadyResidentMs, r.steadyConstMs),
          ]),
    ),
  ].join('\n');
  const fs = await import('node:fs');
  const path = await import('node:path');
  const { OUT_DIR } = await import('./common.js');
  fs.writeFileSync(path.join(OUT_DIR, 'resident_weights.md'), md + '\n');
  console.log(md);
}

await main();
