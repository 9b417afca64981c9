/**
 * Each GraphModel op translation against tfjs-converter: a small GraphDef is written by hand,
 * given (with the same weights) to kiln.loadGraphModel and to tfjs-converter's loadGraphModel on
 * tfjs-backend-cpu, and the outputs compared. Where tfjs-converter lacks the op or fused form
 * (SpaceToDepth, _FusedConv2D with FusedBatchNorm), tfjs-core ops written out are the oracle.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfconv from '@tensorflow/tfjs-converter';
import { beforeAll, describe, expect, it } from 'vitest';
import type { DType } from '../../ir/dtype.js';
import { tensorType } from '../../ir/types.js';
import { tensor } from '../creation.js';
import type { Tensor } from '../tensor.js';
import { trace } from '../tracing.js';
import { expectClose, randValues } from '../test_util.js';
import type { AttrValueJson, NodeDefJson } from './graph_def.js';
import type { ModelArtifacts } from '../io/formats.js';
import { loadGraphModel } from './graph_model.js';

const TF_TYPES: Record<string, string> = { float32: 'DT_FLOAT', int32: 'DT_INT32', bool: 'DT_BOOL' };
const b64 = (s: string) => btoa(s);
const A = {
  i: (v: number): AttrValueJson => ({ i: String(v) }),
  f: (v: number): AttrValueJson => ({ f: v }),
  b: (v: boolean): AttrValueJson => ({ b: v }),
  s: (v: string): AttrValueJson => ({ s: b64(v) }),
  ints: (v: number[]): AttrValueJson => ({ list: { i: v.map(String) } }),
  strs: (v: string[]): AttrValueJson => ({ list: { s: v.map(b64) } }),
  type: (t: string): AttrValueJson => ({ type: TF_TYPES[t] ?? t }),
};

interface ConstSpec { name: string; values: number[]; shape: number[]; dtype?: 'float32' | 'int32' }

/** A graph with one Placeholder 'x', the given Consts (as manifest weights) and op nodes. */
class G {
  nodes: NodeDefJson[] = [];
  consts: ConstSpec[] = [];
  constructor(readonly xShape: number[], readonly xDtype: 'float32' | 'int32' = 'float32') {
    this.nodes.push({ name: 'x', op: 'Placeholder', attr: { dtype: A.type(xDtype), shape: { shape: { dim: xShape.map((d) => ({ size: String(d) })) } } } });
  }
  c(name: string, values: number[], shape: number[], dtype: 'float32' | 'int32' = 'float32'): string {
    this.consts.push({ name, values, shape, dtype });
    this.nodes.push({ name, op: 'Const', attr: { dtype: A.type(dtype) } });
    return name;
  }
  /** A random float weight. */
  w(name: string, shape: number[], seed: number): string {
    return this.c(name, randValues(shape.reduce((p, d) => p * d, 1), seed, -1, 1), shape);
  }
  op(name: string, op: string, input: string[], attr: Record<string, AttrValueJson> = {}): string {
    this.nodes.push({ name, op, input, attr: { T: A.type('float32'), ...attr } });
    return name;
  }
  artifacts(): ModelArtifacts & tf.io.ModelArtifacts {
    const parts = this.consts.map((c) => (c.dtype === 'int32' ? new Uint8Array(Int32Array.from(c.values).buffer) : new Uint8Array(Float32Array.from(c.values).buffer)));
    const all = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
    parts.reduce((at, p) => (all.set(p, at), at + p.byteLength), 0);
    return {
      format: 'graph-model',
      modelTopology: { node: this.nodes, versions: { producer: 1 } },
      weightSpecs: this.consts.map((c) => ({ name: c.name, shape: c.shape, dtype: c.dtype ?? 'float32' })),
      weightData: all.buffer,
    };
  }
  xData(seed = 1): number[] {
    const n = this.xShape.reduce((p, d) => p * d, 1);
    return this.xDtype === 'int32' ? randValues(n, seed, 0, 10, true) : randValues(n, seed, -2, 2);
  }
}

