/**
 * TensorFlow.js GraphModels (a frozen TensorFlow GraphDef as JSON plus weights) as Kiln models.
 * The walk evaluates the graph in topological order by calling frontend ops on frontend tensors:
 * Const nodes are concrete tensors (the weights), Placeholders are the model's inputs, and each
 * other node goes through the op table (ops/index.ts). An op whose inputs are all concrete
 * computes eagerly, so shape arithmetic (Shape -> StridedSlice -> Pack -> Reshape) folds to
 * constants while the rest records IR under a trace. Only the ancestors of the requested outputs
 * are imported, which is how `outputs` cuts a graph before ops Kiln refuses (data-dependent
 * shapes, control flow, tensor lists).
 */
import type { DType } from '../../ir/dtype.js';
import { literal } from '../../ir/literal.js';
import { KilnError, tensorType, typeToString } from '../../ir/types.js';
import { suggest } from '../../runtime/args.js';
import { Tensor } from '../tensor.js';
import { fn, trace } from '../tracing.js';
import { readModelArtifacts, type ModelSource } from '../io/source.js';
import { decodeWeights, type DecodedWeight } from '../io/weights.js';
import { recordWeightStorage } from '../io/weight_storage.js';
import { NodeAttrs, anyDType, shapeDims, type GraphDefJson, type NodeDefJson, type SignatureJson } from './graph_def.js';
import { OP_TABLE, REFUSED_OPS } from './ops/index.js';

/** Where a GraphModel comes from: a path or file:// URL, an http(s) URL, a tfjs IOHandler or ModelArtifacts. */
export type GraphModelSource = ModelSource;

export interface LoadGraphModelOptions {
  /** Static shapes for the inputs, by input name (with or without ':0') or in input order. */
  inputShapes?: Readonly<Record<string, readonly number[]>> | readonly (readonly number[])[];
  /** Node names (':k' picks output k) to import up to; the graph is cut there. */
  outputs?: readonly string[];
  /**
   * Intermediate node names to feed instead of computing (the graph is cut below them too, e.g.
   * after a preprocessing loop); each needs its shape in inputShapes. Default: the Placeholders.
   */
  inputs?: readonly string[];
  /** The model's name (default: the file name, or 'graph_model'). */
  name?: string;
}

const OPTION_NAMES = ['inputShapes', 'outputs', 'inputs', 'name'];

export interface GraphTensorInfo {
  /** The node name (':k' suffix for output k > 0). */
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: DType;
}

export type GraphModelInputs = Tensor | readonly Tensor[] | Readonly<Record<string, Tensor>>;

interface Ref {
  node: string;
  index: number;
}

function parseRef(s: string): Ref | undefined {
  if (s.startsWith('^')) return undefined; // control dependency: no data
  const m = /^(.*?)(?::(\d+))?$/.exec(s)!;
  return { node: m[1]!, index: m[2] === undefined ? 0 : Number(m[2]) };
}

const refName = (r: Ref): string => (r.index === 0 ? r.node : `${r.node}:${r.index}`);

const importable = (op: string): boolean => op === 'Const' || OP_TABLE[op] !== undefined;

/** The graph's nodes, weights and topology; evaluation for any set of outputs. */
class GraphWalk {
  readonly nodes = new Map<string, NodeDefJson>();
  /** Nodes fed by the caller: Placeholders, or the intermediate nodes named by `inputs`. */
  readonly fed = new Set<string>();
  private readonly consts = new Map<string, Tensor>();

  constructor(graph: GraphDefJson, private readonly weights: Map<string, DecodedWeight>, private readonly modelName: string) {
    for (const n of graph.node ?? []) this.nodes.set(n.name, n);
  }

  node(name: string, why: string): NodeDefJson {
    const n = this.nodes.get(name);
    if (!n) {
      const names = [...this.nodes.keys()];
      throw new KilnError(`GraphModel '${this.modelName}': ${why} names node '${name}', which is not in the graph${suggest(name, names)}`);
    }
    return n;
  }

