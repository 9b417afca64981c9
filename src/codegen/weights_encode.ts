/**
 * Weight compression, compiler side: encodes the program's weights image (its constants, already
 * packed and laid out for the kernels) into the version-5 "weights" section the runtime decodes
 * once at load (runtime/weights_codec.ts; docs/artifact-format.md, "Encoded weights"). Compute
 * stays f32, so only the artifact's size and the load change.
 *
 * Each constant buffer is encoded on its own, by the first rule that applies:
 * - all zeros: no bytes at all (the decoder zero-fills what no segment covers);
 * - lossless, from the storage the model was imported with (`storage`): `affine` codes when every
 *   value is exactly `fround(q * scale + min)` for one recorded uint8/uint16 scale and min (the
 *   packing's padding zeros take a code no value uses), `f16` when every value is an exact half.
 *   A pass that changed the values (batch-norm folding multiplies a conv's weights per channel)
 *   makes both fail; the buffer then falls back to the mode's lossy encoding or stays raw, and
 *   the report says so;
 * - lossy, with mode 'float16-weights' (`f16`, round to nearest even) or 'int8-weights' (`q8`:
 *   blocks of 64 consecutive values sharing an f32 scale max|x|/127, GGML q8_0 style: the image is
 *   packed panels, so a block is a run of one panel row, and 64 values per scale track the weights'
 *   range more closely than one scale per output channel). Only buffers of at least 1024 values
 *   that are not vectors: an IR constant of rank 0 or 1 (a bias, a batch-norm scale or shift) and
 *   anything smaller stays exact f32, as biases do in TFLite's weight-only quantization;
 * - otherwise raw bytes (non-f32 constants always).
 * Every lossless choice is checked by decoding it with the runtime's own decoder and comparing
 * bits, so a mistake here can only cost size, never change a weight.
 */
import { KilnError } from '../ir/types.js';
import { f32ToF16Bits } from '../runtime/dtypes.js';
import type { WeightSegment, WeightsEncoding } from '../runtime/manifest.js';
import { decodeWeights, decodedBytes, encodedStart, halfTable } from '../runtime/weights_codec.js';
import { readArtifact, writeArtifact } from '../runtime/artifact.js';
import { GEMM_NR } from './kernel_ir.js';
import type { WeightStorage } from '../frontend/io/weight_storage.js';
import type { Program, ProgramBuffer } from './program.js';

/** 'keep': lossless only, from the imported storage (the default). */
export type WeightsMode = 'keep' | 'int8-weights' | 'float16-weights';

/** Values per int8 block (one f32 scale each). */
export const Q8_BLOCK = 64;
/** Lossy encodings apply to buffers of at least this many values (not vectors). */
export const LOSSY_MIN_VALUES = 1024;

export interface EncodedWeights {
  /** The "weights" section. */
  section: Uint8Array;
  /** Absent when nothing was encoded (the section is then the raw image). */
  encoding?: WeightsEncoding;
  /** Decoded f32 image bytes by encoding, and what they take encoded. */
  stats: Record<WeightSegment['enc'] | 'zeros', { buffers: number; decoded: number; encoded: number }>;
  /** Buffers whose imported storage did not survive the passes, with why. */
  fallbacks: string[];
}

interface Choice {
  seg: WeightSegment | undefined;
  bytes: Uint8Array;
  why?: string;
}

