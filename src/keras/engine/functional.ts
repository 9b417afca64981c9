/**
 * Functional models: a DAG of layer applications recorded on KerasTensors, from InputLayers to
 * the requested outputs (multi-input, multi-output, shared layers, merges).
 *
 * The graph walk, node depths and the resulting layer order follow tfjs-layers' Container
 * exactly (layers by decreasing depth, ties by first visit from the outputs), because weight
 * order — and so getWeights/setWeights compatibility — depends on layer order.
 */
import { KilnError } from '../../ir/types.js';
import type { Tensor } from '../backend.js';
import { InputLayer } from './input.js';
import { KerasTensor, shapeToKerasString, type CallOption, type KerasShape, type Node } from './keras_tensor.js';
import { deserializeLayer, isShapeList, registerLayer, type CallArgs, type Layer, type LayerConfig, type SerializedLayer } from './layer.js';
import { Model } from './model.js';
import type { SummaryRow } from '../summary.js';

export interface FunctionalArgs {
  inputs: KerasTensor | KerasTensor[];
  outputs: KerasTensor | KerasTensor[];
  name?: string;
}

/**
 * `[layerName, nodeIndex, tensorIndex]`: a KerasTensor in a serialized graph; a node's first
 * reference may carry the node's call options as a 4th element (Keras 2 / tfjs's kwargs).
 */
export type TensorRef = [string, number, number] | [string, number, number, Record<string, CallOption>];

export interface FunctionalLayerEntry extends SerializedLayer {
  name: string;
  /** Per application of the layer inside this model: its input tensors. */
  inboundNodes: TensorRef[][];
}

export interface FunctionalConfig {
  name: string;
  layers: FunctionalLayerEntry[];
  inputLayers: TensorRef[];
  outputLayers: TensorRef[];
}

export class Functional extends Model {
  static override className = 'Functional';
  private readonly inputTensors: KerasTensor[];
  private readonly outputTensors: KerasTensor[];
  private readonly orderedLayers: Layer[];
  /** The graph's nodes in execution order (inputs first). */
  private readonly nodes: Node[];

  constructor(args: FunctionalArgs) {
    super({ name: args.name });
    this.inputTensors = Array.isArray(args.inputs) ? [...args.inputs] : [args.inputs];
    this.outputTensors = Array.isArray(args.outputs) ? [...args.outputs] : [args.outputs];
    const where = `model '${this.name}'`;
    if (this.inputTensors.length === 0) throw new KilnError(`${where}: needs at least one input`);
    if (this.outputTensors.length === 0) throw new KilnError(`${where}: needs at least one output`);
    for (const t of [...this.inputTensors, ...this.outputTensors]) {
      if (!(t instanceof KerasTensor)) {
        throw new KilnError(`${where}: inputs and outputs must be symbolic tensors from kiln.input(...) and layer.apply(...), got ${String(t)}`);
      }
    }
    for (const t of this.inputTensors) {
      if (!(t.sourceLayer instanceof InputLayer)) {
        throw new KilnError(`${where}: input ${t.toString()} is not the output of an InputLayer; create model inputs with kiln.input({shape})`);
      }
    }
    const { layers, nodes } = this.mapGraph();
    this.orderedLayers = layers;
    this.nodes = nodes;
    this.built = true;
  }

