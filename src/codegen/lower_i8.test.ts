// Integer groups lower to the int8 GEMM kernel (dense, 1x1 conv in place, other convs through patch
// rows with a fused pad prologue) and quantize / dequantize to loop kernels; the compiled artifact
// agrees bit-exactly with the interpreter's integer semantics (ir/ops/quant.ts), on random shapes
// with odd K and N, per-channel and per-tensor requantization, clamps and rounding ties.
import { describe, expect, it } from 'vitest';
import { compile } from '../compile.js';
import { Builder } from '../ir/builder.js';
import { literal } from '../ir/literal.js';
import { tensorType } from '../ir/types.js';
import type { Value } from '../ir/function.js';
import { compareCompiled } from './wasm/test_util.js';
import '../ir/ops/index.js';

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => { s ^= s << 13; s ^= s >>> 17; s ^= s << 5; return (s >>> 0) / 4294967296; };
}
const ri = (r: () => number, lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));

interface Q { perChannel: boolean; clamp?: [number, number]; bias: boolean; seed: number }

/** requantize(add(acc, bias)) with random Q31 multipliers / shifts; the result's zero point and clamp. */
function epilogue(b: Builder, acc: Value, N: number, q: Q): Value {
  const r = rng(q.seed * 7 + 1);
  let v = acc;
  if (q.bias) {
    const bias = b.constant(literal([N], 'i32', Array.from({ length: N }, () => ri(r, -3000, 3000))));
    v = b.op('add', [v, b.op('broadcast_in_dim', [bias], { shape: acc.shape, dims: [acc.shape.length - 1] })]);
  }
  const n = q.perChannel ? N : 1;
  const zp = ri(r, -10, 10);
  const [min, max] = q.clamp ?? [-128, 127];
  return b.op('requantize', [v], {
    multiplier: Array.from({ length: n }, () => ri(r, 2 ** 30, 2 ** 31 - 1)), shift: Array.from({ length: n }, () => ri(r, -9, -1)),
    axis: q.perChannel ? acc.shape.length - 1 : -1, zero_point: zp, min: Math.max(min, -128), max,
  });
}

const quant = (b: Builder, x: Value, scale: number, zp: number): Value => b.op('quantize', [x], { scale: [scale], zero_point: [zp], axis: -1 });
const dequant = (b: Builder, x: Value, scale: number, zp: number): Value => b.op('dequantize', [x], { scale: [scale], zero_point: [zp], axis: -1 });
const weights = (b: Builder, shape: number[], seed: number): Value => {
  const r = rng(seed);
  return b.constant(literal(shape, 'i8', Array.from({ length: shape.reduce((a, c) => a * c, 1) }, () => ri(r, -127, 127))));
};

function denseFn(M: number, K: number, N: number, q: Q) {
  const b = new Builder('dense_i8');
  const x = b.param(tensorType([M, K], 'f32'), 'x');
  const xq = quant(b, x, 0.02, 3);
  const acc = b.op('dot_general', [xq, weights(b, [K, N], q.seed)], { lhs_batch: [], rhs_batch: [], lhs_contract: [1], rhs_contract: [0], dtype: 'i32' });
  return b.build([dequant(b, epilogue(b, acc, N, q), 0.05, 0)]);
}

function convFn(x: [number, number, number, number], k: [number, number], Cout: number, stride: number, pad: number, q: Q) {
  const b = new Builder('conv_i8');
  const p = b.param(tensorType(x, 'f32'), 'x');
  const zpIn = -5;
  let xq = quant(b, p, 0.03, zpIn);
  if (pad > 0) xq = b.op('pad', [xq], { low: [0, pad, pad, 0], high: [0, pad, pad, 0], interior: [0, 0, 0, 0], value: zpIn });
  const w = weights(b, [k[0], k[1], x[3], Cout], q.seed);
  const acc = b.op('conv', [xq, w], { strides: [stride, stride], pad_lo: [0, 0], pad_hi: [0, 0], lhs_dilation: [1, 1], rhs_dilation: [1, 1], groups: 1, dtype: 'i32' });
  return b.build([dequant(b, epilogue(b, acc, Cout, q), 0.05, 1)]);
}

