/**
 * Symbolic integer index arithmetic for lowering movement ops (reshape, transpose, broadcast,
 * slice, pad, concat) into loads. Expressions are kept in a canonical affine form
 * `c + Σ coef·atom`, where an atom is a loop variable or a floor-div / mod / min / max node, and
 * every node carries a conservative value range. Division and modulo by constants simplify
 * through the ranges, so `reshape(reshape(x))` or `(i/N)*N + i%N` collapse back to plain indices,
 * which lets the code generator see contiguous (vectorizable) and invariant accesses.
 */

export type Atom =
  | { readonly k: 'var'; readonly name: string; readonly lo: number; readonly hi: number }
  | { readonly k: 'div'; readonly a: Sym; readonly c: number }
  | { readonly k: 'mod'; readonly a: Sym; readonly c: number }
  | { readonly k: 'min'; readonly a: Sym; readonly b: Sym }
  | { readonly k: 'max'; readonly a: Sym; readonly b: Sym };

/** c + Σ terms[i].coef * terms[i].atom, terms sorted by key, no zero coefficients. */
export interface Sym {
  readonly c: number;
  readonly terms: readonly { readonly coef: number; readonly atom: Atom; readonly key: string }[];
  readonly lo: number;
  readonly hi: number;
  readonly key: string;
}

function atomKey(a: Atom): string {
  switch (a.k) {
    case 'var': return a.name;
    case 'div': return `(${a.a.key})/${a.c}`;
    case 'mod': return `(${a.a.key})%${a.c}`;
    case 'min': return `min(${a.a.key},${a.b.key})`;
    case 'max': return `max(${a.a.key},${a.b.key})`;
  }
}

function atomRange(a: Atom): [number, number] {
  switch (a.k) {
    case 'var': return [a.lo, a.hi];
    case 'div': return [Math.floor(a.a.lo / a.c), Math.floor(a.a.hi / a.c)];
    case 'mod': return a.a.lo >= 0 && a.a.hi < a.c ? [a.a.lo, a.a.hi] : [0, a.c - 1];
    case 'min': return [Math.min(a.a.lo, a.b.lo), Math.min(a.a.hi, a.b.hi)];
    case 'max': return [Math.max(a.a.lo, a.b.lo), Math.max(a.a.hi, a.b.hi)];
  }
}

function make(c: number, terms: Map<string, { coef: number; atom: Atom }>): Sym {
  recombine(terms);
  const shift = terms.get('#const');
  if (shift) { c += shift.coef; terms.delete('#const'); }
  const list = [...terms.entries()].filter(([, t]) => t.coef !== 0).sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0))
    .map(([key, t]) => ({ coef: t.coef, atom: t.atom, key }));
  let lo = c, hi = c;
  for (const t of list) {
    const [alo, ahi] = atomRange(t.atom);
    if (t.coef > 0) { lo += t.coef * alo; hi += t.coef * ahi; } else { lo += t.coef * ahi; hi += t.coef * alo; }
  }
  const key = list.map((t) => `${t.coef}*${t.key}`).join('+') + `+${c}`;
  return { c, terms: list, lo, hi, key };
}

/**
 * k·c·(x/c) + k·(x%c) = k·x for x >= 0: the pattern linearize(unflatten(...)) leaves behind.
 * Applied until no pair is left, so reshape chains collapse back to the index they started from.
 */
function recombine(terms: Map<string, { coef: number; atom: Atom }>): void {
  for (let changed = true; changed;) {
    changed = false;
    for (const [mk, md] of terms) {
      if (md.atom.k !== 'mod' || md.coef === 0) continue;
      const y = md.atom.a, c = md.atom.c;
      if (y.lo < 0) continue;
      // The quotient partner is y/c, or x/(c1*c) when y is itself x/c1 (nested divisions are
      // normalized that way by sdiv).
      const partners = [atomKey({ k: 'div', a: y, c })];
      const only = y.terms.length === 1 && y.c === 0 && y.terms[0]!.coef === 1 ? y.terms[0]!.atom : undefined;
      if (only && only.k === 'div') partners.push(atomKey({ k: 'div', a: only.a, c: only.c * c }));
      const dk = partners.find((k) => terms.get(k)?.coef === md.coef * c);
      if (!dk) continue;
      const k = md.coef;
      terms.delete(dk);
      terms.delete(mk);
      for (const t of y.terms) {
        const cur = terms.get(t.key);
        terms.set(t.key, { coef: (cur?.coef ?? 0) + k * t.coef, atom: t.atom });
      }
      // y's constant part is folded into the caller's constant through this pseudo-term.
      if (y.c !== 0) terms.set('#const', { coef: (terms.get('#const')?.coef ?? 0) + k * y.c, atom: { k: 'var', name: '#const', lo: 1, hi: 1 } });
      changed = true;
      break;
    }
  }
}

