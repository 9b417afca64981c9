/**
 * Every activation by name against its definition written in tfjs-core ops (tfjs-layers' formulas):
 * values, and gradients of sum(f(x) * r) against tf.grads; all of them compiled into one artifact
 * and run by the runtime, equal to the interpreter; used as `activation:` on Dense against
 * tfjs-layers' Dense; the Keras spellings; and every name listed in docs/import-export.md.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { compile } from '../compile.js';
import { grad } from '../frontend/grad.js';
import { load, readArtifact } from '../runtime/index.js';
import { assemblePtx } from '../codegen/cuda/ptxas.js';
import { hasPtxas } from './layers/layer_testkit.js';
import { ACTIVATION_NAMES, activationName, getActivation, type ActivationName } from './activations.js';
import { ops, type Tensor } from './backend.js';
import { dense } from './layers/dense.js';
import { maxAbsDiff, randomTensor, toTf, useCpuBackend, copyWeights } from './test_util.js';

beforeAll(useCpuBackend);

const SELU_ALPHA = 1.6732632423543772848170429916717;
const SELU_SCALE = 1.0507009873554804934193349852946;

/** The definitions, on tfjs-core (differentiable by tf.grads). */
const REFERENCE: Record<ActivationName, (x: tf.Tensor) => tf.Tensor> = {
  linear: (x) => x,
  relu: (x) => tf.relu(x),
  relu6: (x) => tf.relu6(x),
  sigmoid: (x) => tf.sigmoid(x),
  // tfjs-layers' and Keras 2's hard sigmoid: clip(0.2 x + 0.5, 0, 1).
  hardSigmoid: (x) => tf.clipByValue(tf.add(tf.mul(x, 0.2), 0.5), 0, 1),
  tanh: (x) => tf.tanh(x),
  softmax: (x) => tf.softmax(x),
  logSoftmax: (x) => tf.logSoftmax(x),
  gelu: (x) => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.div(x, Math.SQRT2)))),
  gelu_new: (x) => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.tanh(tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3))))))),
  elu: (x) => tf.elu(x),
  // tf.selu has no gradient in tfjs-core 4.22 on every path; Keras's formula instead.
  selu: (x) => tf.mul(SELU_SCALE, tf.add(tf.relu(x), tf.mul(SELU_ALPHA, tf.sub(tf.exp(tf.minimum(x, 0)), 1)))),
  softplus: (x) => tf.softplus(x),
  softsign: (x) => tf.div(x, tf.add(tf.abs(x), 1)),
  swish: (x) => tf.mul(x, tf.sigmoid(x)),
  mish: (x) => tf.mul(x, tf.tanh(tf.softplus(x))),
  exponential: (x) => tf.exp(x),
  leakyRelu: (x) => tf.leakyRelu(x, 0.2),
  hardSilu: (x) => tf.mul(x, tf.div(tf.relu6(tf.add(x, 3)), 6)),
  logSigmoid: (x) => tf.neg(tf.softplus(tf.neg(x))),
};

