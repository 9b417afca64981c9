/**
 * `kiln run <file.kiln> --input name=file.npy ... [--output out.npy | --output name=path ...]`:
 * runs an artifact once on inputs read from NumPy .npy files, checked by name, dtype and shape
 * against the artifact's signature; prints each output's name, shape, dtype and a short preview
 * (first values, min/max/mean) and optionally writes outputs as .npy.
 */
import type { TensorData, TensorInfo } from '../runtime/index.js';
import { flagList, intFlag, UsageError, type CommandSpec, type ParsedArgs } from './args.js';
import { CommandError, formatMs, formatValue, readBytes, writeBytes, type CliContext } from './io.js';
import { loadProgram, runtimeCall, type LoadedProgram } from './load.js';
import { readNpy, writeNpy, type NpyArray, type NpyDType } from './npy.js';
import { KilnError } from '../ir/types.js';
import { suggest } from '../runtime/args.js';

export const spec: CommandSpec = {
  name: 'run',
  summary: 'Run a compiled artifact on inputs from .npy files and print (or save) its outputs.',
  positionals: [{ name: 'file.kiln', help: 'the artifact to run' }],
  flags: [
    { name: 'input', short: 'i', kind: 'list', arg: '<name=file.npy>', help: "an input by name (split at the first '='); a lone 'file.npy' when the artifact has one input" },
    { name: 'output', short: 'o', kind: 'list', arg: '<name=out.npy>', help: "write an output as .npy; a lone 'out.npy' when the artifact has one output" },
    { name: 'threads', kind: 'value', arg: '<n>', help: 'threads to run on (WebAssembly; default: the host\'s cores, at most 8)' },
    { name: 'preview', kind: 'value', arg: '<n>', help: 'values shown per output (default 8)' },
  ],
  details: [
    'Inputs must match the signature (`kiln inspect` shows it) in shape and dtype: float32 for',
    'f32/f16/bf16 inputs (float64 and float16 files are converted), int32 for i32 (int64',
    'converted when it fits), uint8 for u8, bool for bool. Outputs are written as float32, int32,',
    'uint8 or bool .npy files.',
    '',
    'examples:',
    '  kiln run mlp.kiln --input x.npy',
    '  kiln run detector.kiln --input image=img.npy --output boxes=boxes.npy --output scores=scores.npy',
  ].join('\n'),
};

/** 'name=path' splits at the first '='; a value without '=' is a path alone. */
function splitNamed(value: string): { name?: string; path: string } {
  const eq = value.indexOf('=');
  if (eq < 0) return { path: value };
  return { name: value.slice(0, eq), path: value.slice(eq + 1) };
}

const sig = (t: TensorInfo): string => `${t.dtype}[${t.shape.join(',')}]`;
const list = (ts: readonly TensorInfo[]): string => ts.map((t) => `${t.name} ${sig(t)}`).join(', ') || '(none)';

/** Pairs each `--<flag>` value with a tensor of `tensors` by name (or the only one). */
export function assignByName(flag: string, values: readonly string[], tensors: readonly TensorInfo[], kind: string, file: string): Map<string, string> {
  const out = new Map<string, string>();
  const names = tensors.map((t) => t.name);
  for (const v of values) {
    const given = splitNamed(v);
    const path = given.path;
    if (given.name !== undefined && !names.includes(given.name)) {
      throw new UsageError(`--${flag} '${v}': '${file}' has no ${kind} '${given.name}'${suggest(given.name, names)}; its ${kind}s: ${list(tensors)}`, 'run');
    }
    if (given.name === undefined && tensors.length !== 1) {
      throw new UsageError(`--${flag} '${v}' gives no ${kind} name, but '${file}' has ${tensors.length} ${kind}s (${list(tensors)}); write --${flag} <name>=${path}`, 'run');
    }
    const name = given.name ?? tensors[0]!.name;
    if (path === '') throw new UsageError(`--${flag} '${v}' gives no file after '='`, 'run');
    if (out.has(name)) throw new UsageError(`${kind} '${name}' is given twice (--${flag} '${out.get(name)}' and '${path}')`, 'run');
    out.set(name, path);
  }
  return out;
}

const NPY_NAMES: Readonly<Record<NpyDType, string>> = { f32: 'float32', i32: 'int32', u8: 'uint8', i8: 'int8', bool: 'bool' };

/** The .npy dtypes an input of each artifact dtype accepts (after readNpy's conversions). */
const ACCEPTS: Readonly<Record<string, readonly NpyDType[]>> = {
  f32: ['f32'], f16: ['f32'], bf16: ['f32'], i32: ['i32'], i8: ['i8'], u8: ['u8'], bool: ['bool', 'u8'],
};
const WANT: Readonly<Record<string, string>> = { f32: 'float32', f16: 'float32', bf16: 'float32', i32: 'int32', i8: 'int8', u8: 'uint8', bool: 'bool' };

/** Checks an .npy array against an input's signature; the data in the host array the runtime takes. */
export function checkInput(t: TensorInfo, a: NpyArray, path: string): TensorData {
  const shape = `(${a.shape.join(', ')}${a.shape.length === 1 ? ',' : ''})`;
  if (!(ACCEPTS[t.dtype] ?? []).includes(a.dtype)) {
    throw new CommandError(`input '${t.name}' is ${sig(t)} but '${path}' holds ${NPY_NAMES[a.dtype]} ('${a.descr}') ${shape}; save it as ${WANT[t.dtype]} (a.astype(np.${WANT[t.dtype]}))`);
  }
  if (a.shape.length !== t.shape.length || a.shape.some((d, i) => d !== t.shape[i])) {
    throw new CommandError(`input '${t.name}' is ${sig(t)} but '${path}' has shape ${shape}; reshape it to (${t.shape.join(', ')}), or compile the model again with a matching --input-shape`);
  }
  if (t.dtype === 'bool' && a.dtype === 'u8') {
    const bad = a.data.findIndex((x) => x > 1);
    if (bad >= 0) throw new CommandError(`input '${t.name}' is bool but '${path}' element ${bad} is ${a.data[bad]} (expected 0 or 1)`);
  }
  return a.data;
}

