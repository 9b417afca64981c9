/**
 * Batch polymorphism analysis: which values of a function carry the batch, and whether one
 * program compiled at batch `maxBatch` can run any batch n <= maxBatch by computing only what
 * batch items 0..n-1 need. The function is traced (and optimized) twice, at `maxBatch` and at
 * another batch; the two graphs must match node for node, and the one dimension of a value that
 * is k*maxBatch in one and k*other in the other is its batch axis. Each op's rule (checkOp)
 * proves its result's items depend only on the same items of its operands, and tracks how the
 * batch sits in memory: a value whose dims before the batch axis all have size 1 holds its items
 * as a prefix of its buffer (BatchFactors: kernels writing it run only the work of the first n
 * items), any other (a recurrent layer's time-major [T, B, F], or [T*B, F] merged for one GEMM,
 * tracked by the outer factor a reshape folds into the batch axis) is "strided": kernels writing
 * it run in full, and the rows past n they compute are never read for the result.
 * Invariant established when it succeeds: items below n of every batch-carrying value are exact
 * whatever the items above n hold; no batch-independent value depends on a batch-carrying one (a
 * reduction over the batch would read items the run did not compute); results lead with the batch.
 * The subtle cases: a reshape keeps items apart only if what precedes the batch in memory stays
 * the same count; a batch-independent value broadcast along the batch is the same for every item
 * and fits any layout; constants, iota and rng of batch shape are fine (their first rows equal a
 * smaller batch's: rng is counter-based on the element index); control flow over batch-carrying
 * values (a scan too long to unroll) is refused.
 */
import type { Func, Value } from '../ir/function.js';
import { attr, getOp } from '../ir/registry.js';
import { KilnError, typeToString } from '../ir/types.js';

/**
 * For each batch-carrying value of the maxBatch graph whose batch items form a prefix of its
 * buffer (every dim before the batch axis has size 1; usually the batch axis is the leading one):
 * k, its batch dim being k*maxBatch.
 */
export type BatchFactors = ReadonlyMap<Value, number>;

export interface BatchAnalysis {
  readonly maxBatch: number;
  readonly factors: BatchFactors;
  /**
   * Batch-carrying values whose batch axis has larger dims before it (a recurrent layer's
   * time-major [T, B, F]): batch items are not a prefix of the buffer, so kernels that write them
   * run their full work at every batch (rows past the run's batch are computed and never read),
   * or per segment (codegen/batch_work.ts). The number: how many blocks of items precede each
   * other in memory (outer dims times the outer factor; 0 for a value the same for every item).
   */
  readonly strided: ReadonlyMap<Value, number>;
}

/**
 * Where a value carries the batch: its axis, k (the axis is k*maxBatch long) and how that axis's
 * index splits: index = o*maxBatch*(k/oa) + b*(k/oa) + j for o < oa (an outer factor the axis took
 * from dims a reshape merged into it: time steps of a time-major [T*B, F]), item b, j < k/oa.
 */
interface Carry {
  readonly axis: number;
  readonly k: number;
  readonly oa: number;
}

const where = (v: Value) => `${v.op} %${v.id} (${typeToString(v.type)})`;
const prod = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);

/**
 * Analyzes `fa` (traced at `maxBatch`) against `fb` (the same function traced at `otherBatch`).
 * Throws a KilnError naming the op that keeps the function from being batch-polymorphic.
 */
