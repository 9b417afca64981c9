/**
 * Image sources: PNG and JPEG decoded in pure JavaScript in Node (pngjs, jpeg-js, loaded only
 * when an image is decoded there) and with createImageBitmap + OffscreenCanvas in browsers.
 * `images(files, {labels})` decodes each file when the iteration reaches it (so with prefetch the
 * reads and decodes of the next images proceed while the model trains on the current batch).
 * A decoded image is [height, width, channels] (RGB by default), f32 in [0, 255] or u8.
 */
import { hasNodeHost } from '../../host/node.js';
import { KilnError } from '../../ir/types.js';
import type { Tensor } from '../backend.js';
import { nodeImport, readBytes, type ByteSource } from './bytes.js';
import { checkKeys, Dataset } from './dataset.js';
import { viewTensor, type Element } from './element.js';

export interface DecodeImageOptions {
  /** 1 (gray), 3 (RGB, default) or 4 (RGBA). */
  channels?: 1 | 3 | 4;
  /** 'f32' (default, values 0..255) or 'u8'. */
  dtype?: 'f32' | 'u8';
}

const isNode = (): boolean => hasNodeHost;

/** RGBA pixels of PNG or JPEG bytes, by their signature. */
async function rgba(bytes: Uint8Array, where: string): Promise<{ width: number; height: number; data: Uint8Array }> {
  const png = bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47;
  const jpeg = bytes[0] === 0xff && bytes[1] === 0xd8;
  if (!png && !jpeg) throw new KilnError(`decodeImage: ${where} is neither PNG (89 50 4E 47) nor JPEG (FF D8); its first bytes are ${Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ')}`);
  try {
    if (isNode()) {
      if (png) {
        const { PNG } = (await nodeImport<{ default: typeof import('pngjs') }>(['png', 'js'].join(''))).default;
        const img = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
        return { width: img.width, height: img.height, data: new Uint8Array(img.data.buffer, img.data.byteOffset, img.data.byteLength) };
      }
      const jpegjs = (await nodeImport<{ default: typeof import('jpeg-js') }>(['jpeg', 'js'].join('-'))).default;
      const img = jpegjs.decode(bytes, { useTArray: true, formatAsRGBA: true });
      return { width: img.width, height: img.height, data: img.data };
    }
    // Browsers: the platform's decoders.
    const bitmap = await createImageBitmap(new Blob([bytes as BlobPart], { type: png ? 'image/png' : 'image/jpeg' }));
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    const ctx = canvas.getContext('2d')!;
    ctx.drawImage(bitmap, 0, 0);
    const d = ctx.getImageData(0, 0, bitmap.width, bitmap.height);
    return { width: d.width, height: d.height, data: new Uint8Array(d.data.buffer) };
  } catch (e) {
    if (e instanceof KilnError) throw e;
    throw new KilnError(`decodeImage: ${where} (${png ? 'PNG' : 'JPEG'}) does not decode: ${(e as Error).message}`);
  }
}

/** Decode one PNG/JPEG (path, URL or bytes) into a [height, width, channels] tensor. */
export async function decodeImage(source: ByteSource, options?: DecodeImageOptions): Promise<Tensor> {
  const o = checkKeys('decodeImage', options, ['channels', 'dtype']) as DecodeImageOptions;
  const channels = o.channels ?? 3;
  if (channels !== 1 && channels !== 3 && channels !== 4) throw new KilnError(`decodeImage: channels must be 1, 3 or 4, got ${String(channels)}`);
  const dtype = o.dtype ?? 'f32';
  if (dtype !== 'f32' && dtype !== 'u8') throw new KilnError(`decodeImage: dtype must be 'f32' or 'u8', got '${String(dtype)}'`);
  const where = typeof source === 'string' ? `'${source}'` : 'the image bytes';
  const { width, height, data } = await rgba(await readBytes('decodeImage', source), where);
  const n = width * height;
  const out = dtype === 'f32' ? new Float32Array(n * channels) : new Uint8Array(n * channels);
  for (let p = 0; p < n; p++) {
    const r = data[4 * p]!, g = data[4 * p + 1]!, b = data[4 * p + 2]!;
    if (channels === 1) out[p] = dtype === 'u8' ? Math.round(0.299 * r + 0.587 * g + 0.114 * b) : 0.299 * r + 0.587 * g + 0.114 * b;
    else {
      out[p * channels] = r; out[p * channels + 1] = g; out[p * channels + 2] = b;
      if (channels === 4) out[p * channels + 3] = data[4 * p + 3]!;
    }
  }
  return viewTensor([height, width, channels], dtype, out);
}

export interface ImagesOptions extends DecodeImageOptions {
  /** One label per image: elements become {xs: image, ys: label (i32 scalar)}. */
  labels?: readonly number[] | Int32Array;
}

/** A dataset of images decoded as iteration reaches them (same size needed to batch them). */
export function images(sources: readonly ByteSource[], options?: ImagesOptions): Dataset<Element> {
  const o = checkKeys('data.images', options, ['channels', 'dtype', 'labels']) as ImagesOptions;
  if (!Array.isArray(sources)) throw new KilnError(`data.images: expects an array of paths/URLs/bytes, got ${typeof sources}`);
  const labels = o.labels;
  if (labels !== undefined && labels.length !== sources.length) throw new KilnError(`data.images: ${sources.length} images but ${labels.length} labels`);
  const decode: DecodeImageOptions = { ...(o.channels !== undefined ? { channels: o.channels } : {}), ...(o.dtype !== undefined ? { dtype: o.dtype } : {}) };
  return new Dataset<Element>(async function* () {
    for (let i = 0; i < sources.length; i++) {
      const img = await decodeImage(sources[i]!, decode);
      yield labels === undefined ? img : { xs: img, ys: viewTensor([], 'i32', Int32Array.of(labels[i]!)) };
    }
  } as () => AsyncIterator<Element>, sources.length);
}
