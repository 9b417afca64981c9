/** GlobalAveragePooling2D: the mean over height and width of an NHWC input (keepDims keeps them as 1). */
import type { DType } from '../../ir/dtype.js';
import { ops, type Tensor } from '../backend.js';
import { shapeToString, type KerasShape } from '../engine/keras_tensor.js';
import { Layer, registerLayer, type CallArgs, type LayerArgs, type LayerConfig } from '../engine/layer.js';
import { checkDataFormat, type DataFormat } from './conv_utils.js';
import { checkLayerArgs } from './args.js';

export interface GlobalAveragePooling2DArgs extends LayerArgs {
  keepDims?: boolean;
  /** Keras 3's spelling of keepDims (its config writes `keepdims`). */
  keepdims?: boolean;
  dataFormat?: DataFormat | null;
}

export interface GlobalAveragePooling2DConfig extends LayerConfig {
  keepDims: boolean;
  dataFormat: 'channelsLast';
}

export class GlobalAveragePooling2D extends Layer {
  static override className = 'GlobalAveragePooling2D';
  readonly keepDims: boolean;

  constructor(args: GlobalAveragePooling2DArgs = {}) {
    super(args);
    checkLayerArgs(this.label, args, { known: ['keepDims', 'keepdims', 'dataFormat'] });
    args ??= {};
    this.keepDims = args.keepDims ?? args.keepdims ?? false;
    checkDataFormat(args.dataFormat, this.label);
  }

  protected override checkInputShape(shape: KerasShape | KerasShape[], dtype: DType | DType[]): void {
    const s = this.singleShape(shape);
    if (s.length !== 4) this.fail(`expected a 4-D NHWC input [batch, height, width, channels], got ${shapeToString(s, dtype as DType)}`);
  }

  override computeOutputShape(inputShape: KerasShape | KerasShape[]): KerasShape {
    const s = this.singleShape(inputShape);
    return this.keepDims ? [s[0]!, 1, 1, s[3]!] : [s[0]!, s[3]!];
  }

  override call(inputs: Tensor | Tensor[], _args: CallArgs): Tensor {
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    return ops.mean(x, [1, 2], this.keepDims);
  }

  override getConfig(): GlobalAveragePooling2DConfig {
    return { ...super.getConfig(), keepDims: this.keepDims, dataFormat: 'channelsLast' };
  }

  static fromConfig(config: GlobalAveragePooling2DConfig): GlobalAveragePooling2D {
    return new GlobalAveragePooling2D(config);
  }
}
registerLayer(GlobalAveragePooling2D);

export function globalAveragePooling2d(args: GlobalAveragePooling2DArgs = {}): GlobalAveragePooling2D {
  return new GlobalAveragePooling2D(args);
}
