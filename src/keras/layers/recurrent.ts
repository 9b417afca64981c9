/**
 * What every recurrent layer shares: the cell base class, the arguments and config fields of the
 * built-in cells (SimpleRNNCell, LSTMCell, GRUCell), and `runRecurrence`, the one place the loop
 * over time is written.
 *
 * A cell maps `[x_t, ...states]` to `[output, ...newStates]`. Cells that start with an input
 * projection (`x_t · kernel + bias`) expose it as `projectInputs`, so the RNN computes it for the
 * whole sequence in one matmul before the loop (the step then only holds the recurrent matmul);
 * the cell's own `call` does projection + step for one time step, so both paths compute the same
 * function.
 *
 * `runRecurrence` is the one switch between the two ways to run the loop: unrolled at trace time
 * (one copy of the step per time step; autodiff, fusion and memory planning see plain ops, as
 * tfjs-layers unrolls) or as one `kiln.scan` region (the step traced once, the program loops).
 * `recurrenceLoop` picks the default; a layer's `unroll: true` always unrolls, as in Keras.
 */
import { activationName, getActivation, type ActivationIdentifier, type ActivationName } from '../activations.js';
import { ops, type Tensor, type Variable } from '../backend.js';
import { getConstraint, serializeConstraint, type Constraint, type ConstraintLike, type SerializedConstraint } from '../constraints.js';
import { getInitializer, serializeInitializer, type Initializer, type InitializerLike, type SerializedInitializer } from '../initializers.js';
import { getRegularizer, serializeRegularizer, type Regularizer, type RegularizerLike, type SerializedRegularizer } from '../regularizers.js';
import { Layer, type CallArgs, type LayerArgs, type LayerConfig } from '../engine/layer.js';
import { shapeToString, type KerasShape } from '../engine/keras_tensor.js';
import { checkLayerArgs } from './args.js';
import { scan } from '../../frontend/control_flow.js';
import { activeTrace } from '../../frontend/context.js';

/** How a traced recurrence runs by default: 'unroll' or 'scan' (see the file comment). */
export const recurrenceLoop: { mode: 'unroll' | 'scan' } = { mode: 'unroll' };

// ---- the loop over time --------------------------------------------------------------------------

/** One step: the step's input (`[batch, ...]`) and states to `[output, newStates]`. */
export type StepFunction = (x: Tensor, states: Tensor[]) => [Tensor, Tensor[]];

export interface RecurrenceOptions {
  /** Iterate from the last time step to the first; per-step outputs are then in reverse order, as Keras returns them. */
  goBackwards?: boolean;
  /** `[batch, time]` (bool or numeric, nonzero = keep): a masked step keeps the previous output and states. */
  mask?: Tensor | null;
  /** Whether the stacked per-step outputs `[batch, time, ...]` are needed. */
  needSequences?: boolean;
  /** Unroll even where the default is a scan (Keras's `unroll: true`). */
  unroll?: boolean;
  /**
   * A per-time-step map applied to the whole sequence at once after it is made time-major
   * (`[time, batch, ...]` in, `[time, batch, ...]` out): a cell's input projection. Projected
   * time-major, each step's slice is a contiguous block of the projection (no strided per-step
   * copies), and the per-step cotangents stack into its gradient the same way.
   */
  project?: (timeMajor: Tensor) => Tensor;
}

export interface RecurrenceResult {
  lastOutput: Tensor;
  /** `[batch, time, ...]`, present when `needSequences`. */
  outputs?: Tensor;
  states: Tensor[];
}

/**
 * Run `step` along axis 1 of `inputs` (`[batch, time, ...]`), starting from `initialStates`,
 * with Keras's semantics for `goBackwards` and masks (tfjs-layers' `rnn()`): a masked time step
 * passes the previous output and states through unchanged.
 */
/** Whether runRecurrence will build a scan (rather than unroll) for a layer with this `unroll`. */
export function willScan(unroll = false): boolean {
  return !unroll && recurrenceLoop.mode === 'scan' && activeTrace() !== undefined;
}

