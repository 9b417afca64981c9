/**
 * RNN: the generic recurrent layer (`layers.rnn({cell})`, tfjs-layers' RNN) and StackedRNNCells.
 * It runs a cell along the time axis of `[batch, time, features]` with Keras's options:
 * returnSequences, returnState, goBackwards, initial states (`apply([x, ...states])`, as tfjs
 * passes them), masks (from Embedding(maskZero) or Masking, or `{mask}` in the call args) and
 * stateful (states kept between calls in non-trainable variables, reset by `resetStates`).
 * SimpleRNN, LSTM and GRU are this layer with their cell built from flat arguments.
 *
 * Weights are the cell's (tfjs-layers' order). The loop is recurrent.ts's `runRecurrence`.
 */
import { KilnError } from '../../ir/types.js';
import { ops, tensorFromData, variable, type Tensor, type Variable } from '../backend.js';
import { shapeToString, type KerasShape } from '../engine/keras_tensor.js';
import {
  deserializeLayer, isShapeList, Layer, registerLayer, type CallArgs, type LayerArgs, type LayerConfig, type LayerMask, type SerializedLayer,
} from '../engine/layer.js';
import { getRegularizer, serializeRegularizer, type RegularizerLike, type SerializedRegularizer } from '../regularizers.js';
import { BASE_LAYER_ARGS, checkLayerArgs } from './args.js';
import { GatedCell, RNNCell, runRecurrence } from './recurrent.js';

// ---- StackedRNNCells -------------------------------------------------------------------------------

export interface StackedRNNCellsArgs extends LayerArgs {
  cells: RNNCell[];
}

export interface StackedRNNCellsConfig extends LayerConfig {
  cells: SerializedLayer[];
}

/**
 * Several cells as one: the first cell's output feeds the second, and so on. States are one flat
 * list in reverse cell order (tfjs-layers' convention, so that `stateSize[0]` is the output size):
 * for two LSTM cells, `[h2, c2, h1, c1]`.
 */
export class StackedRNNCells extends RNNCell {
  static override className = 'StackedRNNCells';
  readonly cells: RNNCell[];

  constructor(args: StackedRNNCellsArgs) {
    super(args);
    checkLayerArgs(this.label, args, { known: ['cells'], required: ['cells'] });
    if (!Array.isArray(args.cells) || args.cells.length === 0 || !args.cells.every((c) => c instanceof RNNCell)) {
      this.fail(`cells must be a non-empty list of RNN cells (e.g. layers.lstmCell({units})), got ${String(args.cells)}`);
    }
    this.cells = [...args.cells];
  }

  override get stateSize(): number[] {
    return [...this.cells].reverse().flatMap((c) => c.stateSize);
  }

  override build(inputShape: KerasShape | KerasShape[]): void {
    let s = isShapeList(inputShape) ? inputShape[0]! : inputShape;
    for (const cell of this.cells) {
      if (!cell.built) cell.build(s);
      cell.built = true;
      s = [s[0] ?? null, cell.stateSize[0]!];
    }
    this.built = true;
  }

  override call(inputs: Tensor | Tensor[], args: CallArgs): Tensor[] {
    const list = Array.isArray(inputs) ? inputs : [inputs];
    let flat = list.slice(1);
    // Per-cell states, recovered from the reversed flat list.
    const nested: Tensor[][] = [];
    for (const cell of [...this.cells].reverse()) nested.push(flat.splice(0, cell.stateSize.length));
    nested.reverse();
    let x = list[0]!;
    const newNested: Tensor[][] = [];
    this.cells.forEach((cell, i) => {
      const out = cell.call([x, ...nested[i]!], args);
      x = out[0]!;
      newNested.push(out.slice(1));
    });
    flat = [...newNested].reverse().flat();
    return [x, ...flat];
  }

  override get trainableWeights(): Variable[] {
    return this.trainable ? this.cells.flatMap((c) => c.trainableWeights) : [];
  }
  override get nonTrainableWeights(): Variable[] {
    const non = this.cells.flatMap((c) => c.nonTrainableWeights);
    return this.trainable ? non : [...this.cells.flatMap((c) => c.trainableWeights), ...non];
  }

  override getConfig(): StackedRNNCellsConfig {
    return { ...super.getConfig(), cells: this.cells.map((c) => c.serialize()) };
  }

  static fromConfig(config: StackedRNNCellsConfig): StackedRNNCells {
    const { cells, ...rest } = config;
    return new StackedRNNCells({ ...rest, cells: cells.map((c) => asCell(deserializeLayer(c), config.name)) });
  }
}
registerLayer(StackedRNNCells);