/** Encode the weights of `program` under `mode`, using the recorded storage of an imported model. */
export function encodeWeights(program: Program, mode: WeightsMode, storage: readonly WeightStorage[] = []): EncodedWeights {
  const image = program.weights;
  const stats: EncodedWeights['stats'] = {
    raw: { buffers: 0, decoded: 0, encoded: 0 }, f16: { buffers: 0, decoded: 0, encoded: 0 },
    affine: { buffers: 0, decoded: 0, encoded: 0 }, q8: { buffers: 0, decoded: 0, encoded: 0 }, zeros: { buffers: 0, decoded: 0, encoded: 0 },
  };
  const fallbacks: string[] = [];
  const consts = program.buffers.filter((b) => b.kind === 'const' && b.bytes > 0).sort((a, b) => a.offset - b.offset);
  const segments: WeightSegment[] = [];
  const parts: Uint8Array[] = [];
  let rawStart = -1;
  let rawEnd = -1;
  const flushRaw = () => {
    if (rawStart < 0) return;
    segments.push({ enc: 'raw', at: rawStart, bytes: rawEnd - rawStart });
    parts.push(image.subarray(rawStart, rawEnd));
    rawStart = -1;
  };
  let encodedAny = false;
  for (const b of consts) {
    const at = b.offset - program.weightsOffset;
    const bytes = image.subarray(at, at + b.bytes);
    const cs = chooseParts(b, bytes, at, mode, storage);
    const why = cs.find((c) => c.why)?.why;
    if (why) fallbacks.push(`${describeBuffer(b)}: ${why}`);
    const main = cs.find((c) => c.seg)?.seg;
    const kind = main ? main.enc : 'zeros';
    stats[kind].buffers++;
    stats[kind].decoded += b.bytes;
    for (const c of cs) stats[kind].encoded += c.bytes.length;
    if (main?.enc === 'raw') {
      if (rawStart < 0) rawStart = at;
      rawEnd = at + b.bytes;
      continue;
    }
    encodedAny = true;
    flushRaw();
    for (const c of cs) {
      if (!c.seg) continue;
      segments.push(c.seg);
      parts.push(c.bytes);
    }
  }
  flushRaw();
  if (!encodedAny) return { section: image, stats, fallbacks };
  const starts: number[] = [];
  let total = 0;
  parts.forEach((p, i) => {
    starts.push(encodedStart(total, segments[i]!));
    total = starts[i]! + p.length;
  });
  const section = new Uint8Array(total);
  parts.forEach((p, i) => section.set(p, starts[i]!));
  const encoding: WeightsEncoding = { segments };
  // The whole image through the runtime's decoder: lossless segments must give the same bits.
  const decoded = new Uint8Array(image.length);
  decodeWeights(section, encoding, decoded);
  segments.forEach((s) => {
    if (s.enc === 'q8' || (mode === 'float16-weights' && s.enc === 'f16')) return;
    const n = decodedBytes(s);
    const a = image.subarray(s.at, s.at + n), d = decoded.subarray(s.at, s.at + n);
    if (!sameBytes(a, d)) {
      const i = a.findIndex((x, k) => x !== d[k]);
      throw new KilnError(`weights_encode: the ${s.enc} segment at byte ${s.at} does not decode to the weights it encodes (byte ${s.at + i}: ${d[i]} instead of ${a[i]}); this is a compiler bug`);
    }
  });
  return { section, encoding, stats, fallbacks };
}

