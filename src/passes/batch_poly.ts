/**
 * Batch polymorphism analysis: which values of a function carry the batch, and whether one
 * program compiled at batch `maxBatch` can run any batch n <= maxBatch by computing only the first
 * n batch items of every batch-carrying buffer. The function is traced (and optimized) twice, at
 * `maxBatch` and at another batch; the two graphs must match node for node, and a value whose
 * leading dimension is k*maxBatch in one and k*other in the other carries the batch with factor k
 * (its first n*numel/maxBatch elements are batch items 0..n-1). Any other dimension that differs
 * means the batch reached a non-leading axis, and the function is refused, naming the op.
 * Invariant established when it succeeds: every batch-carrying value's leading rows depend only on
 * the same rows of its batch-carrying operands (plus batch-independent values), so rows below n
 * are exact whatever the rows above n hold; no batch-independent value depends on a
 * batch-carrying one (a reduction over the batch would read rows the run did not compute).
 * The subtle cases: reshapes are allowed whenever batch stays in the leading factor (row-major
 * order keeps the prefix), while a concat, slice, pad, transpose, reduce, window or gather along
 * axis 0 of a batch-carrying value is refused; constants, iota and rng of batch shape are fine
 * (their first rows equal a smaller batch's: rng is counter-based on the element index).
 */
import type { Func, Value } from '../ir/function.js';
import { attr, getOp } from '../ir/registry.js';
import { KilnError, typeToString } from '../ir/types.js';

/** For each batch-carrying value of the maxBatch graph: k, its leading dim being k*maxBatch. */
export type BatchFactors = ReadonlyMap<Value, number>;

export interface BatchAnalysis {
  readonly maxBatch: number;
  readonly factors: BatchFactors;
}

const where = (v: Value) => `${v.op} %${v.id} (${typeToString(v.type)})`;

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
  const factors = new Map<Value, number>();
  const index = new Map<Value, number>();
  const all = [...fa.params, ...fa.body];
  const allB = [...fb.params, ...fb.body];
  all.forEach((v, i) => index.set(v, i));
  allB.forEach((v, i) => index.set(v, i));
  const k = (v: Value) => factors.get(v) ?? 0;
  all.forEach((a, i) => {
    const b = allB[i]!;
    if (a.op !== b.op || a.inputs.length !== b.inputs.length || a.inputs.some((x, j) => index.get(x) !== index.get(b.inputs[j]!))) {
      throw new KilnError(`maxBatch ${maxBatch}: '${fa.name}' traces to different graphs at batch ${maxBatch} and ${otherBatch} (node ${i}: ${a.op} vs ${b.op}): its structure depends on the batch size; compile it without maxBatch`);
    }
    // The type difference: only the leading dim may differ, as k*maxBatch vs k*otherBatch.
    const sa = a.shape, sb = b.shape;
    if (sa.length !== sb.length) refuse(a, `has rank ${sa.length} at batch ${maxBatch} but ${sb.length} at batch ${otherBatch}`);
    let f = 0;
    for (let d = 0; d < sa.length; d++) {
      if (sa[d] === sb[d]) continue;
      const ka = sa[d]! / maxBatch;
      if (d !== 0 || !Number.isInteger(ka) || ka * otherBatch !== sb[d]) {
        refuse(a, `has dimension ${d} of size ${sa[d]} at batch ${maxBatch} and ${sb[d]} at batch ${otherBatch}: the batch reaches ${d === 0 ? 'the leading axis other than as a whole factor' : `axis ${d}, not only the leading one`}`);
      }
      f = ka;
    }
    if (f > 0) factors.set(a, f);
    if (a.op === 'constant') checkConstant(a, b, refuse);
    checkOp(a, f, k, refuse);
  });
  fa.results.forEach((r, i) => {
    if (index.get(r) !== index.get(fb.results[i]!)) throw new KilnError(`maxBatch ${maxBatch}: '${fa.name}' returns different values at batch ${maxBatch} and ${otherBatch} (result ${i}); compile it without maxBatch`);
  });
  return { maxBatch, factors };
}

/**
 * A constant must not depend on the batch size (a folded 1/batch would be wrong at other sizes):
 * equal in both traces, or for a batch-shaped one, its rows equal the other trace's first rows.
 */
