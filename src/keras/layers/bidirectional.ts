/**
 * Bidirectional: one recurrent layer run forward and a copy run backward over the same sequence,
 * their outputs merged (`concat` by default, `sum`, `mul`, `ave`, or `null` for both as a list).
 * As in tfjs-layers the copies are rebuilt from the wrapped layer's config, named
 * `forward_<name>` and `backward_<name>` (goBackwards flipped), and the backward sequence output
 * is reversed in time before merging so step t of both halves describes step t of the input.
 * Weights: the forward layer's, then the backward layer's. With returnState the final states
 * follow: forward states, then backward states. Initial states (`apply([x, ...states])`) are
 * split the same way.
 */
import { KilnError } from '../../ir/types.js';
import { ops, type Tensor, type Variable } from '../backend.js';
import { shapeToString, type KerasShape } from '../engine/keras_tensor.js';
import {
  deserializeLayer, isShapeList, Layer, registerLayer, type CallArgs, type LayerArgs, type LayerConfig, type LayerMask, type SerializedLayer,
} from '../engine/layer.js';
import { checkLayerArgs, suggestion } from './args.js';
import { RNN } from './rnn.js';

export type BidirectionalMergeMode = 'concat' | 'sum' | 'mul' | 'ave' | null;
const MERGE_MODES = ['concat', 'sum', 'mul', 'ave'];

export interface BidirectionalArgs extends LayerArgs {
  /** The recurrent layer to run both ways (SimpleRNN, LSTM, GRU or RNN). */
  layer: RNN;
  /** Default 'concat'; null returns [forward, backward]. */
  mergeMode?: BidirectionalMergeMode;
}

export interface BidirectionalConfig extends LayerConfig {
  layer: SerializedLayer;
  mergeMode: BidirectionalMergeMode;
}

export class Bidirectional extends Layer {
  static override className = 'Bidirectional';
  readonly forwardLayer: RNN;
  readonly backwardLayer: RNN;
  readonly mergeMode: BidirectionalMergeMode;

  constructor(args: BidirectionalArgs) {
    super(args);
    checkLayerArgs(this.label, args, { known: ['layer', 'mergeMode'], required: ['layer'] });
    if (!(args.layer instanceof RNN)) this.fail(`layer must be a recurrent layer (SimpleRNN, LSTM, GRU or RNN), got ${String((args.layer as { className?: string })?.className ?? args.layer)}`);
    const mode = args.mergeMode === undefined ? 'concat' : args.mergeMode;
    if (mode !== null && !MERGE_MODES.includes(mode)) this.fail(`mergeMode '${String(mode)}' is not one of concat, sum, mul, ave, null ${suggestion(String(mode), MERGE_MODES)}`);
    this.mergeMode = mode;
    const s = args.layer.serialize();
    const cfg = s.config as LayerConfig & { goBackwards?: boolean };
    const copy = (prefix: string, goBackwards: boolean): RNN => {
      const { batchInputShape: _b, ...rest } = cfg;
      const l = deserializeLayer({ className: s.className, config: { ...rest, name: `${prefix}_${cfg.name}`, goBackwards } });
      if (!(l instanceof RNN)) throw new KilnError(`${this.label}: the copy of '${cfg.name}' is not a recurrent layer`);
      return l;
    };
    this.forwardLayer = copy('forward', cfg.goBackwards ?? false);
    this.backwardLayer = copy('backward', !(cfg.goBackwards ?? false));
    this.supportsMasking = true;
  }

  get returnSequences(): boolean {
    return this.forwardLayer.returnSequences;
  }
  get returnState(): boolean {
    return this.forwardLayer.returnState;
  }

  private split<T>(list: readonly T[]): { x: T; fwd: T[]; bwd: T[] } {
    const n = this.forwardLayer.cell.stateSize.length;
    if (list.length > 1 && list.length !== 1 + 2 * n) {
      this.fail(`expects [x] or [x, ${n} forward state(s), ${n} backward state(s)], got ${list.length} inputs`);
    }
    return { x: list[0]!, fwd: list.slice(1, 1 + n), bwd: list.slice(1 + n) };
  }

  protected override checkInputShape(shape: KerasShape | KerasShape[]): void {
    const shapes = isShapeList(shape) ? shape : [shape];
    const x = shapes[0]!;
    if (x.length !== 3) this.fail(`expected input of rank 3 [batch, time, features], got ${shapeToString(x)}`);
    this.split(shapes);
  }