  dataInputs(n: NodeDefJson): Ref[] {
    return (n.input ?? []).map(parseRef).filter((r): r is Ref => r !== undefined);
  }

  /** Ancestors of `outputs` (themselves included) in topological order. */
  order(outputs: readonly Ref[]): NodeDefJson[] {
    const out: NodeDefJson[] = [];
    const state = new Map<string, 1 | 2>();
    for (const root of outputs) {
      const stack: [NodeDefJson, number][] = [[this.node(root.node, 'an output'), 0]];
      while (stack.length) {
        const top = stack[stack.length - 1]!;
        const [n, i] = top;
        if (i === 0) {
          if (state.get(n.name) === 2) { stack.pop(); continue; }
          state.set(n.name, 1);
        }
        // A node Kiln cannot import is a leaf here: check() reports it, and loops (cycles through
        // Merge/NextIteration) are never entered.
        const ins = importable(n.op) && !this.fed.has(n.name) ? this.dataInputs(n) : [];
        if (i < ins.length) {
          top[1]++;
          const child = this.node(ins[i]!.node, `an input of node '${n.name}'`);
          const s = state.get(child.name);
          if (s === 1) throw new KilnError(`GraphModel '${this.modelName}': node '${child.name}' (${child.op}) is part of a cycle (a TensorFlow loop); cut the graph before it with outputs: [...]`);
          if (s === undefined) stack.push([child, 0]);
        } else {
          state.set(n.name, 2);
          out.push(n);
          stack.pop();
        }
      }
    }
    return out;
  }

  /** The first node (in topological order) that Kiln cannot import, with the reason. */
  check(order: readonly NodeDefJson[]): void {
    for (const n of order) {
      if (importable(n.op) || this.fed.has(n.name)) continue;
      if (n.op === 'Placeholder') {
        throw new KilnError(`GraphModel '${this.modelName}': the outputs depend on the model input '${n.name}', which is not among the given inputs [${[...this.fed].join(', ')}]`);
      }
      const inputs = this.dataInputs(n).map(refName);
      const why = REFUSED_OPS[n.op] ?? `it is not in Kiln's GraphModel op set${suggest(n.op, Object.keys(OP_TABLE))}`;
      const cut = inputs.length ? ` (for example its inputs: outputs: [${inputs.map((s) => `'${s}'`).join(', ')}])` : '';
      throw new KilnError(`GraphModel '${this.modelName}': cannot import node '${n.name}', a ${n.op}: ${why}. ` +
        `Pass outputs: [...] to loadGraphModel to cut the graph before it${cut}, and do the rest on the host`);
    }
  }

  constTensor(n: NodeDefJson): Tensor {
    let t = this.consts.get(n.name);
    if (t) return t;
    const w = this.weights.get(n.name);
    if (w) {
      t = Tensor.concrete({ type: tensorType(w.shape, w.dtype), data: w.data });
    } else {
      const v = new NodeAttrs(n).tensor('value');
      if (!v) throw new KilnError(`GraphModel '${this.modelName}': Const node '${n.name}' has no weight in the manifest and no inline value`);
      t = Tensor.concrete(literal(v.shape, v.dtype, v.values));
    }
    this.consts.set(n.name, t);
    return t;
  }

