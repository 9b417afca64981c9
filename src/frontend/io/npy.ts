/**
 * NumPy .npy files, the format `kiln run` reads inputs from and writes outputs to
 * (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html): the magic
 * "\x93NUMPY", a major/minor version byte (1.0: u16 header length, latin-1; 2.0: u32 length;
 * 3.0: u32 length, UTF-8), a Python dict literal `{'descr': '<f4', 'fortran_order': False,
 * 'shape': (2, 3), }` padded with spaces to a multiple of 64 bytes and ended by '\n', then the
 * raw C-order data. Kiln reads little-endian float32/int32/uint8/int8/bool directly, and
 * float64, float16 and int64 converted to float32/int32 where every value fits; big-endian,
 * Fortran-order and structured arrays are refused with what to do instead. It writes version
 * 1.0 (2.0 when the header would not fit a u16).
 */
import { KilnError } from '../../ir/types.js';
import { f16BitsToF32 } from '../../runtime/dtypes.js';

/** The element types an .npy array arrives in, as Kiln dtypes. */
export type NpyDType = 'f32' | 'i32' | 'u8' | 'i8' | 'bool';
export type NpyData = Float32Array | Int32Array | Uint8Array | Int8Array;

export interface NpyArray {
  readonly dtype: NpyDType;
  readonly shape: readonly number[];
  readonly data: NpyData;
  /** The file's descr ('<f4', '<f8', ...): differs from the Kiln dtype's own when converted. */
  readonly descr: string;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const ALIGN = 64;

interface Descr {
  /** Kiln dtype the values end up in. */
  dtype: NpyDType;
  itemBytes: number;
  /** Decode `count` elements from little-endian bytes (already copied, so aligned). */
  decode(bytes: Uint8Array, count: number, where: string): NpyData;
}

const view = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);

/** Descrs Kiln reads, keyed without the byte-order character (checked separately). */
const DESCRS: Readonly<Record<string, Descr>> = {
  f4: { dtype: 'f32', itemBytes: 4, decode: (b) => new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4) },
  i4: { dtype: 'i32', itemBytes: 4, decode: (b) => new Int32Array(b.buffer, b.byteOffset, b.byteLength / 4) },
  u1: { dtype: 'u8', itemBytes: 1, decode: (b) => b },
  i1: { dtype: 'i8', itemBytes: 1, decode: (b) => new Int8Array(b.buffer, b.byteOffset, b.byteLength) },
  b1: {
    dtype: 'bool', itemBytes: 1,
    decode: (b, n, where) => {
      for (let i = 0; i < n; i++) {
        if (b[i]! > 1) throw new KilnError(`${where}: bool element ${i} is the byte ${b[i]}, not 0 or 1`);
      }
      return b;
    },
  },
  // Converted: float64 and float16 to float32 (rounded to nearest), int64 to int32 when it fits.
  f8: {
    dtype: 'f32', itemBytes: 8,
    decode: (b, n) => {
      const v = view(b);
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = v.getFloat64(8 * i, true);
      return out;
    },
  },
  f2: {
    dtype: 'f32', itemBytes: 2,
    decode: (b, n) => {
      const v = view(b);
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = f16BitsToF32(v.getUint16(2 * i, true));
      return out;
    },
  },
  i8: {
    dtype: 'i32', itemBytes: 8,
    decode: (b, n, where) => {
      const v = view(b);
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const x = v.getBigInt64(8 * i, true);
        if (x < -2147483648n || x > 2147483647n) {
          throw new KilnError(`${where}: int64 element ${i} is ${x}, outside the int32 range Kiln computes in; convert the array to int32 (a.astype(np.int32)) after bringing it into range`);
        }
        out[i] = Number(x);
      }
      return out;
    },
  },
};


const SUPPORTED = "'<f4', '<i4', '|u1', '|i1', '|b1' (and '<f8', '<f2', '<i8', converted)";

function parseDescr(descr: unknown, where: string): Descr {
  if (typeof descr !== 'string') {
    throw new KilnError(`${where}: structured arrays (descr ${JSON.stringify(descr)}) are not supported; save a plain numeric array (${SUPPORTED})`);
  }
  const order = descr[0];
  const key = descr.slice(1);
  const d = DESCRS[key];
  if (!d || !'<>|='.includes(order ?? '')) throw new KilnError(`${where}: dtype '${descr}' is not supported (supported: ${SUPPORTED})`);
  if (d.itemBytes > 1 && order !== '<') {
    const why = order === '>' ? 'big-endian' : order === '|' ? 'without a byte order' : 'native-order';
    throw new KilnError(`${where}: dtype '${descr}' is ${why}; Kiln reads little-endian data: save a.astype('<${key}')`);
  }
  return d;
}

