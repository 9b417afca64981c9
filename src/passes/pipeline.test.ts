import { describe, expect, test } from 'vitest';
import { interpret, isFloat, literal, literalsEqual, makeValue, typeToString, type Attrs, type Func, type Literal, type Value } from '../ir/index.js';
import { funcDiff } from '../ir/equal.js';
import { printFunc } from '../ir/print.js';
import { randomFunc, randomInputs, Rng } from '../ir/random.js';
import { cse } from './cse.js';
import { dce } from './dce.js';
import { fold } from './fold.js';
import { runPipeline, type Pass } from './manager.js';
import { STANDARD_PIPELINE } from './pipeline.js';
import { simplify } from './simplify.js';

/**
 * Passes preserve semantics: on random functions, the interpreter gives the same results before
 * and after each pass and the whole pipeline. Functions seeded with patterns the passes target
 * check that the passes fire and undo exactly what was injected.
 */

const SEEDS = Array.from({ length: 40 }, (_, i) => i + 1);
const PASSES: readonly Pass[] = [simplify, cse, fold, dce];

/** Results equal element by element; NaN equals NaN and -0 equals +0 (x + 0 -> x may flip a zero's sign). */
function expectSameResults(got: Literal[], want: Literal[], what: string): void {
  expect(got.length, what).toBe(want.length);
  got.forEach((g, i) => {
    if (!literalsEqual(g, want[i]!)) {
      throw new Error(`${what}: result ${i} differs\n got ${typeToString(g.type)} ${[...g.data].join(',')}\nwant ${typeToString(want[i]!.type)} ${[...want[i]!.data].join(',')}`);
    }
  });
}

function checkPreserves(fn: Func, inputs: Literal[], pipeline: Parameters<typeof runPipeline>[1], label: string): Func {
  const want = interpret(fn, inputs);
  const g = fn.clone();
  const report = runPipeline(g, pipeline, { dumpDir: null }); // verifies after every pass
  expect(report.unconverged).toBe(0);
  expect(g.params.map((p) => typeToString(p.type))).toEqual(fn.params.map((p) => typeToString(p.type)));
  expect(g.aliases).toEqual(fn.aliases);
  expectSameResults(interpret(g, inputs), want, `${label}\n${printFunc(fn)}`);
  return g;
}

describe('passes preserve semantics on random functions', () => {
  for (const pass of PASSES) {
    test(`${pass.name}`, () => {
      for (const seed of SEEDS) {
        const fn = randomFunc(seed);
        checkPreserves(fn, randomInputs(fn, seed), [pass], `${pass.name} on seed ${seed}`);
      }
    });
  }

  test('the standard pipeline, which never grows a function', () => {
    let shrank = 0;
    for (const seed of SEEDS) {
      const fn = randomFunc(seed, { size: 16 });
      const out = checkPreserves(fn, randomInputs(fn, seed), STANDARD_PIPELINE, `pipeline on seed ${seed}`);
      // A folded splat becomes constant + broadcast: at most one extra node per fold, never more than the input had.
      expect(out.body.length).toBeLessThanOrEqual(fn.body.length + 1);
      if (out.body.length < fn.body.length) shrank++;
    }
    expect(shrank).toBeGreaterThan(SEEDS.length / 4);
  });
});

type Emit = (op: string, inputs: readonly Value[], attrs?: Attrs) => Value;

/** Ways to wrap `v` in ops that compute exactly `v`; each returns undefined where it does not apply. */
const INJECTIONS: Record<string, (v: Value, emit: Emit, rng: Rng) => Value | undefined> = {
  'add-zero': (v, emit, rng) => {
    if (v.dtype === 'bool') return undefined;
    const z = emit('constant', [], { value: literal([], v.dtype, [0]) });
    const zs = v.shape.length ? emit('broadcast_in_dim', [z], { shape: v.shape, dims: [] }) : z;
    return rng.chance(0.5) ? emit('add', [v, zs]) : emit('add', [zs, v]);
  },
  'mul-one-folded': (v, emit) => {
    // (c / c) folds to ones, which simplify then removes: exercises fold -> simplify.
    if (v.dtype === 'bool') return undefined;
    const c = emit('constant', [], { value: literal(v.shape, v.dtype, 3) });
    return emit('mul', [v, emit('div', [c, c])]);
  },
  'neg-neg': (v, emit) => (v.dtype === 'bool' ? undefined : emit('neg', [emit('neg', [v])])),
  'not-not': (v, emit) => (v.dtype === 'bool' || v.dtype === 'i32' ? emit('not', [emit('not', [v])]) : undefined),
  'transpose-pair': (v, emit, rng) => {
    const n = v.shape.length;
    if (n < 2) return undefined;
    const perm = rng.shuffle(Array.from({ length: n }, (_, i) => i));
    const inverse = perm.map((_, i) => perm.indexOf(i));
    return emit('transpose', [emit('transpose', [v], { perm })], { perm: inverse });
  },
  'reshape-pair': (v, emit) => emit('reshape', [emit('reshape', [v], { shape: [v.shape.reduce((a, b) => a * b, 1)] })], { shape: v.shape }),
  'cast-roundtrip': (v, emit) => {
    const wider = v.dtype === 'f16' || v.dtype === 'bf16' ? 'f32' : v.dtype === 'i8' || v.dtype === 'u8' || v.dtype === 'bool' ? 'i32' : undefined;
    return wider ? emit('cast', [emit('cast', [v], { dtype: wider })], { dtype: v.dtype }) : undefined;
  },
  'select-same': (v, emit) => emit('select', [emit('compare', [v, v], { dir: 'eq' }), v, v]),
  'duplicate-max': (v, emit) => {
    if (v.op === 'parameter' || v.dtype === 'bool') return undefined;
    return emit('max', [v, emit(v.op, v.inputs, v.attrs)]);
  },
  'noop-movement': (v, emit, rng) => {
    const n = v.shape.length;
    const zeros = v.shape.map(() => 0);
    switch (rng.int(0, 3)) {
      case 0: return emit('broadcast_in_dim', [v], { shape: v.shape, dims: v.shape.map((_, i) => i) });
      case 1: return n ? emit('slice', [v], { start: zeros, limit: v.shape, strides: v.shape.map(() => 1) }) : undefined;
      case 2: return n ? emit('pad', [v], { low: zeros, high: zeros, interior: zeros, value: 1 }) : undefined;
      default: return n ? emit('concat', [v], { axis: rng.int(0, n - 1) }) : undefined;
    }
  },
};

