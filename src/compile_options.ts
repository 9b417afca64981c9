/**
 * Argument checks for the compiler entries (`compile`, `compileEntries`, `explain`, `toFunc`):
 * options objects are closed (an unknown key is refused with the closest valid name, never
 * ignored), every value is checked against what the compiler can honour, and a message names
 * the entry, the option, what was expected and what came. The valid keys are derived from
 * `CompileOptions` itself (a table the type checker keeps complete), so an option added to the
 * interface cannot be forgotten here.
 */
import { parseDType, type DType } from './ir/dtype.js';
import { KilnError } from './ir/types.js';
import { DEFAULT_FUSION_OPTIONS } from './passes/fusion.js';
import { describe, suggest } from './runtime/args.js';
import { checkInt8Options, INT8_KEYS } from './quantize_options.js';
import type { CompileOptions, ExplainOptions, QuantizeMode } from './compile.js';

/**
 * Every key of CompileOptions. `satisfies Record<keyof CompileOptions, true>` makes a key missing
 * from this table (or a key CompileOptions lacks) a type error.
 */
const COMPILE_KEYS = {
  target: true, sm: true, inputShapes: true, inputDtypes: true, threads: true, relaxedSimd: true,
  optimizeWasm: true, fusion: true, name: true, mixedPrecision: true, onStage: true, maxBatch: true, quantize: true,
} as const satisfies Record<keyof CompileOptions, true>;

const EXPLAIN_ONLY_KEYS = { print: true } as const satisfies Record<Exclude<keyof ExplainOptions, keyof CompileOptions>, true>;

/** The option names each compiler entry accepts. */
export const COMPILE_OPTION_NAMES: readonly string[] = Object.keys(COMPILE_KEYS);
export const EXPLAIN_OPTION_NAMES: readonly string[] = [...COMPILE_OPTION_NAMES, ...Object.keys(EXPLAIN_ONLY_KEYS)];

/** Options people will reach for that Kiln does not offer yet, with what to say instead of "unknown". */
const NOT_AVAILABLE: Readonly<Record<string, string>> = {};

/** The SM architectures the PTX emitter targets. */
export const SUPPORTED_SM = [80, 90] as const;
const TARGETS = ['wasm', 'cuda'] as const;
/** The largest maxBatch (the artifact lists work counts per batch size for some kernels). */
export const MAX_BATCH = 4096;
const MIXED_PRECISION = ['f16', 'bf16'] as const;

const isPlainObject = (x: unknown): x is Record<string, unknown> =>
  typeof x === 'object' && x !== null && !Array.isArray(x) && !ArrayBuffer.isView(x) && !(x instanceof ArrayBuffer);

const quoted = (xs: readonly (string | number)[]): string => xs.map((x) => (typeof x === 'string' ? `'${x}'` : String(x))).join(', ');

/** The `quantize` modes ('none': every weight stored f32, even an imported model's uint8/float16 ones). */
export const QUANTIZE_MODES = ['int8', 'int8-weights', 'float16-weights', 'none'] as const satisfies readonly (QuantizeMode | 'int8')[];
const QUANTIZE_KEYS = ['mode'];

/** Option `quantize`: an object {mode, ...} with a known mode and no unknown keys. */
function checkQuantize(who: string, q: unknown): void {
  if (q === undefined) return;
  if (typeof q === 'string') throw new KilnError(`${who}: option 'quantize' must be an object {mode: ...}, got string '${q}' (write quantize: {mode: '${q}'})`);
  if (!isPlainObject(q)) throw new KilnError(`${who}: option 'quantize' must be an object {mode: ${quoted(QUANTIZE_MODES).replaceAll(', ', ' | ')}}, got ${describe(q)}`);
  // The mode first: it decides which other keys are valid.
  if (q.mode === undefined) throw new KilnError(`${who}: option 'quantize' needs a mode, one of ${quoted(QUANTIZE_MODES)}`);
  checkChoice(who, 'quantize.mode', q.mode, QUANTIZE_MODES);
  refuseUnknownKeys(`${who} (quantize)`, q, q.mode === 'int8' ? INT8_KEYS : QUANTIZE_KEYS);
  if (q.mode === 'int8') checkInt8Options(who, q);
}

/** Refuse keys outside `valid`: a planned-but-missing feature says so; a typo gets the closest name. */
function refuseUnknownKeys(who: string, options: Record<string, unknown>, valid: readonly string[]): void {
  for (const key of Object.keys(options)) {
    if (valid.includes(key)) continue;
    const why = NOT_AVAILABLE[key];
    if (why !== undefined) throw new KilnError(`${who}: option '${key}' is not supported: ${why}`);
    const near = suggest(key, [...valid, ...Object.keys(NOT_AVAILABLE)]);
    const nearKey = /'(.*)'/.exec(near)?.[1];
    const note = nearKey !== undefined && NOT_AVAILABLE[nearKey] !== undefined ? ` (did you mean '${nearKey}'? ${NOT_AVAILABLE[nearKey]})` : near;
    throw new KilnError(`${who}: unknown option '${key}'${note}; valid options are: ${valid.join(', ')}`);
  }
}

function checkBoolean(who: string, key: string, v: unknown): void {
  if (v !== undefined && typeof v !== 'boolean') throw new KilnError(`${who}: option '${key}' must be true or false, got ${describe(v)}`);
}

