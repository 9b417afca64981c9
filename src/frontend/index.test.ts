import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from 'kiln';
import { interpret } from '../ir/interpreter.js';
import { expectClose, rand, tf, toTf, useCpu } from './test_util.js';

beforeAll(useCpu);

describe("the public API through 'kiln'", () => {
  it('exports tensors, ops, fn, variables and the ops namespace', () => {
    for (const name of ['tensor', 'scalar', 'zeros', 'add', 'matmul', 'conv2d', 'softmax', 'fn', 'trace', 'variable', 'Variable', 'Tensor', 'emit', 'runFunc']) {
      expect(kiln, name).toHaveProperty(name);
    }
    expect(typeof kiln.ops.add).toBe('function');
    expect(kiln.ops.relu).toBe(kiln.relu);
  });

  it('a dense layer: inference captures weights, training binds them', () => {
    const kernel = kiln.variable(rand([4, 3], 1), { name: 'dense/kernel' });
    const bias = kiln.variable(rand([3], 2), { name: 'dense/bias' });
    const dense = (x: kiln.Tensor) => kiln.relu(kiln.add(kiln.matmul(x, kernel.read()), bias.read()));
    const x = rand([5, 4], 3);
    const ref = tf.relu(tf.add(tf.matMul(toTf(x), toTf(kernel.value)), toTf(bias.value)));

    expectClose(dense(x), ref);
    const predict = kiln.fn(dense);
    expectClose(predict(x), ref);
    expect(predict.ir(x).params.length).toBe(1);

    const bound = kiln.trace(dense, [x.type], { variables: [kernel, bias] });
    expect(bound.func.params.map((p) => p.name)).toEqual(['arg0', 'dense/kernel', 'dense/bias']);
    const [y] = interpret(bound.func, [x.literal!, kernel.value.literal!, bias.value.literal!]);
    expectClose(kiln.Tensor.concrete(y!), ref);
  });

  it('an SGD step through fn with bound variables matches a hand-computed update', () => {
    const w = kiln.variable(kiln.tensor([1, -1]), { name: 'w' });
    const lr = 0.1;
    // For loss = sum(w * x), d loss / d w = x; the step is written out by hand here.
    const step = kiln.fn((x: kiln.Tensor) => {
      const loss = kiln.sum(kiln.mul(w.read(), x));
      w.assign(kiln.sub(w.read(), kiln.mul(x, lr)));
      return { loss };
    }, { variables: [w] });
    const x = kiln.tensor([2, 3]);
    expect(step(x).loss.item()).toBeCloseTo(2 - 3, 6);
    expect(Array.from(w.value.dataSync()).map((v) => +v.toFixed(5))).toEqual([0.8, -1.3]);
    expect(step(x).loss.item()).toBeCloseTo(0.8 * 2 - 1.3 * 3, 5);
    expect(step.traceCount).toBe(1);
  });
});
