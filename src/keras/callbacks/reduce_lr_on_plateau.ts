/**
 * ReduceLROnPlateau (Keras semantics): multiply the learning rate by `factor` when `monitor`
 * has not improved for `patience` epochs. The learning rate is resident state of the compiled
 * training program, so the new value is written into it (setState); nothing is recompiled.
 */
import { KilnError } from '../../ir/types.js';
import { getLearningRate, setLearningRate } from '../engine/training.js';
import { Callback, jsonNumber, monitorIsMax, stateNumber, type CallbackState, type Logs } from './callback.js';

export interface ReduceLROnPlateauArgs {
  /** Default 'val_loss'. */
  monitor?: string;
  /** New lr = lr * factor; must be < 1. Default 0.1. */
  factor?: number;
  /** Epochs without improvement before reducing. Default 10. */
  patience?: number;
  /** Default 'auto'. */
  mode?: 'auto' | 'min' | 'max';
  /** Smallest change that counts as an improvement. Default 1e-4. */
  minDelta?: number;
  /** Epochs to wait after a reduction before counting again. Default 0. */
  cooldown?: number;
  /** Lower bound on the learning rate. Default 0. */
  minLr?: number;
  /** 1: print a line when the rate changes. Default 0. */
  verbose?: 0 | 1;
}

export class ReduceLROnPlateau extends Callback {
  readonly monitor: string;
  readonly factor: number;
  readonly patience: number;
  readonly minDelta: number;
  readonly cooldown: number;
  readonly minLr: number;
  readonly verbose: 0 | 1;
  private readonly max: boolean;
  private best = Infinity;
  private wait = 0;
  private cooldownCounter = 0;

  constructor(args: ReduceLROnPlateauArgs = {}) {
    super();
    this.monitor = args.monitor ?? 'val_loss';
    this.factor = args.factor ?? 0.1;
    if (!(this.factor < 1 && this.factor >= 0)) throw new KilnError(`ReduceLROnPlateau: factor must be in [0, 1), got ${this.factor}`);
    this.patience = args.patience ?? 10;
    this.minDelta = args.minDelta ?? 1e-4;
    this.cooldown = args.cooldown ?? 0;
    this.minLr = args.minLr ?? 0;
    this.verbose = args.verbose ?? 0;
    this.max = monitorIsMax('ReduceLROnPlateau', args.mode ?? 'auto', this.monitor);
  }

  override onTrainBegin(): void {
    this.best = this.max ? -Infinity : Infinity;
    this.wait = 0;
    this.cooldownCounter = 0;
  }

  override getCheckpointState(): CallbackState {
    return { best: jsonNumber(this.best), wait: this.wait, cooldownCounter: this.cooldownCounter };
  }

  override setCheckpointState(state: CallbackState): void {
    this.best = stateNumber('ReduceLROnPlateau', state, 'best');
    this.wait = stateNumber('ReduceLROnPlateau', state, 'wait');
    this.cooldownCounter = stateNumber('ReduceLROnPlateau', state, 'cooldownCounter');
  }

  override onEpochEnd(epoch: number, logs: Logs): void {
    const v = logs[this.monitor];
    if (v === undefined) {
      throw new KilnError(`ReduceLROnPlateau: monitor '${this.monitor}' is not in the epoch logs (${Object.keys(logs).join(', ')})`);
    }
    const model = this.model!;
    if (this.cooldownCounter > 0) {
      this.cooldownCounter--;
      this.wait = 0;
    }
    if (this.max ? v > this.best + this.minDelta : v < this.best - this.minDelta) {
      this.best = v;
      this.wait = 0;
      return;
    }
    if (this.cooldownCounter > 0) return;
    this.wait++;
    if (this.wait < this.patience) return;
    const old = getLearningRate(model);
    if (old > this.minLr) {
      const lr = Math.max(old * this.factor, this.minLr);
      setLearningRate(model, lr);
      if (this.verbose) console.error(`Epoch ${epoch + 1}: ReduceLROnPlateau reducing learning rate to ${lr}.`);
      this.cooldownCounter = this.cooldown;
      this.wait = 0;
    }
  }
}
