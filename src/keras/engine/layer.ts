/**
 * The Keras Layer base class: naming, lazy build, weights held as frontend Variables,
 * `apply` on symbolic KerasTensors (records a graph Node) or on frontend Tensors (runs
 * `call`), config round-trips and a class registry for deserialization.
 *
 * Subclasses implement `build`, `call`, `computeOutputShape` and `getConfig`; they read their
 * weights with `Variable.read()` inside `call`, so a later training trace can bind them as
 * parameters instead of constants.
 */
import { parseDType, type DType, type DTypeLike } from '../../ir/dtype.js';
import { KilnError } from '../../ir/types.js';
import { autographMethod, tensorFromData, tensorToFloat32, variable, type AutographSetting, type Tensor, type Variable } from '../backend.js';
import type { Constraint } from '../constraints.js';
import { getInitializer, type InitializerLike } from '../initializers.js';
import type { Regularizer } from '../regularizers.js';
import { KerasTensor, Node, isKerasTensor, shapeToString, type CallOption, type KerasShape } from './keras_tensor.js';
import { markEngineKeys, tracked, uniqueVariables } from './subclass.js';

export interface LayerArgs {
  /** Unique name; defaults to the snake_case class name with a counter (`dense`, `dense_1`, ...). */
  name?: string;
  trainable?: boolean;
  /** Shape of one example (no batch dimension). Only meaningful on a model's first layer. */
  inputShape?: readonly (number | null)[];
  /** Full input shape including the batch dimension (`null` for any batch size). */
  batchInputShape?: KerasShape;
  /** Fixed batch size, used with `inputShape`. */
  batchSize?: number;
  /** 'f32' or Keras's 'float32' (any spelling parseDType accepts). */
  dtype?: DTypeLike;
}

/** The base config every layer's getConfig() contains. */
export interface LayerConfig {
  name: string;
  trainable: boolean;
  dtype: DType;
  batchInputShape?: (number | null)[];
}

export interface CallArgs {
  training?: boolean;
  /** The training step counter (i32 scalar), which keys training-mode randomness (Dropout masks). */
  step?: Tensor;
  /**
   * Keras's mask: which time steps of the input are real (`[batch, time]`, bool), one per input
   * for list inputs. `apply` fills it from the masks its inputs carry (see `getMask`).
   */
  mask?: LayerMask;
}

/** A mask per input (null where an input has none), or one mask for a single input. */
export type LayerMask = Tensor | null | (Tensor | null)[];

/**
 * Masks travel with the tensors they describe, as Keras's `_keras_mask`: `apply` attaches each
 * output's mask (from `computeMask`) and reads its inputs' masks, so Sequential and Functional
 * models and plain layer calls propagate them alike.
 */
const tensorMasks = new WeakMap<Tensor, Tensor>();

/** The mask a layer attached to `t` (`[batch, time]` bool), if any. */
export function getMask(t: Tensor): Tensor | undefined {
  return tensorMasks.get(t);
}

/** Attach a mask to `t` (what `apply` does with `computeMask`'s result). */
export function setMask(t: Tensor, mask: Tensor | null | undefined): void {
  if (mask) tensorMasks.set(t, mask);
}

export interface SerializedLayer {
  className: string;
  config: LayerConfig;
}

/** A weight's regularizer or constraint, as the training step reads them. */
export interface WeightPenalty {
  readonly variable: Variable;
  readonly regularizer: Regularizer;
}
export interface WeightConstraint {
  readonly variable: Variable;
  readonly constraint: Constraint;
}

/** Activity-regularizer penalties collected while `collectActivityPenalties` runs its function. */
let activityPenalties: Tensor[] | undefined;

/**
 * The call arguments of the layer whose `call` is running. A layer applied inside it without
 * `training` or `step` inherits them (Keras's call context), so a subclassed model's call that
 * applies `this.dropout.apply(x)` trains in training mode with the step's dropout key.
 */
let callContext: CallArgs | undefined;

/** `args` with `training` and `step` taken from the running call when not given. */
export function inheritCallArgs(args: CallArgs): CallArgs {
  const out: CallArgs = { ...args };
  const training = args.training ?? callContext?.training;
  const step = args.step ?? callContext?.step;
  if (training !== undefined) out.training = training;
  else delete out.training;
  if (step !== undefined) out.step = step;
  else delete out.step;
  return out;
}