// ---- The header: a tiny reader for the Python literals numpy writes -------------------------

type PyValue = string | boolean | number | PyValue[] | Map<string, PyValue>;

class PyLiteral {
  private i = 0;
  constructor(private readonly s: string, private readonly where: string) {}

  parseAll(): PyValue {
    const v = this.value();
    this.ws();
    if (this.i !== this.s.length) this.fail(`unexpected '${this.s.slice(this.i, this.i + 10)}'`);
    return v;
  }

  private fail(msg: string): never {
    throw new KilnError(`${this.where}: bad .npy header (${msg} at character ${this.i} of ${JSON.stringify(this.s)})`);
  }

  private ws(): void {
    while (this.i < this.s.length && ' \t\r\n'.includes(this.s[this.i]!)) this.i++;
  }

  private eat(c: string): boolean {
    this.ws();
    if (this.s[this.i] === c) {
      this.i++;
      return true;
    }
    return false;
  }

  private value(): PyValue {
    this.ws();
    const c = this.s[this.i];
    if (c === '{') return this.seq('{', '}', true) as Map<string, PyValue>;
    if (c === '(') return this.seq('(', ')', false) as PyValue[];
    if (c === '[') return this.seq('[', ']', false) as PyValue[];
    if (c === "'" || c === '"') return this.str();
    const m = /^(True|False|-?\d+L?)/.exec(this.s.slice(this.i));
    if (!m) this.fail('expected a value');
    this.i += m[0].length;
    if (m[0] === 'True' || m[0] === 'False') return m[0] === 'True';
    return Number(m[0].replace('L', ''));
  }

  private str(): string {
    const q = this.s[this.i++]!;
    const end = this.s.indexOf(q, this.i);
    if (end < 0) this.fail('unterminated string');
    const out = this.s.slice(this.i, end);
    this.i = end + 1;
    return out;
  }

  private seq(open: string, close: string, dict: boolean): PyValue[] | Map<string, PyValue> {
    this.i++;
    const items: PyValue[] = [];
    const map = new Map<string, PyValue>();
    while (!this.eat(close)) {
      if (dict) {
        const k = this.value();
        if (typeof k !== 'string') this.fail('dict keys must be strings');
        if (!this.eat(':')) this.fail("expected ':'");
        map.set(k, this.value());
      } else {
        items.push(this.value());
      }
      if (!this.eat(',')) {
        if (!this.eat(close)) this.fail(`expected ',' or '${close}'`);
        break;
      }
    }
    return dict ? map : items;
  }
}

function headerFields(text: string, where: string): { descr: unknown; fortranOrder: unknown; shape: unknown } {
  const v = new PyLiteral(text, where).parseAll();
  if (!(v instanceof Map)) throw new KilnError(`${where}: bad .npy header (not a dict: ${JSON.stringify(text.trim())})`);
  const keys = [...v.keys()].sort();
  if (keys.join() !== 'descr,fortran_order,shape') {
    throw new KilnError(`${where}: bad .npy header keys [${keys.join(', ')}] (expected exactly descr, fortran_order, shape)`);
  }
  return { descr: v.get('descr'), fortranOrder: v.get('fortran_order'), shape: v.get('shape') };
}

