/**
 * What Sequential and Functional models share: a model is a Layer made of layers. It collects
 * their weights (all trainable weights in layer order, then all non-trainable ones, exactly as
 * tfjs-layers orders getWeights), runs inference through a traced `fn` (one trace per input
 * signature, weights captured as constants, executed by the frontend's executor), and prints a
 * Keras-style summary.
 */
import { KilnError, typeToString } from '../../ir/types.js';
import { fn, ops, type Tensor, type Variable } from '../backend.js';
import { shapeToString, type KerasShape, type KerasTensor } from './keras_tensor.js';
import { assignWeights, Layer, type CallArgs } from './layer.js';
import { formatSummary, type SummaryRow } from '../summary.js';
import type { History } from '../callbacks/history.js';
import type { Logs } from '../callbacks/callback.js';
import { saveModel, type SaveOptions } from '../saving/save.js';
import type { ModelDestination } from '../../frontend/io/source.js';
import type { SaveResult } from '../../frontend/io/formats.js';
import { compileModel, evaluateModel, fitModel, syncWeights, type ModelCompileArgs, type ModelEvaluateArgs, type ModelFitArgs } from './training.js';
import { checkCompileArgs, checkEvaluateArgs, checkFitArgs, checkPredictArgs, xTensors, yTensor } from './model_args.js';

export interface PredictArgs {
  /** Run the batch in chunks of this many examples (each distinct chunk size traces once). */
  batchSize?: number;
}

type PredictFn = ((...xs: Tensor[]) => Tensor[]) & { readonly traceCount: number };

export abstract class Model extends Layer {
  private predictFn?: PredictFn;
  private eagerPredictFn?: PredictFn;
  /**
   * Keras's run_eagerly: true runs predict through the reference interpreter instead of the
   * compiled WebAssembly program (the default when Kiln is imported through its main entry).
   */
  runEagerly = false;
  /** Set by a callback (e.g. EarlyStopping) to end fit after the current batch. */
  stopTraining = false;

  /** The model's layers, in tfjs-layers order (a Sequential lists no InputLayer). */
  abstract get layers(): Layer[];
  /** Symbolic inputs and outputs; a Sequential without an input shape has none until built. */
  abstract get inputs(): KerasTensor[];
  abstract get outputs(): KerasTensor[];
  /** The forward pass on frontend Tensors, one per input, in order. */
  protected abstract run(xs: Tensor[], args: CallArgs): Tensor[];
  /** Rows for summary(): layer, output shape, params, and (functional) what it is connected to. */
  protected abstract summaryRows(): SummaryRow[];

  override call(inputs: Tensor | Tensor[], args: CallArgs): Tensor | Tensor[] {
    // Masks reach the inner layers on the input tensors themselves, not as a model-wide argument.
    const { mask: _mask, ...rest } = args;
    const outs = this.run(Array.isArray(inputs) ? inputs : [inputs], rest);
    return outs.length === 1 ? outs[0]! : outs;
  }

  get inputShapes(): KerasShape[] {
    return this.inputs.map((t) => t.shape);
  }
  get outputShapes(): KerasShape[] {
    return this.outputs.map((t) => t.shape);
  }

  override get trainableWeights(): Variable[] {
    if (!this.trainable) return [];
    return this.layers.flatMap((l) => l.trainableWeights);
  }
  override get nonTrainableWeights(): Variable[] {
    const non = this.layers.flatMap((l) => l.nonTrainableWeights);
    return this.trainable ? non : [...this.layers.flatMap((l) => l.trainableWeights), ...non];
  }

  override countParams(): number {
    return this.layers.reduce((n, l) => n + (l.built ? l.countParams() : 0), 0);
  }

  /** Configure training (optimizer, loss, metrics); see training.ts. */
  compile(args: ModelCompileArgs): void {
    compileModel(this, checkCompileArgs(`compile: model '${this.name}'`, args));
  }

  /** Train for `epochs` epochs; each step is one compiled program with resident state. */
  async fit(x: Tensor | Tensor[], y: Tensor | [Tensor], args?: ModelFitArgs): Promise<History> {
    const who = `fit: model '${this.name}'`;
    const xs = xTensors(who, x);
    const ys = yTensor(who, y);
    const a = checkFitArgs(who, args);
    if (a.validationData) {
      const [vx, vy] = a.validationData;
      return fitModel(this, xs, ys, { ...a, validationData: [xTensors(who, vx, 'validationData[0] (x)'), yTensor(who, vy, 'validationData[1] (y)')] });
    }
    return fitModel(this, xs, ys, a);
  }

  /** Loss and metrics over (x, y), e.g. {loss: 0.31, acc: 0.9}. */
  async evaluate(x: Tensor | Tensor[], y: Tensor | [Tensor], args?: ModelEvaluateArgs): Promise<Logs> {
    const who = `evaluate: model '${this.name}'`;
    return evaluateModel(this, xTensors(who, x), yTensor(who, y), checkEvaluateArgs(who, args));
  }

  /**
   * Save in the TensorFlow.js LayersModel format (model.json + `group1-shardNofM.bin`, float32)
   * to a directory (path or file:// URL) or a tfjs IOHandler; tfjs-layers' loadLayersModel and
   * kiln.loadLayersModel read it. `includeOptimizer` adds the training config and optimizer state.
   */
  save(destination: ModelDestination, options?: SaveOptions): Promise<SaveResult> {
    return saveModel(this, destination, options);
  }

