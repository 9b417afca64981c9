/**
 * fold: constant folding. After the pass no node that `foldDecision` accepts remains: every such
 * node whose operands are all constant-valued (a constant, an iota, or a broadcast of one) has
 * been evaluated at compile time with the interpreter's own kernels, so the folded value is
 * exactly what the node would compute at run time. Results and operands larger than the size
 * limit stay symbolic, except elementwise ops on broadcast scalars, which are computed on one
 * element. A result holding one repeated value becomes a broadcast of a scalar constant rather
 * than a large literal. Replaced nodes are removed;
 * operands they leave unused are left for DCE. Control flow: a cond whose predicate is a constant
 * is replaced by the branch it takes (inlined); loops are never run at compile time; every region
 * is folded inside.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Func, Value } from '../ir/function.js';
import { makeValue } from '../ir/builder.js';
import { ensureCpuBackend, evalNode, literalToTensor, tensorToLiteral } from '../ir/interpreter.js';
import { literal, type Literal } from '../ir/literal.js';
import { attr, getOp } from '../ir/registry.js';
import { numel } from '../ir/types.js';
import type { Pass } from './manager.js';
import { runInRegions } from './regions.js';
import { Builder } from '../ir/builder.js';
import { inlineFunc } from '../ir/ops/vjp_control.js';

/** Default cap on the elements of a folded result (and of each materialized operand). */
export const DEFAULT_FOLD_MAX_ELEMENTS = 65536;

export interface FoldOptions {
  readonly maxElements?: number;
}

/** Whether a node is folded, and why (so a pipeline dump can explain what stayed). */
export interface FoldDecision {
  readonly fold: boolean;
  readonly why: string;
}

/** Ops whose result stays symbolic even when it is known: cheap to recompute, costly to store. */
const KEPT_SYMBOLIC: Readonly<Record<string, string>> = {
  parameter: 'parameters are inputs',
  constant: 'already a constant',
  iota: 'iota is computed from its attributes for free; storing it would only grow the artifact',
  broadcast_in_dim: 'a broadcast repeats its operand; materializing it would only grow the artifact',
  // rng with a constant key is a known value, but storing every drawn number would grow the
  // artifact by the tensor's size, while the rng node is a few bytes; both are exact.
  rng_uniform: 'rng output would be stored in full; the node is smaller',
  rng_normal: 'rng output would be stored in full; the node is smaller',
  // Control flow: a cond on a constant predicate is replaced by its branch (foldBody); loops are
  // never unrolled here, and their regions are folded inside.
  cond: 'control flow is folded by taking the branch of a constant predicate, not by evaluation',
  while: 'a loop is not run at compile time; its regions are folded inside',
  scan: 'a loop is not run at compile time; its regions are folded inside',
  get_result: 'an element of a control-flow result',
};

/** Operand forms that fold treats as known values. */
export function isConstantValued(v: Value): boolean {
  if (v.op === 'constant' || v.op === 'iota') return true;
  return v.op === 'broadcast_in_dim' && isConstantValued(v.inputs[0]!);
}

/** The rank-0 constant behind `v` when `v` is one or a broadcast of one (a splat). */
function scalarBehind(v: Value): Value | undefined {
  while (v.op === 'broadcast_in_dim' && v.inputs[0]!.shape.length === 0) v = v.inputs[0]!;
  return v.op === 'constant' && v.shape.length === 0 ? v : undefined;
}

/** An elementwise op on splats is a splat: it is computed on one element, whatever the shape. */
function onScalarSplats(v: Value): boolean {
  return getOp(v.op).kind === 'elementwise' && v.inputs.length > 0 && v.inputs.every((x) => scalarBehind(x) !== undefined);
}