export function analyzeBatch(fa: Func, fb: Func, maxBatch: number, otherBatch: number): BatchAnalysis {
  const refuse = (v: Value, why: string): never => {
    throw new KilnError(`maxBatch ${maxBatch}: '${fa.name}' cannot run every batch size with one program: ${where(v)} ${why}; compile it without maxBatch (one artifact per batch size)`);
  };
  if (fa.params.length !== fb.params.length || fa.body.length !== fb.body.length || fa.results.length !== fb.results.length) {
    throw new KilnError(`maxBatch ${maxBatch}: '${fa.name}' traces to different graphs at batch ${maxBatch} and ${otherBatch} (${fa.body.length} vs ${fb.body.length} nodes): its structure depends on the batch size; compile it without maxBatch`);
  }
  const carries = new Map<Value, Carry>();
  const factors = new Map<Value, number>();
  const strided = new Map<Value, number>();
  const index = new Map<Value, number>();
  const all = [...fa.params, ...fa.body];
  const allB = [...fb.params, ...fb.body];
  all.forEach((v, i) => index.set(v, i));
  allB.forEach((v, i) => index.set(v, i));
  all.forEach((a, i) => {
    const b = allB[i]!;
    if (a.op !== b.op || a.inputs.length !== b.inputs.length || a.inputs.some((x, j) => index.get(x) !== index.get(b.inputs[j]!))) {
      throw new KilnError(`maxBatch ${maxBatch}: '${fa.name}' traces to different graphs at batch ${maxBatch} and ${otherBatch} (node ${i}: ${a.op} vs ${b.op}): its structure depends on the batch size; compile it without maxBatch`);
    }
    // The type difference: one dim may differ, as k*maxBatch vs k*otherBatch (the batch axis).
    const sa = a.shape, sb = b.shape;
    if (sa.length !== sb.length) refuse(a, `has rank ${sa.length} at batch ${maxBatch} but ${sb.length} at batch ${otherBatch}`);
    let shape: { axis: number; k: number } | undefined;
    for (let d = 0; d < sa.length; d++) {
      if (sa[d] === sb[d]) continue;
      const ka = sa[d]! / maxBatch;
      if (!Number.isInteger(ka) || ka * otherBatch !== sb[d]) {
        refuse(a, `has dimension ${d} of size ${sa[d]} at batch ${maxBatch} and ${sb[d]} at batch ${otherBatch}: the batch reaches it other than as a whole factor`);
      }
      if (shape) refuse(a, `has dimensions ${shape.axis} and ${d} that both follow the batch size`);
      shape = { axis: d, k: ka };
    }
    if (a.op === 'constant') checkConstant(a, b, shape, refuse);
    const oa = checkOp(a, shape, (x) => carries.get(x), refuse);
    if (shape) {
      const carry = { ...shape, oa };
      carries.set(a, carry);
      // Batch items form a prefix of the buffer when nothing comes before the batch in memory (a
      // value the same for every item, oa 0, may be read in any layout: computed in full).
      if (prod(sa.slice(0, carry.axis)) * oa === 1) factors.set(a, carry.k);
      else strided.set(a, prod(sa.slice(0, carry.axis)) * oa);
    }
  });
  fa.results.forEach((r, i) => {
    if (index.get(r) !== index.get(fb.results[i]!)) throw new KilnError(`maxBatch ${maxBatch}: '${fa.name}' returns different values at batch ${maxBatch} and ${otherBatch} (result ${i}); compile it without maxBatch`);
    const c = carries.get(r);
    if (c && c.axis !== 0) refuse(r, `is result ${i} with the batch on axis ${c.axis}; results lead with the batch`);
  });
  return { maxBatch, factors, strided };
}

/**
 * A constant must not depend on the batch size (a folded 1/batch would be wrong at other sizes):
 * equal in both traces, or for a batch-shaped one, its rows equal the other trace's first rows.
 */
function checkConstant(a: Value, b: Value, carry: { axis: number } | undefined, refuse: (v: Value, why: string) => never): void {
  if (carry && carry.axis !== 0) refuse(a, 'is a constant with the batch on a non-leading axis');
  const x = attr.literal(a.attrs, 'value').data, y = attr.literal(b.attrs, 'value').data;
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] !== y[i] && !(Number.isNaN(x[i]) && Number.isNaN(y[i]))) refuse(a, `holds values that depend on the batch size (element ${i} is ${x[i]} at one batch size and ${y[i]} at the other)`);
  }
}

/**
 * Whether op `v` keeps each batch item local (its items depend only on the same items of its
 * operands), `out` being where its result carries the batch by the shapes; returns the result's
 * outer factor (Carry.oa).
 */
