import { describe, expect, it } from 'vitest';
import { readNpy, writeNpy } from './npy.js';
import { KilnError } from '../ir/types.js';

/**
 * An .npy file built by the format's spec (numpy.lib.format), independently of npy.ts:
 * magic, version, header length (u16 for 1.0, u32 for 2.0/3.0), the dict padded with spaces
 * to `align` bytes and ended by '\n', then `data`.
 */
function npyFile(major: number, dict: string, data: Uint8Array, align = 64): Uint8Array {
  const pre = major === 1 ? 10 : 12;
  const enc = major === 3 ? new TextEncoder().encode(dict) : Uint8Array.from(dict, (c) => c.charCodeAt(0));
  const total = Math.ceil((pre + enc.length + 1) / align) * align;
  const out = new Uint8Array(total + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]);
  const dv = new DataView(out.buffer);
  if (major === 1) dv.setUint16(8, total - pre, true);
  else dv.setUint32(8, total - pre, true);
  out.set(enc, pre);
  out.fill(0x20, pre + enc.length, total - 1);
  out[total - 1] = 0x0a;
  out.set(data, total);
  return out;
}

/** Little-endian bytes written element by element through DataView. */
function le(kind: 'f32' | 'f64' | 'i32' | 'i64' | 'u16', values: readonly (number | bigint)[]): Uint8Array {
  const size = { f32: 4, f64: 8, i32: 4, i64: 8, u16: 2 }[kind];
  const dv = new DataView(new ArrayBuffer(values.length * size));
  values.forEach((v, i) => {
    if (kind === 'f32') dv.setFloat32(i * 4, Number(v), true);
    else if (kind === 'f64') dv.setFloat64(i * 8, Number(v), true);
    else if (kind === 'i32') dv.setInt32(i * 4, Number(v), true);
    else if (kind === 'i64') dv.setBigInt64(i * 8, BigInt(v), true);
    else dv.setUint16(i * 2, Number(v), true);
  });
  return new Uint8Array(dv.buffer);
}

const header = (bytes: Uint8Array): string => {
  const len = new DataView(bytes.buffer, bytes.byteOffset).getUint16(8, true);
  return String.fromCharCode(...bytes.subarray(10, 10 + len));
};

describe('writeNpy', () => {
  it("writes numpy's own bytes for np.save(np.zeros((2, 3), np.float32)): a 118-byte header ('v' after the version)", () => {
    const bytes = writeNpy(new Float32Array(6), [2, 3]);
    // numpy.lib.format: "\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }" + spaces + "\n".
    expect(Array.from(bytes.subarray(0, 10))).toEqual([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, 0x76, 0]);
    expect(header(bytes)).toBe(`{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }${' '.repeat(58)}\n`);
    expect(bytes.length).toBe(128 + 24);
  });

  it('writes data little-endian after a 64-byte aligned header, for each dtype', () => {
    const f = writeNpy(Float32Array.from([1.5, -2, 3.25]), [3]);
    expect(header(f)).toContain("'descr': '<f4'");
    expect(header(f)).toContain("'shape': (3,)");
    expect(Array.from(f.subarray(128))).toEqual(Array.from(le('f32', [1.5, -2, 3.25])));
    const i = writeNpy(Int32Array.from([-1, 7]), [1, 2]);
    expect(header(i)).toContain("'descr': '<i4'");
    expect(Array.from(i.subarray(128))).toEqual(Array.from(le('i32', [-1, 7])));
    expect(header(writeNpy(Uint8Array.from([0, 255]), [2]))).toContain("'descr': '|u1'");
    expect(header(writeNpy(Uint8Array.from([0, 1]), [2], 'bool'))).toContain("'descr': '|b1'");
    expect(header(writeNpy(Int8Array.from([-3]), [1]))).toContain("'descr': '|i1'");
    const scalar = writeNpy(Float32Array.from([4]), []);
    expect(header(scalar)).toContain("'shape': ()");
    for (const b of [f, i, scalar]) expect((10 + header(b).length) % 64).toBe(0);
  });

  it('refuses a shape that does not match the data, and a dtype the array cannot hold', () => {
    expect(() => writeNpy(new Float32Array(5), [2, 3])).toThrow(/shape \[2, 3\] has 6 elements but the data has 5/);
    expect(() => writeNpy(new Float32Array(2), [2], 'i32')).toThrow(/'i32' needs a Int32Array, got Float32Array/);
  });
});

