/**
 * AutoGraph's entry: turn a function into its converted twin (transform.ts rewrites the source,
 * runtime.ts runs the helpers), or hand back the function itself when nothing needs converting.
 * The transform runs once per function (cached in a WeakMap, counted by `autographRewrites`);
 * each call of `convert` only instantiates the cached source over its scope.
 *
 * JavaScript gives no access to a closure's variables, so the converted source is rebuilt with
 * `new Function(...names, body)` over names that can be resolved explicitly: the `scope` option,
 * globals (`globalThis`), and `this` for methods and function expressions (bound per call).
 * Conversion is all-or-nothing per function: when a name cannot be resolved, `strict` refuses
 * (naming each unresolved name and its line) if some condition could be a Tensor object that JS
 * would take as true; otherwise the original function runs, where a relational condition on a
 * symbolic tensor (`x.sum() > 0`) still fails loudly (Tensor's Symbol.toPrimitive).
 */
import { KilnError } from '../../ir/types.js';
import { AutographRuntime } from './runtime.js';
import { NotConvertible, transformSource, type Conversion, type FreeName } from './transform.js';

export interface ConvertOptions {
  /** The function's name in messages. */
  name: string;
  /** Names the converted source may read besides globals (kiln.fn's `scope`). */
  scope?: Readonly<Record<string, unknown>>;
  /**
   * Refuse (KilnError) a function that cannot be converted when one of its conditions may be a
   * Tensor object; when false, run it unconverted. `'auto'` (a layer's `call` converted by
   * default): native functions and sources the transform refuses run unconverted unless the
   * transform had already found a condition that may be a Tensor object; unresolvable names
   * are refused as with `true`.
   */
  strict: boolean | 'auto';
  /** kiln.whileLoop's maximumIterations for every converted tensor loop. */
  maximumIterations?: number;
  /** Where the option came from, for messages: `kiln.fn(f, {scope})`. */
  scopeHint?: string;
}

type Outcome = { kind: 'unchanged' } | { kind: 'converted'; conversion: Conversion }
  | { kind: 'error'; error: KilnError; /** Whether a condition may be a Tensor object (undefined: not analysed). */ mandatory: boolean | undefined };

interface Entry {
  outcome: Outcome;
  /** `new Function` factories by the scope names they take. */
  factories: Map<string, (...args: unknown[]) => unknown>;
}

const cache = new WeakMap<object, Entry>();

/** Kiln's public module namespace (src/index.ts registers it), for `'auto'` conversions. */
let kilnNamespace: Readonly<Record<string, unknown>> | undefined;

/**
 * Register Kiln's public namespace. A layer's `call` converted by default cannot be given its
 * module's imports, so a free name it reads only as `name.member`, every member an export of this
 * namespace (`kiln.greater`, or the `__vite_ssr_import_0__.greater` a bundler made of it), is
 * taken to be Kiln's module.
 */
export function setAutographNamespace(ns: Readonly<Record<string, unknown>>): void {
  kilnNamespace = ns;
}

/** `scope` plus the free names of `conv` resolved to Kiln's namespace (see setAutographNamespace). */
function withKilnNames(conv: Conversion, scope: Readonly<Record<string, unknown>>): Readonly<Record<string, unknown>> {
  const ns = kilnNamespace;
  if (!ns) return scope;
  let out: Record<string, unknown> | undefined;
  for (const n of conv.free) {
    if (Object.prototype.hasOwnProperty.call(scope, n.name) || n.name in globalThis || !n.members) continue;
    if (n.members.length > 0 && n.members.every((m) => Object.prototype.hasOwnProperty.call(ns, m))) (out ??= { ...scope })[n.name] = ns;
  }
  return out ?? scope;
}
let rewrites = 0;

/** How many times a function's source went through the ts-morph transform (each function once). */
export function autographRewrites(): number {
  return rewrites;
}

/** Any construct the transform could convert: a cheap test that skips parsing for plain code. */
const MAY_NEED = /\b(if|while|for|do)\b|\?/;

function sourceOf(f: object): string {
  return Function.prototype.toString.call(f);
}

function isNative(src: string): boolean {
  return /\{\s*\[native code\]\s*\}\s*$/.test(src);
}

