import { beforeAll, describe, expect, it } from 'vitest';
import * as tfl from '@tensorflow/tfjs-layers';
import { compareLayer, randomTensor, useCpuBackend } from '../test_util.js';
import { ZeroPadding2D, zeroPadding2d } from './zero_padding2d.js';
import { input } from '../engine/input.js';

beforeAll(useCpuBackend);

describe('ZeroPadding2D', () => {
  it('matches tfjs-layers for number, [h, w] and [[t, b], [l, r]] padding', () => {
    expect(compareLayer(zeroPadding2d(), tfl.layers.zeroPadding2d({}), [2, 3, 4, 2])).toBe(0);
    expect(compareLayer(zeroPadding2d({ padding: [1, 2] }), tfl.layers.zeroPadding2d({ padding: [1, 2] }), [1, 3, 3, 2])).toBe(0);
    expect(compareLayer(zeroPadding2d({ padding: [[0, 2], [3, 1]] }), tfl.layers.zeroPadding2d({ padding: [[0, 2], [3, 1]] }), [1, 2, 3, 1])).toBe(0);
  });

  it('shapes, errors, config', () => {
    expect(zeroPadding2d({ padding: [[1, 2], [3, 4]] }).apply(input({ shape: [5, 6, 2] })).shape).toEqual([null, 8, 13, 2]);
    expect(() => zeroPadding2d({ padding: -1 })).toThrow(/padding must be a number, \[h, w\] or \[\[top, bottom\], \[left, right\]\]/);
    expect(() => zeroPadding2d({ name: 'zp' }).apply(randomTensor([2, 3, 4], 1))).toThrow("ZeroPadding2D 'zp': expected a 4-D NHWC input");
    const l = zeroPadding2d({ padding: [2, 1] });
    expect(l.getConfig().padding).toEqual([[2, 2], [1, 1]]);
    expect(ZeroPadding2D.fromConfig(l.getConfig()).getConfig()).toEqual(l.getConfig());
  });
});
