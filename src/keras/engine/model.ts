/**
 * What Sequential and Functional models share: a model is a Layer made of layers. It collects
 * their weights (all trainable weights in layer order, then all non-trainable ones, exactly as
 * tfjs-layers orders getWeights), runs inference through one compiled program for every batch
 * size (predict_program.ts, weights bound as resident state), and prints a Keras-style summary.
 */
import { KilnError, typeToString } from '../../ir/types.js';
import { fn, ops, type Tensor, type Variable } from '../backend.js';
import { shapeToString, type KerasShape, type KerasTensor } from './keras_tensor.js';
import { assignWeights, isShapeList, Layer, withCallContext, type CallArgs, type LayerArgs } from './layer.js';
import { formatSummary, type SummaryRow } from '../summary.js';
import type { History } from '../callbacks/history.js';
import type { Logs } from '../callbacks/callback.js';
import { saveModel, type SaveOptions } from '../saving/save.js';
import type { ModelDestination } from '../../frontend/io/source.js';
import type { SaveResult } from '../../frontend/io/formats.js';
import { Dataset } from '../data/dataset.js';
import type { Element } from '../data/element.js';
import { evaluateDataset, fitDataset, predictDataset, type DatasetFitArgs } from '../data/fit.js';
import { compileModel, evaluateModel, fitModel, syncWeights, type ModelCompileArgs, type ModelEvaluateArgs, type ModelFitArgs } from './training.js';
import { checkCompileArgs, checkEvaluateArgs, checkFitArgs, checkPredictArgs, xTensors, yTensor } from './model_args.js';
import { InputLayer } from './input.js';
import { PredictPrograms } from './predict_program.js';
import {
  assignByPath, inputSpecsOf, markEngineKeys, noteInputSpecs, readWeights, traceCall, tracked, uniqueVariables, weightPaths, writeWeights,
  type WeightsDestination, type WeightsSource,
} from './subclass.js';
import type { DType } from '../../ir/dtype.js';

export interface PredictArgs {
  /** Run the batch in chunks of this many examples (each distinct chunk size traces once). */
  batchSize?: number;
}

type PredictFn = ((...xs: Tensor[]) => Tensor[]) & { readonly traceCount: number };

/**
 * The base of Sequential and Functional models, and of subclassed models: `class M extends
 * kiln.Model` with its own `call(inputs, {training})` (subclass.ts: tracking, building, weight
 * files). Sequential and Functional override `layers`, `inputs`, `outputs`, `run` and
 * `summaryRows`; the defaults here are the subclassed model's.
 */
export class Model extends Layer {
  static override className = 'Model';
  private eagerPredictFn?: PredictFn;
  /**
   * Keras's run_eagerly: true runs predict through the reference interpreter instead of the
   * compiled WebAssembly program (the default when Kiln is imported through its main entry).
   */
  runEagerly = false;
  /** Set by a callback (e.g. EarlyStopping) to end fit after the current batch. */
  stopTraining = false;

  constructor(args: LayerArgs = {}) {
    super(args);
    // Every field of Layer and Model exists now; what a subclass adds (fields, constructor
    // assignments, build) is what attribute tracking sees.
    markEngineKeys(this);
  }

  /**
   * The model's layers, in tfjs-layers order (a Sequential lists no InputLayer); for a subclassed
   * model the layers it holds in its properties, in assignment order.
   */
  get layers(): Layer[] {
    return tracked(this).layers.map((t) => t.layer);
  }
  /** Whether `layers` is the model's own structure (Sequential, Functional), not attribute tracking. */
  get listsLayers(): boolean {
    return !this.isSubclassed;
  }
  /** A subclassed model: its class defines `call` (Sequential and Functional define `run`). */
  get isSubclassed(): boolean {
    return this.call !== Model.prototype.call;
  }
  /**
   * Symbolic inputs and outputs; a Sequential without an input shape has none until built, a
   * subclassed model until its first call or `build(inputShape)`.
   */
  get inputs(): KerasTensor[] {
    return this.subclassInputs().map((l) => l.output);
  }
  get outputs(): KerasTensor[] {
    if (!this.subclassOutputs) {
      const out = this.apply(this.inputs.length === 1 ? this.inputs[0]! : this.inputs);
      this.subclassOutputs = Array.isArray(out) ? out : [out];
    }
    return [...this.subclassOutputs];
  }
  private subclassInputLayers?: InputLayer[];
  private subclassOutputs?: KerasTensor[];

