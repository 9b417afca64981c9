/**
 * Activation functions by Keras name, written in frontend ops so they trace into IR.
 * Names follow tfjs-layers (camelCase where tfjs has it); `gelu` is the exact (erf) form as in
 * Keras 3 and tfjs-layers, `geluNew` the tanh approximation.
 */
import { KilnError } from '../ir/types.js';
import { ops, type Tensor } from './backend.js';

export type ActivationFn = (x: Tensor) => Tensor;

const activations = {
  linear: (x: Tensor): Tensor => x,
  relu: (x: Tensor): Tensor => ops.relu(x),
  relu6: (x: Tensor): Tensor => ops.relu6(x),
  sigmoid: (x: Tensor): Tensor => ops.sigmoid(x),
  tanh: (x: Tensor): Tensor => ops.tanh(x),
  softmax: (x: Tensor): Tensor => ops.softmax(x, -1),
  gelu: (x: Tensor): Tensor => ops.gelu(x, false),
  geluNew: (x: Tensor): Tensor => ops.gelu(x, true),
  elu: (x: Tensor): Tensor => ops.elu(x),
  selu: (x: Tensor): Tensor => ops.selu(x),
  softplus: (x: Tensor): Tensor => ops.softplus(x),
  swish: (x: Tensor): Tensor => ops.mul(x, ops.sigmoid(x)),
} satisfies Record<string, ActivationFn>;

export type ActivationIdentifier = keyof typeof activations;

export const ACTIVATION_NAMES = Object.keys(activations) as ActivationIdentifier[];

/** Look up an activation by name; the error lists the valid names. */
export function getActivation(name: ActivationIdentifier | string | undefined | null, who = 'activation'): ActivationFn {
  const key = name ?? 'linear';
  const f = (activations as Record<string, ActivationFn>)[key];
  if (!f) throw new KilnError(`${who}: unknown activation '${key}' (valid: ${ACTIVATION_NAMES.join(', ')})`);
  return f;
}

export function isActivationName(name: string): name is ActivationIdentifier {
  return name in activations;
}
