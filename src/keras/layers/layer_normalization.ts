/**
 * LayerNormalization over `axis` (one axis or several, default -1) of each example:
 * y = (x - mean) / sqrt(variance + epsilon) * gamma + beta, with the mean and the biased variance
 * taken over the normalized axes only. gamma and beta have the sizes of those axes (in `axis`
 * order), gamma first, as Keras and tfjs-layers create them. No moving statistics: training and
 * inference compute the same thing. Keras 3's `rms_scaling` is accepted only off.
 */
import type { DType } from '../../ir/dtype.js';
import { ops, type Tensor, type Variable } from '../backend.js';
import { shapeToString, type KerasShape } from '../engine/keras_tensor.js';
import { Layer, registerLayer, type CallArgs, type LayerArgs, type LayerConfig } from '../engine/layer.js';
import { getConstraint, serializeConstraint, type Constraint, type ConstraintLike, type SerializedConstraint } from '../constraints.js';
import { getInitializer, serializeInitializer, type InitializerLike, type SerializedInitializer } from '../initializers.js';
import { getRegularizer, serializeRegularizer, type Regularizer, type RegularizerLike, type SerializedRegularizer } from '../regularizers.js';
import { checkLayerArgs, onlyValue } from './args.js';

export interface LayerNormalizationArgs extends LayerArgs {
  axis?: number | readonly number[];
  epsilon?: number;
  center?: boolean;
  scale?: boolean;
  betaInitializer?: InitializerLike;
  gammaInitializer?: InitializerLike;
  betaRegularizer?: RegularizerLike | null;
  gammaRegularizer?: RegularizerLike | null;
  betaConstraint?: ConstraintLike | null;
  gammaConstraint?: ConstraintLike | null;
  /** Keras 3's RMS variant: only `false`. */
  rmsScaling?: boolean;
}

const LN_ARGS = [
  'axis', 'epsilon', 'center', 'scale', 'betaInitializer', 'gammaInitializer', 'betaRegularizer', 'gammaRegularizer',
  'betaConstraint', 'gammaConstraint', 'rmsScaling',
] as const satisfies readonly (keyof LayerNormalizationArgs)[];

export interface LayerNormalizationConfig extends LayerConfig {
  axis: number | number[];
  epsilon: number;
  center: boolean;
  scale: boolean;
  betaInitializer: SerializedInitializer;
  gammaInitializer: SerializedInitializer;
  betaRegularizer: SerializedRegularizer | null;
  gammaRegularizer: SerializedRegularizer | null;
  betaConstraint: SerializedConstraint | null;
  gammaConstraint: SerializedConstraint | null;
}

export class LayerNormalization extends Layer {
  static override className = 'LayerNormalization';
  readonly axis: number | number[];
  readonly epsilon: number;
  readonly center: boolean;
  readonly scale: boolean;
  private readonly betaInitializer;
  private readonly gammaInitializer;
  readonly betaRegularizer?: Regularizer;
  readonly gammaRegularizer?: Regularizer;
  readonly betaConstraint?: Constraint;
  readonly gammaConstraint?: Constraint;
  gamma?: Variable;
  beta?: Variable;

  constructor(args: LayerNormalizationArgs = {}) {
    super(args);
    checkLayerArgs(this.label, args, { known: LN_ARGS });
    this.supportsMasking = true;
    args ??= {};
    onlyValue(this.label, 'rmsScaling', args.rmsScaling, [false]);
    const axis = args.axis ?? -1;
    const ok = Number.isInteger(axis) || (Array.isArray(axis) && axis.length > 0 && axis.every((a) => Number.isInteger(a)));
    if (!ok) this.fail(`axis must be an integer or a non-empty list of integers, got ${JSON.stringify(axis)}`);
    this.axis = typeof axis === 'number' ? axis : [...axis];
    this.epsilon = args.epsilon ?? 1e-3;
    if (!(this.epsilon > 0)) this.fail(`epsilon must be positive, got ${this.epsilon}`);
    this.center = args.center ?? true;
    this.scale = args.scale ?? true;
    this.betaInitializer = getInitializer(args.betaInitializer ?? 'zeros', `${this.label}: betaInitializer`);
    this.gammaInitializer = getInitializer(args.gammaInitializer ?? 'ones', `${this.label}: gammaInitializer`);
    this.betaRegularizer = getRegularizer(args.betaRegularizer, `${this.label}: betaRegularizer`);
    this.gammaRegularizer = getRegularizer(args.gammaRegularizer, `${this.label}: gammaRegularizer`);
    this.betaConstraint = getConstraint(args.betaConstraint, `${this.label}: betaConstraint`);
    this.gammaConstraint = getConstraint(args.gammaConstraint, `${this.label}: gammaConstraint`);
  }

