/**
 * Unrolling of short scans before fusion planning, where controlDecision (passes/fusion.ts) says
 * it is faster: the body is inlined once per step, with each step's slice of the sequences taken
 * by `slice` + `reshape` and the per-step outputs stacked by `reshape` + `concat`, so fusion can
 * merge the steps. Everything else stays a control node (a loop or branch entry of the schedule).
 * Works inside regions too. The input function is not changed; the result is a new Func when
 * anything was unrolled.
 */
import { makeValue } from '../ir/builder.js';
import { Func, type Value } from '../ir/function.js';
import { attr } from '../ir/registry.js';
import { controlDecision } from '../passes/fusion.js';

export interface UnrollResult {
  readonly func: Func;
  /** One line per scan unrolled, with the reason. */
  readonly unrolled: string[];
}

export function unrollShortLoops(fn: Func): UnrollResult {
  const unrolled: string[] = [];
  const wants = (f: Func): boolean => f.body.some((v) => (v.op === 'scan' && controlDecision(v).unroll) || v.regions.some(wants));
  if (!wants(fn)) return { func: fn, unrolled };
  const out = fn.clone();
  rewrite(out, unrolled);
  return { func: out, unrolled };
}

function rewrite(fn: Func, log: string[]): void {
  for (const v of fn.body) v.regions.forEach((r) => rewrite(r, log));
  const body: Value[] = [];
  const replaced = new Map<Value, Value>();
  for (const v of fn.body) {
    for (let k = 0; k < v.inputs.length; k++) {
      const r = replaced.get(v.inputs[k]!);
      if (r) v.inputs[k] = r;
    }
    if (v.op === 'get_result' && replaced.has(v)) continue;
    if (v.op !== 'scan') {
      body.push(v);
      continue;
    }
    const d = controlDecision(v);
    if (!d.unroll) {
      body.push(v);
      continue;
    }
    log.push(d.why);
    const emit = (op: string, ins: Value[], attrs: Record<string, number | boolean | readonly number[]> = {}): Value => {
      const x = makeValue(op, ins, attrs);
      body.push(x);
      return x;
    };
    const nc = attr.int(v.attrs, 'carries'), length = attr.int(v.attrs, 'length'), axis = attr.int(v.attrs, 'axis');
    const reverse = attr.bool(v.attrs, 'reverse');
    const region = v.regions[0]!;
    let carries = v.inputs.slice(0, nc);
    const xs = v.inputs.slice(nc);
    const ys: Value[][] = [];
    for (let k = 0; k < length; k++) {
      const t = reverse ? length - 1 - k : k;
      const slices = xs.map((x) => {
        const start = x.shape.map((_, i) => (i === axis ? t : 0));
        const limit = x.shape.map((n, i) => (i === axis ? t + 1 : n));
        const s = emit('slice', [x], { start, limit, strides: x.shape.map(() => 1) });
        return emit('reshape', [s], { shape: x.shape.filter((_, i) => i !== axis) });
      });
      const map = new Map<Value, Value>();
      region.params.forEach((p, i) => map.set(p, i < nc ? carries[i]! : slices[i - nc]!));
      for (const b of region.body) {
        const c = makeValue(b.op, b.inputs.map((x) => map.get(x)!), b.attrs, b.regions.map((r) => r.clone()));
        body.push(c);
        map.set(b, c);
      }
      const res = region.results.map((r) => map.get(r)!);
      carries = res.slice(0, nc);
      ys[t] = res.slice(nc);
    }
    const tuple = v.type.tuple!;
    const stacked = tuple.slice(nc).map((ty, j) => {
      const parts = ys.map((step) => emit('reshape', [step[j]!], { shape: [...step[j]!.shape.slice(0, axis), 1, ...step[j]!.shape.slice(axis)] }));
      return parts.length === 1 ? emit('reshape', [parts[0]!], { shape: ty.shape }) : emit('concat', parts, { axis });
    });
    const results = [...carries, ...stacked];
    for (const u of fn.body) if (u.op === 'get_result' && u.inputs[0] === v) replaced.set(u, results[attr.int(u.attrs, 'index')]!);
  }
  fn.body = body;
  fn.results = fn.results.map((r) => replaced.get(r) ?? r);
}
