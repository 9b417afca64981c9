/**
 * History: what `fit` returns (tfjs-layers shape): `epoch` lists the epochs run and
 * `history[name]` the value of each epoch log (loss, metrics, val_ values) in that order.
 */
import { Callback, type Logs } from './callback.js';

export class History extends Callback {
  epoch: number[] = [];
  history: Record<string, number[]> = {};

  override onTrainBegin(): void {
    this.epoch = [];
    this.history = {};
  }

  override onEpochEnd(epoch: number, logs: Logs): void {
    this.epoch.push(epoch);
    for (const [k, v] of Object.entries(logs)) (this.history[k] ??= []).push(v);
  }
}
