/**
 * The CUDA back end: a target-neutral Program becomes one PTX module with one `.entry` per kernel
 * (all with parameters `(u64 mem, u32 start, u32 end)`), plus the launch configuration of each
 * (grid/block), which goes into the artifact manifest. Device memory mirrors the WebAssembly
 * linear memory: one allocation of `program.totalBytes`, weights at `weightsOffset`, buffers at
 * their planned offsets, so the same manifest offsets serve both targets.
 * A kernel that is one structured statement gets its own emitter: `gemm` (tiled f32, or tensor
 * cores when its operands are f16/bf16), `conv2d` (implicit-GEMM conv, depthwise, max pooling);
 * every other kernel is a loop nest (ptx.ts).
 */
import type { DType } from '../../ir/dtype.js';
import type { Program } from '../program.js';
import { emitLoopKernel, type PtxKernel, type PtxLaunch } from './ptx.js';
import { emitGemmKernel } from './gemm.js';
import { emitConv2dKernel } from './conv.js';
import { emitMmaGemmStatement, usesTensorCores } from './mma_gemm.js';
import { ptxHeader } from './ptx_builder.js';

/** Memory dtypes the PTX kernels load and store (f16/bf16 convert to and from f32 registers). */
export const CUDA_DTYPES: readonly DType[] = ['f32', 'f16', 'bf16', 'i32', 'i8', 'u8', 'bool'];

export type CudaSm = 80 | 90;

export interface PtxOptions {
  /** Target architecture: sm_80 (Ampere) or sm_90 (Hopper). */
  readonly sm: CudaSm;
  /** Force the per-kernel mapping (tests); default picks the warp mapping where it applies. */
  readonly mapping?: 'thread' | 'warp';
  /** 16-byte vector loads/stores in `vector` loops (default true; false for comparisons). */
  readonly vectorize?: boolean;
}

export interface PtxModule {
  readonly ptx: string;
  readonly sm: CudaSm;
  /** Launch configuration per kernel, in `program.kernels` order. */
  readonly launches: PtxLaunch[];
}

export function buildPtxModule(p: Program, opts: PtxOptions): PtxModule {
  const env = { addr: (id: number) => p.buffers[id]!.offset, dtype: (id: number) => p.buffers[id]!.dtype };
  const parts: string[] = [ptxHeader(opts.sm)];
  const launches: PtxLaunch[] = [];
  for (const k of p.kernels) {
    const only = k.body.length === 1 ? k.body[0]! : undefined;
    let out: PtxKernel;
    if (only?.k === 'gemm') out = usesTensorCores(only.g, env) ? emitMmaGemmStatement(k.name, only.g, env) : emitGemmKernel(k.name, only.g, env);
    else if (only?.k === 'conv2d') out = emitConv2dKernel(k.name, only.c, env);
    else out = emitLoopKernel(k, env, { mapping: opts.mapping, vectorize: opts.vectorize });
    parts.push(out.text);
    launches.push(out.launch);
  }
  return { ptx: parts.join('\n'), sm: opts.sm, launches };
}

/** One PTX module (text) containing one `.entry` per kernel of the program. */
export function emitPtx(p: Program, opts: PtxOptions): string {
  return buildPtxModule(p, opts).ptx;
}