/** Byte equality, four bytes at a time where both are aligned. */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let i = 0;
  if (a.byteOffset % 4 === 0 && b.byteOffset % 4 === 0) {
    const n = a.length >> 2;
    const x = new Uint32Array(a.buffer, a.byteOffset, n), y = new Uint32Array(b.buffer, b.byteOffset, n);
    for (; i < n; i++) if (x[i] !== y[i]) return false;
    i = n << 2;
  }
  for (; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function describeBuffer(b: ProgramBuffer): string {
  const what = b.value ? `constant %${b.value.id}` : (b.note ?? 'constant');
  return `${what} f32[${b.shape.join(',')}] at byte ${b.offset}`;
}

/**
 * A buffer's segments: one, or for a packed GEMM operand whose last panel is padded (columns past
 * N % GEMM_NR zero in every row), the full panels and then that panel's real columns as rows of
 * `width` every GEMM_NR values, so the padding costs nothing.
 */
function chooseParts(b: ProgramBuffer, bytes: Uint8Array, at: number, mode: WeightsMode, storage: readonly WeightStorage[]): Choice[] {
  const raw: Choice = { seg: { enc: 'raw', at, bytes: bytes.length }, bytes };
  if (b.dtype !== 'f32' || bytes.length % 4 !== 0) return [raw];
  if (mode === 'keep' && storage.length === 0) return [raw];
  const v = new Float32Array(bytes.slice().buffer);
  const lossyOk = v.length >= LOSSY_MIN_VALUES && !(b.value && b.value.shape.length <= 1);
  const tail = b.value ? undefined : paddedTail(v);
  if (!tail) return [choose(v, at, mode, storage, lossyOk, bytes.length)];
  const head = v.subarray(0, v.length - tail.rows * GEMM_NR);
  const rows = new Float32Array(tail.rows * tail.width);
  for (let r = 0; r < tail.rows; r++) rows.set(v.subarray(head.length + r * GEMM_NR, head.length + r * GEMM_NR + tail.width), r * tail.width);
  const c1 = head.length ? choose(head, at, mode, storage, lossyOk, head.length * 4) : { seg: undefined, bytes: new Uint8Array(0) };
  const c2 = choose(rows, at + head.length * 4, mode, storage, lossyOk, v.length * 4 - head.length * 4);
  // Raw anywhere: the whole buffer raw (one raw segment), as the fallback report says.
  if (c1.seg?.enc === 'raw' || c2.seg?.enc === 'raw') return [{ ...raw, why: c1.why ?? c2.why }];
  if (c2.seg) Object.assign(c2.seg, { width: tail.width, stride: GEMM_NR });
  return [c1, c2];
}

/** The trailing rows of GEMM_NR values whose columns from `width` on are all +0 (a padded last panel). */
function paddedTail(v: Float32Array): { rows: number; width: number } | undefined {
  if (v.length % GEMM_NR !== 0) return undefined;
  const bits = new Uint32Array(v.buffer, v.byteOffset, v.length);
  const total = v.length / GEMM_NR;
  let best: { rows: number; width: number; saved: number } | undefined;
  let width = 0;
  for (let r = total - 1; r >= 0; r--) {
    let w = GEMM_NR;
    while (w > 0 && bits[r * GEMM_NR + w - 1] === 0) w--;
    width = Math.max(width, w, 1);
    if (width === GEMM_NR) break;
    const rows = total - r, saved = rows * (GEMM_NR - width);
    if (!best || saved > best.saved) best = { rows, width, saved };
  }
  return best && best.saved >= 16 ? best : undefined;
}

/** The encoding of values `v` (decoded at byte `at`); `rawBytes` is what they take raw in the image. */
function choose(v: Float32Array, at: number, mode: WeightsMode, storage: readonly WeightStorage[], lossyOk: boolean, rawBytes: number): Choice {
  const rawv = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  const raw: Choice = { seg: { enc: 'raw', at, bytes: rawBytes }, bytes: rawv };
  const bits = new Uint32Array(v.buffer, v.byteOffset, v.length);
  let nonzero = false;
  for (let i = 0; i < bits.length && !nonzero; i++) nonzero = bits[i] !== 0;
  if (!nonzero) return { seg: undefined, bytes: new Uint8Array(0) };
  let best: Choice | undefined;
  const consider = (c: Choice | undefined) => {
    if (c && (!best || c.bytes.length < best.bytes.length)) best = c;
  };
  // Lossless, from the imported storage.
  for (const s of storage) {
    if (s.kind === 'affine') consider(affine(v, at, s));
    if (best && best.bytes.length <= v.length) break;
  }
  if (storage.some((s) => s.kind === 'f16') || mode === 'float16-weights') consider(exactF16(v, at));
  const lost = storage.length > 0 && !best ? 'no recorded storage reproduces its values exactly (a pass changed them)' : undefined;
  if (lossyOk && mode === 'int8-weights' && (!best || best.bytes.length > v.length)) consider(q8(v, at));
  if (lossyOk && mode === 'float16-weights' && !best) {
    const h = roundF16(v, at);
    if (h) consider(h);
  }
  if (!best || best.bytes.length >= rawBytes) return lost ? { ...raw, why: `${lost}; kept f32` } : raw;
  return lost ? { ...best, why: `${lost}; stored as ${best.seg!.enc}` } : best;
}

/**
 * Codes for `fround(q * scale + min)`: the rounding of (v - min) / scale, or its neighbour, must
 * give v back exactly. Padding zeros take a code no value uses (or the 16-bit code 2^bits).
 */
function affine(v: Float32Array, at: number, s: Extract<WeightStorage, { kind: 'affine' }>): Choice | undefined {
  const max = 2 ** s.bits - 1;
  const f = new Float32Array(1);
  const codeOf = (x: number): number => {
    const q0 = Math.round((x - s.min) / s.scale);
    for (const q of [q0, q0 - 1, q0 + 1]) {
      if (q < 0 || q > max) continue;
      f[0] = q * s.scale + s.min;
      if (f[0] === x && (x !== 0 || !Object.is(f[0], -0))) return q;
    }
    return -1;
  };
  // Cheap rejection: the first few nonzero values.
  let checked = 0;
  for (let i = 0; i < v.length && checked < 8; i++) {
    if (v[i] === 0) continue;
    if (codeOf(v[i]!) < 0) return undefined;
    checked++;
  }
  const codes = new Uint32Array(v.length);
  const used = new Uint8Array(max + 1);
  let zeros = false;
  for (let i = 0; i < v.length; i++) {
    const x = v[i]!;
    let q = codeOf(x);
    if (q < 0) {
      if (!(x === 0 && !Object.is(x, -0))) return undefined;
      zeros = true;
      q = -1;
    } else used[q] = 1;
    codes[i] = q;
  }
  let bits = s.bits;
  let zero: number | undefined;
  if (zeros) {
    zero = used.indexOf(0);
    if (zero < 0) {
      if (bits === 16) return undefined;
      bits = 16;
      zero = max + 1;
    }
    for (let i = 0; i < v.length; i++) if (codes[i] === 0xffffffff) codes[i] = zero;
  }
  const out = bits === 8 ? Uint8Array.from(codes) : new Uint8Array(Uint16Array.from(codes).buffer);
  return { seg: { enc: 'affine', at, count: v.length, bits: bits as 8 | 16, scale: s.scale, min: s.min, ...(zero !== undefined ? { zero } : {}) }, bytes: out };
}

/** IEEE halves when every value is one exactly (sign of zero included). */
function exactF16(v: Float32Array, at: number): Choice | undefined {
  const h = new Uint16Array(v.length);
  const table = new Uint32Array(halfTable().buffer);
  const bits = new Uint32Array(v.buffer, v.byteOffset, v.length);
  for (let i = 0; i < v.length; i++) {
    const b = f32ToF16Bits(v[i]!);
    // Bit patterns: -0 stays -0, and a NaN payload must survive too.
    if (table[b] !== bits[i]) return undefined;
    h[i] = b;
  }
  return { seg: { enc: 'f16', at, count: v.length }, bytes: new Uint8Array(h.buffer) };
}

/** IEEE halves rounded to nearest even; undefined when a value is beyond the half range (it would become infinite). */
function roundF16(v: Float32Array, at: number): Choice | undefined {
  const h = new Uint16Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const b = f32ToF16Bits(v[i]!);
    if ((b & 0x7c00) === 0x7c00 && Number.isFinite(v[i]!)) return undefined;
    h[i] = b;
  }
  return { seg: { enc: 'f16', at, count: v.length }, bytes: new Uint8Array(h.buffer) };
}

