/**
 * Argument checks shared by every runtime entry (load, run/step, getState,
 * setState) and by both executors (WebAssembly and CUDA), so a wrong call
 * reads the same everywhere: the argument, what was expected, what came.
 * Options objects are closed: an unknown key is refused with the closest
 * valid name, never ignored.
 */
import { dtypeBytes, hostArrayName, type TensorData } from './dtypes.js';
import { KilnRuntimeError } from './errors.js';
import { elementCount, specToString, type TensorSpec } from './manifest.js';

/** A short description of any value, for "got ..." in messages. */
export function describe(x: unknown): string {
  if (ArrayBuffer.isView(x)) return `${x.constructor.name}(${(x as unknown as ArrayLike<number>).length ?? x.byteLength})`;
  if (Array.isArray(x)) return `Array(${x.length})`;
  if (x === null) return 'null';
  if (typeof x === 'string') return `'${x.length > 40 ? `${x.slice(0, 40)}...` : x}'`;
  if (typeof x === 'number' || typeof x === 'boolean' || typeof x === 'bigint') return `${typeof x} ${String(x)}`;
  if (typeof x === 'object') {
    const c = (x as object).constructor?.name;
    return c && c !== 'Object' ? c : 'object';
  }
  return typeof x;
}

/** Edits between two names (insertions, deletions, substitutions, swaps of neighbours). */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = d[i]!;
      row[j] = Math.min(d[i - 1]![j]! + 1, row[j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) row[j] = Math.min(row[j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/** " (did you mean 'x'?)" when a valid name is close to `name` (case aside, at most a third of it edited, and not all of it). */
export function suggest(name: string, valid: readonly string[]): string {
  let best = '';
  let bestD = Infinity;
  for (const v of valid) {
    const d = distance(name.toLowerCase(), v.toLowerCase());
    if (d < bestD) [best, bestD] = [v, d];
  }
  return bestD <= Math.max(1, Math.floor(name.length / 3)) && bestD < name.length ? ` (did you mean '${best}'?)` : '';
}

const list = (names: readonly string[]): string => names.join(', ') || '(none)';
const isPlainObject = (x: unknown): x is Record<string, unknown> =>
  typeof x === 'object' && x !== null && !Array.isArray(x) && !ArrayBuffer.isView(x) && !(x instanceof ArrayBuffer);

/**
 * An options argument: undefined (= {}) or a plain object whose keys are all in `valid`.
 * `where` names the call and argument ("load() options").
 */
export function checkOptions(where: string, options: unknown, valid: readonly string[]): Record<string, unknown> {
  if (options === undefined) return {};
  if (!isPlainObject(options)) {
    throw new KilnRuntimeError(`${where} must be an object with keys among {${list(valid)}}, got ${describe(options)}`);
  }
  for (const k of Object.keys(options)) {
    if (!valid.includes(k)) throw new KilnRuntimeError(`${where}: unknown option '${k}'${suggest(k, valid)}; valid options are: ${list(valid)}`);
  }
  return options;
}

/** Artifact bytes: a Uint8Array or an ArrayBuffer. */
export function checkBytes(where: string, bytes: unknown): void {
  if (!(bytes instanceof Uint8Array) && !(bytes instanceof ArrayBuffer)) {
    throw new KilnRuntimeError(`${where}: bytes must be a Uint8Array or an ArrayBuffer holding an artifact, got ${describe(bytes)}`);
  }
}

/** An integer option within [min, max]; undefined passes through. */
export function checkInteger(where: string, value: unknown, min: number, max: number, why = ''): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new KilnRuntimeError(`${where} must be an integer in [${min}, ${max}]${why}, got ${describe(value)}`);
  }
  return value;
}

/** One of the listed strings; undefined passes through. */
export function checkChoice<T extends string>(where: string, value: unknown, choices: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !(choices as readonly string[]).includes(value)) {
    throw new KilnRuntimeError(
      `${where} must be one of ${choices.map((c) => `'${c}'`).join(', ')}, got ${describe(value)}${typeof value === 'string' ? suggest(value, choices) : ''}`,
    );
  }
  return value as T;
}

