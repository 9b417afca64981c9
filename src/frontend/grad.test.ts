import { describe, expect, it } from 'vitest';
// tfjs-core's node build registers no gradient functions; tfjs-layers' bundle registers them in
// the registry tfjs-core shares through its global, which tf.grads needs.
import '@tensorflow/tfjs-layers';
import { interpret } from '../ir/interpreter.js';
import { verify } from '../ir/verify.js';
import { optimize } from '../passes/pipeline.js';
import { logSoftmax, relu } from './activations.js';
import { conv2d, maxPool } from './conv.js';
import { add, mul, sub, tanh, square } from './elementwise.js';
import { grad, gradIR, valueAndGrad } from './grad.js';
import { matmul } from './linalg.js';
import { reshape } from './manipulation.js';
import { mean, sum } from './reduction.js';
import { Tensor } from './tensor.js';
import { expectClose, rand, tf, toTf, useCpu } from './test_util.js';
import { fn } from './tracing.js';
import { variable } from './variable.js';
import { tensorType } from '../ir/types.js';

useCpu();

const softmaxCrossEntropy = (logits: Tensor, labels: Tensor): Tensor => mean(mul(sum(mul(labels, logSoftmax(logits)), -1), -1));
const tfSoftmaxCrossEntropy = (logits: tf.Tensor, labels: tf.Tensor): tf.Tensor => tf.mean(tf.mul(tf.sum(tf.mul(labels, tf.logSoftmax(logits)), -1), -1));

function oneHot(n: number, depth: number, seed: number): Tensor {
  const vals: number[] = [];
  for (let i = 0; i < n; i++) for (let j = 0; j < depth; j++) vals.push(j === (i * 7 + seed) % depth ? 1 : 0);
  return Tensor.concrete({ type: tensorType([n, depth], 'f32'), data: Float32Array.from(vals) });
}

