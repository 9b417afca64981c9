/**
 * What `kiln compile` reads: a TensorFlow.js model.json (a LayersModel or a GraphModel, told
 * apart by its `format` field, or by the shape of `modelTopology` in files written before
 * tfjs added `format`), or a function in Kiln's IR text form (docs/ir.md; what KILN_DUMP
 * writes). Each becomes something `compile` takes, with its inputs described so the command
 * can check --input-shape against them before compiling.
 */
import type { Compilable } from '../compile.js';
import { KilnError } from '../ir/types.js';
import { CommandError, resolvePath, type CliContext } from './io.js';
import { UsageError } from './args.js';

export type ModelKind = 'layers-model' | 'graph-model' | 'ir';

/** One model input: its name, shape (null where the model leaves it open) and dtype. */
export interface ModelInput {
  readonly name: string;
  readonly shape: readonly (number | null)[];
  readonly dtype: string;
}

export interface LoadedModel {
  readonly kind: ModelKind;
  readonly name: string;
  readonly target: Compilable;
  readonly inputs: readonly ModelInput[];
  /**
   * Whether --input-shape may only fill in open dimensions (Keras models), must equal the
   * fixed shapes (IR), or is handed to the loader (GraphModels, whose shapes become static at import).
   */
  readonly shapes: 'fill' | 'fixed' | 'at-load';
}

const KIND_NAMES: Readonly<Record<ModelKind, string>> = { 'layers-model': 'LayersModel', 'graph-model': 'GraphModel', ir: 'IR function' };

export function kindName(k: ModelKind): string {
  return KIND_NAMES[k];
}

/** Tells a LayersModel model.json from a GraphModel one; anything else is a CommandError saying what was found. */
export function detectModelJson(json: unknown, file: string): 'layers-model' | 'graph-model' {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new CommandError(`'${file}' is JSON but not a TensorFlow.js model.json (expected an object with modelTopology and weightsManifest)`);
  }
  const o = json as Record<string, unknown>;
  if (o['format'] === 'layers-model') return 'layers-model';
  if (o['format'] === 'graph-model') return 'graph-model';
  if (o['format'] !== undefined) {
    throw new CommandError(`'${file}' has format ${JSON.stringify(o['format'])}; Kiln compiles 'layers-model' and 'graph-model' files`);
  }
  const topo = o['modelTopology'];
  if (typeof topo !== 'object' || topo === null) {
    throw new CommandError(`'${file}' has no modelTopology, so it is not a TensorFlow.js model.json (keys: ${Object.keys(o).join(', ') || 'none'})`);
  }
  const t = topo as Record<string, unknown>;
  // Older converters omit `format`: Keras topologies carry class_name/model_config, GraphDefs a node list.
  if (Array.isArray(t['node'])) return 'graph-model';
  if ('class_name' in t || 'model_config' in t || 'config' in t) return 'layers-model';
  throw new CommandError(`'${file}': cannot tell a LayersModel from a GraphModel (no format field; modelTopology has ${Object.keys(t).join(', ') || 'no keys'})`);
}

/** What the command line says about the model, beyond the file. */
export interface SourceOptions {
  readonly inputShapes?: readonly (readonly number[])[];
  /** GraphModels: node names to cut the graph at (outputs) and to feed instead of computing (inputs). */
  readonly outputs?: readonly string[];
  readonly inputs?: readonly string[];
  /** Imports the --layers modules (custom layer classes); called for LayersModels only. */
  readonly registerLayers?: () => Promise<void>;
}

/** Loads the model file `file` (model.json or IR text) for compiling. */
export async function loadModelSource(ctx: CliContext, file: string, text: string, opts: SourceOptions): Promise<LoadedModel> {
  if (text.trimStart().startsWith('{')) {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new CommandError(`'${file}' starts like JSON but does not parse: ${(e as Error).message}`);
    }
    const kind = detectModelJson(json, file);
    if (opts.registerLayers && kind !== 'layers-model') throw new UsageError(`--layers registers custom layers for LayersModels; '${file}' is a ${kindName(kind)}`, 'compile');
    if ((opts.outputs || opts.inputs) && kind !== 'graph-model') throw new UsageError(`--${opts.outputs ? 'outputs' : 'inputs'} cuts GraphModels; '${file}' is a ${kindName(kind)}`, 'compile');
    const path = resolvePath(ctx, file);
    if (kind === 'graph-model') return loadGraph(path, file, json as Record<string, unknown>, opts);
    await opts.registerLayers?.();
    return loadLayers(path, file);
  }
  if (opts.registerLayers) throw new UsageError(`--layers registers custom layers for LayersModels; '${file}' is IR text`, 'compile');
  if (opts.outputs || opts.inputs) throw new UsageError(`--${opts.outputs ? 'outputs' : 'inputs'} cuts GraphModels; '${file}' is IR text`, 'compile');
  return loadIr(text, file);
}

