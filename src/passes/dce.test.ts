import { describe, expect, test } from 'vitest';
import { parseFunc } from '../ir/parse.js';
import { printFunc } from '../ir/print.js';
import { verify } from '../ir/verify.js';
import { dce } from './dce.js';

/** DCE in text: parse, run dce, compare with the expected text. */

describe('dce', () => {
  test('removes chains nothing returns; keeps unused parameters', () => {
    const fn = parseFunc(`func @f(%x: f32[4], %unused: f32[4]) -> (out0: f32[4]) {
      %0 = exp(%x)
      %1 = log(%0)
      %2 = neg(%1)
      %3 = tanh(%x)
      return %3
    }`);
    expect(dce.run(fn)).toBe(true);
    expect(printFunc(fn)).toBe(printFunc(parseFunc(`func @f(%x: f32[4], %unused: f32[4]) -> (out0: f32[4]) {
      %3 = tanh(%x)
      return %3
    }`)));
    expect(dce.run(fn)).toBe(false);
  });

  test('keeps everything a result reads, results that are parameters, and aliases', () => {
    const text = `func @step(%w: f32[4], %g: f32[4]) -> (loss: f32[4], w_new: f32[4], g_out: f32[4]) {
      %0 = mul(%g, %g)
      %1 = sub(%w, %0)
      %2 = exp(%w)
      return %2, %1, %g
      aliases {1: %w}
    }`;
    const fn = parseFunc(text);
    expect(dce.run(fn)).toBe(false);
    expect(printFunc(fn)).toBe(printFunc(parseFunc(text)));
    verify(fn);
  });

  test('a function with no results keeps only its parameters', () => {
    const fn = parseFunc(`func @f(%x: f32[2]) -> () {
      %0 = exp(%x)
      %1 = constant() {value=f32[]{1}}
      return
    }`);
    expect(dce.run(fn)).toBe(true);
    expect(fn.body).toEqual([]);
    expect(fn.params.length).toBe(1);
  });
});
