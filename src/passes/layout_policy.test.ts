import { describe, expect, it } from 'vitest';
import { compile, toFunc } from '../compile.js';
import * as k from '../frontend/index.js';
import { valueAndGrad } from '../frontend/grad.js';
import { parseFunc } from '../ir/parse.js';
import { randomInputs } from '../ir/random.js';
import { compareCompiled } from '../codegen/wasm/test_util.js';
import { explainPlan } from './explain.js';
import { TARGET_LAYOUTS, operandLayout, transposeLayout } from './layout_policy.js';
import '../ir/ops/index.js';

describe('layout policy: per-target operand layouts', () => {
  const fn = parseFunc(`func @f(%x: f32[2,5,5,3], %dy: f32[3,3,4,2], %a: f32[4,6], %b: f32[6,4]) -> (out0: f32[3,3,3,4], out1: f32[4,4]) {
    %tx = transpose(%x) {perm=[3, 1, 2, 0]}
    %tw = transpose(%dy) {perm=[0, 1, 3, 2]}
    %c = conv(%tx, %tw) {strides=[1, 1], pad_lo=[0, 0], pad_hi=[0, 0]}
    %tb = transpose(%b) {perm=[1, 0]}
    %d = dot_general(%a, %tb) {lhs_batch=[], rhs_batch=[], lhs_contract=[1], rhs_contract=[1]}
    return %c, %d
  }`);
  const [tx, tw, c, tb, d] = fn.body as [never, never, never, never, never];

  it('every target declares the conv weight operand as one that folds transposes, and the conv input as one that does not', () => {
    for (const t of ['wasm', 'cuda'] as const) {
      expect(operandLayout(t, c, 1)!.foldsTranspose).toBe(true);
      expect(operandLayout(t, c, 0)!.foldsTranspose).toBe(false);
    }
    expect(TARGET_LAYOUTS.wasm.find((l) => l.op === 'conv' && l.operand === 0)!.strength).toBe('mandatory');
  });

  it('a transpose feeding conv weights folds; one feeding the conv input or a dot is materialized, with the constraint named', () => {
    const w = transposeLayout(tw, c);
    expect(w.fold).toBe(true);
    expect(w.why).toMatch(/folded into the operand read .*%dy stays in its own layout \[3,3,4,2\]/);
    const x = transposeLayout(tx, c);
    expect(x.fold).toBe(false);
    expect(x.why).toMatch(/materialized \(explicit layout change\): wasm wants NHWC rows \(channels contiguous\) \(mandatory\)/);
    expect(transposeLayout(tb, d).fold).toBe(false);
    expect(transposeLayout(tw, d).why).toMatch(/not an operand of dot_general/);
  });
});

describe('layout: the filter-gradient conv reads the upstream gradient through its pack', () => {
  // conv -> relu -> max pool -> conv -> relu: the first conv's filter gradient is conv(transpose(x),
  // transpose(dy)) where dy is the max-pool and ReLU gradient chain.
  const loss = (x: k.Tensor, k1: k.Tensor, k2: k.Tensor) => {
    const h = k.maxPool(k.relu(k.conv2d(x, k1)), 2);
    return k.sum(k.square(k.relu(k.conv2d(h, k2))));
  };
  const g = valueAndGrad(loss, { argnums: [1, 2] });
  const fn = toFunc((x: k.Tensor, k1: k.Tensor, k2: k.Tensor) => { const r = g(x, k1, k2); return [r.value, ...r.grads] as never; },
    { inputShapes: [[4, 12, 12, 2], [3, 3, 2, 8], [3, 3, 8, 6]] });
  const art = compile(fn);
  const plan = art.plan;

  it('no standalone transpose kernel produces a filter-gradient conv\'s weights; the gradient chain is stored in its own layout', () => {
    const convs = plan.groups.filter((gr) => gr.kind === 'conv');
    const filterGrads = convs.filter((gr) => gr.root.inputs[1]!.op === 'transpose');
    expect(filterGrads.length, explainPlan(plan)).toBe(2);
    for (const gr of filterGrads) {
      const t = gr.root.inputs[1]!;
      expect(gr.values.includes(t), `transpose %${t.id} is a member of conv %${gr.root.id}'s kernel`).toBe(true);
      expect(gr.prologue).toEqual([t]);
      // What the transpose reads is stored by a kernel that is not a transpose (natural layout).
      const src = plan.groupOf.get(t.inputs[0]!);
      if (src) expect(src.root.op).not.toBe('transpose');
    }
    // The only transpose kernels left are the conv inputs' explicit layout changes (NHWC rows are mandatory).
    const transposeKernels = plan.groups.filter((gr) => gr.kind === 'loop' && gr.root.op === 'transpose');
    for (const gr of transposeKernels) {
      const readers = art.func.body.filter((v) => v.inputs.includes(gr.root));
      expect(readers.every((r) => r.op === 'conv' && r.inputs[0] === gr.root), explainPlan(plan)).toBe(true);
    }
  });

  it('explain() prints each layout decision with its reason', () => {
    const text = explainPlan(plan);
    expect(text).toMatch(/^layout \(transposes: fold = read at permuted indices by a kernel, change = explicit layout change\):$/m);
    expect(text.match(/^ {2}fold transpose %\d+ \[1, 2, 0, 3\] -> conv %\d+: folded into the operand read \(wasm: GEMM panels/mg)?.length).toBe(2);
    expect(text).toMatch(/^ {2}change transpose %\d+ \[3, 1, 2, 0\] -> conv %\d+: materialized \(explicit layout change\): wasm wants NHWC rows/m);
    expect(text).toMatch(/fused: layout: transpose %\d+ \[1, 2, 0, 3\] -> conv %\d+: folded into the operand read/);
    expect(text).toMatch(/not fused: layout: \w+ %\d+ is stored in its own layout \[4,10,10,8\], read at permuted indices by transpose %\d+ folded into conv %\d+/);
  });

  it('the compiled gradients agree with the interpreter (1 and 2 threads)', async () => {
    for (const threads of [1, 2]) expect(await compareCompiled(fn, randomInputs(fn, 11), { load: { threads }, rtol: 2e-4 })).toBeUndefined();
  });

  it('the CUDA target compiles the same plan (its per-element conv reads the folded transpose at permuted indices)', () => {
    const cuda = compile(fn, { target: 'cuda' });
    expect(cuda.plan.groups.filter((gr) => gr.kind === 'conv' && gr.prologue.some((v) => v.op === 'transpose')).length).toBe(2);
  });
});
