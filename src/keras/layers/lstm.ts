/**
 * LSTMCell and LSTM (tfjs-layers' formulation, Keras's gate order i, f, c, o):
 *   z = x·kernel + h·recurrentKernel + bias,  [zi, zf, zc, zo] = split(z, 4)
 *   c' = σ(zf)·c + σ(zi)·act(zc),  h' = σ(zo)·act(c')
 * with σ the recurrent activation (tfjs default hardSigmoid, Keras 3 sigmoid) and act tanh.
 * States are [h, c]; `unitForgetBias` starts the forget gate's bias at one.
 */
import { activationName, getActivation, type ActivationIdentifier, type ActivationName } from '../activations.js';
import { ops, type Tensor } from '../backend.js';
import { registerLayer, type CallArgs } from '../engine/layer.js';
import type { Initializer } from '../initializers.js';
import { CELL_ARGS, CellSettings, cellArgsOf, checkImplementation, GatedCell, type CellArgs, type CellConfig } from './recurrent.js';
import { RNN, type RNNBaseArgs, type RNNBaseConfig } from './rnn.js';

export interface LSTMCellArgs extends CellArgs {
  recurrentActivation?: ActivationIdentifier | null;
  unitForgetBias?: boolean;
  implementation?: number;
}

const LSTM_CELL_KEYS = ['recurrentActivation', 'unitForgetBias', 'implementation'] as const;

export interface LSTMCellConfig extends CellConfig {
  recurrentActivation: ActivationName;
  unitForgetBias: boolean;
  implementation?: number;
}

export class LSTMCell extends GatedCell {
  static override className = 'LSTMCell';
  protected readonly gates = 4;
  readonly recurrentActivation: ActivationName;
  readonly unitForgetBias: boolean;
  readonly implementation?: number;

  constructor(args: LSTMCellArgs) {
    super(args, LSTM_CELL_KEYS);
    this.recurrentActivation = activationName(args.recurrentActivation === undefined ? 'hardSigmoid' : args.recurrentActivation, this.label);
    this.unitForgetBias = args.unitForgetBias ?? false;
    this.implementation = checkImplementation(this.label, args.implementation, (m) => this.fail(m));
  }

  override get stateSize(): number[] {
    return [this.units, this.units];
  }

  protected override biasSpec(): { shape: number[]; init: Initializer } {
    const base = super.biasSpec();
    if (!this.unitForgetBias) return base;
    const u = this.units;
    const inner = this.settings.biasInitializer;
    const init: Initializer = {
      className: 'UnitForgetBias',
      generate: () => {
        const out = new Float32Array(4 * u);
        out.set(inner.generate([u]), 0);
        out.fill(1, u, 2 * u);
        out.set(inner.generate([2 * u]), 2 * u);
        return out;
      },
      getConfig: () => ({}),
    };
    return { shape: base.shape, init };
  }

  override stepProjected(xp: Tensor, states: Tensor[], args: CallArgs): Tensor[] {
    this.checkDropout(args);
    const [h, c] = states as [Tensor, Tensor];
    const z = ops.add(xp, ops.matmul(this.recurrentInput(h), this.recurrentKernel!.read()));
    const [zi, zf, zc, zo] = ops.split(z, 4, 1) as [Tensor, Tensor, Tensor, Tensor];
    const sigma = getActivation(this.recurrentActivation);
    const c2 = ops.add(ops.mul(sigma(zf), c), ops.mul(sigma(zi), this.act(zc)));
    const h2 = ops.mul(sigma(zo), this.act(c2));
    return [h2, h2, c2];
  }

  override getConfig(): LSTMCellConfig {
    return { ...super.getConfig(), ...cellConfig(this.settings, this) };
  }

  static fromConfig(config: LSTMCellConfig): LSTMCell {
    return new LSTMCell(config);
  }
}
registerLayer(LSTMCell);

function cellConfig(st: CellSettings, cell: LSTMCell): Omit<LSTMCellConfig, 'name' | 'trainable' | 'dtype' | 'batchInputShape'> {
  const c: Omit<LSTMCellConfig, 'name' | 'trainable' | 'dtype' | 'batchInputShape'> = {
    ...st.config(undefined),
    recurrentActivation: cell.recurrentActivation,
    unitForgetBias: cell.unitForgetBias,
  };
  if (cell.implementation !== undefined) c.implementation = cell.implementation;
  return c;
}

export interface LSTMArgs extends LSTMCellArgs, RNNBaseArgs {}
export interface LSTMConfig extends Omit<LSTMCellConfig, 'activityRegularizer'>, RNNBaseConfig {}

export class LSTM extends RNN {
  static override className = 'LSTM';
  declare readonly cell: LSTMCell;

  constructor(args: LSTMArgs) {
    super(args, [...CELL_ARGS, ...LSTM_CELL_KEYS], (name) => new LSTMCell(cellArgsOf(args, LSTM_CELL_KEYS, name)));
  }

  get units(): number {
    return this.cell.units;
  }

  override getConfig(): LSTMConfig {
    const { name: _n, trainable: _t, dtype: _d, batchInputShape: _b, ...cell } = this.cell.getConfig();
    return { ...cell, ...this.rnnConfig() };
  }

  static override fromConfig(config: LSTMConfig): LSTM {
    return new LSTM(config as LSTMArgs);
  }
}
registerLayer(LSTM);

export function lstmCell(args: LSTMCellArgs): LSTMCell {
  return new LSTMCell(args);
}

export function lstm(args: LSTMArgs): LSTM {
  return new LSTM(args);
}
