/**
 * GRUCell and GRU, gate order z, r, h. With `resetAfter: false` (tfjs-layers' only form, its
 * default and Keras 2's v1 formulation) the reset gate applies before the recurrent matmul:
 *   [xz, xr, xh] = split(x·kernel + bias, 3),  [hz, hr] = split(h·R[:, :2u], 2)
 *   z = σ(xz + hz), r = σ(xr + hr), ĥ = act(xh + (r·h)·R[:, 2u:]),  h' = z·h + (1 - z)·ĥ
 * With `resetAfter: true` (Keras 3's default, cuDNN-compatible) the bias is `[2, 3u]` (input and
 * recurrent halves) and the reset gate applies after it:
 *   [hz, hr, hh] = split(h·R + bias[1], 3),  ĥ = act(xh + r·hh)
 */
import { activationName, getActivation, type ActivationIdentifier, type ActivationName } from '../activations.js';
import { ops, type Tensor } from '../backend.js';
import { registerLayer, type CallArgs } from '../engine/layer.js';
import type { Initializer } from '../initializers.js';
import { cellArgsOf, checkImplementation, CELL_ARGS, GatedCell, type CellArgs, type CellConfig } from './recurrent.js';
import { RNN, type RNNBaseArgs, type RNNBaseConfig } from './rnn.js';

export interface GRUCellArgs extends CellArgs {
  recurrentActivation?: ActivationIdentifier | null;
  /** Apply the reset gate after the recurrent matmul (Keras 3's default; tfjs-layers has only false). Default false. */
  resetAfter?: boolean;
  implementation?: number;
}

const GRU_CELL_KEYS = ['recurrentActivation', 'resetAfter', 'implementation'] as const;

export interface GRUCellConfig extends CellConfig {
  recurrentActivation: ActivationName;
  resetAfter: boolean;
  implementation?: number;
}

export class GRUCell extends GatedCell {
  static override className = 'GRUCell';
  protected readonly gates = 3;
  readonly recurrentActivation: ActivationName;
  readonly resetAfter: boolean;
  readonly implementation?: number;

  constructor(args: GRUCellArgs) {
    super(args, GRU_CELL_KEYS);
    this.recurrentActivation = activationName(args.recurrentActivation === undefined ? 'hardSigmoid' : args.recurrentActivation, this.label);
    this.resetAfter = args.resetAfter ?? false;
    this.implementation = checkImplementation(this.label, args.implementation, (m) => this.fail(m));
  }

  override get stateSize(): number[] {
    return [this.units];
  }

  protected override biasSpec(): { shape: number[]; init: Initializer } {
    const base = super.biasSpec();
    return this.resetAfter ? { shape: [2, 3 * this.units], init: base.init } : base;
  }

  /** Row `i` of the `[2, 3u]` bias (resetAfter). */
  private biasRow(i: number): Tensor {
    return ops.reshape(ops.slice(this.bias!.read(), [i, 0], [1, 3 * this.units]), [3 * this.units]);
  }

  protected override inputBias(): Tensor | undefined {
    if (!this.bias) return undefined;
    return this.resetAfter ? this.biasRow(0) : this.bias.read();
  }

  override stepProjected(xp: Tensor, states: Tensor[], args: CallArgs): Tensor[] {
    this.checkDropout(args);
    const h = states[0]!;
    const u = this.units;
    const sigma = getActivation(this.recurrentActivation);
    const rk = this.recurrentKernel!.read();
    const [xz, xr, xh] = ops.split(xp, 3, 1) as [Tensor, Tensor, Tensor];
    let hh: Tensor;
    let z: Tensor;
    if (this.resetAfter) {
      let inner = ops.matmul(this.recurrentInput(h), rk);
      if (this.bias) inner = ops.add(inner, this.biasRow(1));
      const [hz, hr, hcand] = ops.split(inner, 3, 1) as [Tensor, Tensor, Tensor];
      z = sigma(ops.add(xz, hz));
      const r = sigma(ops.add(xr, hr));
      hh = this.act(ops.add(xh, ops.mul(r, hcand)));
    } else {
      const [rk1, rk2] = ops.split(rk, [2 * u, u], 1) as [Tensor, Tensor];
      const [hz, hr] = ops.split(ops.matmul(this.recurrentInput(h), rk1), 2, 1) as [Tensor, Tensor];
      z = sigma(ops.add(xz, hz));
      const r = sigma(ops.add(xr, hr));
      hh = this.act(ops.add(xh, ops.matmul(ops.mul(r, this.recurrentInput(h)), rk2)));
    }
    const h2 = ops.add(ops.mul(z, h), ops.mul(ops.sub(1, z), hh));
    return [h2, h2];
  }

  override getConfig(): GRUCellConfig {
    const c: GRUCellConfig = {
      ...super.getConfig(),
      ...this.settings.config(undefined),
      recurrentActivation: this.recurrentActivation,
      resetAfter: this.resetAfter,
    };
    if (this.implementation !== undefined) c.implementation = this.implementation;
    return c;
  }

  static fromConfig(config: GRUCellConfig): GRUCell {
    return new GRUCell(config);
  }
}
registerLayer(GRUCell);

export interface GRUArgs extends GRUCellArgs, RNNBaseArgs {}
export interface GRUConfig extends Omit<GRUCellConfig, 'activityRegularizer'>, RNNBaseConfig {}

export class GRU extends RNN {
  static override className = 'GRU';
  declare readonly cell: GRUCell;

  constructor(args: GRUArgs) {
    super(args, [...CELL_ARGS, ...GRU_CELL_KEYS], (name) => new GRUCell(cellArgsOf(args, GRU_CELL_KEYS, name)));
  }

  get units(): number {
    return this.cell.units;
  }

  override getConfig(): GRUConfig {
    const { name: _n, trainable: _t, dtype: _d, batchInputShape: _b, ...cell } = this.cell.getConfig();
    return { ...cell, ...this.rnnConfig() };
  }

  static override fromConfig(config: GRUConfig): GRU {
    return new GRU(config as GRUArgs);
  }
}
registerLayer(GRU);

export function gruCell(args: GRUCellArgs): GRUCell {
  return new GRUCell(args);
}

export function gru(args: GRUArgs): GRU {
  return new GRU(args);
}
