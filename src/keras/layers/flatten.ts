/** Flatten: every dimension after the batch into one (row-major, so channels-last order is kept). */
import type { DType } from '../../ir/dtype.js';
import { ops, type Tensor } from '../backend.js';
import { shapeToString, type KerasShape } from '../engine/keras_tensor.js';
import { checkDataFormat, type DataFormat } from './conv_utils.js';
import { Layer, registerLayer, type CallArgs, type LayerArgs, type LayerConfig } from '../engine/layer.js';
import { checkLayerArgs } from './args.js';

export interface FlattenArgs extends LayerArgs {
  /** Channels-last only (either spelling); Keras and tfjs configs carry it. */
  dataFormat?: DataFormat | null;
}

export class Flatten extends Layer {
  static override className = 'Flatten';

  constructor(args: FlattenArgs = {}) {
    super(args);
    checkLayerArgs(this.label, args, { known: ['dataFormat'] });
    checkDataFormat(args?.dataFormat, this.label);
  }

  protected override checkInputShape(shape: KerasShape | KerasShape[], dtype: DType | DType[]): void {
    const s = this.singleShape(shape);
    const t = shapeToString(s, dtype as DType);
    if (s.length < 1) this.fail(`expected an input with a batch dimension, got ${t}`);
    if (s.slice(1).some((d) => d === null)) this.fail(`all non-batch dimensions must be known to flatten, got ${t}`);
  }

  override computeOutputShape(inputShape: KerasShape | KerasShape[]): KerasShape {
    const s = this.singleShape(inputShape);
    return [s[0]!, (s.slice(1) as number[]).reduce((a, b) => a * b, 1)];
  }

  override call(inputs: Tensor | Tensor[], _args: CallArgs): Tensor {
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    return ops.reshape(x, [x.shape[0]!, x.shape.slice(1).reduce((a, b) => a * b, 1)]);
  }

  override getConfig(): LayerConfig & { dataFormat: 'channelsLast' } {
    return { ...super.getConfig(), dataFormat: 'channelsLast' };
  }

  static fromConfig(config: LayerConfig): Flatten {
    return new Flatten(config);
  }
}
registerLayer(Flatten);

export function flatten(args: FlattenArgs = {}): Flatten {
  return new Flatten(args);
}
