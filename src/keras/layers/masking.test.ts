import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { maxAbsDiff, toTf, useCpuBackend } from '../test_util.js';
import { randomizeTfjs, tfjsSavedToKiln } from './recurrent_testkit.js';
import { Masking, masking } from './masking.js';
import { deserializeLayer, getMask } from '../engine/layer.js';
import { literal } from '../../ir/literal.js';
import { Tensor } from '../backend.js';

beforeAll(useCpuBackend);

// Steps 1 and 3 of sample 0 and step 0 of sample 1 are all -1 (masked); step 2 of sample 1 only partly.
const vals = [0.5, 1, -1, -1, 2, 3, -1, -1, -1, -1, 4, 5, -1, 2, 6, 7];
const x = () => Tensor.concrete(literal([2, 4, 2], 'f32', vals));

describe('Masking', () => {
  it('zeroes masked steps and attaches the mask, as tfjs-layers', () => {
    const k = masking({ maskValue: -1 });
    const y = k.apply(x());
    const t = tfl.layers.masking({ maskValue: -1 });
    expect(maxAbsDiff(y, t.apply(toTf(x())) as tf.Tensor)).toBe(0);
    const tm = t.computeMask(toTf(x())) as tf.Tensor;
    expect(Array.from(getMask(y)!.dataSync())).toEqual(Array.from(tm.dataSync()));
    expect(Array.from(getMask(y)!.dataSync())).toEqual([1, 0, 1, 0, 0, 1, 1, 1]);
  });

  it('config round trip, errors', () => {
    const l = masking({ maskValue: 2.5, name: 'm' });
    const c = l.getConfig();
    expect(c).toMatchObject({ maskValue: 2.5 });
    expect(Masking.fromConfig(c).getConfig()).toEqual(c);
    expect(deserializeLayer(l.serialize()).getConfig()).toEqual(c);
    expect(() => masking({ maskvalue: 1 } as never)).toThrow(/did you mean 'maskValue'/);
  });

  it('a tfjs-saved Masking -> SimpleRNN model loads; masked steps are skipped (equal predictions)', async () => {
    const t = tfl.sequential({ layers: [tfl.layers.masking({ maskValue: -1, inputShape: [4, 2] }), tfl.layers.simpleRNN({ units: 3, recurrentInitializer: 'zeros', returnSequences: true })] });
    randomizeTfjs(t, 4);
    expect((await tfjsSavedToKiln(t, x())).diff).toBeLessThanOrEqual(1e-5);
  });
});
