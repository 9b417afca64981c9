import { describe, expect, it } from 'vitest';
import { evalSym, linearize, sadd, sclamp, sconst, sdiv, smod, smul, strideOf, svar, unflatten } from './symbolic.js';

describe('symbolic index algebra', () => {
  it('reshape chains collapse back to the original index', () => {
    const i = svar('i', 60);
    const back = linearize(unflatten(i, [3, 4, 5]), [3, 4, 5]);
    expect(back.key).toBe(i.key);
    const j = sadd(smul(svar('w', 7), 60), i);
    expect(linearize(unflatten(j, [7, 3, 20]), [7, 3, 20]).key).toBe(j.key);
  });
  it('div/mod by constants simplify through ranges', () => {
    const w = svar('w', 12), i = svar('i', 4);
    const f = sadd(smul(w, 4), i);
    expect(sdiv(f, 4).key).toBe(w.key);
    expect(smod(f, 4).key).toBe(i.key);
    expect(sdiv(sdiv(svar('x', 100), 2), 5).key).toBe(sdiv(svar('x', 100), 10).key);
    expect(sclamp(i, 4).key).toBe(i.key);
    expect(svar('z', 1).key).toBe(sconst(0).key);
  });
  it('evaluates like integer arithmetic on random expressions', () => {
    let seed = 1;
    const rnd = (n: number) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
    for (let trial = 0; trial < 300; trial++) {
      const shape = [1 + rnd(4), 1 + rnd(5), 1 + rnd(6)];
      const n = shape[0]! * shape[1]! * shape[2]!;
      const f = svar('f', n);
      const idx = unflatten(f, shape);
      const perm = [2, 0, 1];
      const t = linearize(perm.map((p) => idx[p]!), perm.map((p) => shape[p]!));
      const c = 1 + rnd(7);
      const e = sadd(smod(t, c), smul(sdiv(t, c), 3));
      for (let v = 0; v < n; v++) {
        const ix = [Math.floor(v / (shape[1]! * shape[2]!)), Math.floor(v / shape[2]!) % shape[1]!, v % shape[2]!];
        const tv = (ix[2]! * shape[0]! + ix[0]!) * shape[1]! + ix[1]!;
        expect(evalSym(e, { f: v })).toBe((tv % c) + 3 * Math.floor(tv / c));
      }
    }
  });
  it('reports strides of loop variables', () => {
    const i = svar('i', 8), w = svar('w', 3);
    expect(strideOf(sadd(smul(w, 8), i), 'i')).toBe(1);
    expect(strideOf(smul(w, 8), 'i')).toBe(0);
    expect(strideOf(smod(sadd(smul(w, 8), i), 3), 'i')).toBe('complex');
  });
});
