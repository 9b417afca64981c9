/**
 * Cropping2D: removes rows and columns at the edges of a 4-D input. `cropping` is a number (all
 * sides), [h, w] (symmetric per axis) or [[top, bottom], [left, right]]; channelsFirst inputs
 * are cropped on axes 2 and 3, as tfjs-layers does.
 */
import type { DType } from '../../ir/dtype.js';
import { KilnError } from '../../ir/types.js';
import { ops, type Tensor } from '../backend.js';
import { shapeToString, type KerasShape } from '../engine/keras_tensor.js';
import { Layer, registerLayer, type CallArgs, type LayerArgs, type LayerConfig } from '../engine/layer.js';
import { checkLayerArgs } from './args.js';

export type Cropping2DCropping = number | readonly [number, number] | readonly [readonly [number, number], readonly [number, number]];
export type Cropping2DDataFormat = 'channelsLast' | 'channels_last' | 'channelsFirst' | 'channels_first';

export interface Cropping2DArgs extends LayerArgs {
  /** Default 0 (nothing). */
  cropping?: Cropping2DCropping;
  dataFormat?: Cropping2DDataFormat | null;
}

export interface Cropping2DConfig extends LayerConfig {
  cropping: [[number, number], [number, number]];
  dataFormat: 'channelsLast' | 'channelsFirst';
}

function normalizeCropping(p: Cropping2DCropping, who: string): [[number, number], [number, number]] {
  const bad = (): never => {
    throw new KilnError(`${who}: cropping must be a number, [h, w] or [[top, bottom], [left, right]] of non-negative integers, got ${JSON.stringify(p)}`);
  };
  const ok = (x: unknown): x is number => typeof x === 'number' && Number.isInteger(x) && x >= 0;
  if (typeof p === 'number') return ok(p) ? [[p, p], [p, p]] : bad();
  if (!Array.isArray(p) || p.length !== 2) return bad();
  const [a, b] = p as readonly unknown[];
  if (ok(a) && ok(b)) return [[a, a], [b, b]];
  if (Array.isArray(a) && Array.isArray(b) && a.length === 2 && b.length === 2 && [...a, ...b].every(ok)) return [[a[0], a[1]], [b[0], b[1]]];
  return bad();
}

export class Cropping2D extends Layer {
  static override className = 'Cropping2D';
  readonly cropping: [[number, number], [number, number]];
  readonly dataFormat: 'channelsLast' | 'channelsFirst';

  constructor(args: Cropping2DArgs = {}) {
    super(args);
    checkLayerArgs(this.label, args, { known: ['cropping', 'dataFormat'] });
    args ??= {};
    this.cropping = normalizeCropping(args.cropping ?? 0, this.label);
    const f = args.dataFormat ?? 'channelsLast';
    if (f === 'channelsLast' || f === 'channels_last') this.dataFormat = 'channelsLast';
    else if (f === 'channelsFirst' || f === 'channels_first') this.dataFormat = 'channelsFirst';
    else throw new KilnError(`${this.label}: dataFormat ${JSON.stringify(f)} is not supported (expected 'channelsLast' or 'channelsFirst', either spelling)`);
  }

  /** Height and width axes of the input. */
  private get spatial(): [number, number] {
    return this.dataFormat === 'channelsLast' ? [1, 2] : [2, 3];
  }

  protected override checkInputShape(shape: KerasShape | KerasShape[], dtype: DType | DType[]): void {
    const s = this.singleShape(shape);
    const t = shapeToString(s, dtype as DType);
    const layout = this.dataFormat === 'channelsLast' ? 'NHWC [batch, height, width, channels]' : 'NCHW [batch, channels, height, width]';
    if (s.length !== 4) this.fail(`expected a 4-D ${layout} input, got ${t}`);
    this.spatial.forEach((axis, i) => {
      const [a, b] = this.cropping[i]!;
      if (s[axis] !== null && s[axis]! <= a + b) this.fail(`cropping ${JSON.stringify(this.cropping)} removes all ${s[axis]} ${i === 0 ? 'rows' : 'columns'} of ${t}`);
    });
  }

  override computeOutputShape(inputShape: KerasShape | KerasShape[]): KerasShape {
    const s = [...this.singleShape(inputShape)];
    this.spatial.forEach((axis, i) => {
      s[axis] = s[axis] === null ? null : s[axis]! - this.cropping[i]![0] - this.cropping[i]![1];
    });
    return s;
  }

  override call(inputs: Tensor | Tensor[], _args: CallArgs): Tensor {
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    const begin = [0, 0, 0, 0], size = [...x.shape];
    this.spatial.forEach((axis, i) => {
      begin[axis] = this.cropping[i]![0];
      size[axis] = x.shape[axis]! - this.cropping[i]![0] - this.cropping[i]![1];
    });
    return ops.slice(x, begin, size);
  }

  override getConfig(): Cropping2DConfig {
    return { ...super.getConfig(), cropping: [[...this.cropping[0]], [...this.cropping[1]]], dataFormat: this.dataFormat };
  }

  static fromConfig(config: Cropping2DConfig): Cropping2D {
    return new Cropping2D(config);
  }
}
registerLayer(Cropping2D);

export function cropping2D(args: Cropping2DArgs = {}): Cropping2D {
  return new Cropping2D(args);
}
