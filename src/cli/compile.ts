/**
 * `kiln compile <model.json> -o <out.kiln> [--input-shape 1,224,224,3 ...] [--target wasm|cuda]
 * [--sm 80|90] [--threads|--no-threads] [--explain] [--max-batch N]`: loads a TensorFlow.js LayersModel or
 * GraphModel (or an IR text file), compiles it, and writes the artifact crash-safely. Progress
 * goes to stderr, one line per stage with its time (load, trace, passes, fusion, codegen, pack,
 * write); the summary (kernels, artifact bytes, arena bytes, total time) and, with --explain,
 * the fusion plan go to stdout. The compiler is imported only when this command runs, so the
 * other commands start without it.
 */
import { choiceFlag, flagBool, flagList, flagValue, intFlag, UsageError, type CommandSpec, type ParsedArgs } from './args.js';
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { CommandError, formatBytes, formatMs, readBytes, resolvePath, writeBytes, type CliContext } from './io.js';
import { kindName, loadModelSource, type LoadedModel } from './model_source.js';
import { KilnError } from '../ir/types.js';
import { MAX_BATCH, QUANTIZE_MODES } from '../compile_options.js';
import { readArtifact } from '../runtime/artifact.js';
import { literal, type Literal } from '../ir/literal.js';
import { readNpy } from './npy.js';

/**
 * --calibration data.npy: samples along the first axis, cut into batches of the compiled batch
 * (`shape`, the first input's); a last partial batch is left out.
 */
async function calibrationFrom(ctx: CliContext, file: string, inputs: number, shape: readonly number[]): Promise<Literal[]> {
  if (inputs !== 1) throw new UsageError(`--calibration takes one .npy file, for one-input models; this model has ${inputs} inputs`, 'compile');
  const npy = readNpy(await readBytes(ctx, file, 'calibration data'), file);
  const sample = shape.slice(1), b = shape[0] ?? 1;
  const per = sample.reduce((x, y) => x * y, 1);
  if (npy.dtype !== 'f32') throw new CommandError(`--calibration ${file}: dtype ${npy.dtype}, expected float32 samples`);
  if (npy.shape.length !== sample.length + 1 || npy.shape.slice(1).some((d, i) => d !== sample[i])) {
    throw new CommandError(`--calibration ${file}: shape [${npy.shape.join(',')}], expected [N,${sample.join(',')}] (samples of the input shape [${shape.join(',')}] without its batch)`);
  }
  const n = Math.floor(npy.shape[0]! / b);
  if (n === 0) throw new CommandError(`--calibration ${file}: ${npy.shape[0]} samples, fewer than one batch of ${b}`);
  return Array.from({ length: n }, (_, i) => literal([b, ...sample], 'f32', (npy.data as Float32Array).subarray(i * b * per, (i + 1) * b * per)));
}

