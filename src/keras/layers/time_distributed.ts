/**
 * TimeDistributed: apply one layer to every time step of `[batch, time, ...]`, with the same
 * weights: the time axis is folded into the batch (`[batch * time, ...]`), the layer applied
 * once, and the result unfolded to `[batch, time, ...out]`. A mask passes through.
 */
import { KilnError } from '../../ir/types.js';
import { ops, type Tensor, type Variable } from '../backend.js';
import { shapeToString, type KerasShape } from '../engine/keras_tensor.js';
import { deserializeLayer, isShapeList, Layer, registerLayer, type CallArgs, type LayerArgs, type LayerConfig, type SerializedLayer } from '../engine/layer.js';
import { checkLayerArgs } from './args.js';

export interface TimeDistributedArgs extends LayerArgs {
  layer: Layer;
}

export interface TimeDistributedConfig extends LayerConfig {
  layer: SerializedLayer;
}

export class TimeDistributed extends Layer {
  static override className = 'TimeDistributed';
  readonly layer: Layer;

  constructor(args: TimeDistributedArgs) {
    super(args);
    checkLayerArgs(this.label, args, { known: ['layer'], required: ['layer'] });
    if (!(args.layer instanceof Layer)) this.fail(`layer must be a Layer, got ${String(args.layer)}`);
    this.layer = args.layer;
    this.supportsMasking = true;
  }

  protected override checkInputShape(shape: KerasShape | KerasShape[]): void {
    const s = this.singleShape(shape);
    if (s.length < 3) this.fail(`expected input of rank >= 3 [batch, time, ...], got ${shapeToString(s)}`);
  }

  private stepShape(s: KerasShape): KerasShape {
    return [s[0] != null && s[1] != null ? s[0] * s[1] : null, ...s.slice(2)];
  }

  override build(inputShape: KerasShape | KerasShape[]): void {
    const s = this.singleShape(inputShape);
    if (!this.layer.built) {
      this.layer.weightScope ??= this.name; // tfjs-layers names the inner weights `<wrapper>/kernel`
      this.layer.build(this.stepShape(s));
    }
    this.layer.built = true;
    this.weightPenalties.push(...this.layer.weightPenalties);
    this.weightConstraints.push(...this.layer.weightConstraints);
    this.built = true;
  }

  override computeOutputShape(inputShape: KerasShape | KerasShape[]): KerasShape {
    const s = this.singleShape(inputShape);
    const inner = this.layer.computeOutputShape([s[0] ?? null, ...s.slice(2)]);
    if (isShapeList(inner)) this.fail(`the wrapped layer '${this.layer.name}' has several outputs; TimeDistributed needs one`);
    return [s[0] ?? null, s[1] ?? null, ...inner.slice(1)];
  }

  override call(inputs: Tensor | Tensor[], args: CallArgs): Tensor {
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    const [b, t] = x.shape as [number, number];
    const folded = ops.reshape(x, [b * t, ...x.shape.slice(2)]);
    const y = this.layer.apply(folded, { training: args.training, step: args.step });
    if (Array.isArray(y)) throw new KilnError(`${this.label}: the wrapped layer '${this.layer.name}' returned ${y.length} outputs; TimeDistributed needs one`);
    return ops.reshape(y, [b, t, ...y.shape.slice(1)]);
  }

  override get trainableWeights(): Variable[] {
    return this.trainable ? this.layer.trainableWeights : [];
  }
  override get nonTrainableWeights(): Variable[] {
    return this.trainable ? this.layer.nonTrainableWeights : this.layer.weights;
  }

  override getConfig(): TimeDistributedConfig {
    return { ...super.getConfig(), layer: this.layer.serialize() };
  }

  static fromConfig(config: TimeDistributedConfig): TimeDistributed {
    const { layer, ...rest } = config;
    return new TimeDistributed({ ...rest, layer: deserializeLayer(layer) });
  }
}
registerLayer(TimeDistributed);

export function timeDistributed(args: TimeDistributedArgs): TimeDistributed {
  return new TimeDistributed(args);
}
