/**
 * Cropping1D: removes `cropping` = [start, end] steps from a [batch, steps, channels] input (a
 * number crops both ends alike), as Keras (tfjs-layers has no Cropping1D).
 */
import type { DType } from '../../ir/dtype.js';
import { KilnError } from '../../ir/types.js';
import { ops, type Tensor } from '../backend.js';
import { shapeToString, type KerasShape } from '../engine/keras_tensor.js';
import { Layer, registerLayer, type CallArgs, type LayerArgs, type LayerConfig } from '../engine/layer.js';
import { checkLayerArgs } from './args.js';

export interface Cropping1DArgs extends LayerArgs {
  /** Steps removed at the start and the end; default [1, 1]. */
  cropping?: number | readonly [number, number];
}

export interface Cropping1DConfig extends LayerConfig {
  cropping: [number, number];
}

export class Cropping1D extends Layer {
  static override className = 'Cropping1D';
  readonly cropping: [number, number];

  constructor(args: Cropping1DArgs = {}) {
    super(args);
    checkLayerArgs(this.label, args, { known: ['cropping'] });
    const c = (args ?? {}).cropping ?? 1;
    const pair = typeof c === 'number' ? [c, c] : Array.isArray(c) ? [...c] : [];
    if (pair.length !== 2 || !pair.every((v) => Number.isInteger(v) && v >= 0)) {
      throw new KilnError(`${this.label}: cropping must be a non-negative integer or [start, end] of them, got ${JSON.stringify(c)}`);
    }
    this.cropping = [pair[0]!, pair[1]!];
  }

  protected override checkInputShape(shape: KerasShape | KerasShape[], dtype: DType | DType[]): void {
    const s = this.singleShape(shape);
    const t = shapeToString(s, dtype as DType);
    if (s.length !== 3) this.fail(`expected a 3-D input [batch, steps, channels], got ${t}`);
    if (s[1] !== null && s[1]! <= this.cropping[0] + this.cropping[1]) this.fail(`cropping ${JSON.stringify(this.cropping)} removes all ${s[1]} steps of ${t}`);
  }

  override computeOutputShape(inputShape: KerasShape | KerasShape[]): KerasShape {
    const s = this.singleShape(inputShape);
    return [s[0]!, s[1] === null ? null : s[1]! - this.cropping[0] - this.cropping[1], s[2]!];
  }

  override call(inputs: Tensor | Tensor[], _args: CallArgs): Tensor {
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    const [n, steps, c] = x.shape as [number, number, number];
    return ops.slice(x, [0, this.cropping[0], 0], [n, steps - this.cropping[0] - this.cropping[1], c]);
  }

  override getConfig(): Cropping1DConfig {
    return { ...super.getConfig(), cropping: [...this.cropping] };
  }

  static fromConfig(config: Cropping1DConfig): Cropping1D {
    return new Cropping1D(config);
  }
}
registerLayer(Cropping1D);

export function cropping1D(args: Cropping1DArgs = {}): Cropping1D {
  return new Cropping1D(args);
}
