/**
 * Activation functions by Keras name, written in frontend ops so they trace into IR.
 * The canonical names are tfjs-layers' (what its configs hold: `hardSigmoid`, `logSoftmax`,
 * `gelu_new`); Keras's snake_case spellings (`hard_sigmoid`, `log_softmax`) and Keras 3's
 * `silu` are accepted as aliases and normalized, so a config written by either loads and a
 * config Kiln writes loads in tfjs-layers. `gelu` is the exact (erf) form, `gelu_new` the tanh
 * approximation; `hardSigmoid` is tfjs's and Keras 2's `clip(0.2 x + 0.5, 0, 1)` (Keras 3's has
 * slope 1/6: a Keras 3 file naming it gets tfjs's slope). Keras 3's `leaky_relu` (slope 0.2),
 * `hard_silu` / `hard_swish` (x relu6(x + 3) / 6) and `log_sigmoid` exist too; tfjs-layers cannot
 * read a config that names them.
 */
import { KilnError } from '../ir/types.js';
import { ops, type Tensor } from './backend.js';
import { suggestion } from './layers/args.js';

export type ActivationFn = (x: Tensor) => Tensor;

const activations = {
  linear: (x: Tensor): Tensor => x,
  relu: (x: Tensor): Tensor => ops.relu(x),
  relu6: (x: Tensor): Tensor => ops.relu6(x),
  sigmoid: (x: Tensor): Tensor => ops.sigmoid(x),
  hardSigmoid: (x: Tensor): Tensor => ops.clipByValue(ops.add(ops.mul(x, 0.2), 0.5), 0, 1),
  tanh: (x: Tensor): Tensor => ops.tanh(x),
  softmax: (x: Tensor): Tensor => ops.softmax(x, -1),
  logSoftmax: (x: Tensor): Tensor => ops.logSoftmax(x, -1),
  gelu: (x: Tensor): Tensor => ops.gelu(x, false),
  gelu_new: (x: Tensor): Tensor => ops.gelu(x, true),
  elu: (x: Tensor): Tensor => ops.elu(x),
  selu: (x: Tensor): Tensor => ops.selu(x),
  softplus: (x: Tensor): Tensor => ops.softplus(x),
  softsign: (x: Tensor): Tensor => ops.softsign(x),
  swish: (x: Tensor): Tensor => ops.mul(x, ops.sigmoid(x)),
  mish: (x: Tensor): Tensor => ops.mul(x, ops.tanh(ops.softplus(x))),
  exponential: (x: Tensor): Tensor => ops.exp(x),
  // Keras 3's, which tfjs-layers lacks (Kiln writes them in this spelling; Keras JSON camel-cases to it).
  leakyRelu: (x: Tensor): Tensor => ops.leakyRelu(x, 0.2),
  hardSilu: (x: Tensor): Tensor => ops.mul(x, ops.div(ops.relu6(ops.add(x, 3)), 6)),
  logSigmoid: (x: Tensor): Tensor => ops.neg(ops.softplus(ops.neg(x))),
} satisfies Record<string, ActivationFn>;

/** The canonical (tfjs-layers) activation names. */
export type ActivationName = keyof typeof activations;

const aliases = {
  hard_sigmoid: 'hardSigmoid',
  log_softmax: 'logSoftmax',
  geluNew: 'gelu_new',
  silu: 'swish',
  leaky_relu: 'leakyRelu',
  hard_silu: 'hardSilu',
  hard_swish: 'hardSilu',
  hardSwish: 'hardSilu',
  log_sigmoid: 'logSigmoid',
} as const satisfies Record<string, ActivationName>;

/** Any accepted spelling: a canonical name or a Keras alias. */
export type ActivationIdentifier = ActivationName | keyof typeof aliases;

export const ACTIVATION_NAMES = Object.keys(activations) as ActivationName[];

/**
 * The canonical name of an activation written in any accepted spelling (`null`/undefined is
 * `linear`); anything else is refused naming `who` and the closest valid name.
 */
export function activationName(name: unknown, who = 'activation'): ActivationName {
  if (name == null) return 'linear';
  if (typeof name === 'string') {
    if (name in activations) return name as ActivationName;
    if (name in aliases) return aliases[name as keyof typeof aliases];
  }
  const shown = typeof name === 'string' ? `'${name}'` : JSON.stringify(name);
  const hint = typeof name === 'string' ? ` ${suggestion(name, [...ACTIVATION_NAMES, ...Object.keys(aliases)])}` : ` (valid: ${ACTIVATION_NAMES.join(', ')})`;
  throw new KilnError(`${who}: unknown activation ${shown}${hint}`);
}

/** Look up an activation by any accepted spelling; the error names `who` and the valid names. */
export function getActivation(name: ActivationIdentifier | string | undefined | null, who = 'activation'): ActivationFn {
  return activations[activationName(name, who)];
}

export function isActivationName(name: string): name is ActivationIdentifier {
  return name in activations || name in aliases;
}
