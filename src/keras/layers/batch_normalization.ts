/**
 * BatchNormalization over `axis` (default -1, the channels). Weights are gamma, beta (trainable,
 * when scale/center) then movingMean, movingVariance (not trainable), as in tfjs-layers.
 *
 * Inference: y = (x - movingMean) * gamma / sqrt(movingVariance + epsilon) + beta.
 * Training (`training: true` on a trainable layer; a frozen layer stays in inference mode, as in
 * Keras 3): y uses the batch mean and biased variance over every axis but `axis`, and the moving
 * statistics move towards them as tfjs-layers does: moving -= (moving - batch) * (1 - momentum).
 * The update is a `Variable.assign`: eagerly it replaces the value; in a trace that bound the
 * variables (trace/fn/valueAndGrad option `variables`, which must then list the moving
 * statistics too) it becomes a state output aliased to the variable's parameter.
 */
import type { DType } from '../../ir/dtype.js';
import { ops, type Tensor, type Variable } from '../backend.js';
import { shapeToString, type KerasShape } from '../engine/keras_tensor.js';
import { Layer, registerLayer, type CallArgs, type LayerArgs, type LayerConfig } from '../engine/layer.js';
import { getConstraint, serializeConstraint, type Constraint, type ConstraintLike, type SerializedConstraint } from '../constraints.js';
import { getInitializer, serializeInitializer, type InitializerLike, type SerializedInitializer } from '../initializers.js';
import { getRegularizer, serializeRegularizer, type Regularizer, type RegularizerLike, type SerializedRegularizer } from '../regularizers.js';
import { checkLayerArgs, onlyValue } from './args.js';

export interface BatchNormalizationArgs extends LayerArgs {
  /** One axis (Keras configs may write it as a one-element list). */
  axis?: number | readonly [number];
  momentum?: number;
  epsilon?: number;
  center?: boolean;
  scale?: boolean;
  betaInitializer?: InitializerLike;
  gammaInitializer?: InitializerLike;
  movingMeanInitializer?: InitializerLike;
  movingVarianceInitializer?: InitializerLike;
  betaRegularizer?: RegularizerLike | null;
  gammaRegularizer?: RegularizerLike | null;
  betaConstraint?: ConstraintLike | null;
  gammaConstraint?: ConstraintLike | null;
  /** Keras 2 options Kiln does not implement: accepted only at their defaults (off). */
  renorm?: boolean;
  renormClipping?: null;
  renormMomentum?: number;
  virtualBatchSize?: null;
  adjustment?: null;
  /** Keras 2's kernel choice and Keras 3's cross-replica flag: no effect on one device. */
  fused?: boolean | null;
  synchronized?: boolean;
}

const BN_ARGS = [
  'axis', 'momentum', 'epsilon', 'center', 'scale', 'betaInitializer', 'gammaInitializer', 'movingMeanInitializer',
  'movingVarianceInitializer', 'betaRegularizer', 'gammaRegularizer', 'betaConstraint', 'gammaConstraint', 'renorm',
  'renormClipping', 'renormMomentum', 'virtualBatchSize', 'adjustment', 'fused', 'synchronized',
] as const satisfies readonly (keyof BatchNormalizationArgs)[];

export interface BatchNormalizationConfig extends LayerConfig {
  axis: number;
  momentum: number;
  epsilon: number;
  center: boolean;
  scale: boolean;
  betaInitializer: SerializedInitializer;
  gammaInitializer: SerializedInitializer;
  movingMeanInitializer: SerializedInitializer;
  movingVarianceInitializer: SerializedInitializer;
  betaRegularizer: SerializedRegularizer | null;
  gammaRegularizer: SerializedRegularizer | null;
  betaConstraint: SerializedConstraint | null;
  gammaConstraint: SerializedConstraint | null;
}

export class BatchNormalization extends Layer {
  static override className = 'BatchNormalization';
  readonly axis: number;
  readonly momentum: number;
  readonly epsilon: number;
  readonly center: boolean;
  readonly scale: boolean;
  private readonly betaInitializer;
  private readonly gammaInitializer;
  private readonly movingMeanInitializer;
  private readonly movingVarianceInitializer;
  readonly betaRegularizer?: Regularizer;
  readonly gammaRegularizer?: Regularizer;
  readonly betaConstraint?: Constraint;
  readonly gammaConstraint?: Constraint;
  gamma?: Variable;
  beta?: Variable;
  movingMean?: Variable;
  movingVariance?: Variable;