async function loadIr(text: string, file: string): Promise<LoadedModel> {
  const { parseFunc } = await import('../ir/parse.js');
  let fn;
  try {
    fn = parseFunc(text);
  } catch (e) {
    if (e instanceof KilnError) {
      throw new CommandError(`'${file}' is neither a model.json nor IR text Kiln can parse: ${e.message}`);
    }
    throw e;
  }
  return {
    kind: 'ir',
    name: fn.name,
    target: fn,
    inputs: fn.params.map((p, i) => ({ name: p.name ?? `%${i}`, shape: [...p.type.shape], dtype: p.type.dtype })),
    shapes: 'fixed',
  };
}

async function loadLayers(path: string, file: string): Promise<LoadedModel> {
  // The Keras index registers every built-in layer class (and Functional/Sequential) for loading.
  const { loadLayersModel } = await import('../keras/index.js');
  let model;
  try {
    // Inference only: the training config (optimizer, loss) is not needed to compile predict.
    model = await loadLayersModel(path, { loadTrainingConfig: false });
  } catch (e) {
    if (e instanceof KilnError) {
      const hint = /registerLayer/.test(e.message)
        ? " (on the command line: --layers <module.mjs> whose default export (kiln) => { kiln.registerLayer('Name', Class) } registers it)" : '';
      throw new CommandError(`cannot load LayersModel '${file}': ${e.message}${hint}`);
    }
    throw e;
  }
  return {
    kind: 'layers-model',
    name: model.name,
    target: model,
    inputs: model.inputs.map((i) => ({ name: i.name, shape: [...i.shape], dtype: i.dtype })),
    shapes: 'fill',
  };
}

/** The number of inputs a GraphModel's signature declares, when it has one. */
function signatureInputCount(json: Record<string, unknown>): number | undefined {
  const sig = (json['signature'] ?? (json['userDefinedMetadata'] as Record<string, unknown> | undefined)?.['signature']) as { inputs?: object } | undefined;
  return sig?.inputs ? Object.keys(sig.inputs).length : undefined;
}

async function loadGraph(path: string, file: string, json: Record<string, unknown>, opts: SourceOptions): Promise<LoadedModel> {
  const count = signatureInputCount(json);
  // A cut graph may need other inputs than the signature lists; the loader checks then.
  if (opts.inputShapes && count !== undefined && !opts.outputs && !opts.inputs && opts.inputShapes.length !== count) {
    throw new UsageError(`${opts.inputShapes.length} --input-shape given, but the GraphModel '${file}' has ${count} input${count === 1 ? '' : 's'} in its signature; give one --input-shape per input, in order`, 'compile');
  }
  const { loadGraphModel } = await import('../frontend/import/graph_model.js');
  let model;
  try {
    model = await loadGraphModel(path, {
      ...(opts.inputShapes ? { inputShapes: opts.inputShapes } : {}),
      ...(opts.outputs ? { outputs: opts.outputs } : {}),
      ...(opts.inputs ? { inputs: opts.inputs } : {}),
    });
  } catch (e) {
    if (e instanceof KilnError) {
      // The loader speaks in API terms; say what the flags are.
      const hint = /inputShapes/.test(e.message) ? ' (on the command line: --input-shape d0,d1,... once per input, in order)'
        : /outputs: \[/.test(e.message) ? ' (on the command line: --outputs node1,node2)'
          : /inputs: \[/.test(e.message) ? ' (on the command line: --inputs node1,node2)' : '';
      throw new CommandError(`cannot load GraphModel '${file}': ${e.message}${hint}`);
    }
    throw e;
  }
  return {
    kind: 'graph-model',
    name: model.name,
    target: model,
    inputs: model.inputs.map((i) => ({ name: i.name, shape: [...i.shape], dtype: i.dtype })),
    shapes: 'at-load',
  };
}
