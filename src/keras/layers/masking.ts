/**
 * Masking: time steps whose features all equal `maskValue` are skipped by later recurrent
 * layers. The output is the input with those steps zeroed, carrying the mask
 * `any(x != maskValue, -1)` (`[batch, time]`).
 */
import { ops, type Tensor } from '../backend.js';
import { Layer, registerLayer, type CallArgs, type LayerArgs, type LayerConfig, type LayerMask } from '../engine/layer.js';
import type { KerasShape } from '../engine/keras_tensor.js';
import { checkLayerArgs } from './args.js';

export interface MaskingArgs extends LayerArgs {
  /** Default 0. */
  maskValue?: number;
}

export interface MaskingConfig extends LayerConfig {
  maskValue: number;
}

export class Masking extends Layer {
  static override className = 'Masking';
  readonly maskValue: number;

  constructor(args: MaskingArgs = {}) {
    super(args);
    checkLayerArgs(this.label, args, { known: ['maskValue'] });
    const v = args?.maskValue ?? 0;
    if (typeof v !== 'number' || Number.isNaN(v)) this.fail(`maskValue must be a number, got ${JSON.stringify(v)}`);
    this.maskValue = v;
    this.supportsMasking = true;
  }

  protected override checkInputShape(shape: KerasShape | KerasShape[]): void {
    const s = this.singleShape(shape);
    if (s.length < 2) this.fail(`expected input of rank >= 2 [batch, ..., features], got rank ${s.length}`);
  }

  /** `[batch, ...]` bool: some feature differs from maskValue. */
  private keep(x: Tensor, keepDims: boolean): Tensor {
    return ops.greater(ops.max(ops.cast(ops.notEqual(x, this.maskValue), 'f32'), -1, keepDims), 0);
  }

  override computeMask(inputs: Tensor | Tensor[], _mask: LayerMask): LayerMask {
    return this.keep(Array.isArray(inputs) ? inputs[0]! : inputs, false);
  }

  override call(inputs: Tensor | Tensor[], _args: CallArgs): Tensor {
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    return ops.mul(x, ops.cast(this.keep(x, true), x.dtype));
  }

  override getConfig(): MaskingConfig {
    return { ...super.getConfig(), maskValue: this.maskValue };
  }

  static fromConfig(config: MaskingConfig): Masking {
    return new Masking(config);
  }
}
registerLayer(Masking);

export function masking(args?: MaskingArgs): Masking {
  return new Masking(args);
}
