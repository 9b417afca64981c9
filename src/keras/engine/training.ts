/**
 * Keras training for Kiln models: `compile({optimizer, loss, metrics})`, `fit`, `evaluate`.
 *
 * Each training step is ONE compiled WebAssembly program with resident state. The step
 * (forward in training mode, loss, autodiff backward, optimizer update, metric updates) is traced
 * into an IR Func whose parameters are the batch plus the state: every model weight, the
 * optimizer's slots and step counter, the learning rate (an f32 scalar, so ReduceLROnPlateau
 * changes it with setState and no recompile) and the metric accumulators. State updates are
 * results aliased to their parameters. All entries a fit needs share one artifact and one copy
 * of the state (compileEntries): `train_<B>` per training batch size (the full batch and the
 * last partial batch, which Keras trains on too), and `eval_<B>` for validation and evaluate only
 * where evaluate's own program (eval_program.ts: one for every batch size, the default) cannot
 * serve. Between steps only the batch goes in and the batch's loss and metric scalars come out.
 *
 * The model's Variables are synchronized lazily: after steps ran, getWeights/predict (and every
 * epoch end) copy the program's weights back into them; a Variable assigned by the user since the
 * last synchronization (setWeights) is pushed into the program before the next step.
 *
 * `runEagerly` runs the very same Funcs through the reference interpreter, state kept in
 * JavaScript, for debugging.
 */
import type { DType } from '../../ir/dtype.js';
import type { Func, Value } from '../../ir/function.js';
import { literal, type Literal } from '../../ir/literal.js';
import { KilnError, tensorType, typeToString, type TensorType } from '../../ir/types.js';
import { gradFunc } from '../../passes/autodiff.js';
import { activeTrace } from '../../frontend/context.js';
import { batchedExecutor, runFunc } from '../../frontend/executor.js';
import { trace } from '../../frontend/tracing.js';
import { compileEntries } from '../../compile.js';
import { noteCompile } from '../../exec.js';
import { load, type Program, type TensorData } from '../../runtime/index.js';
import { ops, Tensor, type Variable } from '../backend.js';
import { SeededRandom } from '../initializers.js';
import { getLoss, sparseClassesSeen, watchSparseLabels, type Loss, type LossIdentifier } from '../losses.js';
import { getMetric, Mean, type MeanMetricWrapper, type Metric, type MetricIdentifier } from '../metrics.js';
import { getOptimizer, type Optimizer, type OptimizerIdentifier } from '../optimizers/index.js';
import { callbackKey, CallbackList, type Callback, type CallbackLike, type CallbackState, type Logs, type TrainingParams } from '../callbacks/callback.js';
import { History } from '../callbacks/history.js';
import { ProgbarLogger } from '../progress.js';
import type { CallArgs } from './layer.js';
import type { Model } from './model.js';
import { allLayers, constraintsOf, withPenalties } from './regularization.js';
import { noteInputSpecs, uniqueVariables } from './subclass.js';
import { EvalProgram, evalProgramRefusal, hostLabelCheck } from './eval_program.js';

export interface ModelCompileArgs {
  /** A name ('adam', 'sgd', ...), an Optimizer, or a serialized {class_name, config}. */
  optimizer: OptimizerIdentifier;
  /** A name ('categoricalCrossentropy', 'mse', ...), a Loss or {class_name, config}. */
  loss: LossIdentifier;
  /** Metric names ('accuracy', 'acc', 'mse', ...) or Metrics. */
  metrics?: readonly MetricIdentifier[];
  /** Run the training step through the reference interpreter instead of compiled WebAssembly. */
  runEagerly?: boolean;
  /**
   * Where the compiled step runs: 'wasm' (default) or 'cuda' (PTX on an NVIDIA GPU through
   * kiln/runtime's CUDA executor, the same IR, passes and artifact format).
   */
  device?: 'wasm' | 'cuda';
}

export interface ModelFitArgs {
  /** Default 1. */
  epochs?: number;
  /** Default 32. The last batch of an epoch holds the remainder (its own compiled entry). */
  batchSize?: number;
  /** Hold out this fraction of the samples (the last ones, before shuffling) for validation. */
  validationSplit?: number;
  /** [x, y] to evaluate after each epoch (takes precedence over validationSplit). */
  validationData?: readonly [Tensor | Tensor[], Tensor];
  /** Shuffle the training samples before each epoch. Default true. */
  shuffle?: boolean;
  /** Seed for the shuffling order (deterministic fits); default: Math.random. */
  seed?: number;
  callbacks?: CallbackLike | readonly CallbackLike[];
  /** 0: silent, 1: a progress bar, 2: one line per epoch (on stderr). Default 1. */
  verbose?: 0 | 1 | 2;
  /** The epoch to start from (epochs counts from 0, so it runs epochs - initialEpoch epochs). */
  initialEpoch?: number;
}

export interface ModelEvaluateArgs {
  /** Default 32. */
  batchSize?: number;
}

/** What the program (or the interpreter, with runEagerly) does for fit and evaluate. */
interface Runner {
  run(entry: string, inputs: Record<string, TensorData>): Record<string, TensorData>;
  getState(names?: readonly string[]): Record<string, TensorData>;
  setState(values: Record<string, TensorData>): void;
  dispose(): void;
  /** The compiled program (absent with runEagerly). */
  readonly program?: Program;
}

class ProgramRunner implements Runner {
  constructor(readonly program: Program) {}
  run(entry: string, inputs: Record<string, TensorData>): Record<string, TensorData> {
    return this.program.runSync(inputs, { entry });
  }
  getState(names?: readonly string[]): Record<string, TensorData> {
    return this.program.getState(names);
  }
  setState(values: Record<string, TensorData>): void {
    this.program.setState(values);
  }
  dispose(): void {
    this.program.dispose();
  }
}