/** Run `f` (a call) with `args` as the call context its sublayers inherit from. */
export function withCallContext<T>(args: CallArgs, f: () => T): T {
  const outer = callContext;
  callContext = inheritCallArgs(args);
  try {
    return f();
  } finally {
    callContext = outer;
  }
}

/**
 * Run `f` (a training forward pass) and return, beside its result, the penalties of every
 * activity regularizer on the outputs of the layers applied to Tensors meanwhile.
 */
export function collectActivityPenalties<T>(f: () => T): { result: T; penalties: Tensor[] } {
  const outer = activityPenalties;
  const penalties: Tensor[] = [];
  activityPenalties = penalties;
  try {
    return { result: f(), penalties };
  } finally {
    activityPenalties = outer;
  }
}

const nameCounts = new Map<string, number>();

/** `dense`, then `dense_1`, `dense_2`... per prefix, as Keras names layers. */
export function uniqueLayerName(prefix: string): string {
  const n = nameCounts.get(prefix) ?? 0;
  nameCounts.set(prefix, n + 1);
  return n === 0 ? prefix : `${prefix}_${n}`;
}

/** Forget the layer-name counters (Keras's clear_session for names). */
export function resetLayerNames(): void {
  nameCounts.clear();
}

/** Keras's to_snake_case: Conv2D -> conv2d, MaxPooling2D -> max_pooling2d, ReLU -> re_lu. */
export function toSnakeCase(className: string): string {
  return className
    .replace(/(.)([A-Z][a-z]+)/g, '$1_$2')
    .replace(/([a-z])([A-Z])/g, '$1_$2')
    .toLowerCase();
}

/** While set, addWeight allocates zeros and records its initializer (a model being loaded). */
let deferredInits: { variable: Variable; init: ReturnType<typeof getInitializer>; shape: number[] }[] | undefined;

/**
 * Build layers without running their initializers (weights start as zeros): loading a model
 * overwrites them, and generating random values for tens of millions of weights is most of a
 * load's time. `initialize(skip)` then runs the initializers of every weight not in `skip`.
 */
export function withDeferredInitializers<T>(build: () => T): { result: T; initialize(skip: ReadonlySet<Variable>): void } {
  const prev = deferredInits;
  const list: NonNullable<typeof deferredInits> = [];
  deferredInits = list;
  try {
    const result = build();
    return {
      result,
      initialize: (skip) => {
        for (const d of list) if (!skip.has(d.variable)) d.variable.assign(tensorFromData(d.init.generate(d.shape), d.shape));
      },
    };
  } finally {
    deferredInits = prev;
  }
}

let nextLayerId = 0;

/** The `call` methods of Kiln's own layer classes: AutoGraph never converts them. */
const kilnCalls = new WeakSet<object>();

/** Kiln's own source folder (src/ or dist/): the layer classes registered from it are Kiln's. */
const KILN_ROOT = new URL('../../', import.meta.url).pathname;

/**
 * Whether registerLayer was called from one of Kiln's own modules (a layer file registering its
 * class at load), read from the caller's stack frame; test files do not count.
 */
function registeredByKiln(): boolean {
  const caller = (new Error().stack ?? '').split('\n')[3] ?? '';
  return caller.includes(KILN_ROOT) && !/\.test\.[cm]?[jt]s/.test(caller);
}

export abstract class Layer {
  /** The Keras class name, used in configs and messages. Every subclass sets it. */
  static className = 'Layer';
  /**
   * AutoGraph for `call` when it runs under a trace (docs/autograph.md). Unset (the default), a
   * user's class has its `call` converted when it has control flow; `false` turns that off;
   * `true` or `{scope: {kiln, ...}}` (naming the module imports and other free variables `call`
   * reads, which JavaScript does not expose to the rewritten source) make it strict. Kiln's own
   * layers are never converted.
   */
  static autograph?: AutographSetting;