/**
 * Near misses: chains that look like a pattern but change the value (or compose movement ops in
 * ways only a correct composition undoes). A pass that over-reaches changes the results.
 */
const DECOYS: Record<string, (v: Value, emit: Emit, rng: Rng) => Value | undefined> = {
  'zero-minus': (v, emit) => (v.dtype === 'bool' ? undefined : emit('sub', [splat(0, v, emit), v])),
  'times-zero': (v, emit) => (v.dtype === 'bool' ? undefined : emit('add', [v, emit('mul', [v, splat(0, v, emit)])])),
  'minus-self': (v, emit) => (v.dtype === 'bool' ? undefined : emit('sub', [v, emit('sub', [v, v])])),
  'one-over': (v, emit) => (isFloat(v.dtype) ? emit('div', [splat(1, v, emit), v]) : undefined),
  // Same op and operands but other attributes, or swapped operands of a non-commutative op: CSE must keep both.
  'other-attrs': (v, emit) => {
    if (v.dtype === 'bool') return undefined;
    const t = emit('neg', [v]);
    const lo = emit('select', [emit('compare', [v, t], { dir: 'lt' }), v, t]);
    return emit('add', [lo, emit('select', [emit('compare', [v, t], { dir: 'gt' }), v, t])]);
  },
  'swapped-operands': (v, emit) => {
    if (v.dtype === 'bool') return undefined;
    const t = emit('abs', [v]);
    return emit('sub', [emit('sub', [v, t]), emit('sub', [t, v])]);
  },
  'lossy-casts': (v, emit) => {
    if (v.dtype === 'f32') return emit('cast', [emit('cast', [v], { dtype: 'f16' })], { dtype: 'f32' });
    if (isFloat(v.dtype)) return emit('cast', [emit('cast', [v], { dtype: 'i32' })], { dtype: v.dtype });
    return undefined;
  },
  'transpose-triple': (v, emit, rng) => {
    const n = v.shape.length;
    if (n < 2) return undefined;
    const iota = Array.from({ length: n }, (_, i) => i);
    const p = rng.shuffle(iota), q = rng.shuffle(iota);
    // transpose(transpose(v, p), q) is transpose(v, c) with c[i] = p[q[i]]; undo c.
    const c = q.map((j) => p[j]!);
    const undo = iota.map((i) => c.indexOf(i));
    return emit('transpose', [emit('transpose', [emit('transpose', [v], { perm: p })], { perm: q })], { perm: undo });
  },
  'broadcast-chain': (v, emit) => {
    const n = v.shape.length;
    const shifted = v.shape.map((_, i) => i + 1);
    const b1 = emit('broadcast_in_dim', [v], { shape: [2, ...v.shape], dims: shifted });
    const b2 = emit('broadcast_in_dim', [b1], { shape: [2, 3, ...v.shape], dims: [0, ...shifted.map((d) => d + 1)] });
    const one = emit('slice', [b2], { start: [1, 2, ...v.shape.map(() => 0)], limit: [2, 3, ...v.shape], strides: Array(n + 2).fill(1) });
    return emit('reshape', [one], { shape: v.shape });
  },
};

function splat(x: number, like: Value, emit: Emit): Value {
  const c = emit('constant', [], { value: literal([], like.dtype, [x]) });
  return like.shape.length ? emit('broadcast_in_dim', [c], { shape: like.shape, dims: [] }) : c;
}

