/**
 * The weight encoder's rules, on hand-made weights images: what each constant becomes under each
 * mode (vectors and small constants exact, all-zero constants free, imported uint8/float16
 * storage kept losslessly with padding zeros on a spare code or 16-bit codes, a padded GEMM panel
 * in rows, values beyond the half range kept f32), checked by decoding with the runtime's decoder
 * (tested against tf.io.decodeWeights) and comparing with the f32 image.
 */
import { describe, expect, it } from 'vitest';
import { encodeWeights, LOSSY_MIN_VALUES, Q8_BLOCK, type WeightsMode } from './weights_encode.js';
import { decodeWeights } from '../runtime/weights_codec.js';
import type { Program, ProgramBuffer } from './program.js';
import type { WeightStorage } from '../frontend/io/weight_storage.js';
import type { WeightSegment } from '../runtime/manifest.js';

interface Const {
  data: Float32Array | Int32Array;
  /** Rank of the IR constant (1: a bias); absent: a synthesized (packed) buffer. */
  rank?: number;
}

/** A program holding only these constants, 64-byte aligned as buildProgram lays them out. */
function programOf(consts: Const[]): Program {
  let at = 0;
  const buffers: ProgramBuffer[] = consts.map((c, id) => {
    const b = {
      id, kind: 'const', dtype: c.data instanceof Int32Array ? 'i32' : 'f32', shape: [c.data.length], bytes: c.data.byteLength, offset: at,
      ...(c.rank !== undefined ? { value: { id, shape: c.rank === 1 ? [c.data.length] : [2, c.data.length / 2] } } : { note: 'packed dot_general' }),
    } as unknown as ProgramBuffer;
    at = Math.ceil((at + c.data.byteLength) / 64) * 64;
    return b;
  });
  const weights = new Uint8Array(at);
  consts.forEach((c, i) => weights.set(new Uint8Array(c.data.buffer, c.data.byteOffset, c.data.byteLength), buffers[i]!.offset));
  return { buffers, weights, weightsOffset: 0 } as unknown as Program;
}

function encode(p: Program, mode: WeightsMode, storage: WeightStorage[] = []) {
  const e = encodeWeights(p, mode, storage);
  const decoded = new Uint8Array(p.weights.length);
  if (e.encoding) decodeWeights(e.section, e.encoding, decoded);
  else decoded.set(e.section);
  return { ...e, decoded: new Float32Array(decoded.buffer), image: new Float32Array(p.weights.slice().buffer), segs: e.encoding?.segments ?? [] };
}

const u8 = { kind: 'affine', bits: 8, scale: 0.01, min: -1.275 } as const;
/** Values on u8's grid: fround(q * scale + min); 0 is not on it (padding zeros need a code of their own). */
const grid = (qs: ArrayLike<number>): Float32Array => Float32Array.from(qs, (q) => q * u8.scale + u8.min);
const seq = (n: number, f: (i: number) => number): number[] => Array.from({ length: n }, (_, i) => f(i));

