// Conv2d (implicit GEMM), depthwise conv2d and pooling kernels vs naive NHWC
// loops written here, in float64. conv_kernels.turbofan.test.ts reruns this
// file with V8's optimizing tier only.
import v8 from 'node:v8';
v8.setFlagsFromString('--experimental-wasm-relaxed-simd');

import { describe, expect, it } from 'vitest';
import { KilnError } from '../../ir/types.js';
import { emitConv2d, emitDepthwiseConv2d, emitPool2d, samePadding, windowOutputSize } from './conv_kernels.js';
import type { GemmEpilogue } from './gemm.js';
import { type Module, createKernelModule, emitModule, instantiateKernels } from './module_builder.js';
import { packB, packedBSize } from './pack.js';

function rand(n: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = ((s >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

const SENTINEL = -777.25;

interface Geo {
  batch: number;
  H: number;
  W: number;
  KH: number;
  KW: number;
  strides?: [number, number];
  dilations?: [number, number];
  pads?: [number, number, number, number];
}

/** Memory with buffers at odd 4-byte aligned offsets; every float starts as SENTINEL. */
class Arena {
  at = 52;
  readonly buffers: Array<[number, Float32Array]> = [];
  put(data: Float32Array): number {
    const addr = this.at;
    this.buffers.push([addr, data]);
    this.at += data.length * 4 + 20;
    return addr;
  }
  reserve(floats: number): number {
    const addr = this.at;
    this.at += floats * 4 + 20;
    return addr;
  }
  pages(): number {
    return Math.ceil((this.at + 64) / 65536);
  }
  run(build: (mod: Module) => { workItems: number }, relaxed: boolean, splits: number): Float32Array {
    const mod = createKernelModule({ relaxed, initialPages: this.pages() });
    const k = build(mod);
    const bytes = emitModule(mod);
    mod.dispose();
    const memory = new WebAssembly.Memory({ initial: this.pages() });
    const f32 = new Float32Array(memory.buffer);
    f32.fill(SENTINEL);
    for (const [addr, data] of this.buffers) f32.set(data, addr / 4);
    const fn = Object.values(instantiateKernels(bytes, memory))[0]!;
    for (let s = splits - 1; s >= 0; s--) fn(Math.floor((k.workItems * s) / splits), Math.floor((k.workItems * (s + 1)) / splits));
    return f32;
  }
}

function expectClose(got: Float32Array, at: number, ref: Float64Array, mags: Float64Array, what: string): void {
  for (let i = 0; i < ref.length; i++) {
    const g = got[at / 4 + i]!;
    const tol = 1e-4 * Math.abs(ref[i]!) + 1e-6 * (mags[i]! + 1);
    if (!(Math.abs(g - ref[i]!) <= tol)) throw new Error(`${what}: out[${i}] = ${g}, expected ${ref[i]}`);
  }
  expect(got[at / 4 + ref.length]).toBe(SENTINEL);
}

/** Visit every (output index, tap) pair of a NHWC window op with C output channels per pixel. */
function windows(
  g: Geo,
  visit: (n: number, oy: number, ox: number, ky: number, kx: number, iy: number, ix: number) => void,
): [number, number] {
  const [OH, OW] = windowOutputSize(g);
  const [sh, sw] = g.strides ?? [1, 1];
  const [dh, dw] = g.dilations ?? [1, 1];
  const [pt, , pl] = g.pads ?? [0, 0, 0, 0];
  for (let n = 0; n < g.batch; n++)
    for (let oy = 0; oy < OH; oy++)
      for (let ox = 0; ox < OW; ox++)
        for (let ky = 0; ky < g.KH; ky++)
          for (let kx = 0; kx < g.KW; kx++) {
            const iy = oy * sh - pt + ky * dh;
            const ix = ox * sw - pl + kx * dw;
            if (iy >= 0 && iy < g.H && ix >= 0 && ix < g.W) visit(n, oy, ox, ky, kx, iy, ix);
          }
  return [OH, OW];
}

function act(x: number, a: GemmEpilogue['activation']): number {
  if (a === 'relu') return Math.max(0, x);
  if (a === 'relu6') return Math.min(6, Math.max(0, x));
  if (a) return Math.min(a.clamp[1], Math.max(a.clamp[0], x));
  return x;
}

interface ConvCase extends Geo {
  Cin: number;
  Cout: number;
  relaxed: boolean;
  epilogue?: boolean;
  mr?: number;
  nr?: number;
  splits?: number;
}

function runConv(c: ConvCase): void {
  const { batch, H, W, Cin, Cout, KH, KW } = c;
  const nr = c.nr ?? 8;
  const x = rand(batch * H * W * Cin, 11 + H * W + Cin);
  const w = rand(KH * KW * Cin * Cout, 12 + Cout * KH);
  const bias = rand(Cout, 13);
  const [OH, OW] = windowOutputSize(c);
  const res = rand(batch * OH * OW * Cout, 14);
  const arena = new Arena();
  const inAddr = arena.put(x);
  const wAddr = arena.put(packB(w, KH * KW * Cin, Cout, nr));
  expect(packedBSize(KH * KW * Cin, Cout, nr)).toBe(Math.ceil(Cout / nr) * nr * KH * KW * Cin);
  const biasAddr = arena.put(bias);
  const resAddr = arena.put(res);
  const outAddr = arena.reserve(batch * OH * OW * Cout);
  const epilogue: GemmEpilogue | undefined = c.epilogue
    ? { bias: biasAddr, activation: 'relu', custom: (acc, ctx) => ctx.mod.f32x4.add(acc, ctx.loadAtOutput(resAddr)) }
    : undefined;
  const got = arena.run(
    (mod) => emitConv2d(mod, { ...c, name: 'conv', inAddr, wPackedAddr: wAddr, outAddr, epilogue, nr }),
    c.relaxed,
    c.splits ?? 1,
  );
  const ref = new Float64Array(batch * OH * OW * Cout);
  const mags = new Float64Array(ref.length);
  windows(c, (n, oy, ox, ky, kx, iy, ix) => {
    const o = ((n * OH + oy) * OW + ox) * Cout;
    for (let co = 0; co < Cout; co++) {
      for (let ci = 0; ci < Cin; ci++) {
        const p = x[((n * H + iy) * W + ix) * Cin + ci]! * w[((ky * KW + kx) * Cin + ci) * Cout + co]!;
        ref[o + co]! += p;
        mags[o + co]! += Math.abs(p);
      }
    }
  });
  if (c.epilogue) for (let i = 0; i < ref.length; i++) ref[i] = act(ref[i]! + bias[i % Cout]! + res[i]!, 'relu');
  expectClose(got, outAddr, ref, mags, `conv2d ${JSON.stringify(c)}`);
}

const convCases: Array<Omit<ConvCase, 'relaxed'>> = [
  { batch: 2, H: 7, W: 9, Cin: 3, Cout: 5, KH: 3, KW: 3, pads: samePadding(7, 9, 3, 3) },
  { batch: 1, H: 11, W: 10, Cin: 4, Cout: 16, KH: 3, KW: 3, strides: [2, 2] },
  { batch: 1, H: 9, W: 12, Cin: 6, Cout: 9, KH: 3, KW: 3, dilations: [2, 2], pads: samePadding(9, 12, 3, 3, [1, 1], [2, 2]) },
  { batch: 2, H: 5, W: 6, Cin: 16, Cout: 24, KH: 1, KW: 1 },
  { batch: 1, H: 8, W: 13, Cin: 13, Cout: 17, KH: 3, KW: 2, strides: [2, 1], pads: [0, 1, 2, 1] },
  { batch: 1, H: 12, W: 12, Cin: 3, Cout: 8, KH: 5, KW: 5, strides: [2, 2], pads: samePadding(12, 12, 5, 5, [2, 2]) },
  { batch: 1, H: 2, W: 3, Cin: 2, Cout: 3, KH: 3, KW: 3, pads: [1, 1, 1, 1] },
  // InceptionV3's 1x7 / 7x1 'same' convs: single border pixels and a 1-pixel row tail, which the
  // relaxed build multiplies + adds unfused (fuseMadd), next to fused full tiles.
  { batch: 1, H: 5, W: 9, Cin: 7, Cout: 10, KH: 1, KW: 7, pads: samePadding(5, 9, 1, 7) },
  { batch: 2, H: 9, W: 5, Cin: 5, Cout: 12, KH: 7, KW: 1, pads: samePadding(9, 5, 7, 1) },
];

interface WinCase extends Geo {
  C: number;
  relaxed: boolean;
  epilogue?: boolean;
  splits?: number;
}

function runDepthwise(c: WinCase): void {
  const { batch, H, W, C, KH, KW } = c;
  const x = rand(batch * H * W * C, 21 + H + C);
  const w = rand(KH * KW * C, 22 + C);
  const bias = rand(C, 23);
  const [OH, OW] = windowOutputSize(c);
  const arena = new Arena();
  const inAddr = arena.put(x);
  const wAddr = arena.put(w);
  const biasAddr = arena.put(bias);
  const outAddr = arena.reserve(batch * OH * OW * C);
  const epilogue: GemmEpilogue | undefined = c.epilogue ? { bias: biasAddr, activation: 'relu6' } : undefined;
  const got = arena.run(
    (mod) => emitDepthwiseConv2d(mod, { ...c, name: 'dw', inAddr, wAddr, outAddr, epilogue }),
    c.relaxed,
    c.splits ?? 1,
  );
  const ref = new Float64Array(batch * OH * OW * C);
  const mags = new Float64Array(ref.length);
  windows(c, (n, oy, ox, ky, kx, iy, ix) => {
    for (let ch = 0; ch < C; ch++) {
      const p = x[((n * H + iy) * W + ix) * C + ch]! * w[(ky * KW + kx) * C + ch]!;
      ref[((n * OH + oy) * OW + ox) * C + ch]! += p;
      mags[((n * OH + oy) * OW + ox) * C + ch]! += Math.abs(p);
    }
  });
  if (c.epilogue) for (let i = 0; i < ref.length; i++) ref[i] = act(ref[i]! + bias[i % C]!, 'relu6');
  expectClose(got, outAddr, ref, mags, `depthwise ${JSON.stringify(c)}`);
}

function runPool(c: WinCase & { kind: 'max' | 'avg' }): void {
  const { batch, H, W, C } = c;
  const x = rand(batch * H * W * C, 31 + H + C);
  const [OH, OW] = windowOutputSize(c);
  const arena = new Arena();
  const inAddr = arena.put(x);
  const outAddr = arena.reserve(batch * OH * OW * C);
  const got = arena.run((mod) => emitPool2d(mod, { ...c, epilogue: undefined, name: 'pool', inAddr, outAddr }), false, c.splits ?? 1);
  const ref = new Float64Array(batch * OH * OW * C).fill(c.kind === 'max' ? -Infinity : 0);
  const count = new Float64Array(batch * OH * OW);
  windows(c, (n, oy, ox, _ky, _kx, iy, ix) => {
    const p = (n * OH + oy) * OW + ox;
    count[p]! += 1;
    for (let ch = 0; ch < C; ch++) {
      const v = x[((n * H + iy) * W + ix) * C + ch]!;
      ref[p * C + ch] = c.kind === 'max' ? Math.max(ref[p * C + ch]!, v) : ref[p * C + ch]! + v;
    }
  });
  if (c.kind === 'avg') for (let i = 0; i < ref.length; i++) ref[i] = ref[i]! / count[Math.floor(i / C)]!;
  expectClose(got, outAddr, ref, new Float64Array(ref.length).fill(1), `${c.kind} pool ${JSON.stringify(c)}`);
}

const winCases: Array<Omit<WinCase, 'relaxed'>> = [
  { batch: 2, H: 6, W: 7, C: 5, KH: 3, KW: 3, pads: samePadding(6, 7, 3, 3) },
  { batch: 1, H: 9, W: 8, C: 19, KH: 3, KW: 3, strides: [2, 2], pads: samePadding(9, 8, 3, 3, [2, 2]) },
  { batch: 1, H: 10, W: 9, C: 37, KH: 3, KW: 2, dilations: [2, 1], pads: [2, 2, 0, 1] },
  { batch: 1, H: 8, W: 8, C: 32, KH: 2, KW: 2, strides: [2, 2] },
];

for (const relaxed of [false, true]) {
  describe(`emitConv2d (${relaxed ? 'relaxed FMA' : 'SIMD128'})`, () => {
    convCases.forEach((cc, i) => {
      it(`case ${i}: ${cc.H}x${cc.W}x${cc.Cin} -> ${cc.Cout}, ${cc.KH}x${cc.KW}`, () => runConv({ ...cc, relaxed }));
      it(`case ${i} with bias+residual+relu epilogue, 2 ranges`, () => runConv({ ...cc, relaxed, epilogue: true, splits: 2 }));
    });
    it('other register blockings', () => {
      runConv({ ...convCases[0]!, relaxed, mr: 1, nr: 4 });
      runConv({ ...convCases[4]!, relaxed, mr: 3, nr: 16, splits: 3 });
    });
  });
  describe(`emitDepthwiseConv2d (${relaxed ? 'relaxed FMA' : 'SIMD128'})`, () => {
    winCases.forEach((wc, i) => {
      it(`case ${i}: C=${wc.C}, ${wc.KH}x${wc.KW}`, () => runDepthwise({ ...wc, relaxed }));
      it(`case ${i} with bias+relu6, 3 ranges`, () => runDepthwise({ ...wc, relaxed, epilogue: true, splits: 3 }));
    });
  });
}

describe('emitPool2d', () => {
  for (const kind of ['max', 'avg'] as const) {
    winCases.forEach((wc, i) => {
      it(`${kind} case ${i}: C=${wc.C}, ${wc.KH}x${wc.KW}, 2 ranges`, () => runPool({ ...wc, kind, relaxed: false, splits: 2 }));
    });
  }
});

describe('window kernel input checks', () => {
  it('samePadding matches TensorFlow for odd and even sizes', () => {
    expect(samePadding(7, 8, 3, 3, [2, 2])).toEqual([1, 1, 0, 1]);
    expect(samePadding(5, 5, 1, 1, [2, 2])).toEqual([0, 0, 0, 0]);
  });
  it('rejects kernels that do not fit and bad addresses with KilnError', () => {
    const mod = createKernelModule();
    const base = { name: 'c', batch: 1, H: 2, W: 2, Cin: 1, Cout: 1, KH: 3, KW: 3, inAddr: 0, wPackedAddr: 64, outAddr: 128, relaxed: false };
    expect(() => emitConv2d(mod, base)).toThrow(/does not fit/);
    expect(() => emitConv2d(mod, { ...base, KH: 1, KW: 1, outAddr: 3 })).toThrow(KilnError);
    expect(() => emitPool2d(mod, { name: 'p', kind: 'sum' as 'max', C: 1, batch: 1, H: 2, W: 2, KH: 1, KW: 1, inAddr: 0, outAddr: 64 })).toThrow(/kind must be/);
    mod.dispose();
  });
});