describe('grad and valueAndGrad', () => {
  it('grad of a scalar function vs tf.grad, and argnums lists', () => {
    const f = (x: Tensor, y: Tensor) => sum(mul(tanh(x), y));
    const x = rand([3, 5], 1), y = rand([3, 5], 2);
    const [tx, ty] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.tanh(a), b)))([toTf(x), toTf(y)]);
    expectClose(grad(f)(x, y), tx!, 1e-5, 'dx');
    const both = grad(f, { argnums: [1, 0] })(x, y);
    expectClose(both[0]!, ty!, 1e-5, 'dy');
    expectClose(both[1]!, tx!, 1e-5, 'dx');
    const vg = valueAndGrad(f, { argnums: 1 })(x, y);
    expectClose(vg.value, tf.sum(tf.mul(tf.tanh(toTf(x)), toTf(y))), 1e-5, 'value');
    expectClose(vg.grads, ty!, 1e-5, 'dy');
  });

  it('softmax cross-entropy w.r.t. the logits vs tf.grads', () => {
    const logits = rand([5, 7], 3, -3, 3), labels = oneHot(5, 7, 1);
    const g = grad(softmaxCrossEntropy)(logits, labels);
    const [tg] = tf.grads((l: tf.Tensor) => tfSoftmaxCrossEntropy(l, toTf(labels)))([toTf(logits)]);
    expectClose(g, tg!, 1e-5, 'dlogits');
  });

  it('MLP loss w.r.t. its weights (variables) vs tf.grads', () => {
    const w1 = variable(rand([6, 9], 4, -0.5, 0.5), { name: 'w1' }), b1 = variable(rand([9], 5, -0.1, 0.1), { name: 'b1' });
    const w2 = variable(rand([9, 3], 6, -0.5, 0.5), { name: 'w2' }), b2 = variable(rand([3], 7, -0.1, 0.1), { name: 'b2' });
    const vars = [w1, b1, w2, b2];
    const loss = (x: Tensor, y: Tensor) => {
      const h = relu(add(matmul(x, w1.read()), b1.read()));
      return mean(square(sub(add(matmul(h, w2.read()), b2.read()), y)));
    };
    const x = rand([5, 6], 8), y = rand([5, 3], 9);
    const r = valueAndGrad(loss, { variables: vars })(x, y);
    expect(r.grads).toEqual([]);
    const tfLoss = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => {
      const h = tf.relu(tf.add(tf.matMul(toTf(x), a), b));
      return tf.mean(tf.square(tf.sub(tf.add(tf.matMul(h, c), d), toTf(y))));
    };
    const tg = tf.grads(tfLoss)(vars.map((v) => toTf(v.value)));
    expectClose(r.value, tfLoss(...(vars.map((v) => toTf(v.value)) as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor])), 1e-5, 'loss');
    vars.forEach((v, i) => expectClose(r.variableGrads[i]!, tg[i]!, 1e-4, `d${v.name}`));
  });

  it('small CNN (conv + bias + relu + maxpool + dense, softmax cross-entropy) w.r.t. all weights vs tf.grads', () => {
    const k = variable(rand([3, 3, 2, 4], 10, -0.5, 0.5), { name: 'k' }), kb = variable(rand([4], 11, -0.1, 0.1), { name: 'kb' });
    const wd = variable(rand([3 * 3 * 4, 5], 12, -0.3, 0.3), { name: 'wd' }), bd = variable(rand([5], 13, -0.1, 0.1), { name: 'bd' });
    const vars = [k, kb, wd, bd];
    const x = rand([2, 7, 7, 2], 14), labels = oneHot(2, 5, 3);
    const loss = (img: Tensor, lab: Tensor) => {
      const h = maxPool(relu(add(conv2d(img, k.read(), 1, 'same'), kb.read())), 2, 2, 'valid');
      return softmaxCrossEntropy(add(matmul(reshape(h, [2, 36]), wd.read()), bd.read()), lab);
    };
    const tfLoss = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => {
      const h = tf.maxPool(tf.relu(tf.add(tf.conv2d(toTf(x) as tf.Tensor4D, a as tf.Tensor4D, 1, 'same'), b)) as tf.Tensor4D, 2, 2, 'valid');
      return tfSoftmaxCrossEntropy(tf.add(tf.matMul(tf.reshape(h, [2, 36]), c), d), toTf(labels));
    };
    const r = valueAndGrad(loss, { variables: vars })(x, labels);
    const tg = tf.grads(tfLoss)(vars.map((v) => toTf(v.value)));
    vars.forEach((v, i) => expectClose(r.variableGrads[i]!, tg[i]!, 1e-4, `d${v.name}`));
    // Input gradient too (through conv's input rule), as an argument.
    const dx = valueAndGrad(loss, { argnums: [0], variables: vars })(x, labels).grads[0]!;
    const [tdx] = tf.grads((img: tf.Tensor) => {
      const h = tf.maxPool(tf.relu(tf.add(tf.conv2d(img as tf.Tensor4D, toTf(k.value) as tf.Tensor4D, 1, 'same'), toTf(kb.value))) as tf.Tensor4D, 2, 2, 'valid');
      return tfSoftmaxCrossEntropy(tf.add(tf.matMul(tf.reshape(h, [2, 36]), toTf(wd.value)), toTf(bd.value)), toTf(labels));
    })([toTf(x)]);
    expectClose(dx, tdx!, 1e-4, 'dx');
  });

  it('the gradient Func verifies and survives optimize() with identical results', () => {
    const w = variable(rand([4, 3], 15), { name: 'w' });
    const f = (x: Tensor) => mean(square(tanh(matmul(x, w.read()))));
    const ir = gradIR(f, [tensorType([5, 4], 'f32')], { variables: [w], argnums: [0] });
    verify(ir.func);
    expect(ir.func.params.length).toBe(2);
    expect(ir.func.resultNames).toEqual(['out0', 'grad_arg0', 'grad_w']);
    const inputs = [rand([5, 4], 16).literal!, w.value.literal!];
    const before = interpret(ir.func, inputs);
    const opt = optimize(ir.func);
    verify(opt);
    expect(opt.body.length).toBeLessThanOrEqual(ir.func.body.length);
    const after = interpret(opt, inputs);
    after.forEach((l, i) => expect(Array.from(l.data)).toEqual(Array.from(before[i]!.data)));
  });

  it('variables updated inside f are applied, and changed captured variables retrace', () => {
    const scale = variable(rand([3], 17), { name: 'scale' });
    const counter = variable(rand([3], 18), { name: 'counter' });
    const f = (x: Tensor) => {
      counter.assign(add(counter.read(), 1));
      return sum(mul(x, scale.read()));
    };
    const x = rand([3], 19);
    const vg = valueAndGrad(f, { argnums: [0], variables: [counter] });
    const c0 = Array.from(counter.value.dataSync());
    const r1 = vg(x);
    expectClose(r1.grads[0]!, scale.value, 0, 'd/dx = scale (captured)');
    expect(Array.from(counter.value.dataSync())).toEqual(c0.map((v) => Math.fround(v + 1)));
    expect(Array.from(r1.variableGrads[0]!.dataSync())).toEqual([0, 0, 0]);
    scale.assign(rand([3], 20));
    expectClose(vg(x).grads[0]!, scale.value, 0, 'after the captured variable changed');
  });

  it('inside a traced training step the gradient program is inlined', () => {
    const w = variable(rand([4, 2], 21, -0.5, 0.5), { name: 'w' });
    const loss = (x: Tensor, y: Tensor) => mean(square(sub(matmul(x, w.read()), y)));
    const step = fn((x: Tensor, y: Tensor) => {
      const { value, variableGrads } = valueAndGrad(loss, { variables: [w] })(x, y);
      w.assign(sub(w.read(), mul(variableGrads[0]!, 0.1)));
      return value;
    }, { variables: [w] });
    const x = rand([6, 4], 22), y = rand([6, 2], 23);
    const w0 = toTf(w.value);
    const [tg] = tf.grads((a: tf.Tensor) => tf.mean(tf.square(tf.sub(tf.matMul(toTf(x), a), toTf(y)))))([w0]);
    const l0 = step(x, y);
    expectClose(l0, tf.mean(tf.square(tf.sub(tf.matMul(toTf(x), w0), toTf(y)))), 1e-5, 'loss');
    expectClose(w.value, tf.sub(w0, tf.mul(tg!, 0.1)), 1e-5, 'updated weights');
    const l1 = step(x, y);
    expect(l1.item()).toBeLessThan(l0.item());
    expect(step.traceCount).toBe(1);
  });

  it('errors name the function and the offending argument', () => {
    const f = (x: Tensor) => sum(x);
    expect(() => grad(f)(rand([3], 1, 0, 5, 'i32'))).toThrow(/argument 0 is i32\[3\]; only floating-point/);
    expect(() => grad(f, { argnums: 2 })(rand([3], 1))).toThrow(/argnums entry 2 is out of range/);
    expect(() => grad(((x: Tensor) => [x, x]) as unknown as (x: Tensor) => Tensor)(rand([3], 1))).toThrow(/must return one Tensor/);
  });
});
