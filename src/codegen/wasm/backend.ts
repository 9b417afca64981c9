/**
 * The WebAssembly back end: a target-neutral Program (kernels + memory layout) becomes one module
 * importing `env.memory` and exporting one `(start, end)` function per kernel, in two variants
 * when any kernel benefits from fused multiply-add: plain SIMD128 and relaxed SIMD.
 */
import binaryen from 'binaryen';
import type { DType } from '../../ir/dtype.js';
import type { Program } from '../program.js';
import { addMathFunctions, type MathFn } from './math.js';
import { emitKernel, resetExprIds } from './emit.js';
import { createKernelModule, emitModule } from './module_builder.js';
import { emitGemm } from './gemm.js';
import { emitGemmI8 } from './gemm_i8.js';
import { emitConv2d, emitDepthwiseConv2d, emitPool2d } from './conv_kernels.js';
import { gemmEpilogue } from './gemm_epilogue.js';
import { GEMM_I8_MR, GEMM_MR, GEMM_NR, GEMM_SPLIT_BELOW, type GemmI8 } from '../kernel_ir.js';
import { sadd, smul, svar } from '../symbolic.js';

/** Memory dtypes the WebAssembly kernels load and store. */
export const WASM_DTYPES: readonly DType[] = ['f32', 'i32', 'i8', 'u8', 'bool'];

export interface WasmModuleOptions {
  relaxed: boolean;
  shared: boolean;
  optimize?: boolean;
}

export const PAGE = 65536;

export function memoryPages(p: Program): number {
  return Math.max(1, Math.ceil(p.totalBytes / PAGE));
}

/**
 * One module for one program, or for several programs sharing a memory (the entry points of a
 * training artifact); kernel names must be unique across them.
 */
export function emitWasm(programs: Program | readonly Program[], opts: WasmModuleOptions & { pages?: number }): Uint8Array {
  resetExprIds();
  const list = Array.isArray(programs) ? programs : [programs as Program];
  const pages = opts.pages ?? Math.max(...list.map(memoryPages));
  const mod = createKernelModule({ shared: opts.shared, initialPages: pages, relaxed: opts.relaxed });
  try {
    const mathUsed = new Set<MathFn>();
    for (const p of list) emitProgram(mod, p, opts, mathUsed);
    addMathFunctions(mod, mathUsed);
    return emitModule(mod, { optimize: opts.optimize ?? false });
  } finally {
    mod.dispose();
  }
}

function emitProgram(mod: ReturnType<typeof createKernelModule>, p: Program, opts: WasmModuleOptions, mathUsed: Set<MathFn>): void {
  {
    const env = {
      addr: (id: number) => p.buffers[id]!.offset,
      dtype: (id: number) => p.buffers[id]!.dtype,
      mathUsed,
      relaxed: opts.relaxed,
    };
    for (const k of p.kernels) {
      const s = k.body[0];
      if (k.body.length === 1 && s?.k === 'gemm') {
        const g = s.g;
        const outAt = sadd(smul(svar('m', g.M), g.N), svar('n', g.N));
        const small = g.live?.smallSplit;
        const split = small ?? g.nSplit ?? 1;
        const panels = Math.ceil(g.N / GEMM_NR);
        const per = Math.ceil(panels / split);
        const subs: string[] = [];
        for (let c = 0; c < split; c++) {
          const c0 = c * per * GEMM_NR, c1 = Math.min(g.N, (c + 1) * per * GEMM_NR);
          if (c1 <= c0) break;
          const name = split === 1 ? k.name : `${k.name}__c${c}`;
          subs.push(name);
          emitGemm(mod, {
            name, M: g.M, N: c1 - c0, K: g.K, ldc: g.N,
            aAddr: env.addr(g.a.buf) + g.a.offset * 4, lda: g.a.lda, transA: g.a.transA,
            bPackedAddr: env.addr(g.bPacked) + c0 * g.K * 4, cAddr: env.addr(g.out) + c0 * 4,
            // With fewer than GEMM_MR rows there are too few independent accumulator chains to hide
            // the fused multiply-add latency; separate mul + add measured faster there.
            relaxed: opts.relaxed && g.M >= GEMM_MR, mr: GEMM_MR, nr: GEMM_NR,
            epilogue: { custom: gemmEpilogue(g.epilogue, outAt, env.addr, mathUsed, c0 * 4) },
            ...(g.live ? { liveRows: { addr: env.addr(g.live.slot), perItem: g.live.rowsPerItem, ...(g.live.segmentRows ? { segmentRows: g.live.segmentRows } : {}) } } : {}),
          });
        }
        if (small && g.live) emitSmallBatchDispatcher(mod, k.name, subs, env.addr(g.live.slot), g.live.rowsPerItem);
        else if (split > 1) emitSplitDispatcher(mod, k.name, subs, split);
      } else if (k.body.length === 1 && s?.k === 'gemm_i8') {
        emitGemmI8Statement(mod, k.name, s.g, env.addr);
      } else if (k.body.length === 1 && s?.k === 'conv2d') {
        const c = s.c;
        const outAt = sadd(smul(svar('m', c.batch * c.OH * c.OW), c.Cout), svar('n', c.Cout));
        const epilogue = { custom: gemmEpilogue(c.epilogue, outAt, env.addr, mathUsed) };
        const geom = { name: k.name, batch: c.batch, H: c.H, W: c.W, KH: c.KH, KW: c.KW, strides: c.strides, dilations: c.dilations, pads: c.pads, inAddr: env.addr(c.input), outAddr: env.addr(c.out), epilogue };
        if (c.kind === 'conv') emitConv2d(mod, { ...geom, Cin: c.Cin, Cout: c.Cout, wPackedAddr: env.addr(c.weights), relaxed: opts.relaxed, mr: GEMM_MR, nr: GEMM_NR });
        else if (c.kind === 'depthwise') emitDepthwiseConv2d(mod, { ...geom, C: c.Cin, wAddr: env.addr(c.weights), relaxed: opts.relaxed });
        else emitPool2d(mod, { ...geom, kind: 'max', C: c.Cin });
      } else {
        emitKernel(mod, k, env);
      }
    }
  }
}

