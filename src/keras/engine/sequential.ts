/**
 * Sequential models: a stack of single-input, single-output layers. Once the input shape is
 * known (an inputShape on the first layer, an added InputLayer, or the first predict/apply),
 * every layer is applied to a symbolic KerasTensor so shapes are checked at `add` time and
 * summary() can show them; the forward pass simply calls the layers in turn.
 */
import { KilnError } from '../../ir/types.js';
import type { Tensor } from '../backend.js';
import { InputLayer } from './input.js';
import { shapeToKerasString, type KerasShape, type KerasTensor } from './keras_tensor.js';
import { deserializeLayer, isShapeList, registerLayer, Layer, type CallArgs, type LayerConfig, type SerializedLayer } from './layer.js';
import { Model } from './model.js';
import type { SummaryRow } from '../summary.js';

export interface SequentialArgs {
  layers?: Layer[];
  name?: string;
}

export interface SequentialConfig extends LayerConfig {
  layers: SerializedLayer[];
}

export class Sequential extends Model {
  static override className = 'Sequential';
  private readonly stack: Layer[] = [];
  private inputLayer?: InputLayer;
  /** Symbolic output of each layer in `stack` (present once the input shape is known). */
  private symbolicOutputs: KerasTensor[] = [];

  constructor(args: SequentialArgs = {}) {
    super({ name: args.name });
    for (const l of args.layers ?? []) this.add(l);
  }

  /** Append a layer. With a known input shape it is applied symbolically right away (shape errors surface here). */
  add(layer: Layer): void {
    if (!(layer instanceof Layer)) throw new KilnError(`Sequential '${this.name}'.add: expected a Layer, got ${String(layer)}`);
    if (layer instanceof InputLayer) {
      if (this.stack.length > 0 || this.inputLayer) {
        throw new KilnError(`Sequential '${this.name}'.add: an InputLayer must come first (the model already has ${this.stack.length} layer(s)${this.inputLayer ? ' and an input' : ''})`);
      }
      this.inputLayer = layer;
      return;
    }
    if (this.stack.includes(layer)) throw new KilnError(`Sequential '${this.name}'.add: layer '${layer.name}' is already in the model`);
    // A nested model as the first layer brings its own input shape (as in tfjs-layers).
    const nested = layer instanceof Model && layer.built && layer.inputs.length === 1 ? layer.inputs[0] : undefined;
    const firstShape = layer.batchInputShape ?? nested?.shape;
    if (this.stack.length === 0 && !this.inputLayer && firstShape) {
      this.inputLayer = new InputLayer({ batchInputShape: [...firstShape], dtype: nested?.dtype ?? layer.dtype, name: `${layer.name}_input` });
    }
    if (this.inputLayer) {
      const prev = this.symbolicOutputs[this.symbolicOutputs.length - 1] ?? this.inputLayer.output;
      const out = layer.apply(prev);
      if (Array.isArray(out)) throw new KilnError(`Sequential '${this.name}'.add: layer '${layer.name}' has ${out.length} outputs; Sequential layers need exactly one`);
      this.symbolicOutputs.push(out);
    }
    this.stack.push(layer);
    this.built = this.inputLayer !== undefined;
  }

  /** Remove the last layer. */
  pop(): Layer {
    const l = this.stack.pop();
    if (!l) throw new KilnError(`Sequential '${this.name}'.pop: the model has no layers`);
    this.symbolicOutputs = this.symbolicOutputs.slice(0, this.stack.length);
    return l;
  }

  override get layers(): Layer[] {
    return [...this.stack];
  }

  private requireInput(): InputLayer {
    if (!this.inputLayer) {
      throw new KilnError(`Sequential '${this.name}' has no input shape yet: give the first layer an inputShape, add an InputLayer, or call predict once`);
    }
    return this.inputLayer;
  }

  override get inputs(): KerasTensor[] {
    return [this.requireInput().output];
  }
  override get outputs(): KerasTensor[] {
    if (this.stack.length === 0) throw new KilnError(`Sequential '${this.name}' has no layers`);
    this.requireInput();
    return [this.symbolicOutputs[this.symbolicOutputs.length - 1]!];
  }

  /** Deferred build: the input shape is the first concrete or symbolic input's, batch left open. */
  override build(inputShape: KerasShape | KerasShape[]): void {
    if (this.inputLayer) return;
    const s = isShapeList(inputShape) ? inputShape[0]! : inputShape;
    const layers = [...this.stack];
    this.stack.length = 0;
    this.symbolicOutputs = [];
    this.inputLayer = new InputLayer({ batchInputShape: [null, ...s.slice(1)], name: `${this.name}_input` });
    for (const l of layers) this.add(l);
    this.built = true;
  }

  protected override ensureBuiltFor(xs: readonly Tensor[]): void {
    if (!this.inputLayer && xs.length > 0) this.build([...xs[0]!.shape]);
  }

  protected override run(xs: Tensor[], args: CallArgs): Tensor[] {
    if (xs.length !== 1) throw new KilnError(`Sequential '${this.name}' takes one input, got ${xs.length}`);
    if (this.stack.length === 0) throw new KilnError(`Sequential '${this.name}' has no layers`);
    let x = xs[0]!;
    for (const l of this.stack) {
      const out = l.apply(x, args);
      x = Array.isArray(out) ? out[0]! : out;
    }
    return [x];
  }

  override computeOutputShape(inputShape: KerasShape | KerasShape[]): KerasShape {
    let s = isShapeList(inputShape) ? inputShape[0]! : inputShape;
    for (const l of this.stack) {
      const out = l.computeOutputShape(s);
      s = isShapeList(out) ? out[0]! : out;
    }
    return s;
  }

  protected override summaryRows(): SummaryRow[] {
    return this.stack.map((l, i) => ({
      name: l.name,
      className: l.className,
      outputShape: this.symbolicOutputs[i] ? shapeToKerasString(this.symbolicOutputs[i].shape) : '?',
      params: l.built ? l.countParams() : 0,
    }));
  }

  /** The layers' configs; the first carries the input shape, as tfjs-layers writes it. */
  override getConfig(): SequentialConfig {
    const layers = this.stack.map((l) => l.serialize());
    if (this.inputLayer && layers[0]) {
      layers[0].config = { ...layers[0].config, batchInputShape: [...this.inputLayer.batchInputShape!] };
    }
    return { ...super.getConfig(), layers };
  }

  static fromConfig(config: SequentialConfig): Sequential {
    return new Sequential({ name: config.name, layers: config.layers.map((l) => deserializeLayer(l)) });
  }
}

registerLayer(Sequential);

/** `kiln.sequential({layers})`, or `kiln.sequential([...layers])` as in the design notes. */
export function sequential(args: SequentialArgs | Layer[] = {}): Sequential {
  return new Sequential(Array.isArray(args) ? { layers: args } : args);
}
