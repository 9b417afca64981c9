import v8 from 'node:v8';
v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
import { describe, expect, it } from 'vitest';
import { randomFunc, randomInputs } from '../../ir/random.js';
import { parseFunc } from '../../ir/parse.js';
import { compile } from '../../compile.js';
import { load } from '../../runtime/index.js';
import { compareCompiled, usesOnlyWasmTypes } from './test_util.js';
import '../../ir/ops/index.js';

// With relaxed SIMD available the runtime picks the artifact's relaxed variant (fused
// multiply-add in the GEMM); results still agree with the interpreter, on 1 and 2 threads.
const dense = parseFunc(`func @f(%x: f32[19,37], %w: f32[37,29], %b: f32[29]) -> (y: f32[19,29]) {
  %0 = dot_general(%x, %w) {lhs_batch=[], rhs_batch=[], lhs_contract=[1], rhs_contract=[0]} : f32[19,29]
  %1 = broadcast_in_dim(%b) {shape=[19,29], dims=[1]} : f32[19,29]
  %2 = add(%0, %1) : f32[19,29]
  %3 = logistic(%2) : f32[19,29]
  return %3
}`);

describe('relaxed SIMD variant', () => {
  it('is emitted for GEMM programs and chosen at load', async () => {
    const art = compile(dense);
    const prog = await load(art.bytes, { threads: 1 });
    expect(prog.variant).toBe('relaxed-simd');
    prog.dispose();
    const plain = await load(art.bytes, { threads: 1, relaxedSimd: false });
    expect(plain.variant).toBe('simd');
    plain.dispose();
  });
  for (const threads of [1, 2]) {
    it(`agrees with the interpreter (${threads} thread(s))`, async () => {
      // Many runs so V8 tiers the kernels up to TurboFan as well as running them in Liftoff.
      for (let seed = 0; seed < 3; seed++) expect(await compareCompiled(dense, randomInputs(dense, seed), { load: { threads } })).toBeUndefined();
      let checked = 0;
      for (let seed = 500; checked < 10 && seed < 700; seed++) {
        const fn = randomFunc(seed, { size: 12 });
        if (!usesOnlyWasmTypes(fn)) continue;
        expect(await compareCompiled(fn, randomInputs(fn, seed), { load: { threads } }), `seed ${seed}`).toBeUndefined();
        checked++;
      }
    });
  }
});
