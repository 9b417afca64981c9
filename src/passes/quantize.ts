/**
 * quantize (int8 post-training quantization, TFLite's scheme). After the pass, every accepted
 * site (an f32 `dot_general` (dense) or `conv` (regular or depthwise) whose weights are a
 * constant, with its per-channel bias add and ReLU / ReLU6 when they follow through values used
 * nowhere else) is computed in integers: its activation input arrives as i8 (per-tensor,
 * asymmetric, range from calibration always including 0), its weights are an i8 constant
 * (per output channel, symmetric in [-127, 127]), the product is the same dot/conv with
 * `dtype: 'i32'`, the bias is an i32 constant (scale s_in * s_w[c]) into which the input zero
 * point is folded (bias'[c] = round(bias[c] / (s_in s_w[c])) - zp_in * sum_k w_q[k, c]), a conv's
 * padding is an explicit `pad` of the i8 input with value zp_in before a VALID conv (so the fold
 * is exact at the borders), and `requantize` (Q31 multiplier and shift of s_in s_w[c] / s_out)
 * clamps to the activation's range (ReLU: [zp_out, 127]; ReLU6: up to q(6)). An i8 value flows
 * directly into the next site, through reshapes and max pooling (both exact on i8, keeping the
 * producer's scale and zero point): quantize(dequantize(x)) with equal parameters never appears.
 * Every other op stays f32, between a `dequantize` and the next site's `quantize`, and is listed
 * with the reason in the returned report. A site is refused (stays f32, listed with why) when
 * its requantization could overflow: a left shift (real multiplier >= 1) whose bound
 * 128 * sum|w_q| + |bias'| times 2^shift reaches 2^31, or a bias' outside i32.
 * The decision is `siteDecision`; the walk is `quantizeFunc`.
 */
import { makeValue } from '../ir/builder.js';
import type { Func, Value } from '../ir/function.js';
import { literal, type Literal } from '../ir/literal.js';
import { attr } from '../ir/registry.js';
import { KilnError } from '../ir/types.js';
import type { Pass } from './manager.js';
import { roundHalfAway } from '../ir/ops/quant.js';
import { splatValue } from './simplify.js';

/** A real range observed during calibration. */
export interface QuantRange {
  readonly min: number;
  readonly max: number;
}

/** Scale and zero point of an i8 activation. */
export interface QParams {
  readonly scale: number;
  readonly zeroPoint: number;
}

export type SiteKind = 'dense' | 'conv' | 'depthwise';
export type Activation = 'none' | 'relu' | 'relu6';

/** A dot/conv with constant weights and the epilogue chain that follows it. */
export interface Site {
  readonly kind: SiteKind;
  readonly anchor: Value;
  /** The f32 activation operand. */
  readonly input: Value;
  readonly weights: Literal;
  /** Per output channel bias (the add node is part of the chain), if any. */
  readonly bias?: Float64Array;
  readonly activation: Activation;
  /** Chain nodes after the anchor (bias add, activation pattern), replaced by the integer epilogue. */
  readonly chain: readonly Value[];
  /** The chain's last value: what the rest of the function reads. */
  readonly output: Value;
}

/** Per-tensor asymmetric int8 parameters of a range (widened to include 0), TFLite's nudging. */
export function activationParams(r: QuantRange): QParams {
  const lo = Math.min(r.min, 0), hi = Math.max(r.max, 0);
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) throw new KilnError(`quantize: calibration range [${r.min}, ${r.max}] is not finite (an activation overflowed on the calibration data)`);
  const span = hi - lo > 0 ? hi - lo : 1;
  let scale = Math.fround(span / 255);
  if (!(scale > 0)) scale = Math.fround(1e-30);
  const zp = roundHalfAway(-128 - lo / scale);
  return { scale, zeroPoint: Math.min(127, Math.max(-128, zp)) };
}

