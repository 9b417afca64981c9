/**
 * AutoGraph on by default for a user layer's / subclassed model's `call` under a trace (as TF
 * converts Keras layers inside tf.function): a tensor `if` in a subclassed model's call fits and
 * predicts with no opt-in, equal to an eager tfjs-core loop that reads the condition on the host
 * (same weights, same batches, plain SGD); Kiln's own layers and calls without control flow never
 * reach the ts-morph transform (counted by autographRewrites); `static autograph = false` traces
 * `call` as written; what cannot be converted runs as written only when no condition may be a Tensor.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers'; // registers tfjs-core's gradients (tf.variableGrads)
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../../index.js';
import { autographRewrites } from '../../frontend/autograph/index.js';
import type { Tensor } from '../backend.js';
import { randomTensor, toTf, useCpuBackend } from '../test_util.js';

beforeAll(() => useCpuBackend());

/** Dense, then a branch on the sign of the batch's mean activation (a tensor condition). */
class Signed extends kiln.Model {
  dense = kiln.layers.dense({ units: 3 });
  override call(x: Tensor | Tensor[]): Tensor {
    const h = this.dense.apply(x) as Tensor;
    if (kiln.greater(kiln.mean(h), 0)) return kiln.mul(h, 2);
    return kiln.tanh(h);
  }
}

class SignedOff extends Signed {
  static override autograph = false;
}

function expectClose(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, label: string): void {
  expect(a.length, label).toBe(b.length);
  for (let i = 0; i < a.length; i++) if (!(Math.abs(a[i]! - b[i]!) <= tol * Math.max(1, Math.abs(b[i]!)))) expect.fail(`${label}[${i}]: ${a[i]} vs ${b[i]}`);
}

/** The oracle: the same network in tfjs-core, the condition read on the host. */
function tfForward(k: tf.Tensor, b: tf.Tensor, x: tf.Tensor, taken?: Set<string>): tf.Tensor {
  const h = tf.add(tf.matMul(x, k), b);
  const pos = tf.mean(h).dataSync()[0]! > 0;
  taken?.add(pos ? 'then' : 'else');
  return pos ? tf.mul(h, 2) : tf.tanh(h);
}

/** Four batches of 6 whose inputs push the mean activation both ways. */
function data(): { x: Tensor; y: Tensor } {
  const x = randomTensor([24, 4], 1, -1, 1).dataSync().slice();
  for (let r = 0; r < 24; r++) for (let c = 0; c < 4; c++) x[r * 4 + c] = x[r * 4 + c]! * 0.3 + (Math.floor(r / 6) % 2 === 0 ? 1.5 : -1.5);
  return { x: kiln.tensor(x, [24, 4]), y: randomTensor([24, 3], 2, -1, 1) };
}

