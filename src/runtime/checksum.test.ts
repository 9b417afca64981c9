import { describe, expect, it } from 'vitest';
import { crc32c } from './checksum.js';

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

// Independent oracle: the bitwise definition (no table), straight from the polynomial.
function bitwise(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

describe('crc32c', () => {
  it('matches the published CRC-32C check values', () => {
    expect(crc32c(ascii('123456789'))).toBe(0xe3069283); // the standard "check" value
    expect(crc32c(new Uint8Array(0))).toBe(0);
    // RFC 3720 (iSCSI) appendix B.4 vectors.
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
    expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i))).toBe(0x46dd794e);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i))).toBe(0x113fdb5c);
  });

  it('agrees with the bitwise definition and chains across pieces', () => {
    let seed = 12345;
    const data = Uint8Array.from({ length: 1000 }, () => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24);
    expect(crc32c(data)).toBe(bitwise(data));
    for (const cut of [0, 1, 17, 500, 999, 1000]) {
      expect(crc32c(data.subarray(cut), crc32c(data.subarray(0, cut)))).toBe(crc32c(data));
    }
  });

  it('changes on every single-bit flip', () => {
    const data = ascii('Kiln artifacts cannot lie');
    const base = crc32c(data);
    for (let i = 0; i < data.length * 8; i++) {
      const d = data.slice();
      d[i >> 3] ^= 1 << (i & 7);
      expect(crc32c(d)).not.toBe(base);
    }
  });
});

describe('crc32c slicing by 8', () => {
  // Oracle: the bitwise definition (no table), on every length 0..70 and every chaining split.
  const ref = (b: Uint8Array, crc = 0): number => {
    let c = ~crc;
    for (const x of b) {
      c ^= x;
      for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    }
    return ~c >>> 0;
  };
  it('matches the bitwise CRC-32C on all lengths and chained splits', () => {
    let seed = 7;
    const data = new Uint8Array(70).map(() => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24);
    for (let n = 0; n <= data.length; n++) expect(crc32c(data.subarray(0, n), 99)).toBe(ref(data.subarray(0, n), 99));
    for (let s = 0; s <= data.length; s++) expect(crc32c(data.subarray(s), crc32c(data.subarray(0, s)))).toBe(ref(data));
    expect(crc32c(new TextEncoder().encode('123456789'))).toBe(0xe3069283);
  });
});

describe('crc32c on large inputs (the WebAssembly loop)', () => {
  const ref = (b: Uint8Array, crc = 0): number => {
    let c = ~crc;
    for (const x of b) {
      c ^= x;
      for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    }
    return ~c >>> 0;
  };
  it('matches the bitwise CRC-32C across window boundaries, odd lengths and offsets, chained with the JS loop', () => {
    let seed = 99;
    const data = new Uint8Array(200_011).map(() => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24);
    // Lengths at and around the 64 KiB window and the switch from the JS loop; odd byte offsets.
    for (const [from, to] of [[0, 65_536], [0, 65_537], [3, 65_536 + 3 + 131_077], [1, 200_011], [65_535, 200_000], [7, 65_542]] as const) {
      const part = data.subarray(from, to);
      expect(crc32c(part), `bytes [${from}, ${to})`).toBe(ref(part));
      expect(crc32c(part, 0x1234567), `bytes [${from}, ${to}) continuing a CRC`).toBe(ref(part, 0x1234567));
    }
    // A small piece (JS loop) then a large one (WebAssembly) chains to the CRC of the whole.
    expect(crc32c(data.subarray(100), crc32c(data.subarray(0, 100)))).toBe(ref(data));
    // A single-bit flip deep in a window changes it.
    const flipped = data.slice();
    flipped[150_001]! ^= 0x10;
    expect(crc32c(flipped)).not.toBe(crc32c(data));
  });
});