  override build(inputShape: KerasShape | KerasShape[]): void {
    const shapes = isShapeList(inputShape) ? inputShape : [inputShape];
    const { x, fwd, bwd } = this.split(shapes);
    for (const [l, st] of [[this.forwardLayer, fwd], [this.backwardLayer, bwd]] as const) {
      l.weightScope ??= `${this.name}/${l.name}`; // tfjs-layers: `<bidirectional>/forward_<rnn>/kernel`
      l.build(st.length ? [x, ...st] : x);
      l.built = true;
      this.weightPenalties.push(...l.weightPenalties);
      this.weightConstraints.push(...l.weightConstraints);
    }
    this.built = true;
  }

  override computeOutputShape(inputShape: KerasShape | KerasShape[]): KerasShape | KerasShape[] {
    const x = isShapeList(inputShape) ? inputShape[0]! : inputShape;
    const f = this.forwardLayer.computeOutputShape(x);
    const [out, ...states] = isShapeList(f) ? f : [f];
    let outs: KerasShape[];
    if (this.mergeMode === 'concat') outs = [[...out!.slice(0, -1), 2 * (out![out!.length - 1] as number)]];
    else if (this.mergeMode === null) outs = [out!, out!];
    else outs = [out!];
    if (!this.returnState) return outs.length === 1 ? outs[0]! : outs;
    return [...outs, ...states, ...states];
  }

  override computeMask(_inputs: Tensor | Tensor[], mask: LayerMask): LayerMask {
    const m = Array.isArray(mask) ? (mask[0] ?? null) : mask;
    const out = this.returnSequences ? m : null;
    const outs = this.mergeMode === null ? [out, out] : [out];
    if (!this.returnState) return outs.length === 1 ? outs[0]! : outs;
    const nStates = 2 * this.forwardLayer.cell.stateSize.length;
    return [...outs, ...Array.from({ length: nStates }, () => null)];
  }

  override call(inputs: Tensor | Tensor[], args: CallArgs): Tensor | Tensor[] {
    const { x, fwd, bwd } = this.split(Array.isArray(inputs) ? inputs : [inputs]);
    const mask = Array.isArray(args.mask) ? (args.mask[0] ?? null) : (args.mask ?? null);
    const sub: CallArgs = { training: args.training, step: args.step, mask };
    const asList = (v: Tensor | Tensor[]) => (Array.isArray(v) ? v : [v]);
    const [y, ...fStates] = asList(this.forwardLayer.apply(fwd.length ? [x, ...fwd] : x, sub));
    let [yRev, ...bStates] = asList(this.backwardLayer.apply(bwd.length ? [x, ...bwd] : x, sub));
    if (this.returnSequences) {
      const T = yRev!.shape[1]!;
      yRev = ops.gather(yRev!, Array.from({ length: T }, (_, t) => T - 1 - t), 1);
    }
    let outs: Tensor[];
    switch (this.mergeMode) {
      case 'concat': outs = [ops.concat([y!, yRev!], -1)]; break;
      case 'sum': outs = [ops.add(y!, yRev!)]; break;
      case 'mul': outs = [ops.mul(y!, yRev!)]; break;
      case 'ave': outs = [ops.mul(ops.add(y!, yRev!), 0.5)]; break;
      default: outs = [y!, yRev!];
    }
    if (this.returnState) return [...outs, ...fStates, ...bStates];
    return outs.length === 1 ? outs[0]! : outs;
  }

  override get trainableWeights(): Variable[] {
    return this.trainable ? [...this.forwardLayer.trainableWeights, ...this.backwardLayer.trainableWeights] : [];
  }
  override get nonTrainableWeights(): Variable[] {
    const non = [...this.forwardLayer.nonTrainableWeights, ...this.backwardLayer.nonTrainableWeights];
    return this.trainable ? non : [...this.forwardLayer.weights, ...this.backwardLayer.weights];
  }

  override getConfig(): BidirectionalConfig {
    const inner = this.forwardLayer.serialize();
    const name = this.forwardLayer.name.replace(/^forward_/, '');
    return { ...super.getConfig(), layer: { className: inner.className, config: { ...inner.config, name } }, mergeMode: this.mergeMode };
  }

  static fromConfig(config: BidirectionalConfig): Bidirectional {
    const { layer, ...rest } = config;
    const inner = deserializeLayer(layer);
    if (!(inner instanceof RNN)) throw new KilnError(`Bidirectional '${config.name}': layer ${layer.className} is not a recurrent layer`);
    return new Bidirectional({ ...rest, layer: inner });
  }
}
registerLayer(Bidirectional);

export function bidirectional(args: BidirectionalArgs): Bidirectional {
  return new Bidirectional(args);
}