/** Q31 multiplier and shift (positive = left) of a positive real multiplier, TFLite's QuantizeMultiplier. */
export function quantizeMultiplier(real: number): { multiplier: number; shift: number } {
  if (!(real > 0) || !Number.isFinite(real)) throw new KilnError(`quantize: real multiplier ${real} must be positive and finite`);
  let shift = Math.floor(Math.log2(real)) + 1;
  let q = real / 2 ** shift; // in [0.5, 1)
  if (q >= 1) { q /= 2; shift++; }
  if (q < 0.5) { q *= 2; shift--; }
  let m = Math.round(q * 2 ** 31);
  if (m === 2 ** 31) { m /= 2; shift++; }
  return { multiplier: m, shift };
}

/** Per-channel values of a constant, or broadcast of one, that varies only along the last axis of `shape`. */
function perChannel(v: Value, c: number): Float64Array | null {
  const src = v.op === 'broadcast_in_dim' ? v.inputs[0]! : v;
  if (src.op !== 'constant' || src.dtype !== 'f32') return null;
  const data = attr.literal(src.attrs, 'value').data;
  const out = new Float64Array(c);
  if (v.op === 'broadcast_in_dim') {
    const dims = attr.ints(v.attrs, 'dims');
    const rank = v.shape.length;
    if (src.shape.length === 0) { out.fill(data[0]!); return out; }
    if (src.shape.length !== 1 || dims[0] !== rank - 1 || src.shape[0] !== c) return null;
    for (let k = 0; k < c; k++) out[k] = data[k]!;
    return out;
  }
  if (v.shape[v.shape.length - 1] !== c) return null;
  for (let k = 0; k < c; k++) out[k] = data[k]!;
  for (let i = c; i < data.length; i++) if (data[i] !== data[i % c]) return null;
  return out;
}

/** `relu(x)` as the tracer writes it: select(compare(x, 0, le), 0, x), or max(x, 0). Returns the nodes. */
function matchRelu(x: Value, users: Map<Value, Value[]>, uses: Map<Value, number>): Value[] | null {
  const us = users.get(x) ?? [];
  const zero = (v: Value) => splatValue(v) === 0;
  if (us.length === 1 && uses.get(x) === 1 && us[0]!.op === 'max') {
    const m = us[0]!;
    if ((m.inputs[0] === x && zero(m.inputs[1]!)) || (m.inputs[1] === x && zero(m.inputs[0]!))) return [m];
    return null;
  }
  if (us.length !== 2 || uses.get(x) !== 2) return null;
  const cmp = us.find((u) => u.op === 'compare'), sel = us.find((u) => u.op === 'select');
  if (!cmp || !sel || uses.get(cmp) !== 1) return null;
  const dir = attr.str(cmp.attrs, 'dir');
  const okCmp = (cmp.inputs[0] === x && zero(cmp.inputs[1]!) && (dir === 'le' || dir === 'lt'))
    || (cmp.inputs[1] === x && zero(cmp.inputs[0]!) && (dir === 'ge' || dir === 'gt'));
  if (!okCmp || sel.inputs[0] !== cmp || !zero(sel.inputs[1]!) || sel.inputs[2] !== x) return null;
  return [cmp, sel];
}

