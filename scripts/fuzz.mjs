// npm run fuzz -- --cases 100000 [--seed S] [--workers W] [--timeout MS] [--json FILE] [--replay I,J]
// Bundles the fuzzer (test/fuzz/cli.ts, TypeScript) with esbuild into node_modules/.cache,
// packages left external, and runs it. See test/fuzz/campaign.ts.
import { build } from 'esbuild';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const fuzzDir = fileURLToPath(new URL('../test/fuzz/', import.meta.url));
// Inside node_modules/.cache so the bundle's package imports resolve from the project.
const cache = fileURLToPath(new URL('../node_modules/.cache/kiln-fuzz/', import.meta.url));
mkdirSync(cache, { recursive: true });
const out = join(cache, `cli-${process.pid}.mjs`);
await build({ entryPoints: [join(fuzzDir, 'cli.ts')], bundle: true, platform: 'node', format: 'esm', target: 'node20', packages: 'external', outfile: out, logLevel: 'error' });
process.env.KILN_FUZZ_RUNNER = join(fuzzDir, 'runner.ts');
try {
  await import(pathToFileURL(out).href);
} finally {
  rmSync(out, { force: true });
}
