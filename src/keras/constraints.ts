/**
 * Weight constraints as tfjs-layers defines them (Keras semantics): projections applied to a
 * variable right after each optimizer update, inside the compiled training step.
 *  - maxNorm({maxValue = 2, axis = 0}): w * clip(norm, 0, maxValue) / (eps + norm)
 *  - unitNorm({axis = 0}):              w / (eps + norm)
 *  - nonNeg():                          relu(w)
 *  - minMaxNorm({minValue = 0, maxValue = 1, rate = 1, axis = 0}):
 *        w * (rate * clip(norm, minValue, maxValue) + (1 - rate) * norm) / (eps + norm)
 * where norm is the L2 norm over `axis` (kept for broadcasting) and eps = 1e-7 (Keras's
 * epsilon). They serialize as tfjs-layers does, `{className: 'MaxNorm', config: {maxValue, axis}}`.
 */
import { KilnError } from '../ir/types.js';
import { ops, type Tensor } from './backend.js';
import { suggestion } from './layers/args.js';

export interface Constraint {
  readonly className: string;
  /** The projected weight. */
  apply(w: Tensor): Tensor;
  getConfig(): Record<string, unknown>;
}

export interface SerializedConstraint {
  className: string;
  config: Record<string, unknown>;
}

/** tfjs names and Keras's snake_case names. */
export type ConstraintIdentifier = 'maxNorm' | 'minMaxNorm' | 'nonNeg' | 'unitNorm' | 'max_norm' | 'min_max_norm' | 'non_neg' | 'unit_norm';
export type ConstraintLike = Constraint | ConstraintIdentifier | SerializedConstraint;

export type ConstraintAxis = number | readonly number[];

const EPSILON = 1e-7;

function checkKeys(cls: string, args: object, known: readonly string[]): void {
  if (args === null || typeof args !== 'object') throw new KilnError(`${cls}: expected an arguments object, got ${String(args)}`);
  for (const k of Object.keys(args)) {
    if (!known.includes(k)) throw new KilnError(`${cls}: unknown argument '${k}' ${suggestion(k, known)}`);
  }
}

function checkNumber(cls: string, field: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new KilnError(`${cls}: ${field} must be a finite number, got ${JSON.stringify(v)}`);
  return v;
}

function checkAxis(cls: string, v: unknown): ConstraintAxis {
  const ok = (a: unknown): boolean => Number.isInteger(a);
  if (ok(v) || (Array.isArray(v) && v.length > 0 && v.every(ok))) return v as ConstraintAxis;
  throw new KilnError(`${cls}: axis must be an integer or a list of integers, got ${JSON.stringify(v)}`);
}

function l2Norms(w: Tensor, axis: ConstraintAxis): Tensor {
  const rank = w.rank;
  for (const a of typeof axis === 'number' ? [axis] : axis) {
    if (a < -rank || a >= rank) throw new KilnError(`constraint: axis ${JSON.stringify(axis)} is out of range for a weight of shape [${w.shape.join(',')}]`);
  }
  return ops.sqrt(ops.sum(ops.mul(w, w), typeof axis === 'number' ? axis : [...axis], true));
}

export class MaxNorm implements Constraint {
  readonly className = 'MaxNorm';
  readonly maxValue: number;
  readonly axis: ConstraintAxis;
  constructor(args: { maxValue?: number; axis?: ConstraintAxis } = {}) {
    checkKeys('MaxNorm', args, ['maxValue', 'axis']);
    this.maxValue = checkNumber('MaxNorm', 'maxValue', args.maxValue ?? 2);
    this.axis = checkAxis('MaxNorm', args.axis ?? 0);
  }
  apply(w: Tensor): Tensor {
    const norms = l2Norms(w, this.axis);
    const desired = ops.clipByValue(norms, 0, this.maxValue);
    return ops.mul(w, ops.div(desired, ops.add(norms, EPSILON)));
  }
  getConfig(): Record<string, unknown> {
    return { maxValue: this.maxValue, axis: this.axis };
  }
}

export class UnitNorm implements Constraint {
  readonly className = 'UnitNorm';
  readonly axis: ConstraintAxis;
  constructor(args: { axis?: ConstraintAxis } = {}) {
    checkKeys('UnitNorm', args, ['axis']);
    this.axis = checkAxis('UnitNorm', args.axis ?? 0);
  }
  apply(w: Tensor): Tensor {
    return ops.div(w, ops.add(l2Norms(w, this.axis), EPSILON));
  }
  getConfig(): Record<string, unknown> {
    return { axis: this.axis };
  }
}

