import * as tf from '@tensorflow/tfjs-core';
import type { Func } from '../function.js';
import { evalFunc, tfDtype } from '../interpreter.js';
import { attr, type OpDef } from '../registry.js';
import { isTupleType, opError, tensorType, tupleType, typeToString, typesEqual, type TensorType } from '../types.js';
import { condVjp, scanVjp, whileVjp } from './vjp_control.js';

/**
 * Control flow: `cond`, `while` and `scan`, ops whose nodes carry regions (Value.regions: nested,
 * closed functions; outer values a region reads are passed to it as operands) and have a tuple
 * result, and `get_result`, which projects one element of that tuple.
 *
 * - `cond(pred, ...operands)` regions (then, else): pred is a bool scalar; both branches take the
 *   operands' types and return the same types; the result is the chosen branch's.
 * - `while(...carried) {max_iterations}` regions (cond, body): cond maps the carried values to a
 *   bool scalar, body maps them to new values of the same types; the loop runs while cond holds
 *   and, when max_iterations >= 0, at most that many times (TensorFlow's maximum_iterations).
 *   Differentiating a while needs that bound (it is then differentiated like a bounded scan).
 * - `scan(...carries, ...xs) {carries, length, reverse, axis}` region (body): the first `carries`
 *   operands are the initial carries, the rest are sequences whose dimension `axis` has `length`
 *   steps. The body maps (carries, one slice of each x with `axis` removed) to (new carries,
 *   per-step outputs); the result is (final carries, per-step outputs stacked along `axis`, in
 *   the order of the xs also when `reverse` runs the steps from last to first).
 */

function show(types: readonly TensorType[]): string {
  return `(${types.map(typeToString).join(', ')})`;
}

function sameTypes(a: readonly TensorType[], b: readonly TensorType[]): boolean {
  return a.length === b.length && a.every((t, i) => typesEqual(t, b[i]!));
}

function noTupleOperands(op: string, ins: readonly TensorType[]): void {
  ins.forEach((t, i) => {
    if (isTupleType(t)) opError(op, ins, `operand ${i} is the tuple result of a control-flow node; pass one element (get_result) instead`);
  });
}

/**
 * Check region `label` of `op`: it takes exactly `params` and (when given) returns `results`.
 * Returns the region's result types.
 */
function checkRegion(
  op: string, ins: readonly TensorType[], label: string, region: Func | undefined,
  params: readonly TensorType[], what: string, results?: readonly TensorType[], resultsWhat?: string,
): TensorType[] {
  if (!region) return opError(op, ins, `the ${label} region is missing`);
  const got = region.params.map((p) => p.type);
  if (!sameTypes(got, params)) {
    opError(op, ins, `the ${label} region (@${region.name}) takes ${show(got)} but must take ${what} ${show(params)}`);
  }
  const out = region.results.map((r) => r.type);
  if (results && !sameTypes(out, results)) {
    opError(op, ins, `the ${label} region (@${region.name}) returns ${show(out)} but must return ${resultsWhat} ${show(results)}`);
  }
  return out;
}

const BOOL_SCALAR = tensorType([], 'bool');

/** Shape of `t` with dimension `axis` removed (one step of a scan sequence). */
function sliceType(t: TensorType, axis: number): TensorType {
  return tensorType(t.shape.filter((_, i) => i !== axis), t.dtype);
}

/** Shape of `t` with a dimension of `length` inserted at `axis` (per-step outputs stacked). */
function stackedType(t: TensorType, axis: number, length: number): TensorType {
  return tensorType([...t.shape.slice(0, axis), length, ...t.shape.slice(axis)], t.dtype);
}

/** The scan's operand groups and the slice types its body takes, checked. */
function scanSignature(ins: readonly TensorType[], attrs: Readonly<Record<string, unknown>>): {
  carries: TensorType[]; xs: TensorType[]; slices: TensorType[]; length: number; axis: number;
} {
  const nc = attrs['carries'] as number, length = attrs['length'] as number, axis = attrs['axis'] as number;
  if (nc < 0 || nc > ins.length) opError('scan', ins, `attribute 'carries' must be between 0 and the operand count ${ins.length}, got ${nc}`);
  if (length < 0) opError('scan', ins, `attribute 'length' must be >= 0, got ${length}`);
  if (axis < 0) opError('scan', ins, `attribute 'axis' must be >= 0, got ${axis}`);
  const carries = ins.slice(0, nc), xs = ins.slice(nc);
  xs.forEach((x, k) => {
    if (x.shape.length <= axis) opError('scan', ins, `sequence ${k} (operand ${nc + k}: ${typeToString(x)}) has no axis ${axis} to scan over`);
    if (x.shape[axis] !== length) {
      opError('scan', ins, `sequence ${k} (operand ${nc + k}: ${typeToString(x)}) has ${x.shape[axis]} steps along axis ${axis}, but 'length' is ${length}`);
    }
  });
  return { carries, xs, slices: xs.map((x) => sliceType(x, axis)), length, axis };
}

/**
 * One loop iteration in the interpreter: run `body` keeping only its results, and free the
 * previous iteration's values (never the node's own inputs, nor values the body passed through),
 * so a long loop holds one iteration's tensors, not all of them.
 */
function step(prev: readonly tf.Tensor[], body: () => tf.Tensor[], keep: (t: tf.Tensor) => boolean): tf.Tensor[] {
  const next = tf.tidy(body);
  for (const t of prev) if (!next.includes(t) && !keep(t)) t.dispose();
  return next;
}