  override getWeights(): Tensor[] {
    syncWeights(this); // the trained values may still live only in the training program
    return super.getWeights();
  }

  override setWeights(values: readonly Tensor[]): void {
    const ws = this.weights;
    if (values.length !== ws.length) {
      throw new KilnError(`setWeights: model '${this.name}' has ${ws.length} weights, got ${values.length}`);
    }
    // fn notices the changed variable versions and retraces on the next predict.
    assignWeights(ws, values);
  }

  getLayer(nameOrIndex: string | number): Layer {
    const layers = this.layers;
    if (typeof nameOrIndex === 'number') {
      const l = layers[nameOrIndex];
      if (!l) throw new KilnError(`getLayer: model '${this.name}' has ${layers.length} layers, no index ${nameOrIndex}`);
      return l;
    }
    const l = layers.find((x) => x.name === nameOrIndex);
    if (!l) throw new KilnError(`getLayer: model '${this.name}' has no layer '${nameOrIndex}' (layers: ${layers.map((x) => x.name).join(', ')})`);
    return l;
  }

  /** How many times predict has traced the forward pass (one per input signature). */
  get predictTraceCount(): number {
    return (this.predictFn?.traceCount ?? 0) + (this.eagerPredictFn?.traceCount ?? 0);
  }

  /** Check a predict input against the model's declared input shapes (unknown dims match anything). */
  protected checkPredictInputs(xs: readonly Tensor[]): void {
    const inputs = this.inputs;
    if (xs.length !== inputs.length) {
      throw new KilnError(`predict: model '${this.name}' has ${inputs.length} input(s) (${inputs.map((t) => shapeToString(t.shape, t.dtype)).join(', ')}), got ${xs.length}`);
    }
    xs.forEach((x, i) => {
      const want = inputs[i]!;
      const ok = x.rank === want.rank && want.shape.every((d, k) => d === null || d === x.shape[k]) && x.dtype === want.dtype;
      if (!ok) {
        throw new KilnError(`predict: model '${this.name}' input ${i} ('${want.sourceLayer.name}') must be ${shapeToString(want.shape, want.dtype)}, got ${typeToString(x.type)}`);
      }
    });
  }

  /** Make sure the model has inputs (a Sequential without an input shape builds from `xs`). */
  protected ensureBuiltFor(_xs: readonly Tensor[]): void {}

  /**
   * Inference on concrete tensors. The forward pass is traced once per input signature into an
   * IR function (weights are constants) and run by the frontend's executor.
   */
  predict(x: Tensor, args?: PredictArgs): Tensor | Tensor[];
  predict(x: Tensor[], args?: PredictArgs): Tensor | Tensor[];
  predict(x: Tensor | Tensor[], args?: PredictArgs): Tensor | Tensor[];
  predict(x: Tensor | Tensor[], options?: PredictArgs): Tensor | Tensor[] {
    const xs = xTensors(`predict: model '${this.name}'`, x);
    const args = checkPredictArgs(`predict: model '${this.name}'`, options);
    if (xs.some((t) => t.isSymbolic)) {
      throw new KilnError(`predict: model '${this.name}' got a symbolic tensor; inside a traced function use model.apply(x) instead`);
    }
    this.ensureBuiltFor(xs);
    this.checkPredictInputs(xs);
    syncWeights(this);
    const forward = (...ins: Tensor[]) => this.run(ins, { training: false });
    const f = this.runEagerly
      ? (this.eagerPredictFn ??= fn(forward, { name: this.name, execution: 'interpreter' }) as unknown as PredictFn)
      : (this.predictFn ??= fn(forward, { name: this.name }) as unknown as PredictFn);
    const batch = xs[0]!.shape[0] ?? 0;
    if (xs.some((t) => t.shape[0] !== batch)) {
      throw new KilnError(`predict: model '${this.name}' inputs disagree on the batch size: ${xs.map((t) => typeToString(t.type)).join(', ')}`);
    }
    const bs = args.batchSize;
    if (bs !== undefined && (!Number.isInteger(bs) || bs <= 0)) throw new KilnError(`predict: batchSize must be a positive integer, got ${bs}`);
    let outs: Tensor[];
    if (bs === undefined || batch <= bs) {
      outs = f(...xs);
    } else {
      const chunks: Tensor[][] = [];
      for (let start = 0; start < batch; start += bs) {
        const n = Math.min(bs, batch - start);
        chunks.push(f(...xs.map((t) => ops.slice(t, [start, ...t.shape.slice(1).map(() => 0)], [n, ...t.shape.slice(1)]))));
      }
      outs = chunks[0]!.map((_, i) => ops.concat(chunks.map((c) => c[i]!), 0));
    }
    return outs.length === 1 ? outs[0]! : outs;
  }

  /** A Keras-style table of layers, output shapes and parameter counts; printed and returned. */
  summary(printFn: (line: string) => void = console.log): string {
    const text = formatSummary(this.name, this.className, this.summaryRows(), {
      total: this.countParams(),
      trainable: this.trainableWeights.reduce((n, w) => n + w.value.size, 0),
      nonTrainable: this.nonTrainableWeights.reduce((n, w) => n + w.value.size, 0),
    });
    for (const line of text.split('\n')) printFn(line);
    return text;
  }
}
