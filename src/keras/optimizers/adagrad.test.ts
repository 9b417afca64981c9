import { beforeAll, describe, expect, it } from 'vitest';
import { useCpu } from '../../frontend/test_util.js';
import { ops } from '../backend.js';
import { adagrad } from './adagrad.js';
import { checkAgainstTfjs, tf } from './test_util.js';

beforeAll(() => useCpu());

describe('Adagrad', () => {
  it('matches tf.train.adagrad (eager and traced)', () => {
    checkAgainstTfjs(adagrad({ learningRate: 0.1 }), () => tf.train.adagrad(0.1));
    checkAgainstTfjs(adagrad({ learningRate: 0.05, initialAccumulatorValue: 0.5 }), () => tf.train.adagrad(0.05, 0.5));
  });

  it('starts the accumulator at initialAccumulatorValue', () => {
    const opt = adagrad({ initialAccumulatorValue: 0.25 });
    const st = opt.init([ops.zeros([2, 2])]);
    expect(Array.from(st.slots[0]!['accumulator']!.dataSync())).toEqual([0.25, 0.25, 0.25, 0.25]);
    expect(opt.stateNames(['w'])).toEqual(['adagrad/iterations', 'w/accumulator']);
    expect(() => adagrad({ initialAccumulatorValue: -1 })).toThrow(/initialAccumulatorValue must be non-negative/);
  });
});
