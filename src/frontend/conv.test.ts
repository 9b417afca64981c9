import { beforeAll, describe, expect, it } from 'vitest';
import * as k from './index.js';
import { checkBoth, expectClose, rand, tf, toTf, useCpu } from './test_util.js';

beforeAll(useCpu);

type Pad = 'same' | 'valid';
const paddings: Pad[] = ['same', 'valid'];

describe('conv2d agrees with tf.conv2d', () => {
  const x = rand([2, 7, 6, 3], 1);
  const w = rand([3, 2, 3, 4], 2);
  for (const pad of paddings) {
    for (const stride of [1, 2]) {
      it(`${pad}, stride ${stride}`, () => {
        checkBoth((a, b) => k.conv2d(a!, b!, stride, pad), [x, w], tf.conv2d(toTf(x) as tf.Tensor4D, toTf(w) as tf.Tensor4D, stride, pad), 1e-5, `conv ${pad} ${stride}`);
      });
    }
    it(`${pad}, dilation 2 and non-square strides`, () => {
      checkBoth((a, b) => k.conv2d(a!, b!, 1, pad, 2), [x, w],
        tf.conv2d(toTf(x) as tf.Tensor4D, toTf(w) as tf.Tensor4D, 1, pad, 'NHWC', 2), 1e-5, `conv ${pad} dil`);
      checkBoth((a, b) => k.conv2d(a!, b!, [2, 1], pad), [x, w],
        tf.conv2d(toTf(x) as tf.Tensor4D, toTf(w) as tf.Tensor4D, [2, 1], pad), 1e-5, `conv ${pad} [2,1]`);
    });
  }
  it('explicit padding, both spellings', () => {
    const ref = tf.conv2d(toTf(x) as tf.Tensor4D, toTf(w) as tf.Tensor4D, 2, [[0, 0], [1, 2], [0, 1], [0, 0]]);
    expectClose(k.conv2d(x, w, 2, [[1, 2], [0, 1]]), ref, 1e-5);
    expectClose(k.conv2d(x, w, 2, [[0, 0], [1, 2], [0, 1], [0, 0]]), ref, 1e-5);
  });
  it('accepts an unbatched HWC input', () => {
    const x3 = rand([5, 5, 3], 3);
    expectClose(k.conv2d(x3, w, 1, 'same'), tf.conv2d(toTf(x3) as tf.Tensor3D, toTf(w) as tf.Tensor4D, 1, 'same'), 1e-5);
  });
  it('errors name shapes', () => {
    expect(() => k.conv2d(x, rand([3, 3, 2, 4]))).toThrow(
      "conv2d: input channels (3) differ from the filter's in-channels (dim 2 = 2): x f32[2,7,6,3] and filter f32[3,3,2,4]");
    expect(() => k.conv2d(rand([7, 6]), w)).toThrow(/conv2d: x must be NHWC \(rank 4\) or HWC \(rank 3\), got f32\[7,6\]/);
    expect(() => k.conv2d(x, w, 1, 'full' as 'same')).toThrow(/conv2d: padding must be 'same', 'valid' or/);
    expect(() => k.conv2d(rand([1, 2, 2, 3]), w, 1, 'valid')).toThrow(/conv2d: the filter window \(3 after dilation\) is larger than the padded input along height/);
  });
});