function asCell(l: unknown, where: string): RNNCell {
  if (!(l instanceof RNNCell)) throw new KilnError(`RNN '${where}': cell ${String((l as { name?: string })?.name ?? l)} is not an RNN cell`);
  return l;
}

// ---- RNN ---------------------------------------------------------------------------------------------

/** The options every recurrent layer takes. */
export interface RNNBaseArgs extends LayerArgs {
  /** Return the output of every time step (`[batch, time, units]`) instead of the last one. */
  returnSequences?: boolean;
  /** Also return the final states: `[output, ...states]`. */
  returnState?: boolean;
  /** Process the sequence from the last time step to the first. */
  goBackwards?: boolean;
  /** Keep the final states of a batch as the initial states of the next call (needs a fixed batch size). */
  stateful?: boolean;
  /** Keras's unroll. Kiln always unrolls static time steps at trace time, so this only round-trips. */
  unroll?: boolean;
  /** Shorthand for the input shape `[inputLength, inputDim]`. */
  inputDim?: number;
  inputLength?: number;
  activityRegularizer?: RegularizerLike | null;
  /** tfjs-layers' numConstants: constants are not supported (null only). */
  numConstants?: null;
}

export const RNN_BASE_ARGS = [
  'returnSequences', 'returnState', 'goBackwards', 'stateful', 'unroll', 'inputDim', 'inputLength', 'activityRegularizer', 'numConstants',
] as const satisfies readonly (keyof RNNBaseArgs)[];

export interface RNNArgs extends RNNBaseArgs {
  /** A cell, or a list of cells (stacked). */
  cell: RNNCell | RNNCell[];
}

export interface RNNBaseConfig extends LayerConfig {
  returnSequences: boolean;
  returnState: boolean;
  goBackwards: boolean;
  stateful: boolean;
  unroll: boolean;
  activityRegularizer: SerializedRegularizer | null;
}

export interface RNNConfig extends RNNBaseConfig {
  /** The generic RNN's cell; SimpleRNN, LSTM and GRU write their cell's fields flat instead. */
  cell?: SerializedLayer;
}

function withInputShape<A extends RNNBaseArgs>(args: A): A {
  if (args && args.inputDim != null && !args.inputShape && !args.batchInputShape) return { ...args, inputShape: [args.inputLength ?? null, args.inputDim] };
  return args;
}

export class RNN extends Layer {
  static override className = 'RNN';
  readonly cell: RNNCell;
  readonly returnSequences: boolean;
  readonly returnState: boolean;
  readonly goBackwards: boolean;
  readonly stateful: boolean;
  readonly unroll: boolean;
  /** Stateful only: the states carried between calls. */
  stateVariables?: Variable[];

  /** `cellFactory` builds the cell once the layer's name is known (SimpleRNN/LSTM/GRU name it after the layer). */
  constructor(args: RNNArgs | (RNNBaseArgs & { cell?: undefined }), known: readonly string[] = ['cell'], cellFactory?: (name: string) => RNNCell) {
    super(withInputShape(args));
    checkLayerArgs(this.label, args, { known: [...RNN_BASE_ARGS, ...known] });
    let cell: RNNCell | undefined;
    if (cellFactory) cell = cellFactory(this.name);
    else {
      const c = (args as RNNArgs).cell;
      if (c == null) this.fail('cell is required (a cell such as layers.lstmCell({units}), or a list of cells)');
      if (Array.isArray(c)) cell = new StackedRNNCells({ cells: c });
      else if (c instanceof RNNCell) cell = c;
      else this.fail(`cell must be an RNN cell (layers.simpleRNNCell / lstmCell / gruCell or a subclass of RNNCell), got ${String(c)}`);
    }
    this.cell = cell;
    this.returnSequences = args.returnSequences ?? false;
    this.returnState = args.returnState ?? false;
    this.goBackwards = args.goBackwards ?? false;
    this.stateful = args.stateful ?? false;
    this.unroll = args.unroll ?? false;
    if (args.numConstants != null) this.fail(`numConstants ${JSON.stringify(args.numConstants)} is not supported (constants are not implemented)`);
    this.activityRegularizer = getRegularizer(args.activityRegularizer, `${this.label}: activityRegularizer`);
    this.supportsMasking = true;
  }

