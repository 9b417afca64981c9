/**
 * Encoded weights (format version 5): decodes the "weights" section into the f32 weights region
 * of memory once, at load; kernels then read plain f32 as from any artifact, so a run costs the
 * same as the uncompressed artifact's. The encodings (manifest.ts, WeightSegment) and the rules
 * validate.ts checks are in docs/artifact-format.md, "Encoded weights". Plain JS over typed
 * arrays, shared by the WebAssembly and CUDA executors.
 */
import { f16BitsToF32 } from './dtypes.js';
import type { WeightSegment, WeightsEncoding } from './manifest.js';

/** Bytes a segment takes in the section (before the padding to a multiple of 4). */
export function encodedBytes(s: WeightSegment): number {
  switch (s.enc) {
    case 'raw': return s.bytes;
    case 'f16': return s.count * 2;
    case 'affine': return s.count * (s.bits / 8);
    case 'q8': return Math.ceil(s.count / s.block) * 4 + s.count;
  }
}

/** Bytes a segment spans in the weights region. */
export function decodedBytes(s: WeightSegment): number {
  return s.enc === 'raw' ? s.bytes : (s.width ? (s.count / s.width) * s.stride! : s.count) * 4;
}

/** Where a segment's encoded bytes start, the previous ones ending at `from`: aligned to its element size (4 for q8's scales, 2 for 16-bit codes, none for bytes). */
export function encodedStart(from: number, s: WeightSegment): number {
  const a = s.enc === 'q8' ? 4 : s.enc === 'f16' || (s.enc === 'affine' && s.bits === 16) ? 2 : 1;
  return Math.ceil(from / a) * a;
}

let f16Table: Float32Array | undefined;

/** Every binary16 pattern widened (256 KiB, built on first use): a lookup per value decodes fast. */
export function halfTable(): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f16BitsToF32(h);
  }
  return f16Table;
}

/**
 * Decodes `section` into `dst` (the weights region: `manifest.weights.length` bytes, its
 * byteOffset a multiple of 4). The encoding was validated (validate.ts): segments in order,
 * inside `dst`, sizes adding up to the section's. Bytes no segment covers are zeroed.
 */
export function decodeWeights(section: Uint8Array, encoding: WeightsEncoding, dst: Uint8Array): void {
  // Typed views need aligned offsets: segments are aligned in the section, which a Node Buffer from the pool may not be.
  const src = section.byteOffset % 4 === 0 ? section : section.slice();
  let from = 0;
  let filled = 0;
  for (const s of encoding.segments) {
    dst.fill(0, filled, s.at);
    from = encodedStart(from, s);
    const n = encodedBytes(s);
    if (s.enc === 'raw') dst.set(src.subarray(from, from + n), s.at);
    else {
      const rows = s.width ? s.count / s.width : 0;
      const out = rows ? new Float32Array(s.count) : new Float32Array(dst.buffer, dst.byteOffset + s.at, s.count);
      if (s.enc === 'f16') {
        const t = halfTable();
        const codes = new Uint16Array(src.buffer, src.byteOffset + from, s.count);
        for (let i = 0; i < s.count; i++) out[i] = t[codes[i]!]!;
      } else if (s.enc === 'affine') {
        // The table holds fround(code * scale + min): the product and sum in double, rounded once on store.
        const t = new Float32Array(1 << s.bits);
        for (let q = 0; q < t.length; q++) t[q] = q * s.scale + s.min;
        if (s.zero !== undefined) t[s.zero] = 0;
        const codes = s.bits === 8 ? src.subarray(from, from + s.count) : new Uint16Array(src.buffer, src.byteOffset + from, s.count);
        for (let i = 0; i < s.count; i++) out[i] = t[codes[i]!]!;
      } else {
        const blocks = Math.ceil(s.count / s.block);
        const scales = new Float32Array(src.buffer, src.byteOffset + from, blocks);
        const codes = new Int8Array(src.buffer, src.byteOffset + from + blocks * 4, s.count);
        for (let b = 0, i = 0; b < blocks; b++) {
          const scale = scales[b]!;
          const end = Math.min(i + s.block, s.count);
          for (; i < end; i++) out[i] = codes[i]! * scale;
        }
      }
      if (rows) {
        const to = new Float32Array(dst.buffer, dst.byteOffset + s.at, decodedBytes(s) / 4);
        to.fill(0);
        for (let r = 0; r < rows; r++) to.set(out.subarray(r * s.width!, (r + 1) * s.width!), r * s.stride!);
      }
    }
    from += n;
    filled = s.at + decodedBytes(s);
  }
  dst.fill(0, filled);
}
