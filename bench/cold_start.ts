/**
 * Cold start (issue 13 point 3): MobileNetV2 (224x224, random weights, ~14 MB) from
 * `load(bytes)` to its first result, one thread, no V8 flags, against the warm run of the same
 * program; each sample in a fresh Node process, and in a fresh headless Chromium (a new browser
 * process and profile per sample, cross-origin isolated page, the runtime bundled as shipped).
 * Two runtime settings, interleaved sample by sample: the default (kernels warmed up at load,
 * first runs dispatched in pieces) and both off (`{warmup: false, chunkedRuns: 0}`: one call per
 * kernel share from the first run, as before). Medians. Chromium is skipped, saying so, where
 * it is missing (CHROMIUM overrides /usr/bin/chromium).
 * Usage: node bench/out/cold_start.mjs [--samples 7] [--browser-samples 5]
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createServer } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { OUT_DIR, markdownTable, median, parseArgs, uniformInput, writeResult } from './common.js';
import { MOBILENET_V2_INPUT, mobilenetV2 } from './convnets.js';
import { writeFileAtomic } from '../src/frontend/io/atomic.js';

const args = parseArgs(process.argv.slice(2));
const INPUT_ELEMENTS = MOBILENET_V2_INPUT.reduce((a, b) => a * b, 1);

interface Sample {
  loadMs: number;
  firstRunMs: number;
  coldMs: number;
  warmMs: number;
  variant?: string;
}

const SETTINGS = [
  { name: 'default (warm-up at load, chunked first runs)', options: {} },
  { name: 'warm-up and chunking off', options: { warmup: false, chunkedRuns: 0 } },
] as const;

async function child(file: string, options: object): Promise<void> {
  const { load } = await import('kiln/runtime');
  const bytes = new Uint8Array(fs.readFileSync(file));
  const input = uniformInput(INPUT_ELEMENTS);
  const t0 = performance.now();
  const prog = await load(bytes, { threads: 1, ...options });
  const t1 = performance.now();
  prog.runSync({ [prog.inputs[0]!.name]: input });
  const t2 = performance.now();
  const warm: number[] = [];
  for (let i = 0; i < 5; i++) {
    const s = performance.now();
    prog.runSync({ [prog.inputs[0]!.name]: input });
    warm.push(performance.now() - s);
  }
  const r: Sample = { loadMs: t1 - t0, firstRunMs: t2 - t1, coldMs: t2 - t0, warmMs: median(warm), variant: prog.variant };
  process.stdout.write(JSON.stringify(r) + '\n');
}

// The page: fetch the artifact (not timed), then load, first run, five warm runs; POST the times.
const PAGE = `<!doctype html><meta charset="utf-8"><title>kiln cold start</title><script type="module">
import { load } from '/runtime.js';
const options = JSON.parse(new URLSearchParams(location.search).get('o'));
const bytes = new Uint8Array(await (await fetch('/model.kiln')).arrayBuffer());
const input = new Float32Array(${INPUT_ELEMENTS});
let seed = 1;
for (let i = 0; i < input.length; i++) { seed = (seed * 1103515245 + 12345) >>> 0; input[i] = seed / 4294967296; }
let r;
try {
  const t0 = performance.now();
  const prog = await load(bytes, { threads: 1, ...options });
  const t1 = performance.now();
  prog.runSync({ [prog.inputs[0].name]: input });
  const t2 = performance.now();
  const warm = [];
  for (let i = 0; i < 5; i++) { const s = performance.now(); prog.runSync({ [prog.inputs[0].name]: input }); warm.push(performance.now() - s); }
  warm.sort((a, b) => a - b);
  r = { loadMs: t1 - t0, firstRunMs: t2 - t1, coldMs: t2 - t0, warmMs: warm[2], variant: prog.variant, isolated: crossOriginIsolated };
} catch (e) { r = { error: String(e && e.stack || e) }; }
await fetch('/result', { method: 'POST', body: JSON.stringify(r) });
</script>`;

/** One fresh Chromium (own profile, own process group) per sample; undefined when there is no Chromium. */
async function chromiumSamples(file: string, samplesPerSetting: number): Promise<Sample[][] | string> {
  const chromium = process.env['CHROMIUM'] ?? '/usr/bin/chromium';
  if (!fs.existsSync(chromium)) return `${chromium} not found (apt-get install -y chromium, or set CHROMIUM)`;
  // The runtime as shipped (minified, platform neutral), from the sources next to this script (bench/out/../../src).
  const runtimeEntry = fileURLToPath(new URL('../../src/runtime/index.ts', import.meta.url));
  const runtime = (await build({ entryPoints: [runtimeEntry], bundle: true, minify: true, format: 'esm', platform: 'neutral', target: 'es2022', write: false })).outputFiles[0]!.contents;
  const artifact = fs.readFileSync(file);
  const headers = {
    'cache-control': 'no-store',
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-embedder-policy': 'require-corp',
    'cross-origin-resource-policy': 'same-origin',
  };
  let onResult: (body: string) => void = () => {};
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (req.method === 'POST' && url.pathname === '/result') {
      let body = '';
      req.on('data', (c: Buffer) => (body += c));
      req.on('end', () => {
        res.writeHead(204, headers).end();
        onResult(body);
      });
      return;
    }
    if (url.pathname === '/runtime.js') res.writeHead(200, { ...headers, 'content-type': 'text/javascript' }).end(runtime);
    else if (url.pathname === '/model.kiln') res.writeHead(200, { ...headers, 'content-type': 'application/octet-stream' }).end(artifact);
    else if (url.pathname === '/') res.writeHead(200, { ...headers, 'content-type': 'text/html' }).end(PAGE);
    else res.writeHead(404, headers).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const out: Sample[][] = SETTINGS.map(() => []);
  try {
    for (let i = 0; i < samplesPerSetting; i++) {
      for (const [k, s] of SETTINGS.entries()) {
        const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-cold-'));
        const url = `http://127.0.0.1:${port}/?o=${encodeURIComponent(JSON.stringify(s.options))}`;
        const browser = spawn(chromium, ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
          '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage', `--user-data-dir=${profile}`, url], { stdio: 'ignore', detached: true });
        try {
          const body = await new Promise<string>((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error('no result from Chromium within 60 s')), 60_000);
            onResult = (b) => {
              clearTimeout(timer);
              resolve(b);
            };
            browser.on('exit', (code) => reject(new Error(`chromium exited with code ${code} before posting a result`)));
          });
          const r = JSON.parse(body) as Sample & { error?: string; isolated?: boolean };
          if (r.error) throw new Error(`cold_start page failed: ${r.error}`);
          if (!r.isolated) throw new Error('cold_start page is not cross-origin isolated');
          out[k]!.push(r);
        } finally {
          try {
            process.kill(-browser.pid!, 'SIGKILL');
          } catch {}
          fs.rmSync(profile, { recursive: true, force: true });
        }
      }
    }
  } finally {
    server.close();
  }
  return out;
}