export function runRecurrence(step: StepFunction, inputs: Tensor, initialStates: Tensor[], opts: RecurrenceOptions = {}): RecurrenceResult {
  if (willScan(opts.unroll)) return scannedRecurrence(step, inputs, initialStates, opts);
  const timeSteps = inputs.shape[1]!;
  // Time-major first (then projected), so each step's slice is contiguous.
  let xs = ops.unstack(timeMajor(inputs, opts.project), 0);
  let masks: Tensor[] | undefined;
  if (opts.mask) {
    const m = opts.mask.dtype === 'bool' ? opts.mask : ops.notEqual(opts.mask, 0);
    const m2 = m.rank === 3 ? ops.reshape(m, [m.shape[0]!, m.shape[1]!]) : m;
    masks = ops.unstack(ops.transpose(m2, [1, 0]), 0).map((t) => ops.reshape(t, [t.shape[0]!, 1]));
  }
  if (opts.goBackwards) {
    xs = xs.reverse();
    masks = masks?.reverse();
  }
  let states = initialStates;
  let lastOutput: Tensor | undefined;
  const outputs: Tensor[] = [];
  for (let t = 0; t < timeSteps; t++) {
    const [out, next] = step(xs[t]!, states);
    if (masks) {
      const keep = masks[t]!;
      // Before the first step the previous output is the first state (Keras: states[0]).
      const prev = lastOutput ?? states[0]!;
      lastOutput = ops.where(keep, out, prev);
      states = next.map((s, i) => ops.where(keep, s, states[i]!));
    } else {
      lastOutput = out;
      states = next;
    }
    if (opts.needSequences) outputs.push(lastOutput);
  }
  if (!lastOutput) throw new Error('runRecurrence: a sequence of zero time steps');
  return { lastOutput, outputs: opts.needSequences ? stackSteps(outputs) : undefined, states };
}

/**
 * Per-step outputs `[batch, ...]` as `[batch, time, ...]`: stacked time-major, then transposed, so
 * the gradient (the transpose's) is made time-major once and each step's slice of it is a
 * contiguous block (a batch-major stack's step is a strided slice, copied per step).
 */
function stackSteps(outputs: readonly Tensor[]): Tensor {
  const first = outputs[0]!;
  if (first.shape[0] === 1 || outputs.length === 1) return ops.stack([...outputs], 1);
  return ops.transpose(ops.stack([...outputs], 0), [1, 0, ...first.shape.slice(1).map((_, i) => i + 2)]);
}

/** `[batch, time, ...]` -> `[time, batch, ...]`, then `project` (if any). */
function timeMajor(inputs: Tensor, project?: (x: Tensor) => Tensor): Tensor {
  const [b, t] = inputs.shape as [number, number];
  const rest = inputs.shape.slice(2);
  const tm = t === 1 || b === 1 ? ops.reshape(inputs, [t, b, ...rest]) : ops.transpose(inputs, [1, 0, ...rest.map((_, i) => i + 2)]);
  return project ? project(tm) : tm;
}