/** The site anchored at `v`, or null (with the reason) when it is not a quantizable dot/conv. */
export function matchSite(v: Value, users: Map<Value, Value[]>, uses: Map<Value, number>): Site | { why: string } | null {
  if (v.op !== 'dot_general' && v.op !== 'conv') return null;
  if (v.dtype !== 'f32') return null;
  const [x, w] = v.inputs as [Value, Value];
  if (w.op !== 'constant') return { why: 'its weights are not a constant (an input or computed): only constant weights are folded to int8' };
  if (x.dtype !== 'f32') return null;
  let kind: SiteKind;
  if (v.op === 'dot_general') {
    const lb = attr.ints(v.attrs, 'lhs_batch'), lc = attr.ints(v.attrs, 'lhs_contract'), rc = attr.ints(v.attrs, 'rhs_contract');
    if (lb.length !== 0 || w.shape.length !== 2 || lc.length !== 1 || lc[0] !== x.shape.length - 1 || rc.length !== 1 || rc[0] !== 0) {
      return { why: 'not a dense layer (x[..., K] times constant w[K, N])' };
    }
    kind = 'dense';
  } else {
    const ld = attr.ints(v.attrs, 'lhs_dilation');
    if (ld.some((d) => d !== 1)) return { why: 'transposed convolution (lhs dilation) has no integer kernel' };
    const g = attr.int(v.attrs, 'groups');
    const ci = w.shape[2]!;
    if (g === 1) kind = 'conv';
    else if (ci === 1 && g === x.shape[3]) kind = 'depthwise';
    else return { why: `grouped convolution (groups ${g}) has no integer kernel` };
  }
  const n = v.shape[v.shape.length - 1]!;
  const chain: Value[] = [];
  let out = v;
  let bias: Float64Array | undefined;
  const one = (u: Value) => (uses.get(u) === 1 ? users.get(u)?.[0] : undefined);
  const next = one(out);
  if (next && next.op === 'add' && next.dtype === 'f32') {
    const other = next.inputs[0] === out ? next.inputs[1]! : next.inputs[0]!;
    const b = other !== out ? perChannel(other, n) : null;
    if (b) { bias = b; chain.push(next); out = next; }
  }
  let activation: Activation = 'none';
  const relu = matchRelu(out, users, uses);
  if (relu) {
    activation = 'relu';
    chain.push(...relu);
    out = relu[relu.length - 1]!;
    const m = one(out);
    if (m && m.op === 'min') {
      const other = m.inputs[0] === out ? m.inputs[1]! : m.inputs[0]!;
      if (splatValue(other) === 6) { activation = 'relu6'; chain.push(m); out = m; }
    }
  }
  return { kind, anchor: v, input: x, weights: attr.literal(w.attrs, 'value'), ...(bias ? { bias } : {}), activation, chain, output: out };
}

/** Every site of `fn` in body order, and the dot/conv nodes refused with their reasons. */
export function findSites(fn: Func): { sites: Site[]; refused: { node: Value; why: string }[] } {
  const users = fn.users(), uses = fn.useCounts();
  const sites: Site[] = [];
  const refused: { node: Value; why: string }[] = [];
  const taken = new Set<Value>();
  for (const v of fn.body) {
    if (taken.has(v)) continue;
    const s = matchSite(v, users, uses);
    if (!s) continue;
    if ('why' in s) { refused.push({ node: v, why: s.why }); continue; }
    sites.push(s);
    for (const c of s.chain) taken.add(c);
  }
  return { sites, refused };
}

/** Symmetric per-output-channel int8 weights (last axis), in [-127, 127]. */
export function quantizeWeights(w: Literal): { q: Literal; scale: number[] } {
  const n = w.type.shape[w.type.shape.length - 1]!;
  const total = w.data.length;
  const maxAbs = new Float64Array(n);
  for (let i = 0; i < total; i++) maxAbs[i % n] = Math.max(maxAbs[i % n]!, Math.abs(w.data[i]!));
  const scale = Array.from(maxAbs, (m) => (m > 0 ? Math.fround(m / 127) : 1));
  const q = literal(w.type.shape, 'i8');
  for (let i = 0; i < total; i++) {
    const c = i % n;
    const y = w.data[i]! / scale[c]!;
    q.data[i] = Math.max(-127, Math.min(127, roundHalfAway(y)));
  }
  return { q, scale };
}

/** Why a site is (not) computed in integers, from its parameters. */
export interface SiteVerdict {
  readonly quantize: boolean;
  readonly why: string;
}

/** The integer epilogue of a site, computed from its parameters. */
interface Integerized {
  readonly wq: Literal;
  readonly bias: Int32Array;
  readonly multiplier: number[];
  readonly shift: number[];
  readonly min: number;
  readonly max: number;
}

