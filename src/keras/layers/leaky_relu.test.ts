/** LeakyReLU against tfjs-layers (values, input gradient), Keras 3's negativeSlope, saved models, compiled artifact. */
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { useCpuBackend } from '../test_util.js';
import { leakyReLU, LeakyReLU } from './leaky_relu.js';
import { compiledDiff, expectConfigRoundTrip, gradientDiffs, predictionDiff, tfjsSavedModelDiff, type LayerCase } from './layer_testkit.js';

beforeAll(useCpuBackend);

describe('LeakyReLU', () => {
  for (const alpha of [undefined, 0.1, 1.5]) {
    const c: LayerCase = { kiln: () => leakyReLU({ alpha }), tfjs: () => tfl.layers.leakyReLU({ alpha }), input: [3, 4, 5], range: 3 };
    it(`alpha ${alpha ?? 'default (0.3)'}: values and input gradient match tfjs-layers; compiled equals the interpreter`, async () => {
      expect(predictionDiff(c)).toBeLessThanOrEqual(1e-6);
      expect(gradientDiffs(c).input).toBeLessThanOrEqual(1e-6);
      expect(await compiledDiff(c)).toBeLessThanOrEqual(1e-6);
    });
  }

  it("Keras 3's negativeSlope is alpha; a tfjs-saved model loads; config round trip and errors", async () => {
    expect(leakyReLU({ negativeSlope: 0.2 }).getConfig().alpha).toBe(0.2);
    expect(leakyReLU().alpha).toBe(0.3);
    expect(await tfjsSavedModelDiff({ kiln: () => leakyReLU(), tfjs: () => tfl.layers.leakyReLU({ alpha: 0.05 }), input: [2, 7], range: 2 })).toBeLessThanOrEqual(1e-6);
    expectConfigRoundTrip(leakyReLU({ alpha: 0.01 }), tfl.layers.leakyReLU({ alpha: 0.01 }));
    expect(LeakyReLU.fromConfig(leakyReLU({ alpha: 0.7 }).getConfig()).alpha).toBe(0.7);
    expect(() => leakyReLU({ alpha: 0.1, negativeSlope: 0.2, name: 'lr' })).toThrow("LeakyReLU 'lr': alpha 0.1 and negativeSlope 0.2 name the same slope; give one");
    expect(() => leakyReLU({ alpha: NaN, name: 'lr2' })).toThrow("LeakyReLU 'lr2': alpha must be a finite number, got null");
    expect(() => leakyReLU({ slope: 0.2, name: 'lr3' } as never)).toThrow("LeakyReLU 'lr3': unknown argument 'slope'");
  });
});
