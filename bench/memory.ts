/**
 * Memory of the compiled benchmark models: the static plan's peak arena
 * bytes against the sum of every intermediate tensor's size (what a runtime
 * that gives each tensor its own buffer would hold if nothing were freed),
 * plus the weights and the artifact size. The arena holds the inputs and
 * outputs as well as the intermediates (codegen/program.ts plans every
 * non-constant buffer), while `sumIntermediateBytes` counts intermediates
 * only, so the fair "no reuse" figure is that sum plus the input and output
 * bytes; both are shown. The numbers come from the compiler (`art.memory`),
 * so this benchmark needs no timing and no peer.
 *
 * Writes bench/out/memory.json and .md; run through `npm run bench`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { CNN, MLP, OUT_DIR, errorMessage, buildKilnModel, markdownTable, writeResult, type ModelSpec } from './common.js';

const kiln = await import('kiln');

interface Row {
  model: string;
  batch: number;
  peakBytes?: number;
  sumIntermediateBytes?: number;
  weightsBytes?: number;
  artifactBytes?: number;
  ioBytes?: number;
  error?: string;
}

const rows: Row[] = [];
for (const spec of [MLP, CNN] as ModelSpec[]) {
  const model = buildKilnModel(kiln, spec);
  for (const batch of spec.batches) {
    const row: Row = { model: spec.name, batch };
    rows.push(row);
    try {
      const art = kiln.compile(model, { inputShapes: [[batch, ...spec.inputShape]] });
      Object.assign(row, art.memory);
      row.artifactBytes = art.bytes.length;
      const bytesOf = (t: { shape: readonly number[] }) => 4 * t.shape.reduce((a, b) => a * b, 1);
      row.ioBytes = [...art.manifest.inputs, ...art.manifest.outputs].reduce((a, t) => a + bytesOf(t), 0);
      if (!(art.memory.peakBytes <= art.memory.sumIntermediateBytes + row.ioBytes + 64 * (art.manifest.kernels.length + 2))) {
        row.error = `plan peak ${art.memory.peakBytes} B exceeds intermediates + inputs + outputs (${art.memory.sumIntermediateBytes} + ${row.ioBytes} B) beyond alignment`;
      }
    } catch (e) {
      row.error = errorMessage(e);
    }
  }
}

writeResult('memory', { date: new Date().toISOString(), rows });
const kib = (b: number | undefined) => (b === undefined ? '—' : `${(b / 1024).toFixed(1)} KiB`);
const md = [
  'Bytes from the compiler (`art.memory`, `art.bytes`), f32. The arena peak is the planned size of the one buffer that holds ' +
    'the inputs, outputs and all intermediates; "no reuse" is the sum of all intermediate tensor sizes (`sumIntermediateBytes`) ' +
    'plus the inputs and outputs, i.e. every tensor in its own buffer. Weights live outside the arena.',
  '',
  markdownTable(
    ['model', 'batch', 'arena peak', 'sum of intermediates', 'inputs + outputs', 'no reuse (sum + I/O)', 'peak / no reuse', 'weights', 'artifact'],
    rows.map((r) => {
      const noReuse = r.sumIntermediateBytes !== undefined && r.ioBytes !== undefined ? r.sumIntermediateBytes + r.ioBytes : undefined;
      return [
        r.model, String(r.batch), kib(r.peakBytes), kib(r.sumIntermediateBytes), kib(r.ioBytes), kib(noReuse),
        r.peakBytes !== undefined && noReuse ? `${((100 * r.peakBytes) / noReuse).toFixed(0)}%` : '—',
        kib(r.weightsBytes), kib(r.artifactBytes),
      ];
    }),
  ),
  '',
  ...rows.filter((r) => r.error).map((r) => `- ${r.model} batch ${r.batch}: ${r.error}`),
].join('\n');
fs.writeFileSync(path.join(OUT_DIR, 'memory.md'), md + '\n');
console.log(md);
if (rows.some((r) => r.error)) process.exitCode = 1;
