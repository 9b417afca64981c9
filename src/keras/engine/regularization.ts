/**
 * What the compiled training step adds for regularizers and constraints (Keras's `model.losses`
 * and constraint projections): the penalties of every weight regularizer of every layer (nested
 * models included) on the weights' current values, summed with the activity penalties gathered
 * during the forward pass; and, per trainable variable, the constraint to project it with right
 * after the optimizer update. Both read variables with `read()`, so inside a trace that bound
 * the weights they are functions of the step's parameters (the penalties are differentiated).
 */
import type { Tensor, Variable } from '../backend.js';
import { ops } from '../backend.js';
import type { Constraint } from '../constraints.js';
import { collectActivityPenalties, type Layer } from './layer.js';

/** Every layer under `root` (depth first; a nested model contributes its own layers). */
export function allLayers(root: Layer): Layer[] {
  const out: Layer[] = [];
  const seen = new Set<Layer>();
  const visit = (l: Layer): void => {
    if (seen.has(l)) return;
    seen.add(l);
    out.push(l);
    const inner = (l as Layer & { layers?: unknown }).layers;
    if (Array.isArray(inner)) for (const c of inner as Layer[]) visit(c);
  };
  visit(root);
  return out;
}

/** The weight-regularizer penalties of every layer under `root`, on the current weight values. */
export function weightPenalties(root: Layer): Tensor[] {
  return allLayers(root).flatMap((l) => l.weightPenalties.map((p) => p.regularizer.apply(p.variable.read())));
}

/**
 * Run a training forward pass and return its output with the loss plus every regularization
 * penalty (activity penalties of this pass, weight penalties), as Keras sums `model.losses`.
 */
export function withPenalties<T>(root: Layer, forward: () => T, loss: (out: T) => Tensor): { out: T; loss: Tensor } {
  const { result, penalties } = collectActivityPenalties(forward);
  let total = loss(result);
  for (const p of [...penalties, ...weightPenalties(root)]) total = ops.add(total, p);
  return { out: result, loss: total };
}

/** Constraint per variable, for the variables that have one. */
export function constraintsOf(root: Layer): Map<Variable, Constraint> {
  const m = new Map<Variable, Constraint>();
  for (const l of allLayers(root)) for (const c of l.weightConstraints) m.set(c.variable, c.constraint);
  return m;
}