function entryFor(f: object, name: string): Entry | undefined {
  let e = cache.get(f);
  if (e) return e;
  const src = sourceOf(f);
  if (isNative(src) || !MAY_NEED.test(src)) return undefined;
  rewrites++;
  let outcome: Outcome;
  try {
    const t = transformSource(src, name);
    outcome = t.kind === 'unchanged' ? { kind: 'unchanged' } : { kind: 'converted', conversion: t.conversion };
  } catch (err) {
    if (!(err instanceof KilnError)) throw err;
    outcome = { kind: 'error', error: err, mandatory: err instanceof NotConvertible ? err.mandatory : undefined };
  }
  e = { outcome, factories: new Map() };
  cache.set(f, e);
  return e;
}

const suggestions = 'write the control flow with kiln.cond / kiln.whileLoop / kiln.scan directly, or pass autograph: false if every condition is a plain JS value';

/**
 * The converted twin of `f` (called with the same `this` and arguments), or `f` itself when it
 * needs no conversion or (not strict) cannot be converted.
 */
export function convert<F extends (...args: never[]) => unknown>(f: F, opts: ConvertOptions): F {
  const src = sourceOf(f);
  if (isNative(src)) {
    if (opts.strict !== true) return f;
    const bound = f.name.startsWith('bound ');
    throw new KilnError(
      `AutoGraph cannot convert '${opts.name}': it is a ${bound ? 'bound function (made by .bind), whose source JavaScript does not expose' : 'native function, which has no JavaScript source'}; ` +
      `${bound ? 'pass the unbound function (its this and bound arguments through scope or as arguments), ' : ''}${suggestions}`,
    );
  }
  const entry = entryFor(f, opts.name);
  if (!entry) return f;
  const o = entry.outcome;
  if (o.kind === 'unchanged') return f;
  if (o.kind === 'error') {
    if (opts.strict === true || (opts.strict === 'auto' && o.mandatory === true)) throw o.error;
    return f;
  }
  const conv = o.conversion;
  const scope = opts.strict === 'auto' ? withKilnNames(conv, opts.scope ?? {}) : opts.scope ?? {};
  const unresolved: FreeName[] = conv.free.filter((n) => !Object.prototype.hasOwnProperty.call(scope, n.name) && !(n.name in globalThis));
  if (conv.usesThis && conv.arrow) unresolved.push({ name: 'this', line: 0, text: 'an arrow function\'s this' });
  if (unresolved.length > 0) {
    if (!opts.strict || !conv.mandatory) return f;
    const list = unresolved.map((n) => (n.line ? `${n.name} (line ${n.line}: \`${n.text}\`)` : `${n.name} (${n.text})`)).join(', ');
    throw new KilnError(
      `AutoGraph cannot convert '${opts.name}' (${conv.converted.join(', ')}): JavaScript does not expose a closure's variables, and these names ` +
      `are neither in scope nor globals: ${list}. Pass them in ${opts.scopeHint ?? 'scope'}, or ${suggestions}`,
    );
  }
  const params = conv.free.map((n) => n.name).filter((n) => Object.prototype.hasOwnProperty.call(scope, n));
  const key = params.join(',');
  let factory = entry.factories.get(key);
  if (!factory) {
    try {
      factory = new Function('ag__', ...params, `"use strict";\nreturn ${conv.code};`) as (...args: unknown[]) => unknown;
    } catch (err) {
      throw new KilnError(`AutoGraph produced source that does not compile for '${opts.name}' (a Kiln bug; pass autograph: false meanwhile): ${(err as Error).message}\n${conv.code}`);
    }
    entry.factories.set(key, factory);
  }
  const runtime = new AutographRuntime(opts.name, conv.sites, { maximumIterations: opts.maximumIterations });
  return factory(runtime, ...params.map((p) => scope[p])) as F;
}

/** The converted source of `f` (kiln.autograph.toCode, like tf.autograph.to_code), or its own source when nothing needs converting. */
export function toCode(f: (...args: never[]) => unknown): string {
  const entry = entryFor(f, f.name || 'anonymous');
  if (!entry || entry.outcome.kind === 'unchanged') return sourceOf(f);
  if (entry.outcome.kind === 'error') throw entry.outcome.error;
  return entry.outcome.conversion.code;
}
