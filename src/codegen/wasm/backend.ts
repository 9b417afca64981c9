/**
 * The WebAssembly back end: a target-neutral Program (kernels + memory layout) becomes one module
 * importing `env.memory` and exporting one `(start, end)` function per kernel, in two variants
 * when any kernel benefits from fused multiply-add: plain SIMD128 and relaxed SIMD.
 */
import type { DType } from '../../ir/dtype.js';
import type { Program } from '../program.js';
import { addMathFunctions, type MathFn } from './math.js';
import { emitKernel, resetExprIds } from './emit.js';
import { createKernelModule, emitModule } from './module_builder.js';
import { emitGemm } from './gemm.js';
import { emitConv2d, emitDepthwiseConv2d, emitPool2d } from './conv_kernels.js';
import { gemmEpilogue } from './gemm_epilogue.js';
import { GEMM_MR, GEMM_NR } from '../kernel_ir.js';
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
        emitGemm(mod, {
          name: k.name, M: g.M, N: g.N, K: g.K,
          aAddr: env.addr(g.a.buf) + g.a.offset * 4, lda: g.a.lda, transA: g.a.transA,
          bPackedAddr: env.addr(g.bPacked), cAddr: env.addr(g.out),
          relaxed: opts.relaxed, mr: GEMM_MR, nr: GEMM_NR,
          epilogue: { custom: gemmEpilogue(g.epilogue, outAt, env.addr, mathUsed) },
        });
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

/** Whether a relaxed-SIMD variant would differ from the plain one (only FMA-using kernels do). */
export function wantsRelaxedVariant(p: Program): boolean {
  return p.kernels.some((k) => k.body.some((s) => s.k === 'gemm' || (s.k === 'conv2d' && s.c.kind !== 'maxpool')));
}