/** The same entries on the reference interpreter; state lives in JavaScript as Literals. */
class InterpreterRunner implements Runner {
  private readonly state = new Map<string, Literal>();
  constructor(private readonly funcs: ReadonlyMap<string, Func>, state: readonly { name: string; value: Literal }[]) {
    for (const s of state) this.state.set(s.name, s.value);
  }
  run(entry: string, inputs: Record<string, TensorData>): Record<string, TensorData> {
    const f = this.funcs.get(entry)!;
    const args = f.params.map((p) => this.state.get(p.name!) ?? literal(p.shape, p.dtype, inputs[p.name!]!));
    const results = runFunc(f, args, 'interpreter');
    const aliased = new Set<number>();
    for (const a of f.aliases) {
      this.state.set(f.params[a.param]!.name!, results[a.result]!);
      aliased.add(a.result);
    }
    const out: Record<string, TensorData> = {};
    results.forEach((r, i) => { if (!aliased.has(i)) out[f.resultNames[i]!] = r.data.slice() as TensorData; });
    return out;
  }
  getState(names?: readonly string[]): Record<string, TensorData> {
    const out: Record<string, TensorData> = {};
    for (const n of names ?? [...this.state.keys()]) out[n] = this.state.get(n)!.data.slice() as TensorData;
    return out;
  }
  setState(values: Record<string, TensorData>): void {
    for (const [n, d] of Object.entries(values)) {
      const old = this.state.get(n)!;
      this.state.set(n, literal(old.type.shape, old.type.dtype, d));
    }
  }
  dispose(): void {}
}

/** Replay `func` into the active trace on `inputs` (a gradient Func inside the traced step). */
function inline(func: Func, inputs: readonly Tensor[]): Tensor[] {
  const t = activeTrace()!;
  const map = new Map<Value, Value>();
  func.params.forEach((p, i) => map.set(p, t.valueOf(inputs[i]!, 'train_step')));
  for (const v of func.body) map.set(v, t.builder.op(v.op, v.inputs.map((x) => map.get(x)!), v.attrs, v.regions.map((r) => r.clone())));
  return func.results.map((r) => t.symbolic(map.get(r)!));
}

/** Per-example type of an input: the tensor's type without its batch axis. */
export interface FeatureType {
  shape: number[];
  dtype: DType;
}

export const featureOf = (t: Tensor): FeatureType => ({ shape: t.shape.slice(1), dtype: t.dtype });
const batchType = (f: FeatureType, b: number): TensorType => tensorType([b, ...f.shape], f.dtype);
const scalarF32 = (v: number): Float32Array => Float32Array.of(v);

/** One model's training setup: what compile() was given, the state layout, and the program. */
export class Trainer {
  readonly optimizer: Optimizer;
  readonly loss: Loss;
  readonly metrics: Metric[];
  readonly runEagerly: boolean;
  private readonly lossTracker = new Mean('loss');
  private layout?: StateLayout;
  private runner?: Runner;
  private signature = '';
  private entries = new Set<string>();
  /** Steps ran since the model's Variables were last updated from the program. */
  private dirty = false;
  private versions: number[] = [];

  constructor(private readonly model: Model, args: ModelCompileArgs) {
    if (args === null || typeof args !== 'object') throw new KilnError(`compile: model '${model.name}' expects {optimizer, loss, metrics?}, got ${String(args)}`);
    if (args.optimizer === undefined) throw new KilnError(`compile: model '${model.name}' needs an optimizer (e.g. 'adam')`);
    if (args.loss === undefined) throw new KilnError(`compile: model '${model.name}' needs a loss (e.g. 'categoricalCrossentropy')`);
    this.optimizer = getOptimizer(args.optimizer);
    this.loss = getLoss(args.loss);
    this.metrics = (args.metrics ?? []).map((m) => getMetric(m, { loss: this.loss }));
    const names = this.metrics.map((m) => m.name);
    const dup = names.find((n, i) => names.indexOf(n) !== i || n === 'loss');
    if (dup) throw new KilnError(`compile: model '${model.name}' has two metrics named '${dup}' (or one named 'loss'); name them apart`);
    this.runEagerly = args.runEagerly ?? false;
    if (args.device !== undefined && args.device !== 'wasm' && args.device !== 'cuda') {
      throw new KilnError(`compile: model '${model.name}': device must be 'wasm' or 'cuda', got '${String(args.device)}'`);
    }
    this.device = args.device ?? 'wasm';
  }

  private readonly device: 'wasm' | 'cuda';
  /** The class count sparse labels are checked against (undefined when no loss/metric is sparse). */
  labelClasses?: number;

  /** The compiled program, once fit or evaluate built it (undefined with runEagerly). */
  get program(): Program | undefined {
    return this.runner?.program;
  }

  /** Names of the metric values in logs, loss first. */
  get metricNames(): string[] {
    return ['loss', ...this.metrics.map((m) => m.name)];
  }

  // ---- weights <-> program --------------------------------------------------------------------

  /** Push Variables the user assigned since the last sync; pull the rest if steps ran. */
  sync(): void {
    if (!this.runner || !this.layout) return;
    this.pushChanged();
    if (!this.dirty) return;
    const ws = this.layout.weights;
    const values = this.runner.getState(ws.map((w) => w.name));
    ws.forEach((w, i) => {
      w.assign(Tensor.concrete(literal(w.shape, w.dtype, values[w.name]!)));
      this.versions[i] = w.version;
    });
    this.dirty = false;
  }

  /** Push the Variables assigned since the last sync into the program. */
  pushChanged(): void {
    if (!this.runner || !this.layout) return;
    const ws = this.layout!.weights;
    const changed: Record<string, TensorData> = {};
    let any = false;
    ws.forEach((w, i) => {
      if (w.version === this.versions[i]) return;
      changed[w.name] = w.value.dataSync() as TensorData;
      this.versions[i] = w.version;
      any = true;
    });
    if (any) this.runner!.setState(changed);
  }

  /** The current learning rate (the program's, when it holds one). */
  getLearningRate(): number {
    const lr = this.optimizer.learningRate;
    if (typeof lr === 'number') {
      if (!this.runner || !this.layout) return this.pendingLr ?? lr;
      return this.runner.getState([this.layout.lrName!])[this.layout.lrName!]![0]!;
    }
    const it = this.runner && this.layout ? this.runner.getState([this.layout.optNames[0]!])[this.layout.optNames[0]!]![0]! : 0;
    return lr.call(it).item();
  }

