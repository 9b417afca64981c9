/**
 * fold_batchnorm: folds per-channel affine chains into the weights of the conv or dense that
 * feeds them. After the pass, no f32 `conv` or `dot_general` whose weights (rhs) are a constant
 * feeds, through values used nowhere else, a chain of `mul`/`div`/`add`/`sub` by per-channel
 * constants that holds a `mul` or `div` or more than one `add`/`sub`: each such chain
 * y = P * s + b (inference-mode batch normalization after a conv or dense, with or without a
 * bias add before it, as simplify and fold leave it) became P' + b, where P' is the same conv or
 * dot on weights scaled by s along their output channel, and the add of b is dropped when b is 0.
 * A per-channel constant is a constant or a broadcast_in_dim of a constant that varies only along
 * the output's last axis (the channel axis of conv's NHWC output and of a dense's output). The
 * result equals the original up to float rounding (conv(x, W) * s and conv(x, W * s) round
 * differently). Replaced nodes are removed; the old weight constants are left for DCE.
 */
import type { Func, Value } from '../ir/function.js';
import { makeValue } from '../ir/builder.js';
import { literal, type Literal } from '../ir/literal.js';
import { attr } from '../ir/registry.js';
import { numel } from '../ir/types.js';
import type { Pass } from './manager.js';

/** y = P * scale + bias, per output channel. */
interface Affine {
  scale: Float64Array;
  bias: Float64Array;
  /** Whether the chain multiplies (otherwise it only adds, and one add is already minimal). */
  scales: boolean;
  adds: number;
}

/** The per-channel values of a constant operand of shape [..., c], or null when it varies elsewhere. */
function perChannel(v: Value, c: number): Float64Array | null {
  const rank = v.shape.length;
  if (v.dtype !== 'f32' || rank === 0 || v.shape[rank - 1] !== c) return null;
  const out = new Float64Array(c);
  if (v.op === 'constant') {
    const data = (v.attrs['value'] as Literal).data;
    for (let k = 0; k < c; k++) out[k] = data[k]!;
    for (let i = c; i < data.length; i++) if (data[i] !== data[i % c]) return null;
    return out;
  }
  if (v.op === 'broadcast_in_dim') {
    const src = v.inputs[0]!;
    if (src.op !== 'constant' || src.dtype !== 'f32') return null;
    const dims = attr.ints(v.attrs, 'dims');
    // Only the source dim that lands on the channel axis may be larger than 1.
    if (src.shape.some((d, k) => d !== 1 && dims[k] !== rank - 1)) return null;
    const data = (src.attrs['value'] as Literal).data;
    for (let k = 0; k < c; k++) out[k] = data.length === 1 ? data[0]! : data[k]!;
    return out;
  }
  return null;
}

/** Compose one more chain node `node` (one operand is `x`, the running value) into `a`, or say it does not apply. */
function extend(a: Affine, node: Value, x: Value, c: number): boolean {
  if (node.inputs.length !== 2) return false;
  const xFirst = node.inputs[0] === x;
  const k = perChannel(xFirst ? node.inputs[1]! : node.inputs[0]!, c);
  if (!k) return false;
  switch (node.op) {
    case 'mul':
      for (let i = 0; i < c; i++) { a.scale[i]! *= k[i]!; a.bias[i]! *= k[i]!; }
      a.scales = true;
      return true;
    case 'div':
      if (!xFirst) return false;
      for (let i = 0; i < c; i++) { a.scale[i]! /= k[i]!; a.bias[i]! /= k[i]!; }
      a.scales = true;
      return true;
    case 'add':
      for (let i = 0; i < c; i++) a.bias[i]! += k[i]!;
      a.adds++;
      return true;
    case 'sub':
      if (xFirst) for (let i = 0; i < c; i++) a.bias[i]! -= k[i]!;
      else {
        for (let i = 0; i < c; i++) { a.scale[i] = -a.scale[i]!; a.bias[i] = k[i]! - a.bias[i]!; }
        a.scales = true;
      }
      a.adds++;
      return true;
    default:
      return false;
  }
}

