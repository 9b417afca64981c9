import { describe, expect, it } from 'vitest';
import { layers, sequential } from '../keras/index.js';
import * as initializers from '../keras/initializers.js';
import { toFunc } from '../compile.js';
import { interpret } from '../ir/interpreter.js';
import { literal } from '../ir/literal.js';
import { parseFunc } from '../ir/parse.js';
import { printFunc } from '../ir/print.js';
import { verify } from '../ir/verify.js';
import { multiplyByQuantizedMultiplier, quantizeScalar } from '../ir/ops/quant.js';
import { optimize } from './pipeline.js';
import { activationParams, describeQuantization, findSites, quantizeFunc, quantizeMultiplier, quantizeWeights } from './quantize.js';
import { calibrate, quantizeCalibrated } from './quantize_calibration.js';
import { argmaxRows, cosine, images, mixtures, mobilenetStyle, rows } from './quantize_testkit.js';

describe('quantization parameters', () => {
  it('activation ranges always include 0; zero point maps 0 exactly', () => {
    for (const r of [{ min: 0, max: 6 }, { min: -1, max: 3 }, { min: 0.5, max: 2 }, { min: -4, max: -1 }, { min: 0, max: 0 }]) {
      const p = activationParams(r);
      expect(p.scale).toBe(Math.fround(p.scale));
      expect(quantizeScalar(0, p.scale, p.zeroPoint)).toBe(p.zeroPoint);
      // both ends of the (widened) range are representable within one step
      const lo = Math.min(r.min, 0), hi = Math.max(r.max, 0);
      expect((-128 - p.zeroPoint) * p.scale).toBeLessThanOrEqual(lo + p.scale);
      expect((127 - p.zeroPoint) * p.scale).toBeGreaterThanOrEqual(hi - p.scale);
    }
    expect(activationParams({ min: 0, max: 6 }).zeroPoint).toBe(-128);
  });

  it('Q31 multipliers reproduce the real multiplier (TFLite QuantizeMultiplier)', () => {
    for (const real of [0.5, 0.75, 0.999999, 1e-5, 3.2e-3, 1, 1.5, 7.25]) {
      const { multiplier, shift } = quantizeMultiplier(real);
      expect(multiplier).toBeGreaterThanOrEqual(2 ** 30);
      expect(multiplier).toBeLessThan(2 ** 31);
      expect(Math.abs(multiplier * 2 ** (shift - 31) - real)).toBeLessThanOrEqual(real * 2 ** -30);
      // and applying it to an accumulator equals round(acc * real) up to one unit
      for (const acc of [1000, -1000, 123457, -98765]) {
        if (shift > 0 && Math.abs(acc) * 2 ** shift >= 2 ** 31) continue;
        expect(Math.abs(multiplyByQuantizedMultiplier(acc, multiplier, shift) - acc * real)).toBeLessThanOrEqual(1);
      }
    }
  });

  it('weights: per output channel symmetric, in [-127, 127], max |w| maps to 127', () => {
    const w = literal([2, 3], 'f32', [0.5, -2, 0, -0.25, 1, 0]);
    const { q, scale } = quantizeWeights(w);
    expect(scale).toEqual([Math.fround(0.5 / 127), Math.fround(2 / 127), 1]);
    expect(Array.from(q.data)).toEqual([127, -127, 0, -64, 64, 0]);
  });
});

const denseText = `func @mlp(%x: f32[4,3]) -> (y: f32[4,2]) {
  %w = constant() {value=f32[3,2]{0.5, -1, 0.25, 0.75, -0.5, 1}} : f32[3,2]
  %0 = dot_general(%x, %w) {lhs_batch=[], rhs_batch=[], lhs_contract=[1], rhs_contract=[0]} : f32[4,2]
  %b = constant() {value=f32[2]{0.1, -0.2}} : f32[2]
  %1 = broadcast_in_dim(%b) {shape=[4, 2], dims=[1]} : f32[4,2]
  %2 = add(%0, %1) : f32[4,2]
  %z = constant() {value=f32[]{0}} : f32[]
  %3 = broadcast_in_dim(%z) {shape=[4, 2], dims=[]} : f32[4,2]
  %4 = compare(%2, %3) {dir=le} : bool[4,2]
  %5 = select(%4, %3, %2) : f32[4,2]
  return %5
}`;

