/**
 * Kernel-IR `conv2d` statements on CUDA (NHWC, see kernel_ir.ts Conv2d):
 * - conv: implicit GEMM on the shared-memory tiled kernel of gemm.ts. Rows are output pixels
 *   m = (n*OH + oy)*OW + ox, columns output channels, the reduction k = (ky*KW + kx)*Cin + ci runs
 *   over the packed HWIO weights (the same GEMM B panels the WebAssembly kernel streams). Each A
 *   element is the input pixel (n, oy*sh - pt + ky*dh, ox*sw - pl + kx*dw, ci), 0 in the padding,
 *   loaded from a clamped address so the staging loop has no branch; no im2col buffer exists.
 * - depthwise (multiplier 1) and maxpool: direct, one thread per output element (pixel, channel)
 *   over a grid-stride loop, consecutive threads on consecutive channels (coalesced loads), taps
 *   unrolled, padded taps skipped (max) or zero (depthwise).
 * Both then apply the group's epilogue with `acc`, `m` (pixel) and `n` (channel) bound and store
 * at m*Cout + n. These kernels tile their own grid (threadsPerItem 0): the work range the
 * runtime passes is not read.
 */
import type { Conv2d } from '../kernel_ir.js';
import { emitTiledGemm } from './gemm.js';
import { BLOCK, MAX_GRID, entryHeader, PtxEmitter, type PtxEnv, type PtxKernel } from './ptx.js';
import { f32Lit, PtxBuilder } from './ptx_builder.js';

export function emitConv2dKernel(name: string, c: Conv2d, env: PtxEnv): PtxKernel {
  checkConv2d(name, c);
  if (c.kind === 'conv') return emitImplicitGemmConv(name, c, env);
  return emitDirectWindow(name, c, env);
}

function checkConv2d(name: string, c: Conv2d): void {
  const dims = [c.batch, c.H, c.W, c.Cin, c.Cout, c.KH, c.KW, c.OH, c.OW, ...c.strides, ...c.dilations];
  if (dims.some((d) => !Number.isInteger(d) || d < 0) || c.strides.some((s) => s < 1) || c.dilations.some((d) => d < 1)) {
    throw new Error(`ptx conv2d ${name}: invalid geometry ${JSON.stringify({ ...c, epilogue: undefined })}`);
  }
  if (c.kind !== 'conv' && c.Cin !== c.Cout) throw new Error(`ptx conv2d ${name}: ${c.kind} needs Cin = Cout, got ${c.Cin} and ${c.Cout}`);
}

/** Registers (img, oy, ox) of output pixel `m` (non-negative). */
function pixelOf(b: PtxBuilder, c: Conv2d, m: string): { img: string; oy: string; ox: string } {
  const img = b.r((d) => `div.u32 ${d}, ${m}, ${c.OH * c.OW}`);
  const rem = b.r((d) => `rem.u32 ${d}, ${m}, ${c.OH * c.OW}`);
  const oy = b.r((d) => `div.u32 ${d}, ${rem}, ${c.OW}`);
  const ox = b.r((d) => `rem.u32 ${d}, ${rem}, ${c.OW}`);
  return { img, oy, ox };
}

/**
 * Input coordinate of tap `kyx` (register or immediate) for output coordinate `o`:
 * o*stride - pad + kyx*dilation.
 */
function inputCoord(b: PtxBuilder, o: string, stride: number, pad: number, kyx: string | number, dil: number): string {
  const base = b.r((d) => `mad.lo.s32 ${d}, ${o}, ${stride}, ${-pad}`);
  if (typeof kyx === 'number') return b.r((d) => `add.s32 ${d}, ${base}, ${kyx * dil}`);
  return b.r((d) => `mad.lo.s32 ${d}, ${kyx}, ${dil}, ${base}`);
}

/** Predicate: 0 <= iy < H and 0 <= ix < W (one unsigned compare each covers both bounds). */
function inside(b: PtxBuilder, c: Conv2d, iy: string, ix: string): string {
  const py = b.p((d) => `setp.lt.u32 ${d}, ${iy}, ${c.H}`);
  const px = b.p((d) => `setp.lt.u32 ${d}, ${ix}, ${c.W}`);
  return b.p((d) => `and.pred ${d}, ${py}, ${px}`);
}

/** Element index of (img, iy, ix, ch) in the NHWC input, or 0 where `ok` is false (a safe address). */
function inputIndex(b: PtxBuilder, c: Conv2d, img: string, iy: string, ix: string, ch: string, ok: string): string {
  const r = b.r((d) => `mad.lo.s32 ${d}, ${img}, ${c.H}, ${iy}`);
  const p = b.r((d) => `mad.lo.s32 ${d}, ${r}, ${c.W}, ${ix}`);
  const i = b.r((d) => `mad.lo.s32 ${d}, ${p}, ${c.Cin}, ${ch}`);
  return b.r((d) => `selp.b32 ${d}, ${i}, 0, ${ok}`);
}

