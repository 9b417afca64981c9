/** Concatenate: joins its inputs along `axis` (default -1); every other dimension must match. */
import type { DType } from '../../ir/dtype.js';
import { ops, type Tensor } from '../backend.js';
import { shapeToString, type KerasShape } from '../engine/keras_tensor.js';
import { registerLayer, type CallArgs, type LayerArgs, type LayerConfig } from '../engine/layer.js';
import { Merge } from './merge.js';
import { checkLayerArgs } from './args.js';

export interface ConcatenateArgs extends LayerArgs {
  axis?: number;
}

export interface ConcatenateConfig extends LayerConfig {
  axis: number;
}

export class Concatenate extends Merge {
  static override className = 'Concatenate';
  readonly axis: number;

  constructor(args: ConcatenateArgs = {}) {
    super(args);
    checkLayerArgs(this.label, args, { known: ['axis'] });
    args ??= {};
    this.axis = args.axis ?? -1;
    if (!Number.isInteger(this.axis)) this.fail(`axis must be an integer, got ${this.axis}`);
  }

  protected override checkInputShape(shape: KerasShape | KerasShape[], dtype: DType | DType[]): void {
    this.computeOutputShape(this.shapeList(shape, dtype));
  }

  override computeOutputShape(inputShape: KerasShape | KerasShape[]): KerasShape {
    const shapes = this.shapeList(inputShape);
    const rank = shapes[0]!.length;
    const list = () => shapes.map((s) => shapeToString(s)).join(', ');
    if (shapes.some((s) => s.length !== rank)) this.fail(`inputs must have the same rank, got ${list()}`);
    const axis = this.axis < 0 ? this.axis + rank : this.axis;
    if (axis < 0 || axis >= rank || axis === 0) this.fail(`axis ${this.axis} is out of range for inputs ${list()} (the batch axis cannot be joined)`);
    const out: (number | null)[] = [...shapes[0]!];
    for (let i = 0; i < rank; i++) {
      if (i === axis) {
        out[i] = shapes.some((s) => s[i] === null) ? null : shapes.reduce((n, s) => n + (s[i] as number), 0);
        continue;
      }
      for (const s of shapes) {
        if (s[i] !== null && out[i] !== null && s[i] !== out[i]) {
          this.fail(`inputs must match on every axis except ${this.axis}, got ${list()}`);
        }
        if (out[i] === null) out[i] = s[i]!;
      }
    }
    return out;
  }

  override call(inputs: Tensor | Tensor[], _args: CallArgs): Tensor {
    const xs = this.tensorList(inputs);
    return ops.concat(xs, this.axis);
  }

  override getConfig(): ConcatenateConfig {
    return { ...super.getConfig(), axis: this.axis };
  }

  static fromConfig(config: ConcatenateConfig): Concatenate {
    return new Concatenate(config);
  }
}
registerLayer(Concatenate);

export function concatenate(args: ConcatenateArgs = {}): Concatenate {
  return new Concatenate(args);
}