describe('quantize pass on IR', () => {
  it('dense + bias + ReLU becomes quantize -> i8 dot (i32) + folded i32 bias -> requantize [zp, 127] -> dequantize', () => {
    const fn = parseFunc(denseText);
    const x = literal([4, 3], 'f32', [1, -2, 0.5, 0.3, 0.2, -1, -1, 1, 1, 2, 0, -0.5]);
    const want = interpret(fn, [x])[0]!;
    const q = fn.clone();
    const report = quantizeCalibrated(q, fn, [[x]]);
    verify(q);
    const text = printFunc(optimize(q));
    expect(text).toMatch(/quantize\(%x\)/);
    expect(text).toMatch(/dot_general\(.*\) \{.*dtype=i32\} : i32\[4,2\]/);
    expect(text).toMatch(/requantize\(.*zero_point=-128\}/); // ReLU: min = zp = -128 (the default, omitted), max 127
    expect(text).not.toMatch(/select|compare/);
    expect(report.quantized).toEqual([{ op: 'dot_general', kind: 'dense', activation: 'relu', shape: [4, 2] }]);
    // Independent integer reference: TFLite's arithmetic written out here.
    const pin = activationParams({ min: -2, max: 2 }), pout = activationParams({ min: 0, max: Math.max(...want.data) });
    const { q: wq, scale: sw } = quantizeWeights(literal([3, 2], 'f32', [0.5, -1, 0.25, 0.75, -0.5, 1]));
    const got = interpret(q, [x])[0]!;
    for (let r = 0; r < 4; r++) for (let c = 0; c < 2; c++) {
      let acc = 0;
      for (let k = 0; k < 3; k++) acc += (quantizeScalar(x.data[r * 3 + k]!, pin.scale, pin.zeroPoint) - pin.zeroPoint) * wq.data[k * 2 + c]!;
      const accScale = pin.scale * sw[c]!;
      const real = (acc + Math.round([0.1, -0.2][c]! / accScale)) * accScale;
      const ideal = Math.max(0, real);
      const qo = Math.min(127, Math.max(-128, Math.round(ideal / pout.scale) + pout.zeroPoint));
      expect(got.data[r * 2 + c]).toBeCloseTo((qo - pout.zeroPoint) * pout.scale, 5);
      // and within one output step of f32
      expect(Math.abs(got.data[r * 2 + c]! - want.data[r * 2 + c]!)).toBeLessThanOrEqual(pout.scale * 1.01 + accScale * 3);
    }
  });

  it('a CNN: convs take an explicit pad of the input zero point, max pooling and flatten run on i8, no quantize(dequantize(x))', () => {
    const model = sequential({ layers: [
      layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', activation: 'relu', inputShape: [10, 10, 2], kernelInitializer: initializers.heNormal({ seed: 1 }), biasInitializer: initializers.randomUniform({ minval: -0.2, maxval: 0.2, seed: 2 }) }),
      layers.maxPooling2d({ poolSize: 2 }),
      layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', activation: 'relu6', depthwiseInitializer: initializers.heNormal({ seed: 3 }) }),
      layers.flatten(),
      layers.dense({ units: 16, activation: 'relu', kernelInitializer: initializers.heNormal({ seed: 4 }) }),
      layers.dense({ units: 5, kernelInitializer: initializers.glorotUniform({ seed: 5 }) }),
    ] });
    const fn = optimize(toFunc(model, { inputShapes: [[8, 10, 10, 2]] }));
    const data = images(24, 10, 2, 7);
    const cal = [0, 8].map((i) => [rows(data, i, i + 8)]);
    const q = fn.clone();
    const report = quantizeCalibrated(q, fn, cal);
    verify(q);
    const opt = optimize(q);
    const ops = opt.body.map((v) => v.op);
    expect(ops.filter((o) => o === 'quantize')).toHaveLength(1);
    expect(ops.filter((o) => o === 'dequantize')).toHaveLength(1);
    expect(opt.body.filter((v) => v.op === 'reduce_window').map((v) => v.dtype)).toEqual(['i8']);
    expect(opt.body.filter((v) => v.op === 'conv').map((v) => `${v.inputs[0]!.op}:${v.dtype}`)).toEqual(['pad:i32', 'pad:i32']);
    const pads = opt.body.filter((v) => v.op === 'pad');
    const quant = opt.body.find((v) => v.op === 'quantize')!;
    expect(pads[0]!.attrs['value']).toBe((quant.attrs['zero_point'] as number[])[0]);
    expect(report.quantized.map((s) => `${s.kind}+${s.activation}`)).toEqual(['conv+relu', 'depthwise+relu6', 'dense+relu', 'dense+none']);
    expect(describeQuantization(report)).toMatch(/int8: reduce_window x1/);
    // Disjoint inputs: the int8 function follows the f32 one.
    const test = rows(data, 16, 24);
    const a = interpret(fn, [test])[0]!, b = interpret(opt, [test])[0]!;
    expect(cosine(a.data, b.data)).toBeGreaterThan(0.99);
  });

  it('residual adds and global average pooling stay f32 between dequantize and quantize, and the report says so', () => {
    const m = mobilenetStyle(16, 5, 3);
    const fn = optimize(toFunc(m, { inputShapes: [[4, 16, 16, 3]] }));
    const { sites } = findSites(fn);
    expect(sites.map((s) => `${s.kind}+${s.activation}`)).toEqual(['conv+relu6', 'depthwise+relu6', 'conv+relu6', 'depthwise+relu6', 'conv+none', 'conv+relu', 'dense+none']);
    const data = mixtures(8, 5, 16, 3);
    const q = fn.clone();
    const report = quantizeCalibrated(q, fn, [[rows(data, 0, 4)]], { method: 'minmax' });
    verify(q);
    const text = describeQuantization(report);
    expect(text).toMatch(/f32: add x1: residual and other adds stay f32/);
    expect(text).toMatch(/f32: reduce x\d+: reductions stay f32/);
    const a = interpret(fn, [rows(data, 4, 8)])[0]!, b = interpret(optimize(q), [rows(data, 4, 8)])[0]!;
    expect(cosine(a.data, b.data)).toBeGreaterThan(0.99);
  });

  it('calibration methods: percentile clips outliers that minmax keeps; mse minimizes the quantization error', () => {
    const fn = parseFunc(denseText);
    const n = 4000;
    const xs = new Float32Array(n * 3);
    for (let i = 0; i < xs.length; i++) xs[i] = Math.sin(i * 12.9898) * 0.5;
    xs[7] = 40; // one outlier
    // A heavy-tailed (Cauchy) input for mse: clipping the far tail lowers the error of the bulk.
    const lap = new Float32Array(n * 3);
    for (let i = 0; i < lap.length; i++) { const u = (Math.abs(Math.sin(i * 78.233) * 43758.5453) % 1) * 0.999 + 0.0005; lap[i] = 0.1 * Math.tan(Math.PI * (u - 0.5)); }
    const lapBatches = [];
    for (let b = 0; b < n / 4; b++) lapBatches.push([literal([4, 3], 'f32', lap.subarray(b * 12, b * 12 + 12))]);
    const batches = [];
    for (let b = 0; b < n / 4; b++) batches.push([literal([4, 3], 'f32', xs.subarray(b * 12, b * 12 + 12))]);
    const mm = calibrate(fn, batches, { method: 'minmax' }).ranges[0]!.input;
    const pc = calibrate(fn, batches, { method: 'percentile', percentile: 99.9 }).ranges[0]!.input;
    expect(mm.max).toBe(40);
    expect(pc.max).toBeLessThan(0.51);
    expect(pc.max).toBeGreaterThan(0.45);
    const lapMm = calibrate(fn, lapBatches, { method: 'minmax' }).ranges[0]!.input;
    const lapMs = calibrate(fn, lapBatches, { method: 'mse' }).ranges[0]!.input;
    const lapPc = calibrate(fn, lapBatches, { method: 'percentile', percentile: 99 }).ranges[0]!.input;
    expect(lapMs.max).toBeLessThanOrEqual(lapMm.max);
    expect(lapMs.max).toBeGreaterThanOrEqual(lapMm.max * 0.3);
    // mse's range has no larger quantize-dequantize error on the data than minmax's or a tight percentile's
    const err = (r: { min: number; max: number }) => {
      const p = activationParams(r);
      let e = 0;
      for (const x of lap) { const d = x - (quantizeScalar(x, p.scale, p.zeroPoint) - p.zeroPoint) * p.scale; e += d * d; }
      return e;
    };
    expect(err(lapMs)).toBeLessThanOrEqual(err(lapMm) * 1.001);
    expect(err(lapMs)).toBeLessThan(err(lapPc));
  });

  it('a site whose real multiplier needs an overflowing left shift stays f32, with the reason', () => {
    const fn = parseFunc(denseText.replaceAll('0.5, -1, 0.25, 0.75, -0.5, 1', '50, -100, 25, 75, -50, 100'));
    const q = fn.clone();
    // Output range far narrower than the accumulator's: multiplier >> 1.
    const report = quantizeFunc(q, () => ({ input: { min: -100, max: 100 }, output: { min: 0, max: 0.001 } }));
    expect(report.quantized).toEqual([]);
    expect(report.refused[0]!.why).toMatch(/needs a left shift of \d+ that could overflow i32/);
    verify(q);
  });

  it('calibration batches must match the function\'s inputs', () => {
    const fn = parseFunc(denseText);
    expect(() => calibrate(fn, [[literal([2, 3], 'f32')]])).toThrow('calibration batch 0, input 0: expected f32[4,3], got f32[2,3]');
    expect(() => calibrate(fn, [])).toThrow('calibration: needs at least one batch of sample inputs');
  });

  it('top-1 agreement on a tiny classifier (argmax helper sanity)', () => {
    expect(argmaxRows([0, 2, 1, 5, 0, 0], 3)).toEqual([1, 0]);
  });
});