  /** Set the learning rate inside the program (no recompile). Needs a constant learning rate. */
  setLearningRate(value: number): void {
    if (!(Number.isFinite(value) && value >= 0)) throw new KilnError(`setLearningRate: model '${this.model.name}': the learning rate must be a non-negative number, got ${value}`);
    if (typeof this.optimizer.learningRate !== 'number') {
      throw new KilnError(`setLearningRate: model '${this.model.name}' uses a learning-rate schedule (${this.optimizer.learningRate.className}); it cannot be set`);
    }
    this.pendingLr = value;
    if (this.runner && this.layout) this.runner.setState({ [this.layout.lrName!]: scalarF32(value) });
  }
  private pendingLr?: number;

  // ---- state outside fit (training_state.ts) -----------------------------------------------------

  /** Values given by writeState before the program existed; the next prepare() starts from them. */
  private readonly pendingState = new Map<string, TensorData>();
  /** Where the running fit is (epoch, next step, shuffle RNG at the epoch's start, callbacks). */
  progress?: FitProgress;
  /** A position setTrainingState restored; the next fit continues from it. */
  resume?: ResumePoint;
  /** Callback states setTrainingState restored; the next fit gives them back after onTrainBegin. */
  resumeCallbacks?: Record<string, CallbackState>;

  /** The names and types of the non-weight state: learning rate, optimizer slots, metric totals. */
  stateSpec(): { lrName?: string; optimizer: string[]; metrics: string[]; types: Map<string, TensorType> } {
    const layout = this.ensureLayout();
    const types = new Map(layout.names.map((n, i) => [n, layout.init[i]!.type] as const));
    return { ...(layout.lrName ? { lrName: layout.lrName } : {}), optimizer: layout.optNames, metrics: layout.metricNames, types };
  }

  /** Current values of non-weight state tensors (from the program, or their initial/pending values). */
  readState(names: readonly string[]): Record<string, TensorData> {
    const layout = this.ensureLayout();
    if (this.runner) return this.runner.getState(names);
    const out: Record<string, TensorData> = {};
    for (const n of names) {
      const i = layout.names.indexOf(n);
      if (i < 0) throw new KilnError(`training state: model '${this.model.name}' has no state tensor '${n}'`);
      const pending = this.pendingState.get(n) ?? (n === layout.lrName && this.pendingLr !== undefined ? scalarF32(this.pendingLr) : undefined);
      out[n] = (pending ?? (layout.init[i]!.data as TensorData)).slice() as TensorData;
    }
    return out;
  }

  /** Set non-weight state tensors (checked against their types) in the program, or for the next fit. */
  writeState(values: Record<string, TensorData>): void {
    const layout = this.ensureLayout();
    for (const [n, d] of Object.entries(values)) {
      const i = layout.names.indexOf(n);
      if (i < 0 || i < layout.weights.length) {
        throw new KilnError(`training state: model '${this.model.name}' has no optimizer/metric state tensor '${n}' (it has ${layout.extraNames.join(', ')})`);
      }
      const t = layout.init[i]!.type;
      const want = t.shape.reduce((a, b) => a * b, 1);
      const ctor = t.dtype === 'i32' ? Int32Array : Float32Array;
      if (!(d instanceof ctor) || d.length !== want) {
        throw new KilnError(`training state: '${n}' must be ${typeToString(t)} (${want} ${ctor.name} values), got ${d?.constructor?.name ?? typeof d} of ${d?.length ?? 0} values`);
      }
    }
    if (this.runner) this.runner.setState(values);
    else for (const [n, d] of Object.entries(values)) this.pendingState.set(n, d.slice() as TensorData);
  }

  // ---- building the steps ---------------------------------------------------------------------

  private ensureLayout(): StateLayout {
    if (this.layout) return this.layout;
    this.layout = buildLayout(this.model, this.optimizer, this.lossTracker, this.metrics);
    this.versions = this.layout.weights.map((w) => w.version);
    return this.layout;
  }

  /** Make sure the program has train entries for `trainSizes` and eval entries for `evalSizes`. */
  async prepare(xFeat: FeatureType[], yFeat: FeatureType, trainSizes: readonly number[], evalSizes: readonly number[]): Promise<Runner> {
    const layout = this.ensureLayout();
    const sig = [...xFeat, yFeat].map((f) => `${f.dtype}[${f.shape}]`).join(', ');
    const wanted = new Set(sig === this.signature ? this.entries : []);
    for (const b of trainSizes) wanted.add(`train_${b}`);
    for (const b of evalSizes) wanted.add(`eval_${b}`);
    if (this.runner && sig === this.signature && [...wanted].every((e) => this.entries.has(e))) {
      this.pushChanged();
      return this.runner;
    }
    // (Re)build with every entry wanted, carrying the current state over.
    let current: Record<string, TensorData> | undefined;
    if (this.runner) {
      this.pushChanged();
      current = this.runner.getState();
    }
    const names = [...wanted].sort((a, b) => (a.startsWith('train') === b.startsWith('train') ? 0 : a.startsWith('train') ? -1 : 1));
    const funcs = new Map<string, Func>();
    for (const name of names) {
      const [kind, size] = name.split('_') as ['train' | 'eval', string];
      funcs.set(name, this.traceEntry(kind, Number(size), xFeat, yFeat, layout));
    }
    const state = layout.names.map((name, i) => {
      const init = layout.init[i]!;
      if (current) return { name, value: literal(init.type.shape, init.type.dtype, current[name]!) };
      const pending = this.pendingState.get(name);
      if (pending) return { name, value: literal(init.type.shape, init.type.dtype, pending) };
      if (name === layout.lrName && this.pendingLr !== undefined) return { name, value: literal([], 'f32', [this.pendingLr]) };
      return { name, value: init };
    });
    this.pendingState.clear();
    this.runner?.dispose();
    this.runner = undefined;
    if (this.runEagerly) {
      this.runner = new InterpreterRunner(funcs, state);
    } else {
      const t0 = performance.now();
      const art = compileEntries(names.map((name) => ({ name, func: funcs.get(name)! })), state, { name: `${this.model.name}_training`, target: this.device });
      noteCompile({ kind: 'training', name: `${this.model.name}_training`, ms: performance.now() - t0 });
      this.runner = new ProgramRunner(await load(art.bytes, { device: this.device }));
    }
    this.signature = sig;
    this.entries = new Set(names);
    return this.runner;
  }

