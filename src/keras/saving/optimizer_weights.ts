/**
 * Optimizer slots in files: tfjs-layers writes them (includeOptimizer) as `iter` followed by each
 * slot kind over all variables (Adam: every `<var>/m`, then every `<var>/v`), while Kiln's
 * training state keeps the iteration counter then each variable's slots together. These two
 * functions reorder between the layouts; names follow tfjs (`iter`, `<weight>/<slot>`).
 *
 * Values too: Kiln's SGD momentum slot is Keras's velocity `m = momentum * m - lr * g`, while
 * tfjs's Momentum optimizer keeps `accum = momentum * accum + g` and steps by `-lr * accum`; with
 * the constant learning rate a tfjs Momentum config carries, `m = -lr * accum`, so a file whose
 * optimizer class is 'Momentum' stores `-m / lr`.
 */
import { KilnError } from '../../ir/types.js';
import type { Model } from '../engine/model.js';
import { getOptimizerState, type StateTensor } from '../engine/training_state.js';
import { trainerOf } from '../engine/training.js';

/** The factor from Kiln's slot values to the file's (1 except for tfjs's Momentum, see above). */
function slotScale(model: Model, fileClass: string, who: string): number {
  if (fileClass !== 'Momentum') return 1;
  const lr = trainerOf(who, model).optimizer.learningRate;
  if (typeof lr !== 'number' || lr === 0) throw new KilnError(`${who}: a 'Momentum' optimizer's slots need a constant non-zero learning rate, got ${String(lr)}`);
  return -1 / lr;
}

function scaled(t: StateTensor, factor: number): StateTensor {
  return factor === 1 || t.dtype !== 'f32' ? t : { ...t, data: Float32Array.from(t.data, (v) => v * factor) };
}

/** Kiln's optimizer state -> tfjs's slot-major order, names and values, for a file whose optimizer class is `fileClass`. */
export function toTfjsOptimizerOrder(model: Model, fileClass: string, who: string): StateTensor[] {
  const factor = slotScale(model, fileClass, who);
  const state = getOptimizerState(model);
  const params = model.trainableWeights.map((w) => w.name);
  if (state.length === 0) return [];
  const perParam = params.length === 0 ? 0 : (state.length - 1) / params.length;
  if (!Number.isInteger(perParam)) throw new KilnError(`model.save: optimizer state of ${state.length} tensors does not split over ${params.length} trainable weights`);
  const slotName = (name: string) => name.slice(name.lastIndexOf('/') + 1);
  const out: StateTensor[] = [{ ...state[0]!, name: 'iter' }];
  for (let s = 0; s < perParam; s++) {
    params.forEach((p, i) => {
      const t = state[1 + i * perParam + s]!;
      out.push({ ...scaled(t, factor), name: `${p}/${slotName(t.name)}` });
    });
  }
  return out;
}

/** tfjs's slot-major optimizer weights -> Kiln's order (checked against the compiled model's state). */
export function fromTfjsOptimizerOrder(model: Model, tensors: readonly StateTensor[], fileClass: string, who: string): StateTensor[] {
  const factor = 1 / slotScale(model, fileClass, who);
  const want = getOptimizerState(model);
  if (tensors.length !== want.length) {
    throw new KilnError(`${who}: the file has ${tensors.length} optimizer weights (${tensors.map((t) => t.name).slice(0, 6).join(', ')}...) but the model's optimizer has ${want.length} state tensors (${want.map((t) => t.name).slice(0, 6).join(', ')}...)`);
  }
  if (want.length === 0) return [];
  const params = model.trainableWeights.length;
  const perParam = params === 0 ? 0 : (want.length - 1) / params;
  const out: StateTensor[] = [tensors[0]!];
  for (let i = 0; i < params; i++) for (let s = 0; s < perParam; s++) out.push(scaled(tensors[1 + s * params + i]!, factor));
  return out;
}
