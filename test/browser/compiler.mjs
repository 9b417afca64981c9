#!/usr/bin/env node
// Browser check of the compiler itself: bundles `kiln` (compiler, Keras API, interpreter) and
// `kiln/runtime` with esbuild for browsers (scripts/build-browser.mjs) and for Node, runs the
// same scenario (test/browser/compiler_scenario.mjs: build a CNN with fixed weights, compile it,
// run the artifact, train it with `fit` on compiled steps) under Node on the Node bundles and in
// headless Chromium on a cross-origin isolated page (threads) on the browser bundles, and checks
// that the artifact equals the interpreter in both, that the page had threads, and that the
// page's losses equal Node's within 1e-5 relative. Prints the bundle size gzipped and the in-page
// compile time. Skips with a reason when Chromium is missing. Usage: node test/browser/compiler.mjs
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { bundleKiln, nodeImports, BROWSER_ALLOWED_NODE_IMPORTS } from '../../scripts/build-browser.mjs';

const root = fileURLToPath(new URL('../../', import.meta.url));
const chromium = process.env.CHROMIUM ?? '/usr/bin/chromium';
if (!existsSync(chromium)) {
  console.log(`SKIP compiler browser test: ${chromium} not found (apt-get install -y chromium, or set CHROMIUM)`);
  process.exit(0);
}
const failures = [];

// Bundles: the browser ones are served to the page; the Node ones run the scenario here.
const [kilnBrowser, runtimeBrowser, kilnNode, runtimeNode] = await Promise.all([
  bundleKiln({ platform: 'browser' }),
  bundleKiln({ platform: 'browser', entry: join(root, 'src/runtime/index.ts') }),
  bundleKiln({ platform: 'node' }),
  bundleKiln({ platform: 'node', entry: join(root, 'src/runtime/index.ts') }),
]);
const allowed = (i) => BROWSER_ALLOWED_NODE_IMPORTS.some((a) => a.importer === i.importer && a.path === i.path && a.kind === i.kind);
const stray = nodeImports(kilnBrowser.metafile).filter((i) => !allowed(i));
if (stray.length) failures.push(`browser bundle reaches Node built-ins: ${stray.map((i) => `${i.importer} -> ${i.path} (${i.kind})`).join(', ')}`);

const cacheDir = join(root, 'node_modules/.cache/kiln-compiler-test');
mkdirSync(cacheDir, { recursive: true });
const writeTmp = (name, code) => {
  const p = join(cacheDir, name);
  writeFileSync(`${p}.tmp`, code);
  renameSync(`${p}.tmp`, p);
  return pathToFileURL(p).href;
};
const { scenario } = await import('./compiler_scenario.mjs');
const nodeRes = await scenario(await import(writeTmp('kiln.node.mjs', kilnNode.code)), await import(writeTmp('runtime.node.mjs', runtimeNode.code)));

