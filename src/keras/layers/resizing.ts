/**
 * Resizing: images (NHWC, or one HWC image) resized to [height, width] with Keras's semantics,
 * i.e. tf.image.resize: 'bilinear' or 'nearest' with half-pixel centers. cropToAspectRatio
 * first crops the largest centered box with the target aspect ratio (Keras's crop box
 * arithmetic, integer truncation included), so the image is not distorted.
 *
 * tfjs-layers 4.22's Resizing departs from Keras (it passes alignCorners = !cropToAspectRatio
 * and never crops); Kiln follows Keras, so a tfjs-layers model with a Resizing layer predicts
 * what the Keras model it came from predicts, not what tfjs-layers computes.
 */
import { isFloat, type DType } from '../../ir/dtype.js';
import { ops, type Tensor } from '../backend.js';
import { shapeToString, type KerasShape, type KerasTensor } from '../engine/keras_tensor.js';
import { Layer, registerLayer, type CallArgs, type LayerArgs, type LayerConfig } from '../engine/layer.js';
import { checkLayerArgs, onlyValue, refuseValue } from './args.js';
import { checkDataFormat, type DataFormat } from './conv_utils.js';

export type ResizingInterpolation = 'bilinear' | 'nearest';

export interface ResizingArgs extends LayerArgs {
  height: number;
  width: number;
  /** Default 'bilinear'. */
  interpolation?: ResizingInterpolation;
  cropToAspectRatio?: boolean;
  /** Keras 3: false only. */
  padToAspectRatio?: boolean;
  /** Keras 3 (used only when padding to the aspect ratio): 'constant' only. */
  fillMode?: 'constant';
  fillValue?: number;
  /** Keras 3: false only. */
  antialias?: boolean;
  dataFormat?: DataFormat | null;
}

export interface ResizingConfig extends LayerConfig {
  height: number;
  width: number;
  interpolation: ResizingInterpolation;
  cropToAspectRatio: boolean;
}

const RESIZING_ARGS = ['height', 'width', 'interpolation', 'cropToAspectRatio', 'padToAspectRatio', 'fillMode', 'fillValue', 'antialias', 'dataFormat'] as const satisfies readonly (keyof ResizingArgs)[];

/** Keras's crop box for cropToAspectRatio: [top, left, cropHeight, cropWidth] of an h x w image. */
export function aspectRatioCropBox(h: number, w: number, targetH: number, targetW: number): [number, number, number, number] {
  const ch = Math.max(Math.min(h, Math.trunc((w * targetH) / targetW)), 1);
  const cw = Math.max(Math.min(w, Math.trunc((h * targetW) / targetH)), 1);
  return [Math.trunc((h - ch) / 2), Math.trunc((w - cw) / 2), ch, cw];
}

export class Resizing extends Layer {
  static override className = 'Resizing';
  readonly height: number;
  readonly width: number;
  readonly interpolation: ResizingInterpolation;
  readonly cropToAspectRatio: boolean;

  constructor(args: ResizingArgs) {
    super(args);
    checkLayerArgs(this.label, args, { known: RESIZING_ARGS, required: ['height', 'width'] });
    for (const k of ['height', 'width'] as const) {
      if (!Number.isInteger(args[k]) || args[k] <= 0) this.fail(`${k} must be a positive integer, got ${JSON.stringify(args[k])}`);
    }
    this.height = args.height;
    this.width = args.width;
    const i = args.interpolation ?? 'bilinear';
    if (i !== 'bilinear' && i !== 'nearest') refuseValue(this.label, 'interpolation', i, "Kiln supports 'bilinear' and 'nearest'");
    this.interpolation = i;
    this.cropToAspectRatio = args.cropToAspectRatio ?? false;
    onlyValue(this.label, 'padToAspectRatio', args.padToAspectRatio, [false]);
    onlyValue(this.label, 'fillMode', args.fillMode, ['constant']);
    onlyValue(this.label, 'antialias', args.antialias, [false]);
    if (args.fillValue !== undefined && typeof args.fillValue !== 'number') this.fail(`fillValue must be a number, got ${JSON.stringify(args.fillValue)}`);
    checkDataFormat(args.dataFormat, this.label);
  }

  protected override checkInputShape(shape: KerasShape | KerasShape[], dtype: DType | DType[]): void {
    const s = this.singleShape(shape);
    if (s.length !== 4 && s.length !== 3) this.fail(`expected a 4-D NHWC input [batch, height, width, channels] or one 3-D image, got ${shapeToString(s, dtype as DType)}`);
  }

  protected override outputDtype(inputs: readonly KerasTensor[]): DType {
    const d = inputs[0]!.dtype;
    return isFloat(d) ? d : 'f32';
  }

  override computeOutputShape(inputShape: KerasShape | KerasShape[]): KerasShape {
    const s = this.singleShape(inputShape);
    return s.length === 3 ? [this.height, this.width, s[2]!] : [s[0]!, this.height, this.width, s[3]!];
  }

  override call(inputs: Tensor | Tensor[], _args: CallArgs): Tensor {
    let x = Array.isArray(inputs) ? inputs[0]! : inputs;
    if (!isFloat(x.dtype)) x = ops.cast(x, 'f32');
    const off = x.rank - 3;
    if (this.cropToAspectRatio) {
      const [top, left, ch, cw] = aspectRatioCropBox(x.shape[off]!, x.shape[off + 1]!, this.height, this.width);
      const begin = x.shape.map(() => 0), size = [...x.shape];
      [begin[off], begin[off + 1], size[off], size[off + 1]] = [top, left, ch, cw];
      if (ch !== x.shape[off] || cw !== x.shape[off + 1]) x = ops.slice(x, begin, size);
    }
    if (x.shape[off] === this.height && x.shape[off + 1] === this.width) return x;
    const size = [this.height, this.width];
    return this.interpolation === 'bilinear' ? ops.resizeBilinear(x, size, false, true) : ops.resizeNearestNeighbor(x, size, false, true);
  }

  override getConfig(): ResizingConfig {
    return { ...super.getConfig(), height: this.height, width: this.width, interpolation: this.interpolation, cropToAspectRatio: this.cropToAspectRatio };
  }

  static fromConfig(config: ResizingConfig): Resizing {
    return new Resizing(config);
  }
}
registerLayer(Resizing);

export function resizing(args: ResizingArgs): Resizing {
  return new Resizing(args);
}