const kilnDType = (d: string): DType => (d === 'int32' ? 'i32' : 'f32');

/** Run `outputs` of g in Kiln (interpreter) and in tfjs-converter (or `oracle`), compare. */
async function check(g: G, outputs: string[], tol = 1e-5, oracle?: (x: tf.Tensor) => tf.Tensor[]): Promise<void> {
  const data = g.xData();
  const gm = await loadGraphModel(g.artifacts(), { outputs });
  gm.runEagerly = true;
  const got = gm.execute(tensor(data, g.xShape, kilnDType(g.xDtype)));
  const x = tf.tensor(data, g.xShape, g.xDtype);
  let want: tf.Tensor[];
  if (oracle) want = oracle(x);
  else {
    const ref = await tfconv.loadGraphModel(tf.io.fromMemory(g.artifacts()));
    const out = ref.execute({ x }, outputs);
    want = Array.isArray(out) ? out : [out];
  }
  expect(got.length).toBe(want.length);
  got.forEach((t, i) => expectClose(t, want[i]!, tol, outputs[i]));
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('convolution and pooling', () => {
  for (const padding of ['SAME', 'VALID', 'EXPLICIT']) {
    it(`Conv2D ${padding}, strides and dilations`, async () => {
      const g = new G([1, 7, 6, 3]);
      const w = g.w('w', [3, 2, 3, 4], 2);
      const pad: Record<string, AttrValueJson> = padding === 'EXPLICIT' ? { explicit_paddings: A.ints([0, 0, 1, 2, 0, 1, 0, 0]) } : {};
      g.op('y', 'Conv2D', ['x', w], { strides: A.ints([1, 2, 1, 1]), padding: A.s(padding), dilations: A.ints([1, 1, 1, 1]), data_format: A.s('NHWC'), ...pad });
      g.op('z', 'Conv2D', ['x', w], { strides: A.ints([1, 1, 1, 1]), padding: A.s(padding), dilations: A.ints([1, 2, 1, 1]), ...pad });
      await check(g, ['y', 'z']);
    });
  }
  it('DepthwiseConv2dNative and FusedDepthwiseConv2dNative [BiasAdd, Relu6]', async () => {
    const g = new G([1, 6, 6, 3]);
    const w = g.w('w', [3, 3, 3, 2], 3), bias = g.w('bias', [6], 4);
    const dilations = A.ints([1, 1, 1, 1]); // tfjs-converter reads it unconditionally
    g.op('y', 'DepthwiseConv2dNative', ['x', w], { strides: A.ints([1, 2, 2, 1]), padding: A.s('SAME'), dilations });
    g.op('z', 'FusedDepthwiseConv2dNative', ['x', w, bias], {
      strides: A.ints([1, 1, 1, 1]), padding: A.s('VALID'), dilations, fused_ops: A.strs(['BiasAdd', 'Relu6']), num_args: A.i(1),
    });
    await check(g, ['y', 'z']);
  });
  for (const act of [[], ['Relu'], ['Relu6'], ['Elu'], ['LeakyRelu'], ['Prelu'], ['Sigmoid']]) {
    it(`_FusedConv2D [BiasAdd${act.map((a) => `, ${a}`).join('')}]`, async () => {
      const g = new G([1, 5, 5, 3]);
      const w = g.w('w', [3, 3, 3, 4], 5), bias = g.w('bias', [4], 6);
      const extra = act[0] === 'Prelu' ? [g.w('alpha', [4], 7)] : [];
      g.op('y', '_FusedConv2D', ['x', w, bias, ...extra], {
        strides: A.ints([1, 1, 1, 1]), padding: A.s('SAME'), fused_ops: A.strs(['BiasAdd', ...act]), num_args: A.i(1 + extra.length),
        leakyrelu_alpha: A.f(0.3), epsilon: A.f(0),
      });
      await check(g, ['y']);
    });
  }
  it('_FusedConv2D [FusedBatchNorm, Relu] (TF semantics; tfjs lacks it)', async () => {
    const g = new G([1, 5, 5, 3]);
    const w = g.w('w', [1, 1, 3, 2], 8);
    const [scale, offset, mean] = [g.w('scale', [2], 9), g.w('offset', [2], 10), g.w('mean', [2], 11)];
    const variance = g.c('var', [0.5, 2], [2]);
    g.op('y', '_FusedConv2D', ['x', w, scale, offset, mean, variance], {
      strides: A.ints([1, 1, 1, 1]), padding: A.s('VALID'), fused_ops: A.strs(['FusedBatchNorm', 'Relu']), num_args: A.i(4), epsilon: A.f(0.001),
    });
    const c = (n: string) => { const s = g.consts.find((k) => k.name === n)!; return tf.tensor(s.values, s.shape); };
    await check(g, ['y'], 1e-5, (x) => [tf.relu(tf.batchNorm(tf.conv2d(x as tf.Tensor4D, c('w') as tf.Tensor4D, 1, 'valid'), c('mean'), c('var'), c('offset'), c('scale'), 0.001))]);
  });
  for (const padding of ['SAME', 'VALID']) {
    it(`MaxPool and AvgPool ${padding}`, async () => {
      const g = new G([2, 7, 6, 3]);
      const attrs = { ksize: A.ints([1, 3, 2, 1]), strides: A.ints([1, 2, 2, 1]), padding: A.s(padding) };
      g.op('m', 'MaxPool', ['x'], attrs);
      g.op('a', 'AvgPool', ['x'], attrs);
      await check(g, ['m', 'a']);
    });
  }
});

describe('matrices, normalization, activations', () => {
  it('MatMul (transpose_a) and _FusedMatMul [BiasAdd, Relu] (transpose_b)', async () => {
    const g = new G([4, 3]);
    const w = g.w('w', [4, 5], 12), w2 = g.w('w2', [6, 3], 13), bias = g.w('bias', [6], 14);
    g.op('y', 'MatMul', ['x', w], { transpose_a: A.b(true), transpose_b: A.b(false) });
    g.op('z', '_FusedMatMul', ['x', w2, bias], { transpose_a: A.b(false), transpose_b: A.b(true), fused_ops: A.strs(['BiasAdd', 'Relu']), num_args: A.i(1) });
    await check(g, ['y', 'z']);
  });
  it('FusedBatchNormV3, BiasAdd and the activations', async () => {
    const g = new G([2, 3, 4]);
    const [scale, offset, mean] = [g.w('scale', [4], 15), g.w('offset', [4], 16), g.w('mean', [4], 17)];
    const variance = g.c('var', [0.5, 1, 2, 3], [4]);
    g.op('bn', 'FusedBatchNormV3', ['x', scale, offset, mean, variance], { epsilon: A.f(0.01), is_training: A.b(false) });
    g.op('ba', 'BiasAdd', ['x', offset]);
    const alpha = g.w('alpha', [4], 18);
    const names = ['Relu', 'Relu6', 'Elu', 'Selu', 'Sigmoid', 'Tanh', 'Softmax'];
    for (const n of names) g.op(n, n, ['x']);
    g.op('leaky', 'LeakyRelu', ['x'], { alpha: A.f(0.15) });
    g.op('prelu', 'Prelu', ['x', alpha]);
    await check(g, ['bn', 'ba', ...names, 'leaky', 'prelu']);
  });
});

describe('elementwise and reductions', () => {
  it('binary and unary math', async () => {
    const g = new G([2, 3]);
    const y = g.w('y', [3], 19);
    const pos = g.c('pos', [0.5, 1.5, 3], [3]);
    const bin = ['Add', 'AddV2', 'Sub', 'Mul', 'RealDiv', 'Maximum', 'Minimum', 'SquaredDifference'];
    for (const n of bin) g.op(n, n, ['x', n === 'RealDiv' ? pos : y]);
    g.op('absx', 'Abs', ['x']);
    g.op('shift', 'AddV2', ['absx', pos]);
    const un = ['Rsqrt', 'Sqrt', 'Square', 'Exp', 'Reciprocal', 'Neg', 'Log'];
    for (const n of un) g.op(n, n, [n === 'Square' || n === 'Exp' || n === 'Neg' ? 'x' : 'shift']);
    await check(g, [...bin, ...un]);
  });
  it('more unary and binary math, AddN, ClipByValue, comparisons and logic', async () => {
    const g = new G([2, 3]);
    const y = g.w('y', [2, 3], 20), pos = g.c('pos', [0.5, 1.5, 3], [3]), z = g.c('z', [0, 1, -2], [3]);
    const un = ['Sin', 'Cos', 'Erf', 'Floor', 'Ceil', 'Round', 'Sign', 'Softplus', 'LogSoftmax', 'ZerosLike', 'OnesLike'];
    for (const n of un) g.op(n, n, ['x']);
    g.op('absx', 'Abs', ['x']);
    g.op('Log1p', 'Log1p', ['absx']);
    g.op('Pow', 'Pow', ['absx', pos]);
    g.op('FloorMod', 'FloorMod', ['x', pos]);
    g.op('DivNoNan', 'DivNoNan', ['x', z]);
    g.op('AddN', 'AddN', ['x', 'y', 'x'], { N: A.i(3) });
    g.op('ClipByValue', 'ClipByValue', ['x', g.c('lo', [-0.5], []), g.c('hi', [0.75], [])]);
    const cmp = ['Equal', 'NotEqual', 'Less', 'LessEqual', 'GreaterEqual'];
    for (const n of cmp) g.op(n, n, ['Round', n === 'Equal' || n === 'NotEqual' ? g.c(`c${n}`, [0, 1, -1], [3]) : 'y']);
    g.op('LogicalAnd', 'LogicalAnd', ['Less', 'NotEqual']);
    g.op('LogicalOr', 'LogicalOr', ['Less', 'Equal']);
    g.op('LogicalNot', 'LogicalNot', ['Less']);
    const red = g.c('raxis', [1], [], 'int32');
    g.op('All', 'All', ['LogicalOr', red], { keep_dims: A.b(false) });
    g.op('Any', 'Any', ['LogicalAnd', red], { keep_dims: A.b(true) });
    g.op('ArgMin', 'ArgMin', ['x', red], { output_type: A.type('int32') });
    const names = [...un, 'Log1p', 'Pow', 'FloorMod', 'DivNoNan', 'AddN', 'ClipByValue', ...cmp, 'LogicalAnd', 'LogicalOr', 'LogicalNot', 'All', 'Any', 'ArgMin'];
    await check(g, names, 1e-5);
  });
  it('BatchMatMulV2, Concat, BroadcastTo, Size, Rank, ShapeN, GatherV2 with negative axis', async () => {
    const g = new G([2, 3, 4]);
    g.op('bmm', 'BatchMatMulV2', ['x', g.w('m', [2, 5, 4], 21)], { adj_x: A.b(false), adj_y: A.b(true) });
    g.op('cat', 'Concat', [g.c('cax', [-1], [], 'int32'), 'x', 'x'], { N: A.i(2) });
    g.op('bt', 'BroadcastTo', [g.w('v', [1, 4], 22), g.c('bs', [3, 2, 3, 4], [4], 'int32')]);
    g.op('size', 'Size', ['x'], { out_type: A.type('int32') });
    g.op('rank', 'Rank', ['x']);
    g.op('shapes', 'ShapeN', ['x', 'bt'], { out_type: A.type('int32'), N: A.i(2) });
    g.op('gv', 'GatherV2', ['x', g.c('gi', [3, 0], [2], 'int32'), g.c('gax', [-1], [], 'int32')], { batch_dims: A.i(0) });
    await check(g, ['bmm', 'cat', 'bt', 'size', 'rank', 'shapes:0', 'shapes:1', 'gv']);
  });
  it('int FloorDiv, comparisons and Select', async () => {
    const g = new G([2, 3], 'int32');
    const d = g.c('d', [3, -2, 4], [3], 'int32');
    g.op('fd', 'FloorDiv', ['x', d], { T: A.type('int32') });
    g.op('gt', 'Greater', ['x', d], { T: A.type('int32') });
    g.op('sel', 'Select', ['gt', 'x', 'fd'], { T: A.type('int32') });
    await check(g, ['fd', 'gt', 'sel']);
  });
  for (const keep of [false, true]) {
    it(`Mean/Sum/Max/Min/Prod keep_dims=${keep}, ArgMax`, async () => {
      const g = new G([2, 3, 4]);
      const axes = g.c('axes', [0, 2], [2], 'int32'), one = g.c('one', [-1], [], 'int32');
      const names = ['Mean', 'Sum', 'Max', 'Min', 'Prod'];
      for (const n of names) g.op(n, n, ['x', n === 'Prod' ? one : axes], { keep_dims: A.b(keep), Tidx: A.type('int32') });
      g.op('am', 'ArgMax', ['x', one], { output_type: A.type('int32') });
      await check(g, [...names, 'am'], 1e-5);
    });
  }
});

describe('shape and data movement', () => {
  it('Reshape, Squeeze, ExpandDims, Transpose, ConcatV2, Pack, Unpack', async () => {
    const g = new G([2, 1, 3]);
    g.op('r', 'Reshape', ['x', g.c('shape', [3, -1], [2], 'int32')]);
    g.op('sq', 'Squeeze', ['x'], { squeeze_dims: A.ints([1]) });
    g.op('ed', 'ExpandDims', ['x', g.c('dim', [-1], [], 'int32')]);
    g.op('tr', 'Transpose', ['x', g.c('perm', [2, 0, 1], [3], 'int32')]);
    g.op('cc', 'ConcatV2', ['x', 'x', g.c('ax', [1], [], 'int32')], { N: A.i(2) });
    g.op('pk', 'Pack', ['sq', 'sq'], { axis: A.i(1), N: A.i(2) });
    g.op('up', 'Unpack', ['sq'], { axis: A.i(1), num: A.i(3) });
    await check(g, ['r', 'sq', 'ed', 'tr', 'cc', 'pk', 'up:0', 'up:2']);
  });
  it('Pad, PadV2, MirrorPad (REFLECT, SYMMETRIC), Slice, Split, SplitV', async () => {
    const g = new G([3, 4]);
    const p = g.c('p', [1, 2, 0, 3], [2, 2], 'int32');
    g.op('pad', 'Pad', ['x', p]);
    g.op('pad2', 'PadV2', ['x', p, g.c('cv', [1.5], [])]);
    g.op('mr', 'MirrorPad', ['x', g.c('p1', [1, 2, 2, 3], [2, 2], 'int32')], { mode: A.s('REFLECT') });
    g.op('ms', 'MirrorPad', ['x', g.c('p2', [2, 3, 0, 4], [2, 2], 'int32')], { mode: A.s('SYMMETRIC') });
    g.op('sl', 'Slice', ['x', g.c('b', [1, 1], [2], 'int32'), g.c('s', [-1, 2], [2], 'int32')]);
    g.op('sp', 'Split', [g.c('sa', [1], [], 'int32'), 'x'], { num_split: A.i(2) });
    g.op('sv', 'SplitV', ['x', g.c('sizes', [1, -1], [2], 'int32'), g.c('sva', [0], [], 'int32')], { num_split: A.i(2) });
    await check(g, ['pad', 'pad2', 'mr', 'ms', 'sl', 'sp:0', 'sp:1', 'sv:0', 'sv:1']);
  });
  const specs: [string, number[], number[], number[], Record<string, number>][] = [
    ['plain', [1, 0, 1], [3, 4, 5], [1, 2, 2], {}],
    ['masks', [-2, 1, 0], [0, -1, 3], [1, 1, 1], { begin_mask: 1, end_mask: 2 }],
    ['shrink', [1, 0, -1], [2, 4, 0], [1, 1, 1], { shrink_axis_mask: 5 }],
    ['negative strides', [-1, 3, 4], [0, 0, 0], [-1, -2, -2], { end_mask: 1 }],
    ['ellipsis and new axis', [0, 0, 1], [0, 0, 3], [1, 1, 1], { ellipsis_mask: 1, new_axis_mask: 2 }],
  ];
  for (const [label, b, e, s, masks] of specs) {
    it(`StridedSlice: ${label}`, async () => {
      const g = new G([3, 4, 5]);
      g.op('y', 'StridedSlice', ['x', g.c('b', b, [3], 'int32'), g.c('e', e, [3], 'int32'), g.c('s', s, [3], 'int32')],
        Object.fromEntries(Object.entries(masks).map(([k, v]) => [k, A.i(v)])));
      await check(g, ['y']);
    });
  }
  it('GatherV2, GatherNd, Cast, Tile', async () => {
    const g = new G([4, 3]);
    g.op('ga', 'GatherV2', ['x', g.c('gi', [2, 0, 2], [3], 'int32'), g.c('gx', [1], [], 'int32')], { batch_dims: A.i(0) });
    g.op('gn', 'GatherNd', ['x', g.c('ni', [1, 2, 3, 0], [2, 2], 'int32')]);
    g.op('ci', 'Cast', ['x'], { SrcT: A.type('float32'), DstT: A.type('int32') });
    g.op('ti', 'Tile', ['x', g.c('mult', [2, 1], [2], 'int32')]);
    await check(g, ['ga', 'gn', 'ci', 'ti']);
  });
  it('shape arithmetic folds at import: Shape -> StridedSlice -> Pack -> Reshape, Fill, Range', async () => {
    const g = new G([2, 6, 4]);
    g.op('shape', 'Shape', ['x'], { out_type: A.type('int32') });
    g.op('n', 'StridedSlice', ['shape', g.c('b', [0], [1], 'int32'), g.c('e', [1], [1], 'int32'), g.c('s', [1], [1], 'int32')], { shrink_axis_mask: A.i(1), T: A.type('int32') });
    g.op('packed', 'Pack', ['n', g.c('m1', [-1], [], 'int32'), g.c('two', [2], [], 'int32')], { axis: A.i(0), N: A.i(3), T: A.type('int32') });
    g.op('r', 'Reshape', ['x', 'packed']);
    g.op('fill', 'Fill', ['packed2', g.c('fv', [0.25], [])]);
    g.op('packed2', 'Pack', ['n', 'two'], { axis: A.i(0), N: A.i(2), T: A.type('int32') });
    g.op('range', 'Range', [g.c('r0', [1], [], 'int32'), 'n', g.c('r1', [1], [], 'int32')], { Tidx: A.type('int32') });
    await check(g, ['r', 'fill', 'range']);
    const gm = await loadGraphModel(g.artifacts(), { outputs: ['r'] });
    // Only the reshape of the input is left in the IR: the shape computation folded.
    const ops = trace((x: Tensor) => gm.call(x) as Tensor, [tensorType([2, 6, 4], 'f32')]).func.body.map((v) => v.op);
    expect(ops).toEqual(['reshape']);
  });
});

describe('image ops', () => {
  for (const [ac, hp] of [[false, false], [true, false], [false, true]] as const) {
    it(`ResizeBilinear / ResizeNearestNeighbor align_corners=${ac} half_pixel_centers=${hp}`, async () => {
      const g = new G([1, 5, 4, 2]);
      const size = g.c('size', [8, 7], [2], 'int32');
      g.op('rb', 'ResizeBilinear', ['x', size], { align_corners: A.b(ac), half_pixel_centers: A.b(hp) });
      g.op('rn', 'ResizeNearestNeighbor', ['x', size], { align_corners: A.b(ac), half_pixel_centers: A.b(hp) });
      await check(g, ['rb', 'rn']);
    });
  }
  it('DepthToSpace, and SpaceToDepth inverting it', async () => {
    const g = new G([1, 2, 3, 8]);
    g.op('d2s', 'DepthToSpace', ['x'], { block_size: A.i(2), data_format: A.s('NHWC') });
    g.op('s2d', 'SpaceToDepth', ['d2s'], { block_size: A.i(2), data_format: A.s('NHWC') });
    await check(g, ['d2s', 's2d'], 0, (x) => [tf.depthToSpace(x as tf.Tensor4D, 2), x]);
  });
});

describe('refusals', () => {
  it('names the refused or unknown op and node, and suggests outputs', async () => {
    const g = new G([4]);
    g.op('relu', 'Relu', ['x']);
    g.op('where', 'Where', ['relu']);
    g.op('weird', 'FancyOp', ['relu']);
    await expect(loadGraphModel(g.artifacts(), { outputs: ['where'] })).rejects.toThrow(
      "GraphModel 'graph_model': cannot import node 'where', a Where: its output shape depends on the data, and Kiln compiles static shapes. " +
      "Pass outputs: [...] to loadGraphModel to cut the graph before it (for example its inputs: outputs: ['relu']), and do the rest on the host");
    await expect(loadGraphModel(g.artifacts(), { outputs: ['weird'] })).rejects.toThrow(/cannot import node 'weird', a FancyOp: it is not in Kiln's GraphModel op set/);
    await expect(loadGraphModel(g.artifacts(), { outputs: ['relux'] })).rejects.toThrow("outputs names node 'relux', which is not in the graph (did you mean 'relu'?)");
    await expect(loadGraphModel(g.artifacts(), { output: ['relu'] } as never)).rejects.toThrow("loadGraphModel: unknown option 'output' (did you mean 'outputs'?)");
  });
  it('needs inputShapes for unknown dims, naming the input and dim', async () => {
    const g = new G([-1, 3]);
    g.op('relu', 'Relu', ['x']);
    await expect(loadGraphModel(g.artifacts(), { outputs: ['relu'] })).rejects.toThrow(
      "loadGraphModel: dimension 0 of input 'x' of model 'graph_model' is unknown ([-1,3]); Kiln compiles static shapes: give it in inputShapes, e.g. { inputShapes: { 'x': [1, 3] } }");
    const gm = await loadGraphModel(g.artifacts(), { outputs: ['relu'], inputShapes: { x: [5, 3] } });
    expect(gm.inputs).toEqual([{ name: 'x', shape: [5, 3], dtype: 'f32' }]);
    await expect(loadGraphModel(g.artifacts(), { outputs: ['relu'], inputShapes: { x: [5, 4] } })).rejects.toThrow(
      "loadGraphModel: inputShapes gives [5,4] for input 'x' of model 'graph_model', whose signature says [-1,3] (-1 = any)");
  });
  it('errors inside a translation name the node, op and input types', async () => {
    const g = new G([2, 3]);
    g.op('r', 'Reshape', ['x', g.c('shape', [4, -1], [2], 'int32')]);
    await expect(loadGraphModel(g.artifacts(), { outputs: ['r'] })).rejects.toThrow(
      "GraphModel 'graph_model': node 'r' (Reshape) on f32[2,3], i32[2]: reshape: cannot infer the -1 in [4,-1] for symbolic f32[2,3]");
  });
});
