#!/usr/bin/env node
// Bundles `kiln` (compiler, Keras API, interpreter, runtime) into one ES module with esbuild, for
// browsers (`--platform browser`, the default) or Node (`--platform node`), and prints its size
// raw and gzipped. Usage: node scripts/build-browser.mjs [--platform browser|node] [--out FILE] [--json]
//
// What a bundler needs to know, shown here:
// - browser: package.json's `browser` field swaps src/host/node.ts (Kiln's only importer of Node
//   built-ins) for src/host/browser.ts. binaryen's single build guards its Node setup behind a
//   runtime check with `await import("node:module")`: that one dynamic import is left external
//   (it never runs in a browser). ES module output: binaryen uses top-level await.
// - node: prefer packages' ES module builds (`module` before `main`) so tfjs-core and
//   tfjs-backend-cpu come from one tfjs-core instance (the cpu backend registers with the copy
//   Kiln uses), and give CommonJS dependencies a `require` (seedrandom, tfjs-core's Node platform).
import { build } from 'esbuild';
import { gzipSync } from 'node:zlib';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Node modules a browser bundle may still name: binaryen's guarded, dynamic Node setup only. */
export const BROWSER_ALLOWED_NODE_IMPORTS = [{ importer: 'node_modules/binaryen/index.js', path: 'node:module', kind: 'dynamic-import' }];

/**
 * Bundle `entry` (default src/index.ts) for `platform`; returns { code, metafile, bytes, gzipBytes }.
 * @param {{ platform?: 'browser' | 'node', entry?: string, minify?: boolean }} [opts]
 */
export async function bundleKiln(opts = {}) {
  const platform = opts.platform ?? 'browser';
  if (platform !== 'browser' && platform !== 'node') throw new Error(`bundleKiln: platform must be 'browser' or 'node', got ${JSON.stringify(platform)}`);
  const r = await build({
    entryPoints: [opts.entry ?? join(root, 'src/index.ts')],
    absWorkingDir: root,
    bundle: true,
    minify: opts.minify ?? true,
    format: 'esm',
    target: 'es2022',
    platform,
    write: false,
    metafile: true,
    logLevel: 'silent',
    ...(platform === 'browser'
      ? { external: ['node:*'] }
      : {
        mainFields: ['module', 'main'],
        banner: { js: "import { createRequire as __kilnRequire } from 'node:module'; const require = __kilnRequire(import.meta.url);" },
      }),
  });
  const code = r.outputFiles[0].contents;
  return { code, metafile: r.metafile, bytes: code.length, gzipBytes: gzipSync(code, { level: 9 }).length };
}

/** Imports of Node built-ins in a metafile: [{ importer, path, kind }]. */
export function nodeImports(metafile) {
  const out = [];
  for (const [importer, input] of Object.entries(metafile.inputs)) {
    for (const imp of input.imports) if (imp.path.startsWith('node:')) out.push({ importer, path: imp.path, kind: imp.kind });
  }
  return out;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const args = process.argv.slice(2);
  const known = ['--platform', '--out', '--json'];
  let platform = 'browser';
  let out;
  let json = false;
  for (let i = 0; i < args.length; i++) {
    if (!known.includes(args[i])) { console.error(`build-browser: unknown option ${args[i]} (known: ${known.join(', ')})`); process.exit(2); }
    if (args[i] === '--json') json = true;
    else if (args[i] === '--platform') platform = args[++i];
    else out = args[++i];
  }
  const b = await bundleKiln({ platform });
  if (out) {
    mkdirSync(dirname(resolve(out)), { recursive: true });
    writeFileSync(`${out}.tmp`, b.code); // whole file or none: write aside, then rename
    renameSync(`${out}.tmp`, out);
  }
  if (json) console.log(JSON.stringify({ platform, bytes: b.bytes, gzip: b.gzipBytes }));
  else console.log(`kiln ${platform} bundle: ${(b.bytes / 1024).toFixed(0)} KB, ${(b.gzipBytes / 1024).toFixed(0)} KB gzipped${out ? ` -> ${out}` : ''}`);
}
