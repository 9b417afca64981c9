/**
 * CSV sources (after tfjs-data's csv): a header row names the columns (or `columnNames` does),
 * `delimiter` separates fields (RFC 4180 quotes allowed), `dtypes` types columns (f32 by default;
 * Kiln or Keras spellings), `labelColumn` picks the target. An element is the feature columns
 * stacked into one 1-D tensor, and with a label column `{xs, ys}` (ys a scalar, or a 1-D tensor
 * for several label columns), ready for batch() and fit. A field that does not parse as its
 * column's type is refused naming the line, the column and the text.
 */
import { parseDType, type DType } from '../../ir/dtype.js';
import { KilnError } from '../../ir/types.js';
import { suggestion } from '../layers/args.js';
import { readBytes, type ByteSource } from './bytes.js';
import { checkKeys, Dataset } from './dataset.js';
import { viewTensor, type Element } from './element.js';
import { hostArray } from '../../ir/dtype.js';

export interface CsvOptions {
  /** The first line holds the column names. Default true. */
  hasHeader?: boolean;
  /** Names of the columns (required without a header; with one, they must match it). */
  columnNames?: readonly string[];
  /** Default ','. */
  delimiter?: string;
  /** Column dtypes by name ('f32'/'float32', 'i32'/'int32'); others are f32. */
  dtypes?: Readonly<Record<string, string>>;
  /** The target column(s): elements become {xs, ys}. */
  labelColumn?: string | readonly string[];
  /** Only these feature columns (in this order); default: every column but the labels. */
  featureColumns?: readonly string[];
}

/** Split one CSV line into fields (quotes: "a,b" and "" for a quote inside). */
export function splitLine(line: string, delimiter: string): string[] {
  if (!line.includes('"')) return line.split(delimiter);
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') { cur += '"'; i++; } else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"') quoted = true;
    else if (line.startsWith(delimiter, i)) { out.push(cur); cur = ''; i += delimiter.length - 1; } else cur += c;
  }
  out.push(cur);
  return out;
}

function parseField(text: string, dtype: DType, where: string): number {
  const s = text.trim();
  const v = s === '' ? NaN : Number(s);
  if (Number.isNaN(v) && !/^nan$/i.test(s)) throw new KilnError(`data.csv: ${where} is '${text}', not a number`);
  if (dtype === 'i32' && !Number.isInteger(v)) throw new KilnError(`data.csv: ${where} is '${text}', not an integer (the column is int32)`);
  return v;
}

/** A dataset of a CSV file's rows (path, URL or bytes). */
export async function csv(source: ByteSource, options?: CsvOptions): Promise<Dataset<Element>> {
  const o = checkKeys('data.csv', options, ['hasHeader', 'columnNames', 'delimiter', 'dtypes', 'labelColumn', 'featureColumns']) as CsvOptions;
  const text = new TextDecoder().decode(await readBytes('data.csv', source));
  const delimiter = o.delimiter ?? ',';
  if (typeof delimiter !== 'string' || delimiter.length === 0) throw new KilnError(`data.csv: delimiter must be a non-empty string, got ${String(delimiter)}`);
  const lines = text.split(/\r?\n/);
  const first = lines.findIndex((l) => l.trim() !== '');
  if (first < 0) throw new KilnError(`data.csv: ${typeof source === 'string' ? `'${source}'` : 'the data'} holds no lines`);
  const header = o.hasHeader ?? true;
  let names: string[];
  if (header) {
    names = splitLine(lines[first]!, delimiter).map((s) => s.trim());
    if (o.columnNames && o.columnNames.join('\u0000') !== names.join('\u0000')) {
      throw new KilnError(`data.csv: columnNames [${o.columnNames.join(', ')}] differ from the header [${names.join(', ')}]`);
    }
  } else {
    if (!o.columnNames) throw new KilnError('data.csv: without a header (hasHeader: false) give columnNames');
    names = [...o.columnNames];
  }
  const col = (name: string, what: string): number => {
    const i = names.indexOf(name);
    if (i < 0) throw new KilnError(`data.csv: ${what} '${name}' is not a column ${suggestion(name, names)}`);
    return i;
  };
  const dtypes: DType[] = names.map(() => 'f32');
  for (const [k, d] of Object.entries(o.dtypes ?? {})) {
    const dt = parseDType(d, `data.csv dtypes['${k}']`);
    if (dt !== 'f32' && dt !== 'i32') throw new KilnError(`data.csv: dtypes['${k}'] must be float32 or int32, got '${d}'`);
    dtypes[col(k, 'dtypes key')] = dt;
  }
  const labels = o.labelColumn === undefined ? [] : (typeof o.labelColumn === 'string' ? [o.labelColumn] : [...o.labelColumn]).map((n) => col(n, 'labelColumn'));
  const features = o.featureColumns ? o.featureColumns.map((n) => col(n, 'featureColumns entry')) : names.map((_, i) => i).filter((i) => !labels.includes(i));
  if (features.length === 0) throw new KilnError(`data.csv: no feature columns left (columns: ${names.join(', ')})`);
  const featType = features.every((i) => dtypes[i] === 'i32') ? 'i32' : 'f32';
  const labelType = labels.length > 0 && labels.every((i) => dtypes[i] === 'i32') ? 'i32' : 'f32';
  const rows: number[] = [];
  for (let i = header ? first + 1 : first; i < lines.length; i++) if (lines[i]!.trim() !== '') rows.push(i);
  const where = typeof source === 'string' ? `'${source}' ` : '';
  return new Dataset<Element>(async function* () {
    for (const li of rows) {
      const f = splitLine(lines[li]!, delimiter);
      if (f.length !== names.length) throw new KilnError(`data.csv: ${where}line ${li + 1} has ${f.length} fields, the header has ${names.length} (${names.join(', ')})`);
      const at = (c: number): string => `${where}line ${li + 1}, column '${names[c]}'`;
      const x = hostArray(featType, features.length);
      features.forEach((c, k) => { x[k] = parseField(f[c]!, dtypes[c]!, at(c)); });
      const xs = viewTensor([features.length], featType, x);
      if (labels.length === 0) { yield xs; continue; }
      const y = hostArray(labelType, labels.length);
      labels.forEach((c, k) => { y[k] = parseField(f[c]!, dtypes[c]!, at(c)); });
      yield { xs, ys: viewTensor(labels.length === 1 && typeof o.labelColumn === 'string' ? [] : [labels.length], labelType, y) };
    }
  } as () => AsyncIterator<Element>, rows.length);
}
