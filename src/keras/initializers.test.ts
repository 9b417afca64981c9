import * as tfl from '@tensorflow/tfjs-layers';
import { describe, expect, it } from 'vitest';
import { KilnError } from '../ir/types.js';
import * as init from './initializers.js';

function stats(a: Float32Array): { mean: number; std: number; min: number; max: number } {
  let s = 0, s2 = 0, min = Infinity, max = -Infinity;
  for (const v of a) { s += v; s2 += v * v; min = Math.min(min, v); max = Math.max(max, v); }
  const mean = s / a.length;
  return { mean, std: Math.sqrt(s2 / a.length - mean * mean), min, max };
}

describe('initializers', () => {
  it('computes fans like Keras (dense and conv kernels)', () => {
    expect(init.computeFans([784, 64])).toEqual({ fanIn: 784, fanOut: 64 });
    expect(init.computeFans([3, 3, 8, 16])).toEqual({ fanIn: 72, fanOut: 144 });
  });

  it('glorotUniform lies in ±sqrt(6/(in+out)) and fills it', () => {
    const w = init.glorotUniform({ seed: 1 }).generate([200, 100]);
    const limit = Math.sqrt(6 / 300);
    const s = stats(w);
    expect(s.max).toBeLessThanOrEqual(limit);
    expect(s.min).toBeGreaterThanOrEqual(-limit);
    expect(s.max).toBeGreaterThan(0.98 * limit);
    expect(s.std).toBeCloseTo(limit / Math.sqrt(3), 2);
  });

  it('glorotNormal/heNormal: truncated at 2 stddev of the un-corrected normal, variance scale/fan', () => {
    const g = init.glorotNormal({ seed: 2 }).generate([300, 200]);
    const want = Math.sqrt(2 / 500);
    const sg = stats(g);
    expect(sg.std).toBeGreaterThan(0.97 * want);
    expect(sg.std).toBeLessThan(1.03 * want);
    expect(Math.max(sg.max, -sg.min)).toBeLessThanOrEqual((2 * want) / 0.87962566103423978 + 1e-6);
    const h = stats(init.heNormal({ seed: 3 }).generate([3, 3, 16, 32]));
    expect(h.std).toBeCloseTo(Math.sqrt(2 / 144), 2);
    expect(stats(init.heUniform({ seed: 4 }).generate([400, 50])).max).toBeLessThanOrEqual(Math.sqrt(6 / 400));
    expect(Math.abs(sg.mean)).toBeLessThan(0.002);
  });

  it('seed gives reproducible values; different seeds differ', () => {
    const a = init.heNormal({ seed: 5 }).generate([10, 10]);
    expect(init.heNormal({ seed: 5 }).generate([10, 10])).toEqual(a);
    expect(init.heNormal({ seed: 6 }).generate([10, 10])).not.toEqual(a);
  });

  it('zeros, ones, constant; lookup by name and by serialized form', () => {
    expect(Array.from(init.getInitializer('zeros').generate([3]))).toEqual([0, 0, 0]);
    expect(Array.from(init.getInitializer('ones').generate([2]))).toEqual([1, 1]);
    expect(Array.from(init.constant({ value: 2.5 }).generate([2]))).toEqual([2.5, 2.5]);
    const s = init.serializeInitializer(init.glorotUniform({ seed: 9 }));
    expect(s).toEqual({ className: 'VarianceScaling', config: { scale: 1, mode: 'fanAvg', distribution: 'uniform', seed: 9 } });
    expect(init.getInitializer(s).generate([4, 4])).toEqual(init.glorotUniform({ seed: 9 }).generate([4, 4]));
    const vs = init.serializeInitializer(init.varianceScaling({ scale: 2, mode: 'fanOut', distribution: 'uniform', seed: 1 }));
    expect(init.getInitializer(vs).getConfig()).toEqual({ scale: 2, mode: 'fanOut', distribution: 'uniform', seed: 1 });
    expect(() => init.getInitializer('glorot' as 'zeros')).toThrow(KilnError);
    expect(() => init.getInitializer('glorot' as 'zeros')).toThrow(/unknown initializer 'glorot' \(did you mean 'zeros'\?\)|unknown initializer 'glorot' \(valid: /);
  });

  it('serializes as tfjs-layers does (className and config of the same initializer)', () => {
    const pairs: [init.Initializer, { getClassName(): string; getConfig(): object }][] = [
      [init.glorotUniform(), tfl.initializers.glorotUniform({})],
      [init.glorotNormal({ seed: 4 }), tfl.initializers.glorotNormal({ seed: 4 })],
      [init.heNormal({ seed: 3 }), tfl.initializers.heNormal({ seed: 3 })],
      [init.lecunNormal(), tfl.initializers.leCunNormal({})],
      [init.varianceScaling({ scale: 2, mode: 'fanOut', distribution: 'uniform' }), tfl.initializers.varianceScaling({ scale: 2, mode: 'fanOut', distribution: 'uniform' })],
      [init.randomUniform(), tfl.initializers.randomUniform({})],
      [init.randomNormal({ mean: 1, stddev: 2, seed: 5 }), tfl.initializers.randomNormal({ mean: 1, stddev: 2, seed: 5 })],
      [init.truncatedNormal(), tfl.initializers.truncatedNormal({})],
      [init.constant({ value: 2 }), tfl.initializers.constant({ value: 2 })],
      [init.zeros(), tfl.initializers.zeros()],
      [init.ones(), tfl.initializers.ones()],
    ];
    for (const [k, t] of pairs) {
      expect(init.serializeInitializer(k)).toEqual({ className: t.getClassName(), config: JSON.parse(JSON.stringify(t.getConfig())) });
    }
  });

  it('reads Keras and tfjs spellings: snake_case names, null seeds, shared object ids, fan_in/truncated_normal', () => {
    expect(init.getInitializer('glorot_uniform').generate([3, 4])).toHaveLength(12);
    expect(init.getInitializer('GlorotUniform' as init.InitializerLike)).toBeInstanceOf(init.VarianceScaling);
    const ru = init.getInitializer({ className: 'RandomUniform', config: { minval: -0.1, maxval: 0.2, seed: null }, sharedObjectId: 1 } as init.SerializedInitializer);
    expect(ru.getConfig()).toEqual({ minval: -0.1, maxval: 0.2, seed: undefined });
    const vs = init.getInitializer({ className: 'VarianceScaling', config: { scale: 2, mode: 'fan_in', distribution: 'truncated_normal', seed: 7 } });
    expect(vs.getConfig()).toEqual({ scale: 2, mode: 'fanIn', distribution: 'truncatedNormal', seed: 7 });
    // tfjs's 'normal' is its truncated normal; a tfjs-written preset reads back to the same values.
    const round = init.getInitializer(init.serializeInitializer(init.heNormal({ seed: 3 })));
    expect(round.generate([5, 6])).toEqual(init.heNormal({ seed: 3 }).generate([5, 6]));
    expect(() => init.getInitializer({ className: 'RandomUniform', config: { minvall: 0 } }, "Dense 'd': kernelInitializer"))
      .toThrow("Dense 'd': kernelInitializer: RandomUniform has no config field 'minvall' (did you mean 'minval'?)");
    expect(() => init.getInitializer({ className: 'Identity', config: {} }, "Dense 'd': kernelInitializer")).toThrow(/Dense 'd': kernelInitializer: unknown initializer class 'Identity'/);
    expect(() => init.varianceScaling({ mode: 'fanMiddle' as 'fanIn' })).toThrow(/mode must be one of fanIn, fanOut, fanAvg .* got "fanMiddle"/);
  });

  it('orthogonal: gain times a matrix with orthonormal columns (or rows when wider), seeded, from its Keras/tfjs spellings', () => {
    for (const [r, c] of [[12, 5], [4, 9]] as const) {
      const w = init.orthogonal({ gain: 2, seed: 3 }).generate([r, c]);
      const n = Math.min(r, c);
      // Gram matrix of the shorter side: gain^2 * I.
      for (let a = 0; a < n; a++) {
        for (let b = 0; b < n; b++) {
          let d = 0;
          for (let k = 0; k < Math.max(r, c); k++) d += r >= c ? w[k * c + a]! * w[k * c + b]! : w[a * c + k]! * w[b * c + k]!;
          expect(d).toBeCloseTo(a === b ? 4 : 0, 4);
        }
      }
      expect(Array.from(init.orthogonal({ gain: 2, seed: 3 }).generate([r, c]))).toEqual(Array.from(w));
    }
    expect(init.getInitializer('orthogonal').className).toBe('Orthogonal');
    expect(init.getInitializer({ className: 'Orthogonal', config: { gain: 1, seed: null } }).className).toBe('Orthogonal');
    expect(init.serializeInitializer(init.orthogonal({ gain: 1.5 }))).toEqual({ className: 'Orthogonal', config: { gain: 1.5 } });
    expect(() => init.orthogonal().generate([5])).toThrow(/Orthogonal: needs a shape of rank >= 2, got \[5\]/);
  });
});
