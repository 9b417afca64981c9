import { readFileSync, writeFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import * as tfconv from '@tensorflow/tfjs-converter';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readArtifact } from '../runtime/index.js';
import { readNpy, writeNpy } from './npy.js';
import { kiln, maxAbs, randomData, tempDir, writeTinyGraphModel } from './test_util.js';
import { cnnPair, writeIr } from './test_models.js';
import * as kiln_ from '../index.js';

const t = tempDir();
afterAll(t.remove);

beforeAll(async () => {
  const { model } = await cnnPair();
  writeIr(model, [[2, 8, 8, 3]], t.path('cnn.txt'));
  writeTinyGraphModel(t.dir, 'tiny.json');
  writeTinyGraphModel(t.dir, 'where.json', true);
});

describe('kiln compile', () => {
  it('compiles IR text: one progress line per stage on stderr, a summary that matches the artifact on stdout', async () => {
    const r = await kiln(['compile', 'cnn.txt', '-o', 'cnn.kiln'], t.dir);
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    const stages = [...r.stderr.matchAll(/^ {2}(\w+) +([\d.]+) (ms|s)\b/gm)].map((m) => m[1]);
    expect(stages).toEqual(['load', 'trace', 'passes', 'fusion', 'codegen', 'pack', 'write']);
    const bytes = readFileSync(t.path('cnn.kiln'));
    const m = readArtifact(new Uint8Array(bytes)).manifest;
    expect(m.target).toBe('wasm');
    expect(m.memory.shared).toBe(true);
    expect(r.stdout).toContain(`cnn.kiln: wasm (threads), ${m.kernels.length} kernels, artifact ${bytes.length.toLocaleString('en-US')} bytes`);
    expect(r.stdout).toContain(`arena ${m.memory.arenaBytes!.toLocaleString('en-US')} bytes`);
    expect(r.stdout).toContain(`weights ${m.weights!.length.toLocaleString('en-US')} bytes`);
    expect(r.stdout).toMatch(/compiled in [\d.]+ (ms|s)\n$/);
    expect(r.stdout).not.toContain('fusion plan');
  });

  it('--no-threads compiles for one thread, --explain prints the fusion plan, --target cuda --sm 90 writes PTX', async () => {
    const a = await kiln(['compile', 'cnn.txt', '-o', 'single.kiln', '--no-threads', '--explain'], t.dir);
    expect(a.code).toBe(0);
    expect(readArtifact(new Uint8Array(readFileSync(t.path('single.kiln')))).manifest.memory.shared).toBe(false);
    expect(a.stdout).toMatch(/^fusion plan for @sequential: .* -> \d+ kernels/m);
    expect(a.stdout).toContain('decisions:');
    expect(a.stdout).toContain('single.kiln: wasm (single thread)');
    const c = await kiln(['compile', 'cnn.txt', '--target', 'cuda', '--sm', '90', '--output=cnn_cuda.kiln'], t.dir);
    expect(c.code).toBe(0);
    const art = readArtifact(new Uint8Array(readFileSync(t.path('cnn_cuda.kiln'))));
    expect(art.manifest.target).toBe('cuda');
    expect((art.manifest as unknown as { cuda: { sm: number } }).cuda.sm).toBe(90);
    expect(new TextDecoder().decode(art.sections['ptx']!)).toMatch(/\.target sm_90/);
    expect(c.stderr).toMatch(/^ {2}codegen /m);
  });

  it('--quantize int8-weights / float16-weights store the weights compressed; the summary and kiln inspect say so; kiln run agrees with f32', async () => {
    const mlp = kiln_.sequential({ layers: [kiln_.layers.dense({ units: 64, activation: 'relu', inputShape: [32] }), kiln_.layers.dense({ units: 4 })] });
    writeIr(mlp, [[1, 32]], t.path('mlp.txt'));
    const f32 = await kiln(['compile', 'mlp.txt', '-o', 'mlp.kiln'], t.dir);
    expect(f32.code).toBe(0);
    expect(f32.stdout).not.toContain('stored');
    for (const [mode, enc] of [['int8-weights', 'q8'], ['float16-weights', 'f16']] as const) {
      const r = await kiln(['compile', 'mlp.txt', '-o', `mlp_${enc}.kiln`, '--quantize', mode], t.dir);
      expect(r.stderr).not.toMatch(/error/);
      expect(r.code).toBe(0);
      const art = readArtifact(new Uint8Array(readFileSync(t.path(`mlp_${enc}.kiln`))));
      expect(art.manifest.version).toBe(5);
      expect(art.manifest.weights!.encoding!.segments.filter((x) => x.enc === enc)).toHaveLength(1);
      expect(r.stdout).toMatch(new RegExp(`weights ${art.manifest.weights!.length.toLocaleString('en-US')} bytes( \\([^)]*\\))? \\(stored ${art.sections['weights']!.length.toLocaleString('en-US')} bytes`));
      const i = await kiln(['inspect', `mlp_${enc}.kiln`], t.dir);
      expect(i.code).toBe(0);
      expect(i.stdout).toMatch(new RegExp(`stored encoded in ${art.sections['weights']!.length.toLocaleString('en-US')} bytes( \\([^)]*\\))?, decoded at load; segments: .*${enc} 1`));
    }
    const x = randomData(32, 4);
    writeFileSync(t.path('mlp_x.npy'), writeNpy(x, [1, 32]));
    const outs = await Promise.all(['mlp.kiln', 'mlp_q8.kiln', 'mlp_f16.kiln'].map(async (f, k) => {
      const r = await kiln(['run', f, '--input', 'input=mlp_x.npy', '--output', `mlp_y${k}.npy`], t.dir);
      expect(r.code).toBe(0);
      return readNpy(new Uint8Array(readFileSync(t.path(`mlp_y${k}.npy`)))).data as Float32Array;
    }));
    expect(maxAbs(outs[1]!, outs[0]!)).toBeLessThan(0.02 * Math.max(...outs[0]!.map(Math.abs)));
    expect(maxAbs(outs[2]!, outs[0]!)).toBeLessThan(0.002 * Math.max(...outs[0]!.map(Math.abs)));
  });

  it('compiles a GraphModel model.json with --input-shape for its unknown batch; kiln run matches tfjs-converter', async () => {
    const r = await kiln(['compile', 'tiny.json', '-o', 'tiny.kiln', '--input-shape', '3,4'], t.dir);
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/load .*GraphModel 'tiny' from tiny.json \(inputs: x f32\[3,4\]\)/);
    const m = readArtifact(new Uint8Array(readFileSync(t.path('tiny.kiln')))).manifest;
    expect(m.inputs.map((i) => [i.shape, i.dtype])).toEqual([[[3, 4], 'f32']]);
    const x = randomData(12, 5);
    writeFileSync(t.path('tx.npy'), writeNpy(x, [3, 4]));
    const run = await kiln(['run', 'tiny.kiln', '--input', 'tx.npy', '--output', 'ty.npy', '--threads', '1'], t.dir);
    expect(run.stderr).not.toMatch(/error/);
    expect(run.code).toBe(0);
    const y = readNpy(new Uint8Array(readFileSync(t.path('ty.npy'))));
    const { json, weightData } = writeTinyGraphModel(t.dir, 'tiny_oracle.json');
    const manifest = json['weightsManifest'] as { weights: tf.io.WeightsManifestEntry[] }[];
    const ref = await tfconv.loadGraphModel(tf.io.fromMemory({
      modelTopology: json['modelTopology'] as object, weightSpecs: manifest[0]!.weights, weightData, format: 'graph-model',
    } as tf.io.ModelArtifacts));
    const want = (ref.predict(tf.tensor(x, [3, 4])) as tf.Tensor).dataSync();
    expect(y.shape).toEqual([3, 3]);
    expect(Array.from(want).some((v) => v > 0)).toBe(true);
    expect(maxAbs(y.data, want as Float32Array)).toBeLessThan(1e-6);
  });

  it('a GraphModel with an op Kiln refuses fails (exit 1) naming the op and node; --outputs cuts the graph before it', async () => {
    const r = await kiln(['compile', 'where.json', '-o', 'where.kiln', '--input-shape', '1,4'], t.dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^kiln compile: error: cannot load GraphModel 'where.json': .*cannot import node 'where', a Where.*\(on the command line: --outputs node1,node2\)\n$/);
    const cut = await kiln(['compile', 'where.json', '-o', 'where.kiln', '--input-shape', '1,4', '--outputs', 'y'], t.dir);
    expect(cut.code).toBe(0);
    expect(readArtifact(new Uint8Array(readFileSync(t.path('where.kiln')))).manifest.outputs.map((o) => o.shape)).toEqual([[1, 3]]);
  });

  const usage: [string, string[], RegExp][] = [
    ['no -o', ['cnn.txt'], /'kiln compile' needs -o <out.kiln>/],
    ['no model', ['-o', 'x.kiln'], /'kiln compile' needs <model.json>: the model to compile/],
    ['an extra argument', ['cnn.txt', 'more.txt', '-o', 'x.kiln'], /unexpected argument 'more.txt'/],
    ['a misspelt flag', ['cnn.txt', '-o', 'x.kiln', '--inputshape', '2,8,8,3'], /unknown flag '--inputshape' for 'kiln compile'; did you mean '--input-shape'\?/],
    ['a flag of another command', ['cnn.txt', '-o', 'x.kiln', '--json'], /unknown flag '--json' for 'kiln compile'/],
    ['a bad --quantize mode', ['cnn.txt', '-o', 'x.kiln', '--quantize', 'int8-weight'], /--quantize 'int8-weight' is not one of int8, int8-weights, float16-weights, none \(did you mean 'int8-weights'\?\)/],
    ['-o twice', ['cnn.txt', '-o', 'a.kiln', '--output', 'b.kiln'], /is given twice \(as '-o' and '--output'\); give it once/],
    ['a flag without its value', ['cnn.txt', '-o'], /'-o' needs a value: -o <out.kiln>/],
    ['a value for a switch', ['cnn.txt', '-o', 'x.kiln', '--explain=yes'], /'--explain' takes no value/],
    ['a bad target', ['cnn.txt', '-o', 'x.kiln', '--target', 'wsm'], /--target 'wsm' is not one of wasm, cuda \(did you mean 'wasm'\?\)/],
    ['a bad sm', ['cnn.txt', '-o', 'x.kiln', '--target', 'cuda', '--sm', '86'], /--sm '86' is not one of 80, 90/],
    ['--sm without cuda', ['cnn.txt', '-o', 'x.kiln', '--sm', '90'], /--sm 90 applies to --target cuda \(the target is wasm\)/],
    ['--no-threads with cuda', ['cnn.txt', '-o', 'x.kiln', '--target', 'cuda', '--no-threads'], /--no-threads applies to --target wasm/],
    ['a shape with a word', ['cnn.txt', '-o', 'x.kiln', '--input-shape', '2,x,8,3'], /--input-shape #1 '2,x,8,3': dimension 1 is 'x', not a positive integer/],
    ['a zero dimension', ['cnn.txt', '-o', 'x.kiln', '--input-shape', '0,8,8,3'], /--input-shape #1 '0,8,8,3': dimension 0 is '0'/],
    ['an empty shape', ['cnn.txt', '-o', 'x.kiln', '--input-shape=[]'], /--input-shape #1 '\[\]' is empty/],
    ['one shape too many', ['cnn.txt', '-o', 'x.kiln', '--input-shape', '2,8,8,3', '--input-shape', '1,4'], /2 --input-shape given, but 'cnn.txt' has 1 input \(input f32\[2,8,8,3\]\); give one --input-shape per input/],
    ['a wrong rank', ['cnn.txt', '-o', 'x.kiln', '--input-shape', '2,8,8'], /--input-shape #1 \[2,8,8\] for input 'input' \[2,8,8,3\]: has 3 dimensions, the input has 4/],
    ['a fixed dimension changed', ['cnn.txt', '-o', 'x.kiln', '--input-shape', '[4,8,8,3]'], /dimension 0 is 4 but the model fixes it at 2 \(an IR function's shapes are fixed\)/],
    ['GraphModel shape count', ['tiny.json', '-o', 'x.kiln', '--input-shape', '1,4', '--input-shape', '1,4'], /2 --input-shape given, but the GraphModel 'tiny.json' has 1 input in its signature/],
    ['--outputs on IR', ['cnn.txt', '-o', 'x.kiln', '--outputs', 'y'], /--outputs cuts GraphModels; 'cnn.txt' is IR text/],
    ['--layers on a GraphModel', ['tiny.json', '-o', 'x.kiln', '--layers', 'l.mjs'], /--layers registers custom layers for LayersModels; 'tiny.json' is a GraphModel/],
  ];
  it.each(usage)('bad usage (%s) exits 2 naming the flag or value', async (_, argv, msg) => {
    const r = await kiln(['compile', ...argv], t.dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(msg);
    expect(r.stderr).toMatch(/^kiln compile: /);
    expect(r.stderr).toContain("run 'kiln compile --help' for usage");
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(r.stdout).toBe('');
  });

  it('failures exit 1 with what to do: a missing file, JSON that is no model, unparsable text, an unwritable output, an unknown dimension', async () => {
    writeFileSync(t.path('notmodel.json'), JSON.stringify({ hello: 1 }));
    writeFileSync(t.path('garbage.txt'), 'this is not IR');
    writeFileSync(t.path('half.txt'), 'func @h(%x: f16[4]) -> (y: f16[4]) {\n  %0 = add(%x, %x) : f16[4]\n  return %0\n}\n');
    const cases: [string[], RegExp][] = [
      [['nope.json', '-o', 'x.kiln'], /cannot read model 'nope.json': no such file or directory/],
      [['notmodel.json', '-o', 'x.kiln'], /'notmodel.json' has no modelTopology, so it is not a TensorFlow.js model.json \(keys: hello\)/],
      [['garbage.txt', '-o', 'x.kiln'], /'garbage.txt' is neither a model.json nor IR text Kiln can parse/],
      [['cnn.txt', '-o', 'no/such/dir/x.kiln'], /cannot write artifact 'no\/such\/dir\/x.kiln': no such file or directory/],
      [['tiny.json', '-o', 'x.kiln'], /dimension 0 of input 'x' .* is unknown .* \(on the command line: --input-shape d0,d1,... once per input, in order\)/],
      // Loads and traces, then the WebAssembly target refuses f16 buffers: the compile itself fails.
      [['half.txt', '-o', 'half.kiln'], /cannot compile 'half.txt': .*f16\[4\] cannot be stored by this target/],
    ];
    for (const [argv, msg] of cases) {
      const r = await kiln(['compile', ...argv], t.dir);
      expect(r.code, argv.join(' ')).toBe(1);
      expect(r.stderr).toMatch(/^kiln compile: error: /m);
      expect(r.stderr).toMatch(msg);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
    const debug = await kiln(['compile', 'garbage.txt', '-o', 'x.kiln'], t.dir, { KILN_DEBUG: '1' });
    expect(debug.code).toBe(1);
    expect(debug.stderr).toMatch(/\n\s+at /);
  });
});