  /** tfjs-layers' Container graph walk: depths of nodes and layers, then the orders. */
  private mapGraph(): { layers: Layer[]; nodes: Node[] } {
    const nodesInDecreasingDepth: Node[] = [];
    const layerIndices = new Map<Layer, number>();
    const finished = new Set<Node>();
    const inProgress = new Set<Node>();
    const visit = (t: KerasTensor): void => {
      const node = t.sourceLayer.inboundNodes[t.nodeIndex]!;
      if (inProgress.has(node)) throw new KilnError(`model '${this.name}': ${t.toString()} is part of a cycle`);
      if (finished.has(node)) return;
      if (!layerIndices.has(node.outboundLayer)) layerIndices.set(node.outboundLayer, layerIndices.size);
      inProgress.add(node);
      for (const x of node.inputTensors) visit(x);
      finished.add(node);
      inProgress.delete(node);
      nodesInDecreasingDepth.push(node);
    };
    for (const t of this.outputTensors) visit(t);

    const nodeDepth = new Map<Node, number>();
    const layerDepth = new Map<Layer, number>();
    for (const node of [...nodesInDecreasingDepth].reverse()) {
      let depth = nodeDepth.get(node) ?? 0;
      depth = Math.max(depth, layerDepth.get(node.outboundLayer) ?? 0);
      layerDepth.set(node.outboundLayer, depth);
      nodeDepth.set(node, depth);
      for (const inbound of node.inboundNodes) {
        nodeDepth.set(inbound, Math.max(depth + 1, nodeDepth.get(inbound) ?? 0));
      }
    }
    const layers = [...layerDepth.keys()].sort((a, b) =>
      layerDepth.get(b)! - layerDepth.get(a)! || layerIndices.get(a)! - layerIndices.get(b)!);
    const nodes = [...nodeDepth.keys()].sort((a, b) => nodeDepth.get(b)! - nodeDepth.get(a)! || a.id - b.id);

    // Every InputLayer the outputs depend on must be one of the declared inputs.
    const declared = new Set(this.inputTensors.map((t) => t.sourceLayer));
    for (const l of layers) {
      if (l instanceof InputLayer && !declared.has(l)) {
        const users = nodes.filter((n) => n.inputTensors.some((t) => t.sourceLayer === l)).map((n) => `'${n.outboundLayer.name}'`);
        throw new KilnError(`model '${this.name}': graph disconnected: input '${l.name}' (needed by ${users.join(', ')}) is not among the model inputs [${this.inputTensors.map((t) => `'${t.sourceLayer.name}'`).join(', ')}]`);
      }
    }
    return { layers, nodes };
  }

  override get layers(): Layer[] {
    return [...this.orderedLayers];
  }
  override get inputs(): KerasTensor[] {
    return [...this.inputTensors];
  }
  override get outputs(): KerasTensor[] {
    return [...this.outputTensors];
  }

  /** Replay the graph: `f(node, inputs)` gives each node's outputs; returns the model outputs. */
  private replay<T>(xs: readonly T[], f: (node: Node, inputs: T[]) => T[]): T[] {
    if (xs.length !== this.inputTensors.length) {
      throw new KilnError(`model '${this.name}' has ${this.inputTensors.length} input(s), got ${xs.length}`);
    }
    const env = new Map<KerasTensor, T>();
    this.inputTensors.forEach((t, i) => env.set(t, xs[i]!));
    for (const node of this.nodes) {
      if (node.outboundLayer instanceof InputLayer) continue;
      const ins = node.inputTensors.map((t) => env.get(t)!);
      const outs = f(node, ins);
      node.outputTensors.forEach((t, i) => env.set(t, outs[i]!));
    }
    return this.outputTensors.map((t) => env.get(t)!);
  }

  protected override run(xs: Tensor[], args: CallArgs): Tensor[] {
    return this.replay(xs, (node, ins) => {
      const out = node.outboundLayer.apply(node.inputsAsList ? ins : ins[0]!, node.callArgs ? { ...args, ...node.callArgs } : args);
      return Array.isArray(out) ? out : [out];
    });
  }

  override computeOutputShape(inputShape: KerasShape | KerasShape[]): KerasShape | KerasShape[] {
    const shapes = isShapeList(inputShape) ? inputShape : [inputShape];
    const outs = this.replay(shapes, (node, ins) => {
      const out = node.outboundLayer.computeOutputShape(node.inputsAsList ? ins : ins[0]!);
      return isShapeList(out) ? out : [out];
    });
    return outs.length === 1 ? outs[0]! : outs;
  }

  protected override summaryRows(): SummaryRow[] {
    const nodeOf = new Map<Layer, Node>();
    for (const n of this.nodes) if (!nodeOf.has(n.outboundLayer)) nodeOf.set(n.outboundLayer, n);
    return this.orderedLayers.map((l) => {
      const node = nodeOf.get(l)!;
      const shapes = node.outputTensors.map((t) => shapeToKerasString(t.shape));
      return {
        name: l.name,
        className: l.className,
        outputShape: shapes.length === 1 ? shapes[0]! : `[${shapes.join(', ')}]`,
        params: l.built ? l.countParams() : 0,
        connectedTo: node.inputTensors.map((t) => `${t.sourceLayer.name}[${t.nodeIndex}][${t.tensorIndex}]`),
      };
    });
  }

