/**
 * InputLayer and `input()`: the entry points of a functional graph. An InputLayer owns one node
 * with no inputs whose output KerasTensor has the declared shape (batch dimension `null` unless
 * a batch size is fixed).
 */
import { parseDType, type DType } from '../../ir/dtype.js';
import { KilnError } from '../../ir/types.js';
import type { Tensor } from '../backend.js';
import { KerasTensor, Node, shapeToString, type KerasShape } from './keras_tensor.js';
import { Layer, registerLayer, type CallArgs, type LayerConfig } from './layer.js';

export interface InputLayerArgs {
  /** Shape of one example, without the batch dimension. */
  inputShape?: readonly (number | null)[];
  batchSize?: number;
  /** Full shape including the batch dimension. */
  batchInputShape?: KerasShape;
  /** Kiln ('f32') or Keras ('float32') dtype names. */
  dtype?: DType | string;
  name?: string;
  sparse?: boolean;
  /** Keras writes `ragged: false`; ragged inputs are refused. */
  ragged?: boolean;
}

const INPUT_LAYER_KEYS = ['inputShape', 'batchSize', 'batchInputShape', 'dtype', 'name', 'sparse', 'ragged', 'trainable'];

export interface InputLayerConfig extends LayerConfig {
  batchInputShape: (number | null)[];
  sparse: boolean;
}

export class InputLayer extends Layer {
  static override className = 'InputLayer';
  readonly output: KerasTensor;

  constructor(args: InputLayerArgs & { trainable?: boolean }) {
    if (!args.inputShape && !args.batchInputShape) {
      throw new KilnError(`InputLayer${args.name ? ` '${args.name}'` : ''}: give inputShape (one example, e.g. [28, 28, 1]) or batchInputShape`);
    }
    if (args.inputShape && args.batchInputShape) {
      throw new KilnError(`InputLayer${args.name ? ` '${args.name}'` : ''}: give inputShape or batchInputShape, not both`);
    }
    const who = `InputLayer${args.name ? ` '${args.name}'` : ''}`;
    for (const k of Object.keys(args)) {
      if (!INPUT_LAYER_KEYS.includes(k)) throw new KilnError(`${who}: unknown argument '${k}' (valid: ${INPUT_LAYER_KEYS.join(', ')})`);
    }
    const dtype = args.dtype === undefined ? undefined : parseDType(args.dtype, `${who}: dtype`);
    if (args.sparse) throw new KilnError(`${who}: sparse inputs are not supported`);
    if (args.ragged) throw new KilnError(`${who}: ragged inputs are not supported`);
    super({ name: args.name, dtype, inputShape: args.inputShape, batchInputShape: args.batchInputShape, batchSize: args.batchSize, trainable: false });
    const shape = this.batchInputShape!;
    if (!shape.every((d) => d === null || (Number.isInteger(d) && d >= 0))) {
      this.fail(`shape dimensions must be non-negative integers or null, got ${JSON.stringify(shape)}`);
    }
    this.built = true;
    const node = new Node(this, [], []);
    this.output = new KerasTensor(shape, this.dtype, this, 0, 0, this.name);
    node.outputTensors = [this.output];
    this.inboundNodes.push(node);
  }

  /** An InputLayer passes its input through; models feed inputs in directly. */
  override call(inputs: Tensor | Tensor[], _args: CallArgs): Tensor | Tensor[] {
    return inputs;
  }

  override getConfig(): InputLayerConfig {
    return { ...super.getConfig(), batchInputShape: [...this.batchInputShape!], sparse: false };
  }

  override toString(): string {
    return `InputLayer '${this.name}' ${shapeToString(this.batchInputShape!, this.dtype)}`;
  }

  static fromConfig(config: InputLayerConfig): InputLayer {
    return new InputLayer(config);
  }
}
registerLayer(InputLayer);

export interface InputArgs {
  /** Shape of one example, without the batch dimension. */
  shape?: readonly (number | null)[];
  batchSize?: number;
  /** Full shape including the batch dimension (instead of shape). */
  batchShape?: KerasShape;
  dtype?: DType;
  name?: string;
}

/** A symbolic input for the functional API: `const x = kiln.input({shape: [784]})`. */
export function input(args: InputArgs): KerasTensor {
  if (!args.shape && !args.batchShape) throw new KilnError('input: give shape (one example, e.g. [784]) or batchShape');
  const layer = new InputLayer({
    inputShape: args.shape, batchSize: args.batchSize, batchInputShape: args.batchShape, dtype: args.dtype, name: args.name,
  });
  return layer.output;
}
