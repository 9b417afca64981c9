/** Activation: applies a named activation function (see ../activations.ts) elementwise. */
import { activationName, getActivation, type ActivationIdentifier, type ActivationName } from '../activations.js';
import type { Tensor } from '../backend.js';
import { Layer, registerLayer, type CallArgs, type LayerArgs, type LayerConfig } from '../engine/layer.js';
import { checkLayerArgs } from './args.js';

export interface ActivationArgs extends LayerArgs {
  activation: ActivationIdentifier;
}

export interface ActivationConfig extends LayerConfig {
  activation: ActivationName;
}

export class Activation extends Layer {
  static override className = 'Activation';
  readonly activation: ActivationName;

  constructor(args: ActivationArgs) {
    super(args);
    checkLayerArgs(this.label, args, { known: ['activation'], required: ['activation'] });
    this.supportsMasking = true;
    this.activation = activationName(args.activation, this.label);
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