export const controlOps: OpDef[] = [
  {
    name: 'get_result', kind: 'control', arity: 1,
    attrs: { index: { kind: 'int' } },
    infer(ins, attrs) {
      const t = ins[0]!;
      const k = attr.int(attrs, 'index');
      if (!isTupleType(t)) opError('get_result', ins, 'the operand must be the tuple result of a control-flow node (cond, while, scan)');
      if (k < 0 || k >= t.tuple.length) opError('get_result', ins, `index ${k} is out of range (the tuple has ${t.tuple.length} elements)`);
      return t.tuple[k]!;
    },
    interpret() {
      throw new Error('get_result is evaluated by the interpreter loop (evalFunc), not as a kernel');
    },
    // get_result's cotangent is routed to its tuple element by the autodiff transform itself.
  },
  {
    name: 'cond', kind: 'control', arity: 'variadic', regions: 2,
    attrs: {},
    infer(ins, _attrs, regions = []) {
      noTupleOperands('cond', ins);
      const pred = ins[0]!;
      if (pred.dtype !== 'bool' || pred.shape.length !== 0) {
        opError('cond', ins, `operand 0 (the predicate) must be a bool scalar (bool[]), got ${typeToString(pred)}`);
      }
      const operands = ins.slice(1);
      const t = checkRegion('cond', ins, 'then', regions[0], operands, 'the operands after the predicate');
      const e = checkRegion('cond', ins, 'else', regions[1], operands, 'the operands after the predicate');
      if (!sameTypes(t, e)) opError('cond', ins, `the branches return different types: then (@${regions[0]!.name}) ${show(t)}, else (@${regions[1]!.name}) ${show(e)}`);
      if (t.length === 0) opError('cond', ins, 'the branches return nothing; a cond needs at least one result');
      return tupleType(t);
    },
    interpret() {
      throw new Error('cond is evaluated through interpretRegions');
    },
    interpretRegions(ins, _attrs, _out, regions) {
      const taken = ins[0]!.dataSync()[0] ? regions[0]! : regions[1]!;
      return evalFunc(taken, ins.slice(1));
    },
    vjpTuple: condVjp,
  },
  {
    name: 'while', kind: 'control', arity: 'variadic', regions: 2,
    attrs: { max_iterations: { kind: 'int', default: -1 } },
    infer(ins, attrs, regions = []) {
      noTupleOperands('while', ins);
      const max = attr.int(attrs, 'max_iterations');
      if (max < -1) opError('while', ins, `attribute 'max_iterations' must be >= 0, or -1 for no bound; got ${max}`);
      checkRegion('while', ins, 'cond', regions[0], ins, 'the carried values', [BOOL_SCALAR], 'one bool scalar');
      checkRegion('while', ins, 'body', regions[1], ins, 'the carried values', ins, 'the carried types');
      return tupleType(ins);
    },
    interpret() {
      throw new Error('while is evaluated through interpretRegions');
    },
    interpretRegions(ins, attrs, _out, regions) {
      const max = attr.int(attrs, 'max_iterations');
      let vars = [...ins];
      for (let i = 0; max < 0 || i < max; i++) {
        const go = tf.tidy(() => evalFunc(regions[0]!, vars)[0]!.dataSync()[0]);
        if (!go) break;
        vars = step(vars, () => evalFunc(regions[1]!, vars), (t) => ins.includes(t));
      }
      return vars;
    },
    vjpTuple: whileVjp,
  },
  {
    name: 'scan', kind: 'control', arity: 'variadic', regions: 1,
    attrs: {
      carries: { kind: 'int' }, length: { kind: 'int' },
      reverse: { kind: 'bool', default: false }, axis: { kind: 'int', default: 0 },
    },
    infer(ins, attrs, regions = []) {
      noTupleOperands('scan', ins);
      const { carries, slices, length, axis } = scanSignature(ins, attrs);
      const out = checkRegion('scan', ins, 'body', regions[0], [...carries, ...slices], '(carries, one step of each sequence)');
      const newCarries = out.slice(0, carries.length), ys = out.slice(carries.length);
      if (out.length < carries.length || !sameTypes(newCarries, carries)) {
        opError('scan', ins, `the body region (@${regions[0]!.name}) returns ${show(out)}, which must start with the carry types ${show(carries)}`);
      }
      ys.forEach((y, k) => {
        if (axis > y.shape.length) opError('scan', ins, `per-step output ${k} (${typeToString(y)}) cannot be stacked along axis ${axis}`);
      });
      if (out.length === 0) opError('scan', ins, 'the body returns nothing; a scan needs a carry or a per-step output');
      return tupleType([...carries, ...ys.map((y) => stackedType(y, axis, length))]);
    },
    interpret() {
      throw new Error('scan is evaluated through interpretRegions');
    },
    interpretRegions(ins, attrs, out, regions) {
      const nc = attr.int(attrs, 'carries'), length = attr.int(attrs, 'length'), axis = attr.int(attrs, 'axis');
      const reverse = attr.bool(attrs, 'reverse');
      let carries = ins.slice(0, nc);
      const steps = ins.slice(nc).map((x) => tf.unstack(x, axis));
      const ys: tf.Tensor[][] = [];
      for (let k = 0; k < length; k++) {
        const t = reverse ? length - 1 - k : k;
        let res: tf.Tensor[] = [];
        const kept = (x: tf.Tensor) => ins.includes(x) || ys.some((r) => r?.includes(x));
        carries = step(carries, () => (res = evalFunc(regions[0]!, [...carries, ...steps.map((s) => s[t]!)])), kept).slice(0, nc);
        ys[t] = res.slice(nc);
      }
      const tuple = out.tuple!;
      const stacked = tuple.slice(nc).map((y, j) =>
        length === 0 ? tf.zeros([...y.shape], tfDtype(y.dtype)) : tf.stack(ys.map((r) => r[j]!), axis));
      return [...carries, ...stacked];
    },
    vjpTuple: scanVjp,
  },
];