  private traceEntry(kind: 'train' | 'eval', b: number, xFeat: FeatureType[], yFeat: FeatureType, layout: StateLayout): Func {
    const xTypes = xFeat.map((f) => batchType(f, b));
    const yType = batchType(yFeat, b);
    const xNames = inputNames(xFeat.length);
    const extraNames = kind === 'train' ? layout.extraNames : layout.metricNames;
    const extraTypes = extraNames.map((n) => layout.init[layout.names.indexOf(n)]!).map((l) => l.type);
    const nx = xTypes.length;
    try {
      const { result: func, classes } = watchSparseLabels(() => {
        const body = kind === 'train' ? this.trainBody(xTypes, yType, layout) : this.evalBody(nx, layout);
        return trace((...args: Tensor[]) => body(args.slice(0, nx), args[nx]!, args.slice(nx + 1)),
          [...xTypes, yType, ...extraTypes], { name: `${kind}_${b}`, argNames: [...xNames, 'y', ...extraNames], variables: layout.weights }).func;
      });
      this.labelClasses = classes;
      const names = this.metricNames;
      const checks = classes === undefined ? [] : LABEL_CHECK;
      if (kind === 'train') finishEntry(func, [...names, ...names.map((n) => `running/${n}`), ...checks], [...layout.optNames, ...layout.metricNames]);
      else finishEntry(func, [...names, ...checks], layout.metricNames);
      return func;
    } catch (e) {
      if (e instanceof KilnError) {
        const shapes = [...xTypes, yType].map(typeToString).join(', ');
        throw new KilnError(`fit/evaluate: model '${this.model.name}' cannot train on x, y = ${shapes}: ${e.message}`);
      }
      throw e;
    }
  }

  /** The forward pass on symbolic inputs; a model must have one output to train. */
  private forward(xs: Tensor[], training: boolean, step?: Tensor): Tensor {
    // `step` (the optimizer's iteration counter) keys training-mode randomness such as Dropout.
    const args: CallArgs & { step?: Tensor } = step ? { training, step } : { training };
    const inputs = xs.length === 1 ? xs[0]! : xs;
    // A subclassed model's call runs as a layer call does: AutoGraph-converted, its sublayers inheriting training and step.
    const out = this.model.callForward(inputs, args);
    if (Array.isArray(out)) {
      if (out.length !== 1) throw new KilnError(`model has ${out.length} outputs; training supports one output so far`);
      return out[0]!;
    }
    return out;
  }

  private metricUpdates(extra: Tensor[], offset: number, y: Tensor, pred: Tensor, lossValue: Tensor): { states: Tensor[]; running: Tensor[]; batch: Tensor[] } {
    const states: Tensor[] = [];
    const running: Tensor[] = [];
    const batch: Tensor[] = [];
    let k = offset;
    // The loss tracker weights each batch's mean loss by its number of samples (Keras's Mean).
    const n = y.shape[0]!;
    const weighted = [ops.add(extra[k]!, ops.mul(lossValue, n)), ops.add(extra[k + 1]!, n)];
    states.push(...weighted);
    running.push(this.lossTracker.result(weighted));
    batch.push(lossValue);
    k += 2;
    for (const m of this.metrics) {
      const count = m.stateNames().length;
      const s = extra.slice(k, k + count);
      const next = m.update(s, y, pred);
      states.push(...next);
      running.push(m.result(next));
      batch.push(m.result(m.update(m.init(), y, pred)));
      k += count;
    }
    return { states, running, batch };
  }

  private trainBody(xTypes: TensorType[], yType: TensorType, layout: StateLayout) {
    const nx = xTypes.length;
    const weights = layout.weights;
    const trainable = layout.trainable;
    // The loss and predictions as a function of the batch and all weights, differentiated with
    // respect to the trainable ones; predictions ride along as a second result so the metrics
    // see the very forward pass (and dropout mask) the gradient came from.
    // The loss includes every regularizer penalty (weights, and activities of this pass).
    const inner = trace((...args: Tensor[]) => {
      const r = withPenalties(this.model, () => this.forward(args.slice(0, nx), true, args[nx + 1]!), (pred) => this.loss(args[nx]!, pred));
      return [r.loss, r.out];
    }, [...xTypes, yType, tensorType([], 'i32')], { name: 'loss_and_predictions', variables: weights });
    const wrt = trainable.map((v) => nx + 2 + weights.indexOf(v));
    const g = gradFunc(inner.func, { wrt, resultIndex: 0 });
    const nUpd = inner.updatedVariables.length;
    return (xs: Tensor[], y: Tensor, extra: Tensor[]): Tensor[] => {
      // extra = [lr?, ...optimizer state (iterations first), ...metric state]
      let k = 0;
      const opt = Object.create(this.optimizer) as Optimizer;
      if (layout.lrName) {
        const lr = extra[k++]!;
        opt.learningRateAt = () => lr;
      }
      const outs = inline(g, [...xs, y, extra[k]!, ...weights.map((w) => w.read())]);
      const [lossValue, pred] = [outs[0]!, outs[1]!];
      inner.updatedVariables.forEach((v, i) => v.assign(outs[2 + i]!));
      const grads = outs.slice(2 + nUpd);
      const optState = opt.fromTensors(extra.slice(k, k + layout.optNames.length), trainable.length);
      k += layout.optNames.length;
      const r = opt.apply(trainable.map((v) => v.read()), grads, optState);
      // Constraints project a variable right after its update, as Keras's optimizer does.
      const constraints = constraintsOf(this.model);
      trainable.forEach((v, i) => v.assign(constraints.get(v)?.apply(r.params[i]!) ?? r.params[i]!));
      const m = this.metricUpdates(extra, k, y, pred, lossValue);
      return [...m.batch, ...m.running, ...labelCheck(y), ...opt.stateTensors(r.state), ...m.states];
    };
  }

