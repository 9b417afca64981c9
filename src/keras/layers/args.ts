/**
 * Argument checking shared by every layer: unknown keys are refused with the closest valid
 * name, required keys are named when missing, and a value the layer cannot honour is refused
 * naming the layer, the field and the value. Layers take camelCase keys (the importer converts
 * Keras's snake_case); messages read `Conv2D 'conv2d_1': unknown argument 'kernelSise' (did you
 * mean 'kernelSize'?)`.
 */
import { KilnError } from '../../ir/types.js';

/** The arguments every layer takes (tfjs-layers' LayerArgs that Kiln honours). */
export const BASE_LAYER_ARGS = ['name', 'trainable', 'inputShape', 'batchInputShape', 'batchSize', 'dtype'] as const;

/** Edit distance (insert, delete, substitute, swap of neighbours), case-insensitive. */
function distance(a: string, b: string, caseless = true): number {
  if (caseless) {
    a = a.toLowerCase();
    b = b.toLowerCase();
  }
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/** The candidate closest to `name`, if it is close enough to be a plausible typo. */
export function closestName(name: string, candidates: readonly string[]): string | undefined {
  const snakeless = name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    // Case-insensitive edit distance; an exact-case match wins a tie ('l3' -> 'l1', not 'L1').
    const dist = Math.min(distance(name, c), distance(snakeless, c)) + distance(name, c, false) / 100;
    if (dist < bestD) [best, bestD] = [c, dist];
  }
  return best !== undefined && Math.floor(bestD) <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

/** `(did you mean 'x'?)` or, with nothing close, the list of valid names. */
export function suggestion(name: string, candidates: readonly string[]): string {
  const near = closestName(name, candidates);
  return near !== undefined ? `(did you mean '${near}'?)` : `(valid: ${candidates.join(', ')})`;
}

export interface ArgSpec {
  /** Keys the layer accepts besides BASE_LAYER_ARGS. */
  readonly known: readonly string[];
  /** Keys that must be present (and not undefined/null). */
  readonly required?: readonly string[];
}

/**
 * Check a layer's arguments object: it must be an object, have no unknown key and carry every
 * required key. `who` is the layer's label (`Conv2D 'conv2d_1'`).
 */
export function checkLayerArgs(who: string, args: unknown, spec: ArgSpec): void {
  if (args === undefined) args = {};
  if (args === null || typeof args !== 'object' || Array.isArray(args)) {
    throw new KilnError(`${who}: expected an arguments object${spec.required?.length ? ` with ${spec.required.join(', ')}` : ''}, got ${Array.isArray(args) ? 'an array' : String(args)}`);
  }
  const valid = [...BASE_LAYER_ARGS, ...spec.known];
  for (const key of Object.keys(args)) {
    if (!valid.includes(key)) throw new KilnError(`${who}: unknown argument '${key}' ${suggestion(key, valid)}`);
  }
  for (const key of spec.required ?? []) {
    if ((args as Record<string, unknown>)[key] == null) throw new KilnError(`${who}: ${key} is required`);
  }
}

/** Refuse a value Kiln cannot honour, naming the layer, the field, the value and what works. */
export function refuseValue(who: string, field: string, value: unknown, accepted: string): never {
  throw new KilnError(`${who}: ${field} ${JSON.stringify(value)} is not supported (${accepted})`);
}

/** An optional field that only one value can take (e.g. `groups: 1`, `renorm: false`). */
export function onlyValue(who: string, field: string, value: unknown, allowed: readonly unknown[]): void {
  if (value === undefined || allowed.includes(value)) return;
  refuseValue(who, field, value, `Kiln supports ${allowed.map((a) => JSON.stringify(a)).join(' or ')}`);
}