export const spec: CommandSpec = {
  name: 'compile',
  summary: 'Compile a TensorFlow.js model.json (LayersModel or GraphModel) or an IR text file into a .kiln artifact.',
  positionals: [{ name: 'model.json', help: 'the model to compile (a tfjs model.json with its weight files beside it, or IR text)' }],
  flags: [
    { name: 'output', short: 'o', kind: 'value', arg: '<out.kiln>', help: 'where to write the artifact (required)' },
    { name: 'input-shape', kind: 'list', arg: '<d0,d1,...>', help: 'the shape of each input, in order (fills unknown dims such as the batch; default 1)' },
    { name: 'target', kind: 'value', arg: '<wasm|cuda>', help: 'WebAssembly SIMD (default) or CUDA PTX' },
    { name: 'sm', kind: 'value', arg: '<80|90>', help: 'CUDA: the SM architecture the PTX targets (default 80)' },
    { name: 'threads', kind: 'boolean', negatable: true, help: 'WebAssembly: compile for threads (shared memory; default) or not' },
    { name: 'outputs', kind: 'list', arg: '<node,...>', help: 'GraphModels: import up to these nodes, cutting the graph (e.g. before NonMaxSuppression)' },
    { name: 'inputs', kind: 'list', arg: '<node,...>', help: 'GraphModels: feed these nodes instead of computing them (each needs its --input-shape)' },
    { name: 'layers', kind: 'list', arg: '<module.mjs>', help: "LayersModels: a JS module registering custom layers (its default export is called with the kiln API)" },
    { name: 'explain', kind: 'boolean', help: 'also print the fusion plan: each kernel and why ops fused or not' },
    { name: 'max-batch', kind: 'value', arg: '<n>', help: 'LayersModels, WebAssembly: one artifact that runs any batch from 1 to n (the unknown leading dim)' },
    { name: 'quantize', kind: 'value', arg: `<${QUANTIZE_MODES.join('|')}>`, help: 'int8: integer inference of dense/conv layers (needs --calibration; docs/quantization.md); int8-weights (int8 blocks, ~27% of f32) or float16-weights (~50%): weights stored compressed, decoded at load, compute f32; none: f32 even for a model imported with uint8/float16 weights (by default those keep their storage)' },
    { name: 'calibration', kind: 'value', arg: '<data.npy>', help: '--quantize int8: representative inputs, samples along the first axis (float32, the input shape without the batch), fed in batches of the compiled batch size' },
    { name: 'calibration-method', kind: 'value', arg: '<minmax|percentile|mse>', help: '--quantize int8: how activation ranges are chosen (default minmax)' },
  ],
  details: [
    'examples:',
    '  kiln compile model.json -o model.kiln --input-shape 1,224,224,3',
    '  kiln compile detector/model.json -o detector.kiln --target cuda --sm 90',
    '  kiln compile two_inputs/model.json -o m.kiln --input-shape 1,64 --input-shape 1,8',
    '  kiln compile handtrack.json -o boxes.kiln --outputs Identity_6,Identity_7  (a GraphModel cut before NMS)',
    '  kiln compile gans/model.json -o gans.kiln --layers ./custom_layers.mjs --input-shape 1,32,32,3',
    '  kiln compile mnist/model.json -o mnist.kiln --max-batch 64  (runs batches of 1 to 64)',
    '  kiln compile mobilenet/model.json -o small.kiln --quantize int8-weights  (weights ~27% of f32, decoded at load)',
    '  kiln compile cnn/model.json -o cnn8.kiln --quantize int8 --calibration samples.npy  (int8 kernels)',
  ].join('\n'),
};

const SHAPE_EXAMPLE = 'e.g. 1,224,224,3';

/** Parses one --input-shape value: positive integers separated by commas (brackets allowed). */
export function parseShape(text: string, index: number): number[] {
  const body = text.trim().replace(/^\[(.*)\]$/, '$1').trim();
  const which = `--input-shape #${index + 1} '${text}'`;
  if (body === '') throw new UsageError(`${which} is empty; give the dimensions separated by commas, ${SHAPE_EXAMPLE}`, 'compile');
  return body.split(',').map((part, j) => {
    const p = part.trim();
    if (!/^\d+$/.test(p) || Number(p) < 1 || !Number.isSafeInteger(Number(p))) {
      throw new UsageError(`${which}: dimension ${j} is '${p}', not a positive integer (${SHAPE_EXAMPLE})`, 'compile');
    }
    return Number(p);
  });
}

const shapeText = (s: readonly (number | null)[]): string => `[${s.map((d) => d ?? '?').join(',')}]`;

/** Checks --input-shape against the model's inputs; returns the shapes compile takes. */
export function resolveShapes(model: LoadedModel, given: readonly number[][] | undefined, file: string): readonly number[][] | undefined {
  const ins = model.inputs;
  const list = ins.map((x) => `${x.name} ${x.dtype}${shapeText(x.shape)}`).join(', ');
  if (given === undefined) return undefined;
  if (given.length !== ins.length) {
    throw new UsageError(`${given.length} --input-shape given, but '${file}' has ${ins.length} input${ins.length === 1 ? '' : 's'} (${list}); give one --input-shape per input, in order`, 'compile');
  }
  given.forEach((g, i) => {
    const inp = ins[i]!;
    const where = `--input-shape #${i + 1} [${g.join(',')}] for input '${inp.name}' ${shapeText(inp.shape)}`;
    if (g.length !== inp.shape.length) throw new UsageError(`${where}: has ${g.length} dimensions, the input has ${inp.shape.length}`, 'compile');
    inp.shape.forEach((d, j) => {
      if (d !== null && d !== g[j]) {
        const fixed = model.shapes === 'fixed' ? ' (an IR function\'s shapes are fixed)' : '';
        throw new UsageError(`${where}: dimension ${j} is ${g[j]} but the model fixes it at ${d}${fixed}`, 'compile');
      }
    });
  });
  return given;
}