/** `runRecurrence` as one `kiln.scan` over time-major inputs; the carry is [last output, ...states]. */
function scannedRecurrence(step: StepFunction, inputs: Tensor, initialStates: Tensor[], opts: RecurrenceOptions): RecurrenceResult {
  const timeSteps = inputs.shape[1]!;
  const xs = [timeMajor(inputs, opts.project)];
  if (opts.mask) {
    const m = opts.mask.dtype === 'bool' ? opts.mask : ops.notEqual(opts.mask, 0);
    const m2 = m.rank === 3 ? ops.reshape(m, [m.shape[0]!, m.shape[1]!]) : m;
    xs.push(ops.reshape(ops.transpose(m2, [1, 0]), [timeSteps, m2.shape[0]!, 1]));
  }
  const masked = opts.mask != null;
  const [final, ys] = scan((carry, x) => {
    const [prev, ...states] = carry as [Tensor, ...Tensor[]];
    let [out, next] = step(x[0]!, states);
    if (masked) {
      const keep = x[1]!;
      out = ops.where(keep, out, prev);
      next = next.map((s, i) => ops.where(keep, s, states[i]!));
    }
    return [[out, ...next], opts.needSequences ? [out] : []];
  }, [initialStates[0]!, ...initialStates], xs, { reverse: opts.goBackwards ?? false });
  let outputs: Tensor | undefined;
  if (opts.needSequences) {
    // scan stacks outputs in input order; Keras returns a backward layer's outputs in step order.
    let seq = ys[0]!;
    if (opts.goBackwards) seq = ops.gather(seq, Array.from({ length: timeSteps }, (_, t) => timeSteps - 1 - t), 0);
    outputs = ops.transpose(seq, [1, 0, ...seq.shape.slice(2).map((_, i) => i + 2)]);
  }
  return { lastOutput: final[0]!, outputs, states: final.slice(1) };
}

// ---- cells -----------------------------------------------------------------------------------------

/** A recurrent cell: one time step. `stateSize[0]` is the output size. */
export abstract class RNNCell extends Layer {
  abstract get stateSize(): number[];

  /**
   * The part of the step that depends on the input only, for the whole sequence at once
   * (`[batch, time, features]` -> `[batch, time, k]`); undefined when the cell has none.
   */
  projectInputs?(x: Tensor): Tensor;
  /** The step from the projected input (`projectInputs` of one time step) and the states. */
  stepProjected?(xp: Tensor, states: Tensor[], args: CallArgs): Tensor[];

  /** `[x, ...states]` -> `[output, ...newStates]`. */
  override call(inputs: Tensor | Tensor[], args: CallArgs): Tensor[] {
    const list = Array.isArray(inputs) ? inputs : [inputs];
    const n = this.stateSize.length + 1;
    if (list.length !== n) this.fail(`expects ${n} inputs [x, ${this.stateSize.map((_, i) => `state${i}`).join(', ')}], got ${list.length}`);
    const [x, ...states] = list as [Tensor, ...Tensor[]];
    if (!this.projectInputs || !this.stepProjected) this.fail('a cell must implement call or projectInputs + stepProjected');
    const xp = ops.reshape(this.projectInputs(ops.expandDims(x, 1)), [x.shape[0]!, -1]);
    return this.stepProjected(xp, states, args);
  }

  override computeOutputShape(inputShape: KerasShape | KerasShape[]): KerasShape[] {
    const s = Array.isArray(inputShape[0]) ? (inputShape[0] as KerasShape) : (inputShape as KerasShape);
    return [[s[0] ?? null, this.stateSize[0]!], ...this.stateSize.map((d) => [s[0] ?? null, d])];
  }
}

/** The arguments of SimpleRNNCell, LSTMCell and GRUCell (and of the layers built on them). */
export interface CellArgs extends LayerArgs {
  units: number;
  activation?: ActivationIdentifier | null;
  useBias?: boolean;
  kernelInitializer?: InitializerLike;
  recurrentInitializer?: InitializerLike;
  biasInitializer?: InitializerLike;
  kernelRegularizer?: RegularizerLike | null;
  recurrentRegularizer?: RegularizerLike | null;
  biasRegularizer?: RegularizerLike | null;
  kernelConstraint?: ConstraintLike | null;
  recurrentConstraint?: ConstraintLike | null;
  biasConstraint?: ConstraintLike | null;
  /** Input dropout rate (training only; one mask per call shared by all time steps, as Keras). */
  dropout?: number;
  recurrentDropout?: number;
}

