import { beforeAll, describe, expect, it } from 'vitest';
import { useCpu } from '../../frontend/test_util.js';
import { fn, ops, type Tensor } from '../backend.js';
import {
  cosineDecay, deserializeSchedule, exponentialDecay, piecewiseConstantDecay, type LearningRateSchedule,
} from './schedules.js';

beforeAll(() => useCpu());

/** The schedule at each step, eagerly and traced (i32 step as a parameter), against `formula`. */
function checkSchedule(s: LearningRateSchedule, formula: (step: number) => number, steps: number[]): void {
  const traced = fn((step: Tensor) => s.call(step), { name: s.className });
  for (const step of steps) {
    const want = formula(step);
    const eager = s.call(ops.scalar(step, 'i32'));
    expect(eager.dtype).toBe('f32');
    expect(eager.item(), `${s.className} eager step ${step}`).toBeCloseTo(want, 6);
    expect(traced(ops.scalar(step, 'i32')).item(), `${s.className} traced step ${step}`).toBeCloseTo(want, 6);
  }
  expect(traced.traceCount).toBe(1);
}

describe('learning-rate schedules', () => {
  const steps = [0, 1, 2, 3, 5, 9, 10, 11, 40];

  it('exponentialDecay, smooth and staircase', () => {
    checkSchedule(exponentialDecay({ initialLearningRate: 0.1, decaySteps: 4, decayRate: 0.5 }), (t) => 0.1 * 0.5 ** (t / 4), steps);
    checkSchedule(
      exponentialDecay({ initialLearningRate: 0.1, decaySteps: 4, decayRate: 0.5, staircase: true }),
      (t) => 0.1 * 0.5 ** Math.floor(t / 4), steps,
    );
  });

  it('cosineDecay reaches alpha * initial at decaySteps and stays there', () => {
    const f = (t: number) => 0.2 * ((1 - 0.05) * 0.5 * (1 + Math.cos((Math.PI * Math.min(t, 10)) / 10)) + 0.05);
    checkSchedule(cosineDecay({ initialLearningRate: 0.2, decaySteps: 10, alpha: 0.05 }), f, steps);
    expect(cosineDecay({ initialLearningRate: 0.2, decaySteps: 10 }).call(10).item()).toBeCloseTo(0, 7);
  });

  it('piecewiseConstantDecay switches after each boundary (Keras docs example)', () => {
    const s = piecewiseConstantDecay({ boundaries: [100000, 110000], values: [1.0, 0.5, 0.1] });
    checkSchedule(s, (t) => (t <= 100000 ? 1 : t <= 110000 ? 0.5 : 0.1), [0, 99999, 100000, 100001, 110000, 110001, 500000]);
    expect(() => piecewiseConstantDecay({ boundaries: [1, 2], values: [1, 2] })).toThrow(/one more element than boundaries/);
    expect(() => piecewiseConstantDecay({ boundaries: [2, 1], values: [1, 2, 3] })).toThrow(/boundaries must increase/);
  });

  it('configs round-trip in Keras form', () => {
    for (const s of [
      exponentialDecay({ initialLearningRate: 0.1, decaySteps: 4, decayRate: 0.5, staircase: true }),
      cosineDecay({ initialLearningRate: 0.2, decaySteps: 10, alpha: 0.05 }),
      piecewiseConstantDecay({ boundaries: [3, 6], values: [1, 0.5, 0.1] }),
    ]) {
      const ser = s.serialize();
      const back = deserializeSchedule(JSON.parse(JSON.stringify(ser)));
      expect(back.serialize()).toEqual(ser);
      expect(back.call(5).item()).toBeCloseTo(s.call(5).item(), 7);
    }
    expect(ser0().class_name).toBe('ExponentialDecay');
    expect(ser0().config).toEqual({ initial_learning_rate: 0.1, decay_steps: 4, decay_rate: 0.5, staircase: false });
    expect(() => deserializeSchedule({ class_name: 'Warmup', config: {} })).toThrow(/unknown learning-rate schedule 'Warmup'/);
  });
});

function ser0() {
  return exponentialDecay({ initialLearningRate: 0.1, decaySteps: 4, decayRate: 0.5 }).serialize();
}