function integerize(site: Site, pin: QParams, pout: QParams): Integerized | SiteVerdict {
  const { q: wq, scale: sw } = quantizeWeights(site.weights);
  const n = sw.length;
  const sumW = new Float64Array(n), sumAbs = new Float64Array(n);
  for (let i = 0; i < wq.data.length; i++) { sumW[i % n] += wq.data[i]!; sumAbs[i % n] += Math.abs(wq.data[i]!); }
  const bias = new Int32Array(n);
  const multiplier: number[] = [], shift: number[] = [];
  for (let c = 0; c < n; c++) {
    const accScale = pin.scale * sw[c]!;
    const b = roundHalfAway((site.bias?.[c] ?? 0) / accScale) - pin.zeroPoint * sumW[c]!;
    if (!(Math.abs(b) < 2 ** 31)) return { quantize: false, why: `channel ${c}: the folded i32 bias ${b} does not fit 32 bits (bias ${site.bias?.[c]} over accumulator scale ${accScale})` };
    bias[c] = b;
    const m = quantizeMultiplier(accScale / pout.scale);
    if (m.shift > 0 && (128 * sumAbs[c]! + Math.abs(b)) * 2 ** m.shift >= 2 ** 31) {
      return { quantize: false, why: `channel ${c}: real multiplier ${(accScale / pout.scale).toPrecision(4)} >= 1 needs a left shift of ${m.shift} that could overflow i32` };
    }
    // A multiplier below 2^-32 scales every i32 accumulator to 0 either way: clamp it to 2^-32.
    multiplier.push(m.shift < -31 ? 2 ** 30 : m.multiplier);
    shift.push(Math.max(m.shift, -31));
  }
  const q = (x: number) => Math.min(127, Math.max(-128, roundHalfAway(x / pout.scale) + pout.zeroPoint));
  const min = site.activation === 'none' ? -128 : Math.max(-128, pout.zeroPoint);
  const max = site.activation === 'relu6' ? q(6) : 127;
  return { wq, bias, multiplier, shift, min, max };
}

/** What the pass did, for explain(). */
export interface QuantizeReport {
  /** Sites computed in integers: anchor op, kind, activation, output shape. */
  readonly quantized: readonly { readonly op: string; readonly kind: SiteKind; readonly activation: Activation; readonly shape: readonly number[] }[];
  /** Dot/conv nodes left in f32, with the reason. */
  readonly refused: readonly { readonly op: string; readonly shape: readonly number[]; readonly why: string }[];
  /** Other ops that compute in f32, by op name: count and reason. */
  readonly f32: readonly { readonly op: string; readonly count: number; readonly why: string }[];
  /** Ops that run on i8 besides the sites (max pooling, reshapes). */
  readonly int8: readonly { readonly op: string; readonly count: number }[];
  readonly quantizeNodes: number;
  readonly dequantizeNodes: number;
}

/** Reasons ops other than dot/conv stay f32 (policy table; the fallback names the op). */
const F32_REASONS: Readonly<Record<string, string>> = {
  add: 'residual and other adds stay f32 between dequantize and quantize (no integer kernel with two input scales)',
  sub: 'elementwise arithmetic stays f32 (fused loop kernels)',
  mul: 'elementwise arithmetic stays f32 (fused loop kernels; batch norm after an activation is not folded)',
  div: 'elementwise arithmetic stays f32 (fused loop kernels)',
  exp: 'transcendentals stay f32 (softmax, sigmoid, ...)',
  reduce: 'reductions stay f32 (softmax, global average pooling, ...)',
  reduce_window: 'sum (average) pooling stays f32 (no integer kernel yet); max pooling runs on i8 when its input is i8',
  concat: 'concatenation stays f32 (its inputs may have different scales)',
};

function describeF32(op: string): string {
  return F32_REASONS[op] ?? `${op} has no integer form; it stays f32 between dequantize and quantize`;
}

/** Ops that are exact on i8 and keep their operand's scale and zero point. */
function isI8Passthrough(v: Value): boolean {
  if (v.op === 'reshape') return true;
  if (v.op === 'reduce_window') return attr.str(v.attrs, 'op') === 'max';
  return false;
}

