/**
 * Importing Kiln prints nothing: a child process that imports kiln, predicts (compiled and on the
 * reference interpreter) and compiles writes nothing to stdout or stderr. The control child uses
 * tfjs-core's cpu backend without Kiln and must print TensorFlow.js's "install tfjs-node" banner,
 * so the check would see the banner if Kiln let it through.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('..', import.meta.url));
let dir = '';

async function bundle(name: string, contents: string): Promise<string> {
  const outfile = join(dir, `${name}.mjs`);
  await build({
    stdin: { contents, resolveDir: SRC, sourcefile: `${name}.ts`, loader: 'ts' },
    bundle: true, platform: 'node', format: 'esm', target: 'node20', packages: 'external', outfile, logLevel: 'warning',
  });
  return outfile;
}

function runChild(file: string, ...args: string[]): { stdout: string; stderr: string; status: number | null } {
  const r = spawnSync(process.execPath, [file, ...args], { encoding: 'utf8', timeout: 60_000, cwd: join(SRC, '..') });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

let kilnChild = '';
let tfjsChild = '';
beforeAll(async () => {
  // Inside node_modules so the bundles resolve the packages they leave external.
  mkdirSync(join(SRC, '../node_modules/.cache'), { recursive: true });
  dir = mkdtempSync(join(SRC, '../node_modules/.cache/kiln-quiet-'));
  kilnChild = await bundle('kiln_child', `
    import { writeFileSync } from 'node:fs';
    import * as kiln from './index.js';
    const m = kiln.sequential({ layers: [kiln.layers.dense({ units: 3, inputShape: [4], activation: 'relu' })] });
    const x = kiln.ones([2, 4]);
    const compiled = (m.predict(x) as kiln.Tensor).dataSync();
    m.runEagerly = true;
    const eager = (m.predict(x) as kiln.Tensor).dataSync();
    const art = kiln.compile(m, { inputShapes: [[2, 4]] });
    writeFileSync(process.argv[2]!, JSON.stringify({ compiled: Array.from(compiled), eager: Array.from(eager), bytes: art.bytes.length }));
  `);
  tfjsChild = await bundle('tfjs_child', `
    import * as tf from '@tensorflow/tfjs-core';
    import '@tensorflow/tfjs-backend-cpu';
    await tf.setBackend('cpu');
    tf.ones([2]).dataSync();
  `);
}, 60_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('quiet package', () => {
  it('a process that imports kiln, predicts and compiles prints nothing', () => {
    const result = join(dir, 'result.json');
    const r = runChild(kilnChild, result);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('');
    const out = JSON.parse(readFileSync(result, 'utf8')) as { compiled: number[]; eager: number[]; bytes: number };
    expect(out.compiled).toHaveLength(6);
    for (let i = 0; i < 6; i++) expect(out.compiled[i]).toBeCloseTo(out.eager[i]!, 5);
    expect(out.bytes).toBeGreaterThan(0);
  });

  it('control: tfjs-core on its cpu backend without Kiln prints the banner the check looks for', () => {
    const r = runChild(tfjsChild);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).toMatch(/looks like you are running TensorFlow\.js in Node\.js/);
  });
});