export const CELL_ARGS = [
  'units', 'activation', 'useBias', 'kernelInitializer', 'recurrentInitializer', 'biasInitializer', 'kernelRegularizer',
  'recurrentRegularizer', 'biasRegularizer', 'kernelConstraint', 'recurrentConstraint', 'biasConstraint', 'dropout', 'recurrentDropout',
] as const satisfies readonly (keyof CellArgs)[];

export interface CellConfig extends LayerConfig {
  units: number;
  activation: ActivationName;
  useBias: boolean;
  kernelInitializer: SerializedInitializer;
  recurrentInitializer: SerializedInitializer;
  biasInitializer: SerializedInitializer;
  kernelRegularizer: SerializedRegularizer | null;
  recurrentRegularizer: SerializedRegularizer | null;
  biasRegularizer: SerializedRegularizer | null;
  activityRegularizer: SerializedRegularizer | null;
  kernelConstraint: SerializedConstraint | null;
  recurrentConstraint: SerializedConstraint | null;
  biasConstraint: SerializedConstraint | null;
  dropout: number;
  recurrentDropout: number;
}

/** Parsed cell arguments (defaults are tfjs-layers'). */
export class CellSettings {
  readonly units: number;
  readonly activation: ActivationName;
  readonly useBias: boolean;
  readonly kernelInitializer: Initializer;
  readonly recurrentInitializer: Initializer;
  readonly biasInitializer: Initializer;
  readonly kernelRegularizer?: Regularizer;
  readonly recurrentRegularizer?: Regularizer;
  readonly biasRegularizer?: Regularizer;
  readonly kernelConstraint?: Constraint;
  readonly recurrentConstraint?: Constraint;
  readonly biasConstraint?: Constraint;
  readonly dropout: number;
  readonly recurrentDropout: number;

  constructor(who: string, args: CellArgs, fail: (msg: string) => never) {
    if (!Number.isInteger(args.units) || args.units <= 0) fail(`units must be a positive integer, got ${JSON.stringify(args.units)}`);
    this.units = args.units;
    this.activation = activationName(args.activation === undefined ? 'tanh' : args.activation, who);
    this.useBias = args.useBias ?? true;
    this.kernelInitializer = getInitializer(args.kernelInitializer ?? 'glorotNormal', `${who}: kernelInitializer`);
    this.recurrentInitializer = getInitializer(args.recurrentInitializer ?? 'orthogonal', `${who}: recurrentInitializer`);
    this.biasInitializer = getInitializer(args.biasInitializer ?? 'zeros', `${who}: biasInitializer`);
    this.kernelRegularizer = getRegularizer(args.kernelRegularizer, `${who}: kernelRegularizer`);
    this.recurrentRegularizer = getRegularizer(args.recurrentRegularizer, `${who}: recurrentRegularizer`);
    this.biasRegularizer = getRegularizer(args.biasRegularizer, `${who}: biasRegularizer`);
    this.kernelConstraint = getConstraint(args.kernelConstraint, `${who}: kernelConstraint`);
    this.recurrentConstraint = getConstraint(args.recurrentConstraint, `${who}: recurrentConstraint`);
    this.biasConstraint = getConstraint(args.biasConstraint, `${who}: biasConstraint`);
    const rate = (name: string, v: number | undefined): number => {
      if (v === undefined || v === null) return 0;
      if (typeof v !== 'number' || !(v >= 0 && v <= 1)) fail(`${name} must be a number in [0, 1], got ${JSON.stringify(v)}`);
      return v;
    };
    this.dropout = rate('dropout', args.dropout);
    this.recurrentDropout = rate('recurrentDropout', args.recurrentDropout);
  }

