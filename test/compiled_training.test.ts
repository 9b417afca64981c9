/**
 * A whole training step (forward, loss, autodiff backward, optimizer update, metric update)
 * traced into one Func and compiled with compileEntries into one artifact with resident state:
 * prog.step(batch) trains without moving weights or optimizer state through JavaScript, and the
 * losses and final weights equal the reference interpreter running the same step.
 */
import { describe, expect, it } from 'vitest';
import { compileEntries } from '../src/compile.js';
import { trace } from '../src/frontend/tracing.js';
import { valueAndGrad } from '../src/frontend/grad.js';
import { fn, ops, type Tensor } from '../src/keras/backend.js';
import { categoricalCrossentropy } from '../src/keras/losses.js';
import { accuracy } from '../src/keras/metrics.js';
import { adam } from '../src/keras/optimizers/adam.js';
import { sgd } from '../src/keras/optimizers/sgd.js';
import type { Optimizer } from '../src/keras/optimizers/base.js';
import { randomTensor } from '../src/keras/test_util.js';
import { tensorType } from '../src/ir/types.js';
import { load, readArtifact } from '../src/runtime/index.js';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const shapes = [[12, 16], [16], [16, 5], [5]];
const names = ['w1', 'b1', 'w2', 'b2'];
const B = 8;

function mlp(x: Tensor, [w1, b1, w2, b2]: Tensor[]): Tensor {
  return ops.add(ops.matmul(ops.relu(ops.add(ops.matmul(x, w1!), b1!)), w2!), b2!);
}

function stepFn(opt: Optimizer, nState: number) {
  const loss = categoricalCrossentropy({ fromLogits: true });
  const metric = accuracy();
  const grads = valueAndGrad((xb: Tensor, yb: Tensor, ...ps: Tensor[]) => loss(yb, mlp(xb, ps)), { argnums: [2, 3, 4, 5] });
  return (xb: Tensor, yb: Tensor, ...rest: Tensor[]) => {
    const ps = rest.slice(0, 4), st = rest.slice(4, 4 + nState), ms = rest.slice(4 + nState);
    const { value, grads: g } = grads(xb, yb, ...ps);
    const r = opt.apply(ps, g, opt.fromTensors(st, ps.length));
    return [value, metric.result(metric.update(ms, yb, mlp(xb, ps))), ...r.params, ...opt.stateTensors(r.state), ...metric.update(ms, yb, mlp(xb, ps))];
  };
}

function buildStep(opt: Optimizer) {
  const init = shapes.map((s, i) => randomTensor(s, 20 + i, -0.5, 0.5));
  const optState = opt.stateTensors(opt.init(init));
  const metricState = accuracy().init();
  const state = [...init, ...optState, ...metricState];
  const stateNames = [...names, ...optState.map((_, i) => `opt${i}`), ...metricState.map((_, i) => `metric${i}`)];
  const f = stepFn(opt, optState.length);
  const types = [tensorType([B, 12], 'f32'), tensorType([B, 5], 'f32'), ...state.map((t) => t.type)];
  const { func } = trace(f, types, { name: 'train_step', argNames: ['x', 'y', ...stateNames] });
  func.resultNames = ['loss', 'acc', ...stateNames.map((n) => `new_${n}`)];
  stateNames.forEach((_, i) => func.aliases.push({ result: 2 + i, param: 2 + i }));
  return { func, f, tensors: state, state: stateNames.map((name, i) => ({ name, value: state[i]!.literal! })) };
}

async function compare(opt: Optimizer) {
  const { func, state: stateSpec, f, tensors: state } = buildStep(opt);
  const art = compileEntries([{ name: 'train_step', func }], stateSpec);
  const prog = await load(art.bytes, { threads: 2 });
  // Reference: the same step through the interpreter, state carried in JavaScript.
  const ref = fn(f, { execution: 'interpreter' });
  let carried = state;
  for (let s = 0; s < 6; s++) {
    const x = randomTensor([B, 12], 100 + s, -1, 1);
    const labels = ops.cast(ops.floor(randomTensor([B], 200 + s, 0, 5 - 1e-3)), 'i32');
    const y = ops.oneHot(labels, 5, 1, 0, 'f32');
    const before = prog.stats.bytesIn;
    const out = await prog.step({ x: x.dataSync() as Float32Array, y: y.dataSync() as Float32Array });
    expect(prog.stats.bytesIn - before).toBe((B * 12 + B * 5) * 4); // only the batch went in
    expect(Object.keys(out).sort()).toEqual(['acc', 'loss']);
    const want = ref(x, y, ...carried) as Tensor[];
    carried = want.slice(2);
    expect(Math.abs(out['loss']![0]! - want[0]!.item())).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(want[0]!.item())));
    expect(out['acc']![0]).toBeCloseTo(want[1]!.item(), 6);
  }
  const got = prog.getState(names);
  names.forEach((n, i) => {
    const w = carried[i]!.dataSync();
    const g = got[n]!;
    for (let j = 0; j < w.length; j++) expect(Math.abs(g[j]! - w[j]!)).toBeLessThanOrEqual(1e-5);
  });
  prog.dispose();
}

describe('compiled training step with resident state', () => {
  it('SGD', () => compare(sgd({ learningRate: 0.3 })));
  it('Adam', () => compare(adam({ learningRate: 0.01 })));
  it.skipIf(spawnSync('ptxas', ['--version']).status !== 0)('the same step compiles for CUDA (state, entries) and ptxas assembles it', () => {
    const { func, state } = buildStep(adam({ learningRate: 0.01 }));
    const art = compileEntries([{ name: 'train_step', func }], state, { target: 'cuda', sm: 80 });
    const { manifest, sections } = readArtifact(art.bytes);
    expect(manifest.target).toBe('cuda');
    expect((manifest as { state?: unknown[] }).state?.length).toBe(state.length);
    const dir = mkdtempSync(join(tmpdir(), 'kiln-ptx-'));
    writeFileSync(join(dir, 'step.ptx'), new TextDecoder().decode(sections['ptx']));
    const r = spawnSync('ptxas', ['-arch=sm_80', join(dir, 'step.ptx'), '-o', join(dir, 'step.cubin')], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
  });
});
