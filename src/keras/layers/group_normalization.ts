/**
 * GroupNormalization (Keras 3): the channels of `axis` (default -1) are split into `groups`
 * contiguous groups; each example is normalized per group, over the group's channels and every
 * other non-batch axis, y = (x - mean) / sqrt(variance + epsilon), then scaled and shifted per
 * channel by gamma and beta (shape [channels], gamma first). groups = channels is instance
 * normalization, groups = 1 layer normalization over all non-batch axes; `groups: -1` means one
 * group per channel, as Keras 3. tfjs-layers has no GroupNormalization.
 *
 * Written as Keras writes it: reshape [..., C, ...] to [..., G, C/G, ...], moments over all axes
 * but the batch and the group axis, then reshape back.
 */
import type { DType } from '../../ir/dtype.js';
import { ops, type Tensor, type Variable } from '../backend.js';
import { shapeToString, type KerasShape } from '../engine/keras_tensor.js';
import { Layer, registerLayer, type CallArgs, type LayerArgs, type LayerConfig } from '../engine/layer.js';
import { getConstraint, serializeConstraint, type Constraint, type ConstraintLike, type SerializedConstraint } from '../constraints.js';
import { getInitializer, serializeInitializer, type InitializerLike, type SerializedInitializer } from '../initializers.js';
import { getRegularizer, serializeRegularizer, type Regularizer, type RegularizerLike, type SerializedRegularizer } from '../regularizers.js';
import { checkLayerArgs } from './args.js';

export interface GroupNormalizationArgs extends LayerArgs {
  /** Number of groups (default 32, as Keras); -1: one per channel. */
  groups?: number;
  axis?: number;
  epsilon?: number;
  center?: boolean;
  scale?: boolean;
  betaInitializer?: InitializerLike;
  gammaInitializer?: InitializerLike;
  betaRegularizer?: RegularizerLike | null;
  gammaRegularizer?: RegularizerLike | null;
  betaConstraint?: ConstraintLike | null;
  gammaConstraint?: ConstraintLike | null;
}

const GN_ARGS = [
  'groups', 'axis', 'epsilon', 'center', 'scale', 'betaInitializer', 'gammaInitializer', 'betaRegularizer', 'gammaRegularizer',
  'betaConstraint', 'gammaConstraint',
] as const satisfies readonly (keyof GroupNormalizationArgs)[];

export interface GroupNormalizationConfig extends LayerConfig {
  groups: number;
  axis: number;
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

export class GroupNormalization extends Layer {
  static override className = 'GroupNormalization';
  readonly groups: number;
  readonly axis: number;
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

  constructor(args: GroupNormalizationArgs = {}) {
    super(args);
    checkLayerArgs(this.label, args, { known: GN_ARGS });
    this.supportsMasking = true;
    args ??= {};
    this.groups = args.groups ?? 32;
    if (!Number.isInteger(this.groups) || (this.groups < 1 && this.groups !== -1)) this.fail(`groups must be a positive integer or -1 (one per channel), got ${JSON.stringify(args.groups)}`);
    const axis = args.axis ?? -1;
    // Keras configs may write the axis as a one-element list.
    this.axis = Array.isArray(axis) && axis.length === 1 ? (axis[0] as number) : axis;
    if (!Number.isInteger(this.axis)) this.fail(`axis must be an integer, got ${JSON.stringify(args.axis)}`);
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

  /** The channel axis (non-negative), its size and the number of groups, checked against the input. */
  private layout(s: KerasShape): { axis: number; channels: number; groups: number } {
    const t = shapeToString(s);
    const axis = this.axis < 0 ? this.axis + s.length : this.axis;
    if (axis < 1 || axis >= s.length) this.fail(`axis ${this.axis} is out of range for input ${t} (the batch axis cannot be normalized)`);
    const channels = s[axis];
    if (channels === null) this.fail(`dimension ${axis} (the channel axis) must be known, got input ${t}`);
    const groups = this.groups === -1 ? channels : this.groups;
    if (groups > channels) this.fail(`groups ${groups} is more than the ${channels} channels of input ${t}`);
    if (channels % groups !== 0) this.fail(`groups ${groups} must divide the ${channels} channels of input ${t}`);
    return { axis, channels, groups };
  }

  protected override checkInputShape(shape: KerasShape | KerasShape[], _dtype: DType | DType[]): void {
    const s = this.singleShape(shape);
    const { channels } = this.layout(s);
    const have = (this.gamma ?? this.beta)?.value.shape[0];
    if (have !== undefined && have !== channels) this.fail(`expected input with ${have} channels on axis ${this.axis}, got ${shapeToString(s)}`);
  }

  override build(inputShape: KerasShape | KerasShape[]): void {
    const { channels } = this.layout(this.singleShape(inputShape));
    if (this.scale) this.gamma = this.addWeight('gamma', [channels], this.gammaInitializer, true, { regularizer: this.gammaRegularizer, constraint: this.gammaConstraint });
    if (this.center) this.beta = this.addWeight('beta', [channels], this.betaInitializer, true, { regularizer: this.betaRegularizer, constraint: this.betaConstraint });
    this.built = true;
  }

  override call(inputs: Tensor | Tensor[], _args: CallArgs): Tensor {
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    const { axis, channels, groups } = this.layout(x.shape);
    const grouped = [...x.shape.slice(0, axis), groups, channels / groups, ...x.shape.slice(axis + 1)];
    const xg = ops.reshape(x, grouped);
    const reduce = grouped.map((_, i) => i).filter((i) => i !== 0 && i !== axis);
    const { mean, variance } = ops.moments(xg, reduce, true);
    let y = ops.reshape(ops.mul(ops.sub(xg, mean), ops.rsqrt(ops.add(variance, this.epsilon))), x.shape);
    const bshape = x.shape.map((d, i) => (i === axis ? d : 1));
    if (this.gamma) y = ops.mul(y, ops.reshape(this.gamma.read(), bshape));
    if (this.beta) y = ops.add(y, ops.reshape(this.beta.read(), bshape));
    return y;
  }

  override getConfig(): GroupNormalizationConfig {
    return {
      ...super.getConfig(),
      groups: this.groups,
      axis: this.axis,
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

  static fromConfig(config: GroupNormalizationConfig): GroupNormalization {
    return new GroupNormalization(config);
  }
}
registerLayer(GroupNormalization);

export function groupNormalization(args: GroupNormalizationArgs = {}): GroupNormalization {
  return new GroupNormalization(args);
}
