import { describe, expect, it } from 'vitest';
import { stridesOf } from '../../ir/types.js';
import { KilnError } from '../../ir/types.js';
import { GEMM_NR } from '../kernel_ir.js';
import { sconst, unflatten, type Sym } from '../symbolic.js';
import { flatOffsets, packB, packPanels, type PanelView } from './pack.js';

/**
 * The packing lowering did before packPanels, kept verbatim as the oracle: every element's source
 * offset from symbolic index expressions (sconst / unflatten), one element at a time.
 */
function symbolicPack(data: Float32Array, shape: number[], view: PanelView, nr: number): Float32Array {
  const K = view.kDims.reduce((a, b) => a * b, 1), N = view.jDims.reduce((a, b) => a * b, 1);
  const at = (k: Sym, j: Sym): Sym[] => {
    const ri = new Array<Sym>(shape.length);
    unflatten(k, view.kDims).forEach((s, t) => { ri[view.kAxes[t]!] = s; });
    unflatten(j, view.jDims).forEach((s, t) => { ri[view.jAxes[t]!] = s; });
    return ri;
  };
  const packed = new Float32Array(Math.ceil(N / nr) * K * nr);
  const rst = stridesOf(shape);
  for (let k = 0; k < K; k++) {
    for (let j = 0; j < N; j++) {
      const ix = at(sconst(k), sconst(j));
      let off = 0;
      ix.forEach((s, d) => { off += s.c * rst[d]!; });
      packed[Math.floor(j / nr) * K * nr + k * nr + (j % nr)] = data[off]!;
    }
  }
  return packed;
}

function random(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; out[i] = s / 2 ** 32 - 0.5; }
  return out;
}

const bytes = (a: Float32Array): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

describe('packPanels (compile-time constant packing)', () => {
  const cases: [string, number[], PanelView][] = [
    ['dense kernel [K, N], N a multiple of nr', [7, 16], { kDims: [7], kAxes: [0], jDims: [16], jAxes: [1] }],
    ['dense kernel, ragged last panel', [5, 13], { kDims: [5], kAxes: [0], jDims: [13], jAxes: [1] }],
    ['transposed rhs (contract on axis 1)', [11, 6], { kDims: [6], kAxes: [1], jDims: [11], jAxes: [0] }],
    ['rhs with two free axes around the contracted one', [3, 4, 5], { kDims: [4], kAxes: [1], jDims: [3, 5], jAxes: [0, 2] }],
    ['conv HWIO weights', [3, 3, 5, 10], { kDims: [3, 3, 5], kAxes: [0, 1, 2], jDims: [10], jAxes: [3] }],
    ['1x7 conv weights', [1, 7, 4, 9], { kDims: [1, 7, 4], kAxes: [0, 1, 2], jDims: [9], jAxes: [3] }],
    ['single column', [6, 1], { kDims: [6], kAxes: [0], jDims: [1], jAxes: [1] }],
  ];
  for (const [name, shape, view] of cases) {
    it(`equals the per-element symbolic packing byte for byte: ${name}`, () => {
      const data = random(shape.reduce((a, b) => a * b, 1), shape.length * 31 + shape[0]!);
      for (const nr of [GEMM_NR, 4, 12]) {
        expect(bytes(packPanels(data, shape, view, nr))).toEqual(bytes(symbolicPack(data, shape, view, nr)));
      }
    });
  }

  it('agrees with packB on a row-major [K, N] matrix', () => {
    const data = random(9 * 21, 5);
    expect(bytes(packPanels(data, [9, 21], { kDims: [9], kAxes: [0], jDims: [21], jAxes: [1] }, 8))).toEqual(bytes(packB(data, 9, 21, 8)));
  });

  it('flatOffsets walks the digits row-major with the given axes', () => {
    // Shape [2, 3, 4] (strides 12, 4, 1): digits over axes [2, 0] with sizes [4, 2].
    expect([...flatOffsets([4, 2], [2, 0], [12, 4, 1])]).toEqual([0, 12, 1, 13, 2, 14, 3, 15]);
    expect([...flatOffsets([], [], [1])]).toEqual([0]);
  });

  it('refuses data whose length does not match the shape, naming both', () => {
    expect(() => packPanels(new Float32Array(5), [2, 3], { kDims: [2], kAxes: [0], jDims: [3], jAxes: [1] }, 8))
      .toThrow(KilnError);
    expect(() => packPanels(new Float32Array(5), [2, 3], { kDims: [2], kAxes: [0], jDims: [3], jAxes: [1] }, 8))
      .toThrow(/5 elements, expected 6 for shape \[2, 3\]/);
  });
});