  private subclassInputs(): InputLayer[] {
    const specs = inputSpecsOf(this);
    if (!specs) {
      throw new KilnError(`model '${this.name}' (${this.className}) is not built yet: call it on data, or model.build(inputShape) (e.g. [null, 784]), before asking for its inputs, fitting or compiling it`);
    }
    this.subclassInputLayers ??= specs.map((s, i) => new InputLayer({ batchInputShape: [...s.shape], dtype: s.dtype, name: `${this.name}_input${specs.length > 1 ? `_${i}` : ''}` }));
    return this.subclassInputLayers;
  }

  /**
   * Build a subclassed model for inputs of this shape (batch dimension null or a number): trace
   * `call` once on symbolic inputs, which builds every sublayer (Keras builds subclassed models
   * by calling them). Input dtypes are those of the first call, else f32.
   */
  override build(inputShape: KerasShape | KerasShape[]): void {
    if (!this.isSubclassed) return super.build(inputShape);
    if (this.built) return;
    noteInputSpecs(this, inputShape);
    const specs = inputSpecsOf(this)!;
    const given = isShapeList(inputShape) ? inputShape : [inputShape];
    traceCall(this, given.map((s) => [...s]), specs.map((s) => s.dtype));
    this.built = true;
  }

  /** A subclassed model records what it was first called on (shapes with an open batch, dtypes). */
  protected override checkInputShape(shape: KerasShape | KerasShape[], dtype: DType | DType[]): void {
    if (this.isSubclassed) noteInputSpecs(this, shape, dtype);
  }

  override computeOutputShape(inputShape: KerasShape | KerasShape[]): KerasShape | KerasShape[] {
    if (!this.isSubclassed) return super.computeOutputShape(inputShape);
    const given = isShapeList(inputShape) ? inputShape : [inputShape];
    const specs = inputSpecsOf(this);
    const out = traceCall(this, given, given.map((_, i) => specs?.[i]?.dtype ?? 'f32')).shapes;
    return out.length === 1 ? out[0]! : out;
  }

  /**
   * The forward pass as fit and kiln.compile trace it: `call`, and for a subclassed model its call
   * converted by AutoGraph (`static autograph`) inside a call context its sublayers inherit from.
   */
  callForward(inputs: Tensor | Tensor[], args: CallArgs): Tensor | Tensor[] {
    if (!this.isSubclassed) return this.call(inputs, args);
    return withCallContext(args, () => this.callConverted(inputs, args));
  }

  /** The forward pass on frontend Tensors, one per input, in order (a subclassed model's is its call). */
  protected run(xs: Tensor[], args: CallArgs): Tensor[] {
    if (!this.isSubclassed) throw new KilnError(`model '${this.name}': a subclass of kiln.Model must define call(inputs, {training}) (its forward pass)`);
    const out = withCallContext(args, () => this.callConverted(xs.length === 1 ? xs[0]! : xs, args));
    return Array.isArray(out) ? out : [out];
  }

