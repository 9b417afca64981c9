/**
 * AutoGraph (docs/autograph.md): `kiln.fn` and user layers' `call` (under a trace) convert `if`, `?:`,
 * `while`, `for (;;)`, `break`/`continue` and `&&`/`||`/`!` on tensor conditions into
 * kiln.cond / kiln.whileLoop at trace time; conditions on JS values still run in JS.
 */
import { KilnError } from '../../ir/types.js';
import { suggest } from '../../runtime/args.js';
import { activeTrace } from '../context.js';
import { convert } from './convert.js';

export { autographRewrites, convert, setAutographNamespace, toCode, type ConvertOptions } from './convert.js';

/** What a class says about converting its `call`: `static autograph = {scope: {kiln}}`. */
export type AutographSetting = boolean | {
  /** Names the converted `call` may read besides globals and `this` (module imports such as `kiln`). */
  readonly scope?: Readonly<Record<string, unknown>>;
  /** kiln.whileLoop's maximumIterations for the converted tensor loops (needed to differentiate them). */
  readonly maximumIterations?: number;
};

const SETTING_KEYS = ['scope', 'maximumIterations'];

/** Check an AutoGraph scope option: a plain object of identifier names. */
export function checkScope(where: string, scope: unknown): Readonly<Record<string, unknown>> | undefined {
  if (scope === undefined) return undefined;
  if (scope === null || typeof scope !== 'object' || Array.isArray(scope) || Object.getPrototypeOf(scope) !== Object.prototype) {
    throw new KilnError(`${where}: scope must be a plain object of the names the function reads (e.g. {kiln, W}), got ${scope === null ? 'null' : Array.isArray(scope) ? 'an array' : typeof scope}`);
  }
  for (const k of Object.keys(scope)) {
    if (!/^[A-Za-z_$][\w$]*$/.test(k) || k === 'ag__') throw new KilnError(`${where}: scope key '${k}' is not a usable variable name`);
  }
  return scope as Readonly<Record<string, unknown>>;
}

export function checkMaximumIterations(where: string, n: unknown): number | undefined {
  if (n === undefined) return undefined;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) throw new KilnError(`${where}: maximumIterations must be a non-negative integer, got ${String(n)}`);
  return n;
}

/**
 * `method` converted for this trace when a trace is open and `setting` does not turn it off
 * (eager calls run the method as written, as TensorFlow runs Python eagerly); else `method`
 * itself. `undefined` is the default of a user's layer: converted, but a method the transform
 * refuses runs as written unless one of its conditions may be a Tensor object (strict 'auto').
 */
export function autographMethod<F extends (...args: never[]) => unknown>(method: F, setting: unknown, label: string): F {
  if (setting === false || !activeTrace()) return method;
  const where = `${label}: static autograph`;
  if (setting === undefined) {
    return convert(method, {
      name: label,
      strict: 'auto',
      scopeHint: 'the class\'s `static autograph = {scope: {...}}` (or set `static autograph = false` if every condition in call is a plain JS value)',
    });
  }
  if (setting !== true && (setting === null || typeof setting !== 'object' || Array.isArray(setting))) {
    throw new KilnError(`${where} must be true, false or {scope, maximumIterations}, got ${String(setting)}`);
  }
  const obj = (setting === true ? {} : setting) as Record<string, unknown>;
  for (const k of Object.keys(obj)) {
    if (!SETTING_KEYS.includes(k)) throw new KilnError(`${where}: unknown key '${k}'${suggest(k, SETTING_KEYS)}; valid keys are: ${SETTING_KEYS.join(', ')}`);
  }
  return convert(method, {
    name: label,
    scope: checkScope(where, obj['scope']),
    maximumIterations: checkMaximumIterations(where, obj['maximumIterations']),
    strict: true,
    scopeHint: 'the class\'s `static autograph = {scope: {...}}`',
  });
}
