/**
 * The shared part of merge layers (Add, Concatenate, Multiply, Dot, ...): they take a list of at
 * least two inputs; shape rules live in each subclass, except the elementwise ones (Multiply,
 * Subtract, Average, Maximum, Minimum), which share Keras's rule and its mask (the AND of the
 * inputs' masks) in ElementwiseMerge.
 */
import type { DType } from '../../ir/dtype.js';
import { ops, type Tensor } from '../backend.js';
import { shapeToString, type KerasShape } from '../engine/keras_tensor.js';
import { isShapeList, Layer, type CallArgs, type LayerArgs, type LayerMask } from '../engine/layer.js';

export abstract class Merge extends Layer {
  /**
   * Keras's Merge.compute_mask where `supportsMasking` (the elementwise merges set it): the inputs'
   * masks ANDed (none: no mask). Others drop masks (Concatenate along time would need its own).
   */
  override computeMask(_inputs: Tensor | Tensor[], mask: LayerMask): LayerMask {
    if (!this.supportsMasking) return null;
    const masks = (Array.isArray(mask) ? mask : [mask]).filter((m): m is Tensor => m !== null && m !== undefined);
    return masks.length === 0 ? null : masks.slice(1).reduce((a, m) => ops.logicalAnd(a, m), masks[0]!);
  }

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

/**
 * Elementwise merges, with Keras's shape rule (tfjs-layers' and Keras 3's Merge): the batch sizes
 * must agree (unknown ones aside) and the other dimensions broadcast right-aligned, a 1 against
 * anything. An input of lower rank is expanded at axis 1 until the ranks agree, which is the same
 * right alignment of its non-batch dimensions.
 */
export abstract class ElementwiseMerge extends Merge {
  /** Exactly this many inputs (Subtract: 2); undefined: 2 or more. */
  protected readonly inputCount?: number;

  constructor(args: LayerArgs = {}) {
    super(args);
    this.supportsMasking = true;
  }

  /** Combine inputs of equal rank (broadcasting against each other). */
  protected abstract mergeFunction(inputs: Tensor[]): Tensor;

  protected override shapeList(shape: KerasShape | KerasShape[], dtype?: DType | DType[]): KerasShape[] {
    const shapes = super.shapeList(shape, dtype);
    if (this.inputCount !== undefined && shapes.length !== this.inputCount) {
      this.fail(`expects exactly ${this.inputCount} inputs, got ${shapes.length}: ${shapes.map((s) => shapeToString(s)).join(', ')}`);
    }
    return shapes;
  }

  protected override checkInputShape(shape: KerasShape | KerasShape[], dtype: DType | DType[]): void {
    this.computeOutputShape(this.shapeList(shape, dtype));
  }

  override computeOutputShape(inputShape: KerasShape | KerasShape[]): KerasShape {
    const shapes = this.shapeList(inputShape);
    const list = () => shapes.map((s) => shapeToString(s)).join(', ');
    if (shapes.some((s) => s.length === 0)) this.fail(`inputs need a batch dimension, got ${list()}`);
    const batches = new Set(shapes.map((s) => s[0]).filter((d) => d !== null));
    if (batches.size > 1) this.fail(`inputs have different batch sizes: ${list()}`);
    const rank = Math.max(...shapes.map((s) => s.length)) - 1;
    const out: (number | null)[] = [];
    for (let i = 0; i < rank; i++) {
      let d: number | null = 1;
      let unknown = false;
      for (const s of shapes) {
        const k = s.length - 1 - rank + i;
        const e = k < 0 ? 1 : s[k + 1]!;
        if (e === null) unknown = true;
        else if (e === 1) continue;
        else if (d === 1) d = e;
        else if (e !== d) this.fail(`input shapes do not match: ${list()}`);
      }
      // An unknown size may be the 1 that broadcasts or the size itself: as tfjs-layers, unknown.
      out.push(unknown ? null : d);
    }
    return [batches.size === 1 ? [...batches][0]! : null, ...out];
  }

  override call(inputs: Tensor | Tensor[], _args: CallArgs): Tensor {
    const xs = this.tensorList(inputs);
    if (this.inputCount !== undefined && xs.length !== this.inputCount) this.fail(`expects exactly ${this.inputCount} inputs, got ${xs.length}`);
    const rank = Math.max(...xs.map((x) => x.rank));
    return this.mergeFunction(xs.map((x) => (x.rank === rank ? x : ops.reshape(x, [x.shape[0]!, ...new Array<number>(rank - x.rank).fill(1), ...x.shape.slice(1)]))));
  }
}
