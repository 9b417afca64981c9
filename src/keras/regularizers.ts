/**
 * Weight and activity regularizers (Keras semantics, tfjs spelling): `l1`, `l2`, `l1l2`, all one
 * class `L1L2` as tfjs-layers has it, penalty = l1 * sum(|x|) + l2 * sum(x^2). A layer's
 * regularizer penalties are added to the training loss inside the compiled step (see
 * engine/training.ts); they serialize as tfjs-layers writes them, `{className: 'L1L2', config:
 * {l1, l2}}`. Keras's `L1`/`L2` class names and the names 'l1', 'l2', 'l1l2'/'l1_l2' load too.
 */
import { KilnError } from '../ir/types.js';
import { ops, type Tensor } from './backend.js';
import { suggestion } from './layers/args.js';

export interface Regularizer {
  readonly className: string;
  /** The penalty (an f32 scalar) for a weight or activation tensor. */
  apply(x: Tensor): Tensor;
  getConfig(): Record<string, number>;
}

export interface SerializedRegularizer {
  className: string;
  config: Record<string, unknown>;
}

export type RegularizerIdentifier = 'l1' | 'l2' | 'l1l2' | 'l1_l2';

/** What layer arguments accept: an instance, a name or a serialized regularizer (null: none). */
export type RegularizerLike = Regularizer | RegularizerIdentifier | SerializedRegularizer;

export interface L1L2Args {
  l1?: number;
  l2?: number;
}

/** Keras's default factor for a regularizer built by name. */
const DEFAULT = 0.01;

export class L1L2 implements Regularizer {
  readonly className = 'L1L2';
  readonly l1: number;
  readonly l2: number;
  constructor(args: L1L2Args = {}) {
    if (args === null || typeof args !== 'object') throw new KilnError(`L1L2: expected {l1?, l2?}, got ${String(args)}`);
    for (const k of Object.keys(args)) {
      if (k !== 'l1' && k !== 'l2') throw new KilnError(`L1L2: unknown argument '${k}' ${suggestion(k, ['l1', 'l2'])}`);
    }
    this.l1 = args.l1 ?? DEFAULT;
    this.l2 = args.l2 ?? DEFAULT;
    for (const [k, v] of [['l1', this.l1], ['l2', this.l2]] as const) {
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new KilnError(`L1L2: ${k} must be a finite number >= 0, got ${JSON.stringify(v)}`);
    }
  }
  apply(x: Tensor): Tensor {
    // tfjs-layers' order: sum(l1 * |x|) + sum(l2 * x^2), each term only when its factor is not 0.
    let penalty: Tensor = ops.zeros([]);
    if (this.l1 !== 0) penalty = ops.add(penalty, ops.sum(ops.mul(ops.abs(x), this.l1)));
    if (this.l2 !== 0) penalty = ops.add(penalty, ops.sum(ops.mul(ops.square(x), this.l2)));
    return penalty;
  }
  getConfig(): Record<string, number> {
    return { l1: this.l1, l2: this.l2 };
  }
}

/** Factories in tfjs spelling: `regularizers.l2({l2: 1e-4})`. */
export const l1 = (args: { l1?: number } = {}): Regularizer => new L1L2({ l1: args.l1 ?? DEFAULT, l2: 0 });
export const l2 = (args: { l2?: number } = {}): Regularizer => new L1L2({ l1: 0, l2: args.l2 ?? DEFAULT });
export const l1l2 = (args: L1L2Args = {}): Regularizer => new L1L2(args);

const byName: Record<string, (config: Record<string, unknown>) => Regularizer> = {
  L1L2: (c) => new L1L2(c as L1L2Args),
  L1: (c) => l1(c as { l1?: number }),
  L2: (c) => l2(c as { l2?: number }),
  l1: () => l1(),
  l2: () => l2(),
  l1l2: () => l1l2(),
  l1_l2: () => l1l2(),
};

/** Resolve a regularizer; `who` names the layer and field in errors. null/undefined: none. */
export function getRegularizer(id: RegularizerLike | null | undefined, who = 'regularizer'): Regularizer | undefined {
  if (id == null) return undefined;
  if (typeof id === 'object' && 'apply' in id && typeof id.apply === 'function') return id;
  const name = typeof id === 'string' ? id : typeof id === 'object' ? id.className : undefined;
  const make = typeof name === 'string' ? byName[name] : undefined;
  if (!make) {
    const shown = typeof name === 'string' ? `'${name}'` : JSON.stringify(id);
    throw new KilnError(`${who}: unknown regularizer ${shown} ${typeof name === 'string' ? suggestion(name, Object.keys(byName)) : `(valid: ${Object.keys(byName).join(', ')})`}`);
  }
  const config = typeof id === 'object' ? ((id as SerializedRegularizer).config ?? {}) : {};
  try {
    return make(config);
  } catch (e) {
    if (e instanceof KilnError) throw new KilnError(`${who}: ${e.message}`);
    throw e;
  }
}

/** `{className: 'L1L2', config: {l1, l2}}`, as tfjs-layers' serializeRegularizer writes it. */
export function serializeRegularizer(r: Regularizer | undefined): SerializedRegularizer | null {
  return r ? { className: r.className, config: { ...r.getConfig() } } : null;
}
