import { beforeAll, describe, expect, it } from 'vitest';
import * as tfl from '@tensorflow/tfjs-layers';
import { compareLayer, randomTensor, useCpuBackend } from '../test_util.js';
import { ReLU, reLU } from './relu.js';

beforeAll(useCpuBackend);

/** Keras's definition, written out per element. */
function naive(x: number, maxValue: number | null, negativeSlope: number, threshold: number): number {
  if (maxValue !== null && x >= maxValue) return maxValue;
  if (x >= threshold) return x;
  return negativeSlope * (x - threshold);
}

describe('ReLU', () => {
  it('matches tfjs-layers (plain and maxValue)', () => {
    expect(compareLayer(reLU(), tfl.layers.reLU(), [4, 9])).toBe(0);
    expect(compareLayer(reLU({ maxValue: 0.5 }), tfl.layers.reLU({ maxValue: 0.5 }), [4, 9])).toBe(0);
  });

  // tfjs-layers' ReLU has no negativeSlope/threshold; the oracle is the formula per element.
  const cases: [number | null, number, number][] = [[null, 0.1, 0], [null, 0, 0.3], [2, 0.2, -0.5], [1, 0.3, 0.25]];
  for (const [maxValue, negativeSlope, threshold] of cases) {
    it(`maxValue=${maxValue} negativeSlope=${negativeSlope} threshold=${threshold}`, () => {
      const x = randomTensor([50], 3, -3, 3);
      const y = reLU({ maxValue, negativeSlope, threshold }).apply(x).dataSync();
      x.dataSync().forEach((v, i) => expect(y[i]).toBeCloseTo(naive(v, maxValue, negativeSlope, threshold), 6));
    });
  }

  it('errors and config', () => {
    expect(() => reLU({ maxValue: -1, name: 'rl' })).toThrow("ReLU 'rl': maxValue must be >= 0, got -1");
    const l = reLU({ maxValue: 6, negativeSlope: 0.1, threshold: 0.5 });
    expect(ReLU.fromConfig(l.getConfig()).getConfig()).toEqual(l.getConfig());
  });
});