  /** Evaluate `outputs` with `feeds` for the Placeholders (concrete: eagerly; symbolic: records IR). */
  run(order: readonly NodeDefJson[], feeds: ReadonlyMap<string, Tensor>, outputs: readonly Ref[]): Tensor[] {
    const values = new Map<string, Tensor[]>();
    for (const n of order) {
      if (this.fed.has(n.name)) {
        const t = feeds.get(n.name);
        if (!t) throw new KilnError(`GraphModel '${this.modelName}': no value fed for input '${n.name}'`);
        values.set(n.name, [t]);
        continue;
      }
      if (n.op === 'Const') {
        values.set(n.name, [this.constTensor(n)]);
        continue;
      }
      const inputs = this.dataInputs(n).map((r) => {
        const t = values.get(r.node)?.[r.index];
        if (!t) throw new KilnError(`GraphModel '${this.modelName}': node '${n.name}' (${n.op}) reads output ${r.index} of '${r.node}', which has ${values.get(r.node)?.length ?? 0} outputs`);
        return t;
      });
      try {
        const out = OP_TABLE[n.op]!({ node: n, attrs: new NodeAttrs(n), inputs });
        values.set(n.name, Array.isArray(out) ? out : [out]);
      } catch (e) {
        if (!(e instanceof KilnError)) throw e;
        const head = e.message.startsWith(`node '${n.name}'`) ? '' : `node '${n.name}' (${n.op}) on ${inputs.map((t) => typeToString(t.type)).join(', ')}: `;
        throw new KilnError(`GraphModel '${this.modelName}': ${head}${e.message}`);
      }
    }
    return outputs.map((r) => values.get(r.node)![r.index]!);
  }
}

/**
 * An imported GraphModel. `predict` runs compiled (traced once per input signature, like Keras
 * predict), or on the reference interpreter with `runEagerly`; `kiln.compile(gm)` and
 * `kiln.explain(gm)` take it like any model.
 */
export class GraphModel {
  readonly name: string;
  readonly inputs: readonly GraphTensorInfo[];
  readonly outputs: readonly GraphTensorInfo[];
  /** Run predict/execute on the reference interpreter instead of compiled code. */
  runEagerly = false;

  private readonly order: NodeDefJson[];
  private readonly outputRefs: Ref[];
  private readonly compiled: (...xs: Tensor[]) => Tensor[];
  private readonly interpreted: (...xs: Tensor[]) => Tensor[];
  private readonly extra = new Map<string, (...xs: Tensor[]) => Tensor[]>();

  /** @internal Use kiln.loadGraphModel. */
  constructor(
    private readonly walk: GraphWalk, name: string, inputs: GraphTensorInfo[], outputRefs: Ref[],
    private readonly declared: readonly (readonly number[] | undefined)[] = [],
  ) {
    this.name = name;
    this.inputs = inputs;
    this.outputRefs = outputRefs;
    this.order = walk.order(outputRefs);
    // One trace now: shape errors surface at load, and the outputs' shapes are known.
    const types = inputs.map((i) => tensorType(i.shape, i.dtype));
    const func = trace((...xs: Tensor[]) => this.forward(xs), types, { name, argNames: inputs.map((i) => i.name) }).func;
    this.outputs = outputRefs.map((r, i) => ({ name: refName(r), shape: [...func.results[i]!.type.shape], dtype: func.results[i]!.type.dtype }));
    this.compiled = fn((...xs: Tensor[]) => this.forward(xs), { name });
    this.interpreted = fn((...xs: Tensor[]) => this.forward(xs), { name, execution: 'interpreter' });
  }

  private forward(xs: readonly Tensor[]): Tensor[] {
    const feeds = new Map(this.inputs.map((info, i) => [info.name, xs[i]!]));
    return this.walk.run(this.order, feeds, this.outputRefs);
  }