  protected override checkInputShape(shape: KerasShape | KerasShape[]): void {
    const shapes = isShapeList(shape) ? shape : [shape];
    const x = shapes[0]!;
    if (x.length !== 3) this.fail(`expected input of rank 3 [batch, time, features], got ${shapeToString(x)}`);
    if (x[1] === 0) this.fail(`the input has no time steps: ${shapeToString(x)}`);
    const sizes = this.cell.stateSize;
    if (shapes.length > 1) {
      if (shapes.length - 1 !== sizes.length) this.fail(`has ${sizes.length} state(s) [${sizes.join(', ')}] but got ${shapes.length - 1} initial state(s)`);
      shapes.slice(1).forEach((s, i) => {
        if (s.length !== 2 || s[1] !== sizes[i]) this.fail(`initial state ${i} must be [batch, ${sizes[i]}], got ${shapeToString(s)}`);
      });
    }
  }

  override build(inputShape: KerasShape | KerasShape[]): void {
    const x = isShapeList(inputShape) ? inputShape[0]! : inputShape;
    if (!this.cell.built) {
      // tfjs-layers names the cells' weights in the RNN's scope: `<rnn>/kernel`, stacked `<rnn>/RNNCell_<i>/kernel`.
      const scope = this.weightScope ?? this.name;
      if (this.cell instanceof StackedRNNCells) this.cell.cells.forEach((c, i) => { if (!c.built) c.weightScope ??= `${scope}/RNNCell_${i}`; });
      else this.cell.weightScope ??= scope;
      this.cell.build([x[0] ?? null, ...x.slice(2)]);
    }
    this.cell.built = true;
    // The cell's regularizers and constraints are this layer's (the training step reads them here).
    this.weightPenalties.push(...allCellPenalties(this.cell));
    this.weightConstraints.push(...allCellConstraints(this.cell));
    if (this.stateful) {
      const batch = x[0];
      if (batch == null) {
        this.fail('a stateful RNN needs a fixed batch size: give the first layer batchInputShape (or batchSize), or the input kiln.input({batchShape})');
      }
      this.stateVariables = this.cell.stateSize.map((d, i) => variable(tensorFromData(new Float32Array(batch * d), [batch, d]), { name: `${this.name}/state_${i}`, trainable: false }));
    }
    this.built = true;
  }

  /**
   * Stateful layers: set the carried states to zeros, or to `states` (one `[batch, size]` tensor
   * per state).
   */
  resetStates(states?: Tensor | Tensor[]): void {
    if (!this.stateful) this.fail('resetStates() needs a stateful RNN (stateful: true)');
    if (!this.stateVariables) this.fail('resetStates() before the layer is built: call it on an input first');
    const vs = this.stateVariables;
    if (states === undefined) {
      for (const v of vs) v.assign(ops.zeros(v.shape));
      return;
    }
    const list = Array.isArray(states) ? states : [states];
    if (list.length !== vs.length) this.fail(`resetStates: expects ${vs.length} state(s), got ${list.length}`);
    list.forEach((s, i) => {
      const want = vs[i]!.shape;
      if (s.rank !== 2 || s.shape[0] !== want[0] || s.shape[1] !== want[1]) this.fail(`resetStates: state ${i} must be [${want.join(', ')}], got [${s.shape.join(', ')}]`);
    });
    list.forEach((s, i) => vs[i]!.assign(s.dtype === 'f32' ? s : ops.cast(s, 'f32')));
  }

  /** The current states (stateful layers), as tensors. */
  getStates(): Tensor[] {
    return (this.stateVariables ?? []).map((v) => v.value);
  }

  override computeOutputShape(inputShape: KerasShape | KerasShape[]): KerasShape | KerasShape[] {
    const x = isShapeList(inputShape) ? inputShape[0]! : inputShape;
    const sizes = this.cell.stateSize;
    const out: KerasShape = this.returnSequences ? [x[0] ?? null, x[1] ?? null, sizes[0]!] : [x[0] ?? null, sizes[0]!];
    return this.returnState ? [out, ...sizes.map((d) => [x[0] ?? null, d] as KerasShape)] : out;
  }

  override computeMask(_inputs: Tensor | Tensor[], mask: LayerMask): LayerMask {
    const m = Array.isArray(mask) ? (mask[0] ?? null) : mask;
    const out = this.returnSequences ? m : null;
    return this.returnState ? [out, ...this.cell.stateSize.map(() => null)] : out;
  }