  readonly id = nextLayerId++;
  readonly name: string;
  trainable: boolean;
  readonly dtype: DType;
  built = false;
  /** Set when the layer was given an input shape: a Sequential model's first layer uses it. */
  batchInputShape?: KerasShape;
  /** Graph nodes where this layer was applied to symbolic inputs. */
  readonly inboundNodes: Node[] = [];
  protected readonly ownTrainable: Variable[] = [];
  protected readonly ownNonTrainable: Variable[] = [];
  /** Weight regularizers (penalties added to the training loss), in weight-creation order. */
  readonly weightPenalties: WeightPenalty[] = [];
  /** Weight constraints (projections applied after each optimizer update). */
  readonly weightConstraints: WeightConstraint[] = [];
  /** Penalty on the layer's output, added to the training loss (Keras 3: not divided by batch). */
  activityRegularizer?: Regularizer;
  /**
   * The prefix of this layer's weight names when not its own name: a wrapper (TimeDistributed,
   * Bidirectional) builds its inner layer in its own scope, as tfjs-layers names them.
   */
  weightScope?: string;
  /** Whether an input mask passes through this layer unchanged (Keras's supports_masking). */
  supportsMasking = false;

  constructor(args: LayerArgs = {}) {
    args ??= {};
    this.name = args.name ?? uniqueLayerName(toSnakeCase(this.className));
    this.trainable = args.trainable ?? true;
    this.dtype = args.dtype === undefined ? 'f32' : parseDType(args.dtype, `${this.className} '${this.name}': dtype`);
    if (args.batchInputShape) this.batchInputShape = [...args.batchInputShape];
    else if (args.inputShape) this.batchInputShape = [args.batchSize ?? null, ...args.inputShape];
    markEngineKeys(this); // the base's own fields are bookkeeping, not tracked sublayers or weights
  }

  get className(): string {
    const ctor = this.constructor as typeof Layer;
    // A user's subclass of Layer or Model without its own static className goes by its class name (as in Keras).
    if ((ctor.className === 'Layer' || ctor.className === 'Model') && !Object.prototype.hasOwnProperty.call(ctor, 'className') && ctor.name) return ctor.name;
    return ctor.className;
  }

  /** `Dense 'dense_1'`: how messages name this layer. */
  get label(): string {
    return `${this.className} '${this.name}'`;
  }

  /** Create the weights for inputs of this shape. The base version only marks the layer built. */
  build(_inputShape: KerasShape | KerasShape[]): void {
    this.built = true;
  }

  /** The layer's computation on frontend Tensors (concrete or traced). */
  abstract call(inputs: Tensor | Tensor[], args: CallArgs): Tensor | Tensor[];

  /**
   * `call`, converted by AutoGraph when a trace is open, unless `call` is one of Kiln's own
   * layers' or the class sets `static autograph = false`.
   */
  callConverted(inputs: Tensor | Tensor[], args: CallArgs): Tensor | Tensor[] {
    const call = this.call;
    if (kilnCalls.has(call)) return call.call(this, inputs, args);
    const setting = (this.constructor as { autograph?: AutographSetting }).autograph;
    return autographMethod(call, setting, this.label).call(this, inputs, args);
  }

  /**
   * The mask of the outputs for these inputs and input mask (Keras's compute_mask). The default
   * passes the mask through when `supportsMasking`, and drops it otherwise.
   */
  computeMask(_inputs: Tensor | Tensor[], mask: LayerMask): LayerMask {
    if (!this.supportsMasking) return null;
    return Array.isArray(mask) ? (mask[0] ?? null) : mask;
  }

  /** Output shape for an input shape; also validates the input (throws naming the layer). */
  computeOutputShape(inputShape: KerasShape | KerasShape[]): KerasShape | KerasShape[] {
    return inputShape;
  }

  /**
   * Check an input shape before build/call. The default accepts anything; layers override it
   * to reject a wrong rank or size with a message that names the layer.
   */
  protected checkInputShape(_shape: KerasShape | KerasShape[], _dtype: DType | DType[]): void {}

  /** Throw a KilnError prefixed with this layer's class and name. */
  protected fail(msg: string): never {
    throw new KilnError(`${this.label}: ${msg}`);
  }

  getConfig(): LayerConfig {
    const config: LayerConfig = { name: this.name, trainable: this.trainable, dtype: this.dtype };
    if (this.batchInputShape) config.batchInputShape = [...this.batchInputShape];
    return config;
  }

  /** `{className, config}`: what deserializeLayer() turns back into an equal layer. */
  serialize(): SerializedLayer {
    return { className: this.className, config: this.getConfig() };
  }

  // ---- weights ------------------------------------------------------------------------------

