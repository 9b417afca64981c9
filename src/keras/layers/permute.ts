/**
 * Permute: reorders the non-batch axes; `dims` is a permutation of 1..rank-1 (1-based, the batch
 * axis stays first), as Keras.
 */
import type { DType } from '../../ir/dtype.js';
import { ops, type Tensor } from '../backend.js';
import { shapeToString, type KerasShape } from '../engine/keras_tensor.js';
import { Layer, registerLayer, type CallArgs, type LayerArgs, type LayerConfig } from '../engine/layer.js';
import { checkLayerArgs } from './args.js';

export interface PermuteArgs extends LayerArgs {
  dims: readonly number[];
}

export interface PermuteConfig extends LayerConfig {
  dims: number[];
}

export class Permute extends Layer {
  static override className = 'Permute';
  readonly dims: number[];

  constructor(args: PermuteArgs) {
    super(args);
    checkLayerArgs(this.label, args, { known: ['dims'], required: ['dims'] });
    const d = args.dims;
    const ok = Array.isArray(d) && d.length > 0 && [...d].sort((a, b) => a - b).every((v, i) => v === i + 1);
    if (!ok) this.fail(`dims must be a permutation of 1..${Array.isArray(d) && d.length > 0 ? d.length : 'rank-1'} (the batch axis 0 stays first), got ${JSON.stringify(d)}`);
    this.dims = [...d];
  }

  protected override checkInputShape(shape: KerasShape | KerasShape[], dtype: DType | DType[]): void {
    const s = this.singleShape(shape);
    if (s.length !== this.dims.length + 1) {
      this.fail(`dims ${JSON.stringify(this.dims)} permute ${this.dims.length} axes; expected an input of rank ${this.dims.length + 1} (batch first), got ${shapeToString(s, dtype as DType)}`);
    }
  }

  override computeOutputShape(inputShape: KerasShape | KerasShape[]): KerasShape {
    const s = this.singleShape(inputShape);
    return [s[0]!, ...this.dims.map((d) => s[d]!)];
  }

  override call(inputs: Tensor | Tensor[], _args: CallArgs): Tensor {
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    return ops.transpose(x, [0, ...this.dims]);
  }

  override getConfig(): PermuteConfig {
    return { ...super.getConfig(), dims: [...this.dims] };
  }

  static fromConfig(config: PermuteConfig): Permute {
    return new Permute(config);
  }
}
registerLayer(Permute);

export function permute(args: PermuteArgs): Permute {
  return new Permute(args);
}
