import { attrValuesEqual, printValue, valueNamer } from './print.js';
import type { Func, Value } from './function.js';
import { checkAttrs, hasOp, getOp } from './registry.js';
import { KilnError, isTupleType, typeToString, typesEqual } from './types.js';

/**
 * The IR's invariants, checked between passes:
 * - SSA: every operand is a parameter of this function or a body value defined earlier;
 *   no value appears twice (among parameters and body); parameters have op 'parameter',
 *   no operands and attrs.index equal to their position.
 * - Every body op is registered, has its arity, attributes that pass `checkAttrs` (and already
 *   carry their defaults), and a stored type equal to the type re-inferred from its operands.
 * - Results are defined in the function, one name per result; aliases name an existing result
 *   and parameter of equal type, and no result or parameter is aliased twice.
 * - Control flow: a node carries exactly its op's number of regions, each region verifies as a
 *   function of its own (regions are closed: they read only their parameters), and the op's
 *   inference checks the region signatures against the operands; a tuple result is read only by
 *   get_result and is never a function result.
 * Errors are KilnErrors naming the function and the offending value in printed form.
 */
export function verify(fn: Func): void {
  const nameOf = valueNamer(fn);
  const fail = (msg: string): never => {
    throw new KilnError(`verify @${fn.name}: ${msg}`);
  };
  const defined = new Set<Value>();
  fn.params.forEach((p, i) => {
    if (defined.has(p)) fail(`parameter ${i} (${nameOf(p)}) appears twice among the parameters`);
    if (p.op !== 'parameter') fail(`parameter ${i} (${nameOf(p)}) has op '${p.op}', expected 'parameter'`);
    if (p.inputs.length) fail(`parameter ${i} (${nameOf(p)}) has ${p.inputs.length} operand(s)`);
    if (p.attrs['index'] !== i) fail(`parameter ${i} (${nameOf(p)}) has index ${String(p.attrs['index'])}, expected ${i}`);
    defined.add(p);
  });
  fn.body.forEach((v, k) => {
    const here = () => `${printValue(v, fn)} (body position ${k})`;
    if (defined.has(v)) fail(`${here()}: value appears twice in the function`);
    if (v.op === 'parameter') fail(`${here()}: a parameter in the body; parameters belong in fn.params`);
    v.inputs.forEach((x, j) => {
      if (!defined.has(x)) {
        const later = fn.body.indexOf(x) > k;
        const what = later ? 'is defined later in the body' : x.op === 'parameter' ? 'is a parameter of another function' : 'is not defined in this function';
        fail(`${here()}: operand ${j} (${x.op}: ${typeToString(x.type)}) ${what}`);
      }
    });
    if (!hasOp(v.op)) fail(`${here()}: unknown op '${v.op}'`);
    const def = getOp(v.op);
    const arityOk = def.arity === 'variadic' ? v.inputs.length >= 1 : v.inputs.length === def.arity;
    if (!arityOk) fail(`${here()}: ${v.op} expects ${def.arity === 'variadic' ? 'at least 1' : def.arity} operand(s), got ${v.inputs.length}`);
    const types = v.inputs.map((x) => x.type);
    if ((def.regions ?? 0) !== v.regions.length) fail(`${here()}: ${v.op} carries ${def.regions ?? 0} region(s), got ${v.regions.length}`);
    v.inputs.forEach((x, j) => {
      if (isTupleType(x.type) && v.op !== 'get_result') fail(`${here()}: operand ${j} is the tuple result of ${x.op}; only get_result may read it`);
    });
    // Regions are closed functions: each must verify on its own (which also keeps outer values out).
    v.regions.forEach((r, j) => {
      try {
        verify(r);
      } catch (e) {
        if (e instanceof KilnError) fail(`${here()}: region ${j} (@${r.name}): ${e.message}`);
        throw e;
      }
    });
    try {
      const full = checkAttrs(def, v.attrs, types);
      for (const key of Object.keys(full)) {
        if (!(key in v.attrs)) fail(`${here()}: attribute '${key}' is missing (values carry their defaults; build them with makeValue)`);
        if (!attrValuesEqual(full[key]!, v.attrs[key]!)) fail(`${here()}: attribute '${key}' differs after checking`);
      }
      const inferred = def.infer(types, full, v.regions);
      if (!typesEqual(inferred, v.type)) fail(`${here()}: stored type ${typeToString(v.type)} but ${v.op} infers ${typeToString(inferred)}`);
    } catch (e) {
      if (e instanceof KilnError && !e.message.startsWith('verify @')) fail(`${here()}: ${e.message}`);
      throw e;
    }
    defined.add(v);
  });
  fn.results.forEach((r, i) => {
    if (!defined.has(r)) fail(`result ${i} (${r.op}: ${typeToString(r.type)}) is not defined in this function`);
    if (isTupleType(r.type)) fail(`result ${i} is the tuple result of ${r.op}; return its elements (get_result) instead`);
  });
  if (fn.resultNames.length !== fn.results.length) fail(`${fn.results.length} results but ${fn.resultNames.length} result names`);
  const aliasedResults = new Set<number>(), aliasedParams = new Set<number>();
  fn.aliases.forEach((a, i) => {
    const r = fn.results[a.result], p = fn.params[a.param];
    if (!Number.isInteger(a.result) || !r) fail(`alias ${i}: result ${a.result} out of range (${fn.results.length} results)`);
    if (!Number.isInteger(a.param) || !p) fail(`alias ${i}: parameter ${a.param} out of range (${fn.params.length} parameters)`);
    if (!typesEqual(r!.type, p!.type)) {
      fail(`alias ${i}: result ${a.result} (${fn.resultNames[a.result]}: ${typeToString(r!.type)}) and parameter ${nameOf(p!)} (${typeToString(p!.type)}) have different types`);
    }
    if (aliasedResults.has(a.result)) fail(`alias ${i}: result ${a.result} (${fn.resultNames[a.result]}) is aliased twice`);
    if (aliasedParams.has(a.param)) fail(`alias ${i}: parameter ${nameOf(p!)} is donated twice`);
    aliasedResults.add(a.result);
    aliasedParams.add(a.param);
  });
}