  /** Create a weight named `<layer>/<name>` and register it as trainable or not. */
  protected addWeight(
    name: string, shape: readonly number[], initializer: InitializerLike, trainable = true,
    extras: { regularizer?: Regularizer; constraint?: Constraint } = {},
  ): Variable {
    const init = getInitializer(initializer);
    const data = deferredInits ? new Float32Array(shape.reduce((a, b) => a * b, 1)) : init.generate(shape);
    const v = variable(tensorFromData(data, shape), { name: `${this.weightScope ?? this.name}/${name}`, trainable: trainable && this.trainable });
    deferredInits?.push({ variable: v, init, shape: [...shape] });
    (trainable ? this.ownTrainable : this.ownNonTrainable).push(v);
    if (extras.regularizer) this.weightPenalties.push({ variable: v, regularizer: extras.regularizer });
    if (extras.constraint) this.weightConstraints.push({ variable: v, constraint: extras.constraint });
    return v;
  }

  /**
   * The layer's own weights (addWeight, Variables assigned to its properties), then those of the
   * sublayers it holds in its properties, in assignment order (subclass.ts: Keras's tracking).
   */
  get trainableWeights(): Variable[] {
    if (!this.trainable) return [];
    const t = tracked(this);
    return uniqueVariables([...this.ownTrainable, ...this.assignedVariables(t).filter((v) => v.trainable), ...t.layers.flatMap((x) => x.layer.trainableWeights)]);
  }
  get nonTrainableWeights(): Variable[] {
    const t = tracked(this);
    const vars = this.assignedVariables(t);
    if (!this.trainable) return uniqueVariables([...this.ownTrainable, ...this.ownNonTrainable, ...vars, ...t.layers.flatMap((x) => x.layer.weights)]);
    return uniqueVariables([...this.ownNonTrainable, ...vars.filter((v) => !v.trainable), ...t.layers.flatMap((x) => x.layer.nonTrainableWeights)]);
  }
  /** The weights this layer created itself with addWeight (trainable ones first), without sublayers'. */
  ownWeights(): Variable[] {
    return [...this.ownTrainable, ...this.ownNonTrainable];
  }
  /** Variables assigned to the layer's properties that addWeight did not create (those keep their list). */
  private assignedVariables(t: ReturnType<typeof tracked>): Variable[] {
    const own = new Set(this.ownWeights());
    return t.variables.map((x) => x.variable).filter((v) => !own.has(v));
  }
  /** Trainable weights first, then non-trainable, as Keras and tfjs-layers order them. */
  get weights(): Variable[] {
    return [...this.trainableWeights, ...this.nonTrainableWeights];
  }

  countParams(): number {
    if (!this.built) this.fail('countParams() needs a built layer: call it on an input or give the model an inputShape first');
    return this.weights.reduce((n, w) => n + w.value.shape.reduce((a, b) => a * b, 1), 0);
  }

  /** Current weight values, in `weights` order. */
  getWeights(): Tensor[] {
    return this.weights.map((w) => w.value);
  }

  /** Replace weight values, checking count and shapes, naming the layer and weight on a mismatch. */
  setWeights(values: readonly Tensor[]): void {
    const ws = this.weights;
    if (values.length !== ws.length) {
      throw new KilnError(`setWeights: ${this.label} has ${ws.length} weights (${ws.map((w) => w.name).join(', ') || 'none'}), got ${values.length}`);
    }
    assignWeights(ws, values);
  }

  // ---- application --------------------------------------------------------------------------

