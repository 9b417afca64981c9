/**
 * Keras predict runs compiled WebAssembly by default (imported through 'kiln'), agrees with
 * tfjs-layers given the same weights, and runEagerly falls back to the interpreter.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tfl from '@tensorflow/tfjs-layers';
import * as kiln from 'kiln';
import { maxAbsDiff, randomTensor, toTf, useCpuBackend } from '../src/keras/test_util.js';
import type { Model } from '../src/keras/index.js';

beforeAll(useCpuBackend);

function randomize(m: Model, seed: number): void {
  m.setWeights(m.weights.map((w, i) =>
    w.name.endsWith('moving_variance') ? randomTensor(w.value.shape, seed + i, 0.5, 1.5) : randomTensor(w.value.shape, seed + i, -0.5, 0.5)));
}

function cnn<L>(f: Record<string, (a: object) => L>): L[] {
  return [
    f.conv2d!({ filters: 32, kernelSize: 3, activation: 'relu', inputShape: [28, 28, 1] }),
    f.batchNormalization!({}),
    f.maxPooling2d!({ poolSize: 2 }),
    f.depthwiseConv2d!({ kernelSize: 3, padding: 'same', activation: 'relu' }),
    f.conv2d!({ filters: 64, kernelSize: 3, activation: 'relu' }),
    f.averagePooling2d!({ poolSize: 2 }),
    f.flatten!({}),
    f.dense!({ units: 128, activation: 'relu' }),
    f.dense!({ units: 10, activation: 'softmax' }),
  ];
}

function mlp<L>(f: Record<string, (a: object) => L>): L[] {
  return [
    f.dense!({ units: 512, activation: 'relu', inputShape: [784] }),
    f.dense!({ units: 512, activation: 'relu' }),
    f.dense!({ units: 10, activation: 'softmax' }),
  ];
}

describe('compiled predict', () => {
  for (const [name, spec, shape] of [['MLP 784-512-512-10', mlp, [5, 784]], ['CNN', cnn, [3, 28, 28, 1]]] as const) {
    it(`${name}: compiled, equal to tfjs-layers within 1e-5`, () => {
      const k = kiln.sequential({ layers: spec(kiln.layers as never) as never });
      const t = tfl.sequential({ layers: spec(tfl.layers as never) as never });
      randomize(k, 11);
      t.setWeights(k.getWeights().map(toTf));
      const x = randomTensor([...shape], 99);
      const before = kiln.compiledProgramCount();
      const y = k.predict(x) as kiln.Tensor;
      expect(kiln.compiledProgramCount()).toBe(before + 1);
      const want = t.predict(toTf(x)) as ReturnType<typeof toTf>;
      expect(maxAbsDiff(y, want)).toBeLessThanOrEqual(1e-5);
      // Same signature again: no new trace, no new compile.
      k.predict(x);
      expect(kiln.compiledProgramCount()).toBe(before + 1);
      expect(k.predictTraceCount).toBe(1);
      // runEagerly: the interpreter, same values.
      k.runEagerly = true;
      const e = k.predict(x) as kiln.Tensor;
      expect(kiln.compiledProgramCount()).toBe(before + 1);
      expect(maxAbsDiff(e, toTf(y))).toBeLessThanOrEqual(1e-5);
    });
  }
});