describe('encodeWeights', () => {
  it('keep mode without recorded storage writes the image unchanged (no encoding, so no version 5)', () => {
    const p = programOf([{ data: Float32Array.from(seq(2048, (i) => Math.sin(i))) }]);
    const e = encode(p, 'keep');
    expect(e.encoding).toBeUndefined();
    expect(e.section).toBe(p.weights);
  });

  it('int8-weights: q8 blocks for large non-vector constants; biases, small constants and integers exact; zeros free', () => {
    const big = Float32Array.from(seq(4096, (i) => Math.sin(i) * (1 + (i % 7))));
    const bias = Float32Array.from(seq(2000, (i) => Math.cos(i)));
    const small = Float32Array.from(seq(LOSSY_MIN_VALUES - 8, (i) => i / 1000));
    const p = programOf([{ data: big, rank: 2 }, { data: bias, rank: 1 }, { data: small }, { data: new Float32Array(512), rank: 2 }, { data: Int32Array.from(seq(100, (i) => i * 3)), rank: 1 }]);
    const e = encode(p, 'int8-weights');
    // The all-zero constant takes no bytes, between two raw segments.
    expect(e.segs.map((s) => s.enc)).toEqual(['q8', 'raw', 'raw']);
    expect(e.stats.zeros.buffers).toBe(1);
    // Exact where raw; within half a step of each block's scale where q8.
    const b0 = p.buffers[0]!.offset / 4;
    for (let blk = 0; blk < big.length / Q8_BLOCK; blk++) {
      const vals = big.subarray(blk * Q8_BLOCK, (blk + 1) * Q8_BLOCK);
      const step = Math.max(...vals.map(Math.abs)) / 127;
      vals.forEach((v, i) => expect(Math.abs(e.decoded[b0 + blk * Q8_BLOCK + i]! - v)).toBeLessThanOrEqual(step * 0.5 + 1e-7));
    }
    const exactFrom = p.buffers[1]!.offset;
    expect(Array.from(e.decoded.subarray(exactFrom / 4))).toEqual(Array.from(e.image.subarray(exactFrom / 4)));
    expect(e.section.length).toBeLessThan(p.weights.length * 0.6);
  });

  it('float16-weights: halves rounded to nearest even; a constant beyond the half range stays f32', () => {
    const ok = Float32Array.from(seq(2048, (i) => Math.sin(i) * 3));
    const huge = Float32Array.from(seq(2048, (i) => (i === 5 ? 1e6 : i)));
    const p = programOf([{ data: ok, rank: 2 }, { data: huge, rank: 2 }]);
    const e = encode(p, 'float16-weights');
    expect(e.segs.map((s) => s.enc)).toEqual(['f16', 'raw']);
    ok.forEach((v, i) => expect(Math.abs(e.decoded[i]! - v)).toBeLessThanOrEqual(Math.abs(v) * 2 ** -11 + 2 ** -25));
    expect(Array.from(e.decoded.subarray(p.buffers[1]!.offset / 4, p.buffers[1]!.offset / 4 + 2048))).toEqual(Array.from(huge));
  });

  it('keep: uint8 storage survives as codes (bias vectors too), exactly; padding zeros take a spare code', () => {
    const w = grid(seq(3000, (i) => (i * 37) % 200));
    const withZeros = grid(seq(3000, (i) => (i * 37) % 200));
    for (let i = 0; i < 3000; i += 10) withZeros[i] = 0;
    const bias = grid(seq(64, (i) => i));
    const p = programOf([{ data: w, rank: 2 }, { data: withZeros }, { data: bias, rank: 1 }]);
    const e = encode(p, 'keep', [{ kind: 'affine', bits: 8, scale: 0.5, min: 3 }, u8]);
    const affine = e.segs.filter((s): s is Extract<WeightSegment, { enc: 'affine' }> => s.enc === 'affine');
    expect(affine).toHaveLength(3);
    expect(affine.every((s) => s.bits === 8 && s.scale === u8.scale && s.min === u8.min)).toBe(true);
    // The first code no value uses: 0 (its values, at multiples of 200, are the ones zeroed).
    expect(affine[1]!.zero).toBe(0);
    expect(affine[0]!.zero).toBeUndefined();
    expect(Array.from(e.decoded)).toEqual(Array.from(e.image));
    expect(e.section.length).toBe(3000 + 3000 + 64);
  });

  it('keep: zeros with every uint8 code in use widen to 16-bit codes (zero = 256); values off every grid stay f32 and are reported', () => {
    const all = grid(seq(2048, (i) => i % 256));
    all[7] = 0;
    const changed = Float32Array.from(grid(seq(2048, (i) => i % 256)), (v) => v * 1.5);
    const p = programOf([{ data: all }, { data: changed, rank: 2 }]);
    const e = encode(p, 'keep', [u8]);
    expect(e.segs[0]).toMatchObject({ enc: 'affine', bits: 16, zero: 256 });
    expect(e.segs[1]).toMatchObject({ enc: 'raw' });
    expect(e.fallbacks).toEqual([expect.stringMatching(/^constant %1 f32\[2048\] at byte \d+: no recorded storage reproduces its values exactly \(a pass changed them\); kept f32$/)]);
    expect(Array.from(e.decoded)).toEqual(Array.from(e.image));
    // int8-weights on the changed constant: q8 instead, still reported.
    expect(encode(p, 'int8-weights', [u8]).fallbacks[0]).toMatch(/; stored as q8$/);
  });

  it('keep: float16 storage survives as halves; a padded last GEMM panel is stored as rows of its real columns', () => {
    // A packed [K=40, N=11] operand: a full panel of 8 columns, then a panel of 3 real columns and 5 zeros per row.
    const K = 40;
    const packed = new Float32Array(2 * K * 8);
    for (let k = 0; k < K; k++) {
      for (let c = 0; c < 8; c++) packed[k * 8 + c] = Math.fround(0.25 * ((k + c) % 9) - 1);
      for (let c = 0; c < 3; c++) packed[K * 8 + k * 8 + c] = Math.fround(0.125 * ((k * c) % 13) + 0.5);
    }
    const p = programOf([{ data: packed }]);
    const e = encode(p, 'keep', [{ kind: 'f16' }]);
    expect(e.segs).toEqual([{ enc: 'f16', at: 0, count: K * 8 }, { enc: 'f16', at: K * 8 * 4, count: K * 3, width: 3, stride: 8 }]);
    expect(e.section.length).toBe(2 * (K * 8 + K * 3));
    expect(Array.from(e.decoded)).toEqual(Array.from(e.image));
  });
});
