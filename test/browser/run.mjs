#!/usr/bin/env node
// Browser test of kiln/runtime: bundles the runtime with esbuild, builds the
// fixture artifacts, serves both on 127.0.0.1, and opens headless Chromium on
// two pages: one cross-origin isolated (COOP/COEP, so threads are available)
// and one not (a shared-memory artifact runs single-threaded on an unshared
// memory; asking it for threads fails with a clear error). Both pages also
// train the stateful counter artifact for three steps. Each page POSTs its
// outputs back; this script compares them with JS references. Skips with a reason (exit 0) when Chromium is
// missing: `apt-get install -y chromium`. Usage: node test/browser/run.mjs
import { build } from 'esbuild';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const chromium = process.env.CHROMIUM ?? '/usr/bin/chromium';
if (!existsSync(chromium)) {
  console.log(`SKIP browser test: ${chromium} not found (apt-get install -y chromium, or set CHROMIUM)`);
  process.exit(0);
}

// The runtime exactly as shipped: minified, platform neutral.
const runtime = (
  await build({
    entryPoints: [join(root, 'src/runtime/index.ts')],
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    write: false,
  })
).outputFiles[0].contents;

// The fixture is TypeScript; bundle it for Node next to node_modules so binaryen resolves.
const cacheDir = join(root, 'node_modules/.cache/kiln-browser-test');
mkdirSync(cacheDir, { recursive: true });
const fixturePath = join(cacheDir, 'fixture.mjs');
await build({
  entryPoints: [join(root, 'test/browser/fixture.ts')],
  bundle: true,
  format: 'esm',
  platform: 'node',
  packages: 'external',
  outfile: fixturePath,
});
const fx = await import(pathToFileURL(fixturePath).href);

const N = 256;
const w = Float32Array.from({ length: N }, (_, i) => Math.cos(i * 0.37) * 2);
const x = Float32Array.from({ length: N }, (_, i) => Math.sin(i * 1.3) * 4);
const ref = fx.addScaleReference(x, w);

// The counter artifact (resident state, two entries) and its oracle: plain loops in f32.
const CN = 64;
const acc0 = Float32Array.from({ length: CN }, (_, i) => (i % 9) - 4);
const STEP0 = 5;
const batches = [0, 1, 2].map((k) => Float32Array.from({ length: CN }, (_, i) => Math.cos(i * 0.9 + k) * 3));
const counterRef = (() => {
  const acc = Float32Array.from(acc0);
  const losses = [];
  for (const b of batches) {
    for (let i = 0; i < CN; i++) acc[i] = Math.fround(acc[i] + b[i]);
    let s = 0;
    for (let i = 0; i < CN; i++) s = Math.fround(s + acc[i]);
    losses.push(s);
  }
  const score = Array.from(acc, (a, i) => Math.fround(a * batches[0][i]));
  return { acc: Array.from(acc), losses, score, step: STEP0 + batches.length };
})();
const files = {
  '/runtime.js': [runtime, 'text/javascript'],
  '/page.js': [readFileSync(join(root, 'test/browser/page.js')), 'text/javascript'],
  '/plain.kiln': [fx.addScaleArtifact(w), 'application/octet-stream'],
  '/shared.kiln': [fx.addScaleArtifact(w, { shared: true }), 'application/octet-stream'],
  '/relaxed.kiln': [fx.addScaleArtifact(w, { shared: true, relaxed: true }), 'application/octet-stream'],
  '/x.bin': [new Uint8Array(x.buffer), 'application/octet-stream'],
  '/counter.kiln': [fx.counterArtifact({ n: CN, shared: true, accInit: acc0, stepInit: STEP0 }), 'application/octet-stream'],
  '/spin.kiln': [fx.spinArtifact(64), 'application/octet-stream'],
  ...Object.fromEntries(batches.map((b, k) => [`/batch${k}.bin`, [new Uint8Array(b.buffer), 'application/octet-stream']])),
};
const html = '<!doctype html><meta charset="utf-8"><title>kiln runtime</title><script type="module" src="/page.js"></script>';
const isolationHeaders = {
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-embedder-policy': 'require-corp',
  'cross-origin-resource-policy': 'same-origin',
};

const results = new Map();
let onResult = () => {};
const server = createServer((req, res) => {
  const path = new URL(req.url, 'http://x').pathname;
  // Isolation is decided by the document's headers: only /isolated.html gets
  // COOP/COEP. Subresources always carry them (CORP lets them load under COEP;
  // on a subresource the other two have no effect).
  const headers = { 'cache-control': 'no-store', ...(path === '/plain.html' ? {} : isolationHeaders) };
  if (req.method === 'POST' && path === '/results') {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const r = JSON.parse(body);
      results.set(r.page, r);
      res.writeHead(204, headers).end();
      onResult();
    });
    return;
  }
  if (path === '/isolated.html' || path === '/plain.html') {
    res.writeHead(200, { ...headers, 'content-type': 'text/html' }).end(html);
    return;
  }
  const f = files[path];
  if (!f) {
    res.writeHead(404, headers).end();
    return;
  }
  res.writeHead(200, { ...headers, 'content-type': f[1] }).end(f[0]);
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const port = server.address().port;

