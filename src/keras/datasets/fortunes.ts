/**
 * Debian's `fortunes` texts as a small real-text dataset: each file under
 * /usr/share/games/fortunes (installed by `.ci/run`, `apt-get install fortunes`) is a category
 * whose entries are separated by lines holding a single `%`. Also the character-level encoding
 * the language-model example trains on: a vocabulary of the characters seen, and
 * (input, next-character) windows.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { KilnError } from '../../ir/types.js';

export const FORTUNES_DIR = '/usr/share/games/fortunes';

export interface Fortune {
  text: string;
  /** The file it came from (`computers`, `science`, ...). */
  category: string;
}

export interface LoadFortunesOptions {
  /** Default /usr/share/games/fortunes. */
  dir?: string;
  /** Only these categories (file names); default every category file in the directory. */
  categories?: readonly string[];
}

/** The category files of a fortunes directory (not the .dat indexes, .u8 links or off/ subfolder). */
export function fortuneCategories(dir = FORTUNES_DIR): string[] {
  if (!existsSync(dir)) {
    throw new KilnError(`fortunes: ${dir} does not exist; install Debian's fortunes texts (apt-get install fortunes; .ci/run does it)`);
  }
  return readdirSync(dir)
    .filter((f) => !f.includes('.') && statSync(join(dir, f)).isFile())
    .sort();
}

/** Every entry of the chosen categories, in file order, trimmed, empty entries dropped. */
export function loadFortunes(opts: LoadFortunesOptions = {}): Fortune[] {
  const dir = opts.dir ?? FORTUNES_DIR;
  const all = fortuneCategories(dir);
  const cats = opts.categories ?? all;
  const out: Fortune[] = [];
  for (const category of cats) {
    if (!all.includes(category)) throw new KilnError(`fortunes: no category '${category}' in ${dir} (categories: ${all.join(', ')})`);
    const text = readFileSync(join(dir, category), 'latin1');
    for (const entry of text.split(/\r?\n%\r?\n/)) {
      const t = entry.replace(/^%\r?\n/, '').trim();
      if (t.length > 0) out.push({ text: t, category });
    }
  }
  return out;
}

/** Characters to ids and back. Id 0 is the padding id and stands for no character. */
export class CharVocabulary {
  readonly chars: string[];
  private readonly index: Map<string, number>;

  /** The sorted distinct characters of `texts` (ids 1..n; id 0 is padding). */
  constructor(texts: readonly string[]) {
    const set = new Set<string>();
    for (const t of texts) for (const c of t) set.add(c);
    this.chars = ['', ...[...set].sort()];
    this.index = new Map(this.chars.map((c, i) => [c, i]));
  }

  /** Vocabulary size including the padding id. */
  get size(): number {
    return this.chars.length;
  }

  encode(text: string): Int32Array {
    const out = new Int32Array([...text].length);
    let i = 0;
    for (const c of text) {
      const id = this.index.get(c);
      if (id === undefined) throw new KilnError(`CharVocabulary.encode: character ${JSON.stringify(c)} is not in the vocabulary of ${this.size - 1} characters`);
      out[i++] = id;
    }
    return out;
  }

  decode(ids: ArrayLike<number>): string {
    let s = '';
    for (let i = 0; i < ids.length; i++) s += this.chars[ids[i]!] ?? '';
    return s;
  }
}

export interface CharWindows {
  /** `[n, seqLength]` input ids, row-major. */
  x: Int32Array;
  /** `[n, seqLength]` next-character ids. */
  y: Int32Array;
  n: number;
  seqLength: number;
}

/**
 * Language-model windows over `ids`: window k starts at `k * stride` and predicts each next id.
 * `limit` caps the number of windows.
 */
export function charWindows(ids: Int32Array, seqLength: number, stride = seqLength, limit = Infinity): CharWindows {
  if (!Number.isInteger(seqLength) || seqLength <= 0) throw new KilnError(`charWindows: seqLength must be a positive integer, got ${seqLength}`);
  if (!Number.isInteger(stride) || stride <= 0) throw new KilnError(`charWindows: stride must be a positive integer, got ${stride}`);
  const n = Math.min(limit, Math.max(0, Math.floor((ids.length - seqLength - 1) / stride) + 1));
  if (n <= 0) throw new KilnError(`charWindows: ${ids.length} ids are too few for one window of ${seqLength} + 1`);
  const x = new Int32Array(n * seqLength);
  const y = new Int32Array(n * seqLength);
  for (let k = 0; k < n; k++) {
    x.set(ids.subarray(k * stride, k * stride + seqLength), k * seqLength);
    y.set(ids.subarray(k * stride + 1, k * stride + seqLength + 1), k * seqLength);
  }
  return { x, y, n, seqLength };
}
