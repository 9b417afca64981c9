/**
 * NaN propagation (issue 12): every activation gives NaN for a NaN input, as TensorFlow's do
 * (relu(NaN) was 0, hiding NaN inputs). Oracle: tfjs-core on the CPU backend, element by element
 * (NaN must match NaN), on the interpreter (eager) and compiled to WebAssembly (the artifact run
 * by the runtime), with inputs long enough for SIMD lanes and a scalar tail; and inside a dense
 * layer, where relu is fused into the matmul's epilogue.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { compile } from '../compile.js';
import { literal } from '../ir/literal.js';
import { load } from '../runtime/index.js';
import * as k from './index.js';
import { Tensor } from './tensor.js';
import { tf, toTf, useCpu } from './test_util.js';
import { sequential } from '../keras/engine/sequential.js';
import { dense } from '../keras/layers/dense.js';

beforeAll(useCpu);

const VALUES = [NaN, -1.5, 0, 2.25, -Infinity, Infinity, -0.25, NaN, 7, -8, NaN];
const x = Tensor.concrete(literal([VALUES.length], 'f32', VALUES));

const cases: [string, (t: Tensor) => Tensor, (t: tf.Tensor) => tf.Tensor][] = [
  ['relu', k.relu, tf.relu], ['relu6', k.relu6, tf.relu6], ['elu', k.elu, tf.elu], ['selu', k.selu, tf.selu],
  ['leakyRelu', (t) => k.leakyRelu(t, 0.2), (t) => tf.leakyRelu(t, 0.2)], ['softplus', k.softplus, tf.softplus],
  ['softsign', k.softsign, (t) => tf.div(t, tf.add(tf.abs(t), 1))], ['sigmoid', k.sigmoid, tf.sigmoid], ['tanh', k.tanh, tf.tanh],
  ['gelu', (t) => k.gelu(t), (t) => tf.mul(tf.mul(t, 0.5), tf.add(1, tf.erf(tf.mul(t, Math.SQRT1_2))))],
  ['prelu', (t) => k.prelu(t, k.scalar(0.1)), (t) => tf.prelu(t, tf.scalar(0.1))],
];

/** tfjs's values; NaN where tfjs gives NaN. */
function oracle(f: (t: tf.Tensor) => tf.Tensor): number[] {
  return Array.from(f(toTf(x)).dataSync());
}

function expectSame(label: string, got: ArrayLike<number>, want: readonly number[]): void {
  expect(got.length).toBe(want.length);
  want.forEach((w, i) => {
    const g = Number(got[i]);
    if (Number.isNaN(w)) expect(Number.isNaN(g), `${label} [${i}] input ${VALUES[i]}: got ${g}, tfjs NaN`).toBe(true);
    else expect(Math.abs(g - w) <= 1e-5 * (1 + Math.abs(w)) || g === w, `${label} [${i}] input ${VALUES[i]}: got ${g}, tfjs ${w}`).toBe(true);
  });
}

describe('activations propagate NaN as tfjs-core does', () => {
  for (const [name, kf, tff] of cases) {
    it(`${name}: interpreted and compiled`, async () => {
      const want = oracle(tff);
      expect(want.filter(Number.isNaN).length, 'the oracle keeps the NaNs').toBeGreaterThanOrEqual(3);
      expectSame(`${name} interpreted`, kf(x).dataSync(), want);
      const art = compile((t: Tensor) => kf(t), { inputShapes: [[VALUES.length]], name });
      const prog = await load(art.bytes, { threads: 1 });
      const out = prog.runSync({ [prog.inputs[0]!.name]: Float32Array.from(VALUES) });
      expectSame(`${name} compiled`, out[prog.outputs[0]!.name]!, want);
      prog.dispose();
    });
  }

  it('relu fused into a dense layer\'s epilogue passes NaN through (predict, compiled)', () => {
    const m = sequential({ layers: [dense({ units: 8, inputShape: [4], activation: 'relu' })] });
    const xs = Float32Array.from({ length: 16 }, (_, i) => (i === 5 ? NaN : (i % 7) - 3));
    const got = m.predict(Tensor.concrete(literal([4, 4], 'f32', xs))) as Tensor;
    const [w, b] = m.getWeights().map(toTf);
    const want = tf.relu(tf.add(tf.matMul(tf.tensor(xs, [4, 4]), w!), b!)).dataSync();
    const g = got.dataSync();
    for (let i = 0; i < want.length; i++) {
      if (Number.isNaN(want[i]!)) expect(Number.isNaN(g[i]!), `element ${i}`).toBe(true);
      else expect(g[i]!).toBeCloseTo(want[i]!, 5);
    }
    // Row 1 holds the NaN input: all its outputs are NaN.
    expect(Array.from(g.subarray(8, 16)).every(Number.isNaN)).toBe(true);
  });

  it('the gradient of relu is still 0 at exactly 0', () => {
    const g = k.grad((t: Tensor) => k.sum(k.relu(t)))(Tensor.concrete(literal([3], 'f32', [-1, 0, 2])));
    expect(Array.from(g.dataSync())).toEqual([0, 0, 1]);
  });
});
