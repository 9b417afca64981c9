/**
 * Dot: Keras's batch_dot of exactly two inputs. Axis `axes[0]` of the first input is contracted
 * with axis `axes[1]` of the second (one number: the same axis of both, negative counting from
 * the end); the batch axis 0 is shared. The output is [batch, the first input's other axes, the
 * second's other axes], or [batch, 1] when nothing else is left. `normalize` L2-normalizes both
 * inputs along their contracted axis first (tfjs-layers' l2Normalize: x / sqrt(max(sum x^2,
 * 1e-7))), so the result is the cosine similarity. Any rank >= 2 (tfjs-layers stops at 3).
 *
 * Written as one batched matmul: each input's contracted axis moved next to the batch axis and
 * its free axes flattened, [b, m, k] x [b, k, n], then reshaped to the Keras output shape.
 */
import type { DType } from '../../ir/dtype.js';
import { ops, type Tensor } from '../backend.js';
import { shapeToString, type KerasShape } from '../engine/keras_tensor.js';
import { registerLayer, type CallArgs, type LayerArgs, type LayerConfig, type LayerMask } from '../engine/layer.js';
import { checkLayerArgs } from './args.js';
import { Merge } from './merge.js';

export interface DotArgs extends LayerArgs {
  /** The contracted axis of both inputs, or one per input. */
  axes: number | readonly [number, number];
  normalize?: boolean;
}

export interface DotConfig extends LayerConfig {
  axes: number | [number, number];
  normalize: boolean;
}

/** tfjs-layers' epsilon(): the floor of the squared norm in l2Normalize. */
const L2_EPSILON = 1e-7;

export class Dot extends Merge {
  static override className = 'Dot';
  readonly axes: number | [number, number];
  readonly normalize: boolean;

  constructor(args: DotArgs) {
    super(args);
    checkLayerArgs(this.label, args, { known: ['axes', 'normalize'], required: ['axes'] });
    const axes = args.axes;
    const ok = Number.isInteger(axes) || (Array.isArray(axes) && axes.length === 2 && axes.every((a) => Number.isInteger(a)));
    if (!ok) this.fail(`axes must be an integer or a list of 2 integers, got ${JSON.stringify(axes)}`);
    this.axes = typeof axes === 'number' ? axes : [axes[0], axes[1]];
    this.normalize = args.normalize ?? false;
    if (typeof this.normalize !== 'boolean') this.fail(`normalize must be true or false, got ${JSON.stringify(args.normalize)}`);
  }

  /** Both contracted axes, non-negative, for inputs of these ranks; the batch axis is refused. */
  private resolvedAxes(shapes: readonly KerasShape[]): [number, number] {
    const list = () => shapes.map((s) => shapeToString(s)).join(', ');
    const given = typeof this.axes === 'number' ? [this.axes, this.axes] : this.axes;
    return given.map((a, i) => {
      const rank = shapes[i]!.length;
      const r = a < 0 ? a + rank : a;
      if (r < 1 || r >= rank) this.fail(`axes ${JSON.stringify(this.axes)}: axis ${a} is out of range for input ${i} in ${list()} (the batch axis 0 cannot be contracted)`);
      return r;
    }) as [number, number];
  }

  private pair(shape: KerasShape | KerasShape[], dtype?: DType | DType[]): [KerasShape, KerasShape] {
    const shapes = this.shapeList(shape, dtype);
    if (shapes.length !== 2) this.fail(`expects exactly 2 inputs, got ${shapes.length}: ${shapes.map((s) => shapeToString(s)).join(', ')}`);
    return [shapes[0]!, shapes[1]!];
  }

  protected override checkInputShape(shape: KerasShape | KerasShape[], dtype: DType | DType[]): void {
    this.computeOutputShape(this.pair(shape, dtype));
  }

  override computeOutputShape(inputShape: KerasShape | KerasShape[]): KerasShape {
    const [s1, s2] = this.pair(inputShape);
    const list = `${shapeToString(s1)}, ${shapeToString(s2)}`;
    const [a1, a2] = this.resolvedAxes([s1, s2]);
    if (s1[a1] !== null && s2[a2] !== null && s1[a1] !== s2[a2]) {
      this.fail(`axes ${JSON.stringify(this.axes)}: contracted dimensions differ, ${s1[a1]} (axis ${a1} of input 0) vs ${s2[a2]} (axis ${a2} of input 1) in ${list}`);
    }
    if (s1[0] !== null && s2[0] !== null && s1[0] !== s2[0]) this.fail(`inputs have different batch sizes: ${list}`);
    const out = [s1[0] ?? s2[0]!, ...s1.filter((_, i) => i !== 0 && i !== a1), ...s2.filter((_, i) => i !== 0 && i !== a2)];
    return out.length === 1 ? [...out, 1] : out;
  }

  override call(inputs: Tensor | Tensor[], _args: CallArgs): Tensor {
    const xs = this.tensorList(inputs);
    if (xs.length !== 2) this.fail(`expects exactly 2 inputs, got ${xs.length}`);
    let [x, y] = xs as [Tensor, Tensor];
    const [a1, a2] = this.resolvedAxes([x.shape, y.shape]);
    if (this.normalize) {
      x = l2Normalize(x, a1);
      y = l2Normalize(y, a2);
    }
    const b = x.shape[0]!;
    const free1 = x.shape.map((_, i) => i).filter((i) => i !== 0 && i !== a1);
    const free2 = y.shape.map((_, i) => i).filter((i) => i !== 0 && i !== a2);
    const size = (t: Tensor, axes: number[]) => axes.reduce((n, i) => n * t.shape[i]!, 1);
    // [b, free1..., k] and [b, k, free2...]: a transpose only where the axis is not already there.
    const lhs = ops.reshape(transposeTo(x, [0, ...free1, a1]), [b, size(x, free1), x.shape[a1]!]);
    const rhs = ops.reshape(transposeTo(y, [0, a2, ...free2]), [b, y.shape[a2]!, size(y, free2)]);
    const outShape = [b, ...free1.map((i) => x.shape[i]!), ...free2.map((i) => y.shape[i]!)];
    return ops.reshape(ops.matmul(lhs, rhs), outShape.length === 1 ? [b, 1] : outShape);
  }

  /** The contraction mixes time steps: no mask comes out, as Keras's Dot. */
  override computeMask(_inputs: Tensor | Tensor[], _mask: LayerMask): LayerMask {
    return null;
  }

  override getConfig(): DotConfig {
    return { ...super.getConfig(), axes: typeof this.axes === 'number' ? this.axes : [...this.axes], normalize: this.normalize };
  }

  static fromConfig(config: DotConfig): Dot {
    return new Dot(config);
  }
}
registerLayer(Dot);

function transposeTo(x: Tensor, perm: number[]): Tensor {
  return perm.every((p, i) => p === i) ? x : ops.transpose(x, perm);
}

/** x / sqrt(max(sum(x^2, axis), eps)), as tfjs-layers' l2Normalize. */
function l2Normalize(x: Tensor, axis: number): Tensor {
  return ops.div(x, ops.sqrt(ops.maximum(ops.sum(ops.square(x), axis, true), L2_EPSILON)));
}

export function dot(args: DotArgs): Dot {
  return new Dot(args);
}