function depthwiseFn(x: [number, number, number, number], q: Q) {
  const b = new Builder('depthwise_i8');
  const p = b.param(tensorType(x, 'f32'), 'x');
  const zpIn = 4;
  const xq = b.op('pad', [quant(b, p, 0.03, zpIn)], { low: [0, 1, 1, 0], high: [0, 1, 1, 0], interior: [0, 0, 0, 0], value: zpIn });
  const w = weights(b, [3, 3, 1, x[3]], q.seed);
  const acc = b.op('conv', [xq, w], { strides: [1, 1], pad_lo: [0, 0], pad_hi: [0, 0], lhs_dilation: [1, 1], rhs_dilation: [1, 1], groups: x[3], dtype: 'i32' });
  return b.build([dequant(b, epilogue(b, acc, x[3], q), 0.05, -2)]);
}

/** requantize alone on an i32 input (no int8 kernel around it): a loop kernel. */
function requantizeFn(shape: number[], q: Q) {
  const b = new Builder('requantize_i32');
  const p = b.param(tensorType(shape, 'i32'), 'acc');
  return b.build([epilogue(b, p, shape[shape.length - 1]!, q)]);
}

function inputs(shape: number[], seed: number) {
  const r = rng(seed);
  // Multiples of half the input scale produce quantization ties (round half away from zero).
  return [literal(shape, 'f32', Array.from({ length: shape.reduce((a, c) => a * c, 1) }, () => (r() < 0.3 ? ri(r, -300, 300) * 0.01 : r() * 6 - 3)))];
}

async function check(fn: ReturnType<Builder['build']>, shape: number[], seed: number, want: string, ins = inputs(shape, seed)): Promise<void> {
  const notes = compile(fn).program.kernels.map((k) => k.note);
  expect(notes.some((n) => n.startsWith(want)), notes.join(' | ')).toBe(true);
  for (const threads of [1, 2]) {
    expect(await compareCompiled(fn, ins, { load: { threads }, rtol: 0, atol: 0 })).toBeUndefined();
  }
}

describe('int8 lowering', () => {
  it('dense: quantize -> int8 GEMM (+bias, requantize) -> dequantize, odd K and N, per-tensor and per-channel', async () => {
    let seed = 1;
    for (const [M, K, N] of [[1, 7, 5], [5, 33, 10], [9, 64, 19]] as const) {
      for (const perChannel of [false, true]) {
        await check(denseFn(M, K, N, { perChannel, bias: true, seed: ++seed }), [M, K], seed, 'int8 gemm');
      }
    }
    await check(denseFn(4, 16, 8, { perChannel: true, bias: false, clamp: [-3, 60], seed: 40 }), [4, 16], 40, 'int8 gemm');
  });
  it('conv: 1x1 reads its input in place; 3x3 with the zero-point pad prologue and stride 2 gathers patch rows', async () => {
    await check(convFn([2, 5, 6, 9], [1, 1], 7, 1, 0, { perChannel: true, bias: true, seed: 3 }), [2, 5, 6, 9], 3, 'int8 gemm');
    await check(convFn([1, 9, 8, 3], [3, 3], 10, 1, 1, { perChannel: true, bias: true, clamp: [-5, 127], seed: 4 }), [1, 9, 8, 3], 4, 'int8 gemm');
    await check(convFn([2, 11, 10, 5], [3, 3], 6, 2, 1, { perChannel: false, bias: true, seed: 5 }), [2, 11, 10, 5], 5, 'int8 gemm');
  });
  it('depthwise conv (zero-point pad, per-channel requantize) and requantize alone lower to exact loop kernels', async () => {
    await check(depthwiseFn([2, 6, 7, 5], { perChannel: true, bias: true, clamp: [-6, 100], seed: 6 }), [2, 6, 7, 5], 6, 'conv');
    const r = rng(9);
    // Accumulators over the whole i32 range (left shifts wrap like TFLite's int32 multiply).
    const acc = [literal([3, 7], 'i32', Array.from({ length: 21 }, (_, i) => (i % 5 === 0 ? ri(r, -(2 ** 31), 2 ** 31 - 1) : ri(r, -70000, 70000))))];
    await check(requantizeFn([3, 7], { perChannel: true, bias: false, seed: 7 }), [3, 7], 7, 'requantize', acc);
    await check(requantizeFn([3, 7], { perChannel: false, bias: true, clamp: [0, 127], seed: 8 }), [3, 7], 8, 'requantize', acc);
  });
});
