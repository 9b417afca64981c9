/**
 * SimpleRNNCell and SimpleRNN: `h' = act(x·kernel + h·recurrentKernel + bias)`, one state (h).
 */
import { ops, type Tensor } from '../backend.js';
import { registerLayer, type CallArgs } from '../engine/layer.js';
import { cellArgsOf, CELL_ARGS, GatedCell, type CellArgs, type CellConfig } from './recurrent.js';
import { RNN, type RNNBaseArgs, type RNNBaseConfig } from './rnn.js';

export type SimpleRNNCellArgs = CellArgs;
export type SimpleRNNCellConfig = CellConfig;

export class SimpleRNNCell extends GatedCell {
  static override className = 'SimpleRNNCell';
  protected readonly gates = 1;

  constructor(args: SimpleRNNCellArgs) {
    super(args, []);
  }

  override get stateSize(): number[] {
    return [this.units];
  }

  override stepProjected(xp: Tensor, states: Tensor[], args: CallArgs): Tensor[] {
    this.checkDropout(args);
    const h = this.act(ops.add(xp, ops.matmul(this.recurrentInput(states[0]!), this.recurrentKernel!.read())));
    return [h, h];
  }

  override getConfig(): SimpleRNNCellConfig {
    return { ...super.getConfig(), ...this.settings.config(undefined) };
  }

  static fromConfig(config: SimpleRNNCellConfig): SimpleRNNCell {
    return new SimpleRNNCell(config);
  }
}
registerLayer(SimpleRNNCell);

export interface SimpleRNNArgs extends SimpleRNNCellArgs, RNNBaseArgs {}
export interface SimpleRNNConfig extends Omit<SimpleRNNCellConfig, 'activityRegularizer'>, RNNBaseConfig {}

export class SimpleRNN extends RNN {
  static override className = 'SimpleRNN';
  declare readonly cell: SimpleRNNCell;

  constructor(args: SimpleRNNArgs) {
    super(args, CELL_ARGS, (name) => new SimpleRNNCell(cellArgsOf(args, [], name)));
  }

  get units(): number {
    return this.cell.units;
  }

  override getConfig(): SimpleRNNConfig {
    const { name: _n, trainable: _t, dtype: _d, batchInputShape: _b, ...cell } = this.cell.getConfig();
    return { ...cell, ...this.rnnConfig() };
  }

  static override fromConfig(config: SimpleRNNConfig): SimpleRNN {
    return new SimpleRNN(config as SimpleRNNArgs);
  }
}
registerLayer(SimpleRNN);

export function simpleRNNCell(args: SimpleRNNCellArgs): SimpleRNNCell {
  return new SimpleRNNCell(args);
}

export function simpleRNN(args: SimpleRNNArgs): SimpleRNN {
  return new SimpleRNN(args);
}