const page = `
const res = {};
try {
  const t0 = performance.now();
  const [kiln, runtime, { scenario }] = await Promise.all([import('/kiln.js'), import('/runtime.js'), import('/scenario.js')]);
  res.importMs = performance.now() - t0;
  Object.assign(res, { isolated: self.crossOriginIsolated }, await scenario(kiln, runtime));
} catch (e) { res.error = String(e && e.stack || e); }
await fetch('/results', { method: 'POST', body: JSON.stringify(res) });`;
const files = {
  '/kiln.js': [kilnBrowser.code, 'text/javascript'],
  '/runtime.js': [runtimeBrowser.code, 'text/javascript'],
  '/scenario.js': [readFileSync(join(root, 'test/browser/compiler_scenario.mjs')), 'text/javascript'],
  '/page.js': [page, 'text/javascript'],
};
const html = '<!doctype html><meta charset="utf-8"><script type="module" src="/page.js"></script>';
const iso = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp', 'cross-origin-resource-policy': 'same-origin' };
let result;
let notify = () => {};
const server = createServer((req, res) => {
  const path = new URL(req.url, 'http://x').pathname;
  const headers = { 'cache-control': 'no-store', ...iso };
  if (req.method === 'POST') {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => { result = JSON.parse(body); res.writeHead(204, headers).end(); notify(); });
    return;
  }
  if (path === '/isolated.html') return res.writeHead(200, { ...headers, 'content-type': 'text/html' }).end(html);
  const f = files[path];
  if (!f) return res.writeHead(404, headers).end();
  res.writeHead(200, { ...headers, 'content-type': f[1] }).end(f[0]);
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const port = server.address().port;
const profile = mkdtempSync(join(tmpdir(), 'kiln-chromium-'));
const browser = spawn(chromium, ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage', `--user-data-dir=${profile}`,
  `http://127.0.0.1:${port}/isolated.html`], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
let log = '';
browser.stderr.on('data', (d) => (log += d));
const ok = await new Promise((resolve) => {
  const t = setTimeout(() => resolve(false), 90_000);
  notify = () => { clearTimeout(t); resolve(true); };
});
try { process.kill(-browser.pid, 'SIGKILL'); } catch {}
server.close();
rmSync(profile, { recursive: true, force: true });

const maxAbs = (a, b) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), a.length === b.length ? 0 : Infinity);
const maxRel = (a, b) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]) / Math.max(Math.abs(b[i]), 1e-30)), a.length === b.length ? 0 : Infinity);
for (const [where, r] of [['node', nodeRes], ['page', result]]) {
  if (!r) continue;
  if (r.error) { failures.push(`${where}: ${r.error}`); continue; }
  const e = maxAbs(r.artifactY, r.interpreterY);
  if (!(e <= 1e-5)) failures.push(`${where}: artifact vs interpreter: max |diff| = ${e}`);
  if (r.trainingCompiles !== 1) failures.push(`${where}: fit compiled ${r.trainingCompiles} training programs, expected 1`);
  if (!r.losses.every((l, i) => i === 0 || l < r.losses[0])) failures.push(`${where}: losses do not fall: ${r.losses.join(', ')}`);
}
if (!ok) failures.push(`page timed out\n${log.split('\n').slice(-15).join('\n')}`);
else if (!result.error) {
  if (!result.isolated) failures.push('page: not cross-origin isolated');
  if (!(result.artifactThreads > 1)) failures.push(`page: expected threads > 1 on an isolated page, got ${result.artifactThreads}`);
  const rel = maxRel(result.losses, nodeRes.losses);
  if (!(rel <= 1e-5)) failures.push(`page vs node losses: max relative diff ${rel} (page ${result.losses.join(', ')}; node ${nodeRes.losses.join(', ')})`);
  const ey = maxAbs(result.interpreterY, nodeRes.interpreterY);
  if (!(ey <= 1e-6)) failures.push(`page vs node interpreter outputs: max |diff| = ${ey}`);
  console.log(`losses: page ${result.losses.map((l) => l.toFixed(6)).join(', ')}; node ${nodeRes.losses.map((l) => l.toFixed(6)).join(', ')}; max relative diff ${rel.toExponential(2)}`);
  console.log(`in-page: import ${result.importMs.toFixed(0)} ms, compile ${result.compileMs.toFixed(0)} ms (node ${nodeRes.compileMs.toFixed(0)} ms), fit ${result.fitMs.toFixed(0)} ms (node ${nodeRes.fitMs.toFixed(0)} ms), artifact threads ${result.artifactThreads}`);
}
console.log(`kiln browser bundle: ${(kilnBrowser.bytes / 1024).toFixed(0)} KB, ${(kilnBrowser.gzipBytes / 1024).toFixed(0)} KB gzipped; node bundle ${(kilnNode.gzipBytes / 1024).toFixed(0)} KB gzipped`);
if (failures.length) { console.error('FAIL compiler browser test:\n' + failures.join('\n')); process.exit(1); }
console.log('compiler browser test: passed');
