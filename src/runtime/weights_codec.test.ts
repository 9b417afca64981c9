/**
 * Encoded weights (format version 5), runtime side: each segment decodes exactly as the
 * independent definition says (affine and f16: tfjs-core's io.decodeWeights on the same bytes and
 * quantization; q8: fround(q * scale) per block), bytes no segment covers are zero, and the
 * validator refuses malformed encodings naming the field.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { useCpuBackend } from '../keras/test_util.js';
import { decodeWeights, encodedBytes, encodedStart } from './weights_codec.js';
import { validateProgram } from './validate.js';
import { KilnRuntimeError } from './errors.js';
import type { Manifest, WeightSegment } from './manifest.js';

beforeAll(useCpuBackend);

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

/** The section for `parts` laid out as the format says: each aligned to its element size (4 for q8, 2 for 16-bit codes, else 1). */
function section(parts: Uint8Array[], align: number[]): Uint8Array {
  const starts: number[] = [];
  let n = 0;
  parts.forEach((p, i) => {
    starts.push(Math.ceil(n / align[i]!) * align[i]!);
    n = starts[i]! + p.length;
  });
  const out = new Uint8Array(n);
  parts.forEach((p, i) => out.set(p, starts[i]!));
  return out;
}

const tfDecode = (bytes: Uint8Array, spec: tf.io.WeightsManifestEntry): Float32Array =>
  tf.io.decodeWeights(bytes.slice().buffer as ArrayBuffer, [spec])[spec.name]!.dataSync() as Float32Array;

