/** kiln.explain prints and returns the fusion plan of a model or a function, with reasons. */
import { describe, expect, it } from 'vitest';
import * as kiln from 'kiln';

describe('kiln.explain', () => {
  it('a dense + relu + softmax model: two kernels, the reasons for each decision', () => {
    const m = kiln.sequential({ layers: [
      kiln.layers.dense({ units: 16, activation: 'relu', inputShape: [8] }),
      kiln.layers.dense({ units: 4, activation: 'softmax' }),
    ] });
    const printed: string[] = [];
    const text = kiln.explain(m, { inputShapes: [[2, 8]], print: (t) => printed.push(t) });
    expect(printed).toEqual([text]);
    expect(text).toMatch(/-> 3 kernels/);
    expect(text).toMatch(/group #0 dot/);
    expect(text).toMatch(/fused: .*epilogue/);
    expect(text).toMatch(/not fused: /);
  });
  it('a function of tensors, with explicit input shapes', () => {
    const text = kiln.explain((x: kiln.Tensor) => kiln.softmax(kiln.mul(x, 2)), { inputShapes: [[3, 5]], print: null });
    expect(text).toMatch(/-> 1 kernels/);
  });
});