describe('AutoGraph for a layer\'s call by default', () => {
  it('a subclassed model with a tensor `if` in call predicts and fits with no opt-in, equal to eager tfjs', async () => {
    const m = new Signed();
    m.build([null, 4]);
    m.setWeights([kiln.tensor([0.5, -0.3, 0.8, 0.2, 0.4, -0.6, -0.1, 0.7, 0.3, 0.6, -0.2, 0.5], [4, 3]), kiln.tensor([0.1, -0.2, 0.05], [3])]);
    const [k0, b0] = m.getWeights().map(toTf) as [tf.Tensor, tf.Tensor];
    const { x, y } = data();
    const taken = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const xb = kiln.tensor(x.dataSync().slice(i * 24, i * 24 + 24), [6, 4]);
      expectClose((m.predict(xb) as Tensor).dataSync(), tfForward(k0, b0, toTf(xb), taken).dataSync(), 1e-5, `predict batch ${i}`);
    }
    expect([...taken].sort()).toEqual(['else', 'then']);

    // Eager tfjs SGD over the same 4 batches, 2 epochs; the condition decides per batch.
    const kv = tf.variable(k0.clone()), bv = tf.variable(b0.clone());
    const tx = toTf(x), ty = toTf(y);
    const losses: number[] = [];
    for (let e = 0; e < 2; e++) {
      let sum = 0;
      for (let i = 0; i < 4; i++) {
        const xb = tf.slice(tx, [i * 6, 0], [6, 4]), yb = tf.slice(ty, [i * 6, 0], [6, 3]);
        const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(tf.sub(tfForward(kv, bv, xb), yb))) as tf.Scalar, [kv, bv]);
        sum += value.dataSync()[0]!;
        kv.assign(tf.sub(kv, tf.mul(grads[kv.name]!, 0.1)));
        bv.assign(tf.sub(bv, tf.mul(grads[bv.name]!, 0.1)));
      }
      losses.push(sum / 4);
    }
    m.compile({ optimizer: kiln.optimizers.sgd({ learningRate: 0.1 }), loss: 'meanSquaredError' });
    const h = await m.fit(x, y, { epochs: 2, batchSize: 6, shuffle: false, verbose: 0 });
    expectClose(h.history['loss']!.map(Number), losses, 1e-4, 'loss per epoch');
    expectClose(m.getWeights()[0]!.dataSync(), kv.dataSync(), 1e-4, 'kernel after fit');
  });

  it('Kiln\'s own layers and a custom call without control flow never reach the ts-morph transform', async () => {
    class Scale extends kiln.Layer {
      override call(v: Tensor | Tensor[]): Tensor {
        return kiln.mul(v as Tensor, 3);
      }
    }
    const before = autographRewrites();
    const m = kiln.sequential({
      layers: [
        kiln.layers.dense({ units: 5, inputShape: [4], activation: 'relu' }), new Scale(),
        kiln.layers.dropout({ rate: 0.2 }), kiln.layers.batchNormalization({}), kiln.layers.dense({ units: 2 }),
      ],
    });
    m.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
    await m.fit(randomTensor([8, 4], 3), randomTensor([8, 2], 4), { epochs: 1, batchSize: 4, verbose: 0 });
    m.predict(randomTensor([3, 4], 5));
    expect(autographRewrites()).toBe(before);
  });

  it('static autograph = false traces call as written (a Tensor condition is taken as true, as before)', () => {
    const m = new SignedOff();
    m.build([null, 4]);
    const before = autographRewrites();
    const { x } = data();
    const xb = kiln.tensor(x.dataSync().slice(24, 48), [6, 4]); // a batch whose mean activation is negative
    const [k0, b0] = m.getWeights().map(toTf) as [tf.Tensor, tf.Tensor];
    const h = tf.add(tf.matMul(toTf(xb), k0), b0);
    expectClose((m.predict(xb) as Tensor).dataSync(), tf.mul(h, 2).dataSync(), 1e-5, 'then branch always');
    expect(autographRewrites()).toBe(before);
  });

  it('a call that cannot be converted runs as written when its conditions are JS values, and is refused when one may be a Tensor', () => {
    class Base extends kiln.Layer {
      override call(v: Tensor | Tensor[]): Tensor {
        return kiln.add(v as Tensor, 1);
      }
    }
    class JsCond extends Base {
      override call(v: Tensor | Tensor[], args: kiln.CallArgs = {}): Tensor {
        const y = super.call(v); // super: the transform refuses this method
        if (args.training === true) return kiln.mul(y, 5);
        return kiln.neg(y);
      }
    }
    const x = randomTensor([2, 3], 6);
    const f = kiln.fn((t: Tensor) => new JsCond().apply(t) as Tensor);
    expectClose(f(x).dataSync(), tf.neg(tf.add(toTf(x), 1)).dataSync(), 1e-6, 'unconverted call');
    class TensorCond extends Base {
      override call(v: Tensor | Tensor[], args: kiln.CallArgs = {}): Tensor {
        const y = super.call(v);
        if (kiln.greater(kiln.sum(y), 0)) return y;
        return kiln.neg(y);
      }
    }
    expect(() => kiln.fn((t: Tensor) => new TensorCond().apply(t) as Tensor)(x)).toThrow(/AutoGraph cannot convert 'TensorCond '.*': it uses `super`/);
  });

  it('a tensor condition over a name AutoGraph cannot resolve is refused, naming it and static autograph', () => {
    const helper = (t: Tensor): Tensor => kiln.greater(kiln.max(t), 0);
    class Gate extends kiln.Layer {
      override call(v: Tensor | Tensor[]): Tensor {
        if (helper(v as Tensor)) return kiln.relu(v as Tensor);
        return v as Tensor;
      }
    }
    expect(() => kiln.fn((t: Tensor) => new Gate().apply(t) as Tensor)(randomTensor([2], 7))).toThrow(/names are neither in scope nor globals: helper \(line 2.*static autograph = \{scope: \{\.\.\.\}\}/s);
  });
});
