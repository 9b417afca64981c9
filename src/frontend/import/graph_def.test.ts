/**
 * Decoding a GraphDef's attributes: inline tensors (typed value lists, splats, base64
 * tensorContent), attribute kinds and defaults, and errors naming the node and attribute.
 * (Weights are decoded by src/frontend/io/weights.ts, tested there against tf.io.decodeWeights.)
 */
import { describe, expect, it } from 'vitest';
import { decodeTensorJson, NodeAttrs } from './graph_def.js';

const base64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));

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
