import { describe, expect, it } from 'vitest';
import { randomTensor } from '../test_util.js';
import { Dropout, dropout } from './dropout.js';
import { input } from '../engine/input.js';

describe('Dropout', () => {
  it('is the identity at inference', () => {
    const x = randomTensor([3, 5], 1);
    const y = dropout({ rate: 0.5 }).apply(x);
    expect(Array.from(y.dataSync())).toEqual(Array.from(x.dataSync()));
    expect(dropout({ rate: 0.3 }).apply(input({ shape: [4] })).shape).toEqual([null, 4]);
  });
  it('training mode says it is not implemented yet; bad rate; config', () => {
    expect(() => dropout({ rate: 0.5, name: 'dr' }).apply(randomTensor([2, 2], 1), { training: true })).toThrow("Dropout 'dr': training-mode dropout is not implemented yet");
    expect(() => dropout({ rate: 1 })).toThrow(/rate must be in \[0, 1\)/);
    const l = dropout({ rate: 0.25, seed: 3 });
    expect(Dropout.fromConfig(l.getConfig()).getConfig()).toEqual(l.getConfig());
  });
});