/**
 * Rewrite `fn` in place. `ranges(site)` gives the calibrated input and output ranges of a site
 * (index in `findSites(fn).sites` order). Returns the report.
 */
export function quantizeFunc(fn: Func, ranges: (index: number, site: Site) => { input: QuantRange; output: QuantRange }): QuantizeReport {
  const { sites, refused: refusedNodes } = findSites(fn);
  const refused = refusedNodes.map((r) => ({ op: r.node.op, shape: r.node.shape, why: r.why }));
  const siteOf = new Map<Value, { site: Site; index: number }>();
  sites.forEach((site, index) => siteOf.set(site.anchor, { site, index }));
  const chainNodes = new Set<Value>();
  const body: Value[] = [];
  const f32 = new Map<Value, Value>();
  const i8 = new Map<Value, { v: Value; p: QParams }>();
  for (const p of fn.params) f32.set(p, p);
  let quantizeNodes = 0, dequantizeNodes = 0;
  const int8Ops = new Map<string, number>();
  const quantized: QuantizeReport['quantized'][number][] = [];

  const emit = (op: string, inputs: Value[], attrs: Record<string, unknown> = {}, name?: string): Value => {
    const v = makeValue(op, inputs, attrs as never);
    if (name !== undefined) v.name = name;
    body.push(v);
    return v;
  };
  const qattrs = (p: QParams) => ({ scale: [p.scale], zero_point: [p.zeroPoint] });
  const asF32 = (old: Value): Value => {
    const have = f32.get(old);
    if (have) return have;
    const q = i8.get(old);
    if (!q) throw new Error(`quantize: %${old.id} (${old.op}) used before its definition`);
    const d = emit('dequantize', [q.v], qattrs(q.p));
    dequantizeNodes++;
    f32.set(old, d);
    return d;
  };
  const asI8 = (old: Value, p: QParams): { v: Value; p: QParams } => {
    const have = i8.get(old);
    if (have) return have;
    const q = { v: emit('quantize', [asF32(old)], qattrs(p)), p };
    quantizeNodes++;
    i8.set(old, q);
    return q;
  };

  for (const v of fn.body) {
    if (chainNodes.has(v)) continue;
    const s = siteOf.get(v);
    if (s) {
      const { site, index } = s;
      const r = ranges(index, site);
      const pin = i8.get(site.input)?.p ?? activationParams(r.input);
      const pout = activationParams(r.output);
      const ints = integerize(site, pin, pout);
      if ('why' in ints) {
        refused.push({ op: v.op, shape: v.shape, why: ints.why });
      } else {
        const xq = asI8(site.input, pin).v;
        let acc: Value;
        const w = emit('constant', [], { value: ints.wq });
        if (site.kind === 'dense') {
          acc = emit('dot_general', [xq, w], { ...v.attrs, dtype: 'i32' });
        } else {
          const lo = attr.ints(v.attrs, 'pad_lo'), hi = attr.ints(v.attrs, 'pad_hi');
          let xin = xq;
          if (lo.some((p) => p !== 0) || hi.some((p) => p !== 0)) {
            // The zero point is what "0" is in the i8 domain; the folded bias counts on it at the borders.
            xin = emit('pad', [xq], { low: [0, lo[0]!, lo[1]!, 0], high: [0, hi[0]!, hi[1]!, 0], interior: [0, 0, 0, 0], value: pin.zeroPoint });
          }
          acc = emit('conv', [xin, w], { ...v.attrs, pad_lo: [0, 0], pad_hi: [0, 0], dtype: 'i32' });
        }
        const n = ints.bias.length;
        const bc = emit('constant', [], { value: literal([n], 'i32', ints.bias) });
        const bb = emit('broadcast_in_dim', [bc], { shape: [...acc.shape], dims: [acc.shape.length - 1] });
        const sum = emit('add', [acc, bb]);
        const perTensor = ints.multiplier.every((m, c) => m === ints.multiplier[0] && ints.shift[c] === ints.shift[0]);
        const out = emit('requantize', [sum], {
          multiplier: perTensor ? [ints.multiplier[0]!] : ints.multiplier, shift: perTensor ? [ints.shift[0]!] : ints.shift,
          axis: perTensor ? -1 : acc.shape.length - 1, zero_point: pout.zeroPoint, min: ints.min, max: ints.max,
        });
        i8.set(site.output, { v: out, p: pout });
        for (const c of site.chain) chainNodes.add(c);
        quantized.push({ op: v.op, kind: site.kind, activation: site.activation, shape: v.shape });
        continue;
      }
    }
    const src = v.inputs[0];
    if (src && isI8Passthrough(v) && i8.has(src) && v.dtype === 'f32') {
      const q = i8.get(src)!;
      i8.set(v, { v: emit(v.op, [q.v], { ...v.attrs }), p: q.p });
      int8Ops.set(v.op, (int8Ops.get(v.op) ?? 0) + 1);
      continue;
    }
    const copy = makeValue(v.op, v.inputs.map(asF32), v.attrs, v.regions);
    copy.name = v.name;
    body.push(copy);
    f32.set(v, copy);
  }
  fn.results = fn.results.map(asF32);
  fn.body = body;

  // Ops computing in f32 on activations (values computed from constants alone and the QDQ ops aside).
  const constLike = new Set<Value>();
  const counts = new Map<string, number>();
  for (const v of body) {
    if (v.op === 'constant' || v.op === 'iota' || (v.op !== 'parameter' && v.inputs.length > 0 && v.inputs.every((x) => constLike.has(x)))) { constLike.add(v); continue; }
    if (v.op === 'parameter' || v.op === 'get_result' || v.op === 'quantize' || v.op === 'dequantize' || v.dtype !== 'f32') continue;
    counts.set(v.op, (counts.get(v.op) ?? 0) + 1);
  }
  return {
    quantized, refused,
    f32: [...counts].map(([op, count]) => ({ op, count, why: op === 'dot_general' || op === 'conv' ? 'refused (see above)' : describeF32(op) })),
    int8: [...int8Ops].map(([op, count]) => ({ op, count })),
    quantizeNodes, dequantizeNodes,
  };
}

