/**
 * splitDerived: the arithmetic on state alone (batch norm's scale and shift here) moves to the
 * derive Func; running derive then main in the reference interpreter gives what the original
 * Func gives, and state the Func updates is never derived from.
 */
import { describe, expect, it } from 'vitest';
import { interpret } from './ir/interpreter.js';
import { tensorType } from './ir/types.js';
import { literal } from './ir/literal.js';
import { ops, variable, type Tensor } from './frontend/index.js';
import { trace } from './frontend/tracing.js';
import { splitDerived } from './exec_derive.js';
import { randomTensor } from './keras/test_util.js';

describe('splitDerived', () => {
  const C = 6;
  const gamma = variable(randomTensor([C], 1, 0.5, 1.5), { name: 'bn/gamma' });
  const beta = variable(randomTensor([C], 2), { name: 'bn/beta' });
  const mean = variable(randomTensor([C], 3), { name: 'bn/mean' });
  const vari = variable(randomTensor([C], 4, 0.5, 1.5), { name: 'bn/variance' });
  const w = variable(randomTensor([5, C], 5), { name: 'dense/kernel' });
  const vars = [w, gamma, beta, mean, vari];
  const bn = (x: Tensor) => {
    const y = ops.matmul(x, w.read());
    const scale = ops.mul(gamma.read(), ops.rsqrt(ops.add(vari.read(), 1e-3)));
    return ops.add(ops.mul(y, scale), ops.sub(beta.read(), ops.mul(mean.read(), scale)));
  };

  it('moves batch norm\'s scale and shift into derive; derive then main equals the original', () => {
    const fn = trace(bn, [tensorType([3, 5], 'f32')], { name: 'bn', variables: vars }).func;
    const split = splitDerived(fn, 1)!;
    expect(split).toBeDefined();
    expect(split.main.body.some((v) => v.op === 'rsqrt')).toBe(false);
    expect(split.derive.body.some((v) => v.op === 'rsqrt')).toBe(true);
    // Derived tensors are per-channel vectors (the broadcasts stay in main), not activations.
    for (const p of split.main.params.slice(fn.params.length)) expect(p.shape).toEqual([C]);
    const x = randomTensor([3, 5], 9).literal!;
    const state = vars.map((v) => v.value.literal!);
    // The derived parameters are only the places the results go: any value will do.
    const derived = interpret(split.derive, [...state, ...split.derive.params.slice(state.length).map((p) => literal([...p.shape], p.dtype))]);
    expect(derived).toHaveLength(split.names.length);
    const got = interpret(split.main, [x, ...state, ...derived])[0]!;
    const want = interpret(fn, [x, ...state])[0]!;
    got.data.forEach((g, i) => expect(g).toBeCloseTo(want.data[i]!, 5));
  });

  it('derives nothing from state the function updates, nor from inputs', () => {
    const counter = variable(randomTensor([C], 6), { name: 'counter' });
    const f = trace((x: Tensor) => {
      counter.assign(ops.add(counter.read(), 1));
      return ops.add(x, ops.exp(counter.read()));
    }, [tensorType([2, C], 'f32')], { name: 'upd', variables: [counter] }).func;
    expect(splitDerived(f, 1)).toBeUndefined();
  });
});