function checkOp(v: Value, out: { axis: number; k: number } | undefined, of: (v: Value) => Carry | undefined, refuse: (v: Value, why: string) => never): number {
  const ins = v.inputs.map(of);
  if (!ins.some((x) => x !== undefined)) {
    // Sources, and ops over batch-independent values, mix nothing. A batch-independent value
    // broadcast along the batch is the same for every item: it fits any layout (oa 0).
    return v.op === 'broadcast_in_dim' ? 0 : 1;
  }
  if (v.regions.length > 0 || v.op === 'get_result') refuse(v, 'is control flow over batch-carrying values (a loop or branch entry: a scan of more steps than are unrolled), which maxBatch does not support yet');
  if (!out) return refuse(v, 'combines the batch items into a value of fixed shape (a reduction or movement across the batch)');
  /** Every batch-carrying operand has the batch on `axis` with the output's factor and one outer factor, which is returned. */
  const same = (axis: number, js: readonly number[] = v.inputs.map((_, j) => j)): number => {
    let oa: number | undefined;
    for (const j of js) {
      const c = ins[j];
      if (!c) continue;
      if (c.axis !== axis || c.k !== out.k || (oa && c.oa && c.oa !== oa)) refuse(v, `takes operand ${j} with the batch on axis ${c.axis} (x${c.k}, outer ${c.oa}) where axis ${axis} (x${out.k}${oa ? `, outer ${oa}` : ''}) keeps batch items apart`);
      oa = oa || c.oa;
    }
    return oa ?? refuse(v, 'has no batch-carrying operand where its output carries the batch');
  };
  const c0 = ins[0];
  const kind = getOp(v.op).kind;
  switch (v.op) {
    case 'broadcast_in_dim':
      if (!c0 || attr.ints(v.attrs, 'dims')[c0.axis] !== out.axis || c0.k !== out.k) refuse(v, 'moves the batch to a dimension it did not come from');
      return c0!.oa;
    case 'reshape': {
      // Memory order is unchanged: whatever comes before the batch stays before it.
      if (c0?.oa === 0) return 0;
      const before = c0 ? prod(v.inputs[0]!.shape.slice(0, c0.axis)) * c0.oa : 0;
      const here = prod(v.shape.slice(0, out.axis));
      const oa = before / here;
      if (!c0 || !Number.isInteger(oa) || out.k % oa !== 0) refuse(v, 'splits the batch across dimensions');
      return oa;
    }
    case 'transpose':
      if (!c0 || attr.ints(v.attrs, 'perm').indexOf(c0.axis) !== out.axis || c0.k !== out.k) refuse(v, 'does not move the batch axis where its output has it');
      return c0!.oa;
    case 'slice':
      if (!c0 || out.axis !== c0.axis || v.inputs[0]!.shape[c0.axis] !== v.shape[out.axis] || attr.ints(v.attrs, 'strides')[c0.axis] !== 1) refuse(v, 'slices along the batch axis');
      return same(out.axis);
    case 'pad': {
      const zero = (name: string) => attr.ints(v.attrs, name)[out.axis] === 0;
      if (!zero('low') || !zero('high') || !zero('interior')) refuse(v, 'pads along the batch axis');
      return same(out.axis);
    }
    case 'concat':
      if (attr.int(v.attrs, 'axis') === out.axis) refuse(v, 'concatenates along the batch axis');
      return same(out.axis);
    case 'reduce': {
      const axes = attr.ints(v.attrs, 'axes');
      if (!c0 || axes.includes(c0.axis)) refuse(v, 'reduces over the batch axis');
      return same(out.axis + axes.filter((x) => x < c0!.axis).length);
    }
    case 'reduce_window': {
      const one = (name: string, want: number) => attr.ints(v.attrs, name)[out.axis] === want;
      if (!one('window', 1) || !one('strides', 1) || !one('pad_lo', 0) || !one('pad_hi', 0)) refuse(v, 'has a window along the batch axis');
      return same(out.axis);
    }
    case 'conv':
      if (ins[1] || !c0 || out.axis !== 0) refuse(v, 'convolves with a batch-carrying filter, or over a batch that is not its leading axis');
      return same(0, [0]);
    case 'dot_general': {
      const [cl, cr] = ins;
      const lb = attr.ints(v.attrs, 'lhs_batch'), rb = attr.ints(v.attrs, 'rhs_batch');
      const lc = attr.ints(v.attrs, 'lhs_contract'), rc = attr.ints(v.attrs, 'rhs_contract');
      const [lr, rr] = [v.inputs[0]!.shape.length, v.inputs[1]!.shape.length];
      const lFree = [...Array(lr).keys()].filter((d) => !lb.includes(d) && !lc.includes(d));
      const rFree = [...Array(rr).keys()].filter((d) => !rb.includes(d) && !rc.includes(d));
      // Output dims: batch dims, lhs free dims, rhs free dims.
      const outAxis = (c: Carry, batch: readonly number[], free: readonly number[], base: number) =>
        batch.includes(c.axis) ? batch.indexOf(c.axis) : free.includes(c.axis) ? base + free.indexOf(c.axis) : -1;
      const al = cl ? outAxis(cl, lb, lFree, lb.length) : undefined;
      const ar = cr ? outAxis(cr, rb, rFree, lb.length + lFree.length) : undefined;
      if (al === -1 || ar === -1) refuse(v, 'contracts over the batch axis');
      if (cl && cr && (al !== ar || !lb.includes(cl.axis) || (cl.oa && cr.oa && cl.oa !== cr.oa))) refuse(v, 'multiplies two batch-carrying operands other than along a shared batch dimension');
      const c = (cl ?? cr)!;
      if ((al ?? ar) !== out.axis || c.k !== out.k) refuse(v, 'does not keep the batch where its output has it');
      return (cl?.oa || cr?.oa) ?? 0;
    }
    case 'gather': {
      const axis = attr.int(v.attrs, 'axis');
      const [cx, ci] = ins;
      if (cx && (axis === cx.axis || ci)) refuse(v, 'gathers along the batch axis');
      const ir = v.inputs[1]!.shape.length;
      const want = cx ? (cx.axis < axis ? cx.axis : cx.axis + ir - 1) : axis + ci!.axis;
      const c = (cx ?? ci)!;
      if (want !== out.axis || c.k !== out.k) refuse(v, 'does not keep the batch where its output has it');
      return c.oa;
    }
    default:
      if (kind === 'elementwise') return same(out.axis);
      return refuse(v, `(op '${v.op}') is not known to keep batch items apart`);
  }
}