function fromAtom(atom: Atom): Sym {
  return make(0, new Map([[atomKey(atom), { coef: 1, atom }]]));
}

export function sconst(c: number): Sym {
  return make(c, new Map());
}

/** A loop variable ranging over [0, extent). */
export function svar(name: string, extent: number): Sym {
  if (extent <= 1) return sconst(0);
  return fromAtom({ k: 'var', name, lo: 0, hi: Math.max(0, extent - 1) });
}

export function isConst(s: Sym): boolean {
  return s.terms.length === 0;
}

function termMap(s: Sym): Map<string, { coef: number; atom: Atom }> {
  return new Map(s.terms.map((t) => [t.key, { coef: t.coef, atom: t.atom }]));
}

export function sadd(a: Sym | number, b: Sym | number): Sym {
  const x = typeof a === 'number' ? sconst(a) : a;
  const y = typeof b === 'number' ? sconst(b) : b;
  const m = termMap(x);
  for (const t of y.terms) {
    const cur = m.get(t.key);
    m.set(t.key, { coef: (cur?.coef ?? 0) + t.coef, atom: t.atom });
  }
  return make(x.c + y.c, m);
}

export function smul(a: Sym, k: number): Sym {
  if (k === 0) return sconst(0);
  const m = new Map<string, { coef: number; atom: Atom }>();
  for (const t of a.terms) m.set(t.key, { coef: t.coef * k, atom: t.atom });
  return make(a.c * k, m);
}

export function ssub(a: Sym | number, b: Sym | number): Sym {
  return sadd(a, smul(typeof b === 'number' ? sconst(b) : b, -1));
}

/** Floor division by a positive constant. */
export function sdiv(a: Sym, c: number): Sym {
  if (c === 1) return a;
  if (isConst(a)) return sconst(Math.floor(a.c / c));
  if (a.lo >= 0 && a.hi < c) return sconst(0);
  if (Math.floor(a.lo / c) === Math.floor(a.hi / c)) return sconst(Math.floor(a.lo / c));
  // Split a = q*c + r where q collects terms whose coefficients are multiples of c; if the rest
  // (r) provably lies in [0, c) then a/c = q exactly.
  const q = new Map<string, { coef: number; atom: Atom }>();
  const r = new Map<string, { coef: number; atom: Atom }>();
  for (const t of a.terms) {
    if (t.coef % c === 0) q.set(t.key, { coef: t.coef / c, atom: t.atom });
    else r.set(t.key, { coef: t.coef, atom: t.atom });
  }
  const qc = Math.floor(a.c / c);
  const rest = make(a.c - qc * c, r);
  if (rest.lo >= 0 && rest.hi < c) return make(qc, q);
  // Nested division: (x / a) / b = x / (a*b) for non-negative x.
  if (a.terms.length === 1 && a.c === 0 && a.terms[0]!.coef === 1 && a.terms[0]!.atom.k === 'div' && a.lo >= 0) {
    const inner = a.terms[0]!.atom;
    return sdiv(inner.a, inner.c * c);
  }
  // Pull out the quotient part when the remainder is non-negative: (q*c + r)/c = q + r/c.
  if (q.size > 0 && rest.lo >= 0) return sadd(make(qc, q), sdiv(rest, c));
  return fromAtom({ k: 'div', a, c });
}

/** Modulo by a positive constant (a is expected non-negative). */
export function smod(a: Sym, c: number): Sym {
  if (c === 1) return sconst(0);
  if (isConst(a)) return sconst(((a.c % c) + c) % c);
  if (a.lo >= 0 && a.hi < c) return a;
  // Terms with coefficients divisible by c vanish.
  const r = new Map<string, { coef: number; atom: Atom }>();
  for (const t of a.terms) if (t.coef % c !== 0) r.set(t.key, { coef: t.coef, atom: t.atom });
  const rest = make(((a.c % c) + c) % c, r);
  if (rest.lo >= 0 && rest.hi < c) return rest;
  // (x % (k*c)) % c = x % c
  if (rest.terms.length === 1 && rest.c === 0 && rest.terms[0]!.coef === 1) {
    const at = rest.terms[0]!.atom;
    if (at.k === 'mod' && at.c % c === 0) return smod(at.a, c);
  }
  return fromAtom({ k: 'mod', a: rest, c });
}

