/**
 * ZeroPadding2D: zeros around height and width of an NHWC input. `padding` is a number (all
 * sides), [h, w] (symmetric per axis) or [[top, bottom], [left, right]].
 */
import type { DType } from '../../ir/dtype.js';
import { KilnError } from '../../ir/types.js';
import { ops, type Tensor } from '../backend.js';
import { shapeToString, type KerasShape } from '../engine/keras_tensor.js';
import { Layer, registerLayer, type CallArgs, type LayerArgs, type LayerConfig } from '../engine/layer.js';
import { checkDataFormat, type DataFormat } from './conv_utils.js';
import { checkLayerArgs } from './args.js';

export type ZeroPadding2DPadding = number | readonly [number, number] | readonly [readonly [number, number], readonly [number, number]];

export interface ZeroPadding2DArgs extends LayerArgs {
  padding?: ZeroPadding2DPadding;
  dataFormat?: DataFormat | null;
}

export interface ZeroPadding2DConfig extends LayerConfig {
  padding: [[number, number], [number, number]];
  dataFormat: 'channelsLast';
}

function normalizePadding(p: ZeroPadding2DPadding, who: string): [[number, number], [number, number]] {
  const bad = (): never => {
    throw new KilnError(`${who}: padding must be a number, [h, w] or [[top, bottom], [left, right]] of non-negative integers, got ${JSON.stringify(p)}`);
  };
  const ok = (x: unknown): x is number => typeof x === 'number' && Number.isInteger(x) && x >= 0;
  if (typeof p === 'number') return ok(p) ? [[p, p], [p, p]] : bad();
  if (!Array.isArray(p) || p.length !== 2) return bad();
  const [a, b] = p as readonly unknown[];
  if (ok(a) && ok(b)) return [[a, a], [b, b]];
  if (Array.isArray(a) && Array.isArray(b) && a.length === 2 && b.length === 2 && [...a, ...b].every(ok)) {
    return [[a[0], a[1]], [b[0], b[1]]];
  }
  return bad();
}

export class ZeroPadding2D extends Layer {
  static override className = 'ZeroPadding2D';
  readonly padding: [[number, number], [number, number]];

  constructor(args: ZeroPadding2DArgs = {}) {
    super(args);
    checkLayerArgs(this.label, args, { known: ['padding', 'dataFormat'] });
    args ??= {};
    this.padding = normalizePadding(args.padding ?? 1, this.label);
    checkDataFormat(args.dataFormat, this.label);
  }

  protected override checkInputShape(shape: KerasShape | KerasShape[], dtype: DType | DType[]): void {
    const s = this.singleShape(shape);
    if (s.length !== 4) this.fail(`expected a 4-D NHWC input [batch, height, width, channels], got ${shapeToString(s, dtype as DType)}`);
  }

  override computeOutputShape(inputShape: KerasShape | KerasShape[]): KerasShape {
    const s = this.singleShape(inputShape);
    const [[t, b], [l, r]] = this.padding;
    return [s[0]!, s[1] === null ? null : s[1]! + t + b, s[2] === null ? null : s[2]! + l + r, s[3]!];
  }

  override call(inputs: Tensor | Tensor[], _args: CallArgs): Tensor {
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    return ops.pad(x, [[0, 0], this.padding[0], this.padding[1], [0, 0]]);
  }

  override getConfig(): ZeroPadding2DConfig {
    return { ...super.getConfig(), padding: [[...this.padding[0]], [...this.padding[1]]], dataFormat: 'channelsLast' };
  }

  static fromConfig(config: ZeroPadding2DConfig): ZeroPadding2D {
    return new ZeroPadding2D(config);
  }
}
registerLayer(ZeroPadding2D);

export function zeroPadding2d(args: ZeroPadding2DArgs = {}): ZeroPadding2D {
  return new ZeroPadding2D(args);
}
