/**
 * PReLU: leaky ReLU with a learned slope per element, f(x) = x for x > 0, alpha * x otherwise.
 * alpha has the input's shape without the batch axis, with size 1 on each of `sharedAxes`
 * (counted with the batch axis as 0, so `sharedAxes: [1, 2]` shares one slope per channel over
 * height and width), as Keras and tfjs-layers. Initializer (default zeros), regularizer and
 * constraint apply to alpha.
 */
import type { DType } from '../../ir/dtype.js';
import { ops, type Tensor, type Variable } from '../backend.js';
import { shapeToString, type KerasShape } from '../engine/keras_tensor.js';
import { Layer, registerLayer, type CallArgs, type LayerArgs, type LayerConfig } from '../engine/layer.js';
import { getConstraint, serializeConstraint, type Constraint, type ConstraintLike, type SerializedConstraint } from '../constraints.js';
import { getInitializer, serializeInitializer, type InitializerLike, type SerializedInitializer } from '../initializers.js';
import { getRegularizer, serializeRegularizer, type Regularizer, type RegularizerLike, type SerializedRegularizer } from '../regularizers.js';
import { checkLayerArgs } from './args.js';

export interface PReLUArgs extends LayerArgs {
  alphaInitializer?: InitializerLike;
  alphaRegularizer?: RegularizerLike | null;
  alphaConstraint?: ConstraintLike | null;
  /** Axes (batch axis = 0) along which one slope is shared. */
  sharedAxes?: number | readonly number[] | null;
}

export interface PReLUConfig extends LayerConfig {
  alphaInitializer: SerializedInitializer;
  alphaRegularizer: SerializedRegularizer | null;
  alphaConstraint: SerializedConstraint | null;
  sharedAxes: number[] | null;
}

export class PReLU extends Layer {
  static override className = 'PReLU';
  readonly sharedAxes: number[] | null;
  private readonly alphaInitializer;
  readonly alphaRegularizer?: Regularizer;
  readonly alphaConstraint?: Constraint;
  alpha?: Variable;

  constructor(args: PReLUArgs = {}) {
    super(args);
    checkLayerArgs(this.label, args, { known: ['alphaInitializer', 'alphaRegularizer', 'alphaConstraint', 'sharedAxes'] });
    this.supportsMasking = true;
    args ??= {};
    const shared = args.sharedAxes ?? null;
    const list = shared === null ? null : typeof shared === 'number' ? [shared] : Array.isArray(shared) ? [...shared] : undefined;
    if (list === undefined || (list !== null && !list.every((a) => Number.isInteger(a) && a >= 1))) {
      this.fail(`sharedAxes must be an axis or a list of axes >= 1 (axis 0 is the batch), got ${JSON.stringify(shared)}`);
    }
    this.sharedAxes = list;
    this.alphaInitializer = getInitializer(args.alphaInitializer ?? 'zeros', `${this.label}: alphaInitializer`);
    this.alphaRegularizer = getRegularizer(args.alphaRegularizer, `${this.label}: alphaRegularizer`);
    this.alphaConstraint = getConstraint(args.alphaConstraint, `${this.label}: alphaConstraint`);
  }

  /** alpha's shape for an input of this shape (every non-shared dimension must be known). */
  private alphaShape(s: KerasShape): number[] {
    const t = shapeToString(s);
    if (s.length < 2) this.fail(`expected an input of rank >= 2 (batch first), got ${t}`);
    for (const a of this.sharedAxes ?? []) if (a >= s.length) this.fail(`sharedAxes ${JSON.stringify(this.sharedAxes)}: axis ${a} is out of range for input ${t}`);
    return s.slice(1).map((d, i) => {
      if (this.sharedAxes?.includes(i + 1)) return 1;
      if (d === null) this.fail(`dimension ${i + 1} must be known (or listed in sharedAxes), got input ${t}`);
      return d;
    });
  }

  protected override checkInputShape(shape: KerasShape | KerasShape[], _dtype: DType | DType[]): void {
    const s = this.singleShape(shape);
    const want = this.alphaShape(s);
    const have = this.alpha?.value.shape;
    if (have && (have.length !== want.length || have.some((d, i) => d !== want[i]))) {
      this.fail(`alpha has shape [${have.join(',')}], which does not fit input ${shapeToString(s)}`);
    }
  }

  override build(inputShape: KerasShape | KerasShape[]): void {
    const shape = this.alphaShape(this.singleShape(inputShape));
    this.alpha = this.addWeight('alpha', shape, this.alphaInitializer, true, { regularizer: this.alphaRegularizer, constraint: this.alphaConstraint });
    this.built = true;
  }

  override call(inputs: Tensor | Tensor[], _args: CallArgs): Tensor {
    return ops.prelu(Array.isArray(inputs) ? inputs[0]! : inputs, this.alpha!.read());
  }

  override getConfig(): PReLUConfig {
    return {
      ...super.getConfig(),
      alphaInitializer: serializeInitializer(this.alphaInitializer),
      alphaRegularizer: serializeRegularizer(this.alphaRegularizer),
      alphaConstraint: serializeConstraint(this.alphaConstraint),
      sharedAxes: this.sharedAxes === null ? null : [...this.sharedAxes],
    };
  }

  static fromConfig(config: PReLUConfig): PReLU {
    return new PReLU(config);
  }
}
registerLayer(PReLU);

export function prelu(args: PReLUArgs = {}): PReLU {
  return new PReLU(args);
}