  config(activityRegularizer: Regularizer | undefined): Omit<CellConfig, keyof LayerConfig> {
    return {
      units: this.units,
      activation: this.activation,
      useBias: this.useBias,
      kernelInitializer: serializeInitializer(this.kernelInitializer),
      recurrentInitializer: serializeInitializer(this.recurrentInitializer),
      biasInitializer: serializeInitializer(this.biasInitializer),
      kernelRegularizer: serializeRegularizer(this.kernelRegularizer),
      recurrentRegularizer: serializeRegularizer(this.recurrentRegularizer),
      biasRegularizer: serializeRegularizer(this.biasRegularizer),
      activityRegularizer: serializeRegularizer(activityRegularizer),
      kernelConstraint: serializeConstraint(this.kernelConstraint),
      recurrentConstraint: serializeConstraint(this.recurrentConstraint),
      biasConstraint: serializeConstraint(this.biasConstraint),
      dropout: this.dropout,
      recurrentDropout: this.recurrentDropout,
    };
  }
}

/**
 * The base of the built-in cells: kernel `[inputDim, gates * units]`, recurrent kernel
 * `[units, gates * units]`, bias `[gates * units]` (a cell may shape its bias differently).
 */
export abstract class GatedCell extends RNNCell {
  readonly settings: CellSettings;
  kernel?: Variable;
  recurrentKernel?: Variable;
  bias?: Variable;
  /** Gates per unit: 1 (SimpleRNN), 3 (GRU), 4 (LSTM). */
  protected abstract readonly gates: number;

  constructor(args: CellArgs, known: readonly string[]) {
    super(args);
    checkLayerArgs(this.label, args, { known: [...CELL_ARGS, 'activityRegularizer', ...known], required: ['units'] });
    const activity = (args as { activityRegularizer?: unknown }).activityRegularizer;
    if (activity != null) this.fail('activityRegularizer on a cell is not supported; set it on the RNN layer');
    this.settings = new CellSettings(this.label, args, (m) => this.fail(m));
  }

  get units(): number {
    return this.settings.units;
  }

  protected override checkInputShape(shape: KerasShape | KerasShape[]): void {
    const s = Array.isArray(shape[0]) ? (shape[0] as KerasShape) : (shape as KerasShape);
    const last = s[s.length - 1];
    if (last === null || last === undefined) this.fail(`the last dimension of the input must be known, got ${shapeToString(s)}`);
    if (this.kernel && last !== this.kernel.value.shape[0]) this.fail(`expected input with last dimension ${this.kernel.value.shape[0]}, got ${shapeToString(s)}`);
  }

  /** The bias's shape and initial values (LSTM's unitForgetBias and GRU's resetAfter override it). */
  protected biasSpec(): { shape: number[]; init: Initializer } {
    return { shape: [this.gates * this.units], init: this.settings.biasInitializer };
  }

  override build(inputShape: KerasShape | KerasShape[]): void {
    const s = Array.isArray(inputShape[0]) ? (inputShape[0] as KerasShape) : (inputShape as KerasShape);
    const inputDim = s[s.length - 1] as number;
    const st = this.settings;
    const width = this.gates * this.units;
    this.kernel = this.addWeight('kernel', [inputDim, width], st.kernelInitializer, true, { regularizer: st.kernelRegularizer, constraint: st.kernelConstraint });
    this.recurrentKernel = this.addWeight('recurrent_kernel', [this.units, width], st.recurrentInitializer, true, { regularizer: st.recurrentRegularizer, constraint: st.recurrentConstraint });
    if (st.useBias) {
      const b = this.biasSpec();
      this.bias = this.addWeight('bias', b.shape, b.init, true, { regularizer: st.biasRegularizer, constraint: st.biasConstraint });
    }
    this.built = true;
  }

  /** `x · kernel (+ bias)` over the last axis of `[batch, time, features]`. */
  override projectInputs(x: Tensor): Tensor {
    const [b, t, f] = x.shape as [number, number, number];
    let y = ops.matmul(ops.reshape(x, [b * t, f]), this.kernel!.read());
    const bias = this.inputBias();
    if (bias) y = ops.add(y, bias);
    return ops.reshape(y, [b, t, -1]);
  }

  /** The bias added to the input projection (all of it, except GRU's resetAfter input half). */
  protected inputBias(): Tensor | undefined {
    return this.bias?.read();
  }