  private evalBody(nx: number, _layout: StateLayout) {
    return (xs: Tensor[], y: Tensor, extra: Tensor[]): Tensor[] => {
      const pred = this.forward(xs, false);
      const m = this.metricUpdates(extra, 0, y, pred, this.loss(y, pred));
      return [...m.running, ...labelCheck(y), ...m.states];
    };
  }

  // ---- evaluate's one program (eval_program.ts) ------------------------------------------------

  private evalProg?: EvalProgram;

  /** evaluate's program for every batch size; undefined where evaluate runs on the training program's entries. */
  evalProgram(): EvalProgram | undefined {
    // Without the compiled executor (kiln's entry installs it) kiln runs interpreted: so do the training program's entries then (compiled).
    if (this.runEagerly || this.device !== 'wasm' || !batchedExecutor() || evalProgramRefusal(this.metrics) !== undefined) return undefined;
    // A batch fixed in the model's inputs cannot vary.
    if (!this.model.isSubclassed && this.model.inputs.some((t) => t.shape[0] !== null)) return undefined;
    this.evalProg ??= new EvalProgram(`${this.model.name}_evaluate`, (xs) => this.forward(xs, false), this.loss, this.metrics as MeanMetricWrapper[]);
    return this.evalProg;
  }

  // ---- running ---------------------------------------------------------------------------------

  resetMetrics(runner: Runner): void {
    runner.setState(this.layout!.metricZeros);
  }

  markDirty(): void {
    this.dirty = true;
  }

  dispose(): void {
    this.sync();
    this.runner?.dispose();
    this.runner = undefined;
    this.evalProg?.dispose();
  }
}

/** Where a fit is: the epoch, the next step to run, and the shuffle RNG's state before the epoch's shuffle. */
export interface ResumePoint {
  epoch: number;
  step: number;
  rngState: number;
}

/** What a running fit exposes to getTrainingState (BackupAndRestore calls it from a callback). */
export interface FitProgress extends ResumePoint {
  /** Batches per epoch. */
  steps: number;
  callbacks: readonly Callback[];
}

// ---- sparse label checks ----------------------------------------------------------------------------

/** The step outputs of the label check: count of bad labels, first bad (flat) index, its value. */
const LABEL_CHECK = ['labels/bad', 'labels/first_index', 'labels/first_value'] as const;

/**
 * Inside a traced step whose loss or metrics decoded sparse labels: how many labels of `y` are
 * not integers in [0, classes), the first such flat index and its value (three f32 scalars, a
 * few reductions fused into one kernel). The host reads them after each step and throws. Empty
 * when the step has no sparse labels (watchSparseLabels saw none).
 */
function labelCheck(y: Tensor): Tensor[] {
  const classes = sparseClassesSeen();
  if (classes === undefined) return [];
  const n = y.shape.reduce((a, b) => a * b, 1);
  const flat = ops.reshape(y, [n]);
  const v = flat.dtype === 'f32' ? flat : ops.cast(flat, 'f32');
  let bad = ops.logicalOr(ops.less(flat, 0), ops.greaterEqual(flat, classes));
  // Not an integer (NaN included: floor(NaN) != NaN).
  if (flat.dtype !== 'i32') bad = ops.logicalOr(bad, ops.notEqual(ops.floor(v), v));
  const index = ops.cast(ops.iota([n], 0, 'i32'), 'f32');
  const first = ops.min(ops.where(bad, index, n));
  const value = ops.sum(ops.where(ops.equal(index, first), v, 0));
  return [ops.sum(ops.cast(bad, 'f32')), first, value];
}

/** The batch inputs' names: x (or x0, x1, ... for several inputs). */
function inputNames(n: number): string[] {
  return n === 1 ? ['x'] : Array.from({ length: n }, (_, i) => `x${i}`);
}

/** Where everything the program keeps lives: names, initial values, groups. */
interface StateLayout {
  weights: Variable[];
  trainable: Variable[];
  /** Every state tensor's name: weights, then extra (lr, optimizer, metrics). */
  names: string[];
  init: Literal[];
  lrName?: string;
  optNames: string[];
  metricNames: string[];
  /** What the train step takes besides the batch and the weights, in order. */
  extraNames: string[];
  metricZeros: Record<string, TensorData>;
}

/**
 * The states stateful RNNs carry between batches (rnn.ts `stateVariables`): resident state of
 * the training program beside the weights, read and updated by each step, never reset by fit
 * (tfjs-layers: only `resetStates()` does).
 */
function carriedStates(model: Model): Variable[] {
  return allLayers(model).flatMap((l) => (l as { stateVariables?: Variable[] }).stateVariables ?? []);
}

function buildLayout(model: Model, opt: Optimizer, lossTracker: Mean, metrics: readonly Metric[]): StateLayout {
  const weights = [...model.weights, ...carriedStates(model)];
  const trainable = model.trainableWeights;
  if (trainable.length === 0) throw new KilnError(`fit: model '${model.name}' has no trainable weights`);
  const lrName = typeof opt.learningRate === 'number' ? `${opt.name}/learning_rate` : undefined;
  const optTensors = opt.stateTensors(opt.init(trainable.map((v) => v.value)));
  const optNames = opt.stateNames(trainable.map((v) => v.name));
  const metricTensors = [...lossTracker.init(), ...metrics.flatMap((m) => m.init())];
  const metricNames = [...lossTracker.stateNames(), ...metrics.flatMap((m) => m.stateNames())];
  const extraNames = [...(lrName ? [lrName] : []), ...optNames, ...metricNames];
  const extraInit = [
    ...(lrName ? [literal([], 'f32', [opt.learningRate as number])] : []),
    ...optTensors.map((t) => t.literal!), ...metricTensors.map((t) => t.literal!),
  ];
  const names = [...weights.map((w) => w.name), ...extraNames];
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) throw new KilnError(`fit: model '${model.name}' has two state tensors named '${dup}' (weights, optimizer slots and metric totals need distinct names)`);
  const metricZeros = Object.fromEntries(metricNames.map((n, i) => [n, metricTensors[i]!.dataSync().slice() as TensorData]));
  return {
    weights, trainable, names, init: [...weights.map((w) => w.value.literal!), ...extraInit],
    ...(lrName ? { lrName } : {}), optNames, metricNames, extraNames, metricZeros,
  };
}