export function smin(a: Sym, b: Sym): Sym {
  if (a.hi <= b.lo) return a;
  if (b.hi <= a.lo) return b;
  return fromAtom({ k: 'min', a, b });
}

export function smax(a: Sym, b: Sym): Sym {
  if (a.lo >= b.hi) return a;
  if (b.lo >= a.hi) return b;
  return fromAtom({ k: 'max', a, b });
}

/** Clamp into [0, n-1]; disappears when the range already fits. */
export function sclamp(a: Sym, n: number): Sym {
  return smin(smax(a, sconst(0)), sconst(n - 1));
}

/** Row-major linear index of a multi-index in `shape`. */
export function linearize(idx: readonly Sym[], shape: readonly number[]): Sym {
  let acc = sconst(0);
  for (let d = 0; d < shape.length; d++) acc = sadd(smul(acc, shape[d]!), idx[d]!);
  return acc;
}

/** Multi-index in `shape` of a row-major linear index. */
export function unflatten(flat: Sym, shape: readonly number[]): Sym[] {
  const out = new Array<Sym>(shape.length);
  let rest = flat;
  for (let d = shape.length - 1; d >= 0; d--) {
    const n = shape[d]!;
    if (d === 0) { out[d] = rest; break; }
    out[d] = smod(rest, n);
    rest = sdiv(rest, n);
  }
  return out;
}

/**
 * How `s` depends on the loop variable `v`: 'none' (invariant), a constant stride when v occurs
 * only in top-level affine terms, or 'complex' when v occurs inside div/mod/min/max.
 */
export function strideOf(s: Sym, v: string): number | 'complex' {
  let stride = 0;
  for (const t of s.terms) {
    if (t.atom.k === 'var') {
      if (t.atom.name === v) stride += t.coef;
    } else if (mentions(t.atom, v)) {
      return 'complex';
    }
  }
  return stride;
}

function mentions(a: Atom, v: string): boolean {
  switch (a.k) {
    case 'var': return a.name === v;
    case 'div': case 'mod': return a.a.terms.some((t) => mentions(t.atom, v));
    case 'min': case 'max': return [a.a, a.b].some((s) => s.terms.some((t) => mentions(t.atom, v)));
  }
}

export function symToString(s: Sym): string {
  const parts = s.terms.map((t) => `${t.coef === 1 ? '' : `${t.coef}*`}${atomToString(t.atom)}`);
  if (s.c !== 0 || parts.length === 0) parts.push(String(s.c));
  return parts.join(' + ');
}

function atomToString(a: Atom): string {
  switch (a.k) {
    case 'var': return a.name;
    case 'div': return `(${symToString(a.a)})/${a.c}`;
    case 'mod': return `(${symToString(a.a)})%${a.c}`;
    case 'min': return `min(${symToString(a.a)}, ${symToString(a.b)})`;
    case 'max': return `max(${symToString(a.a)}, ${symToString(a.b)})`;
  }
}

/** Evaluate with concrete variable values (tests and constant propagation). */
export function evalSym(s: Sym, env: Readonly<Record<string, number>>): number {
  let acc = s.c;
  for (const t of s.terms) acc += t.coef * evalAtom(t.atom, env);
  return acc;
}

function evalAtom(a: Atom, env: Readonly<Record<string, number>>): number {
  switch (a.k) {
    case 'var': {
      const v = env[a.name];
      if (v === undefined) throw new Error(`evalSym: no value for ${a.name}`);
      return v;
    }
    case 'div': return Math.floor(evalSym(a.a, env) / a.c);
    case 'mod': { const x = evalSym(a.a, env); return ((x % a.c) + a.c) % a.c; }
    case 'min': return Math.min(evalSym(a.a, env), evalSym(a.b, env));
    case 'max': return Math.max(evalSym(a.a, env), evalSym(a.b, env));
  }
}