function checkChoice(who: string, key: string, v: unknown, choices: readonly (string | number)[], note = ''): void {
  if (v === undefined || choices.includes(v as string | number)) return;
  const near = typeof v === 'string' ? suggest(v, choices.map(String)) : '';
  throw new KilnError(`${who}: option '${key}' must be one of ${quoted(choices)}${note}, got ${describe(v)}${near}`);
}

function checkShapes(who: string, shapes: unknown): void {
  if (shapes === undefined) return;
  if (!Array.isArray(shapes)) throw new KilnError(`${who}: option 'inputShapes' must be an array of shapes (one per input, e.g. [[1, 28, 28, 1]]), got ${describe(shapes)}`);
  shapes.forEach((s: unknown, i) => {
    if (!Array.isArray(s)) {
      throw new KilnError(`${who}: inputShapes[${i}] must be a shape (an array of positive integers, e.g. [1, 784]), got ${describe(s)}${typeof s === 'number' ? ' (inputShapes takes one shape per input: [[...]])' : ''}`);
    }
    s.forEach((d: unknown, j) => {
      if (typeof d !== 'number' || !Number.isInteger(d) || d <= 0) {
        throw new KilnError(`${who}: inputShapes[${i}][${j}] must be a positive integer, got ${describe(d)} (shape [${s.map((x: unknown) => (x === null ? 'null' : String(x))).join(', ')}])`);
      }
    });
  });
}

/**
 * Check the options of compiler entry `who` ('compile', 'compileEntries', 'explain', 'toFunc')
 * and return them with dtype names normalized (Keras's 'float32' reads as 'f32').
 */
export function checkCompileOptions<T extends CompileOptions>(who: string, options: T | undefined, valid: readonly string[] = COMPILE_OPTION_NAMES): T {
  if (options === undefined) return {} as T;
  if (!isPlainObject(options)) {
    throw new KilnError(`${who}: options must be an object (e.g. {inputShapes: [[1, 784]]}), got ${describe(options)}`);
  }
  const o = options as Record<string, unknown>;
  refuseUnknownKeys(who, o, valid);
  checkChoice(who, 'target', o.target, TARGETS);
  checkChoice(who, 'sm', o.sm, SUPPORTED_SM, ' (sm_80 Ampere, sm_90 Hopper; PTX for sm_80 also runs on newer GPUs)');
  if (o.sm !== undefined && (o.target ?? 'wasm') !== 'cuda') {
    throw new KilnError(`${who}: option 'sm' (${String(o.sm)}) applies to target 'cuda' only, but target is '${String(o.target ?? 'wasm')}'`);
  }
  checkChoice(who, 'mixedPrecision', o.mixedPrecision, MIXED_PRECISION);
  for (const key of ['threads', 'relaxedSimd', 'optimizeWasm'] as const) checkBoolean(who, key, o[key]);
  if (o.name !== undefined && (typeof o.name !== 'string' || o.name === '')) {
    throw new KilnError(`${who}: option 'name' must be a non-empty string, got ${describe(o.name)}`);
  }
  if (o.onStage !== undefined && typeof o.onStage !== 'function') {
    throw new KilnError(`${who}: option 'onStage' must be a function (stage, ms) => void, got ${describe(o.onStage)}`);
  }
  if ('print' in o && o.print !== undefined && o.print !== null && typeof o.print !== 'function') {
    throw new KilnError(`${who}: option 'print' must be a function (text) => void or null, got ${describe(o.print)}`);
  }
  if (o.fusion !== undefined) {
    const fusionKeys = Object.keys(DEFAULT_FUSION_OPTIONS);
    if (!isPlainObject(o.fusion)) throw new KilnError(`${who}: option 'fusion' must be an object with keys among {${fusionKeys.join(', ')}}, got ${describe(o.fusion)}`);
    refuseUnknownKeys(`${who} (fusion)`, o.fusion, fusionKeys);
    const cost = o.fusion.maxDuplicationCost;
    if (cost !== undefined && (typeof cost !== 'number' || !(cost >= 0) || cost === Infinity)) {
      throw new KilnError(`${who}: fusion.maxDuplicationCost must be a finite number >= 0, got ${describe(cost)}`);
    }
  }
  if (o.maxBatch !== undefined && (typeof o.maxBatch !== 'number' || !Number.isInteger(o.maxBatch) || o.maxBatch < 1 || o.maxBatch > MAX_BATCH)) {
    throw new KilnError(`${who}: option 'maxBatch' must be an integer from 1 to ${MAX_BATCH}, got ${describe(o.maxBatch)}`);
  }
  checkQuantize(who, o.quantize);
  checkShapes(who, o.inputShapes);
  let dtypes: DType[] | undefined;
  if (o.inputDtypes !== undefined) {
    if (!Array.isArray(o.inputDtypes)) throw new KilnError(`${who}: option 'inputDtypes' must be an array of dtype names (one per input, e.g. ['f32']), got ${describe(o.inputDtypes)}`);
    dtypes = o.inputDtypes.map((d: unknown, i) => parseDType(d, `${who}: inputDtypes[${i}]`));
    const shapes = o.inputShapes as unknown[] | undefined;
    if (shapes !== undefined && shapes.length !== dtypes.length) {
      throw new KilnError(`${who}: inputShapes gives ${shapes.length} input(s) but inputDtypes gives ${dtypes.length}; give one of each per input`);
    }
  }
  return (dtypes ? { ...options, inputDtypes: dtypes } : options);
}
