import { describe, expect, it } from 'vitest';
import { assemblePtx, findPtxas } from './ptxas.js';
import { emitMmaGemmKernel, emitMmaGemmModule, type MmaGemmSpec } from './mma.js';

const PTXAS = findPtxas();
if (!PTXAS) console.warn('SKIPPED: ptxas not found (install the CUDA toolkit or set PTXAS); mma PTX is not validated');
const withPtxas = PTXAS ? it : it.skip;

const base = (over: Partial<MmaGemmSpec>): MmaGemmSpec => ({
  name: 'mma_gemm', M: 128, N: 96, K: 64, dtype: 'f16', aLayout: 'row', bLayout: 'row', a: 0, b: 1 << 16, c: 1 << 17, ...over,
});

describe('tensor-core (mma.sync m16n8k16) GEMM kernels', () => {
  for (const dtype of ['f16', 'bf16'] as const) {
    for (const [aLayout, bLayout] of [['row', 'row'], ['row', 'col'], ['col', 'row'], ['col', 'col']] as const) {
      withPtxas(`${dtype} A ${aLayout} B ${bLayout} assembles for sm_80 and sm_90`, () => {
        const spec = base({ dtype, aLayout, bLayout, M: 70, N: 45, K: 40, epilogue: { bias: 1 << 18, activation: 'relu', out: dtype === 'f16' ? 'f16' : 'f32' } });
        for (const sm of [80, 90] as const) {
          const r = assemblePtx(emitMmaGemmModule(spec, sm), sm);
          expect(r.ok, r.log).toBe(true);
        }
      });
    }
  }

  it('issues 2x4 mma per warp per K step with the f32 accumulate form', () => {
    const k = emitMmaGemmKernel(base({ dtype: 'bf16' }));
    const mmas = k.text.match(/mma\.sync\.aligned\.m16n8k16\.row\.col\.f32\.bf16\.bf16\.f32/g) ?? [];
    expect(mmas.length).toBe(8);
    // 64x64 block tiles: N=96 -> 2 column tiles, M=128 -> 2 row tiles; 4 warps
    expect(k.launch.grid).toEqual([2, 2, 1]);
    expect(k.launch.block).toEqual([128, 1, 1]);
  });

  it('rejects empty shapes with a message naming them', () => {
    expect(() => emitMmaGemmKernel(base({ K: 0 }))).toThrow(/M, N, K must be positive, got 128x96x0/);
  });
});