  override call(inputs: Tensor | Tensor[], args: CallArgs): Tensor | Tensor[] {
    const list = Array.isArray(inputs) ? inputs : [inputs];
    const x0 = list[0]!;
    const x = x0.dtype === 'f32' ? x0 : ops.cast(x0, 'f32');
    const batch = x.shape[0]!;
    const sizes = this.cell.stateSize;
    let initial: Tensor[];
    if (list.length > 1) initial = list.slice(1);
    else if (this.stateVariables) {
      const want = this.stateVariables[0]!.shape[0];
      if (want !== batch) this.fail(`stateful: built for batch size ${want}, got an input of batch ${batch} (${x.describe()})`);
      initial = this.stateVariables.map((v) => v.read());
    } else initial = sizes.map((d) => ops.zeros([batch, d]));
    const mask = Array.isArray(args.mask) ? (args.mask[0] ?? null) : (args.mask ?? null);
    const cell = this.cell;
    const cellArgs: CallArgs = { training: args.training, step: args.step };
    // Dropout (training only): one input mask and one recurrent mask per call, as Keras.
    const dropCell = cell instanceof GatedCell ? cell : undefined;
    const seq = dropCell ? dropCell.prepareDropout(x, cellArgs) : x;
    let step: (xt: Tensor, states: Tensor[]) => [Tensor, Tensor[]];
    let project: ((timeMajor: Tensor) => Tensor) | undefined;
    if (cell.projectInputs && cell.stepProjected) {
      // Projected after runRecurrence makes the sequence time-major: each step reads a contiguous block.
      project = (tm) => cell.projectInputs!(tm);
      step = (xt, states) => {
        const out = cell.stepProjected!(xt, states, cellArgs);
        return [out[0]!, out.slice(1)];
      };
    } else {
      step = (xt, states) => {
        const out = cell.call([xt, ...states], cellArgs);
        return [out[0]!, out.slice(1)];
      };
    }
    let r;
    try {
      r = runRecurrence(step, seq, initial, { goBackwards: this.goBackwards, mask, needSequences: this.returnSequences, unroll: this.unroll, project });
    } finally {
      dropCell?.endDropout();
    }
    if (this.stateVariables) {
      try {
        this.stateVariables.forEach((v, i) => v.assign(r.states[i]!));
      } catch (e) {
        if (!(e instanceof KilnError)) throw e;
        // A traced function that does not bind the states (kiln.fn, compiled predict) cannot carry them;
        // fit's training step binds them as resident state (training.ts carriedStates).
        this.fail(`stateful: the carried states cannot be updated inside this traced function (${e.message.split(':')[0]}); ` +
          'stateful RNNs carry their states in fit and in eager calls (layer.apply / model.apply on concrete tensors)');
      }
    }
    const output = this.returnSequences ? r.outputs! : r.lastOutput;
    return this.returnState ? [output, ...r.states] : output;
  }

  override get trainableWeights(): Variable[] {
    return this.trainable ? this.cell.trainableWeights : [];
  }
  override get nonTrainableWeights(): Variable[] {
    return this.trainable ? this.cell.nonTrainableWeights : this.cell.weights;
  }

  /** The RNN options (the generic RNN adds its cell; SimpleRNN/LSTM/GRU flatten their cell's config in). */
  protected rnnConfig(): RNNBaseConfig {
    return {
      ...super.getConfig(),
      returnSequences: this.returnSequences,
      returnState: this.returnState,
      goBackwards: this.goBackwards,
      stateful: this.stateful,
      unroll: this.unroll,
      activityRegularizer: serializeRegularizer(this.activityRegularizer),
    };
  }

  override getConfig(): RNNConfig {
    return { ...this.rnnConfig(), cell: this.cell.serialize() };
  }

  static fromConfig(config: RNNConfig): RNN {
    const { cell } = config;
    if (cell == null) throw new KilnError(`RNN '${config.name}': config has no cell`);
    // tfjs-layers also writes the cell's own fields flat into the RNN's config; the cell entry is what counts.
    const own = Object.fromEntries(Object.entries(config).filter(([k]) => k !== 'cell' && (BASE_LAYER_ARGS as readonly string[]).concat(RNN_BASE_ARGS).includes(k)));
    return new RNN({ ...(own as RNNBaseArgs), cell: asCell(deserializeLayer(cell), config.name) });
  }
}
registerLayer(RNN);

function allCellPenalties(cell: RNNCell): RNNCell['weightPenalties'] {
  return cell instanceof StackedRNNCells ? cell.cells.flatMap(allCellPenalties) : cell.weightPenalties;
}
function allCellConstraints(cell: RNNCell): RNNCell['weightConstraints'] {
  return cell instanceof StackedRNNCells ? cell.cells.flatMap(allCellConstraints) : cell.weightConstraints;
}

/** `layers.rnn({cell})`: the generic recurrent layer over any cell (or list of cells). */
export function rnn(args: RNNArgs): RNN {
  return new RNN(args);
}

/** `layers.stackedRNNCells({cells})`. */
export function stackedRNNCells(args: StackedRNNCellsArgs): StackedRNNCells {
  return new StackedRNNCells(args);
}