function checkConstant(a: Value, b: Value, refuse: (v: Value, why: string) => never): void {
  const x = attr.literal(a.attrs, 'value').data, y = attr.literal(b.attrs, 'value').data;
  for (let i = 0; i < x.length; i++) {
    if (x[i] !== y[i] && !(Number.isNaN(x[i]) && Number.isNaN(y[i]))) refuse(a, `holds values that depend on the batch size (element ${i} is ${x[i]} at one batch size and ${y[i]} at the other)`);
  }
}

/** Whether op `v` keeps each batch row local (its rows depend only on the same rows of its operands). */
function checkOp(v: Value, f: number, k: (v: Value) => number, refuse: (v: Value, why: string) => never): void {
  const ins = v.inputs.map(k);
  const anyIn = ins.some((x) => x > 0);
  if (!anyIn) return; // sources, and ops over batch-independent values, mix nothing
  if (f === 0) refuse(v, 'combines the batch items into a value of fixed shape (a reduction or movement across the batch)');
  if (v.regions.length > 0 || v.op === 'get_result') refuse(v, 'is control flow over batch-carrying values, which maxBatch does not support yet');
  const same = () => ins.every((x) => x === 0 || x === f) || refuse(v, 'combines operands whose leading axes hold the batch in different ways');
  const kind = getOp(v.op).kind;
  switch (v.op) {
    case 'broadcast_in_dim':
      if (attr.ints(v.attrs, 'dims')[0] !== 0) refuse(v, 'moves the batch axis away from the leading position');
      same();
      return;
    case 'reshape':
      return; // row-major order: the first n*E elements stay the first n batch items
    case 'transpose':
      if (attr.ints(v.attrs, 'perm')[0] !== 0) refuse(v, 'moves the batch axis away from the leading position');
      same();
      return;
    case 'slice':
      if (attr.ints(v.attrs, 'start')[0] !== 0 || attr.ints(v.attrs, 'strides')[0] !== 1) refuse(v, 'slices along the batch axis');
      same();
      return;
    case 'pad':
      if (attr.ints(v.attrs, 'low')[0] !== 0 || attr.ints(v.attrs, 'high')[0] !== 0 || attr.ints(v.attrs, 'interior')[0] !== 0) refuse(v, 'pads along the batch axis');
      same();
      return;
    case 'concat':
      if (attr.int(v.attrs, 'axis') === 0) refuse(v, 'concatenates along the batch axis');
      same();
      return;
    case 'reduce':
      if (attr.ints(v.attrs, 'axes').includes(0)) refuse(v, 'reduces over the batch axis');
      same();
      return;
    case 'reduce_window': {
      const one = (name: string, want: number) => attr.ints(v.attrs, name)[0] === want;
      if (!one('window', 1) || !one('strides', 1) || !one('pad_lo', 0) || !one('pad_hi', 0)) refuse(v, 'has a window along the batch axis');
      same();
      return;
    }
    case 'conv':
      if (ins[1]! > 0 || ins[0] === 0) refuse(v, 'convolves with a batch-carrying filter');
      same();
      return;
    case 'dot_general': {
      const [kl, kr] = ins as [number, number];
      const lb = attr.ints(v.attrs, 'lhs_batch'), rb = attr.ints(v.attrs, 'rhs_batch');
      const lc = attr.ints(v.attrs, 'lhs_contract');
      if (kl === 0) refuse(v, 'carries the batch on its right operand only');
      if (lc.includes(0)) refuse(v, 'contracts over the batch axis');
      if (lb.length === 0 && kr > 0) refuse(v, 'multiplies two batch-carrying operands without a batch dimension');
      if (lb.length > 0 && (lb[0] !== 0 || (kr > 0 && rb[0] !== 0))) refuse(v, 'has batch dimensions that do not start at the batch axis');
      same();
      return;
    }
    case 'gather': {
      const axis = attr.int(v.attrs, 'axis');
      const [kx, ki] = ins as [number, number];
      if (kx > 0 && (axis === 0 || ki > 0)) refuse(v, 'gathers along the batch axis');
      if (ki > 0 && axis !== 0) refuse(v, 'gathers with batch-carrying indices into a non-leading axis');
      return;
    }
    default:
      if (kind === 'elementwise') { same(); return; }
      refuse(v, `(op '${v.op}') is not known to keep batch items apart`);
  }
}