/**
 * An int8 GEMM statement. Both builds run the plain SIMD128 kernel (i32x4.dot_i16x8_s): the
 * relaxed one (relaxed_dot_i8x16_i7x16_add_s, gemm_i8.ts) needs two dot products per 16 products
 * for full int8 weights and measured ~1.5x slower than plain on V8 11.3 / AMD EPYC (bench/int8.ts),
 * besides being miscompiled by that V8's baseline tier (runtime/host.ts relaxedDotExact).
 */
function emitGemmI8Statement(mod: ReturnType<typeof createKernelModule>, name: string, g: GemmI8, addr: (id: number) => number): void {
  emitGemmI8(mod, {
    name, M: g.M, N: g.N, K: g.K, aAddr: addr(g.a.buf), lda: g.a.lda, constAddr: addr(g.packed), cAddr: addr(g.out),
    relaxed: false, mr: GEMM_I8_MR, bias: g.bias, ...(g.requant ? { requant: g.requant } : {}),
  });
}

/** Work item w runs row block w / split of column slice w % split (slices past N do nothing). */
function emitSplitDispatcher(mod: ReturnType<typeof createKernelModule>, name: string, subs: readonly string[], split: number): void {
  const i32 = binaryen.i32;
  const W = 2, RB = 3, C = 4;
  const get = (l: number) => mod.local.get(l, i32);
  let call: binaryen.ExpressionRef = mod.nop();
  for (let c = subs.length - 1; c >= 0; c--) {
    const run = mod.call(subs[c]!, [get(RB), mod.i32.add(get(RB), mod.i32.const(1))], binaryen.none);
    call = c === subs.length - 1 ? mod.if(mod.i32.eq(get(C), mod.i32.const(c)), run) : mod.if(mod.i32.eq(get(C), mod.i32.const(c)), run, call);
  }
  const body = mod.block(null, [
    mod.local.set(W, get(0)),
    mod.block('done', [mod.loop('next', mod.block(null, [
      mod.br('done', mod.i32.ge_s(get(W), get(1))),
      mod.local.set(RB, mod.i32.div_u(get(W), mod.i32.const(split))),
      mod.local.set(C, mod.i32.rem_u(get(W), mod.i32.const(split))),
      call,
      mod.local.set(W, mod.i32.add(get(W), mod.i32.const(1))),
      mod.br('next'),
    ]))]),
  ]);
  mod.addFunction(name, binaryen.createType([i32, i32]), binaryen.none, [i32, i32, i32], body);
  mod.addFunctionExport(name, name);
}

/**
 * A batch-polymorphic GEMM's work items (Gemm.live.smallSplit): while fewer than GEMM_SPLIT_BELOW
 * row blocks are live (batch size in the i32 at `slotAddr` times `perItem` rows), item w is row
 * block w / S over column chunk w % S; otherwise item w is row block w over every chunk in turn.
 */
function emitSmallBatchDispatcher(mod: ReturnType<typeof createKernelModule>, name: string, subs: readonly string[], slotAddr: number, perItem: number): void {
  const i32 = binaryen.i32;
  const S = subs.length;
  const W = 2, RB = 3, C = 4, SPLIT = 5;
  const get = (l: number) => mod.local.get(l, i32);
  const c = (v: number) => mod.i32.const(v);
  let one: binaryen.ExpressionRef = mod.nop();
  for (let k = S - 1; k >= 0; k--) {
    const run = mod.call(subs[k]!, [get(RB), mod.i32.add(get(RB), c(1))], binaryen.none);
    one = k === S - 1 ? mod.if(mod.i32.eq(get(C), c(k)), run) : mod.if(mod.i32.eq(get(C), c(k)), run, one);
  }
  const all = mod.block(null, subs.map((sub) => mod.call(sub, [get(W), mod.i32.add(get(W), c(1))], binaryen.none)));
  // Live row blocks = ceil(batch * perItem / MR).
  const liveBlocks = mod.i32.div_u(mod.i32.add(mod.i32.mul(mod.i32.load(0, 4, c(slotAddr)), c(perItem)), c(GEMM_MR - 1)), c(GEMM_MR));
  const body = mod.block(null, [
    mod.local.set(SPLIT, mod.i32.lt_u(liveBlocks, c(GEMM_SPLIT_BELOW))),
    mod.local.set(W, get(0)),
    mod.block('done', [mod.loop('next', mod.block(null, [
      mod.br('done', mod.i32.ge_s(get(W), get(1))),
      mod.if(get(SPLIT), mod.block(null, [
        mod.local.set(RB, mod.i32.div_u(get(W), c(S))),
        mod.local.set(C, mod.i32.rem_u(get(W), c(S))),
        one,
      ]), all),
      mod.local.set(W, mod.i32.add(get(W), c(1))),
      mod.br('next'),
    ]))]),
  ]);
  mod.addFunction(name, binaryen.createType([i32, i32]), binaryen.none, [i32, i32, i32, i32], body);
  mod.addFunctionExport(name, name);
}

/** Whether a relaxed-SIMD variant would differ from the plain one (only FMA-using kernels do). */
export function wantsRelaxedVariant(p: Program): boolean {
  return p.kernels.some((k) => k.body.some((s) => s.k === 'gemm' || (s.k === 'conv2d' && s.c.kind !== 'maxpool')));
}