describe('readNpy', () => {
  it('reads files built by the spec in versions 1.0, 2.0 and 3.0, with 16- or 64-byte alignment', () => {
    const data = le('f32', [1, -2.5, 3, 4, 5, 6]);
    const dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    for (const [major, align] of [[1, 16], [1, 64], [2, 64], [3, 64]] as const) {
      const a = readNpy(npyFile(major, dict, data, align));
      expect(a.dtype).toBe('f32');
      expect(a.shape).toEqual([2, 3]);
      expect(Array.from(a.data)).toEqual([1, -2.5, 3, 4, 5, 6]);
    }
  });

  it('reads int32, uint8, int8, bool, 1-D, scalar and empty arrays, keys in any order', () => {
    const i = readNpy(npyFile(1, "{'shape': (3,), 'fortran_order': False, 'descr': '<i4'}", le('i32', [-5, 0, 2147483647])));
    expect([i.dtype, i.shape, Array.from(i.data)]).toEqual(['i32', [3], [-5, 0, 2147483647]]);
    expect(i.data).toBeInstanceOf(Int32Array);
    const u = readNpy(npyFile(1, "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 1), }", Uint8Array.from([0, 255])));
    expect([u.dtype, u.shape, Array.from(u.data)]).toEqual(['u8', [2, 1], [0, 255]]);
    const s = readNpy(npyFile(1, "{'descr': '|i1', 'fortran_order': False, 'shape': (2,), }", Uint8Array.from([0xff, 3])));
    expect([s.dtype, Array.from(s.data)]).toEqual(['i8', [-1, 3]]);
    const b = readNpy(npyFile(1, "{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }", Uint8Array.from([1, 0, 1])));
    expect([b.dtype, Array.from(b.data)]).toEqual(['bool', [1, 0, 1]]);
    const scalar = readNpy(npyFile(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }", le('f32', [7])));
    expect([scalar.shape, Array.from(scalar.data)]).toEqual([[], [7]]);
    const empty = readNpy(npyFile(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 4), }", new Uint8Array(0)));
    expect([empty.shape, empty.data.length]).toEqual([[0, 4], 0]);
  });

  it('converts float64 and float16 to float32, and int64 to int32 when every value fits', () => {
    const d = readNpy(npyFile(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", le('f64', [0.1, -1e300, 2])));
    expect(d.dtype).toBe('f32');
    expect(d.descr).toBe('<f8');
    expect(Array.from(d.data)).toEqual([Math.fround(0.1), -Infinity, 2]);
    // IEEE half: 0x3c00 = 1, 0xc000 = -2, 0x7bff = 65504, 0x0001 = 2^-24, 0x7c00 = inf.
    const h = readNpy(npyFile(1, "{'descr': '<f2', 'fortran_order': False, 'shape': (5,), }", le('u16', [0x3c00, 0xc000, 0x7bff, 0x0001, 0x7c00])));
    expect(Array.from(h.data)).toEqual([1, -2, 65504, 2 ** -24, Infinity]);
    const l = readNpy(npyFile(1, "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }", le('i64', [-3n, 2147483647n])));
    expect([l.dtype, Array.from(l.data)]).toEqual(['i32', [-3, 2147483647]]);
    expect(() => readNpy(npyFile(1, "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }", le('i64', [1n, 2147483648n])), 'ids.npy'))
      .toThrow(/ids.npy: int64 element 1 is 2147483648, outside the int32 range/);
  });

  it('accepts fortran_order True when at most one dimension exceeds 1 (same bytes as C order)', () => {
    const a = readNpy(npyFile(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (1, 3), }", le('f32', [1, 2, 3])));
    expect(Array.from(a.data)).toEqual([1, 2, 3]);
  });

  const cases: [string, Uint8Array, RegExp][] = [
    ['big-endian', npyFile(1, "{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", new Uint8Array(4)), /x.npy: dtype '>f4' is big-endian; Kiln reads little-endian data: save a.astype\('<f4'\)/],
    ['Fortran order', npyFile(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", new Uint8Array(16)), /Fortran-order .* save np.ascontiguousarray\(a\)/],
    ['a structured dtype', npyFile(1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", new Uint8Array(4)), /structured arrays .* not supported/],
    ['complex64', npyFile(1, "{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", new Uint8Array(8)), /dtype '<c8' is not supported \(supported: '<f4', '<i4'/],
    ['truncated data', npyFile(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", new Uint8Array(20)), /shape \(2, 3\) of '<f4' needs 24 data bytes but the file has 20 \(truncated\)/],
    ['extra data', npyFile(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", new Uint8Array(8)), /needs 4 data bytes but the file has 8/],
    ['a missing key', npyFile(1, "{'descr': '<f4', 'shape': (1,), }", new Uint8Array(4)), /header keys \[descr, shape\] \(expected exactly descr, fortran_order, shape\)/],
    ['a negative dimension', npyFile(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", new Uint8Array(4)), /shape must be a tuple of non-negative integers, got \[-1\]/],
    ['a bool byte that is not 0/1', npyFile(1, "{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }", Uint8Array.from([1, 2])), /bool element 1 is the byte 2/],
    ['a header that is not a dict', npyFile(1, "['descr']", new Uint8Array(0)), /bad .npy header \(not a dict/],
    ['a broken header', npyFile(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,", new Uint8Array(4)), /bad .npy header/],
    ['version 4.0', (() => { const b = npyFile(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", new Uint8Array(4)); b[6] = 4; return b; })(), /.npy format version 4.0 is not supported \(expected 1.0, 2.0 or 3.0\)/],
    ['not an .npy file', new TextEncoder().encode('1,2,3\n4,5,6\n'), /x.npy: not a NumPy .npy file/],
    ['a header cut off', npyFile(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", new Uint8Array(4)).subarray(0, 40), /truncated .npy file: the header needs 128 bytes but the file has 40/],
  ];
  it.each(cases)('refuses %s with a KilnError naming the file and what to do', (_, bytes, msg) => {
    let err: unknown;
    try {
      readNpy(bytes, 'x.npy');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KilnError);
    expect((err as Error).message).toMatch(msg);
  });

  it('round-trips what writeNpy writes, for every dtype and a header past 64 KiB (version 2.0)', () => {
    const arrays = [
      { data: Float32Array.from([0.5, NaN, -Infinity, 1e-30]), shape: [2, 2], dtype: 'f32' as const },
      { data: Int32Array.from([-2147483648, 5]), shape: [2], dtype: 'i32' as const },
      { data: Uint8Array.from([9, 200, 0]), shape: [3, 1, 1], dtype: 'u8' as const },
      { data: Int8Array.from([-128, 127]), shape: [1, 2], dtype: 'i8' as const },
      { data: Uint8Array.from([1, 0]), shape: [2], dtype: 'bool' as const },
    ];
    for (const a of arrays) {
      const back = readNpy(writeNpy(a.data, a.shape, a.dtype));
      expect(back.dtype).toBe(a.dtype);
      expect(back.shape).toEqual(a.shape);
      expect(Array.from(back.data)).toEqual(Array.from(a.data));
    }
    // 30,000 dimensions of size 1 (3 characters each): a header longer than a u16 can count.
    const shape = new Array<number>(30000).fill(1);
    const big = writeNpy(Float32Array.from([3]), shape);
    expect(big[6]).toBe(2);
    expect((12 + new DataView(big.buffer).getUint32(8, true)) % 64).toBe(0);
    const back = readNpy(big);
    expect(back.shape.length).toBe(30000);
    expect(Array.from(back.data)).toEqual([3]);
  });
});
