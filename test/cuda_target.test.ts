/**
 * The CUDA target through the public API: compile(target 'cuda') gives a PTX artifact that ptxas
 * accepts for sm_80 and sm_90 (skipped with a printed reason without ptxas), and on a machine
 * without an NVIDIA driver load(bytes, {device: 'cuda'}) fails with a clear message while the
 * WebAssembly target keeps working.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as kiln from 'kiln';
import { load, readArtifact } from 'kiln/runtime';

const hasPtxas = spawnSync('ptxas', ['--version']).status === 0;
const hasDriver = (() => { try { execFileSync('ls', ['/usr/lib/x86_64-linux-gnu/libcuda.so.1'], { stdio: 'ignore' }); return true; } catch { return false; } })();

function cnn() {
  return kiln.sequential({ layers: [
    kiln.layers.conv2d({ filters: 8, kernelSize: 3, activation: 'relu', inputShape: [12, 12, 1] }),
    kiln.layers.maxPooling2d({ poolSize: 2 }),
    kiln.layers.flatten(),
    kiln.layers.dense({ units: 10, activation: 'softmax' }),
  ] });
}

describe('CUDA target', () => {
  it.skipIf(!hasPtxas)('compiles a CNN to PTX that ptxas assembles for sm_80 and sm_90', () => {
    for (const sm of [80, 90] as const) {
      const art = kiln.compile(cnn(), { target: 'cuda', sm, inputShapes: [[2, 12, 12, 1]] });
      const { manifest, sections } = readArtifact(art.bytes);
      expect(manifest.target).toBe('cuda');
      const dir = mkdtempSync(join(tmpdir(), 'kiln-ptx-'));
      const file = join(dir, 'm.ptx');
      writeFileSync(file, new TextDecoder().decode(sections['ptx']));
      const r = spawnSync('ptxas', [`-arch=sm_${sm}`, file, '-o', join(dir, 'm.cubin')], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
    }
  });
  it.skipIf(!hasPtxas)('mixed precision f16: dense layers use mma.sync tensor cores, and the PTX assembles', () => {
    const mlp = kiln.sequential({ layers: [
      kiln.layers.dense({ units: 64, activation: 'relu', inputShape: [32] }),
      kiln.layers.dense({ units: 16 }),
    ] });
    const art = kiln.compile(mlp, { target: 'cuda', sm: 80, mixedPrecision: 'f16', inputShapes: [[16, 32]] });
    const ptx = new TextDecoder().decode(readArtifact(art.bytes).sections['ptx']);
    expect(ptx).toContain('mma.sync');
    const dir = mkdtempSync(join(tmpdir(), 'kiln-ptx-'));
    writeFileSync(join(dir, 'm.ptx'), ptx);
    const r = spawnSync('ptxas', ['-arch=sm_80', join(dir, 'm.ptx'), '-o', join(dir, 'm.cubin')], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(() => kiln.compile(mlp, { mixedPrecision: 'f16', inputShapes: [[1, 32]] })).toThrow(/needs target 'cuda'/);
  });
  if (!hasPtxas) it('ptxas check', () => console.log('SKIP: ptxas not on PATH; PTX was not assembled'));

  it.skipIf(hasDriver)('without a driver, loading on CUDA says so clearly', async () => {
    const art = kiln.compile(cnn(), { target: 'cuda', inputShapes: [[1, 12, 12, 1]] });
    await expect(load(art.bytes, { device: 'cuda' })).rejects.toThrow(/CUDA driver not found/);
    // The WebAssembly target is unaffected.
    const wasm = await load(kiln.compile(cnn(), { inputShapes: [[1, 12, 12, 1]] }).bytes, { threads: 1 });
    const out = wasm.runSync({ input: new Float32Array(144).fill(0.5) });
    expect(Object.values(out)[0]!.length).toBe(10);
    wasm.dispose();
  });
});