/**
 * An input of a batch-polymorphic artifact (leading dim k * maxBatch) takes any leading dim
 * k * n with n from 1 to maxBatch: the signature at the .npy's own leading dim when it is one.
 */
function atBatch(t: TensorInfo, lead: number | undefined, maxBatch: number | undefined): TensorInfo {
  if (maxBatch === undefined || lead === undefined || t.shape.length === 0 || t.shape[0]! % maxBatch !== 0) return t;
  const k = t.shape[0]! / maxBatch;
  if (lead > t.shape[0]!) throw new CommandError(`input '${t.name}' has leading dimension ${lead}, more than this artifact's maxBatch ${maxBatch}${k > 1 ? ` (times ${k})` : ''}; split the batch, or compile with a larger --max-batch`);
  return lead >= k && lead % k === 0 ? { ...t, shape: [lead, ...t.shape.slice(1)] } : t;
}

/** One line per output: name, type, the first values, min/max/mean (and NaN count). */
export function previewLine(t: TensorInfo, data: TensorData, count: number): string {
  const n = data.length;
  const first = Array.from(data.subarray(0, count), formatValue).join(', ') + (n > count ? ', ...' : '');
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  let nan = 0;
  for (let i = 0; i < n; i++) {
    const x = data[i]!;
    if (Number.isNaN(x)) {
      nan++;
      continue;
    }
    if (x < min) min = x;
    if (x > max) max = x;
    sum += x;
  }
  const stats = n - nan > 0 ? `min ${formatValue(min)}  max ${formatValue(max)}  mean ${formatValue(sum / (n - nan))}` : 'no numbers';
  return `${t.name}  ${sig(t)}  [${first}]  ${stats}${nan ? `  NaN ${nan}` : ''}`;
}

const OUT_DTYPE: Readonly<Record<string, NpyDType>> = { f32: 'f32', f16: 'f32', bf16: 'f32', i32: 'i32', i8: 'i8', u8: 'u8', bool: 'bool' };

export async function run(args: ParsedArgs, ctx: CliContext): Promise<number> {
  const file = args.positionals[0]!;
  const threads = intFlag(args, 'threads', 1, 1024, 'run');
  const previewCount = intFlag(args, 'preview', 0, 1_000_000, 'run') ?? 8;
  const prog = await loadProgram(ctx, file, threads, 'run');
  try {
    return await runLoaded(prog, file, args, ctx, previewCount);
  } finally {
    prog.dispose();
  }
}

async function runLoaded(prog: LoadedProgram, file: string, args: ParsedArgs, ctx: CliContext, previewCount: number): Promise<number> {
  const inputFiles = assignByName('input', flagList(args, 'input'), prog.inputs, 'input', file);
  const outputFiles = assignByName('output', flagList(args, 'output'), prog.outputs, 'output', file);
  const missing = prog.inputs.filter((t) => !inputFiles.has(t.name));
  if (missing.length) {
    throw new UsageError(`missing --input for ${missing.map((t) => `'${t.name}' (${sig(t)})`).join(', ')}; '${file}' takes: ${list(prog.inputs)}`, 'run');
  }
  const inputs: Record<string, TensorData> = {};
  for (const t of prog.inputs) {
    const path = inputFiles.get(t.name)!;
    let a: NpyArray;
    try {
      a = readNpy(await readBytes(ctx, path, `input '${t.name}'`), `input '${t.name}' ('${path}')`);
    } catch (e) {
      if (e instanceof KilnError) throw new CommandError(e.message);
      throw e;
    }
    inputs[t.name] = checkInput(atBatch(t, a.shape[0], prog.maxBatch), a, path);
  }
  const t0 = performance.now();
  const outputs = runtimeCall(`running '${file}'`, () => prog.runSync(inputs));
  const ms = performance.now() - t0;
  ctx.stderr.write(`ran '${file}' in ${formatMs(ms)} (${prog.target}, ${prog.variant}${prog.target === 'wasm' ? `, ${prog.threads} thread${prog.threads === 1 ? '' : 's'}` : ''})\n`);
  // A batch-polymorphic artifact's outputs lead with the run's batch: the shape follows the data.
  const outInfo = (t: TensorInfo): TensorInfo => prog.maxBatch === undefined ? t : { ...t, shape: [outputs[t.name]!.length / t.shape.slice(1).reduce((x, y) => x * y, 1), ...t.shape.slice(1)] };
  for (const t of prog.outputs) ctx.stdout.write(previewLine(outInfo(t), outputs[t.name]!, previewCount) + '\n');
  for (const [name, path] of outputFiles) {
    const t = outInfo(prog.outputs.find((o) => o.name === name)!);
    await writeBytes(ctx, path, writeNpy(outputs[name]!, t.shape, OUT_DTYPE[t.dtype]), `output '${name}'`);
    ctx.stderr.write(`wrote output '${name}' ${sig(t)} to '${path}'\n`);
  }
  return 0;
}