// ---- the step Funcs' outputs: names and aliases ---------------------------------------------------

/**
 * Name the regular results of a traced entry and alias its state results. `trace` named the
 * weight updates and aliased them itself; the optimizer and metric states come back as plain
 * results right before them and are aliased here.
 */
function finishEntry(func: Func, outNames: readonly string[], stateNames: readonly string[]): void {
  const paramIndex = new Map(func.params.map((p, i) => [p.name, i]));
  outNames.forEach((n, i) => { func.resultNames[i] = n; });
  stateNames.forEach((n, j) => {
    const result = outNames.length + j;
    func.resultNames[result] = `new:${n}`;
    func.aliases.push({ result, param: paramIndex.get(n)! });
  });
}

// ---- data ---------------------------------------------------------------------------------------

/** Row-major host arrays of a dataset and the batch copies made from them. */
class Dataset {
  readonly arrays: TensorData[];
  readonly rowSizes: number[];
  constructor(readonly tensors: Tensor[], readonly n: number) {
    this.arrays = tensors.map((t) => t.dataSync() as TensorData);
    this.rowSizes = tensors.map((t) => t.shape.slice(1).reduce((a, b) => a * b, 1));
  }

  /** Rows `order[start..start+b)` of each tensor (a view when they are contiguous). */
  batch(order: Int32Array | undefined, start: number, b: number): TensorData[] {
    return this.arrays.map((a, k) => {
      const row = this.rowSizes[k]!;
      if (!order) return a.subarray(start * row, (start + b) * row) as TensorData;
      const out = new (a.constructor as new (n: number) => TensorData)(b * row);
      for (let j = 0; j < b; j++) {
        const src = order[start + j]!;
        out.set(a.subarray(src * row, (src + 1) * row) as never, j * row);
      }
      return out;
    });
  }

  /** Rows [from, to) as new concrete tensors (the validation split). */
  slice(from: number, to: number): Tensor[] {
    return this.tensors.map((t) => ops.slice(t, [from, ...t.shape.slice(1).map(() => 0)], [to - from, ...t.shape.slice(1)]));
  }
}

function asList(x: Tensor | readonly Tensor[]): Tensor[] {
  return Array.isArray(x) ? [...x] : [x as Tensor];
}

/** Check x and y against the model's inputs; errors name the model and the shapes. */
export function checkData(what: string, model: Model, xs: Tensor[], y: Tensor): number {
  if (!(y instanceof Tensor)) throw new KilnError(`${what}: model '${model.name}' expects y as a Tensor, got ${typeof y}`);
  xs.forEach((x, i) => {
    if (!(x instanceof Tensor)) throw new KilnError(`${what}: model '${model.name}' expects x as a Tensor or a list of Tensors; item ${i} is ${typeof x}`);
    if (x.isSymbolic || y.isSymbolic) throw new KilnError(`${what}: model '${model.name}' needs concrete tensors, got a symbolic one`);
  });
  if (!model.built && model.isSubclassed) noteInputSpecs(model, xs.map((x) => [null, ...x.shape.slice(1)]), xs.map((x) => x.dtype));
  if (!model.built && model.isSubclassed && xs.length > 1) model.build(xs.map((x) => [null, ...x.shape.slice(1)]));
  if (!model.built && xs.length === 1 && typeof (model as { build?: unknown }).build === 'function') model.build([null, ...xs[0]!.shape.slice(1)]);
  const inputs = model.inputs;
  if (xs.length !== inputs.length) {
    throw new KilnError(`${what}: model '${model.name}' has ${inputs.length} input(s), got ${xs.length} x tensor(s) (${xs.map((t) => typeToString(t.type)).join(', ')})`);
  }
  xs.forEach((x, i) => {
    const want = inputs[i]!;
    // fit splits x into batches: a fixed batch size (stateful RNNs) takes any multiple of it.
    const fixedBatchOk = (d: number, k: number): boolean => k === 0 && what === 'fit' && x.shape[0]! % d === 0;
    const ok = x.rank === want.shape.length && want.shape.every((d, k) => d === null || d === x.shape[k] || fixedBatchOk(d, k)) && x.dtype === want.dtype;
    if (!ok) {
      throw new KilnError(`${what}: model '${model.name}' input ${i} must be [${want.shape.map((d) => d ?? 'null').join(',')}] ${want.dtype}, got x ${typeToString(x.type)}`);
    }
  });
  const n = xs[0]!.shape[0]!;
  if (xs.some((x) => x.shape[0] !== n) || y.rank === 0 || y.shape[0] !== n) {
    throw new KilnError(`${what}: model '${model.name}': x and y must have the same number of samples, got x ${xs.map((t) => typeToString(t.type)).join(', ')} and y ${typeToString(y.type)}`);
  }
  if (n === 0) throw new KilnError(`${what}: model '${model.name}' got no samples (x ${typeToString(xs[0]!.type)})`);
  return n;
}

function positiveInt(what: string, name: string, v: number): number {
  if (!Number.isInteger(v) || v <= 0) throw new KilnError(`${what}: ${name} must be a positive integer, got ${v}`);
  return v;
}

/** Batch sizes of an epoch over n samples: full batches and the remainder. */
function batchSizes(n: number, b: number): number[] {
  return n % b === 0 || n < b ? [Math.min(n, b)] : [b, n % b];
}

// ---- per-model registry ----------------------------------------------------------------------------

const trainers = new WeakMap<Model, Trainer>();

export function compileModel(model: Model, args: ModelCompileArgs): void {
  trainers.get(model)?.dispose();
  trainers.set(model, new Trainer(model, args));
}

/** The model's Trainer; throws when compile() was not called. */
export function trainerOf(what: string, model: Model): Trainer {
  const t = trainers.get(model);
  if (!t) throw new KilnError(`${what}: model '${model.name}' must be compiled first: call model.compile({optimizer, loss, metrics})`);
  return t;
}

