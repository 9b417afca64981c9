/**
 * The bounded slice of the mutation fuzzer that `npm test` runs: 2,000 cases over the four seed
 * artifacts, each in a child process with a timeout, and not one bad outcome (accepted with
 * different outputs, a non-Kiln error, a crash, a hang). Both mutation classes must have been
 * answered by what they exist to exercise: the checksum (raw) and, behind it, the structural
 * validator and the manifest-to-code binding (resealed). The long campaign: `npm run fuzz`.
 */
import { describe, expect, it } from 'vitest';
import { BAD, formatTable, runCampaign } from './campaign.js';

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
});