export class NonNeg implements Constraint {
  readonly className = 'NonNeg';
  constructor(args: Record<string, never> = {}) {
    checkKeys('NonNeg', args, []);
  }
  apply(w: Tensor): Tensor {
    return ops.relu(w);
  }
  getConfig(): Record<string, unknown> {
    return {};
  }
}

export class MinMaxNorm implements Constraint {
  readonly className = 'MinMaxNorm';
  readonly minValue: number;
  readonly maxValue: number;
  readonly rate: number;
  readonly axis: ConstraintAxis;
  constructor(args: { minValue?: number; maxValue?: number; rate?: number; axis?: ConstraintAxis } = {}) {
    checkKeys('MinMaxNorm', args, ['minValue', 'maxValue', 'rate', 'axis']);
    this.minValue = checkNumber('MinMaxNorm', 'minValue', args.minValue ?? 0);
    this.maxValue = checkNumber('MinMaxNorm', 'maxValue', args.maxValue ?? 1);
    this.rate = checkNumber('MinMaxNorm', 'rate', args.rate ?? 1);
    this.axis = checkAxis('MinMaxNorm', args.axis ?? 0);
    if (this.minValue > this.maxValue) throw new KilnError(`MinMaxNorm: minValue (${this.minValue}) is greater than maxValue (${this.maxValue})`);
  }
  apply(w: Tensor): Tensor {
    const norms = l2Norms(w, this.axis);
    const desired = ops.add(ops.mul(ops.clipByValue(norms, this.minValue, this.maxValue), this.rate), ops.mul(norms, 1 - this.rate));
    return ops.mul(w, ops.div(desired, ops.add(norms, EPSILON)));
  }
  getConfig(): Record<string, unknown> {
    return { minValue: this.minValue, maxValue: this.maxValue, rate: this.rate, axis: this.axis };
  }
}

/** Factories in tfjs spelling: `constraints.maxNorm({maxValue: 3, axis: 0})`. */
export const maxNorm = (args?: { maxValue?: number; axis?: ConstraintAxis }): Constraint => new MaxNorm(args);
export const unitNorm = (args?: { axis?: ConstraintAxis }): Constraint => new UnitNorm(args);
export const nonNeg = (): Constraint => new NonNeg();
export const minMaxNorm = (args?: { minValue?: number; maxValue?: number; rate?: number; axis?: ConstraintAxis }): Constraint => new MinMaxNorm(args);

type Ctor = new (config: never) => Constraint;
const classes: Record<string, Ctor> = { MaxNorm, UnitNorm, NonNeg, MinMaxNorm };
const byIdentifier: Record<string, string> = {
  maxNorm: 'MaxNorm', minMaxNorm: 'MinMaxNorm', nonNeg: 'NonNeg', unitNorm: 'UnitNorm',
  max_norm: 'MaxNorm', min_max_norm: 'MinMaxNorm', non_neg: 'NonNeg', unit_norm: 'UnitNorm',
};

/** Resolve a constraint; `who` names the layer and field in errors. null/undefined: none. */
export function getConstraint(id: ConstraintLike | null | undefined, who = 'constraint'): Constraint | undefined {
  if (id == null) return undefined;
  if (typeof id === 'object' && 'apply' in id && typeof id.apply === 'function') return id;
  const raw = typeof id === 'string' ? id : typeof id === 'object' ? id.className : undefined;
  const name = typeof raw === 'string' ? (byIdentifier[raw] ?? raw) : undefined;
  const Cls = name !== undefined ? classes[name] : undefined;
  if (!Cls) {
    const valid = [...Object.keys(classes), ...Object.keys(byIdentifier)];
    throw new KilnError(`${who}: unknown constraint ${typeof raw === 'string' ? `'${raw}' ${suggestion(raw, valid)}` : `${JSON.stringify(id)} (valid: ${valid.join(', ')})`}`);
  }
  const config = typeof id === 'object' ? ((id as SerializedConstraint).config ?? {}) : {};
  try {
    return new (Cls as unknown as new (c: Record<string, unknown>) => Constraint)(config);
  } catch (e) {
    if (e instanceof KilnError) throw new KilnError(`${who}: ${e.message}`);
    throw e;
  }
}

/** `{className, config}`, as tfjs-layers' serializeConstraint writes it. */
export function serializeConstraint(c: Constraint | undefined): SerializedConstraint | null {
  return c ? { className: c.className, config: { ...c.getConfig() } } : null;
}
