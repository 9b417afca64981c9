/**
 * Printing for people: `printFunc(f, {elideConstants: n})` prints constants over n values as
 * `f32[3,3,1,32]{<288 values>}`, small ones exactly; the default stays exact (parseFunc reads it
 * back to an equal Func, hex dumps included); error lines (printValue) elide; options are checked.
 */
import { describe, expect, it } from 'vitest';
import * as kiln from '../index.js';
import { KilnError } from './types.js';
import { funcDiff } from './equal.js';
import { parseFunc } from './parse.js';
import { ELIDED, printFunc, printValue } from './print.js';

/** A conv-like function: a [3,3,1,32] kernel (288 values), a 2048-value constant (hex-dumped when exact) and a [4] bias. */
function withConstants(): kiln.ir.Func {
  const kernel = kiln.tensor(Float32Array.from({ length: 288 }, (_, i) => Math.sin(i)), [3, 3, 1, 32]);
  const bias = kiln.tensor([0.5, -1, 2, 0.25]);
  const big = kiln.tensor(Float32Array.from({ length: 2048 }, (_, i) => i / 7), [2048]);
  return kiln.toFunc((x: kiln.Tensor, z: kiln.Tensor) => {
    const y = kiln.add(kiln.sum(kiln.mul(x, kernel)), kiln.sum(kiln.mul(z, big)));
    return kiln.add(kiln.reshape(y, [1]), bias);
  }, { inputShapes: [[3, 3, 1, 32], [2048]], name: 'consts' });
}

describe('printFunc constant elision', () => {
  it('elides constants over the threshold, keeps small ones exact', () => {
    const f = withConstants();
    const text = printFunc(f, { elideConstants: 16 });
    expect(text).toContain('f32[3,3,1,32]{<288 values>}');
    expect(text).toContain('f32[2048]{<2048 values>}');
    expect(text).toContain('f32[4]{0.5, -1, 2, 0.25}');
    expect(printFunc(f, ELIDED)).toBe(text);
    // A threshold above the count prints it exactly.
    expect(printFunc(f, { elideConstants: 300 })).not.toContain('<288 values>');
    expect(printFunc(f, { elideConstants: 300 })).toContain('<2048 values>');
  });

  it('the default (and elideConstants: Infinity) is exact and parses back to an equal Func', () => {
    const f = withConstants();
    const full = printFunc(f);
    expect(full).not.toMatch(/values>/);
    expect(printFunc(f, { elideConstants: Infinity })).toBe(full);
    expect(funcDiff(f, parseFunc(full))).toBeNull();
    // The elided text is for reading only: the parser refuses it.
    expect(() => parseFunc(printFunc(f, ELIDED))).toThrow(/^2:\d+: the constant <288 values> was elided by printFunc's elideConstants and cannot be read back; print with printFunc\(f\) \(exact\) for text that parses$/);
  });

  it('error lines elide big constants', () => {
    const f = withConstants();
    const konst = f.body.find((v) => v.op === 'constant' && v.type.shape.length === 4)!;
    expect(printValue(konst, f)).toMatch(/^%\d+ = constant\(\) \{value=f32\[3,3,1,32\]\{<288 values>\}\} : f32\[3,3,1,32\]$/);
  });

  it('refuses unknown options and bad thresholds', () => {
    const f = withConstants();
    const err = (o: unknown): string => {
      try {
        printFunc(f, o as never);
      } catch (e) {
        expect(e).toBeInstanceOf(KilnError);
        return (e as Error).message;
      }
      throw new Error('no error');
    };
    expect(err({ full: true })).toBe("printFunc: unknown option 'full' (valid: elideConstants)");
    expect(err({ elideConstants: -1 })).toBe('printFunc: elideConstants must be a non-negative integer or Infinity, got -1');
    expect(err(16)).toMatch(/^printFunc: options must be an object like \{elideConstants: 16\}, got number$/);
  });
});
