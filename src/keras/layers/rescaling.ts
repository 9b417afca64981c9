/**
 * Rescaling: y = x * scale + offset (e.g. scale 1/255 for pixels to [0, 1], or scale 1/127.5
 * with offset -1 for [-1, 1]). Integer inputs are cast to float32 first, as Keras does.
 */
import { isFloat, type DType } from '../../ir/dtype.js';
import { ops, type Tensor } from '../backend.js';
import type { KerasTensor } from '../engine/keras_tensor.js';
import { Layer, registerLayer, type CallArgs, type LayerArgs, type LayerConfig } from '../engine/layer.js';
import { checkLayerArgs } from './args.js';

export interface RescalingArgs extends LayerArgs {
  scale: number;
  /** Default 0. */
  offset?: number;
}

export interface RescalingConfig extends LayerConfig {
  scale: number;
  offset: number;
}

export class Rescaling extends Layer {
  static override className = 'Rescaling';
  readonly scale: number;
  readonly offset: number;

  constructor(args: RescalingArgs) {
    super(args);
    checkLayerArgs(this.label, args, { known: ['scale', 'offset'], required: ['scale'] });
    for (const k of ['scale', 'offset'] as const) {
      const v = args[k];
      if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v))) {
        this.fail(`${k} must be a finite number, got ${JSON.stringify(v)}${Array.isArray(v) ? ' (per-channel lists are not supported)' : ''}`);
      }
    }
    this.scale = args.scale;
    this.offset = args.offset ?? 0;
  }

  protected override outputDtype(inputs: readonly KerasTensor[]): DType {
    const d = inputs[0]!.dtype;
    return isFloat(d) ? d : 'f32';
  }

  override call(inputs: Tensor | Tensor[], _args: CallArgs): Tensor {
    let x = Array.isArray(inputs) ? inputs[0]! : inputs;
    if (!isFloat(x.dtype)) x = ops.cast(x, 'f32');
    const y = this.scale === 1 ? x : ops.mul(x, this.scale);
    return this.offset === 0 ? y : ops.add(y, this.offset);
  }

  override getConfig(): RescalingConfig {
    return { ...super.getConfig(), scale: this.scale, offset: this.offset };
  }

  static fromConfig(config: RescalingConfig): Rescaling {
    return new Rescaling(config);
  }
}
registerLayer(Rescaling);

export function rescaling(args: RescalingArgs): Rescaling {
  return new Rescaling(args);
}
