#!/usr/bin/env node
// Browser check of a compiler-produced artifact: compiles a small Keras CNN with Kiln (dist/,
// run `npm run build` first), computes the expected outputs with the reference interpreter,
// serves the runtime bundle (esbuild, minified, platform neutral) and the artifact on 127.0.0.1,
// and has headless Chromium load and run it through kiln/runtime on a cross-origin isolated page
// (threads) and a plain page (one thread). Skips with a reason when Chromium is missing.
import { build } from 'esbuild';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const chromium = process.env.CHROMIUM ?? '/usr/bin/chromium';
if (!existsSync(chromium)) {
  console.log(`SKIP compiled-artifact browser test: ${chromium} not found (apt-get install -y chromium)`);
  process.exit(0);
}
const kiln = await import(join(root, 'dist/index.js'));
const model = kiln.sequential({ layers: [
  kiln.layers.conv2d({ filters: 16, kernelSize: 3, activation: 'relu', inputShape: [16, 16, 2] }),
  kiln.layers.maxPooling2d({ poolSize: 2 }),
  kiln.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', activation: 'relu' }),
  kiln.layers.flatten(),
  kiln.layers.dense({ units: 32, activation: 'relu' }),
  kiln.layers.dense({ units: 10, activation: 'softmax' }),
] });
const shape = [3, 16, 16, 2];
const art = kiln.compile(model, { inputShapes: [shape] });
const x = Float32Array.from({ length: 3 * 16 * 16 * 2 }, (_, i) => Math.sin(i * 0.7));
model.runEagerly = true;
const want = Array.from(model.predict(kiln.tensor(x, shape)).dataSync());

const runtime = (await build({ entryPoints: [join(root, 'src/runtime/index.ts')], bundle: true, minify: true, format: 'esm', platform: 'neutral', target: 'es2022', write: false })).outputFiles[0].contents;
const page = `
import { load } from '/runtime.js';
const page = location.pathname.slice(1, -5);
const res = { page };
try {
  const bytes = new Uint8Array(await (await fetch('/model.kiln')).arrayBuffer());
  const x = new Float32Array(await (await fetch('/x.bin')).arrayBuffer());
  const prog = await load(bytes);
  const out = await prog.run({ [prog.inputs[0].name]: x });
  Object.assign(res, { threads: prog.threads, variant: prog.variant, y: Array.from(out[prog.outputs[0].name]) });
  prog.dispose();
} catch (e) { res.error = String(e && e.stack || e); }
await fetch('/results', { method: 'POST', body: JSON.stringify(res) });
if (page === 'isolated') location.href = '/plain.html';`;
const files = {
  '/runtime.js': [runtime, 'text/javascript'],
  '/page.js': [page, 'text/javascript'],
  '/model.kiln': [art.bytes, 'application/octet-stream'],
  '/x.bin': [new Uint8Array(x.buffer), 'application/octet-stream'],
};
const html = '<!doctype html><meta charset="utf-8"><script type="module" src="/page.js"></script>';
const iso = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp', 'cross-origin-resource-policy': 'same-origin' };
const results = new Map();
let notify = () => {};
const server = createServer((req, res) => {
  const path = new URL(req.url, 'http://x').pathname;
  const headers = { 'cache-control': 'no-store', ...(path === '/plain.html' ? {} : iso) };
  if (req.method === 'POST') {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => { const r = JSON.parse(body); results.set(r.page, r); res.writeHead(204, headers).end(); notify(); });
    return;
  }
  if (path === '/isolated.html' || path === '/plain.html') return res.writeHead(200, { ...headers, 'content-type': 'text/html' }).end(html);
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
  notify = () => { if (results.size === 2) { clearTimeout(t); resolve(true); } };
});
try { process.kill(-browser.pid, 'SIGKILL'); } catch {}
server.close();
rmSync(profile, { recursive: true, force: true });
const failures = [];
if (!ok) failures.push(`timed out; pages: ${[...results.keys()].join(', ')}\n${log.split('\n').slice(-15).join('\n')}`);
for (const [name, r] of results) {
  if (r.error) { failures.push(`${name}: ${r.error}`); continue; }
  const err = r.y.reduce((m, v, i) => Math.max(m, Math.abs(v - want[i])), 0);
  if (!(err <= 1e-5) || r.y.length !== want.length) failures.push(`${name}: max |browser - interpreter| = ${err}`);
  if (name === 'isolated' && !(r.threads > 1)) failures.push(`isolated: expected threads > 1, got ${r.threads}`);
  if (name === 'plain' && r.threads !== 1) failures.push(`plain: expected 1 thread, got ${r.threads}`);
  console.log(`${name}: threads ${r.threads}, ${r.variant}, ${r.y.length} outputs, max error ${err.toExponential(2)}`);
}
if (failures.length) { console.error('FAIL compiled-artifact browser test:\n' + failures.join('\n')); process.exit(1); }
console.log('compiled-artifact browser test: 2 passed, 0 failed');
