/**
 * What the training step sums and projects, for models that nest models: the weight penalties
 * of every layer (a Sequential used as a layer of a functional model included) against the
 * penalties written out on tfjs-core, and the constraints found for nested variables. The
 * training semantics themselves are tested against tfjs-layers in ../regularizers.test.ts and
 * ../constraints.test.ts.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { ops } from '../backend.js';
import { nonNeg } from '../constraints.js';
import { dense } from '../layers/dense.js';
import { l1, l2 } from '../regularizers.js';
import { randomTensor, randomizeWeights, toTf, useCpuBackend } from '../test_util.js';
import { model } from './functional.js';
import { input } from './input.js';
import { allLayers, constraintsOf, weightPenalties, withPenalties } from './regularization.js';
import { sequential } from './sequential.js';

beforeAll(useCpuBackend);

describe('regularization collection', () => {
  it('finds penalties and constraints inside nested models', () => {
    const inner = sequential({ layers: [dense({ units: 3, inputShape: [4], kernelRegularizer: l2({ l2: 0.3 }), biasConstraint: nonNeg() })] });
    const x = input({ shape: [4] });
    const outer = model({ inputs: x, outputs: dense({ units: 2, biasRegularizer: l1({ l1: 0.2 }), activityRegularizer: l2({ l2: 0.1 }) }).apply(inner.apply(x)) });
    randomizeWeights(outer, 3);
    expect(allLayers(outer)).toContain(inner.layers[0]);
    const [k1, , , b2] = outer.getWeights().map(toTf) as tf.Tensor[];
    const want = 0.3 * tf.sum(tf.square(k1!)).dataSync()[0]! + 0.2 * tf.sum(tf.abs(b2!)).dataSync()[0]!;
    const got = weightPenalties(outer).reduce((a, p) => a + p.dataSync()[0]!, 0);
    expect(Math.abs(got - want)).toBeLessThan(1e-5 * want);
    expect([...constraintsOf(outer).values()].map((c) => c.className)).toEqual(['NonNeg']);
    // The activity penalty of the outer Dense on this forward pass is added too.
    const xs = randomTensor([5, 4], 8);
    const r = withPenalties(outer, () => outer.apply(xs), () => ops.zeros([]));
    const out = toTf(outer.apply(xs));
    const act = 0.1 * tf.sum(tf.square(out)).dataSync()[0]!;
    expect(Math.abs(r.loss.dataSync()[0]! - (want + act))).toBeLessThan(1e-5 * (want + act));
  });
});