function emitImplicitGemmConv(name: string, c: Conv2d, env: PtxEnv): PtxKernel {
  const M = c.batch * c.OH * c.OW, N = c.Cout, K = c.KH * c.KW * c.Cin;
  return emitTiledGemm(name, { M, N, K, bPacked: c.weights, out: c.out, epilogue: c.epilogue }, env, (b, e, m, k) => {
    const mc = b.r((d) => `min.s32 ${d}, ${m}, ${Math.max(0, M - 1)}`);
    const kc = b.r((d) => `min.s32 ${d}, ${k}, ${Math.max(0, K - 1)}`);
    const { img, oy, ox } = pixelOf(b, c, mc);
    const ky = b.r((d) => `div.u32 ${d}, ${kc}, ${c.KW * c.Cin}`);
    const r2 = b.r((d) => `rem.u32 ${d}, ${kc}, ${c.KW * c.Cin}`);
    const kx = b.r((d) => `div.u32 ${d}, ${r2}, ${c.Cin}`);
    const ci = b.r((d) => `rem.u32 ${d}, ${r2}, ${c.Cin}`);
    const iy = inputCoord(b, oy, c.strides[0], c.pads[0], ky, c.dilations[0]);
    const ix = inputCoord(b, ox, c.strides[1], c.pads[2], kx, c.dilations[1]);
    const pm = b.p((d) => `setp.lt.s32 ${d}, ${m}, ${M}`);
    const pk = b.p((d) => `setp.lt.s32 ${d}, ${k}, ${K}`);
    const pmk = b.p((d) => `and.pred ${d}, ${pm}, ${pk}`);
    const ok = b.p((d) => `and.pred ${d}, ${pmk}, ${inside(b, c, iy, ix)}`);
    const v = e.load(c.input, inputIndex(b, c, img, iy, ix, ci, ok), 'f32').reg;
    return b.f((d) => `selp.f32 ${d}, ${v}, 0f00000000, ${ok}`);
  });
}

function emitDirectWindow(name: string, c: Conv2d, env: PtxEnv): PtxKernel {
  const b = new PtxBuilder();
  const memParam = b.reg('rd');
  b.op(`ld.param.u64 ${memParam}, [${name}_param_0]`);
  const mem = b.reg('rd');
  b.op(`cvta.to.global.u64 ${mem}, ${memParam}`);
  const e = new PtxEmitter(b, env, mem);
  const C = c.Cout;
  const total = c.batch * c.OH * c.OW * C;
  const tid = b.r((d) => `mov.u32 ${d}, %tid.x`);
  const ctaid = b.r((d) => `mov.u32 ${d}, %ctaid.x`);
  const ntid = b.r((d) => `mov.u32 ${d}, %ntid.x`);
  const nctaid = b.r((d) => `mov.u32 ${d}, %nctaid.x`);
  const id = b.r((d) => `mad.lo.s32 ${d}, ${ctaid}, ${ntid}, ${tid}`);
  const stride = b.r((d) => `mul.lo.s32 ${d}, ${nctaid}, ${ntid}`);
  const head = b.newLabel('px'), exit = b.newLabel('pxdone');
  b.label(head);
  const done = b.p((d) => `setp.ge.s32 ${d}, ${id}, ${total}`);
  b.op(`@${done} bra ${exit}`);
  e.resetMemo();
  const m = b.r((d) => `div.u32 ${d}, ${id}, ${C}`);
  const n = b.r((d) => `rem.u32 ${d}, ${id}, ${C}`);
  const { img, oy, ox } = pixelOf(b, c, m);
  const max = c.kind === 'maxpool';
  const acc = b.f((d) => `mov.f32 ${d}, ${f32Lit(max ? -Infinity : 0)}`);
  for (let ky = 0; ky < c.KH; ky++) {
    const iy = inputCoord(b, oy, c.strides[0], c.pads[0], ky, c.dilations[0]);
    for (let kx = 0; kx < c.KW; kx++) {
      const ix = inputCoord(b, ox, c.strides[1], c.pads[2], kx, c.dilations[1]);
      const ok = inside(b, c, iy, ix);
      const v = e.load(c.input, inputIndex(b, c, img, iy, ix, n, ok), 'f32').reg;
      if (max) {
        // Padded taps are skipped (not -inf), NaN propagates like the interpreter's max.
        const t = b.f((d) => `max.NaN.f32 ${d}, ${acc}, ${v}`);
        b.op(`selp.f32 ${acc}, ${t}, ${acc}, ${ok}`);
      } else {
        const wi = b.r((d) => `add.s32 ${d}, ${n}, ${(ky * c.KW + kx) * C}`);
        const w = e.load(c.weights, wi, 'f32').reg;
        const x = b.f((d) => `selp.f32 ${d}, ${v}, 0f00000000, ${ok}`);
        b.op(`fma.rn.f32 ${acc}, ${x}, ${w}, ${acc}`);
      }
    }
  }
  e.vars.set('m', m);
  e.vars.set('n', n);
  e.acc = acc;
  e.store(c.out, id, e.expr(c.epilogue));
  e.resetMemo();
  b.op(`add.s32 ${id}, ${id}, ${stride}`);
  b.op(`bra.uni ${head}`);
  b.label(exit);
  b.op('ret');
  const grid = Math.max(1, Math.min(MAX_GRID, Math.ceil(total / BLOCK)));
  return {
    text: `${entryHeader(name)}\n{\n${b.body()}\n}\n`,
    launch: { name, grid: [grid, 1, 1], block: [BLOCK, 1, 1], threadsPerItem: 0 },
  };
}
