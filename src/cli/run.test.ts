import { readFileSync, writeFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readNpy, writeNpy } from './npy.js';
import { kiln, maxAbs, randomData, tempDir } from './test_util.js';
import { cnnPair, writeIr } from './test_models.js';

const t = tempDir();
afterAll(t.remove);

/** Two inputs (f32 and i32), two outputs: s = row sums of x * k, d = k + k. */
const MULTI = `func @multi(%x: f32[2,3], %k: i32[2,3]) -> (s: f32[2], d: i32[2,3]) {
  %0 = cast(%k) {dtype=f32} : f32[2,3]
  %1 = mul(%x, %0) : f32[2,3]
  %2 = reduce(%1) {op=sum, axes=[1]} : f32[2]
  %3 = add(%k, %k) : i32[2,3]
  return %2, %3
}
`;

const X = Float32Array.from(randomData(2 * 8 * 8 * 3, 9));
let expected: Float32Array;

beforeAll(async () => {
  const { model, twin } = await cnnPair();
  expected = (twin.predict(tf.tensor(X, [2, 8, 8, 3])) as tf.Tensor).dataSync() as Float32Array;
  writeIr(model, [[2, 8, 8, 3]], t.path('cnn.txt'));
  writeFileSync(t.path('multi.txt'), MULTI);
  for (const [src, out, extra] of [['cnn.txt', 'cnn.kiln', []], ['cnn.txt', 'cnn1.kiln', ['--no-threads']], ['multi.txt', 'multi.kiln', []], ['cnn.txt', 'cnn_cuda.kiln', ['--target', 'cuda']]] as const) {
    const r = await kiln(['compile', src, '-o', out, ...extra], t.dir);
    if (r.code !== 0) throw new Error(`compiling ${src} failed: ${r.stderr}`);
  }
  writeFileSync(t.path('x.npy'), writeNpy(X, [2, 8, 8, 3]));
});

/** An .npy file with its 128-byte header's descr `from` replaced by `to` (same length) and `data` after it. */
function retyped(file: Uint8Array, from: string, to: string, data: DataView): Uint8Array {
  const head = Array.from(file.subarray(0, 128), (c) => String.fromCharCode(c)).join('').replace(`'${from}'`, `'${to}'`);
  return new Uint8Array([...Uint8Array.from(head, (c) => c.charCodeAt(0)), ...new Uint8Array(data.buffer)]);
}

const npy = (name: string) => readNpy(new Uint8Array(readFileSync(t.path(name))));

