/** Activation: applies a named activation function (see ../activations.ts) elementwise. */
import { getActivation, type ActivationIdentifier } from '../activations.js';
import type { Tensor } from '../backend.js';
import { Layer, registerLayer, type CallArgs, type LayerArgs, type LayerConfig } from '../engine/layer.js';

export interface ActivationArgs extends LayerArgs {
  activation: ActivationIdentifier;
}

export interface ActivationConfig extends LayerConfig {
  activation: ActivationIdentifier;
}

export class Activation extends Layer {
  static override className = 'Activation';
  readonly activation: ActivationIdentifier;

  constructor(args: ActivationArgs) {
    super(args);
    this.activation = args.activation;
    getActivation(this.activation, this.label);
  }

  override call(inputs: Tensor | Tensor[], _args: CallArgs): Tensor {
    return getActivation(this.activation)(Array.isArray(inputs) ? inputs[0]! : inputs);
  }

  override getConfig(): ActivationConfig {
    return { ...super.getConfig(), activation: this.activation };
  }

  static fromConfig(config: ActivationConfig): Activation {
    return new Activation(config);
  }
}
registerLayer(Activation);

export function activation(args: ActivationArgs): Activation {
  return new Activation(args);
}