/** Blocks of Q8_BLOCK values: an f32 scale max|x|/127 each, then round(x / scale) as int8. */
function q8(v: Float32Array, at: number): Choice | undefined {
  const blocks = Math.ceil(v.length / Q8_BLOCK);
  const out = new Uint8Array(blocks * 4 + v.length);
  const scales = new Float32Array(out.buffer, 0, blocks);
  const codes = new Int8Array(out.buffer, blocks * 4, v.length);
  for (let b = 0; b < blocks; b++) {
    const lo = b * Q8_BLOCK, hi = Math.min(lo + Q8_BLOCK, v.length);
    let m = 0;
    for (let i = lo; i < hi; i++) {
      const a = Math.abs(v[i]!);
      if (!Number.isFinite(a)) return undefined;
      if (a > m) m = a;
    }
    scales[b] = m / 127;
    const scale = scales[b]!;
    if (scale === 0) continue;
    for (let i = lo; i < hi; i++) codes[i] = Math.max(-127, Math.min(127, Math.round(v[i]! / scale)));
  }
  return { seg: { enc: 'q8', at, count: v.length, block: Q8_BLOCK }, bytes: out };
}

/** One line per encoding for explain() and `kiln inspect`-style summaries. */
export function describeEncoded(e: EncodedWeights, mode: WeightsMode): string {
  const mb = (n: number) => `${(n / 1e6).toFixed(n < 1e5 ? 3 : 2)} MB`;
  let dec = 0, enc = 0;
  const lines: string[] = [];
  for (const [k, s] of Object.entries(e.stats)) {
    if (s.buffers === 0) continue;
    dec += s.decoded;
    enc += s.encoded;
    const what = { raw: 'raw (kept exact)', f16: 'float16', affine: 'uint8/uint16 codes (imported storage)', q8: `int8 blocks of ${Q8_BLOCK}`, zeros: 'all zeros (no bytes)' }[k];
    lines.push(`  ${what}: ${s.buffers} buffer(s), ${mb(s.decoded)} -> ${mb(s.encoded)}`);
  }
  const head = `weights (${mode}${e.encoding ? '' : ', stored raw'}): ${mb(dec)} f32 -> ${mb(enc)} in the artifact (${dec ? ((100 * enc) / dec).toFixed(1) : '100.0'}%), decoded once at load`;
  const fb = e.fallbacks.length ? [`  imported storage lost in ${e.fallbacks.length} buffer(s):`, ...e.fallbacks.slice(0, 20).map((f) => `    ${f}`), ...(e.fallbacks.length > 20 ? [`    ... ${e.fallbacks.length - 20} more`] : [])] : [];
  return [head, ...lines, ...fb].join('\n');
}