describe('depthwiseConv2d agrees with tf.depthwiseConv2d', () => {
  const x = rand([2, 6, 7, 3], 4);
  const w = rand([3, 3, 3, 2], 5);
  for (const pad of paddings) {
    for (const stride of [1, 2]) {
      it(`${pad}, stride ${stride}, multiplier 2`, () => {
        checkBoth((a, b) => k.depthwiseConv2d(a!, b!, stride, pad), [x, w],
          tf.depthwiseConv2d(toTf(x) as tf.Tensor4D, toTf(w) as tf.Tensor4D, stride, pad), 1e-5, `dw ${pad} ${stride}`);
      });
    }
    it(`${pad}, dilation 2`, () => {
      checkBoth((a, b) => k.depthwiseConv2d(a!, b!, 1, pad, 2), [x, w],
        tf.depthwiseConv2d(toTf(x) as tf.Tensor4D, toTf(w) as tf.Tensor4D, 1, pad, 'NHWC', 2), 1e-5, `dw ${pad} dil`);
    });
  }
  it('lowers to one grouped conv', () => {
    const f = k.fn((a: k.Tensor, b: k.Tensor) => k.depthwiseConv2d(a, b, 1, 'same'));
    const conv = f.ir(x, w).body.find((v) => v.op === 'conv')!;
    expect(conv.attrs['groups']).toBe(3);
    expect(conv.inputs[1]!.type.shape).toEqual([3, 3, 1, 6]);
  });
});

describe('pooling agrees with tf', () => {
  const x = rand([2, 7, 6, 3], 6);
  for (const pad of paddings) {
    for (const stride of [1, 2]) {
      it(`maxPool and avgPool, ${pad}, stride ${stride}`, () => {
        checkBoth((a) => k.maxPool(a!, 3, stride, pad), [x], tf.maxPool(toTf(x) as tf.Tensor4D, 3, stride, pad), 1e-6, `max ${pad} ${stride}`);
        checkBoth((a) => k.avgPool(a!, 3, stride, pad), [x], tf.avgPool(toTf(x) as tf.Tensor4D, 3, stride, pad), 1e-5, `avg ${pad} ${stride}`);
        checkBoth((a) => k.avgPool(a!, [2, 3], stride, pad), [x], tf.avgPool(toTf(x) as tf.Tensor4D, [2, 3], stride, pad), 1e-5, `avg2x3 ${pad} ${stride}`);
      });
    }
  }
  it('strides default to the pool size', () => {
    expectClose(k.maxPool(x, 2), tf.maxPool(toTf(x) as tf.Tensor4D, 2, 2, 'valid'), 0);
  });
  it('avgPool same divides by the unpadded count (corner of all ones is 1)', () => {
    const y = k.avgPool(k.ones([1, 3, 3, 1]), 3, 1, 'same');
    expect(Array.from(y.dataSync())).toEqual(new Array(9).fill(1));
  });
  it('maxPool ignores padding even when all values are negative', () => {
    const neg = k.fill([1, 2, 2, 1], -5);
    expect(Array.from(k.maxPool(neg, 3, 1, 'same').dataSync())).toEqual([-5, -5, -5, -5]);
  });
});

describe('conv2dTranspose agrees with tf.conv2dTranspose', () => {
  const x = rand([2, 3, 4, 3], 5);
  const w = rand([3, 2, 4, 3], 6);
  for (const [pad, stride, out] of [['same', 2, [6, 8]], ['valid', 2, [7, 8]], ['valid', 1, [5, 5]], ['same', [3, 1], [9, 4]]] as const) {
    it(`${pad}, strides ${JSON.stringify(stride)}`, () => {
      const shape: [number, number, number, number] = [2, out[0], out[1], 4];
      checkBoth((a, b) => k.conv2dTranspose(a!, b!, shape, stride, pad), [x, w],
        tf.conv2dTranspose(toTf(x) as tf.Tensor4D, toTf(w) as tf.Tensor4D, shape, stride as number, pad), 1e-5, `convT ${pad} ${stride}`);
    });
  }
  it('refuses an outputShape the forward conv does not map to x, naming both', () => {
    expect(() => k.conv2dTranspose(x, w, [2, 9, 8, 4], 2, 'same')).toThrow(/conv2dTranspose: a conv2d from outputShape \[2,9,8,4\] .* gives 5 along height, not x's 3/);
    expect(() => k.conv2dTranspose(x, w, [2, 6, 8, 3], 2, 'same')).toThrow(/conv2dTranspose: outputShape must be \[2, height, width, 4\]/);
  });
});
