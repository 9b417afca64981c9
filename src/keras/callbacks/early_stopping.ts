/**
 * EarlyStopping (Keras semantics): stop fit when `monitor` has not improved by more than
 * `minDelta` for `patience` epochs; optionally put back the weights of the best epoch.
 */
import { KilnError } from '../../ir/types.js';
import { literal } from '../../ir/literal.js';
import { Tensor } from '../backend.js';
import { Callback, jsonNumber, monitorIsMax, stateNumber, type CallbackState, type Logs } from './callback.js';

export interface EarlyStoppingArgs {
  /** Default 'val_loss'. */
  monitor?: string;
  /** Smallest change that counts as an improvement. Default 0. */
  minDelta?: number;
  /** Epochs without improvement before stopping. Default 0. */
  patience?: number;
  /** Default 'auto' (max for accuracies, min otherwise). */
  mode?: 'auto' | 'min' | 'max';
  /** Stop unless the monitored value beats this within `patience` epochs. */
  baseline?: number;
  /** At the end, set the weights of the best epoch. Default false. */
  restoreBestWeights?: boolean;
}

export class EarlyStopping extends Callback {
  readonly monitor: string;
  readonly minDelta: number;
  readonly patience: number;
  readonly baseline?: number;
  readonly restoreBestWeights: boolean;
  private readonly max: boolean;
  private best = Infinity;
  private wait = 0;
  private bestWeights?: Tensor[];
  /** The epoch training stopped at (0 when it did not stop early). */
  stoppedEpoch = 0;
  bestEpoch = 0;

  constructor(args: EarlyStoppingArgs = {}) {
    super();
    this.monitor = args.monitor ?? 'val_loss';
    this.minDelta = Math.abs(args.minDelta ?? 0);
    this.patience = args.patience ?? 0;
    if (!Number.isInteger(this.patience) || this.patience < 0) throw new KilnError(`EarlyStopping: patience must be a non-negative integer, got ${this.patience}`);
    if (args.baseline !== undefined) this.baseline = args.baseline;
    this.restoreBestWeights = args.restoreBestWeights ?? false;
    this.max = monitorIsMax('EarlyStopping', args.mode ?? 'auto', this.monitor);
  }

  /** Whether `v` beats `ref` by more than minDelta in the monitored direction. */
  private improves(v: number, ref: number): boolean {
    return this.max ? v - this.minDelta > ref : v + this.minDelta < ref;
  }

  override onTrainBegin(): void {
    this.wait = 0;
    this.stoppedEpoch = 0;
    this.bestEpoch = 0;
    this.bestWeights = undefined;
    this.best = this.max ? -Infinity : Infinity;
  }

  override onEpochEnd(epoch: number, logs: Logs): void {
    const v = logs[this.monitor];
    if (v === undefined) {
      throw new KilnError(`EarlyStopping: monitor '${this.monitor}' is not in the epoch logs (${Object.keys(logs).join(', ')}); for val_ values give fit validationData or validationSplit`);
    }
    if (this.restoreBestWeights && this.bestWeights === undefined) this.bestWeights = this.model!.getWeights();
    this.wait++;
    if (this.improves(v, this.best)) {
      this.best = v;
      this.bestEpoch = epoch;
      if (this.restoreBestWeights) this.bestWeights = this.model!.getWeights();
      // Keras: only reset the wait once the baseline (if any) is beaten.
      if (this.baseline === undefined || this.improves(v, this.baseline)) this.wait = 0;
      return;
    }
    if (this.wait >= this.patience && epoch > 0) {
      this.stoppedEpoch = epoch;
      this.model!.stopTraining = true;
    }
  }

  /** best, wait, the epochs, and the best weights (base64 f32/i32 bytes) when restoreBestWeights keeps them. */
  override getCheckpointState(): CallbackState {
    const s: Record<string, CallbackState> = { best: jsonNumber(this.best), wait: this.wait, stoppedEpoch: this.stoppedEpoch, bestEpoch: this.bestEpoch };
    if (this.bestWeights) {
      s.bestWeights = this.bestWeights.map((w) => ({ shape: [...w.shape], dtype: w.dtype, data: toBase64(w.dataSync() as Float32Array | Int32Array) }));
    }
    return s;
  }

  override setCheckpointState(state: CallbackState): void {
    const who = 'EarlyStopping';
    this.best = stateNumber(who, state, 'best');
    this.wait = stateNumber(who, state, 'wait');
    this.stoppedEpoch = stateNumber(who, state, 'stoppedEpoch');
    this.bestEpoch = stateNumber(who, state, 'bestEpoch');
    const ws = (state as Record<string, CallbackState>).bestWeights;
    this.bestWeights = Array.isArray(ws)
      ? ws.map((w) => {
        const { shape, dtype, data } = w as { shape: number[]; dtype: 'f32' | 'i32'; data: string };
        return Tensor.concrete(literal(shape, dtype, fromBase64(data, dtype)));
      })
      : undefined;
  }

  override onTrainEnd(): void {
    if (this.restoreBestWeights && this.bestWeights && this.stoppedEpoch > 0) this.model!.setWeights(this.bestWeights);
  }
}

function toBase64(a: Float32Array | Int32Array): string {
  const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

function fromBase64(s: string, dtype: 'f32' | 'i32'): Float32Array | Int32Array {
  const bin = atob(s);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return dtype === 'f32' ? new Float32Array(bytes.buffer) : new Int32Array(bytes.buffer);
}
