import { describe, expect, it } from 'vitest';
import { bf16BitsToF32, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits } from './dtypes.js';

// Encodings from the IEEE 754 binary16 and bfloat16 definitions.
const F16: [number, number][] = [
  [0, 0x0000],
  [-0, 0x8000],
  [1, 0x3c00],
  [-2, 0xc000],
  [0.5, 0x3800],
  [65504, 0x7bff], // largest finite
  [2 ** -14, 0x0400], // smallest normal
  [2 ** -24, 0x0001], // smallest subnormal
  [Infinity, 0x7c00],
  [-Infinity, 0xfc00],
];

describe('f16 / bf16 conversion', () => {
  it('encodes and decodes exactly representable values', () => {
    for (const [x, bits] of F16) {
      expect(f32ToF16Bits(x)).toBe(bits);
      expect(Object.is(f16BitsToF32(bits), x)).toBe(true);
    }
  });

  it('rounds to nearest even, overflows to infinity, underflows to zero', () => {
    expect(f32ToF16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie -> even
    expect(f32ToF16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie -> even (up)
    expect(f32ToF16Bits(1 + 2 ** -11 + 2 ** -20)).toBe(0x3c01); // above tie
    expect(f32ToF16Bits(0.1)).toBe(0x2e66);
    expect(f32ToF16Bits(65520)).toBe(0x7c00); // rounds past the largest finite
    expect(f32ToF16Bits(65519)).toBe(0x7bff);
    expect(f32ToF16Bits(2 ** -26)).toBe(0x0000); // below half the smallest subnormal
    expect(f32ToF16Bits(3 * 2 ** -26)).toBe(0x0001); // rounds up to the smallest subnormal
    expect(f32ToF16Bits(2 ** -15 + 2 ** -24)).toBe(0x0201); // subnormal with a set low bit
    expect(f16BitsToF32(f32ToF16Bits(NaN))).toBeNaN();
  });

  it('round-trips every finite f16 bit pattern', () => {
    for (let h = 0; h < 0x10000; h++) {
      if ((h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0) continue; // NaNs
      expect(f32ToF16Bits(f16BitsToF32(h))).toBe(h);
    }
  });

  it('bf16 keeps the top half of f32 with round-to-nearest-even', () => {
    expect(f32ToBf16Bits(1)).toBe(0x3f80);
    expect(f32ToBf16Bits(-2)).toBe(0xc000);
    expect(f32ToBf16Bits(Math.PI)).toBe(0x4049);
    expect(f32ToBf16Bits(1 + 2 ** -8)).toBe(0x3f80); // tie -> even
    expect(f32ToBf16Bits(1 + 3 * 2 ** -8)).toBe(0x3f82);
    expect(f32ToBf16Bits(Infinity)).toBe(0x7f80);
    expect(bf16BitsToF32(0x4049)).toBe(3.140625);
    expect(bf16BitsToF32(f32ToBf16Bits(NaN))).toBeNaN();
    for (let h = 0; h < 0x10000; h += 7) {
      if ((h & 0x7f80) === 0x7f80 && (h & 0x7f) !== 0) continue;
      expect(f32ToBf16Bits(bf16BitsToF32(h))).toBe(h);
    }
  });
});