const profile = mkdtempSync(join(tmpdir(), 'kiln-chromium-'));
const browser = spawn(
  chromium,
  [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--disable-dev-shm-usage',
    `--user-data-dir=${profile}`,
    `http://127.0.0.1:${port}/isolated.html`,
  ],
  { stdio: ['ignore', 'ignore', 'pipe'], detached: true },
);
let browserLog = '';
browser.stderr.on('data', (d) => (browserLog += d));

const TIMEOUT_MS = 90_000;
const done = await new Promise((resolve) => {
  const timer = setTimeout(() => resolve(false), TIMEOUT_MS);
  onResult = () => {
    if (results.size === 2) {
      clearTimeout(timer);
      resolve(true);
    }
  };
  browser.on('exit', (code) => {
    clearTimeout(timer);
    resolve(results.size === 2 ? true : `chromium exited with code ${code}`);
  });
});
try {
  process.kill(-browser.pid, 'SIGKILL'); // the browser and its helper processes (our own group)
} catch {}
server.close();
rmSync(profile, { recursive: true, force: true });

const failures = [];
const check = (cond, msg) => {
  if (!cond) failures.push(msg);
};
if (done !== true) {
  failures.push(`no results from the browser (${done === false ? `timed out after ${TIMEOUT_MS} ms` : done}); got pages: ${[...results.keys()].join(', ') || 'none'}`);
  console.error(browserLog.split('\n').slice(-20).join('\n'));
}

const maxRelErr = (a, b) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]) / (1 + Math.abs(b[i]))), 0);
function checkOutputs(page, c, exact) {
  const where = `${page} ${c.name}`;
  if (c.error) return check(false, `${where}: unexpected error: ${c.error}`);
  check(c.consistent, `${where}: repeated runs disagree`);
  if (exact) {
    check(c.y.every((v, i) => v === ref.y[i]), `${where}: y differs from the JS reference (max rel err ${maxRelErr(c.y, ref.y)})`);
    check(c.sum === ref.sum, `${where}: sum ${c.sum} != ${ref.sum}`);
  } else {
    check(maxRelErr(c.y, ref.y) < 1e-6, `${where}: y max rel err ${maxRelErr(c.y, ref.y)}`);
    check(Math.abs(c.sum - ref.sum) <= 1e-4 * (1 + Math.abs(ref.sum)), `${where}: sum ${c.sum} vs ${ref.sum}`);
  }
}

function checkCounter(page, c, threads, sharedMemory) {
  const where = `${page} ${c?.name}`;
  if (!c || c.error) return check(false, `${where}: unexpected error: ${c?.error}`);
  check(c.threads === threads, `${where}: ran on ${c.threads} threads, wanted ${threads}`);
  check(c.sharedMemory === sharedMemory, `${where}: sharedMemory ${c.sharedMemory}, wanted ${sharedMemory}`);
  check(c.losses.every((v, i) => v === counterRef.losses[i]), `${where}: losses ${c.losses} != ${counterRef.losses}`);
  check(c.acc.every((v, i) => v === counterRef.acc[i]), `${where}: state 'acc' differs from the reference`);
  check(c.step === counterRef.step, `${where}: state 'step' ${c.step} != ${counterRef.step}`);
  check(c.score.every((v, i) => v === counterRef.score[i]), `${where}: eval_step score differs from the reference`);
  const st = c.stats;
  check(st.runs === 3 && st.bytesIn === 3 * CN * 4 && st.bytesOut === 3 * 8, `${where}: stats ${JSON.stringify(st)}: state crossed into JS or batches were miscounted`);
}
// The spin artifact's y = 2x, x = i - 20.5.
const spinY = Array.from({ length: 64 }, (_, i) => Math.fround(i - 20.5) * 2);
function checkLiveness(page, l) {
  if (!l || l.error) return check(false, `${page} liveness: unexpected error: ${l?.error}`);
  const failed = (a, re, what) => check(a && !a.ok && a.kiln && re.test(a.message), `${page} liveness ${what}: wanted a KilnRuntimeError matching ${re}, got ${JSON.stringify(a)}`);
  const correct = (a, what) => check(a?.ok && a.y.every((v, i) => v === spinY[i]), `${page} liveness ${what}: wanted y = 2x, got ${JSON.stringify(a)}`);
  if (page !== 'isolated') {
    failed(l.timedOut, /timeoutMs needs worker threads on shared memory/, 'timeoutMs without shared memory');
    failed(l.after, /timeoutMs needs worker threads on shared memory/, 'timeoutMs without shared memory');
    return;
  }
  failed(l.timedOut, /did not finish within timeoutMs 300 \(thread 0 was at schedule step 1, kernel 'spin'\)/, 'spinning kernel');
  check(l.timedOut?.ms < 5000, `${page} liveness: the time-out took ${l.timedOut?.ms} ms`);
  correct(l.after, 'run after the time-out');
  failed(l.killed, /worker thread 1 of 2 was terminated/, 'worker killed mid-run');
  check(l.killed?.ms < 5000, `${page} liveness: the killed run took ${l.killed?.ms} ms to fail`);
  correct(l.afterKill, 'run after the kill');
  correct(l.sync, 'runSync after the kill');
  check(l.restarts === 2, `${page} liveness: ${l.restarts} worker restarts, wanted 2`);
  console.log(`  ${page} liveness: spinning kernel stopped after ${l.timedOut?.ms.toFixed(0)} ms, killed worker noticed after ${l.killed?.ms.toFixed(0)} ms, ${l.restarts} restarts`);
}