/**
 * An artifact's bytes with its weights encoded under `mode` (the same artifact otherwise: code,
 * manifest and memory plan unchanged). `program` is the one the artifact was built from. Used
 * for targets whose artifact writer stores raw weights (CUDA) and by tools comparing modes.
 */
export function encodeArtifact(bytes: Uint8Array, program: Program, mode: WeightsMode, storage: readonly WeightStorage[] = []): { bytes: Uint8Array; encoded: EncodedWeights } {
  const { manifest, sections } = readArtifact(bytes);
  if (manifest.weights?.encoding) throw new KilnError('encodeArtifact: the artifact\'s weights are already encoded');
  const raw = sections['weights'];
  if (!manifest.weights || !raw || raw.length !== program.weights.length || manifest.weights.offset !== program.weightsOffset) {
    throw new KilnError(`encodeArtifact: the artifact's weights (${raw?.length ?? 0} bytes) are not the program's (${program.weights.length} bytes)`);
  }
  const encoded = encodeWeights(program, mode, storage);
  if (!encoded.encoding) return { bytes, encoded };
  const { sections: _table, ...rest } = manifest;
  const out = writeArtifact({
    manifest: { ...rest, weights: { ...manifest.weights, encoding: encoded.encoding } },
    sections: { ...sections, weights: encoded.section },
  });
  return { bytes: out, encoded };
}
