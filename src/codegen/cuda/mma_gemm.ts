/**
 * Kernel-IR `gemm` statements whose A and B buffers hold f16 (or bf16) elements run on tensor
 * cores: the mma.sync m16n8k16 kernel of mma.ts with f32 accumulation, A addressed through its
 * row stride or transposed (element offset included), B read from the GEMM_NR-wide packed panels
 * every gemm statement uses (kernel_ir.ts), and the statement's epilogue evaluated per output with
 * `acc`, `m`, `n` bound, stored at m*N + n in the output's dtype. This is what mixed precision
 * (passes/mixed_precision.ts) produces for dots: 16-bit operands, f32 result.
 */
import { GEMM_NR, type Gemm } from '../kernel_ir.js';
import { emitMma } from './mma.js';
import { PtxEmitter, type PtxEnv, type PtxKernel } from './ptx.js';

export const isLowPrecision = (d: string): d is 'f16' | 'bf16' => d === 'f16' || d === 'bf16';

/** Whether a gemm statement goes to the tensor-core kernel: both operands in the same 16-bit dtype. */
export function usesTensorCores(g: Gemm, env: PtxEnv): boolean {
  const a = env.dtype(g.a.buf), b = env.dtype(g.bPacked);
  if (!isLowPrecision(a) && !isLowPrecision(b)) return false;
  if (a !== b) throw new Error(`ptx gemm: A is ${a} and packed B is ${b}; a tensor-core gemm needs both operands in the same 16-bit dtype (f16 or bf16)`);
  return true;
}

export function emitMmaGemmStatement(name: string, g: Gemm, env: PtxEnv): PtxKernel {
  const dtype = env.dtype(g.a.buf);
  if (!isLowPrecision(dtype) || env.dtype(g.bPacked) !== dtype) throw new Error(`ptx gemm ${name}: tensor-core gemm needs f16/bf16 operands, got ${dtype} and ${env.dtype(g.bPacked)}`);
  if (g.M <= 0 || g.N <= 0 || g.K <= 0) throw new Error(`ptx gemm ${name}: M, N, K must be positive, got ${g.M}x${g.N}x${g.K}`);
  const { lda, transA, offset } = g.a;
  let e: PtxEmitter | undefined;
  return emitMma(name, { M: g.M, N: g.N, K: g.K, dtype }, {
    base: env.addr(g.a.buf),
    index: (b, m, k) => {
      const t = transA ? b.r((d) => `mad.lo.s32 ${d}, ${k}, ${lda}, ${offset}`) : b.r((d) => `mad.lo.s32 ${d}, ${m}, ${lda}, ${offset}`);
      return b.r((d) => `add.s32 ${d}, ${t}, ${transA ? m : k}`);
    },
  }, {
    base: env.addr(g.bPacked),
    // panel (n / NR), row k, lane n % NR
    index: (b, k, n) => {
      const panel = b.r((d) => `shr.u32 ${d}, ${n}, ${Math.log2(GEMM_NR)}`);
      const lane = b.r((d) => `and.b32 ${d}, ${n}, ${GEMM_NR - 1}`);
      const t = b.r((d) => `mad.lo.s32 ${d}, ${panel}, ${g.K * GEMM_NR}, ${lane}`);
      return b.r((d) => `mad.lo.s32 ${d}, ${k}, ${GEMM_NR}, ${t}`);
    },
  }, (b, mem, row, col, acc) => {
    e ??= new PtxEmitter(b, env, mem);
    e.resetMemo();
    e.vars.set('m', row);
    e.vars.set('n', col);
    e.acc = acc;
    const at = b.r((d) => `mad.lo.s32 ${d}, ${row}, ${g.N}, ${col}`);
    e.store(g.out, at, e.expr(g.epilogue));
  });
}
