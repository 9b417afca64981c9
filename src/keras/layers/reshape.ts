/** Reshape: the non-batch dimensions to `targetShape`; one entry may be -1 (inferred). */
import type { DType } from '../../ir/dtype.js';
import { ops, type Tensor } from '../backend.js';
import { shapeToString, type KerasShape } from '../engine/keras_tensor.js';
import { Layer, registerLayer, type CallArgs, type LayerArgs, type LayerConfig } from '../engine/layer.js';
import { checkLayerArgs } from './args.js';

export interface ReshapeArgs extends LayerArgs {
  targetShape: readonly number[];
}

export interface ReshapeConfig extends LayerConfig {
  targetShape: number[];
}

export class Reshape extends Layer {
  static override className = 'Reshape';
  readonly targetShape: number[];

  constructor(args: ReshapeArgs) {
    super(args);
    checkLayerArgs(this.label, args, { known: ['targetShape'], required: ['targetShape'] });
    this.targetShape = [...args.targetShape];
    const unknown = this.targetShape.filter((d) => d === -1).length;
    if (unknown > 1 || this.targetShape.some((d) => !Number.isInteger(d) || (d <= 0 && d !== -1))) {
      this.fail(`targetShape must be positive integers with at most one -1, got [${this.targetShape.join(',')}]`);
    }
  }

  /** The target shape with -1 resolved for `inputShape` (batch excluded); null when unknowable. */
  private resolve(inputShape: KerasShape, dtype?: DType): (number | null)[] {
    const rest = inputShape.slice(1);
    if (rest.some((d) => d === null)) return this.targetShape.map((d) => (d === -1 ? null : d));
    const total = (rest as number[]).reduce((a, b) => a * b, 1);
    const known = this.targetShape.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
    const hasUnknown = this.targetShape.includes(-1);
    if (hasUnknown ? total % known !== 0 : total !== known) {
      this.fail(`cannot reshape ${shapeToString(inputShape, dtype)} (${total} elements per example) to [${this.targetShape.join(',')}]`);
    }
    return this.targetShape.map((d) => (d === -1 ? total / known : d));
  }

  protected override checkInputShape(shape: KerasShape | KerasShape[], dtype: DType | DType[]): void {
    this.resolve(this.singleShape(shape), dtype as DType);
  }

  override computeOutputShape(inputShape: KerasShape | KerasShape[]): KerasShape {
    const s = this.singleShape(inputShape);
    return [s[0]!, ...this.resolve(s)];
  }

  override call(inputs: Tensor | Tensor[], _args: CallArgs): Tensor {
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    return ops.reshape(x, [x.shape[0]!, ...(this.resolve(x.shape, x.dtype) as number[])]);
  }

  override getConfig(): ReshapeConfig {
    return { ...super.getConfig(), targetShape: [...this.targetShape] };
  }

  static fromConfig(config: ReshapeConfig): Reshape {
    return new Reshape(config);
  }
}
registerLayer(Reshape);

export function reshape(args: ReshapeArgs): Reshape {
  return new Reshape(args);
}