/** The policy: fold `v` when every operand is known and nothing it must materialize is too big. */
export function foldDecision(v: Value, maxElements: number = DEFAULT_FOLD_MAX_ELEMENTS): FoldDecision {
  const kept = KEPT_SYMBOLIC[v.op];
  if (kept) return { fold: false, why: kept };
  if (onScalarSplats(v)) return { fold: true, why: 'elementwise on broadcast scalars: computed on one element' };
  const unknown = v.inputs.findIndex((x) => !isConstantValued(x));
  if (unknown >= 0) return { fold: false, why: `operand ${unknown} (${v.inputs[unknown]!.op}) is not a constant` };
  if (numel(v.shape) > maxElements) return { fold: false, why: `result has ${numel(v.shape)} elements (limit ${maxElements})` };
  const big = v.inputs.findIndex((x) => numel(x.shape) > maxElements);
  if (big >= 0) return { fold: false, why: `operand ${big} has ${numel(v.inputs[big]!.shape)} elements (limit ${maxElements})` };
  return { fold: true, why: 'all operands are constants' };
}

/** Whether every element is the same number (to the bit, as Object.is sees it). */
function splat(l: Literal): number | undefined {
  if (l.data.length < 2) return undefined;
  const first = l.data[0]!;
  for (let i = 1; i < l.data.length; i++) if (!Object.is(l.data[i]!, first)) return undefined;
  return first;
}

export function makeFold(opts: FoldOptions = {}): Pass {
  const maxElements = opts.maxElements ?? DEFAULT_FOLD_MAX_ELEMENTS;
  return {
    name: 'fold',
    run(fn: Func): boolean {
      ensureCpuBackend();
      tf.engine().startScope();
      try {
        return foldBody(fn, maxElements);
      } finally {
        tf.engine().endScope();
      }
    },
  };
}

function foldBody(fn: Func, maxElements: number): boolean {
  const tensors = new Map<Value, tf.Tensor>();
  const tensorOf = (x: Value): tf.Tensor => {
    let t = tensors.get(x);
    if (!t) {
      t = x.op === 'constant' ? literalToTensor(attr.literal(x.attrs, 'value')) : evalNode(x, x.inputs.map(tensorOf));
      tensors.set(x, t);
    }
    return t;
  };
  const subst = new Map<Value, Value>();
  const body: Value[] = [];
  // Conds whose predicate is known: the taken branch is inlined, and these are its results.
  const taken = new Map<Value, Value[]>();
  for (const v of fn.body) {
    for (let k = 0; k < v.inputs.length; k++) v.inputs[k] = subst.get(v.inputs[k]!) ?? v.inputs[k]!;
    if (v.op === 'get_result' && taken.has(v.inputs[0]!)) {
      subst.set(v, taken.get(v.inputs[0]!)![attr.int(v.attrs, 'index')]!);
      continue;
    }
    if (v.op === 'cond' && isConstantValued(v.inputs[0]!)) {
      const pred = tensorOf(v.inputs[0]!).dataSync()[0];
      const b = new Builder(fn.name);
      taken.set(v, inlineFunc(b, v.regions[pred ? 0 : 1]!, v.inputs.slice(1)));
      body.push(...b.body);
      continue;
    }
    if (!foldDecision(v, maxElements).fold) {
      body.push(v);
      continue;
    }
    let value: Literal;
    try {
      if (onScalarSplats(v)) {
        const scalars = v.inputs.map((x) => scalarBehind(x)!);
        const one = makeValue(v.op, scalars, v.attrs);
        value = tensorToLiteral(evalNode(one, scalars.map(tensorOf)), one.type);
      } else {
        value = tensorToLiteral(evalNode(v, v.inputs.map(tensorOf)), v.type);
      }
    } catch {
      // A kernel that rejects these operands would reject them at run time too; keep the node
      // so the error surfaces there, with the run's context, instead of failing compilation.
      body.push(v);
      continue;
    }
    const x = value.type.shape.length < v.shape.length ? value.data[0]! : splat(value);
    const constant = makeValue('constant', [], { value: x === undefined ? value : literal([], v.dtype, [x]) });
    body.push(constant);
    let replacement = constant;
    if (x !== undefined) {
      replacement = makeValue('broadcast_in_dim', [constant], { shape: v.shape, dims: [] });
      body.push(replacement);
    }
    subst.set(v, replacement);
  }
  // Regions are folded inside (their parameters are unknown, their constants are not).
  const inRegions = runInRegions(fn, (r) => foldBody(r, maxElements));
  if (subst.size === 0 && taken.size === 0) return inRegions;
  fn.body = body;
  fn.results = fn.results.map((r) => subst.get(r) ?? r);
  return true;
}

export const fold: Pass = makeFold();