function summary(rows: Sample[]) {
  const m = (k: 'loadMs' | 'firstRunMs' | 'coldMs' | 'warmMs') => median(rows.map((r) => r[k]));
  return { loadMs: m('loadMs'), firstRunMs: m('firstRunMs'), coldMs: m('coldMs'), warmMs: m('warmMs'), variant: rows[0]?.variant ?? '?' };
}

async function main(): Promise<void> {
  const samples = Number(args.get('samples') ?? '7');
  const browserSamples = Number(args.get('browser-samples') ?? '5');
  const kiln = await import('kiln');
  const art = kiln.compile(mobilenetV2(kiln), { inputShapes: [[1, ...MOBILENET_V2_INPUT]] });
  fs.mkdirSync(OUT_DIR, { recursive: true });
  const file = path.join(OUT_DIR, 'cold_start_mobilenet_v2.kiln');
  await writeFileAtomic(file, art.bytes);
  const self = fileURLToPath(import.meta.url);
  // Node: a fresh process per sample with no V8 flags (run.js starts benchmarks with one).
  const node: Sample[][] = SETTINGS.map(() => []);
  for (let i = 0; i < samples; i++) {
    for (const [k, s] of SETTINGS.entries()) {
      // A command-line V8 flag of this process does not reach a spawned one.
      const r = spawnSync(process.execPath, [self, '--child', file, '--options', JSON.stringify(s.options)], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`cold_start child failed: ${r.stderr}`);
      node[k]!.push(JSON.parse(r.stdout.trim().split('\n').pop()!) as Sample);
    }
  }
  const browser = await chromiumSamples(file, browserSamples);
  const results = [
    ...SETTINGS.map((s, k) => ({ host: `Node ${process.versions.node}`, setting: s.name, samples, ...summary(node[k]!) })),
    ...(typeof browser === 'string' ? [] : SETTINGS.map((s, k) => ({ host: 'Chromium (headless)', setting: s.name, samples: browserSamples, ...summary(browser[k]!) }))),
  ];
  writeResult('cold_start', { model: 'MobileNetV2 224', artifactBytes: art.bytes.length, target60ms: true, results, chromium: typeof browser === 'string' ? `skipped: ${browser}` : 'ran' });
  const md = markdownTable(
    ['host', 'runtime', 'module', 'load ms', 'first run ms', 'load+first ms', 'warm run ms', 'cold / warm', 'vs 60 ms target'],
    results.map((r) => [r.host, r.setting, r.variant, r.loadMs.toFixed(1), r.firstRunMs.toFixed(1), r.coldMs.toFixed(1), r.warmMs.toFixed(1), (r.coldMs / r.warmMs).toFixed(2), (r.coldMs / 60).toFixed(2) + 'x']),
  );
  const note = typeof browser === 'string' ? `\n\nChromium skipped: ${browser}\n` : '\n';
  await writeFileAtomic(
    path.join(OUT_DIR, 'cold_start.md'),
    `Cold start, MobileNetV2 224 (${(art.bytes.length / 1e6).toFixed(1)} MB artifact), 1 thread, a fresh process per sample (median of ${samples} in Node, ${browserSamples} in Chromium; settings interleaved):\n\n${md}\n${note}`,
  );
  console.log(md + note);
}

if (args.has('child')) await child(args.get('child')!, JSON.parse(args.get('options') ?? '{}') as object);
else await main();
