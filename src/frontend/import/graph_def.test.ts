/**
 * Decoding a GraphModel's parts: weights (float32, int32, float16, uint8/uint16 quantized with
 * min/scale) against tfjs-core's own io.decodeWeights on the same bytes, inline tensor
 * attributes (typed value lists, splats, base64 tensorContent) and attribute errors.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { describe, expect, it } from 'vitest';
import { randValues } from '../test_util.js';
import { decodeWeights, type WeightSpec } from './artifacts.js';
import { decodeTensorJson, NodeAttrs } from './graph_def.js';

const base64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));

describe('weights', () => {
  it('decode like tf.io.decodeWeights, quantized and float16 included', () => {
    const specs: WeightSpec[] = [
      { name: 'f32', shape: [2, 3], dtype: 'float32' },
      { name: 'i32', shape: [4], dtype: 'int32' },
      { name: 'f16', shape: [5], dtype: 'float32', quantization: { dtype: 'float16', original_dtype: 'float32' } },
      { name: 'u8', shape: [6], dtype: 'float32', quantization: { dtype: 'uint8', min: -1.25, scale: 0.01, original_dtype: 'float32' } },
      { name: 'u16', shape: [3], dtype: 'float32', quantization: { dtype: 'uint16', min: 0.5, scale: 0.001 } },
    ];
    const sizes = [24, 16, 10, 6, 6];
    const bytes = new Uint8Array(sizes.reduce((a, b) => a + b, 0));
    randValues(bytes.length, 3, 0, 256, true).forEach((v, i) => { bytes[i] = v; });
    // Keep the float16 values finite and the float32 ones sane: write them explicitly.
    new DataView(bytes.buffer).setFloat32(0, 1.5, true);
    [0x3c00, 0xc000, 0x0001, 0x7bff, 0x8400].forEach((h, i) => new DataView(bytes.buffer).setUint16(40 + 2 * i, h, true));
    const ours = decodeWeights(specs, bytes, 'test');
    const theirs = tf.io.decodeWeights(bytes.buffer, specs as tf.io.WeightsManifestEntry[]);
    for (const s of specs) {
      const w = ours.get(s.name)!;
      expect(w.shape).toEqual(s.shape);
      const want = Array.from(theirs[s.name]!.dataSync());
      Array.from(w.data).forEach((v, i) => expect(v, `${s.name}[${i}]`).toBeCloseTo(want[i]!, 6));
    }
    expect(() => decodeWeights([{ name: 'big', shape: [100], dtype: 'float32' }], bytes, 'model.json')).toThrow(
      "loadGraphModel: weight 'big' [100] float32 needs bytes 0..400 but the weight files of model.json hold 62");
  });
});

describe('inline tensors and attributes', () => {
  it('typed value lists, splats and tensorContent', () => {
    expect(decodeTensorJson({ dtype: 'DT_INT32', tensorShape: { dim: [{ size: '3' }] }, intVal: [4, '-2', 7] }, 'w')).toEqual({ dtype: 'i32', shape: [3], values: [4, -2, 7] });
    expect(decodeTensorJson({ dtype: 'DT_FLOAT', tensorShape: { dim: [{ size: '2' }, { size: '2' }] }, floatVal: [0.5] }, 'w').values).toEqual([0.5, 0.5, 0.5, 0.5]);
    expect(decodeTensorJson({ dtype: 'DT_FLOAT', tensorShape: {} }, 'w')).toEqual({ dtype: 'f32', shape: [], values: [0] });
    const f = Float32Array.from([1.5, -2.25, 3]);
    expect(decodeTensorJson({ dtype: 'DT_FLOAT', tensorShape: { dim: [{ size: 3 }] }, tensorContent: base64(new Uint8Array(f.buffer)) }, 'w').values).toEqual([1.5, -2.25, 3]);
    const l = BigInt64Array.from([5n, -6n]);
    expect(decodeTensorJson({ dtype: 'DT_INT64', tensorShape: { dim: [{ size: 2 }] }, tensorContent: base64(new Uint8Array(l.buffer)) }, 'w').values).toEqual([5, -6]);
    expect(() => decodeTensorJson({ dtype: 'DT_STRING', stringVal: ['a'] }, "node 'c'")).toThrow(/node 'c': TensorFlow dtype "DT_STRING" is not supported/);
  });
  it('attribute kinds, defaults and errors name the node and attribute', () => {
    const a = new NodeAttrs({
      name: 'conv', op: 'Conv2D',
      attr: { padding: { s: btoa('SAME') }, strides: { list: { i: ['1', '2', '2', '1'] } }, T: { type: 'DT_FLOAT' }, eps: { f: 0.5 }, flag: {}, n: { i: '3' } },
    });
    expect([a.string('padding'), a.ints('strides'), a.dtype('T'), a.float('eps'), a.bool('flag'), a.int('n')]).toEqual(['SAME', [1, 2, 2, 1], 'f32', 0.5, false, 3]);
    expect(a.int('missing', 7)).toBe(7);
    expect(() => a.int('missing')).toThrow("node 'conv' (Conv2D): attribute 'missing' is missing");
    expect(() => a.int('padding')).toThrow(`node 'conv' (Conv2D): attribute 'padding' should hold 'i', got {"s":"U0FNRQ=="}`);
  });
});
