import { describe, expect, test } from 'vitest';
import { Builder } from '../ir/builder.js';
import type { Func, Value } from '../ir/function.js';
import { interpret } from '../ir/interpreter.js';
import { literal, type Literal } from '../ir/literal.js';
import { tensorType, type TensorType } from '../ir/types.js';
import { compile } from '../compile.js';
import { load } from '../runtime/index.js';
import { readArtifact } from '../runtime/artifact.js';
import { firstMismatch } from './wasm/test_util.js';
import '../ir/ops/index.js';

/**
 * Compiled control flow: functions with cond, while and scan compile to artifacts whose schedule
 * holds loop and branch entries (not unrolled kernels), and running them in the runtime gives the
 * interpreter's results (the oracle: it evaluates regions directly), on 1 and 2 threads.
 */

const f32 = (...shape: number[]) => tensorType(shape, 'f32');
const i32 = (...shape: number[]) => tensorType(shape, 'i32');
const bool = () => tensorType([], 'bool');

function region(name: string, types: readonly TensorType[], body: (b: Builder, ps: Value[]) => Value[]): Func {
  const b = new Builder(name);
  const ps = types.map((t, i) => b.param(t, `p${i}`));
  return b.build(body(b, ps));
}

const lit = (t: TensorType, f: (i: number) => number): Literal => {
  const l = literal(t.shape, t.dtype);
  for (let i = 0; i < l.data.length; i++) l.data[i] = f(i);
  return l;
};

/** Compiles fn, runs it at 1 and 2 threads, and expects the interpreter's outputs. */
async function expectLikeInterpreter(fn: Func, inputs: readonly Literal[]): Promise<ReturnType<typeof compile>> {
  const want = interpret(fn, inputs);
  const art = compile(fn);
  for (const threads of [1, 2]) {
    const prog = await load(art.bytes, { threads });
    try {
      const feed: Record<string, Literal['data']> = {};
      fn.params.forEach((_, i) => { feed[art.manifest.inputs[i]!.name] = inputs[i]!.data; });
      const got = prog.runSync(feed);
      want.forEach((w, i) => {
        const name = art.manifest.outputs[i]!.name;
        expect(firstMismatch(`${name} (threads ${threads})`, got[name] as ArrayLike<number>, w.data)).toBeUndefined();
      });
    } finally {
      prog.dispose();
    }
  }
  return art;
}

/** while (i < n) { i += 1; x = x * 0.5 + 1 }: a data-dependent trip count. */
function whileFunc(n: number, max = -1): Func {
  const b = new Builder('loop');
  const x = b.param(f32(1000), 'x');
  const nn = b.param(i32(), 'n');
  const zero = b.scalar(0, 'i32');
  const cond = region('cond', [i32(), f32(1000), i32()], (r, [i, , m]) => [r.op('compare', [i!, m!], { dir: 'lt' })]);
  const body = region('body', [i32(), f32(1000), i32()], (r, [i, y, m]) => [
    r.op('add', [i!, r.scalar(1, 'i32')]), r.op('add', [r.op('mul', [y!, r.full(0.5, f32(1000))]), r.full(1, f32(1000))]), m!,
  ]);
  void n;
  const w = b.op('while', [zero, x, nn], max >= 0 ? { max_iterations: max } : {}, [cond, body]);
  return b.build([b.op('get_result', [w], { index: 1 }), b.op('get_result', [w], { index: 0 })], ['y', 'iters']);
}

const schedule = (bytes: Uint8Array) => JSON.stringify(readArtifact(bytes).manifest.schedule);

describe('compiled control flow equals the interpreter', () => {
  test('while with a data-dependent trip count (0, 1 and 7 iterations) and with max_iterations', async () => {
    for (const n of [0, 1, 7]) {
      const fn = whileFunc(n);
      const art = await expectLikeInterpreter(fn, [lit(f32(1000), (i) => i * 0.01 - 3), lit(i32(), () => n)]);
      expect(schedule(art.bytes)).toMatch(/"loop":\{"head":\[\d+\],"flag":\{"offset":\d+,"dtype":"bool"\}/);
      expect(readArtifact(art.bytes).manifest.version).toBe(4);
    }
    await expectLikeInterpreter(whileFunc(9, 4), [lit(f32(1000), (i) => i), lit(i32(), () => 9)]);
  });
});
