/**
 * Shared argument normalization and output-size arithmetic for the 2-D convolution and pooling
 * layers (channels-last, NHWC), following Keras's conv_utils.
 */
import { KilnError } from '../../ir/types.js';

export type PaddingMode = 'same' | 'valid';
/** What users may write: Keras's lowercase names or TensorFlow's 'SAME'/'VALID'. */
export type PaddingLike = PaddingMode | 'SAME' | 'VALID';
/** Kiln is channels-last; tfjs's and Keras's spellings of it are both accepted. */
export type DataFormat = 'channelsLast' | 'channels_last';

/** `3` and `[3]` -> `[3, 3]` (as tfjs-layers); `[3, 5]` stays; anything else is an error naming the layer and argument. */
export function normalizePair(v: number | readonly number[], who: string, arg: string): [number, number] {
  const pair = typeof v === 'number' ? [v, v] : Array.isArray(v) && v.length === 1 ? [v[0], v[0]] : Array.isArray(v) ? [...v] : [v];
  if (pair.length !== 2 || !pair.every((x) => Number.isInteger(x) && x > 0)) {
    throw new KilnError(`${who}: ${arg} must be a positive integer or a pair of them, got ${JSON.stringify(v)}`);
  }
  return [pair[0]!, pair[1]!];
}

export function checkPadding(p: unknown, who: string): PaddingMode {
  const mode = typeof p === 'string' ? p.toLowerCase() : p ?? 'valid';
  if (mode !== 'same' && mode !== 'valid') {
    throw new KilnError(`${who}: padding must be 'same' or 'valid', got ${JSON.stringify(p)}`);
  }
  return mode;
}

/** Accept channels-last in either spelling (null: the default); refuse anything else. */
export function checkDataFormat(f: unknown, who: string): void {
  if (f == null || f === 'channelsLast' || f === 'channels_last') return;
  const why = f === 'channelsFirst' || f === 'channels_first'
    ? 'Kiln layers are channels-last (NHWC); transpose the input to NHWC and use channelsLast'
    : "expected 'channelsLast' or 'channels_last'";
  throw new KilnError(`${who}: dataFormat ${JSON.stringify(f)} is not supported (${why})`);
}

/** Output length of a window sweep, as Keras's conv_output_length; null stays null. */
export function convOutputLength(n: number | null, kernel: number, padding: PaddingMode, stride: number, dilation = 1): number | null {
  if (n === null) return null;
  const k = (kernel - 1) * dilation + 1;
  const len = padding === 'same' ? n : n - k + 1;
  return Math.floor((len + stride - 1) / stride);
}

export interface WindowArgs {
  strides?: number | readonly number[];
  padding?: PaddingLike;
  dataFormat?: DataFormat | null;
  dilationRate?: number | readonly number[];
}

/** Strides, padding, data format and dilation of a convolution, checked together. */
export function parseConvWindow(args: WindowArgs, who: string): { strides: [number, number]; padding: PaddingMode; dilationRate: [number, number] } {
  const strides = normalizePair(args.strides ?? 1, who, 'strides');
  const padding = checkPadding(args.padding, who);
  checkDataFormat(args.dataFormat, who);
  const dilationRate = normalizePair(args.dilationRate ?? 1, who, 'dilationRate');
  if ((strides[0] > 1 || strides[1] > 1) && (dilationRate[0] > 1 || dilationRate[1] > 1)) {
    throw new KilnError(`${who}: strides ${JSON.stringify(strides)} and dilationRate ${JSON.stringify(dilationRate)} cannot both exceed 1`);
  }
  return { strides, padding, dilationRate };
}

/** A convolution's input must be 4-D NHWC with a known channel count (`t` is the shape as text). */
export function checkNhwcInput(s: readonly (number | null)[], t: string, who: string): void {
  if (s.length !== 4) throw new KilnError(`${who}: expected a 4-D NHWC input [batch, height, width, channels], got ${t}`);
  if (s[3] === null) throw new KilnError(`${who}: the channel dimension of the input must be known, got ${t}`);
}

/** `3` and `[3]` -> `3` (1-D layers; tfjs-layers writes `[3]` in configs). */
export function normalizeSingle(v: number | readonly number[], who: string, arg: string): number {
  const x = typeof v === 'number' ? v : Array.isArray(v) && v.length === 1 ? v[0] : undefined;
  if (x === undefined || !Number.isInteger(x) || x <= 0) {
    throw new KilnError(`${who}: ${arg} must be a positive integer (or a list of one), got ${JSON.stringify(v)}`);
  }
  return x;
}

/** Conv1D also takes 'causal': output t sees inputs up to t only (left padding by (k - 1) * dilation). */
export type Padding1D = PaddingMode | 'causal';

export function checkPadding1D(p: unknown, who: string): Padding1D {
  const mode = typeof p === 'string' ? p.toLowerCase() : p ?? 'valid';
  if (mode !== 'same' && mode !== 'valid' && mode !== 'causal') {
    throw new KilnError(`${who}: padding must be 'same', 'valid' or 'causal', got ${JSON.stringify(p)}`);
  }
  return mode;
}

/** Output length of a transposed convolution, as Keras's deconv_output_length (outputPadding null: none given). */
export function deconvOutputLength(n: number | null, kernel: number, padding: PaddingMode, stride: number, dilation = 1, outputPadding?: number | null): number | null {
  if (n === null) return null;
  const k = (kernel - 1) * dilation + 1;
  if (outputPadding == null) return padding === 'same' ? n * stride : n * stride + Math.max(k - stride, 0);
  const pad = padding === 'same' ? Math.floor(k / 2) : 0;
  return (n - 1) * stride + k - 2 * pad + outputPadding;
}
