/**
 * The bounded slice of the mutation fuzzer that `npm test` runs: 2,000 cases over the four seed
 * artifacts, each in a child process with a timeout, and not one bad outcome (accepted with
 * different outputs, a non-Kiln error, a crash, a hang). Both mutation classes must have been
 * answered by what they exist to exercise: the checksum (raw) and, behind it, the structural
 * validator and the manifest-to-code binding (resealed). The long campaign: `npm run fuzz`.
 */
import { describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { BAD, bundleRunner, formatTable, Pool, runCampaign } from './campaign.js';
import { writeArtifact, type ManifestInput } from '../../src/runtime/index.js';

const CASES = Number(process.env['KILN_FUZZ_CASES'] ?? 2000);

describe('mutation fuzzer (slice)', () => {
  it(`${CASES} mutated artifacts: rejected with a KilnRuntimeError or run bit-identically, never anything else`, async () => {
    const r = await runCampaign({ cases: CASES, seed: 1, workers: 2, timeoutMs: 30_000 });
    const table = formatTable(r);
    const bad = r.bad.map((b) => `#${b.index} [${b.seed}] ${b.cls}/${b.kind}: ${b.what} -> ${b.outcome}: ${b.detail.slice(0, 200)}`);
    expect(bad, `${table}\n${bad.join('\n')}`).toEqual([]);
    expect(r.cases).toBe(CASES);
    const total = (cls: string, outcome: string) =>
      [...r.table.entries()].filter(([k]) => k.startsWith(`${cls}/`)).reduce((s, [, row]) => s + row[outcome as keyof typeof row], 0);
    for (const outcome of BAD) expect(total('raw', outcome) + total('resealed', outcome)).toBe(0);
    // What answered: the checksum for raw damage; the validator and the binding behind it.
    expect(r.reasons.get('raw: checksum') ?? 0).toBeGreaterThan(total('raw', 'rejected') * 0.95);
    expect(r.reasons.get('resealed: manifest validator') ?? 0).toBeGreaterThan(0);
    expect(r.reasons.get('resealed: binding (manifest edited after compilation)') ?? 0).toBeGreaterThan(0);
    expect(r.reasons.get('resealed: container structure') ?? 0).toBeGreaterThan(0);
    // Unchanged programs (re-assembled, foreign sections ignored) were accepted and ran identically.
    expect(r.table.get('resealed/identity')?.identical ?? 0).toBeGreaterThan(0);
    expect(r.table.get('resealed/identity')?.rejected ?? 0).toBe(0);
  }, 240_000);

  it('kills a runner that hangs and replaces it, and reports one that dies', async () => {
    // A (compiled, bound, sealed) artifact whose one kernel loops forever: load accepts it, the run never ends.
    const wasm = Uint8Array.from([
      0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x06, 0x01, 0x60, 0x02, 0x7f, 0x7f, 0x00,
      0x02, 0x0f, 0x01, 0x03, 0x65, 0x6e, 0x76, 0x06, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 0x02, 0x00, 0x01,
      0x03, 0x02, 0x01, 0x00, 0x07, 0x05, 0x01, 0x01, 0x6b, 0x00, 0x00,
      0x0a, 0x09, 0x01, 0x07, 0x00, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b,
    ]);
    const manifest: ManifestInput = {
      format: 'kiln', version: 3, target: 'wasm', inputs: [], outputs: [{ name: 'y', shape: [1], dtype: 'f32', offset: 0 }],
      memory: { pages: 1 }, kernels: [{ name: 'k', work: 1 }], schedule: [0],
    };
    const spin = writeArtifact({ manifest, sections: { wasm } });
    const runner = await bundleRunner();
    const pool = new Pool(runner, 1, 3000);
    try {
      const [before] = pool.pids();
      expect(await pool.run({ id: 1, bytes: spin, threads: 1, runs: [{ feed: {} }] })).toEqual({ hang: true });
      // The replacement answers the next job.
      const ok = await pool.run({ id: 2, bytes: writeArtifact({ manifest: { ...manifest, kernels: [] , schedule: [], outputs: [] }, sections: { wasm } }), threads: 1, runs: [{ feed: {} }] });
      expect(ok).toMatchObject({ id: 2, ok: true });
      expect(pool.pids()).not.toContain(before);
      // A runner killed in the middle of a job is reported as a crash, and replaced too.
      const pending = pool.run({ id: 3, bytes: spin, threads: 1, runs: [{ feed: {} }] });
      await new Promise((r) => setTimeout(r, 500));
      process.kill(pool.pids()[0]!, 'SIGKILL');
      expect(await pending).toMatchObject({ crash: expect.stringContaining('signal SIGKILL') });
      expect(await pool.run({ id: 4, bytes: spin.slice(0, 10), threads: 1, runs: [] })).toMatchObject({ id: 4, ok: false, kiln: true });
    } finally {
      pool.close();
      rmSync(dirname(runner), { recursive: true, force: true });
    }
  }, 60_000);
});
