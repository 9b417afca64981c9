/**
 * Activations, softmax and batch normalization, plus `applyFusedOps`: the epilogue that
 * Grappler's fused nodes (_FusedConv2D, FusedDepthwiseConv2dNative, _FusedMatMul) carry in
 * `fused_ops`, applied in TensorFlow's order with their extra `args` inputs.
 */
import * as k from '../../ops.js';
import type { Tensor } from '../../tensor.js';
import { fail, input, type OpContext, type OpTable } from './types.js';

const unary = (f: (a: Tensor) => Tensor) => (ctx: OpContext) => f(input(ctx, 0));

/** FusedBatchNorm's inference form: (x - mean) * scale / sqrt(variance + epsilon) + offset. */
function fusedBatchNorm(x: Tensor, scale: Tensor, offset: Tensor, mean: Tensor, variance: Tensor, epsilon: number): Tensor {
  return k.batchNorm(x, mean, variance, offset, scale, epsilon);
}

function checkNHWC(ctx: OpContext): void {
  const f = ctx.attrs.string('data_format', 'NHWC');
  if (f !== 'NHWC' && f !== 'NDHWC') fail(ctx, `data_format '${f}' is not supported (only NHWC)`);
}

export const activationOps: OpTable = {
  Relu: unary(k.relu),
  Relu6: unary(k.relu6),
  Elu: unary((x) => k.elu(x)),
  Selu: unary(k.selu),
  Sigmoid: unary(k.sigmoid),
  Tanh: unary(k.tanh),
  Softplus: unary(k.softplus),
  Softsign: unary(k.softsign),
  LeakyRelu: (ctx) => k.leakyRelu(input(ctx, 0), ctx.attrs.float('alpha', 0.2)),
  Prelu: (ctx) => k.prelu(input(ctx, 0), input(ctx, 1)),
  Softmax: (ctx) => k.softmax(input(ctx, 0), -1),
  LogSoftmax: (ctx) => k.logSoftmax(input(ctx, 0), -1),
  FusedBatchNorm: batchNormOp,
  FusedBatchNormV2: batchNormOp,
  FusedBatchNormV3: batchNormOp,
};

function batchNormOp(ctx: OpContext): Tensor[] {
  checkNHWC(ctx);
  if (ctx.attrs.bool('is_training', false)) fail(ctx, 'is_training=true is not supported (an inference graph normalizes with the stored mean and variance)');
  const y = fusedBatchNorm(input(ctx, 0), input(ctx, 1), input(ctx, 2), input(ctx, 3), input(ctx, 4), ctx.attrs.float('epsilon', 1e-4));
  // Outputs 1..5 (batch statistics, reserve spaces) only matter for training; they are the inputs' stats.
  return [y, input(ctx, 3), input(ctx, 4), input(ctx, 3), input(ctx, 4), input(ctx, 4)];
}

/**
 * Apply a fused node's `fused_ops` to `y` (the conv or matmul result). `args` are the node's
 * inputs after the first two: BiasAdd takes args[0]; FusedBatchNorm takes scale, offset, mean,
 * variance; Prelu takes the next arg as alpha.
 */
export function applyFusedOps(ctx: OpContext, y: Tensor): Tensor {
  const ops = ctx.attrs.strings('fused_ops', []);
  const args = ctx.inputs.slice(2);
  const numArgs = ctx.attrs.int('num_args', args.length);
  if (numArgs !== args.length) fail(ctx, `num_args is ${numArgs} but the node has ${args.length} extra inputs`);
  let next = 0;
  const take = (what: string): Tensor => {
    const t = args[next++];
    if (!t) fail(ctx, `fused_ops [${ops.join(', ')}] need another argument for ${what}, but num_args is ${args.length}`);
    return t;
  };
  let out = y;
  for (const op of ops) {
    switch (op) {
      case 'BiasAdd':
      case 'Add':
        out = k.add(out, take(op));
        break;
      case 'FusedBatchNorm': {
        const [scale, offset, mean, variance] = [take('scale'), take('offset'), take('mean'), take('variance')];
        out = fusedBatchNorm(out, scale, offset, mean, variance, ctx.attrs.float('epsilon', 1e-4));
        break;
      }
      case 'Relu': out = k.relu(out); break;
      case 'Relu6': out = k.relu6(out); break;
      case 'Elu': out = k.elu(out); break;
      case 'Selu': out = k.selu(out); break;
      case 'Sigmoid': out = k.sigmoid(out); break;
      case 'Tanh': out = k.tanh(out); break;
      case 'LeakyRelu': out = k.leakyRelu(out, ctx.attrs.float('leakyrelu_alpha', 0.2)); break;
      case 'Prelu': out = k.prelu(out, take('Prelu alpha')); break;
      default:
        fail(ctx, `fused op '${op}' in fused_ops [${ops.join(', ')}] is not supported (supported: BiasAdd, FusedBatchNorm, Relu, Relu6, Elu, Selu, Sigmoid, Tanh, LeakyRelu, Prelu)`);
    }
  }
  return out;
}