/**
 * Imports a module that registers custom layer classes: one whose default export is a function
 * gets the kiln API (`export default (kiln) => kiln.registerLayer('MyLayer', MyLayer)`), so it
 * registers into this very Kiln whatever copy of the package the module itself would resolve.
 */
async function registerLayersFrom(ctx: CliContext, mod: string): Promise<void> {
  const path = resolvePath(ctx, mod);
  if (!existsSync(path)) throw new CommandError(`cannot read --layers module '${mod}': no such file or directory`);
  let ns: { default?: unknown };
  try {
    ns = (await import(pathToFileURL(path).href)) as { default?: unknown };
  } catch (e) {
    throw new CommandError(`--layers module '${mod}' failed to load: ${(e as Error).message}`);
  }
  if (typeof ns.default === 'function') {
    const kilnApi = await import('../index.js');
    try {
      await (ns.default as (k: typeof kilnApi) => unknown)(kilnApi);
    } catch (e) {
      throw new CommandError(`--layers module '${mod}': its default export threw: ${(e as Error).message}`);
    }
  } else if (ns.default !== undefined) {
    throw new CommandError(`--layers module '${mod}': the default export must be a function (kiln) => void that registers layers, got ${typeof ns.default}`);
  }
}

export async function run(args: ParsedArgs, ctx: CliContext): Promise<number> {
  const file = args.positionals[0]!;
  const out = flagValue(args, 'output');
  if (out === undefined) throw new UsageError(`'kiln compile' needs -o <out.kiln> (where to write the artifact)`, 'compile');
  const target = choiceFlag(args, 'target', ['wasm', 'cuda'] as const, 'compile') ?? 'wasm';
  const smText = choiceFlag(args, 'sm', ['80', '90'] as const, 'compile');
  if (smText !== undefined && target !== 'cuda') throw new UsageError(`--sm ${smText} applies to --target cuda (the target is ${target})`, 'compile');
  const threads = flagBool(args, 'threads');
  if (threads !== undefined && target !== 'wasm') throw new UsageError(`--${threads ? '' : 'no-'}threads applies to --target wasm (the target is ${target})`, 'compile');
  const shapeFlags = flagList(args, 'input-shape');
  const shapes = shapeFlags.length ? shapeFlags.map(parseShape) : undefined;
  const maxBatch = intFlag(args, 'max-batch', 1, MAX_BATCH, 'compile');
  if (maxBatch !== undefined && target !== 'wasm') throw new UsageError(`--max-batch applies to --target wasm (the target is ${target}; the CUDA executor runs one batch size per artifact)`, 'compile');
  const quantize = choiceFlag(args, 'quantize', QUANTIZE_MODES, 'compile');
  const calibrationFile = flagValue(args, 'calibration');
  const method = choiceFlag(args, 'calibration-method', ['minmax', 'percentile', 'mse'] as const, 'compile');
  if (quantize === 'int8' && calibrationFile === undefined) throw new UsageError('--quantize int8 needs --calibration <data.npy> (representative inputs, samples along the first axis)', 'compile');
  if (quantize !== 'int8' && (calibrationFile !== undefined || method !== undefined)) throw new UsageError(`--${calibrationFile !== undefined ? 'calibration' : 'calibration-method'} applies to --quantize int8${quantize ? ` (the mode is ${quantize})` : ''}`, 'compile');

  const t0 = performance.now();
  const progress = (stage: string, ms: number, note = ''): void => {
    ctx.stderr.write(`  ${stage.padEnd(8)} ${formatMs(ms).padStart(9)}${note ? `  ${note}` : ''}\n`);
  };
  const text = new TextDecoder().decode(await readBytes(ctx, file, 'model'));
  const nodes = (flag: string) => flagList(args, flag).flatMap((v) => v.split(',').map((x) => x.trim()).filter((x) => x !== ''));
  const outputs = nodes('outputs');
  const inputs = nodes('inputs');
  const layerModules = flagList(args, 'layers');
  const model = await loadModelSource(ctx, file, text, {
    ...(shapes ? { inputShapes: shapes } : {}), ...(outputs.length ? { outputs } : {}), ...(inputs.length ? { inputs } : {}),
    ...(layerModules.length ? { registerLayers: async () => { for (const m of layerModules) await registerLayersFrom(ctx, m); } } : {}),
  });
  // GraphModels took the shapes at load; their inputs are static now.
  const inputShapes = model.shapes === 'at-load' ? undefined : resolveShapes(model, shapes, file);
  const ins = model.inputs.map((x) => `${x.name} ${x.dtype}${shapeText(x.shape)}`).join(', ');
  progress('load', performance.now() - t0, `${kindName(model.kind)} '${model.name}' from ${file} (inputs: ${ins || 'none'})`);
  if (maxBatch !== undefined && model.shapes === 'at-load') {
    throw new UsageError(`--max-batch applies to LayersModels (Kiln traces them at two batch sizes); '${file}' is a ${kindName(model.kind)} whose shapes are fixed at import`, 'compile');
  }
  if (inputShapes === undefined && maxBatch === undefined) {
    const open = model.inputs.filter((x) => x.shape.includes(null));
    if (open.length) ctx.stderr.write(`  note: unknown dimensions of ${open.map((x) => `'${x.name}' ${shapeText(x.shape)}`).join(', ')} are compiled as 1; give --input-shape to choose\n`);
  }

  const { compile } = await import('../compile.js');
  const calibration = calibrationFile === undefined ? undefined : await calibrationFrom(ctx, calibrationFile, model.inputs.length, inputShapes?.[0] ?? model.inputs[0]?.shape.map((d) => d ?? 1) ?? []);
  let artifact;
  try {
    artifact = compile(model.target, {
      target,
      ...(smText ? { sm: Number(smText) as 80 | 90 } : {}),
      ...(threads !== undefined ? { threads } : {}),
      ...(inputShapes ? { inputShapes } : {}),
      ...(maxBatch !== undefined ? { maxBatch } : {}),
      ...(quantize === 'int8' ? { quantize: { mode: 'int8' as const, calibration: calibration!, ...(method ? { method } : {}) } } : quantize !== undefined ? { quantize: { mode: quantize } } : {}),
      onStage: (stage, ms) => progress(stage, ms),
    });
  } catch (e) {
    if (e instanceof KilnError) throw new CommandError(`cannot compile '${file}': ${e.message}`);
    throw e;
  }
  const tw = performance.now();
  await writeBytes(ctx, out, artifact.bytes, 'artifact');
  progress('write', performance.now() - tw, out);
  if (flagBool(args, 'explain')) ctx.stdout.write(artifact.explain().trimEnd() + '\n');
  const m = artifact.manifest;
  const arena = m.memory.arenaBytes ?? artifact.memory.peakBytes;
  // Encoded weights (kept as imported, or --quantize): what they take in the file.
  const stored = m.weights?.encoding ? ` (stored ${formatBytes(readArtifact(artifact.bytes).sections['weights']?.length ?? 0)})` : '';
  ctx.stdout.write(
    `${out}: ${m.target}${m.target === 'wasm' ? (m.memory.shared ? ' (threads)' : ' (single thread)') : ''}, ${m.kernels.length} kernel${m.kernels.length === 1 ? '' : 's'}, ` +
      `${m.batch ? `batch 1 to ${m.batch.max}, ` : ''}artifact ${formatBytes(artifact.bytes.length)}, arena ${formatBytes(arena)}, weights ${formatBytes(artifact.memory.weightsBytes)}${stored}, ` +
      `compiled in ${formatMs(performance.now() - t0)}\n`,
  );
  return 0;
}