/** Parses an .npy file; `where` (usually the file name) starts every error message. */
export function readNpy(bytes: Uint8Array, where = '.npy file'): NpyArray {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new KilnError(`${where}: not a NumPy .npy file (it must start with "\\x93NUMPY"; save arrays with np.save)`);
  }
  const major = bytes[6]!;
  const minor = bytes[7]!;
  if (![1, 2, 3].includes(major) || minor !== 0) {
    throw new KilnError(`${where}: .npy format version ${major}.${minor} is not supported (expected 1.0, 2.0 or 3.0)`);
  }
  const v = view(bytes);
  const lenBytes = major === 1 ? 2 : 4;
  if (bytes.length < 8 + lenBytes) throw new KilnError(`${where}: truncated .npy header`);
  const headerLen = major === 1 ? v.getUint16(8, true) : v.getUint32(8, true);
  const dataStart = 8 + lenBytes + headerLen;
  if (dataStart > bytes.length) {
    throw new KilnError(`${where}: truncated .npy file: the header needs ${dataStart} bytes but the file has ${bytes.length}`);
  }
  const raw = bytes.subarray(8 + lenBytes, dataStart);
  const text = major === 3 ? new TextDecoder('utf-8').decode(raw) : Array.from(raw, (c) => String.fromCharCode(c)).join('');
  const { descr, fortranOrder, shape } = headerFields(text, where);
  const d = parseDescr(descr, where);
  if (typeof fortranOrder !== 'boolean') throw new KilnError(`${where}: bad .npy header: fortran_order must be True or False, got ${JSON.stringify(fortranOrder)}`);
  if (!Array.isArray(shape) || !shape.every((x) => typeof x === 'number' && Number.isInteger(x) && x >= 0)) {
    throw new KilnError(`${where}: bad .npy header: shape must be a tuple of non-negative integers, got ${JSON.stringify(shape)}`);
  }
  const dims = shape as number[];
  const count = dims.reduce((a, b) => a * b, 1);
  if (fortranOrder && dims.filter((x) => x > 1).length > 1) {
    throw new KilnError(`${where}: Fortran-order (column-major) arrays are not supported; save np.ascontiguousarray(a)`);
  }
  const need = count * d.itemBytes;
  const have = bytes.length - dataStart;
  if (have !== need) {
    throw new KilnError(`${where}: shape (${dims.join(', ')}) of '${descr as string}' needs ${need} data bytes but the file has ${have}${have < need ? ' (truncated)' : ''}`);
  }
  // Copy, so typed views are aligned and the result does not pin the file's buffer.
  const data = d.decode(bytes.slice(dataStart), count, where);
  return { dtype: d.dtype, shape: dims, data, descr: descr as string };
}

const WRITE_DESCR: Readonly<Record<NpyDType, string>> = { f32: '<f4', i32: '<i4', u8: '|u1', i8: '|i1', bool: '|b1' };

function arrayDType(data: NpyData): NpyDType {
  if (data instanceof Float32Array) return 'f32';
  if (data instanceof Int32Array) return 'i32';
  if (data instanceof Int8Array) return 'i8';
  return 'u8';
}

/**
 * Serializes `data` (C order) with `shape`. `dtype` defaults to what the array holds; 'bool'
 * writes a Uint8Array of 0/1 as numpy's '|b1'.
 */
export function writeNpy(data: NpyData, shape: readonly number[], dtype: NpyDType = arrayDType(data)): Uint8Array {
  const count = shape.reduce((a, b) => a * b, 1);
  if (!shape.every((x) => Number.isInteger(x) && x >= 0)) throw new KilnError(`writeNpy: shape [${shape.join(', ')}] must be non-negative integers`);
  if (count !== data.length) throw new KilnError(`writeNpy: shape [${shape.join(', ')}] has ${count} elements but the data has ${data.length}`);
  const expected = dtype === 'bool' ? 'u8' : dtype;
  if (arrayDType(data) !== expected) {
    throw new KilnError(`writeNpy: dtype '${dtype}' needs a ${expected === 'f32' ? 'Float32Array' : expected === 'i32' ? 'Int32Array' : expected === 'i8' ? 'Int8Array' : 'Uint8Array'}, got ${data.constructor.name}`);
  }
  const tuple = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  const dict = `{'descr': '${WRITE_DESCR[dtype]}', 'fortran_order': False, 'shape': ${tuple}, }`;
  let major = 1;
  let pre = 10;
  let total = Math.ceil((pre + dict.length + 1) / ALIGN) * ALIGN;
  if (total - pre > 0xffff) {
    major = 2;
    pre = 12;
    total = Math.ceil((pre + dict.length + 1) / ALIGN) * ALIGN;
  }
  const header = dict + ' '.repeat(total - pre - dict.length - 1) + '\n';
  const out = new Uint8Array(total + data.byteLength);
  out.set(MAGIC, 0);
  out[6] = major;
  out[7] = 0;
  const v = view(out);
  if (major === 1) v.setUint16(8, header.length, true);
  else v.setUint32(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[pre + i] = header.charCodeAt(i);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), total);
  return out;
}
