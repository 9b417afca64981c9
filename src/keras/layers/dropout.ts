/**
 * Dropout: identity at inference. Training-mode masking (scaled by 1/(1-rate)) comes with the
 * training work; until then a training call says so instead of silently doing nothing.
 */
import { Layer, registerLayer, type CallArgs, type LayerArgs, type LayerConfig } from '../engine/layer.js';
import type { Tensor } from '../backend.js';

export interface DropoutArgs extends LayerArgs {
  rate: number;
  seed?: number;
  noiseShape?: readonly number[];
}

export interface DropoutConfig extends LayerConfig {
  rate: number;
  seed?: number;
  noiseShape?: number[];
}

export class Dropout extends Layer {
  static override className = 'Dropout';
  readonly rate: number;
  readonly seed?: number;
  readonly noiseShape?: number[];

  constructor(args: DropoutArgs) {
    super(args);
    if (!(args.rate >= 0 && args.rate < 1)) this.fail(`rate must be in [0, 1), got ${args.rate}`);
    this.rate = args.rate;
    this.seed = args.seed;
    if (args.noiseShape) this.noiseShape = [...args.noiseShape];
  }

  override call(inputs: Tensor | Tensor[], args: CallArgs): Tensor {
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    if (args.training && this.rate > 0) {
      this.fail('training-mode dropout is not implemented yet (inference is the identity); call with training: false');
    }
    return x;
  }

  override getConfig(): DropoutConfig {
    const c: DropoutConfig = { ...super.getConfig(), rate: this.rate };
    if (this.seed !== undefined) c.seed = this.seed;
    if (this.noiseShape) c.noiseShape = [...this.noiseShape];
    return c;
  }

  static fromConfig(config: DropoutConfig): Dropout {
    return new Dropout(config);
  }
}
registerLayer(Dropout);

export function dropout(args: DropoutArgs): Dropout {
  return new Dropout(args);
}