/** Copy trained weights from the program into the model's Variables (no-op when up to date). */
export function syncWeights(model: Model): void {
  trainers.get(model)?.sync();
}

export function getLearningRate(model: Model): number {
  return trainerOf('getLearningRate', model).getLearningRate();
}

export function setLearningRate(model: Model, lr: number): void {
  trainerOf('setLearningRate', model).setLearningRate(lr);
}

/** The compiled training program (after fit/evaluate ran once; undefined with runEagerly). */
export function trainingProgram(model: Model): Program | undefined {
  return trainers.get(model)?.program;
}

// ---- evaluate ----------------------------------------------------------------------------------------

async function runEval(trainer: Trainer, runner: Runner, data: Dataset, b: number, what = 'evaluate'): Promise<Logs> {
  trainer.resetMetrics(runner);
  let out: Record<string, TensorData> = {};
  for (let start = 0; start < data.n; start += b) {
    const size = Math.min(b, data.n - start);
    out = runner.run(`eval_${size}`, feeds(data.batch(undefined, start, size)));
    checkLabels(out, trainer, data, { what, where: `batch ${start / b}`, start });
  }
  return Object.fromEntries(trainer.metricNames.map((n) => [n, out[n]![0]!]));
}

/** Throw when the step's label check (labelCheck) found labels that are not integers in [0, classes). */
function checkLabels(out: Record<string, TensorData>, trainer: Trainer, data: Dataset, at: { what: string; where: string; start: number; order?: Int32Array }): void {
  const bad = out['labels/bad'];
  if (!bad || bad[0] === 0) return;
  const flat = out['labels/first_index']![0]!;
  const value = out['labels/first_value']![0]!;
  const perSample = data.rowSizes[data.rowSizes.length - 1]!;
  const j = Math.floor(flat / perSample);
  const index = at.order ? at.order[at.start + j]! : at.start + j;
  const element = perSample === 1 ? `y[${index}]` : `y[${index}] (element ${flat % perSample})`;
  const kind = Number.isInteger(value) ? `out of range [0, ${trainer.labelClasses})` : 'not an integer';
  throw new KilnError(
    `${at.what}: sparse label ${element} = ${value} is ${kind} (${at.where}, ${bad[0]} bad label(s) in the batch); ` +
      `sparse losses and metrics need integer class indices in [0, ${trainer.labelClasses}) for the model's ${trainer.labelClasses} outputs`,
  );
}

export function feeds(arrays: TensorData[]): Record<string, TensorData> {
  const xNames = inputNames(arrays.length - 1);
  const rec: Record<string, TensorData> = { y: arrays[arrays.length - 1]! };
  xNames.forEach((n, i) => { rec[n] = arrays[i]!; });
  return rec;
}

export async function evaluateModel(model: Model, x: Tensor | Tensor[], y: Tensor, args: ModelEvaluateArgs = {}): Promise<Logs> {
  const trainer = trainerOf('evaluate', model);
  const xs = asList(x);
  const n = checkData('evaluate', model, xs, y);
  const b = positiveInt('evaluate', 'batchSize', args.batchSize ?? 32);
  const data = new Dataset([...xs, y], n);
  const logs = await evaluateOnOneProgram(trainer, model, data, b);
  if (logs) return logs;
  const runner = await trainer.prepare(xs.map(featureOf), featureOf(y), [], batchSizes(n, b));
  return runEval(trainer, runner, data, b);
}

/**
 * evaluate on its one program for every batch size (eval_program.ts): nothing compiles for a new
 * batch size, and the training program is left as it is. Undefined where evaluate needs the
 * training program's entries (runEagerly, cuda, metrics that are not per-sample means).
 */
async function evaluateOnOneProgram(trainer: Trainer, model: Model, data: Dataset, b: number, what = 'evaluate'): Promise<Logs | undefined> {
  const ep = trainer.evalProgram();
  if (!ep) return undefined;
  trainer.sync(); // the trained weights may live only in the training program
  const perSample = data.rowSizes[data.rowSizes.length - 1]!;
  const check = (y: TensorData, start: number): void => {
    if (ep.classes === undefined) return;
    const out = hostLabelCheck(y, ep.classes);
    if (out['labels/bad']![0] === 0) return;
    trainer.labelClasses = ep.classes;
    // The batch as the caller cut them (the program may run smaller ones).
    const sample = start + Math.floor(out['labels/first_index']![0]! / perSample);
    checkLabels(out, trainer, data, { what, where: `batch ${Math.floor(sample / b)}`, start });
  };
  const r = await ep.run(uniqueVariables(model.weights), data.tensors, data.n, b, (start, size) => data.batch(undefined, start, size), check);
  return r && Object.fromEntries(trainer.metricNames.map((name, i) => [name, r.sums[i]! / r.samples]));
}

// ---- fit ----------------------------------------------------------------------------------------------

/** Give each callback the state setTrainingState restored for it (matched by position and class). */
export function restoreCallbackStates(callbacks: readonly Callback[], trainer: Trainer): void {
  const states = trainer.resumeCallbacks;
  trainer.resumeCallbacks = undefined;
  if (!states) return;
  callbacks.forEach((c, i) => {
    const s = states[callbackKey(i, c)];
    if (s !== undefined) c.setCheckpointState(s);
  });
}