  /** Inputs in model order, checked against the signature (shape and dtype). */
  private feeds(inputs: GraphModelInputs, who: string): Tensor[] {
    let list: Tensor[];
    if (inputs instanceof Tensor) list = [inputs];
    else if (Array.isArray(inputs)) list = [...(inputs as readonly Tensor[])];
    else {
      const rec = inputs as Readonly<Record<string, Tensor>>;
      const names = this.inputs.map((i) => i.name);
      for (const key of Object.keys(rec)) {
        if (!names.includes(key.replace(/:0$/, ''))) throw new KilnError(`${who}: model '${this.name}' has no input '${key}'${suggest(key, names)}; inputs: ${names.join(', ')}`);
      }
      list = this.inputs.map((info) => {
        const t = rec[info.name] ?? rec[`${info.name}:0`];
        if (!t) throw new KilnError(`${who}: model '${this.name}' needs input '${info.name}' (${info.dtype}[${info.shape.join(',')}])`);
        return t;
      });
    }
    if (list.length !== this.inputs.length) {
      throw new KilnError(`${who}: model '${this.name}' takes ${this.inputs.length} input(s) (${this.inputs.map((i) => i.name).join(', ')}), got ${list.length}`);
    }
    list.forEach((t, i) => {
      const info = this.inputs[i]!;
      if (!(t instanceof Tensor)) throw new KilnError(`${who}: input '${info.name}' must be a Tensor`);
      // Dims the model declares unknown (-1) may differ from the load-time shape: a new shape traces anew.
      const declared = this.declared[i] ?? info.shape;
      const ok = t.dtype === info.dtype && t.rank === declared.length && t.shape.every((d, j) => declared[j] === -1 || d === declared[j]);
      if (!ok) throw new KilnError(`${who}: input '${info.name}' of model '${this.name}' must be ${info.dtype}[${declared.join(',')}] (-1 = any), got ${t.describe()}`);
    });
    return list;
  }

  /** Run the model on concrete inputs: one Tensor for one output, else one per output in `outputs` order. */
  predict(inputs: GraphModelInputs): Tensor | Tensor[] {
    const xs = this.feeds(inputs, 'predict');
    if (xs.some((t) => t.isSymbolic)) throw new KilnError(`predict: model '${this.name}' got a symbolic tensor; inside a traced function use model.call(x) instead`);
    const outs = (this.runEagerly ? this.interpreted : this.compiled)(...xs);
    return outs.length === 1 ? outs[0]! : outs;
  }

  /**
   * Like predict, always returning a list. `outputs` (node names, ':k' for output k) evaluates
   * other nodes of the graph instead of the model's outputs, like tfjs's execute(inputs, names).
   */
  execute(inputs: GraphModelInputs, outputs?: readonly string[]): Tensor[] {
    if (outputs === undefined) {
      const out = this.predict(inputs);
      return Array.isArray(out) ? out : [out];
    }
    const refs = outputs.map((o) => {
      const r = parseRef(o);
      if (!r) throw new KilnError(`execute: '${o}' is a control input, not an output name`);
      this.walk.node(r.node, 'execute outputs');
      return r;
    });
    const order = this.walk.order(refs);
    this.walk.check(order);
    const xs = this.feeds(inputs, 'execute');
    const mode = this.runEagerly ? 'interpreter' : 'compiled';
    const key = `${mode}:${refs.map(refName).join('|')}`;
    let f = this.extra.get(key);
    if (!f) {
      const run = (...ts: Tensor[]) => this.walk.run(order, new Map(this.inputs.map((info, i) => [info.name, ts[i]!])), refs);
      f = fn(run, { name: this.name, execution: mode });
      this.extra.set(key, f);
    }
    return f(...xs);
  }

  /** The forward pass on any tensors (symbolic under a trace): what kiln.compile traces. */
  call(inputs: Tensor | Tensor[], _args: { training?: boolean } = {}): Tensor | Tensor[] {
    const outs = this.forward(this.feeds(inputs, 'call'));
    return outs.length === 1 ? outs[0]! : outs;
  }
}

/** The dtype a fed node produces: a Placeholder's `dtype`, else the usual type attributes. */
function fedDType(attrs: NodeAttrs): DType {
  for (const key of ['dtype', 'T', 'element_dtype', 'DstT', 'out_type']) if (attrs.has(key)) return attrs.dtype(key);
  return 'f32';
}

function closestKey(key: string): string {
  return suggest(key, OPTION_NAMES);
}

