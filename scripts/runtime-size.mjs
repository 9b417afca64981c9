// Prints the size of the shipped runtime (kiln/runtime) as a browser would
// get it: src/runtime/index.ts bundled by esbuild, minified ESM, platform
// neutral (so Node-only modules must stay lazy), raw and gzipped.
// Usage: node scripts/runtime-size.mjs [--json]
import { build } from 'esbuild';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';

const entry = fileURLToPath(new URL('../src/runtime/index.ts', import.meta.url));
const result = await build({
  entryPoints: [entry],
  bundle: true,
  minify: true,
  format: 'esm',
  platform: 'neutral',
  target: 'es2022',
  write: false,
  logLevel: 'warning',
});
const code = result.outputFiles[0].contents;
const bytes = code.length;
const gzip = gzipSync(code, { level: 9 }).length;
if (process.argv.includes('--json')) {
  console.log(JSON.stringify({ bytes, gzip }));
} else {
  console.log(`kiln/runtime: ${bytes} bytes minified, ${gzip} bytes gzipped`);
}