  protected act(x: Tensor): Tensor {
    return getActivation(this.settings.activation)(x);
  }

  /**
   * Dropout masks for one call of the RNN (Keras: one mask per call, shared by every time step),
   * set by `prepareDropout` and cleared after the loop. `recurrentMask` multiplies the previous
   * output before the recurrent matmul.
   */
  recurrentMask?: Tensor;
  private masksReady = false;
  /** The rng key's first word, drawn at construction (as Dropout); eager calls count their own steps. */
  private readonly keySeed = Math.floor(Math.random() * 0x3fffffff);
  private eagerSteps = 0;

  /**
   * Training-mode dropout for one call over `x` (`[batch, time, features]`): the input dropped
   * with one `[batch, 1, features]` mask, and `recurrentMask` set; returns the input to project.
   * Masks come from the IR's counter-based rng keyed by [seed, step] (`step` as fit passes it).
   */
  prepareDropout(x: Tensor, args: CallArgs): Tensor {
    const { dropout, recurrentDropout } = this.settings;
    this.masksReady = true;
    if (!args.training || (dropout === 0 && recurrentDropout === 0)) return x;
    let step = args.step;
    if (step === undefined) {
      if (x.isSymbolic) this.fail('training-mode dropout inside a traced function needs the step counter: call with {training: true, step} (fit passes it)');
      step = ops.scalar(this.eagerSteps++, 'i32');
    }
    const key = (k: number) => ops.concat([ops.tensor([(this.keySeed + k) | 0], [1], 'i32'), ops.reshape(step!, [1])], 0);
    const mask = (shape: number[], rate: number, k: number) =>
      ops.where(ops.greaterEqual(ops.randomUniform(shape, { seed: key(k) }), rate), 1 / (1 - rate), 0);
    const [b, , f] = x.shape as [number, number, number];
    if (recurrentDropout > 0) this.recurrentMask = mask([b, this.units], recurrentDropout, 1);
    return dropout > 0 ? ops.mul(x, ops.reshape(mask([b, f], dropout, 0), [b, 1, f])) : x;
  }

  /** After the loop: the masks belong to that call only. */
  endDropout(): void {
    this.recurrentMask = undefined;
    this.masksReady = false;
  }

  /** The previous output as the recurrent matmul reads it (recurrent dropout applied). */
  protected recurrentInput(h: Tensor): Tensor {
    return this.recurrentMask ? ops.mul(h, this.recurrentMask) : h;
  }

  /** A cell stepped outside an RNN's call (e.g. in StackedRNNCells) cannot share masks over time: refused in training. */
  protected checkDropout(args: CallArgs): void {
    if (this.masksReady) return;
    if (args.training && (this.settings.dropout > 0 || this.settings.recurrentDropout > 0)) {
      this.fail(`dropout ${this.settings.dropout} / recurrentDropout ${this.settings.recurrentDropout} in training is supported in SimpleRNN/LSTM/GRU and an RNN over one cell, not in stacked cells; set both to 0 there, or add Dropout layers`);
    }
  }
}

/** The cell's share of a recurrent layer's arguments (its own keys plus dtype and trainable). */
export function cellArgsOf<A extends CellArgs>(args: A, cellKeys: readonly string[], name: string): A {
  const out: Record<string, unknown> = { name };
  const src = args as unknown as Record<string, unknown>;
  for (const k of [...CELL_ARGS, ...cellKeys, 'dtype', 'trainable']) if (src[k] !== undefined) out[k] = src[k];
  return out as unknown as A;
}

/** Keras's `implementation` (1 or 2) only picks a kernel layout; Kiln's result is the same. */
export function checkImplementation(who: string, v: unknown, fail: (m: string) => never): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (v !== 0 && v !== 1 && v !== 2) fail(`implementation must be 1 or 2, got ${JSON.stringify(v)}`);
  void who;
  return v === 0 ? 1 : v;
}
