/**
 * Tensor-core GEMM kernels: C[M,N] = A[M,K] · B[K,N] in f16 or bf16 with f32 accumulation through
 * `mma.sync.aligned.m16n8k16` (sm_80+). Standalone from the kernel IR (which has no 16-bit compute
 * yet): a spec names the shapes, dtype, operand layouts, byte offsets in the device memory image
 * and an epilogue (bias per column, relu, output dtype).
 *
 * Mapping: a block of 4 warps (2x2) computes a 64x64 tile of C; each warp a 32x32 sub-tile as
 * 2x4 m16n8 fragments (32 f32 accumulators per lane). Per K step of 16 each lane loads its
 * fragment elements straight from global memory following the PTX ISA fragment layout
 * (groupID = lane/4, tig = lane%4; A: rows g, g+8, cols 2tig(+1), 2tig+8(+1); B: rows 2tig(+1),
 * 2tig+8(+1), col g; C: rows g, g+8, cols 2tig(+1)), from clamped addresses with out-of-range
 * elements zeroed, so any M, N, K works. Staging through shared memory with ldmatrix/cp.async is
 * the next step for speed; this version is the correctness baseline the GPU bench checks.
 * `emitMma` is the same kernel over pluggable operand addressing and stores; mma_gemm.ts uses it
 * for kernel-IR gemm statements whose operands are 16-bit.
 */
import { entryHeader, type PtxKernel } from './ptx.js';
import { f32Lit, PtxBuilder, ptxHeader } from './ptx_builder.js';

export interface MmaGemmSpec {
  readonly name: string;
  readonly M: number;
  readonly N: number;
  readonly K: number;
  readonly dtype: 'f16' | 'bf16';
  /** 'row': A[m,k] at m*K + k; 'col': at k*M + m. */
  readonly aLayout: 'row' | 'col';
  /** 'row': B[k,n] at k*N + n; 'col': at n*K + k. */
  readonly bLayout: 'row' | 'col';
  /** Byte offsets in the device memory image (the kernel's `mem` parameter). */
  readonly a: number;
  readonly b: number;
  readonly c: number;
  readonly epilogue?: {
    /** Byte offset of an f32[N] bias added per column. */
    readonly bias?: number;
    readonly activation?: 'relu';
    /** dtype C is stored in (default f32). */
    readonly out?: 'f32' | 'f16' | 'bf16';
  };
}

const WARP_M = 32, WARP_N = 32, BLOCK_M = 64, BLOCK_N = 64;
const MT = WARP_M / 16, NT = WARP_N / 8;

export function emitMmaGemmKernel(s: MmaGemmSpec): PtxKernel {
  if (s.M <= 0 || s.N <= 0 || s.K <= 0) throw new Error(`mma gemm ${s.name}: M, N, K must be positive, got ${s.M}x${s.N}x${s.K}`);
  const outT = s.epilogue?.out ?? 'f32';
  const outSize = outT === 'f32' ? 4 : 2;
  return emitMma(s.name, s, {
    base: s.a,
    // element index: row-major m*K + k, or column-major k*M + m
    index: (b, m, k) => (s.aLayout === 'row' ? b.r((d) => `mad.lo.s32 ${d}, ${m}, ${s.K}, ${k}`) : b.r((d) => `mad.lo.s32 ${d}, ${k}, ${s.M}, ${m}`)),
  }, {
    base: s.b,
    // B is indexed (k, n): row-major k*N + n, or column-major n*K + k.
    index: (b, k, n) => (s.bLayout === 'row' ? b.r((d) => `mad.lo.s32 ${d}, ${k}, ${s.N}, ${n}`) : b.r((d) => `mad.lo.s32 ${d}, ${n}, ${s.K}, ${k}`)),
  }, (b, mem, row, col, acc) => {
    let v = acc;
    if (s.epilogue?.bias !== undefined) {
      const off = b.reg('rd');
      b.op(`mul.wide.s32 ${off}, ${col}, 4`);
      const addr = b.reg('rd');
      b.op(`add.s64 ${addr}, ${mem}, ${off}`);
      const bias = b.f((d) => `ld.global.f32 ${d}, [${addr}+${s.epilogue!.bias}]`);
      const prev = v;
      v = b.f((d) => `add.rn.f32 ${d}, ${prev}, ${bias}`);
    }
    if (s.epilogue?.activation === 'relu') {
      const prev = v;
      v = b.f((d) => `max.NaN.f32 ${d}, ${prev}, ${f32Lit(0)}`); // relu(NaN) = NaN, as TensorFlow
    }
    const idx = b.r((d) => `mad.lo.s32 ${d}, ${row}, ${s.N}, ${col}`);
    const off = b.reg('rd');
    b.op(`mul.wide.s32 ${off}, ${idx}, ${outSize}`);
    const addr = b.reg('rd');
    b.op(`add.s64 ${addr}, ${mem}, ${off}`);
    if (outT === 'f32') {
      b.op(`st.global.f32 [${addr}+${s.c}], ${v}`);
    } else {
      const h = b.reg('h');
      b.op(`cvt.rn.${outT}.f32 ${h}, ${v}`);
      b.op(`st.global.b16 [${addr}+${s.c}], ${h}`);
    }
  });
}