function signatureOutputs(sig: SignatureJson | undefined): Ref[] | undefined {
  const outs = sig?.outputs;
  if (!outs || Object.keys(outs).length === 0) return undefined;
  return Object.values(outs).map((o) => parseRef(o.name)!);
}

/** Nodes no other node reads (tfjs-converter's default outputs when there is no signature). */
function sinkNodes(walk: GraphWalk): Ref[] {
  const used = new Set<string>();
  for (const n of walk.nodes.values()) for (const r of walk.dataInputs(n)) used.add(r.node);
  return [...walk.nodes.values()].filter((n) => !used.has(n.name) && n.op !== 'Const' && n.op !== 'NoOp' && n.op !== 'Placeholder')
    .map((n) => ({ node: n.name, index: 0 }));
}

/**
 * Import a TensorFlow.js GraphModel (model.json + weight files, an IOHandler, or ModelArtifacts).
 * Shapes are static: unknown (-1) dims in the signature need `inputShapes`.
 */
export async function loadGraphModel(source: GraphModelSource, options: LoadGraphModelOptions = {}): Promise<GraphModel> {
  if (typeof options !== 'object' || options === null) throw new KilnError(`loadGraphModel: options must be an object with keys among ${OPTION_NAMES.join(', ')}`);
  for (const key of Object.keys(options)) {
    if (!OPTION_NAMES.includes(key)) throw new KilnError(`loadGraphModel: unknown option '${key}'${closestKey(key)}; valid options are: ${OPTION_NAMES.join(', ')}`);
  }
  const { json, specs, bytes, where } = await readModelArtifacts(source, 'loadGraphModel');
  if (json.format !== undefined && json.format !== 'graph-model') {
    throw new KilnError(`loadGraphModel: ${where} has format '${json.format}', expected 'graph-model'${json.format === 'layers-model' ? '; use kiln.loadLayersModel for it' : ''}`);
  }
  const graph = json.modelTopology as GraphDefJson;
  if (typeof graph !== 'object' || graph === null || !Array.isArray(graph.node)) {
    throw new KilnError(`loadGraphModel: ${where} has no modelTopology.node list: it is not a tfjs GraphModel (a frozen GraphDef as JSON)`);
  }
  const signature = json.signature as SignatureJson | undefined;
  const weights = decodeWeights(specs, bytes, `loadGraphModel: ${where}`);
  const fileName = typeof source === 'string' || source instanceof URL ? String(source).split('/').pop()!.replace(/\.json$/, '') : 'graph_model';
  const name = options.name ?? fileName;
  const walk = new GraphWalk(graph, weights, name);
  if (options.inputs !== undefined) {
    if (!Array.isArray(options.inputs) || options.inputs.length === 0 || !options.inputs.every((o) => typeof o === 'string')) {
      throw new KilnError(`loadGraphModel: inputs must be a non-empty list of node names, got ${JSON.stringify(options.inputs)}`);
    }
    for (const i of options.inputs) walk.fed.add(walk.node(i.replace(/:0$/, ''), 'inputs').name);
  } else {
    for (const n of walk.nodes.values()) if (n.op === 'Placeholder') walk.fed.add(n.name);
  }

  let outputRefs: Ref[];
  if (options.outputs) {
    if (!Array.isArray(options.outputs) || options.outputs.length === 0 || !options.outputs.every((o) => typeof o === 'string')) {
      throw new KilnError(`loadGraphModel: outputs must be a non-empty list of node names, got ${JSON.stringify(options.outputs)}`);
    }
    outputRefs = options.outputs.map((o) => parseRef(o)!);
    for (const r of outputRefs) walk.node(r.node, 'outputs');
  } else {
    outputRefs = signatureOutputs(signature) ?? sinkNodes(walk);
  }
  const order = walk.order(outputRefs);
  walk.check(order);

  // Inputs: the fed nodes the outputs depend on, in signature (or `inputs`) order, then graph order.
  const placeholders = order.filter((n) => walk.fed.has(n.name));
  if (options.inputs) placeholders.sort((a, b) => options.inputs!.findIndex((i) => i.replace(/:0$/, '') === a.name) - options.inputs!.findIndex((i) => i.replace(/:0$/, '') === b.name));
  const sigInputs = Object.values(signature?.inputs ?? {});
  const sigIndex = (n: NodeDefJson) => {
    const i = sigInputs.findIndex((s) => parseRef(s.name)!.node === n.name);
    return i < 0 ? sigInputs.length : i;
  };
  if (!options.inputs) placeholders.sort((a, b) => sigIndex(a) - sigIndex(b));
  const given = options.inputShapes;
  if (Array.isArray(given) && given.length !== placeholders.length) {
    throw new KilnError(`loadGraphModel: inputShapes lists ${given.length} shape(s) but model '${name}' has ${placeholders.length} input(s): ${placeholders.map((p) => p.name).join(', ')}`);
  }
  // inputShapes may name an input by node name (with or without ':0') or by its signature key.
  const nodeOfKey = (key: string): string => {
    const sig = signature?.inputs?.[key];
    return sig ? parseRef(sig.name)!.node : key.replace(/:0$/, '');
  };
  if (given && !Array.isArray(given)) {
    const names = placeholders.map((p) => p.name);
    for (const key of Object.keys(given)) {
      if (!names.includes(nodeOfKey(key))) throw new KilnError(`loadGraphModel: inputShapes names '${key}', which is not an input of model '${name}'${suggest(key, names)}; inputs: ${names.join(', ')}`);
    }
  }
  const declaredShapes: (number[] | undefined)[] = [];
  const inputs: GraphTensorInfo[] = placeholders.map((p, i) => {
    const attrs = new NodeAttrs(p);
    const sig = sigInputs.find((s) => parseRef(s.name)!.node === p.name);
    const dtype = sig?.dtype ? anyDType(sig.dtype, `input '${p.name}' of ${where}`) : fedDType(attrs);
    const declared = shapeDims(sig?.tensorShape) ?? attrs.shape('shape');
    const byName = given as Readonly<Record<string, readonly number[]>> | undefined;
    const byKey = byName && Object.entries(byName).find(([key]) => nodeOfKey(key) === p.name)?.[1];
    const user: readonly number[] | undefined = Array.isArray(given) ? (given as readonly (readonly number[])[])[i] : byKey;
    if (user && declared && (user.length !== declared.length || user.some((d, j) => declared[j] !== -1 && declared[j] !== d))) {
      throw new KilnError(`loadGraphModel: inputShapes gives [${user.join(',')}] for input '${p.name}' of model '${name}', whose signature says [${declared.join(',')}] (-1 = any)`);
    }
    const shape = user ? [...user] : declared;
    if (!shape) throw new KilnError(`loadGraphModel: input '${p.name}' of model '${name}' has an unknown rank; give its shape in inputShapes: { '${p.name}': [...] }`);
    const unknown = shape.findIndex((d) => !Number.isInteger(d) || d < 0);
    if (unknown >= 0) {
      const example = shape.map((d) => (d < 0 ? (unknown === 0 ? 1 : '?') : d)).join(', ');
      throw new KilnError(`loadGraphModel: dimension ${unknown} of input '${p.name}' of model '${name}' is unknown ([${shape.join(',')}]); ` +
        `Kiln compiles static shapes: give it in inputShapes, e.g. { inputShapes: { '${p.name}': [${example}] } }`);
    }
    declaredShapes.push(declared);
    return { name: p.name, shape, dtype };
  });
  const model = new GraphModel(walk, name, inputs, outputRefs, declaredShapes);
  // kiln.compile keeps the weights' uint8/uint16/float16 storage (codegen/weights_encode.ts).
  recordWeightStorage(model, specs);
  return model;
}