  /** Apply the layer: on KerasTensors it records a graph node, on Tensors it computes. */
  apply(inputs: KerasTensor, args?: CallArgs): KerasTensor;
  apply(inputs: KerasTensor[], args?: CallArgs): KerasTensor | KerasTensor[];
  apply(inputs: Tensor, args?: CallArgs): Tensor;
  apply(inputs: Tensor[], args?: CallArgs): Tensor | Tensor[];
  apply(inputs: KerasTensor | KerasTensor[], args?: CallArgs): KerasTensor | KerasTensor[];
  apply(inputs: Tensor | Tensor[], args?: CallArgs): Tensor | Tensor[];
  apply(inputs: KerasTensor | KerasTensor[] | Tensor | Tensor[], args: CallArgs = {}): KerasTensor | KerasTensor[] | Tensor | Tensor[] {
    const list = (Array.isArray(inputs) ? inputs : [inputs]) as readonly (KerasTensor | Tensor)[];
    const symbolic = list.filter(isKerasTensor).length;
    if (symbolic !== 0 && symbolic !== list.length) {
      this.fail('inputs mix symbolic KerasTensors (from kiln.input) and concrete Tensors; use one kind');
    }
    const shapes = list.map((t) => [...t.shape] as KerasShape);
    const dtypes = list.map((t) => t.dtype);
    const shapeArg = Array.isArray(inputs) ? shapes : shapes[0]!;
    const dtypeArg = Array.isArray(inputs) ? dtypes : dtypes[0]!;
    this.checkInputShape(shapeArg, dtypeArg);
    if (!this.built) this.build(shapeArg);
    this.built = true;
    if (symbolic) return this.applySymbolic(list as KerasTensor[], shapeArg, Array.isArray(inputs), this.recordedCallArgs(args));
    const tensors = list as readonly Tensor[];
    let mask: LayerMask = args.mask !== undefined ? args.mask : null;
    if (args.mask === undefined) {
      const masks = tensors.map((t) => tensorMasks.get(t) ?? null);
      if (masks.some((m) => m)) mask = Array.isArray(inputs) ? masks : masks[0]!;
    }
    const callArgs = inheritCallArgs({ ...args, mask });
    const out = withCallContext(callArgs, () => this.callConverted(inputs as Tensor | Tensor[], callArgs));
    const outMask = this.computeMask(inputs as Tensor | Tensor[], mask);
    if (outMask) {
      const outs = Array.isArray(out) ? out : [out];
      outs.forEach((o, i) => setMask(o, Array.isArray(outMask) ? outMask[i] : outMask));
    }
    if (this.activityRegularizer && activityPenalties) {
      for (const o of Array.isArray(out) ? out : [out]) activityPenalties.push(this.activityRegularizer.apply(o));
    }
    return out;
  }

  /**
   * The call options (beside training, step and mask) this layer records on a symbolic node, so
   * a functional model replays and saves them. None by default; layers with Keras call kwargs
   * (MultiHeadAttention's useCausalMask) override it and refuse the ones they cannot record.
   */
  protected recordedCallArgs(_args: CallArgs): Record<string, CallOption> | undefined {
    return undefined;
  }

  private applySymbolic(inputs: KerasTensor[], shapeArg: KerasShape | KerasShape[], asList: boolean, callArgs?: Record<string, CallOption>): KerasTensor | KerasTensor[] {
    const out = this.computeOutputShape(shapeArg);
    const outShapes = isShapeList(out) ? out : [out];
    const nodeIndex = this.inboundNodes.length;
    const node = new Node(this, inputs, [], asList, callArgs);
    const tensors = outShapes.map((s, i) => new KerasTensor(s, this.outputDtype(inputs), this, nodeIndex, i, `${this.name}/out${outShapes.length > 1 ? i : ''}`));
    node.outputTensors = tensors;
    this.inboundNodes.push(node);
    return isShapeList(out) ? tensors : tensors[0]!;
  }

  /** Dtype of the outputs; float layers produce their own dtype. */
  protected outputDtype(_inputs: readonly KerasTensor[]): DType {
    return this.dtype;
  }

  /** Shape check helper for single-input layers: one shape of the given rank. */
  protected singleShape(shape: KerasShape | KerasShape[], rank?: number, what = 'input'): KerasShape {
    if (isShapeList(shape)) {
      if (shape.length !== 1) this.fail(`expects one ${what}, got ${shape.length}`);
      shape = shape[0]!;
    }
    if (rank !== undefined && shape.length !== rank) {
      this.fail(`expected ${what} of rank ${rank}, got ${shapeToString(shape)}`);
    }
    return shape;
  }
}

/** A list of shapes (as opposed to one shape). */
export function isShapeList(s: KerasShape | KerasShape[] | readonly KerasShape[]): s is KerasShape[] {
  return s.length > 0 && Array.isArray(s[0]);
}

