/** RepeatVector: [batch, features] -> [batch, n, features], the input repeated n times (a broadcast). */
import type { DType } from '../../ir/dtype.js';
import { ops, type Tensor } from '../backend.js';
import { shapeToString, type KerasShape } from '../engine/keras_tensor.js';
import { Layer, registerLayer, type CallArgs, type LayerArgs, type LayerConfig } from '../engine/layer.js';
import { checkLayerArgs } from './args.js';

export interface RepeatVectorArgs extends LayerArgs {
  n: number;
}

export interface RepeatVectorConfig extends LayerConfig {
  n: number;
}

export class RepeatVector extends Layer {
  static override className = 'RepeatVector';
  readonly n: number;

  constructor(args: RepeatVectorArgs) {
    super(args);
    checkLayerArgs(this.label, args, { known: ['n'], required: ['n'] });
    if (!Number.isInteger(args.n) || args.n <= 0) this.fail(`n must be a positive integer, got ${JSON.stringify(args.n)}`);
    this.n = args.n;
  }

  protected override checkInputShape(shape: KerasShape | KerasShape[], dtype: DType | DType[]): void {
    const s = this.singleShape(shape);
    if (s.length !== 2) this.fail(`expected a 2-D input [batch, features], got ${shapeToString(s, dtype as DType)}`);
  }

  override computeOutputShape(inputShape: KerasShape | KerasShape[]): KerasShape {
    const s = this.singleShape(inputShape);
    return [s[0]!, this.n, s[1]!];
  }

  override call(inputs: Tensor | Tensor[], _args: CallArgs): Tensor {
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    const [b, f] = x.shape as [number, number];
    return ops.broadcastTo(ops.reshape(x, [b, 1, f]), [b, this.n, f]);
  }

  override getConfig(): RepeatVectorConfig {
    return { ...super.getConfig(), n: this.n };
  }

  static fromConfig(config: RepeatVectorConfig): RepeatVector {
    return new RepeatVector(config);
  }
}
registerLayer(RepeatVector);

export function repeatVector(args: RepeatVectorArgs): RepeatVector {
  return new RepeatVector(args);
}
