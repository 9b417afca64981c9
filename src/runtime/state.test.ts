// Resident training state and entry points: the counter fixture's kernels
// update state in place; the oracle is plain JS loops with f32 rounding.
import { afterEach, describe, expect, it } from 'vitest';
import { assemble } from '../../test/fuzz/assemble.js';
import { load, readArtifact, writeArtifact, KilnRuntimeError, type Program, type ManifestInput } from './index.js';
import { counterArtifact, counterLayout } from '../../test/browser/fixture.js';

const N = 16;
const ACC0 = Float32Array.from({ length: N }, (_, i) => (i - 7) * 0.25);
const STEP0 = 10;
const H0 = new Float32Array([1, -2, 0.5, 1024]);
const batch = (k: number) => Float32Array.from({ length: N }, (_, i) => Math.sin(i * 1.7 + k) * 2);

const open: Program[] = [];
async function loaded(bytes: Uint8Array, opts?: Parameters<typeof load>[1]): Promise<Program> {
  const p = await load(bytes, opts);
  open.push(p);
  return p;
}
afterEach(() => {
  for (const p of open.splice(0)) p.dispose();
});

function expectThrows(f: () => unknown, message: RegExp): void {
  let caught: unknown;
  try {
    f();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(KilnRuntimeError);
  expect((caught as Error).message).toMatch(message);
}

async function expectRejects(p: Promise<unknown>, message: RegExp): Promise<void> {
  await p.then(
    () => expect.unreachable(`expected a rejection matching ${message}`),
    (e: unknown) => {
      expect(e).toBeInstanceOf(KilnRuntimeError);
      expect((e as Error).message).toMatch(message);
    },
  );
}

/** What the counter's state should be after training on `xs`, from `acc0`/`step0`. */
function oracle(xs: Float32Array[], acc0 = ACC0, step0 = STEP0) {
  const acc = Float32Array.from(acc0);
  let total = 0;
  const losses: number[] = [];
  for (const x of xs) {
    for (let i = 0; i < N; i++) acc[i] = Math.fround(acc[i]! + x[i]!);
    let sx = 0;
    for (let i = 0; i < N; i++) sx = Math.fround(sx + x[i]!);
    total = Math.fround(total + sx);
    let sa = 0;
    for (let i = 0; i < N; i++) sa = Math.fround(sa + acc[i]!);
    losses.push(sa);
  }
  return { acc, step: step0 + xs.length, total, losses };
}

const artifact = (shared = false) => counterArtifact({ n: N, shared, accInit: ACC0, stepInit: STEP0, hInit: H0 });

describe('resident state', () => {
  it('starts from the initial image and lists its state', async () => {
    const prog = await loaded(artifact());
    expect(prog.stateNames).toEqual(['acc', 'step', 'total', 'h']);
    expect(prog.state.map((s) => [s.name, s.shape, s.dtype])).toEqual([
      ['acc', [N], 'f32'],
      ['step', [], 'i32'],
      ['total', [], 'f32'],
      ['h', [2, 2], 'f16'],
    ]);
    const s = prog.getState();
    expect(Array.from(s['acc']!)).toEqual(Array.from(ACC0));
    expect(s['step']).toBeInstanceOf(Int32Array);
    expect(Array.from(s['step']!)).toEqual([STEP0]);
    expect(Array.from(s['total']!)).toEqual([0]); // no init: zero
    expect(s['h']).toBeInstanceOf(Float32Array);
    expect(Array.from(s['h']!)).toEqual(Array.from(H0));
    expect(Array.from(prog.getState(['step'])['step']!)).toEqual([STEP0]);
    expect(Object.keys(prog.getState(['step', 'h']))).toEqual(['step', 'h']);
  });

  it('round-trips setState through getState, whole and partial', async () => {
    const prog = await loaded(artifact());
    const next = {
      acc: batch(9),
      step: new Int32Array([-3]),
      total: new Float32Array([42.5]),
      h: new Float32Array([0.25, -65504, 3, 0]),
    };
    prog.setState(next);
    const back = prog.getState();
    for (const k of prog.stateNames) expect(Array.from(back[k]!)).toEqual(Array.from(next[k as keyof typeof next]));
    prog.setState({ step: new Int32Array([7]) });
    const after = prog.getState();
    expect(Array.from(after['step']!)).toEqual([7]);
    expect(Array.from(after['acc']!)).toEqual(Array.from(next.acc));
    // A step after setState continues from the set values.
    const x = batch(1);
    const out = prog.runSync({ x });
    const want = oracle([x], next.acc, 7);
    expect(Array.from(out['step']!)).toEqual([8]);
    expect(out['loss']![0]).toBe(want.losses[0]);
  });

  it('persists across steps with only the batch going in and only outputs coming out', async () => {
    for (const threads of [1, 2]) {
      const prog = await loaded(artifact(threads > 1), { threads });
      expect(prog.threads).toBe(threads);
      expect(prog.stats).toEqual({ runs: 0, bytesIn: 0, bytesOut: 0 });
      const xs = [batch(1), batch(2), batch(3)];
      const want = oracle(xs);
      for (let k = 0; k < xs.length; k++) {
        const out = k === 1 ? prog.runSync({ x: xs[k]! }) : await prog.step({ x: xs[k]! });
        expect(Object.keys(out)).toEqual(['loss', 'step']);
        expect(out['loss']![0]).toBe(want.losses[k]);
        expect(Array.from(out['step']!)).toEqual([STEP0 + k + 1]);
      }
      // 3 batches of N f32 in; 3 x (loss f32 + step i32) out; acc (N f32) never crossed.
      expect(prog.stats).toEqual({ runs: 3, bytesIn: 3 * N * 4, bytesOut: 3 * 8 });
      const s = prog.getState();
      expect(Array.from(s['acc']!)).toEqual(Array.from(want.acc));
      expect(Array.from(s['step']!)).toEqual([want.step]);
      expect(s['total']![0]).toBe(want.total);
      expect(Array.from(s['h']!)).toEqual(Array.from(H0));
      // getState is the one place state comes out, and it is counted.
      expect(prog.stats.bytesOut).toBe(3 * 8 + N * 4 + 4 + 4 + 4 * 2);
      prog.setState({ total: new Float32Array([1]) });
      expect(prog.stats.bytesIn).toBe(3 * N * 4 + 4);
    }
  });

  it('resetState goes back to the initial image, and training replays identically', async () => {
    const prog = await loaded(artifact());
    const xs = [batch(4), batch(5)];
    const first = xs.map((x) => prog.runSync({ x })['loss']![0]);
    prog.setState({ h: new Float32Array([9, 9, 9, 9]) });
    prog.resetState();
    const s = prog.getState();
    expect(Array.from(s['acc']!)).toEqual(Array.from(ACC0));
    expect(Array.from(s['step']!)).toEqual([STEP0]);
    expect(Array.from(s['total']!)).toEqual([0]);
    expect(Array.from(s['h']!)).toEqual(Array.from(H0));
    const again = xs.map((x) => prog.runSync({ x })['loss']![0]);
    expect(again).toEqual(first);
    expect(again).toEqual(oracle(xs).losses);
  });

  it('validates setState and getState, naming the tensor, and writes nothing on error', async () => {
    const prog = await loaded(artifact());
    expectThrows(() => prog.setState({ bias: new Float32Array(N) }), /unknown state tensor 'bias'; the program's state is: acc, step, total, h/);
    expectThrows(
      () => prog.setState({ acc: new Float32Array(N + 1) }),
      /state tensor 'acc' must be f32\[16\] \(16 elements, Float32Array\), got Float32Array\(17\)/,
    );
    expectThrows(() => prog.setState({ step: new Float32Array(1) }), /state tensor 'step' must be i32\[\] \(1 element, Int32Array\), got Float32Array\(1\)/);
    expectThrows(() => prog.setState({ h: new Uint16Array(4) as unknown as Float32Array }), /state tensor 'h' must be f16\[2,2\] .*Float32Array\), got Uint16Array\(4\)/);
    expectThrows(() => prog.setState(null as unknown as Record<string, Float32Array>), /setState\(\) takes an object of named state tensors \{acc, step, total, h\}/);
    // The valid 'acc' in a batch with a bad 'step' must not have been written.
    expectThrows(() => prog.setState({ acc: batch(7), step: new Int8Array(1) }), /state tensor 'step'/);
    expect(Array.from(prog.getState()['acc']!)).toEqual(Array.from(ACC0));
    expectThrows(() => prog.getState(['acc', 'momentum']), /unknown state tensor 'momentum'/);
    expect(prog.stats.bytesIn).toBe(0);
    prog.dispose();
    expectThrows(() => prog.getState(), /disposed/);
    expectThrows(() => prog.resetState(), /disposed/);
  });

  it('a program without state has empty state', async () => {
    const bytes = counterArtifact({ n: N });
    const art = readArtifact(bytes);
    const m = structuredClone(art.manifest) as ManifestInput;
    delete m.state;
    const prog = await loaded(writeArtifact({ manifest: m, sections: art.sections }));
    expect(prog.stateNames).toEqual([]);
    expect(prog.getState()).toEqual({});
    expectThrows(() => prog.setState({ acc: new Float32Array(N) }), /unknown state tensor 'acc'; the program's state is: \(none\)/);
  });
});

describe('entry points', () => {
  it('share memory and state: eval reads what train wrote and changes nothing', async () => {
    for (const threads of [1, 2]) {
      const prog = await loaded(artifact(threads > 1), { threads });
      expect(prog.name).toBe('train_step');
      expect(prog.entries).toEqual(['train_step', 'eval_step']);
      const evalStep = prog.entry('eval_step');
      expect(evalStep.inputs).toEqual([{ name: 'x', shape: [N], dtype: 'f32' }]);
      expect(evalStep.outputs.map((o) => o.name)).toEqual(['score', 'step']);
      const xs: Float32Array[] = [];
      // Interleave entries many times: with threads, each run must walk the
      // schedule of the entry it was asked for.
      for (let k = 0; k < 12; k++) {
        const x = batch(k);
        xs.push(x);
        await prog.step({ x });
        const probe = batch(100 + k);
        const r = k % 3 === 0 ? await evalStep.run({ x: probe }) : k % 3 === 1 ? prog.runSync({ x: probe }, { entry: 'eval_step' }) : await prog.run({ x: probe }, { entry: 'eval_step' });
        const acc = oracle(xs).acc;
        expect(Array.from(r['score']!)).toEqual(Array.from(acc, (a, i) => Math.fround(a * probe[i]!)));
        expect(Array.from(r['step']!)).toEqual([STEP0 + k + 1]);
      }
      expect(Array.from(prog.getState(['step'])['step']!)).toEqual([STEP0 + 12]);
      const viaEntry = await prog.entry('train_step').step({ x: batch(50) });
      expect(Array.from(viaEntry['step']!)).toEqual([STEP0 + 13]);
    }
  });

  it('explains unknown entries and entry input errors', async () => {
    const prog = await loaded(artifact());
    expectThrows(() => prog.entry('predict'), /unknown entry point 'predict'; the artifact's entries are: train_step, eval_step/);
    await expectRejects(prog.run({ x: batch(1) }, { entry: 'fit' }), /unknown entry point 'fit'/);
    expectThrows(() => prog.runSync({ y: batch(1) }, { entry: 'eval_step' }), /unknown input 'y'; entry 'eval_step' takes: x/);
    expectThrows(() => prog.runSync({}), /missing input 'x' .*; the program's inputs are: x/);
  });

  it('names the default entry "main" when the manifest does not', async () => {
    const art = readArtifact(artifact());
    const m = structuredClone(art.manifest) as ManifestInput;
    delete m.defaultEntry;
    const prog = await loaded(writeArtifact({ manifest: m, sections: art.sections }));
    expect(prog.entries).toEqual(['main', 'eval_step']);
    expect(Array.from(prog.entry('main').runSync({ x: batch(1) })['step']!)).toEqual([STEP0 + 1]);
  });
});

describe('state and entries in the manifest', () => {
  const base = readArtifact(artifact());
  const rewrite = (patch: (m: ManifestInput) => void, sections = base.sections): Uint8Array => {
    const m = structuredClone(base.manifest) as ManifestInput;
    patch(m);
    return writeArtifact({ manifest: m, sections });
  };
  const L = counterLayout(N);

  it('is written as format version 3, with or without state', () => {
    const bytes = artifact();
    expect(new DataView(bytes.buffer, bytes.byteOffset).getUint32(8, true)).toBe(3);
    expect(base.manifest.version).toBe(3);
    const plain = rewrite((m) => {
      delete m.state;
      delete m.entries;
      delete m.defaultEntry;
    });
    expect(new DataView(plain.buffer, plain.byteOffset).getUint32(8, true)).toBe(3);
  });

  it('rejects state in a file that claims version 1', async () => {
    const v1 = assemble({ ...base.manifest, version: 1 }, base.sections, { version: 1 });
    await expectRejects(load(v1), /manifest\.state must be absent in a version-1 artifact/);
  });

  it('names the state tensor or entry that is wrong', async () => {
    await expectRejects(
      load(rewrite((m) => (m.state![1]!.offset = L.X + 8))),
      new RegExp(`manifest\\.state\\[1\\] 'step' \\[${L.X + 8}, ${L.X + 12}\\) overlaps manifest\\.inputs\\[0\\] 'x' \\[${L.X}, ${L.ACC}\\)`),
    );
    await expectRejects(load(rewrite((m) => (m.state![2]!.offset = L.ACC + 4))), /manifest\.state\[2\] 'total' \[\d+, \d+\) overlaps manifest\.state\[0\] 'acc'/);
    await expectRejects(
      load(rewrite((m) => (m.state![0]!.init = 40))),
      new RegExp(`manifest\\.state\\[0\\]\\.init: the initial value of 'acc' \\[40, ${40 + N * 4}\\) lies outside the ${N * 4 + 24}-byte 'state' section`),
    );
    const { state: _drop, ...noImage } = base.sections;
    await expectRejects(load(rewrite(() => {}, noImage)), /manifest\.state\[0\]\.init: the initial value of 'acc' \[0, 64\) lies outside the 0-byte 'state' section/);
    await expectRejects(load(rewrite((m) => (m.state![3]!.name = 'acc'))), /manifest\.state\[3\]\.name must be unique \(manifest\.state\[0\] has it too\), got "acc"/);
    await expectRejects(load(rewrite((m) => ((m.state![1] as { dtype: string }).dtype = 'i64'))), /manifest\.state\[1\]\.dtype must be one of .*, got "i64"/);
    await expectRejects(load(rewrite((m) => (m.entries!['eval_step']!.schedule = [2, 3]))), /manifest\.entries\['eval_step'\]\.schedule\[1\] must be an integer in \[0, 2\], got 3/);
    await expectRejects(
      load(rewrite((m) => (m.entries!['eval_step']!.outputs[0]!.offset = 65536 - 4))),
      /manifest\.entries\['eval_step'\]\.outputs\[0\] \('score'\) \[65532, \d+\) does not fit the 65536-byte memory/,
    );
    await expectRejects(load(rewrite((m) => (m.entries = { train_step: m.entries!['eval_step']! }))), /manifest\.entries must be free of the default entry's name 'train_step'/);
    // An entry's inputs may not land on state either.
    await expectRejects(load(rewrite((m) => (m.entries!['eval_step']!.inputs[0]!.offset = L.ACC))), /manifest\.entries\['eval_step'\]\.inputs\[0\] 'x' .* overlaps manifest\.state\[0\] 'acc'|manifest\.state\[0\] 'acc' .* overlaps manifest\.entries\['eval_step'\]\.inputs\[0\] 'x'/);
  });
});