describe('kiln run', () => {
  it("runs the artifact on an .npy input: outputs equal tfjs-layers' predict on the same weights, with a preview", async () => {
    const r = await kiln(['run', 'cnn.kiln', '--input', 'x.npy', '--output', 'y.npy'], t.dir);
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    const y = npy('y.npy');
    expect([y.dtype, y.shape]).toEqual(['f32', [2, 5]]);
    expect(maxAbs(y.data, expected)).toBeLessThan(1e-5);
    // The preview: name, type, the first 8 values (of 10), min/max/mean, each to 6 significant digits.
    const m = /^out0 {2}f32\[2,5\] {2}\[(.*), \.\.\.\] {2}min (\S+) {2}max (\S+) {2}mean (\S+)\n$/.exec(r.stdout);
    expect(m, r.stdout).not.toBeNull();
    const shown = m![1]!.split(', ').map(Number);
    expect(shown.length).toBe(8);
    shown.forEach((v, i) => expect(Math.abs(v - expected[i]!)).toBeLessThan(1e-5));
    expect(Math.abs(Number(m![2]) - Math.min(...expected))).toBeLessThan(1e-5);
    expect(Math.abs(Number(m![3]) - Math.max(...expected))).toBeLessThan(1e-5);
    expect(Math.abs(Number(m![4]) - 0.2)).toBeLessThan(1e-5); // softmax rows sum to 1: mean of 5 classes
    expect(r.stderr).toMatch(/^ran 'cnn.kiln' in [\d.]+ (ms|s) \(wasm, (relaxed-)?simd, \d+ threads?\)$/m);
    expect(r.stderr).toMatch(/^wrote output 'out0' f32\[2,5\] to 'y.npy'$/m);
  });

  it('converts a float64 .npy input; 1 and 2 threads agree; --preview 0 shows no values', async () => {
    const dv = new DataView(new ArrayBuffer(X.length * 8));
    X.forEach((v, i) => dv.setFloat64(i * 8, v, true));
    writeFileSync(t.path('x64.npy'), retyped(writeNpy(X, [2, 8, 8, 3]), '<f4', '<f8', dv));
    const a = await kiln(['run', 'cnn.kiln', '-i', 'input=x64.npy', '-o', 'out0=y1.npy', '--threads', '1', '--preview', '0'], t.dir);
    expect(a.code).toBe(0);
    expect(a.stdout).toMatch(/^out0 {2}f32\[2,5\] {2}\[, \.\.\.\] {2}min /);
    const b = await kiln(['run', 'cnn.kiln', '--input', 'x.npy', '--output', 'y2.npy', '--threads', '2'], t.dir);
    expect(b.code).toBe(0);
    expect(b.stderr).toMatch(/2 threads\)/);
    expect(maxAbs(npy('y1.npy').data, expected)).toBeLessThan(1e-5);
    expect(maxAbs(npy('y2.npy').data, expected)).toBeLessThan(1e-5);
  });

  it('several inputs and outputs by name; int64 data converted for an i32 input; each output written', async () => {
    const x = Float32Array.from([1, 2, 3, -1, 0.5, 4]);
    const k = [2, -1, 0, 3, 4, 1];
    const dv = new DataView(new ArrayBuffer(48));
    k.forEach((v, i) => dv.setBigInt64(i * 8, BigInt(v), true));
    writeFileSync(t.path('k.npy'), retyped(writeNpy(Int32Array.from(k), [2, 3]), '<i4', '<i8', dv));
    writeFileSync(t.path('mx.npy'), writeNpy(x, [2, 3]));
    const r = await kiln(['run', 'multi.kiln', '--input', 'k=k.npy', '--input', 'x=mx.npy', '--output', 's=s.npy', '--output', 'd=d.npy'], t.dir);
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    expect(Array.from(npy('s.npy').data)).toEqual([1 * 2 + 2 * -1 + 0, -1 * 3 + 0.5 * 4 + 4 * 1]);
    const d = npy('d.npy');
    expect([d.dtype, d.shape, Array.from(d.data)]).toEqual(['i32', [2, 3], k.map((v) => 2 * v)]);
    expect(r.stdout).toBe('s  f32[2]  [0, 3]  min 0  max 3  mean 1.5\nd  i32[2,3]  [4, -2, 0, 6, 8, 2]  min -2  max 8  mean 3\n');
  });

  it('runs a CUDA artifact where a GPU and the kiln_cuda addon exist, and says why not elsewhere (exit 1)', async () => {
    const r = await kiln(['run', 'cnn_cuda.kiln', '--input', 'x.npy', '--output', 'yc.npy'], t.dir);
    if (r.code === 0) {
      expect(maxAbs(npy('yc.npy').data, expected)).toBeLessThan(1e-4);
      expect(r.stderr).toMatch(/\(cuda, cuda \(.*\)\)/);
    } else {
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^kiln run: error: cannot load 'cnn_cuda.kiln': .*(CUDA|cuda)/);
    }
    const threads = await kiln(['run', 'cnn_cuda.kiln', '--input', 'x.npy', '--threads', '2'], t.dir);
    expect(threads.code).toBe(2);
    expect(threads.stderr).toMatch(/--threads applies to WebAssembly artifacts; 'cnn_cuda.kiln' targets cuda/);
  });

  const usage: [string, string[], RegExp][] = [
    ['no input', ['cnn.kiln'], /missing --input for 'input' \(f32\[2,8,8,3\]\); 'cnn.kiln' takes: input f32\[2,8,8,3\]/],
    ['a missing input of two', ['multi.kiln', '--input', 'x=mx.npy'], /missing --input for 'k' \(i32\[2,3\]\)/],
    ['an unknown input name', ['multi.kiln', '--input', 'kk=k.npy', '--input', 'x=mx.npy'], /--input 'kk=k.npy': 'multi.kiln' has no input 'kk' \(did you mean 'k'\?\); its inputs: x f32\[2,3\], k i32\[2,3\]/],
    ['an unnamed input of two', ['multi.kiln', '--input', 'mx.npy'], /--input 'mx.npy' gives no input name, but 'multi.kiln' has 2 inputs \(x f32\[2,3\], k i32\[2,3\]\); write --input <name>=mx.npy/],
    ['an input given twice', ['cnn.kiln', '--input', 'input=x.npy', '--input', 'input=x2.npy'], /input 'input' is given twice \(--input 'x.npy' and 'x2.npy'\)/],
    ['an unnamed output of two', ['multi.kiln', '--input', 'k=k.npy', '--input', 'x=mx.npy', '--output', 'o.npy'], /--output 'o.npy' gives no output name, but 'multi.kiln' has 2 outputs/],
    ['an unknown output', ['cnn.kiln', '--input', 'x.npy', '--output', 'y=y.npy'], /'cnn.kiln' has no output 'y'/],
    ['zero threads', ['cnn.kiln', '--input', 'x.npy', '--threads', '0'], /--threads '0' is not an integer in \[1, 1024\]/],
    ['threads not a number', ['cnn.kiln', '--input', 'x.npy', '--threads', 'two'], /--threads 'two' is not an integer/],
    ['a misspelt flag', ['cnn.kiln', '--inputs', 'x.npy'], /unknown flag '--inputs' for 'kiln run'; did you mean '--input'\?/],
    ['no artifact', [], /'kiln run' needs <file.kiln>/],
  ];
  it.each(usage)('bad usage (%s) exits 2 naming the flag or value', async (_, argv, msg) => {
    const r = await kiln(['run', ...argv], t.dir);
    expect(r.stderr).toMatch(msg);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("run 'kiln run --help' for usage");
    expect(r.stdout).toBe('');
  });

  it('inputs that do not match the signature, unreadable files and runtime refusals exit 1 naming the input', async () => {
    writeFileSync(t.path('kf.npy'), writeNpy(new Float32Array(6), [2, 3]));
    writeFileSync(t.path('x3.npy'), writeNpy(new Float32Array(3 * 8 * 8 * 3), [3, 8, 8, 3]));
    writeFileSync(t.path('bad.npy'), 'not numpy');
    writeFileSync(t.path('bad.kiln'), 'not kiln');
    const cases: [string[], RegExp][] = [
      [['multi.kiln', '--input', 'k=kf.npy', '--input', 'x=mx.npy'], /input 'k' is i32\[2,3\] but 'kf.npy' holds float32 \('<f4'\) \(2, 3\); save it as int32 \(a.astype\(np.int32\)\)/],
      [['cnn.kiln', '--input', 'x3.npy'], /input 'input' is f32\[2,8,8,3\] but 'x3.npy' has shape \(3, 8, 8, 3\); reshape it to \(2, 8, 8, 3\)/],
      [['cnn.kiln', '--input', 'missing.npy'], /cannot read input 'input' 'missing.npy': no such file or directory/],
      [['cnn.kiln', '--input', 'bad.npy'], /input 'input' \('bad.npy'\): not a NumPy .npy file/],
      [['bad.kiln', '--input', 'x.npy'], /'bad.kiln': not a Kiln artifact: bad magic/],
      [['cnn1.kiln', '--input', 'x.npy', '--threads', '2'], /cannot load 'cnn1.kiln': threads: 2 was requested, but artifact .* was compiled without threads/],
    ];
    for (const [argv, msg] of cases) {
      const r = await kiln(['run', ...argv], t.dir);
      expect(r.stderr, argv.join(' ')).toMatch(msg);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^kiln run: error: /);
    }
  });
});