/** Assign values to variables after checking every shape; nothing changes when one is wrong. */
export function assignWeights(ws: readonly Variable[], values: readonly Tensor[]): void {
  ws.forEach((w, i) => {
    const v = values[i]!;
    const want = w.value.shape;
    if (v.shape.length !== want.length || v.shape.some((d, k) => d !== want[k])) {
      throw new KilnError(`setWeights: weight ${i} '${w.name}' has shape [${want.join(',')}], got [${v.shape.join(',')}]`);
    }
  });
  ws.forEach((w, i) => w.assign(tensorFromData(tensorToFloat32(values[i]!), values[i]!.shape)));
}

// ---- class registry (deserialization) ----------------------------------------------------------

export interface LayerClass {
  readonly className: string;
  /** Rebuild from getConfig(); every registered class defines it (models rebuild their graph). */
  fromConfig(config: never): Layer;
}

const layerClasses = new Map<string, LayerClass>();

/** A Layer subclass whose constructor takes its config (tfjs custom layers are written this way). */
export type LayerConstructor = abstract new (config: never) => Layer;
/** A function that builds a layer from its (camelCase) config. */
export type LayerFactory = (config: Record<string, unknown> & { name?: string }) => Layer;

/**
 * Register a layer class for deserialization (loading models, fromConfig), the counterpart of
 * tfjs's `serialization.registerClass`:
 * - `registerLayer(cls)`: a class with a static `className` and `fromConfig`;
 * - `registerLayer('MyLayer', cls)`: a Layer subclass, built with its static `fromConfig` when it
 *   defines one, else with `new cls(config)`;
 * - `registerLayer('MyLayer', (config) => layer)`: a factory.
 */
export function registerLayer(cls: LayerClass): void;
export function registerLayer(className: string, classOrFactory: LayerClass | LayerConstructor | LayerFactory): void;
export function registerLayer(a: LayerClass | string, b?: LayerClass | LayerConstructor | LayerFactory): void {
  if (typeof a !== 'string') {
    if (!a || typeof a.className !== 'string' || typeof a.fromConfig !== 'function') {
      throw new KilnError(`registerLayer: expects a layer class with a static className and fromConfig, or (className, classOrFactory); got ${String(a)}`);
    }
    layerClasses.set(a.className, a);
    const call = (a as { prototype?: { call?: unknown } }).prototype?.call;
    if (typeof call === 'function' && registeredByKiln()) kilnCalls.add(call);
    return;
  }
  if (a === '') throw new KilnError('registerLayer: the class name must be a non-empty string');
  if (typeof b !== 'function') throw new KilnError(`registerLayer('${a}', ...): expects a Layer subclass or a factory (config) => Layer, got ${b === null ? 'null' : typeof b}`);
  const isClass = b.prototype instanceof Layer;
  const own = (b as unknown as { fromConfig?: unknown }).fromConfig;
  const build = (config: object): Layer => {
    const layer = isClass
      ? typeof own === 'function' && own !== (Layer as unknown as { fromConfig?: unknown }).fromConfig
        ? (own as (c: object) => Layer).call(b, config)
        : new (b as unknown as new (c: object) => Layer)(config)
      : (b as LayerFactory)(config as Record<string, unknown>);
    if (!(layer instanceof Layer)) throw new KilnError(`registerLayer('${a}'): the factory returned ${String(layer)}, not a kiln Layer`);
    // A model's first layer carries the input shape in its config; custom constructors often drop it.
    const shape = (config as { batchInputShape?: KerasShape }).batchInputShape;
    if (layer.batchInputShape === undefined && Array.isArray(shape)) layer.batchInputShape = [...shape];
    return layer;
  };
  layerClasses.set(a, { className: a, fromConfig: build as (config: never) => Layer });
}

export function getLayerClass(className: string, where?: string): LayerClass {
  const cls = layerClasses.get(className);
  if (!cls) {
    throw new KilnError(
      `unknown layer class '${className}'${where ? ` in ${where}` : ''}: register it with kiln.registerLayer('${className}', ClassOrFactory) before loading ` +
        `(known: ${[...layerClasses.keys()].sort().join(', ')})`,
    );
  }
  return cls;
}

/** Build a layer (or model) from `{className, config}` as produced by `layer.serialize()`. */
export function deserializeLayer(s: { className: string; config: object }): Layer {
  const name = (s.config as { name?: unknown } | undefined)?.name;
  const cls = getLayerClass(s.className, typeof name === 'string' ? `layer '${name}'` : undefined) as unknown as { fromConfig(config: object): Layer };
  return cls.fromConfig(s.config);
}
