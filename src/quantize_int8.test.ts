import { describe, expect, it } from 'vitest';
import * as kiln from './index.js';
import { layers, sequential } from './keras/index.js';
import * as initializers from './keras/initializers.js';
import { compile } from './compile.js';
import { Tensor } from './frontend/tensor.js';
import { interpret } from './ir/interpreter.js';
import { KilnError } from './ir/types.js';
import type { Literal } from './ir/literal.js';
import { load } from './runtime/index.js';
import { cosine, images, rows } from './passes/quantize_testkit.js';

/**
 * compile(model, {quantize: {mode: 'int8', calibration, method}}): option checking, calibration
 * data forms (arrays, generators, another batch size), the explain() report, and the compiled
 * int8 artifact against the interpreter running the same quantized IR (bit-exact integer
 * semantics) and against the f32 model.
 */

function cnn(head: 'softmax' | 'linear' = 'softmax') {
  return sequential({ layers: [
    layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', activation: 'relu', inputShape: [12, 12, 1], kernelInitializer: initializers.heNormal({ seed: 1 }), biasInitializer: initializers.randomUniform({ minval: -0.1, maxval: 0.1, seed: 2 }) }),
    layers.maxPooling2d({ poolSize: 2 }),
    layers.conv2d({ filters: 12, kernelSize: 3, activation: 'relu', kernelInitializer: initializers.heNormal({ seed: 3 }) }),
    layers.flatten(),
    layers.dense({ units: 10, activation: head, kernelInitializer: initializers.glorotUniform({ seed: 4 }) }),
  ] });
}

const data = images(48, 12, 1, 5);
const batch = (i: number, n = 8): Tensor => Tensor.concrete(rows(data, i * n, (i + 1) * n));

function kilnError(f: () => unknown): string {
  try { f(); } catch (e) { if (e instanceof KilnError) return e.message; throw e; }
  throw new Error('nothing thrown');
}

async function runArtifact(bytes: Uint8Array, x: Literal): Promise<Float32Array> {
  const prog = await load(bytes, { threads: 1 });
  try {
    const out = prog.runSync({ input: x.data });
    return Object.values(out)[0] as Float32Array;
  } finally {
    prog.dispose();
  }
}

describe("compile with quantize {mode: 'int8'}", () => {
  it('checks the option: calibration required, methods, percentile, unknown keys with the closest name, cuda', () => {
    const m = cnn();
    expect(kilnError(() => compile(m, { quantize: { mode: 'int8' } as never }))).toMatch(/^compile: quantize mode 'int8' needs 'calibration'/);
    expect(kilnError(() => compile(m, { quantize: { mode: 'int8', calibration: batch(0) } as never }))).toMatch(/^compile: option 'quantize.calibration' must be an array of batches/);
    expect(kilnError(() => compile(m, { quantize: { mode: 'int8', calibration: [batch(0)], method: 'minmx' } as never }))).toBe("compile: option 'quantize.method' must be one of 'minmax', 'percentile', 'mse', got 'minmx' (did you mean 'minmax'?)");
    expect(kilnError(() => compile(m, { quantize: { mode: 'int8', calibration: [batch(0)], percentile: 99 } }))).toMatch(/'quantize.percentile' applies to method 'percentile' only/);
    expect(kilnError(() => compile(m, { quantize: { mode: 'int8', calibration: [batch(0)], method: 'percentile', percentile: 101 } }))).toMatch(/must be a number in \(50, 100\], got number 101/);
    expect(kilnError(() => compile(m, { quantize: { mode: 'int8', calibration: [batch(0)], calibraton: [] } as never }))).toMatch(/unknown option 'calibraton' \(did you mean 'calibration'\?\)/);
    expect(kilnError(() => compile(m, { quantize: { mode: 'int9', calibration: [] } as never }))).toMatch(/'quantize.mode' must be one of 'int8', 'int8-weights', 'float16-weights', 'none'.*did you mean 'int8'/);
    expect(kilnError(() => compile(m, { target: 'cuda', quantize: { mode: 'int8', calibration: [batch(0)] } }))).toMatch(/quantize mode 'int8' is not supported for target 'cuda' yet/);
    expect(kilnError(() => compile(m, { quantize: { mode: 'int8', calibration: [batch(0), Tensor.concrete(rows(data, 0, 3))] } }))).toMatch(/^quantize.calibration batch 1: f32\[3,12,12,1\] differs from batch 0's f32\[8,12,12,1\]/);
  });

  it('compiles to an artifact whose int8 kernels agree bit-exactly with the interpreter on the quantized IR, and follow f32', async () => {
    const m = cnn('linear'); // logits: dequantize(requantize(...)) is exact, so the whole output must be bit-exact
    // Calibrate with batches of 8 (traced at that size), compile at batch 4; a generator function works too.
    const art = compile(m, { inputShapes: [[4, 12, 12, 1]], quantize: { mode: 'int8', calibration: function* () { for (let i = 0; i < 3; i++) yield batch(i); } } });
    const ops = art.func.body.map((v) => v.op);
    expect(ops).toContain('requantize');
    expect(art.func.body.filter((v) => v.op === 'conv').every((v) => v.inputs[0]!.dtype === 'i8' && v.dtype === 'i32')).toBe(true);
    const explain = art.explain();
    expect(explain).toMatch(/int8 quantization: 3 dot\/conv sites in integers/);
    expect(explain).toMatch(/int8: reduce_window x1/);
    expect(explain).not.toMatch(/f32: (conv|dot_general)/);
    const x = rows(data, 40, 44);
    const got = await runArtifact(art.bytes, x);
    const want = interpret(art.func, [x])[0]!;
    expect(Array.from(got)).toEqual(Array.from(want.data));
    const f32 = await runArtifact(compile(m, { inputShapes: [[4, 12, 12, 1]] }).bytes, x);
    expect(cosine(got, f32)).toBeGreaterThan(0.99);
  });

  it('a Func compiles with calibration batches of its own shape; other shapes are refused naming them', async () => {
    const fn = kiln.toFunc(cnn(), { inputShapes: [[8, 12, 12, 1]] });
    const art = compile(fn, { quantize: { mode: 'int8', calibration: [batch(0), batch(1)], method: 'mse' } });
    expect(art.func.body.some((v) => v.op === 'requantize')).toBe(true);
    expect(art.explain()).toMatch(/f32: exp x1: transcendentals stay f32/);
    // softmax runs in f32 after the integer layers: equal to the interpreter up to exp's rounding
    const x = rows(data, 16, 24);
    const got = await runArtifact(art.bytes, x), want = interpret(art.func, [x])[0]!.data;
    got.forEach((g, i) => expect(Math.abs(g - want[i]!)).toBeLessThan(1e-6));
    expect(kilnError(() => compile(fn, { quantize: { mode: 'int8', calibration: [batch(0, 4)] } }))).toMatch(/batches of shape \[4,12,12,1\] do not fit @\w+'s inputs \(f32\[8,12,12,1\]\), whose shapes are fixed/);
  });
});
