/**
 * `npm run fuzz -- --cases 100000 [--seed S] [--workers W] [--timeout MS] [--json FILE] [--replay I,J]`:
 * the long mutation campaign (campaign.ts); prints progress, the table by outcome and every bad case.
 * Exit status 1 when any case was bad.
 */
import { formatTable, runCampaign, saveResult, type CampaignResult } from './campaign.js';

const FLAGS = ['--cases', '--seed', '--workers', '--timeout', '--json', '--replay'];

function parse(argv: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i]!;
    if (!FLAGS.includes(flag)) {
      const close = FLAGS.find((f) => f.startsWith(flag.slice(0, 4))) ?? FLAGS[0];
      throw new Error(`fuzz: unknown flag '${flag}' (did you mean ${close}?); flags: ${FLAGS.join(' ')}`);
    }
    const v = argv[i + 1];
    if (v === undefined) throw new Error(`fuzz: ${flag} needs a value`);
    out[flag.slice(2)] = v;
  }
  return out;
}

function count(v: string | undefined, name: string, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`fuzz: --${name} must be a non-negative integer, got '${v}'`);
  return n;
}

let args: Record<string, string>;
try {
  args = parse(process.argv.slice(2));
} catch (e) {
  console.error((e as Error).message);
  process.exit(2);
}
const cases = count(args['cases'], 'cases', 10_000);
const seed = count(args['seed'], 'seed', 1);
const workers = Math.max(1, count(args['workers'], 'workers', 2));
const timeoutMs = count(args['timeout'], 'timeout', 15_000);
const only = args['replay']?.split(',').map((x) => count(x, 'replay', 0));
console.log(`kiln fuzz: ${only ? `replaying ${only.length}` : cases} cases, seed ${seed}, ${workers} workers, ${timeoutMs} ms per case`);
const t0 = performance.now();
let partial: CampaignResult | undefined;
// Stopped early: print what was done (the table as of the last progress line) and end.
const stop = (): void => {
  if (partial) console.log(`\nstopped after ${partial.cases} cases\n\n${formatTable(partial)}`);
  process.exit(partial && partial.bad.length > 0 ? 1 : 2);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
const result = await runCampaign({
  cases, seed, workers, timeoutMs, ...(only ? { only } : {}),
  progressEvery: Math.min(5000, Math.max(100, Math.round(cases / 20))),
  onBad: (b) => console.log(`  BAD #${b.index} [${b.seed}] ${b.cls}/${b.kind}: ${b.what} -> ${b.outcome}: ${b.detail.slice(0, 300)}`),
  onProgress: (done, r) => {
    console.log(`  ${done} cases, ${r.bad.length} bad, ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    partial = r;
    if (args['json']) saveResult(args['json'], r, { seed, workers, timeoutMs, partial: true });
  },
});
process.off('SIGTERM', stop);
process.off('SIGINT', stop);
console.log(`\n${result.cases} cases in ${(result.ms / 1000).toFixed(1)} s (seed ${seed})\n`);
console.log(formatTable(result));
if (result.bad.length > 0) {
  console.log(`\n${result.bad.length} BAD cases (replay with --seed ${seed} --replay <index>):`);
  for (const b of result.bad.slice(0, 50)) console.log(`  #${b.index} [${b.seed}] ${b.cls}/${b.kind}: ${b.what} -> ${b.outcome}: ${b.detail.slice(0, 300)}`);
}
if (args['json']) saveResult(args['json'], result, { seed, workers, timeoutMs });
process.exitCode = result.bad.length > 0 ? 1 : 0;