export async function fitModel(model: Model, x: Tensor | Tensor[], y: Tensor, args: ModelFitArgs = {}): Promise<History> {
  const trainer = trainerOf('fit', model);
  const xs = asList(x);
  let n = checkData('fit', model, xs, y);
  const epochs = args.epochs ?? 1;
  if (!Number.isInteger(epochs) || epochs < 0) throw new KilnError(`fit: epochs must be a non-negative integer, got ${epochs}`);
  const b = positiveInt('fit', 'batchSize', args.batchSize ?? 32);
  const fixed = model.inputs[0]?.shape[0];
  if (typeof fixed === 'number' && Math.min(b, n) !== fixed) {
    throw new KilnError(`fit: model '${model.name}' has a fixed batch size ${fixed} (batchInputShape), so every batch must have ${fixed} samples: pass batchSize: ${fixed}, got batchSize ${b} for ${n} samples`);
  }
  const verbose = args.verbose ?? 1;
  const initialEpoch = args.initialEpoch ?? 0;
  let train = new Dataset([...xs, y], n);
  let val: Dataset | undefined;
  if (args.validationData) {
    const [vx, vy] = args.validationData;
    const vxs = asList(vx);
    val = new Dataset([...vxs, vy], checkData('fit (validationData)', model, vxs, vy));
  } else if (args.validationSplit !== undefined && args.validationSplit !== 0) {
    const s = args.validationSplit;
    if (!(s > 0 && s < 1)) throw new KilnError(`fit: validationSplit must be in (0, 1), got ${s}`);
    // Keras holds out the last samples, before any shuffling.
    const split = Math.floor(n * (1 - s));
    if (split === 0 || split === n) throw new KilnError(`fit: validationSplit ${s} of ${n} samples leaves ${split === 0 ? 'no training' : 'no validation'} samples`);
    val = new Dataset(train.slice(split, n), n - split);
    train = new Dataset(train.slice(0, split), split);
    n = split;
  }
  // Validation runs on evaluate's program (eval_program.ts) where it can: the training program then holds no eval entries.
  const oneEval = trainer.evalProgram() !== undefined;
  let runner = await trainer.prepare(xs.map(featureOf), featureOf(y), batchSizes(n, b), val && !oneEval ? batchSizes(val.n, b) : []);

  const history = new History();
  const userCallbacks = args.callbacks === undefined ? [] : Array.isArray(args.callbacks) ? args.callbacks : [args.callbacks as CallbackLike];
  const cbs = new CallbackList([history, ...userCallbacks, ...(verbose > 0 ? [new ProgbarLogger()] : [])]);
  const steps = Math.ceil(n / b);
  const names = trainer.metricNames;
  const params: TrainingParams = {
    epochs, initialEpoch, steps, samples: n, batchSize: b, verbose, doValidation: val !== undefined,
    metrics: [...names, ...(val ? names.map((m) => `val_${m}`) : [])],
  };
  cbs.setModel(model);
  cbs.setParams(params);
  model.stopTraining = false;
  // Shuffling always draws from a seeded generator (a random seed when none is given) so that a
  // checkpoint can record its position and a resumed fit replays the interrupted epoch's order.
  let rng = new SeededRandom(args.seed ?? Math.floor(Math.random() * 2 ** 32));
  const shuffle = args.shuffle ?? true;
  const order = new Int32Array(n);
  const progress: FitProgress = { epoch: initialEpoch, step: 0, rngState: rng.position, steps, callbacks: cbs.callbacks };
  trainer.progress = progress;
  let nanWarned = false;
  try {
    await cbs.onTrainBegin();
    let firstEpoch = initialEpoch;
    let firstStep = 0;
    const resume = trainer.resume;
    trainer.resume = undefined;
    if (resume) {
      if (resume.step >= steps) {
        throw new KilnError(`fit: model '${model.name}': the restored position is step ${resume.step} of an epoch, but this fit has ${steps} steps per epoch; resume with the same data and batchSize`);
      }
      firstEpoch = resume.epoch;
      firstStep = resume.step;
      rng = new SeededRandom(resume.rngState);
    }
    restoreCallbackStates(cbs.callbacks, trainer);
    for (let epoch = firstEpoch; epoch < epochs && !model.stopTraining; epoch++) {
      const startStep = epoch === firstEpoch ? firstStep : 0;
      Object.assign(progress, { epoch, step: startStep, rngState: rng.position });
      await cbs.onEpochBegin(epoch);
      if (startStep === 0) trainer.resetMetrics(runner); // a mid-epoch resume restored them
      if (shuffle) {
        for (let i = 0; i < n; i++) order[i] = i;
        for (let i = n - 1; i > 0; i--) {
          const j = Math.floor(rng.next() * (i + 1));
          const t = order[i]!; order[i] = order[j]!; order[j] = t;
        }
      }
      let out: Record<string, TensorData> = {};
      for (let step = startStep; step < steps; step++) {
        const start = step * b;
        const size = Math.min(b, n - start);
        await cbs.onBatchBegin(step, { batch: step, size });
        trainer.pushChanged(); // a callback may have assigned weights (setWeights)
        out = runner.run(`train_${size}`, feeds(train.batch(shuffle ? order : undefined, start, size)));
        trainer.markDirty();
        progress.step = step + 1;
        checkLabels(out, trainer, train, { what: 'fit', where: `batch ${step} of epoch ${epoch + 1}`, start, ...(shuffle ? { order } : {}) });
        const logs: Logs = { batch: step, size };
        for (const m of names) logs[m] = out[m]![0]!;
        if (!nanWarned && !Number.isFinite(logs.loss!)) {
          nanWarned = true;
          console.warn(`fit: model '${model.name}': the loss became ${logs.loss} at batch ${step} of epoch ${epoch + 1}; check the data for NaN/Infinity or lower the learning rate (TerminateOnNaN stops training when this happens)`);
        }
        await cbs.onBatchEnd(step, logs);
        if (model.stopTraining) break;
      }
      const epochLogs: Logs = Object.fromEntries(names.map((m) => [m, out[`running/${m}`]![0]!]));
      if (val) {
        let v = await evaluateOnOneProgram(trainer, model, val, b, 'fit (validation)');
        if (!v) {
          // A model or loss the evaluate program cannot serve: eval entries in the training program (one rebuild).
          runner = await trainer.prepare(xs.map(featureOf), featureOf(y), batchSizes(n, b), batchSizes(val.n, b));
          v = await runEval(trainer, runner, val, b, 'fit (validation)');
        }
        for (const m of names) epochLogs[`val_${m}`] = v[m]!;
      }
      trainer.sync();
      Object.assign(progress, { epoch: epoch + 1, step: 0, rngState: rng.position });
      await cbs.onEpochEnd(epoch, epochLogs);
    }
    trainer.sync();
    await cbs.onTrainEnd();
  } finally {
    trainer.progress = undefined;
  }
  return history;
}