  /** The normalized axes, non-negative, in `axis` order; each must exist, be distinct and known. */
  private axes(s: KerasShape): number[] {
    const t = shapeToString(s);
    const given = typeof this.axis === 'number' ? [this.axis] : this.axis;
    const axes = given.map((a) => (a < 0 ? a + s.length : a));
    if (axes.some((a) => a < 0 || a >= s.length) || new Set(axes).size !== axes.length) {
      this.fail(`axis ${JSON.stringify(this.axis)} does not name distinct axes of input ${t}`);
    }
    for (const a of axes) if (s[a] === null) this.fail(`dimension ${a} (a normalized axis) must be known, got input ${t}`);
    return axes;
  }

  protected override checkInputShape(shape: KerasShape | KerasShape[], _dtype: DType | DType[]): void {
    const s = this.singleShape(shape);
    const sizes = this.axes(s).map((a) => s[a]);
    const have = (this.gamma ?? this.beta)?.value.shape;
    if (have && have.some((d, i) => d !== sizes[i])) this.fail(`expected sizes [${have.join(',')}] on axis ${JSON.stringify(this.axis)}, got input ${shapeToString(s)}`);
  }

  override build(inputShape: KerasShape | KerasShape[]): void {
    const s = this.singleShape(inputShape);
    const shape = this.axes(s).map((a) => s[a] as number);
    if (this.scale) this.gamma = this.addWeight('gamma', shape, this.gammaInitializer, true, { regularizer: this.gammaRegularizer, constraint: this.gammaConstraint });
    if (this.center) this.beta = this.addWeight('beta', shape, this.betaInitializer, true, { regularizer: this.betaRegularizer, constraint: this.betaConstraint });
    this.built = true;
  }

  override call(inputs: Tensor | Tensor[], _args: CallArgs): Tensor {
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    const axes = this.axes(x.shape);
    const { mean, variance } = ops.moments(x, axes, true);
    // gamma and beta, shaped [sizes in axis order], reshaped to broadcast (as Keras and tfjs-layers do).
    const bshape = x.shape.map((d, i) => (axes.includes(i) ? d : 1));
    const vec = (v: Variable): Tensor => ops.reshape(v.read(), bshape);
    let inv = ops.rsqrt(ops.add(variance, this.epsilon));
    if (this.gamma) inv = ops.mul(inv, vec(this.gamma));
    const y = ops.mul(ops.sub(x, mean), inv);
    return this.beta ? ops.add(y, vec(this.beta)) : y;
  }

  override getConfig(): LayerNormalizationConfig {
    return {
      ...super.getConfig(),
      axis: typeof this.axis === 'number' ? this.axis : [...this.axis],
      epsilon: this.epsilon,
      center: this.center,
      scale: this.scale,
      betaInitializer: serializeInitializer(this.betaInitializer),
      gammaInitializer: serializeInitializer(this.gammaInitializer),
      betaRegularizer: serializeRegularizer(this.betaRegularizer),
      gammaRegularizer: serializeRegularizer(this.gammaRegularizer),
      betaConstraint: serializeConstraint(this.betaConstraint),
      gammaConstraint: serializeConstraint(this.gammaConstraint),
    };
  }

  static fromConfig(config: LayerNormalizationConfig): LayerNormalization {
    return new LayerNormalization(config);
  }
}
registerLayer(LayerNormalization);

export function layerNormalization(args: LayerNormalizationArgs = {}): LayerNormalization {
  return new LayerNormalization(args);
}