/** A copy of `fn` where, with probability `p`, each value's later uses read an injected identity chain instead. */
function injectPatterns(fn: Func, seed: number, p = 0.5, table = INJECTIONS): { fn: Func; fired: Set<string> } {
  const g = fn.clone();
  const rng = new Rng(seed);
  const subst = new Map<Value, Value>();
  const body: Value[] = [];
  const fired = new Set<string>();
  const emit: Emit = (op, inputs, attrs = {}) => {
    const n = makeValue(op, inputs, attrs);
    body.push(n);
    return n;
  };
  const wrap = (v: Value): void => {
    if (!rng.chance(p)) return;
    const names = rng.shuffle(Object.keys(table));
    for (const name of names) {
      const w = table[name]!(v, emit, rng);
      if (w) {
        fired.add(name);
        subst.set(v, w);
        return;
      }
    }
  };
  g.params.forEach(wrap);
  for (const v of g.body) {
    v.inputs = v.inputs.map((x) => subst.get(x) ?? x);
    body.push(v);
    wrap(v);
  }
  g.body = body;
  g.results = g.results.map((r) => subst.get(r) ?? r);
  return { fn: g, fired };
}

describe('passes undo injected patterns', () => {
  test('the pipeline removes every injected identity and returns the same function as without them', () => {
    const fired = new Set<string>();
    let identical = 0;
    for (const seed of SEEDS) {
      // Float-only ops keep every value's identities exact and the comparison meaningful.
      const base = randomFunc(seed, { size: 10 });
      const { fn: injected, fired: f } = injectPatterns(base, seed);
      f.forEach((x) => fired.add(x));
      const inputs = randomInputs(base, seed);
      const want = interpret(base, inputs);
      expectSameResults(interpret(injected, inputs), want, `injection itself, seed ${seed}`);
      const a = injected.clone();
      const report = runPipeline(a, STANDARD_PIPELINE, { dumpDir: null });
      expectSameResults(interpret(a, inputs), want, `pipeline on injected seed ${seed}\n${printFunc(injected)}`);
      const b = base.clone();
      runPipeline(b, STANDARD_PIPELINE, { dumpDir: null });
      if (f.size) {
        expect(report.changed).toBe(true);
        expect(a.body.length).toBeLessThan(injected.body.length);
      }
      // The injected chains disappear entirely: optimizing with or without them gives the same size.
      expect(a.body.length, `seed ${seed}\n${printFunc(a)}\nvs\n${printFunc(b)}`).toBe(b.body.length);
      if (funcDiff(a, b) === null) identical++;
    }
    expect([...fired].sort()).toEqual(Object.keys(INJECTIONS).sort());
    expect(identical).toBeGreaterThan(SEEDS.length * 0.8);
  });

  test('near misses keep their values through every pass and the pipeline', () => {
    const fired = new Set<string>();
    for (const seed of SEEDS) {
      const { fn, fired: f } = injectPatterns(randomFunc(seed, { size: 8 }), seed, 0.6, { ...DECOYS, ...INJECTIONS });
      f.forEach((x) => fired.add(x));
      const inputs = randomInputs(fn, seed);
      for (const pass of PASSES) checkPreserves(fn, inputs, [pass], `${pass.name} on decoys, seed ${seed}`);
      checkPreserves(fn, inputs, STANDARD_PIPELINE, `pipeline on decoys, seed ${seed}`);
    }
    expect([...fired].filter((x) => x in DECOYS).sort()).toEqual(Object.keys(DECOYS).sort());
  });

  test('each pass fires on its own patterns', () => {
    const counts: Record<string, number> = { simplify: 0, cse: 0, fold: 0 };
    for (const seed of SEEDS.slice(0, 10)) {
      const { fn } = injectPatterns(randomFunc(seed, { size: 8 }), seed, 0.9);
      for (const pass of [simplify, cse, fold]) {
        const g = fn.clone();
        const before = g.body.length;
        if (pass.run(g)) {
          dce.run(g);
          expect(g.body.length).toBeLessThanOrEqual(before);
          counts[pass.name]!++;
        }
      }
    }
    expect(counts['simplify']).toBe(10);
    expect(counts['cse']).toBeGreaterThan(3);
    expect(counts['fold']).toBeGreaterThan(3);
  });

  test('floats only: f16/bf16 values survive cast round trips exactly', () => {
    for (const seed of SEEDS.slice(0, 10)) {
      const base = randomFunc(seed, { ops: ['add', 'mul', 'exp', 'tanh', 'cast', 'transpose', 'reshape', 'constant'], size: 8 });
      const { fn } = injectPatterns(base, seed + 100, 0.8);
      const inputs = randomInputs(base, seed);
      const g = fn.clone();
      runPipeline(g, STANDARD_PIPELINE, { dumpDir: null });
      expectSameResults(interpret(g, inputs), interpret(base, inputs), `seed ${seed}`);
      expect(g.body.some((v) => v.op === 'cast' && v.inputs[0]!.op === 'cast' && isFloat(v.inputs[0]!.inputs[0]!.dtype) && v.inputs[0]!.dtype === 'f32' && v.inputs[0]!.inputs[0]!.dtype !== 'f32')).toBe(false);
    }
  });
});