const wantsIsolation = (page, c) =>
  check(c?.kilnError && /cross-origin isolated/.test(c.error), `${page} ${c?.name}: wanted a KilnRuntimeError about isolation, got ${JSON.stringify(c)}`);

const iso = results.get('/isolated.html');
if (iso) {
  check(iso.isolated, 'isolated page: crossOriginIsolated is false (COOP/COEP not applied)');
  const byName = Object.fromEntries(iso.cases.map((c) => [c.name, c]));
  for (const c of iso.cases) checkOutputs('isolated', c, !c.name.startsWith('relaxed-3') && c.name !== 'relaxed-default');
  check(byName['shared-2']?.threads === 2, `isolated shared-2: ran on ${byName['shared-2']?.threads} threads, wanted 2`);
  check(byName['shared-4']?.threads === 4, `isolated shared-4: ran on ${byName['shared-4']?.threads} threads, wanted 4`);
  check(byName['shared-1']?.sharedMemory === true, 'isolated shared-1: wanted shared memory');
  check(byName['relaxed-3']?.variant === 'relaxed-simd', `isolated relaxed-3: variant ${byName['relaxed-3']?.variant}, wanted relaxed-simd (Chromium >= 114 has it)`);
  check(byName['relaxed-off']?.variant === 'simd', `isolated relaxed-off: variant ${byName['relaxed-off']?.variant}, wanted simd`);
  const [cd, c2] = iso.counters;
  checkCounter('isolated', cd, Math.min(2, iso.hardwareConcurrency), true);
  checkCounter('isolated', c2, 2, true);
  checkLiveness('isolated', iso.liveness);
  for (const c of iso.cases) if (!c.error) console.log(`  isolated ${c.name}: threads ${c.threads}, ${c.variant}, ${c.ms.toFixed(1)} ms (load + 6 runs)`);
}
const plain = results.get('/plain.html');
if (plain) {
  check(!plain.isolated, 'plain page: unexpectedly cross-origin isolated');
  const byName = Object.fromEntries(plain.cases.map((c) => [c.name, c]));
  // Without isolation there is no SharedArrayBuffer: threads artifacts run
  // single-threaded on a patched, unshared memory; asking for threads fails.
  for (const name of ['plain-1', 'shared-1', 'shared-default', 'relaxed-default']) {
    const c = byName[name];
    checkOutputs('plain', c, name !== 'relaxed-default');
    check(c?.threads === 1 && c?.sharedMemory === false, `plain ${name}: wanted 1 thread on unshared memory, got ${c?.threads} threads, sharedMemory ${c?.sharedMemory}`);
  }
  check(byName['relaxed-default']?.variant === 'relaxed-simd', `plain relaxed-default: variant ${byName['relaxed-default']?.variant}, wanted relaxed-simd (the patch must apply to it too)`);
  for (const name of ['shared-2', 'shared-4', 'relaxed-3', 'relaxed-off']) wantsIsolation('plain', byName[name]);
  checkCounter('plain', plain.counters[0], 1, false);
  checkLiveness('plain', plain.liveness);
  wantsIsolation('plain', plain.counters[1]);
  for (const c of plain.cases) if (!c.error) console.log(`  plain ${c.name}: threads ${c.threads}, ${c.variant}, ${c.ms.toFixed(1)} ms (load + 6 runs)`);
}

if (failures.length) {
  console.error(`FAIL browser test (${failures.length}):\n  ${failures.join('\n  ')}`);
  process.exit(1);
}
console.log(`PASS browser test: ${iso.cases.length + plain.cases.length + iso.counters.length + plain.counters.length} cases on 2 pages in ${chromium}`);