/** A 16-bit operand: byte offset in the memory image and element index of (row, col) (clamped registers). */
export interface MmaOperand {
  readonly base: number;
  readonly index: (b: PtxBuilder, row: string, col: string) => string;
}

/** Stores one accumulator `acc` of C at (row, col) (in range); `mem` is the 64-bit image base. */
export type MmaStore = (b: PtxBuilder, mem: string, row: string, col: string, acc: string) => void;

/**
 * The mma.sync kernel over any addressing of A[M,K] and B[K,N] (16-bit elements) and any
 * per-element store: the spec form above and kernel-IR gemm statements (mma_gemm.ts) share it.
 */
export function emitMma(name: string, shape: { M: number; N: number; K: number; dtype: 'f16' | 'bf16' }, A: MmaOperand, B: MmaOperand, store: MmaStore): PtxKernel {
  const s = shape;
  const b = new PtxBuilder();
  const memParam = b.reg('rd');
  b.op(`ld.param.u64 ${memParam}, [${name}_param_0]`);
  const mem = b.reg('rd');
  b.op(`cvta.to.global.u64 ${mem}, ${memParam}`);
  const tid = b.r((d) => `mov.u32 ${d}, %tid.x`);
  const lane = b.r((d) => `and.b32 ${d}, ${tid}, 31`);
  const warp = b.r((d) => `shr.u32 ${d}, ${tid}, 5`);
  const g = b.r((d) => `shr.u32 ${d}, ${lane}, 2`);
  const tig = b.r((d) => `and.b32 ${d}, ${lane}, 3`);
  const t2 = b.r((d) => `shl.b32 ${d}, ${tig}, 1`);
  const wm = b.r((d) => `shr.u32 ${d}, ${warp}, 1`);
  const wn = b.r((d) => `and.b32 ${d}, ${warp}, 1`);
  const bx = b.r((d) => `mov.u32 ${d}, %ctaid.x`);
  const by = b.r((d) => `mov.u32 ${d}, %ctaid.y`);
  const mBase0 = b.r((d) => `mul.lo.s32 ${d}, ${by}, ${BLOCK_M}`);
  const mBase = b.r((d) => `mad.lo.s32 ${d}, ${wm}, ${WARP_M}, ${mBase0}`);
  const nBase0 = b.r((d) => `mul.lo.s32 ${d}, ${bx}, ${BLOCK_N}`);
  const nBase = b.r((d) => `mad.lo.s32 ${d}, ${wn}, ${WARP_N}, ${nBase0}`);

  const acc: string[][] = [];
  for (let i = 0; i < MT * NT; i++) acc.push([0, 1, 2, 3].map(() => b.f((d) => `mov.f32 ${d}, 0f00000000`)));

  /** One 16-bit element (zero-extended in a b32 register), 0 when out of range. */
  const elem = (op: MmaOperand, row: string, col: string, rows: number, cols: number): string => {
    const rc = b.r((d) => `min.s32 ${d}, ${row}, ${rows - 1}`);
    const cc = b.r((d) => `min.s32 ${d}, ${col}, ${cols - 1}`);
    const idx = op.index(b, rc, cc);
    const off = b.reg('rd');
    b.op(`mul.wide.s32 ${off}, ${idx}, 2`);
    const addr = b.reg('rd');
    b.op(`add.s64 ${addr}, ${mem}, ${off}`);
    const v = b.r((d) => `ld.global.u16 ${d}, [${addr}+${op.base}]`);
    const pr = b.p((d) => `setp.lt.s32 ${d}, ${row}, ${rows}`);
    const pc = b.p((d) => `setp.lt.s32 ${d}, ${col}, ${cols}`);
    const ok = b.p((d) => `and.pred ${d}, ${pr}, ${pc}`);
    return b.r((d) => `selp.b32 ${d}, ${v}, 0, ${ok}`);
  };
  /** Two elements packed low-first into one .b32 fragment register. */
  const pair = (lo: string, hi: string) => b.r((d) => `prmt.b32 ${d}, ${lo}, ${hi}, 0x5410`);
  const aElem = (m: string, k: string) => elem(A, m, k, s.M, s.K);
  const bElem = (k: string, n: string) => elem(B, k, n, s.K, s.N);
  const add = (x: string, c: number | string) => b.r((d) => `add.s32 ${d}, ${x}, ${c}`);

  const k0 = b.r((d) => `mov.u32 ${d}, 0`);
  const head = b.newLabel('k'), done = b.newLabel('kdone');
  b.label(head);
  const pk = b.p((d) => `setp.ge.s32 ${d}, ${k0}, ${s.K}`);
  b.op(`@${pk} bra ${done}`);
  const kc = add(k0, t2); // 2*tig
  const kc1 = add(kc, 1), kc8 = add(kc, 8), kc9 = add(kc, 9);
  const aFrag: string[][] = [];
  for (let mi = 0; mi < MT; mi++) {
    const r0 = add(add(mBase, g), 16 * mi), r8 = add(r0, 8);
    aFrag.push([
      pair(aElem(r0, kc), aElem(r0, kc1)),
      pair(aElem(r8, kc), aElem(r8, kc1)),
      pair(aElem(r0, kc8), aElem(r0, kc9)),
      pair(aElem(r8, kc8), aElem(r8, kc9)),
    ]);
  }
  const bFrag: string[][] = [];
  for (let ni = 0; ni < NT; ni++) {
    const col = add(add(nBase, g), 8 * ni);
    bFrag.push([pair(bElem(kc, col), bElem(kc1, col)), pair(bElem(kc8, col), bElem(kc9, col))]);
  }
  for (let mi = 0; mi < MT; mi++) {
    for (let ni = 0; ni < NT; ni++) {
      const c = acc[mi * NT + ni]!;
      const a = aFrag[mi]!, bb = bFrag[ni]!;
      b.op(`mma.sync.aligned.m16n8k16.row.col.f32.${s.dtype}.${s.dtype}.f32 {${c.join(', ')}}, {${a.join(', ')}}, {${bb.join(', ')}}, {${c.join(', ')}}`);
    }
  }
  b.op(`add.s32 ${k0}, ${k0}, 16`);
  b.op(`bra.uni ${head}`);
  b.label(done);

  // Epilogue: c0,c1 at (g, 2tig..+1), c2,c3 at (g+8, 2tig..+1) of each fragment.
  for (let mi = 0; mi < MT; mi++) {
    for (let ni = 0; ni < NT; ni++) {
      const c = acc[mi * NT + ni]!;
      for (let q = 0; q < 4; q++) {
        const skip = b.newLabel('st');
        const row = add(add(mBase, g), 16 * mi + (q >= 2 ? 8 : 0));
        const col = add(add(nBase, t2), 8 * ni + (q & 1));
        const pr = b.p((d) => `setp.ge.s32 ${d}, ${row}, ${s.M}`);
        const pc = b.p((d) => `setp.ge.s32 ${d}, ${col}, ${s.N}`);
        const out = b.p((d) => `or.pred ${d}, ${pr}, ${pc}`);
        b.op(`@${out} bra ${skip}`);
        store(b, mem, row, col, c[q]!);
        b.label(skip);
      }
    }
  }
  b.op('ret');
  return {
    text: `${entryHeader(name)}\n{\n${b.body()}\n}\n`,
    launch: { name, grid: [Math.ceil(s.N / BLOCK_N), Math.ceil(s.M / BLOCK_M), 1], block: [128, 1, 1], threadsPerItem: 0 },
  };
}

/** A whole PTX module holding one mma GEMM kernel. */
export function emitMmaGemmModule(s: MmaGemmSpec, sm: 80 | 90): string {
  return `${ptxHeader(sm)}\n${emitMmaGemmKernel(s).text}`;
}