/** An entry point name among `entries` (the default first); undefined is the default. */
export function checkEntryName(value: unknown, entries: readonly string[]): number {
  if (value === undefined) return 0;
  const i = typeof value === 'string' ? entries.indexOf(value) : -1;
  if (i < 0) {
    throw new KilnRuntimeError(
      `unknown entry point ${describe(value)}${typeof value === 'string' ? suggest(value, entries) : ''}; the artifact's entries are: ${list(entries)}`,
    );
  }
  return i;
}

function expected(s: TensorSpec): string {
  const n = elementCount(s.shape);
  return `${specToString(s)} (${n} element${n === 1 ? '' : 's'}, ${hostArrayName(s.dtype)})`;
}

const tagOf = (x: unknown): string => Object.prototype.toString.call(x).slice(8, -1);

/** Throws unless `data` is the host array `s` travels in, with the right length. */
export function checkTensor(kind: string, s: TensorSpec, data: unknown): TensorData {
  if (tagOf(data) !== hostArrayName(s.dtype) || (data as TensorData).length !== elementCount(s.shape)) {
    throw new KilnRuntimeError(`${kind} '${s.name}' must be ${expected(s)}, got ${describe(data)}`);
  }
  return data as TensorData;
}

/**
 * A run's named inputs: exactly the entry's inputs, each the right array. `whose` reads
 * "the program's inputs are" or "entry 'x' takes". Returns them in spec order.
 */
export function checkInputs(specs: readonly TensorSpec[], inputs: unknown, whose: string): [TensorSpec, TensorData][] {
  const names = specs.map((s) => s.name);
  if (!isPlainObject(inputs)) {
    throw new KilnRuntimeError(`inputs must be an object of named typed arrays {${list(names)}}, got ${describe(inputs)}`);
  }
  for (const name of Object.keys(inputs)) {
    if (!names.includes(name)) throw new KilnRuntimeError(`unknown input '${name}'${suggest(name, names)}; ${whose}: ${list(names)}`);
  }
  return specs.map((s) => {
    if (!Object.prototype.hasOwnProperty.call(inputs, s.name)) {
      throw new KilnRuntimeError(`missing input '${s.name}' (${expected(s)}); ${whose}: ${list(names)}`);
    }
    return [s, checkTensor('input', s, inputs[s.name])];
  });
}

/** getState's argument: nothing (all), one name, or an array of names; each must be a state tensor. */
export function checkStateNames<S extends TensorSpec>(only: unknown, specs: readonly S[]): readonly S[] {
  if (only === undefined) return specs;
  const asked = typeof only === 'string' ? [only] : only;
  if (!Array.isArray(asked)) {
    throw new KilnRuntimeError(`getState() takes a state tensor name or an array of names, got ${describe(only)}`);
  }
  const names = specs.map((s) => s.name);
  const bad = asked.filter((n) => typeof n !== 'string' || !names.includes(n));
  if (bad.length > 0) {
    const first = bad[0];
    throw new KilnRuntimeError(
      `getState(): unknown state tensor${bad.length > 1 ? 's' : ''} ${bad.map(describe).join(', ')}${typeof first === 'string' ? suggest(first, names) : ''}; the program's state is: ${list(names)}`,
    );
  }
  return (asked as string[]).map((n) => specs[names.indexOf(n)]!);
}

/** setState's argument: an object of named state tensors; every one checked before any is written. */
export function checkStateValues(values: unknown, specs: readonly TensorSpec[]): [TensorSpec, TensorData][] {
  const names = specs.map((s) => s.name);
  if (!isPlainObject(values)) {
    throw new KilnRuntimeError(`setState() takes an object of named state tensors {${list(names)}}, got ${describe(values)}`);
  }
  return Object.keys(values).map((n) => {
    const i = names.indexOf(n);
    if (i < 0) throw new KilnRuntimeError(`setState(): unknown state tensor '${n}'${suggest(n, names)}; the program's state is: ${list(names)}`);
    return [specs[i]!, checkTensor('state tensor', specs[i]!, values[n])];
  });
}

/** Bytes one tensor takes in linear (or device) memory. */
export const bytesOf = (s: TensorSpec): number => elementCount(s.shape) * dtypeBytes(s.dtype);
