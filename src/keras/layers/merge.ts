/**
 * The shared part of merge layers (Add, Concatenate, ...): they take a list of at least two
 * inputs; shape rules live in each subclass.
 */
import type { DType } from '../../ir/dtype.js';
import type { Tensor } from '../backend.js';
import { shapeToString, type KerasShape } from '../engine/keras_tensor.js';
import { isShapeList, Layer } from '../engine/layer.js';

export abstract class Merge extends Layer {
  /** The inputs as a list of at least two shapes; anything else fails naming the layer. */
  protected shapeList(shape: KerasShape | KerasShape[], dtype?: DType | DType[]): KerasShape[] {
    if (!isShapeList(shape) || shape.length < 2) {
      const got = isShapeList(shape) ? `${shape.length} input` : `a single input ${shapeToString(shape)}`;
      this.fail(`expects a list of at least 2 inputs, got ${got}`);
    }
    if (Array.isArray(dtype) && dtype.some((d) => d !== dtype[0])) {
      this.fail(`inputs must share a dtype, got ${shape.map((s, i) => shapeToString(s, dtype[i])).join(', ')}`);
    }
    return shape;
  }

  protected tensorList(inputs: Tensor | Tensor[]): Tensor[] {
    if (!Array.isArray(inputs) || inputs.length < 2) this.fail('expects a list of at least 2 inputs');
    return inputs;
  }
}
