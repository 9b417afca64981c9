/**
 * Symbolic Keras tensors for the functional API and the shape vocabulary of the Keras layer.
 *
 * A KerasTensor is not an IR value: it only carries a Keras shape (batch dimension `null`),
 * a dtype and where it came from (layer, node, output index). Calling layers on KerasTensors
 * records a graph of Nodes; a Functional model replays that graph on frontend Tensors.
 */
import type { DType } from '../../ir/dtype.js';
import type { Layer } from './layer.js';

/** A Keras shape: `null` marks an unknown dimension (normally the batch). */
export type KerasShape = readonly (number | null)[];

/** `f32[?,10]`: the IR's type spelling, with `?` for unknown dimensions. */
export function shapeToString(shape: KerasShape, dtype: DType = 'f32'): string {
  return `${dtype}[${shape.map((d) => (d === null ? '?' : String(d))).join(',')}]`;
}

/** Keras-style `(None, 10)` spelling, used by summary(). */
export function shapeToKerasString(shape: KerasShape): string {
  const parts = shape.map((d) => (d === null ? 'None' : String(d)));
  return parts.length === 1 ? `(${parts[0]},)` : `(${parts.join(', ')})`;
}

/** A call option a node can record and a model file can hold. */
export type CallOption = boolean | number | string | null;

let nextTensorId = 0;

export class KerasTensor {
  readonly id = nextTensorId++;
  constructor(
    readonly shape: KerasShape,
    readonly dtype: DType,
    /** The layer whose node produced this tensor. */
    readonly sourceLayer: Layer,
    /** Index of the producing node in `sourceLayer.inboundNodes`. */
    readonly nodeIndex: number,
    /** Which output of that node. */
    readonly tensorIndex: number,
    readonly name: string,
  ) {}

  get rank(): number {
    return this.shape.length;
  }

  toString(): string {
    return `KerasTensor '${this.name}' ${shapeToString(this.shape, this.dtype)}`;
  }
}

export function isKerasTensor(x: unknown): x is KerasTensor {
  return x instanceof KerasTensor;
}

/**
 * One application of a layer to symbolic inputs (Keras's Node): the inputs it consumed and
 * the outputs it produced. `inputTensors[i]` came from `inboundLayers[i]`.
 */
export class Node {
  private static nextId = 0;
  readonly id = Node.nextId++;
  constructor(
    readonly outboundLayer: Layer,
    readonly inputTensors: readonly KerasTensor[],
    public outputTensors: readonly KerasTensor[],
    /** Whether the layer was called with a list (merge layers) rather than one tensor. */
    readonly inputsAsList = false,
    /**
     * Call options beside the inputs that the layer records on its nodes (Keras's call kwargs
     * such as MultiHeadAttention's `useCausalMask`): replayed by the model, saved with the node.
     */
    readonly callArgs?: Readonly<Record<string, CallOption>>,
  ) {}

  get inboundLayers(): Layer[] {
    return this.inputTensors.map((t) => t.sourceLayer);
  }
  get inboundNodes(): Node[] {
    return this.inputTensors.map((t) => t.sourceLayer.inboundNodes[t.nodeIndex]!);
  }
}