  constructor(args: BatchNormalizationArgs = {}) {
    super(args);
    checkLayerArgs(this.label, args, { known: BN_ARGS });
    args ??= {};
    const axis = args.axis ?? -1;
    this.axis = Array.isArray(axis) && axis.length === 1 ? axis[0] : (axis as number);
    onlyValue(this.label, 'renorm', args.renorm, [false]);
    onlyValue(this.label, 'renormClipping', args.renormClipping, [null]);
    onlyValue(this.label, 'virtualBatchSize', args.virtualBatchSize, [null]);
    onlyValue(this.label, 'adjustment', args.adjustment, [null]);
    this.momentum = args.momentum ?? 0.99;
    this.epsilon = args.epsilon ?? 1e-3;
    this.center = args.center ?? true;
    this.scale = args.scale ?? true;
    if (!Number.isInteger(this.axis)) this.fail(`axis must be an integer, got ${JSON.stringify(args.axis)}`);
    if (!(this.epsilon > 0)) this.fail(`epsilon must be positive, got ${this.epsilon}`);
    this.betaInitializer = getInitializer(args.betaInitializer ?? 'zeros', `${this.label}: betaInitializer`);
    this.gammaInitializer = getInitializer(args.gammaInitializer ?? 'ones', `${this.label}: gammaInitializer`);
    this.movingMeanInitializer = getInitializer(args.movingMeanInitializer ?? 'zeros', `${this.label}: movingMeanInitializer`);
    this.movingVarianceInitializer = getInitializer(args.movingVarianceInitializer ?? 'ones', `${this.label}: movingVarianceInitializer`);
    this.betaRegularizer = getRegularizer(args.betaRegularizer, `${this.label}: betaRegularizer`);
    this.gammaRegularizer = getRegularizer(args.gammaRegularizer, `${this.label}: gammaRegularizer`);
    this.betaConstraint = getConstraint(args.betaConstraint, `${this.label}: betaConstraint`);
    this.gammaConstraint = getConstraint(args.gammaConstraint, `${this.label}: gammaConstraint`);
  }

  private resolvedAxis(rank: number): number {
    return this.axis < 0 ? this.axis + rank : this.axis;
  }

  protected override checkInputShape(shape: KerasShape | KerasShape[], dtype: DType | DType[]): void {
    const s = this.singleShape(shape);
    const t = shapeToString(s, dtype as DType);
    const axis = this.resolvedAxis(s.length);
    if (axis < 1 || axis >= s.length) this.fail(`axis ${this.axis} is out of range for input ${t} (the batch axis cannot be normalized)`);
    if (s[axis] === null) this.fail(`dimension ${axis} (the normalized axis) must be known, got ${t}`);
    const n = this.movingMean?.value.shape[0];
    if (n !== undefined && s[axis] !== n) this.fail(`expected input with ${n} features on axis ${this.axis}, got ${t}`);
  }

  override build(inputShape: KerasShape | KerasShape[]): void {
    const s = this.singleShape(inputShape);
    const n = s[this.resolvedAxis(s.length)] as number;
    if (this.scale) this.gamma = this.addWeight('gamma', [n], this.gammaInitializer, true, { regularizer: this.gammaRegularizer, constraint: this.gammaConstraint });
    if (this.center) this.beta = this.addWeight('beta', [n], this.betaInitializer, true, { regularizer: this.betaRegularizer, constraint: this.betaConstraint });
    this.movingMean = this.addWeight('moving_mean', [n], this.movingMeanInitializer, false);
    this.movingVariance = this.addWeight('moving_variance', [n], this.movingVarianceInitializer, false);
    this.built = true;
  }

  override call(inputs: Tensor | Tensor[], args: CallArgs): Tensor {
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    const axis = this.resolvedAxis(x.rank);
    // Per-feature vectors reshaped to broadcast along `axis` (a no-op for the last axis).
    const bshape = x.shape.map((d, i) => (i === axis ? d : 1));
    const vec = (v: Tensor): Tensor => (axis === x.rank - 1 ? v : ops.reshape(v, bshape));
    let mean: Tensor, variance: Tensor;
    if (args.training && this.trainable) {
      ({ mean, variance } = ops.moments(x, x.shape.map((_, i) => i).filter((i) => i !== axis)));
      this.moveTowards(this.movingMean!, mean);
      this.moveTowards(this.movingVariance!, variance);
    } else {
      mean = this.movingMean!.read();
      variance = this.movingVariance!.read();
    }
    // (x - mean) * (gamma * rsqrt(var + eps)) + beta, in tfjs's order so results agree to rounding.
    let scale = ops.rsqrt(ops.add(variance, this.epsilon));
    if (this.gamma) scale = ops.mul(scale, this.gamma.read());
    const y = ops.mul(ops.sub(x, vec(mean)), vec(scale));
    return this.beta ? ops.add(y, vec(this.beta.read())) : y;
  }

  /** moving -= (moving - batch) * (1 - momentum): tfjs-layers' update, term for term. */
  private moveTowards(moving: Variable, batch: Tensor): void {
    const old = moving.read();
    moving.assign(ops.sub(old, ops.mul(ops.sub(old, batch), 1 - this.momentum)));
  }

  override getConfig(): BatchNormalizationConfig {
    return {
      ...super.getConfig(),
      axis: this.axis,
      momentum: this.momentum,
      epsilon: this.epsilon,
      center: this.center,
      scale: this.scale,
      betaInitializer: serializeInitializer(this.betaInitializer),
      gammaInitializer: serializeInitializer(this.gammaInitializer),
      movingMeanInitializer: serializeInitializer(this.movingMeanInitializer),
      movingVarianceInitializer: serializeInitializer(this.movingVarianceInitializer),
      betaRegularizer: serializeRegularizer(this.betaRegularizer),
      gammaRegularizer: serializeRegularizer(this.gammaRegularizer),
      betaConstraint: serializeConstraint(this.betaConstraint),
      gammaConstraint: serializeConstraint(this.gammaConstraint),
    };
  }

  static fromConfig(config: BatchNormalizationConfig): BatchNormalization {
    return new BatchNormalization(config);
  }
}
registerLayer(BatchNormalization);

export function batchNormalization(args: BatchNormalizationArgs = {}): BatchNormalization {
  return new BatchNormalization(args);
}