  // ---- config ---------------------------------------------------------------------------------

  /**
   * The graph as layer configs plus, per layer, its applications inside this model. Node
   * indices are renumbered to count only this model's nodes, so the config is self-contained.
   */
  override getConfig(): FunctionalConfig & LayerConfig {
    const localIndex = new Map<Node, number>();
    const perLayer = new Map<Layer, Node[]>();
    for (const n of this.nodes) {
      const list = perLayer.get(n.outboundLayer) ?? [];
      localIndex.set(n, list.length);
      list.push(n);
      perLayer.set(n.outboundLayer, list);
    }
    const ref = (t: KerasTensor): TensorRef => [t.sourceLayer.name, localIndex.get(t.sourceLayer.inboundNodes[t.nodeIndex]!)!, t.tensorIndex];
    return {
      ...super.getConfig(),
      layers: this.orderedLayers.map((l) => ({
        ...l.serialize(),
        name: l.name,
        inboundNodes: l instanceof InputLayer ? [] : perLayer.get(l)!.map((n) => n.inputTensors.map((t, i): TensorRef => (i === 0 && n.callArgs ? [...ref(t), { ...n.callArgs }] as TensorRef : ref(t)))),
      })),
      inputLayers: this.inputTensors.map(ref),
      outputLayers: this.outputTensors.map(ref),
    };
  }

  /** Rebuild the layers (fresh weights) and replay their applications in dependency order. */
  static fromConfig(config: FunctionalConfig): Functional {
    const layers = new Map<string, Layer>();
    const produced = new Map<string, KerasTensor[][]>();
    for (const entry of config.layers) {
      const layer = deserializeLayer(entry);
      layers.set(entry.name, layer);
      produced.set(entry.name, layer instanceof InputLayer ? [[layer.output]] : []);
    }
    const lookup = (r: TensorRef): KerasTensor | undefined => produced.get(r[0])?.[r[1]]?.[r[2]];
    const pending = config.layers.flatMap((e) => e.inboundNodes.map((refs, i) => ({ e, refs, i })));
    while (pending.length > 0) {
      const k = pending.findIndex((p) => p.i === produced.get(p.e.name)!.length && p.refs.every((r) => lookup(r)));
      if (k < 0) {
        const names = pending.map((p) => `'${p.e.name}'`).join(', ');
        throw new KilnError(`Functional.fromConfig '${config.name}': cannot resolve the inputs of ${names} (unknown layer or cycle)`);
      }
      const { e, refs } = pending.splice(k, 1)[0]!;
      const ins = refs.map((r) => lookup(r)!);
      const layer = layers.get(e.name)!;
      const kwargs = refs[0]?.[3];
      const out = layer.apply(ins.length === 1 ? ins[0]! : ins, kwargs ?? {});
      // A call option the layer did not record would be silently lost: refuse it by name.
      const recorded = layer.inboundNodes[layer.inboundNodes.length - 1]?.callArgs ?? {};
      const lost = Object.keys(kwargs ?? {}).filter((k) => !(k in recorded));
      if (lost.length > 0) throw new KilnError(`Functional.fromConfig '${config.name}': layer '${e.name}' (${layer.className}) is called with ${lost.map((k) => `'${k}'`).join(', ')}, which it does not take`);
      produced.get(e.name)!.push(Array.isArray(out) ? out : [out]);
    }
    const get = (r: TensorRef): KerasTensor => {
      const t = lookup(r);
      if (!t) throw new KilnError(`Functional.fromConfig '${config.name}': unknown tensor ${JSON.stringify(r)}`);
      return t;
    };
    return new Functional({ name: config.name, inputs: config.inputLayers.map(get), outputs: config.outputLayers.map(get) });
  }
}

registerLayer(Functional);

/** `kiln.model({inputs, outputs})`. */
export function model(args: FunctionalArgs): Functional {
  return new Functional(args);
}