/** The weights' axis that becomes the output's last axis, or -1 when the producer cannot absorb a scale. */
function weightChannelAxis(p: Value): number {
  const w = p.inputs[1]!;
  if (w.op !== 'constant' || w.dtype !== 'f32' || p.dtype !== 'f32') return -1;
  // conv: HWIO weights, NHWC output; output channel o (in any group) reads w[..., o].
  if (p.op === 'conv') return 3;
  if (p.op === 'dot_general') {
    const taken = new Set([...attr.ints(p.attrs, 'rhs_batch'), ...attr.ints(p.attrs, 'rhs_contract')]);
    const free = w.shape.map((_, i) => i).filter((i) => !taken.has(i));
    // The rhs free dims come last in the result; with exactly one it is the last axis.
    return free.length === 1 ? free[0]! : -1;
  }
  return -1;
}

/** `w` scaled by `s` along `axis`. */
function scaleWeights(w: Literal, axis: number, s: Float64Array): Literal {
  const shape = w.type.shape;
  let inner = 1;
  for (let i = axis + 1; i < shape.length; i++) inner *= shape[i]!;
  const n = shape[axis]!;
  const out = literal(shape, 'f32');
  for (let i = 0; i < w.data.length; i++) out.data[i] = w.data[i]! * s[Math.floor(i / inner) % n]!;
  return out;
}

function foldOne(fn: Func, p: Value, uses: Map<Value, number>, users: Map<Value, Value[]>, resultSet: Set<Value>): boolean {
  const axis = weightChannelAxis(p);
  if (axis < 0) return false;
  const c = p.shape[p.shape.length - 1]!;
  if (p.shape.length === 0 || p.inputs[1]!.shape[axis] !== c) return false;
  const a: Affine = { scale: new Float64Array(c).fill(1), bias: new Float64Array(c), scales: false, adds: 0 };
  const chain: Value[] = [];
  let x = p;
  // Follow single-use values through chain nodes of the same shape.
  while (uses.get(x) === 1 && !resultSet.has(x)) {
    const next = users.get(x)![0]!;
    if (next.dtype !== 'f32' || next.shape.length !== p.shape.length || next.shape.some((d, i) => d !== p.shape[i])) break;
    if (!extend(a, next, x, c)) break;
    chain.push(next);
    x = next;
  }
  if (chain.length === 0 || (!a.scales && a.adds < 2)) return false;
  const last = chain[chain.length - 1]!;
  const w = p.inputs[1]!;
  const wNew = makeValue('constant', [], { value: scaleWeights(w.attrs['value'] as Literal, axis, a.scale) });
  const pNew = makeValue(p.op, [p.inputs[0]!, wNew], p.attrs);
  const added: Value[] = [wNew, pNew];
  let y = pNew;
  if (a.bias.some((b) => b !== 0)) {
    const b = makeValue('constant', [], { value: literal([c], 'f32', a.bias) });
    const bb = makeValue('broadcast_in_dim', [b], { shape: [...p.shape], dims: [p.shape.length - 1] });
    y = makeValue('add', [pNew, bb]);
    added.push(b, bb, y);
  }
  fn.insertBefore(last, ...added);
  fn.replaceAllUses(last, y);
  const dead = new Set<Value>([p, ...chain]);
  fn.body = fn.body.filter((v) => !dead.has(v));
  return true;
}

export const foldBatchnorm: Pass = {
  name: 'fold_batchnorm',
  run(fn: Func): boolean {
    let changed = false;
    // Analysis is redone after each rewrite: a rewrite changes the use counts the next one reads.
    for (let again = true; again;) {
      again = false;
      const uses = fn.useCounts();
      const users = fn.users();
      const resultSet = new Set(fn.results);
      for (const v of fn.body) {
        if ((v.op === 'conv' || v.op === 'dot_general') && foldOne(fn, v, uses, users, resultSet)) {
          changed = again = true;
          break;
        }
      }
    }
    return changed;
  },
};