describe('weights codec', () => {
  it('decodes affine (uint8, uint16), f16, q8 and raw segments as tfjs and the q8 definition do; uncovered bytes are zero', () => {
    const r = lcg(7);
    const n8 = 37, n16 = 21, nh = 19, nq = 150;
    const u8 = Uint8Array.from({ length: n8 }, () => Math.floor(r() * 256));
    const u16 = Uint16Array.from({ length: n16 }, () => Math.floor(r() * 65536));
    const half = Uint16Array.from({ length: nh }, (_, i) => (i < 3 ? [0x0001, 0x8000, 0x7bff][i]! : Math.floor(r() * 0x7c00) | (r() < 0.5 ? 0x8000 : 0)));
    const q = Int8Array.from({ length: nq }, () => Math.floor(r() * 255) - 127);
    const scales = Float32Array.from({ length: Math.ceil(nq / 64) }, () => r() * 0.01);
    const raw = Uint8Array.from([9, 8, 7, 6, 5]);
    const q8 = new Uint8Array(scales.length * 4 + nq);
    q8.set(new Uint8Array(scales.buffer));
    q8.set(new Uint8Array(q.buffer), scales.length * 4);
    const a8 = { scale: 0.0123456789, min: -1.5 };
    const a16 = { scale: 3.3e-5, min: -0.75 };
    const segments: WeightSegment[] = [
      { enc: 'raw', at: 0, bytes: 5 },
      { enc: 'affine', at: 8, count: n8, bits: 8, ...a8, zero: u8[3]! },
      { enc: 'affine', at: 8 + n8 * 4, count: n16, bits: 16, ...a16 },
      { enc: 'f16', at: 400, count: nh },
      { enc: 'q8', at: 600, count: nq, block: 64 },
    ];
    const sec = section([raw, u8, new Uint8Array(u16.buffer), new Uint8Array(half.buffer), q8], [1, 1, 2, 2, 4]);
    expect(segments.map((s) => encodedStart(1, s))).toEqual([1, 1, 2, 2, 4]);
    const length = 600 + nq * 4 + 12;
    // Start the region at a nonzero, misaligned-for-nothing offset, and the section inside a larger buffer at offset 1 (Node's Buffer pool does this).
    const mem = new Uint8Array(8 + length).fill(0xee);
    const region = mem.subarray(8, 8 + length);
    const shifted = new Uint8Array(sec.length + 1);
    shifted.set(sec, 1);
    decodeWeights(shifted.subarray(1), { segments }, region);
    const f32 = (at: number, n: number) => new Float32Array(region.buffer, region.byteOffset + at, n);

    expect(Array.from(region.subarray(0, 5))).toEqual([9, 8, 7, 6, 5]);
    const want8 = tfDecode(u8, { name: 'a', shape: [n8], dtype: 'float32', quantization: { dtype: 'uint8', ...a8 } });
    want8.forEach((v, i) => { if (u8[i] === u8[3]) want8[i] = 0; });
    expect(f32(8, n8)).toEqual(want8);
    expect(f32(8 + n8 * 4, n16)).toEqual(tfDecode(new Uint8Array(u16.buffer), { name: 'b', shape: [n16], dtype: 'float32', quantization: { dtype: 'uint16', ...a16 } }));
    const wantH = tfDecode(new Uint8Array(half.buffer), { name: 'h', shape: [nh], dtype: 'float32', quantization: { dtype: 'float16' } });
    expect(Array.from(f32(400, nh)).map((x) => (Object.is(x, -0) ? '-0' : x))).toEqual(Array.from(wantH).map((x) => (Object.is(x, -0) ? '-0' : x)));
    expect(Array.from(f32(600, nq))).toEqual(Array.from(q, (x, i) => Math.fround(x * scales[Math.floor(i / 64)]!)));
    // Gaps (5..8, after the uint16 codes up to 400, 438..600, the tail) are zero; nothing outside the region is touched.
    for (const [lo, hi] of [[5, 8], [8 + (n8 + n16) * 4, 400], [400 + nh * 4, 600], [600 + nq * 4, length]] as const) {
      expect(region.subarray(lo, hi).every((b) => b === 0)).toBe(true);
    }
    expect(Array.from(mem.subarray(0, 8))).toEqual(new Array(8).fill(0xee));
    expect(segments.map(encodedBytes)).toEqual([5, n8, 2 * n16, 2 * nh, 3 * 4 + nq]);
  });

  it('places a segment with width and stride in rows, zeros between (a padded GEMM panel)', () => {
    const codes = Uint8Array.from([1, 2, 3, 4, 5, 6]);
    const region = new Uint8Array(4 * 20).fill(0xff);
    decodeWeights(codes, { segments: [{ enc: 'affine', at: 8, count: 6, bits: 8, scale: 0.25, min: 0, width: 3, stride: 8 }] }, region);
    expect(Array.from(new Float32Array(region.buffer))).toEqual([0, 0, 0.25, 0.5, 0.75, 0, 0, 0, 0, 0, 1, 1.25, 1.5, 0, 0, 0, 0, 0, 0, 0]);
  });

  describe('validation', () => {
    const base = (weights: unknown, version = 5): Manifest => ({
      format: 'kiln', version, target: 'wasm', inputs: [{ name: 'x', shape: [4], dtype: 'f32', offset: 4096 }],
      outputs: [{ name: 'y', shape: [4], dtype: 'f32', offset: 4096 }], memory: { pages: 1 }, kernels: [], schedule: [], sections: [],
      weights,
    } as Manifest);
    const check = (weights: unknown, sectionBytes: number, version = 5) =>
      validateProgram(base(weights, version), new Map([['weights', sectionBytes]]), 65536, 'linear memory');
    const rejects = (weights: unknown, sectionBytes: number, message: RegExp, version = 5) => {
      let caught: unknown;
      try {
        check(weights, sectionBytes, version);
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(KilnRuntimeError);
      expect((caught as Error).message).toMatch(message);
    };
    const seg = (s: object) => ({ offset: 0, length: 1024, encoding: { segments: [s] } });

    it('accepts a well-formed encoding and keeps it', () => {
      const m = check(seg({ enc: 'affine', at: 0, count: 10, bits: 8, scale: 0.5, min: -1, zero: 3 }), 10);
      expect(m.weights!.encoding!.segments[0]).toEqual({ enc: 'affine', at: 0, count: 10, bits: 8, scale: 0.5, min: -1, zero: 3 });
    });
    it('refuses encodings in older versions, unknown encodings and fields, bad parameters, overlaps and size mismatches', () => {
      rejects(seg({ enc: 'f16', at: 0, count: 2 }), 4, /manifest\.weights\.encoding must be absent in a version-4 artifact \(encoded weights need format version 5\)/, 4);
      rejects(seg({ enc: 'lz4', at: 0, count: 2 }), 4, /segments\[0\]\.enc must be raw \| f16 \| affine \| q8, got "lz4"/);
      rejects(seg({ enc: 'f16', at: 0, count: 2, scale: 1 }), 4, /segments\[0\]\.scale must be absent \(fields: enc, at, count, width, stride\), got 1/);
      rejects(seg({ enc: 'f16', at: 2, count: 2 }), 4, /segments\[0\]\.at must be at least 0, in order, a multiple of 4, got 2/);
      rejects(seg({ enc: 'affine', at: 0, count: 4, bits: 4, scale: 1, min: 0 }), 4, /segments\[0\]\.bits must be 8 or 16, got 4/);
      rejects(seg({ enc: 'affine', at: 0, count: 4, bits: 8, scale: null, min: 0 }), 4, /segments\[0\]\.scale must be a finite number, got null/);
      rejects(seg({ enc: 'affine', at: 0, count: 4, bits: 8, scale: 1, min: 0, zero: 256 }), 4, /segments\[0\]\.zero must be an integer in \[0, 255\], got 256/);
      rejects(seg({ enc: 'q8', at: 0, count: 4, block: 0 }), 8, /segments\[0\]\.block must be an integer in \[1, 65536\], got 0/);
      rejects(seg({ enc: 'f16', at: 1020, count: 2 }), 4, /segments\[0\] must be inside the 1024-byte weights region/);
      rejects(seg({ enc: 'f16', at: 0, count: 2 }), 8, /segments must be encoded sizes adding up to the 'weights' section's 8 bytes, got "4 bytes"/);
      rejects({ offset: 0, length: 1024, encoding: { segments: [{ enc: 'f16', at: 8, count: 2 }, { enc: 'raw', at: 4, bytes: 4 }] } }, 8, /segments\[1\]\.at must be at least 16, in order, got 4/);
      rejects(seg({ enc: 'f16', at: 0, count: 6, width: 4, stride: 8 }), 12, /segments\[0\]\.count must be a multiple of width 4, got 6/);
      rejects(seg({ enc: 'f16', at: 0, count: 8, width: 4, stride: 2 }), 16, /segments\[0\]\.stride must be an integer in \[4, 2\^31\), got 2/);
      rejects({ offset: 2, length: 1024, encoding: { segments: [] } }, 0, /manifest\.weights\.offset must be a multiple of 4 \(encoded weights decode to f32\), got 2/);
    });
  });
});