describe('activations', () => {
  // [-4, 4] reaches the saturated and the linear regions (hardSigmoid's clip at +-2.5, relu6's at 6 is
  // reached by the scale below).
  const x = randomTensor([3, 23], 5, -4, 4);
  const r = randomTensor([3, 23], 6);
  for (const name of ACTIVATION_NAMES) {
    it(`${name}: values and gradient match tfjs-core`, () => {
      const f = getActivation(name);
      const xs = name === 'relu6' ? ops.mul(x, 2) : x;
      expect(maxAbsDiff(f(xs), REFERENCE[name](toTf(xs)))).toBeLessThanOrEqual(name === 'exponential' ? 1e-4 : 2e-6);
      const g = grad((t: Tensor) => ops.sum(ops.mul(f(t), r)))(xs);
      const want = tf.grads((t: tf.Tensor) => tf.sum(tf.mul(REFERENCE[name](t), toTf(r))))([toTf(xs)])[0]!;
      expect(maxAbsDiff(g, want)).toBeLessThanOrEqual(name === 'exponential' ? 1e-4 : 1e-5);
    });
  }

  it('all of them compiled into one artifact equal the interpreter', async () => {
    const all = (t: Tensor): Tensor[] => ACTIVATION_NAMES.map((n) => getActivation(n)(t));
    const art = compile(all, { inputShapes: [[3, 23]], name: 'activations' });
    const prog = await load(art.bytes, { threads: 1 });
    try {
      const out = prog.runSync({ [prog.inputs[0]!.name]: Float32Array.from(x.dataSync()) });
      const want = all(x);
      expect(prog.outputs.length).toBe(ACTIVATION_NAMES.length);
      prog.outputs.forEach((o, i) => {
        const got = out[o.name] as Float32Array;
        const w = want[i]!.dataSync();
        let d = 0;
        for (let k = 0; k < w.length; k++) d = Math.max(d, Math.abs(got[k]! - w[k]!) / Math.max(1, Math.abs(w[k]!)));
        expect(d, ACTIVATION_NAMES[i]).toBeLessThanOrEqual(2e-6);
      });
    } finally {
      prog.dispose();
    }
  });

  it.skipIf(!hasPtxas)('all of them compile for the CUDA target (sm_80) to PTX that ptxas assembles', () => {
    const art = compile((t: Tensor): Tensor[] => ACTIVATION_NAMES.map((n) => getActivation(n)(t)), { target: 'cuda', sm: 80, inputShapes: [[3, 23]] });
    const r = assemblePtx(new TextDecoder().decode(readArtifact(art.bytes).sections['ptx']), 80);
    expect(r.ok, r.log).toBe(true);
  });

  // tfjs-layers' spellings of the names Kiln and tfjs-layers share (exponential is Kiln's and Keras's only).
  const onDense: ActivationName[] = ['gelu', 'gelu_new', 'swish', 'mish', 'selu', 'softplus', 'softsign', 'hardSigmoid', 'relu6', 'elu', 'logSoftmax'];
  for (const name of onDense) {
    it(`Dense with activation '${name}' matches tfjs-layers' Dense`, () => {
      const k = dense({ units: 7, activation: name });
      const t = tfl.layers.dense({ units: 7, activation: name as 'relu' });
      const xin = randomTensor([4, 5], 9, -2, 2);
      k.apply(xin);
      k.setWeights(k.weights.map((w, i) => randomTensor(w.value.shape, 20 + i, -1.5, 1.5)));
      t.apply(toTf(xin));
      copyWeights(k, t);
      expect(maxAbsDiff(k.apply(xin), t.apply(toTf(xin)) as tf.Tensor)).toBeLessThanOrEqual(1e-5);
    });
  }

  it("Keras spellings normalize to tfjs-layers' names; unknown names are refused with the closest", () => {
    // Keras JSON is camel-cased on load (gelu_new -> geluNew, hard_sigmoid -> hardSigmoid): both spellings load.
    expect(activationName('hard_sigmoid')).toBe('hardSigmoid');
    expect(activationName('log_softmax')).toBe('logSoftmax');
    expect(activationName('geluNew')).toBe('gelu_new');
    expect(activationName('silu')).toBe('swish');
    for (const k3 of ['leaky_relu', 'leakyRelu']) expect(activationName(k3)).toBe('leakyRelu');
    for (const k3 of ['hard_silu', 'hardSilu', 'hard_swish', 'hardSwish']) expect(activationName(k3)).toBe('hardSilu');
    expect(activationName('log_sigmoid')).toBe('logSigmoid');
    expect(activationName(null)).toBe('linear');
    expect(() => activationName('gleu', 'Dense \'d\'')).toThrow("Dense 'd': unknown activation 'gleu' (did you mean 'gelu'?)");
    expect(() => dense({ units: 2, activation: 'swishh' as never, name: 'd2' })).toThrow("unknown activation 'swishh' (did you mean 'swish'?)");
  });

  it('docs/import-export.md lists every activation name and alias', () => {
    const doc = readFileSync(join(__dirname, '../../docs/import-export.md'), 'utf8');
    const section = doc.slice(doc.indexOf('Activation names'));
    expect(section.length).toBeGreaterThan(0);
    for (const name of [...ACTIVATION_NAMES, 'hard_sigmoid', 'log_softmax', 'geluNew', 'silu', 'leaky_relu', 'hard_silu', 'hard_swish', 'log_sigmoid']) expect(section, name).toContain(`\`${name}\``);
  });
});
