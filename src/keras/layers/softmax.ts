/**
 * Softmax layer: softmax along `axis` (default -1, as Keras; tfjs-layers' default is 1, the same
 * axis for the usual [batch, features] input). Several axes normalize jointly over all of them,
 * as exp(x - logSumExp(x, axes)), which is tfjs-layers' and Keras's formula. A mask (from the
 * inputs, or `mask` in the call) adds -1e9 where it is false, as Keras and tfjs-layers do.
 */
import type { DType } from '../../ir/dtype.js';
import { ops, type Tensor } from '../backend.js';
import { shapeToString, type KerasShape } from '../engine/keras_tensor.js';
import { Layer, registerLayer, type CallArgs, type LayerArgs, type LayerConfig } from '../engine/layer.js';
import { checkLayerArgs } from './args.js';

export interface SoftmaxArgs extends LayerArgs {
  axis?: number | readonly number[];
}

export interface SoftmaxConfig extends LayerConfig {
  axis: number | number[];
}

export class Softmax extends Layer {
  static override className = 'Softmax';
  readonly axis: number | number[];

  constructor(args: SoftmaxArgs = {}) {
    super(args);
    checkLayerArgs(this.label, args, { known: ['axis'] });
    this.supportsMasking = true;
    const axis = args?.axis ?? -1;
    const ok = Number.isInteger(axis) || (Array.isArray(axis) && axis.length > 0 && axis.every((a) => Number.isInteger(a)));
    if (!ok) this.fail(`axis must be an integer or a non-empty list of integers, got ${JSON.stringify(axis)}`);
    this.axis = typeof axis === 'number' ? axis : [...axis];
  }

  /** The axes, non-negative and distinct, for an input of this rank. */
  private axes(shape: KerasShape): number[] {
    const given = typeof this.axis === 'number' ? [this.axis] : this.axis;
    const axes = given.map((a) => (a < 0 ? a + shape.length : a));
    if (axes.some((a) => a < 0 || a >= shape.length) || new Set(axes).size !== axes.length) {
      this.fail(`axis ${JSON.stringify(this.axis)} does not name distinct axes of input ${shapeToString(shape)}`);
    }
    return axes;
  }

  protected override checkInputShape(shape: KerasShape | KerasShape[], _dtype: DType | DType[]): void {
    this.axes(this.singleShape(shape));
  }

  override call(inputs: Tensor | Tensor[], args: CallArgs): Tensor {
    let x = Array.isArray(inputs) ? inputs[0]! : inputs;
    const axes = this.axes(x.shape);
    const mask = Array.isArray(args.mask) ? args.mask[0] : args.mask;
    if (mask) {
      // Keras: x + (1 - mask) * -1e9, so masked positions get no weight. A mask of lower rank (time
      // steps, [batch, time]) covers the input's leading axes.
      const m = mask.rank < x.rank ? ops.reshape(mask, [...mask.shape, ...new Array<number>(x.rank - mask.rank).fill(1)]) : mask;
      x = ops.add(x, ops.mul(ops.sub(1, ops.cast(m, x.dtype)), -1e9));
    }
    return axes.length === 1 ? ops.softmax(x, axes[0]) : ops.exp(ops.sub(x, ops.logSumExp(x, axes, true)));
  }

  override getConfig(): SoftmaxConfig {
    return { ...super.getConfig(), axis: typeof this.axis === 'number' ? this.axis : [...this.axis] };
  }

  static fromConfig(config: SoftmaxConfig): Softmax {
    return new Softmax(config);
  }
}
registerLayer(Softmax);

export function softmax(args: SoftmaxArgs = {}): Softmax {
  return new Softmax(args);
}
