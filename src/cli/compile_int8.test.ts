import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { readArtifact } from '../runtime/index.js';
import { readNpy, writeNpy } from './npy.js';
import { kiln, maxAbs, randomData, tempDir } from './test_util.js';
import { writeIr } from './test_models.js';
import * as k from '../index.js';

/** `kiln compile --quantize int8 --calibration data.npy [--calibration-method m]`. */
describe('kiln compile --quantize int8', () => {
  const t = tempDir();
  afterAll(() => t.remove());
  const cnn = k.sequential({ layers: [
    k.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', inputShape: [8, 8, 1], kernelInitializer: k.initializers.heNormal({ seed: 1 }) }),
    k.layers.flatten(),
    k.layers.dense({ units: 3, kernelInitializer: k.initializers.glorotUniform({ seed: 2 }) }),
  ] });

  it('compiles with calibration samples in batches of the compiled batch; kiln run follows the f32 artifact', async () => {
    writeIr(cnn, [[2, 8, 8, 1]], t.path('cnn.txt'));
    writeFileSync(t.path('cal.npy'), writeNpy(randomData(129 * 64, 3, 0, 1), [129, 8, 8, 1])); // 64 batches of 2, one sample left out
    const r = await kiln(['compile', 'cnn.txt', '-o', 'cnn8.kiln', '--quantize', 'int8', '--calibration', 'cal.npy', '--calibration-method', 'minmax', '--explain'], t.dir);
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/int8 quantization: 2 dot\/conv sites in integers/);
    expect(readArtifact(new Uint8Array(readFileSync(t.path('cnn8.kiln')))).manifest.kernels.length).toBeGreaterThan(0);
    expect((await kiln(['compile', 'cnn.txt', '-o', 'cnn.kiln'], t.dir)).code).toBe(0);
    writeFileSync(t.path('x.npy'), writeNpy(randomData(2 * 64, 9, 0, 1), [2, 8, 8, 1]));
    const outs = [];
    for (const f of ['cnn.kiln', 'cnn8.kiln']) {
      const run = await kiln(['run', f, '--input', 'x.npy', '--output', `${f}.y.npy`, '--threads', '1'], t.dir);
      expect(run.code).toBe(0);
      outs.push(readNpy(new Uint8Array(readFileSync(t.path(`${f}.y.npy`)))).data as Float32Array);
    }
    expect(maxAbs(outs[1]!, outs[0]!)).toBeLessThan(0.05 * Math.max(...outs[0]!.map(Math.abs)));
  });

  it('refuses missing or misshapen calibration data, and calibration flags without int8', async () => {
    writeIr(cnn, [[2, 8, 8, 1]], t.path('cnn.txt'));
    const a = await kiln(['compile', 'cnn.txt', '-o', 'x.kiln', '--quantize', 'int8'], t.dir);
    expect(a.code).not.toBe(0);
    expect(a.stderr).toMatch(/--quantize int8 needs --calibration <data.npy>/);
    writeFileSync(t.path('bad.npy'), writeNpy(randomData(4 * 36, 3), [4, 6, 6, 1]));
    const b = await kiln(['compile', 'cnn.txt', '-o', 'x.kiln', '--quantize', 'int8', '--calibration', 'bad.npy'], t.dir);
    expect(b.stderr).toMatch(/--calibration bad.npy: shape \[4,6,6,1\], expected \[N,8,8,1\]/);
    const c = await kiln(['compile', 'cnn.txt', '-o', 'x.kiln', '--calibration', 'bad.npy'], t.dir);
    expect(c.stderr).toMatch(/--calibration applies to --quantize int8/);
  });
});