  /** Rows for summary(): layer, output shape, params, and (functional) what it is connected to. */
  protected summaryRows(): SummaryRow[] {
    // Keras prints '?' for the output shapes of a subclassed model's layers: they are not recorded.
    return this.layers.map((l) => ({ name: l.name, className: l.className, outputShape: '?', params: l.built ? l.countParams() : 0 }));
  }

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
    if (this.isSubclassed) return super.trainableWeights; // own weights, then tracked sublayers'
    if (!this.trainable) return [];
    return this.layers.flatMap((l) => l.trainableWeights);
  }
  override get nonTrainableWeights(): Variable[] {
    if (this.isSubclassed) return super.nonTrainableWeights;
    const non = this.layers.flatMap((l) => l.nonTrainableWeights);
    return this.trainable ? non : [...this.layers.flatMap((l) => l.trainableWeights), ...non];
  }

  override countParams(): number {
    if (this.isSubclassed) return uniqueVariables(this.weights).reduce((n, w) => n + w.value.size, 0);
    return this.layers.reduce((n, l) => n + (l.built ? l.countParams() : 0), 0);
  }

  /** Configure training (optimizer, loss, metrics); see training.ts. */
  compile(args: ModelCompileArgs): void {
    compileModel(this, checkCompileArgs(`compile: model '${this.name}'`, args));
  }

  /** Train for `epochs` epochs; each step is one compiled program with resident state. */
  async fit(x: Dataset<Element>, args?: DatasetFitArgs): Promise<History>;
  async fit(x: Tensor | Tensor[], y: Tensor | [Tensor], args?: ModelFitArgs): Promise<History>;
  async fit(x: Tensor | Tensor[] | Dataset<Element>, y?: Tensor | [Tensor] | DatasetFitArgs, args?: ModelFitArgs): Promise<History> {
    if (x instanceof Dataset) return fitDataset(this, x, y as DatasetFitArgs | undefined); // kiln.data: batches stream
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
  async evaluate(x: Dataset<Element>, args?: { steps?: number }): Promise<Logs>;
  async evaluate(x: Tensor | Tensor[], y: Tensor | [Tensor], args?: ModelEvaluateArgs): Promise<Logs>;
  async evaluate(x: Tensor | Tensor[] | Dataset<Element>, y?: Tensor | [Tensor] | { steps?: number }, args?: ModelEvaluateArgs): Promise<Logs> {
    if (x instanceof Dataset) return evaluateDataset(this, x, y as { steps?: number } | undefined);
    const who = `evaluate: model '${this.name}'`;
    return evaluateModel(this, xTensors(who, x), yTensor(who, y), checkEvaluateArgs(who, args));
  }

  /**
   * Save in the TensorFlow.js LayersModel format (model.json + `group1-shardNofM.bin`, float32)
   * to a directory (path or file:// URL) or a tfjs IOHandler; tfjs-layers' loadLayersModel and
   * kiln.loadLayersModel read it. `includeOptimizer` adds the training config and optimizer state.
   */
  save(destination: ModelDestination, options?: SaveOptions): Promise<SaveResult> {
    if (this.isSubclassed) {
      return Promise.reject(new KilnError(
        `model.save: '${this.name}' is a subclassed model (class ${this.className}): its architecture is the code of its call(), which a model.json cannot hold ` +
          `(Keras and tfjs save only the weights of subclassed models). Save the weights with model.saveWeights(dir) and, to restore, ` +
          `construct the model in code, build it (call it once or model.build(inputShape)) and model.loadWeights(dir)`,
      ));
    }
    return saveModel(this, destination, options);
  }

  /**
   * Save the weights only, in the tfjs weights format: `weights_manifest.json` + `group1-shardNofM.bin`
   * in a directory (path or file:// URL), or through a tfjs IOHandler's save(). Each weight is
   * named by its attribute path (`dense1/kernel`, `blocks/0/bias`), which stays the same for the
   * same code in another process; `loadWeights` reads it back.
   */
  async saveWeights(destination: WeightsDestination): Promise<SaveResult> {
    const who = `saveWeights: model '${this.name}'`;
    if (!this.built) throw new KilnError(`${who} is not built, so it has no weights yet: call it on data or model.build(inputShape) first`);
    const paths = weightPaths(this);
    const values = this.getWeights(); // synchronized with a training program, if any
    const byVar = new Map(this.weights.map((w, i) => [w, values[i]!] as const));
    return writeWeights(paths.map((p) => ({ path: p.path, value: byVar.get(p.variable) ?? p.variable.value })), destination, who);
  }

  /** Load weights saveWeights wrote (every weight of the model must be there, with its shape); nothing changes on a mismatch. */
  async loadWeights(source: WeightsSource): Promise<void> {
    const who = `loadWeights: model '${this.name}'`;
    if (!this.built) throw new KilnError(`${who} is not built, so its weights do not exist yet: call it on data or model.build(inputShape) first`);
    const values = await readWeights(source, who);
    assignByPath(weightPaths(this), values, who);
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
    // predict's program holds the weights as resident state: the next predict copies the new ones in (no retrace).
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

  /**
   * The forward pass predict runs through the reference interpreter (runEagerly), traced once per
   * input signature with the weights bound as parameters. A new list of weights (a layer added or
   * built since) starts a new function.
   */
  private eagerPredictFunction(): PredictFn {
    const weights = uniqueVariables(this.weights);
    const same = (a: readonly Variable[] | undefined) => a !== undefined && a.length === weights.length && a.every((w, i) => w === weights[i]);
    if (!this.eagerPredictFn || !same(this.eagerPredictWeights)) {
      this.retiredTraces += this.eagerPredictFn?.traceCount ?? 0;
      const forward = (...ins: Tensor[]) => this.run(ins, { training: false });
      this.eagerPredictFn = fn(forward, { name: this.name, execution: 'interpreter', variables: weights }) as unknown as PredictFn;
      this.eagerPredictWeights = weights;
    }
    return this.eagerPredictFn;
  }
  private eagerPredictWeights?: Variable[];
  /** Traces of predict functions replaced since (a new list of weights). */
  private retiredTraces = 0;

  /**
   * model.predict's compiled programs (predict_program.ts): one for every batch size per input
   * signature, weights resident. A new list of weights (a layer added or built since) starts anew.
   */
  private predictPrograms(): PredictPrograms {
    const weights = uniqueVariables(this.weights);
    const p = this.programs;
    if (p && p.weights.length === weights.length && p.weights.every((w, i) => w === weights[i])) return p.programs;
    this.retiredTraces += p?.programs.traces ?? 0;
    // Sequential and Functional models declare their batch dim (null: any); a subclassed model's call takes any batch.
    const openBatch = this.isSubclassed || this.inputs.every((t) => t.shape[0] === null);
    const programs = new PredictPrograms(this.name, (xs) => this.run(xs, { training: false }), weights, openBatch);
    this.programs = { weights, programs };
    return programs;
  }
  private programs?: { weights: Variable[]; programs: PredictPrograms };

  /**
   * How many times predict has traced the forward pass for a new program: once per program for
   * every batch size (and per growth), once per input signature where predict compiles one program
   * per batch size, and per signature for the interpreter (runEagerly).
   */
  get predictTraceCount(): number {
    return this.retiredTraces + (this.programs?.programs.traces ?? 0) + (this.eagerPredictFn?.traceCount ?? 0);
  }

  /** The largest batch predict's program for inputs like `xs` runs without recompiling (undefined: none yet, or one program per batch size). */
  predictMaxBatch(xs: Tensor | Tensor[]): number | undefined {
    return this.programs?.programs.maxBatchFor(Array.isArray(xs) ? xs : [xs]);
  }

  /** Check a predict input against the model's declared input shapes (unknown dims match anything). */
  protected checkPredictInputs(xs: readonly Tensor[]): void {
    // A subclassed model takes what its call takes (each new signature traces once, as in Keras).
    if (this.isSubclassed) return;
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
  protected ensureBuiltFor(xs: readonly Tensor[]): void {
    if (!this.isSubclassed || this.built || xs.length === 0) return;
    const shapes = xs.map((t) => [...t.shape]);
    noteInputSpecs(this, shapes, xs.map((t) => t.dtype));
    this.build(shapes.length === 1 ? shapes[0]! : shapes);
  }

  /**
   * Inference on concrete tensors. Compiled, one program runs every batch size up to the largest
   * seen (predict_program.ts: grown when exceeded; weights resident, so a weight change compiles
   * nothing); runEagerly traces once per input signature for the reference interpreter.
   */
  predict(x: Dataset<Element>, args?: { steps?: number }): Promise<Tensor | Tensor[]>;
  predict(x: Tensor, args?: PredictArgs): Tensor | Tensor[];
  predict(x: Tensor[], args?: PredictArgs): Tensor | Tensor[];
  predict(x: Tensor | Tensor[], args?: PredictArgs): Tensor | Tensor[];
  predict(x: Tensor | Tensor[] | Dataset<Element>, options?: PredictArgs | { steps?: number }): Tensor | Tensor[] | Promise<Tensor | Tensor[]> {
    if (x instanceof Dataset) return predictDataset(this, x, options as { steps?: number } | undefined); // streams, so asynchronous
    const xs = xTensors(`predict: model '${this.name}'`, x);
    const args = checkPredictArgs(`predict: model '${this.name}'`, options);
    if (xs.some((t) => t.isSymbolic)) {
      throw new KilnError(`predict: model '${this.name}' got a symbolic tensor; inside a traced function use model.apply(x) instead`);
    }
    this.ensureBuiltFor(xs);
    this.checkPredictInputs(xs);
    syncWeights(this);
    // Compiled: one program for every batch size (predict_program.ts); the interpreter traces per signature.
    const f = this.runEagerly ? this.eagerPredictFunction() : (...ins: Tensor[]) => this.predictPrograms().run(ins);
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