/** The report as text (explain()). */
export function describeQuantization(r: QuantizeReport): string {
  const lines = [`int8 quantization: ${r.quantized.length} dot/conv sites in integers (${r.quantizeNodes} quantize, ${r.dequantizeNodes} dequantize nodes)`];
  const kinds = new Map<string, number>();
  for (const q of r.quantized) kinds.set(`${q.kind}${q.activation === 'none' ? '' : ` + ${q.activation}`}`, (kinds.get(`${q.kind}${q.activation === 'none' ? '' : ` + ${q.activation}`}`) ?? 0) + 1);
  for (const [k, n] of kinds) lines.push(`  int8: ${k} x${n}`);
  for (const o of r.int8) lines.push(`  int8: ${o.op} x${o.count} (exact on i8, keeps the producer's scale)`);
  for (const f of r.refused) lines.push(`  f32: ${f.op} [${f.shape.join(',')}]: ${f.why}`);
  for (const f of r.f32) if (f.op !== 'dot_general' && f.op !== 'conv') lines.push(`  f32: ${f.op} x${f.count}: ${f.why}`);
  return lines.join('\n');
}

/**
 * The pass over calibrated ranges (quantize_calibration.ts `calibrate` gives them, in findSites
 * order); `onReport` receives what it did.
 */
export function makeQuantize(ranges: (index: number, site: Site) => { input: QuantRange; output: QuantRange }, onReport?: (r: QuantizeReport) => void): Pass {
  return {
    name: 'quantize',
    run(fn) {
      const r = quantizeFunc(fn, ranges);
      onReport?.(r);
      return r.quantized.length > 0;
    },
  };
}
