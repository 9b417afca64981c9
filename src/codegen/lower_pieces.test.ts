import { describe, expect, it } from 'vitest';
import { parseFunc } from '../ir/parse.js';
import { randomInputs } from '../ir/random.js';
import { compile } from '../compile.js';
import type { Expr, Kernel, Stmt } from './kernel_ir.js';
import { compareCompiled } from './wasm/test_util.js';
import '../ir/ops/index.js';

// Outputs assembled from disjoint pieces (a concat, or the zero pads autodiff sums for the slices
// of a split/unstack) lower to one loop per piece: no per-element selects between the pieces, and
// the results equal the interpreter's.

function selects(k: Kernel): number {
  let n = 0;
  const visit = (e: Expr): void => {
    switch (e.k) {
      case 'sel': n++; visit(e.c); visit(e.a); visit(e.b); break;
      case 'un': case 'cast': visit(e.a); break;
      case 'bin': case 'cmp': visit(e.a); visit(e.b); break;
      default: break;
    }
  };
  const walk = (ss: readonly Stmt[]): void => {
    for (const s of ss) {
      if (s.k === 'for') walk(s.body);
      else if (s.k === 'store') visit(s.val);
    }
  };
  walk(k.body);
  return n;
}

async function check(text: string, note: RegExp, maxSelects = 0): Promise<void> {
  const fn = parseFunc(text);
  const art = compile(fn);
  const k = art.program.kernels.find((x) => note.test(x.note));
  expect(k, art.program.kernels.map((x) => x.note).join('; ')).toBeDefined();
  expect(selects(k!)).toBeLessThanOrEqual(maxSelects);
  for (const threads of [1, 2]) {
    expect(await compareCompiled(fn, randomInputs(fn, 5), { load: { threads } })).toBeUndefined();
  }
}

describe('piecewise loop lowering', () => {
  it('a sum of zero pads tiling the last axis (split VJP: LSTM gate gradients) is 4 piece loops', async () => {
    await check(`func @f(%a: f32[5,6], %b: f32[5,6], %c: f32[5,6], %d: f32[5,6]) -> (y: f32[5,24]) {
  %ta = tanh(%a) : f32[5,6]
  %mb = mul(%b, %b) : f32[5,6]
  %ec = exp(%c) : f32[5,6]
  %0 = pad(%ta) {low=[0, 0], high=[0, 18], interior=[0, 0], value=0} : f32[5,24]
  %1 = pad(%mb) {low=[0, 6], high=[0, 12], interior=[0, 0], value=0} : f32[5,24]
  %2 = pad(%ec) {low=[0, 12], high=[0, 6], interior=[0, 0], value=0} : f32[5,24]
  %3 = pad(%d) {low=[0, 18], high=[0, 0], interior=[0, 0], value=0} : f32[5,24]
  %4 = add(%0, %1) : f32[5,24]
  %5 = add(%4, %2) : f32[5,24]
  %6 = add(%5, %3) : f32[5,24]
  return %6
}`, /4 pieces/);
  });

  it('pads along axis 0 with a gap, out of order, seen through a transpose and a reshape (unstack VJP)', async () => {
    await check(`func @f(%a: f32[1,3,8], %b: f32[2,3,8], %c: f32[1,3,8]) -> (y: f32[15,8]) {
  %na = neg(%a) : f32[1,3,8]
  %0 = pad(%c) {low=[4, 0, 0], high=[0, 0, 0], interior=[0, 0, 0], value=0} : f32[5,3,8]
  %1 = pad(%na) {low=[0, 0, 0], high=[4, 0, 0], interior=[0, 0, 0], value=0} : f32[5,3,8]
  %2 = pad(%b) {low=[2, 0, 0], high=[1, 0, 0], interior=[0, 0, 0], value=0} : f32[5,3,8]
  %3 = add(%0, %1) : f32[5,3,8]
  %4 = add(%3, %2) : f32[5,3,8]
  %5 = transpose(%4) {perm=[1, 0, 2]} : f32[3,5,8]
  %6 = reshape(%5) {shape=[15,8]} : f32[15,8]
  return %6
}`, /4 pieces/);
  });

  it('a concat of computed values along a middle axis (stacking per-step outputs), rows of unequal counts', async () => {
    await check(`func @f(%a: f32[2,1,7], %b: f32[2,3,7], %c: f32[2,2,7]) -> (y: f32[2,6,7]) {
  %ta = tanh(%a) : f32[2,1,7]
  %sb = mul(%b, %b) : f32[2,3,7]
  %0 = concat(%ta, %sb, %c) {axis=1} : f32[2,6,7]
  return %0
}`, /3 pieces/);
  });

  it('overlapping pads are summed by the generic loop (not pieces) and still agree', async () => {
    const fn = parseFunc(`func @f(%a: f32[4,3], %b: f32[4,3]) -> (y: f32[4,5]) {
  %0 = pad(%a) {low=[0, 0], high=[0, 2], interior=[0, 0], value=0} : f32[4,5]
  %1 = pad(%b) {low=[0, 2], high=[0, 0], interior=[0, 0], value=0} : f32[4,5]
  %2 = add(%0, %1) : f32[4,5]
  return %2
}`);
    const art = compile(fn);
    expect(art.program.kernels.some((k) => /pieces/.test(k.note))).toBe(false);
    expect(await compareCompiled(fn, randomInputs(fn, 2), { load: { threads: 1 } })).toBeUndefined();
  });
});
