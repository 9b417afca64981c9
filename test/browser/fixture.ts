/**
 * Hand-made Kiln artifacts for the runtime tests (unit and browser), built
 * from WebAssembly text with binaryen, the way the real code generator will:
 * addresses baked in as constants, one export per kernel taking the work
 * range [start, end). Test-only: imports binaryen, which the runtime never may.
 */
import binaryen from 'binaryen';
import { writeArtifact, type ManifestInput, type TensorSpec } from '../../src/runtime/index.js';

const F = binaryen.Features;
const BASE_FEATURES = F.SIMD128 | F.BulkMemory | F.BulkMemoryOpt | F.Atomics | F.MutableGlobals | F.SignExt | F.NontrappingFPToInt;

/** Assembles WebAssembly text; `relaxed` allows relaxed-SIMD instructions. */
export function assemble(wat: string, relaxed = false): Uint8Array {
  const m = binaryen.parseText(wat);
  try {
    m.setFeatures(BASE_FEATURES | (relaxed ? F.RelaxedSIMD : 0));
    if (!m.validate()) throw new Error('fixture module does not validate');
    return m.emitBinary();
  } finally {
    m.dispose();
  }
}

export interface AddScaleOptions {
  /** Elements; a multiple of 4 (kernels work on f32x4 groups). */
  n?: number;
  /** Shared memory (compiled for threads). */
  shared?: boolean;
  /** Include a "wasm-relaxed" section; a Uint8Array replaces the real one (to test the choice). */
  relaxed?: boolean | Uint8Array;
  minWorkPerThread?: number;
  /** Adds a 4th kernel (work 2n/4) that traps in any chunk reaching past item n/4 when the i32 input `flag` is 1. */
  trapKernel?: boolean;
}

export const SCALE = 1.5;
export const BIAS = -0.25;

/** Memory plan of the add/scale/sum artifact (byte addresses). */
export function addScaleLayout(n: number) {
  const bytes = n * 4;
  const X = 64;
  const W = X + bytes;
  const T = W + bytes;
  const Y = T + bytes;
  const SUM = Y + bytes;
  const FLAG = SUM + 16;
  const end = FLAG + 16;
  return { X, W, T, Y, SUM, FLAG, pages: Math.ceil(end / 65536) };
}

/**
 * Kernels: add  t[g] = x[g] + w[g]            (f32x4 groups, work n/4)
 *          scale y[g] = t[G-1-g] * SCALE + BIAS (reads other threads' chunks)
 *          sum  out = sum of y, in order      (work 1: one thread)
 * with w the weights. The JS oracle is `addScaleReference`.
 */
export function addScaleArtifact(weights: Float32Array, o: AddScaleOptions = {}): Uint8Array {
  const n = o.n ?? weights.length;
  if (n % 4 !== 0 || weights.length !== n) throw new Error('n must be a multiple of 4 and match the weights');
  const L = addScaleLayout(n);
  const groups = n / 4;
  const mem = `(import "env" "memory" (memory ${L.pages} ${L.pages}${o.shared ? ' shared' : ''}))`;
  const splat = (v: number) => `(v128.const f32x4 ${v} ${v} ${v} ${v})`;
  const loop = (body: string) => `
    (local $o i32)
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $s) (local.get $e)))
      (local.set $o (i32.shl (local.get $s) (i32.const 4)))
      ${body}
      (local.set $s (i32.add (local.get $s) (i32.const 1)))
      (br $l)))`;
  const reversed = `(v128.load offset=${L.T} (i32.shl (i32.sub (i32.const ${groups - 1}) (local.get $s)) (i32.const 4)))`;
  const module = (relaxed: boolean) => `(module ${mem}
  (func (export "add") (param $s i32) (param $e i32) ${loop(
    `(v128.store offset=${L.T} (local.get $o) (f32x4.add (v128.load offset=${L.X} (local.get $o)) (v128.load offset=${L.W} (local.get $o))))`,
  )})
  (func (export "scale") (param $s i32) (param $e i32) ${loop(
    relaxed
      ? `(v128.store offset=${L.Y} (local.get $o) (f32x4.relaxed_madd ${reversed} ${splat(SCALE)} ${splat(BIAS)}))`
      : `(v128.store offset=${L.Y} (local.get $o) (f32x4.add (f32x4.mul ${reversed} ${splat(SCALE)}) ${splat(BIAS)}))`,
  )})
  (func (export "sum") (param $s i32) (param $e i32) (local $i i32) (local $acc f32)
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (i32.const ${n})))
      (local.set $acc (f32.add (local.get $acc) (f32.load offset=${L.Y} (i32.shl (local.get $i) (i32.const 2)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l)))
    (f32.store offset=${L.SUM} (i32.const 0) (local.get $acc)))
  (func (export "maybe_trap") (param $s i32) (param $e i32)
    (if (i32.and (i32.eq (i32.load offset=${L.FLAG} (i32.const 0)) (i32.const 1))
                 (i32.gt_u (local.get $e) (i32.const ${groups})))
      (then (unreachable)))))`;
  const sections: Record<string, Uint8Array> = { wasm: assemble(module(false)) };
  if (o.relaxed instanceof Uint8Array) sections['wasm-relaxed'] = o.relaxed;
  else if (o.relaxed) sections['wasm-relaxed'] = assemble(module(true), true);
  sections['weights'] = new Uint8Array(weights.buffer, weights.byteOffset, weights.byteLength);
  const inputs: TensorSpec[] = [{ name: 'x', shape: [n], dtype: 'f32', offset: L.X }];
  const kernels = [
    { name: 'add', work: groups },
    { name: 'scale', work: groups },
    { name: 'sum', work: 1, note: 'sequential reduction' },
  ];
  const schedule = [0, 1, 2];
  if (o.trapKernel) {
    inputs.push({ name: 'flag', shape: [], dtype: 'i32', offset: L.FLAG });
    kernels.push({ name: 'maybe_trap', work: 2 * groups });
    schedule.push(3);
  }
  const manifest: ManifestInput = {
    format: 'kiln',
    version: 1,
    target: 'wasm',
    name: 'add_scale_sum',
    createdBy: 'kiln runtime tests',
    inputs,
    outputs: [
      { name: 'y', shape: [n / 4, 4], dtype: 'f32', offset: L.Y },
      { name: 'sum', shape: [], dtype: 'f32', offset: L.SUM },
    ],
    memory: { pages: L.pages, shared: o.shared ?? false, arenaOffset: L.T, arenaBytes: 2 * n * 4 },
    weights: { offset: L.W, length: n * 4 },
    kernels,
    schedule,
    threads: { default: 2, minWorkPerThread: o.minWorkPerThread ?? 1 },
    meta: { fixture: true },
  };
  return writeArtifact({ manifest, sections });
}

/** The oracle, in plain JS with f32 rounding at each step. */
export function addScaleReference(x: Float32Array, w: Float32Array): { y: Float32Array; sum: number } {
  const n = x.length;
  const t = new Float32Array(n);
  for (let i = 0; i < n; i++) t[i] = x[i]! + w[i]!;
  const y = new Float32Array(n);
  const groups = n / 4;
  for (let g = 0; g < groups; g++) {
    for (let l = 0; l < 4; l++) y[g * 4 + l] = Math.fround(t[(groups - 1 - g) * 4 + l]! * SCALE) + BIAS;
  }
  let sum = 0;
  for (let i = 0; i < n; i++) sum = Math.fround(sum + y[i]!);
  return { y, sum };
}

/**
 * An artifact whose one kernel copies `bytes` bytes from the input region to
 * the output region (work item = byte). Inputs are placed in the input region
 * and outputs read from the output region at the given relative offsets, so
 * an output may view an input's bytes under another dtype.
 */
export function copyArtifact(
  inputs: (Omit<TensorSpec, 'offset'> & { at: number })[],
  outputs: (Omit<TensorSpec, 'offset'> & { at: number })[],
  bytes: number,
): Uint8Array {
  const IN = 1024;
  const OUT = IN + bytes + 64;
  const inputSpecs = inputs.map((t) => ({ name: t.name, shape: t.shape, dtype: t.dtype, offset: IN + t.at }));
  const wat = `(module (import "env" "memory" (memory 1 1))
    (func (export "copy") (param $s i32) (param $e i32)
      (memory.copy (i32.add (i32.const ${OUT}) (local.get $s)) (i32.add (i32.const ${IN}) (local.get $s))
                   (i32.sub (local.get $e) (local.get $s)))))`;
  return writeArtifact({
    manifest: {
      format: 'kiln',
      version: 1,
      target: 'wasm',
      name: 'copy',
      inputs: inputSpecs,
      outputs: outputs.map((t) => ({ name: t.name, shape: t.shape, dtype: t.dtype, offset: OUT + t.at })),
      memory: { pages: 1 },
      kernels: [{ name: 'copy', work: bytes }],
      schedule: [0],
    },
    sections: { wasm: assemble(wat) },
  });
}

export interface CounterOptions {
  /** f32 elements in x and acc; a multiple of 4. */
  n?: number;
  shared?: boolean;
  /** Initial values, stored in the "state" section (total has none: it starts at zero). */
  accInit?: Float32Array;
  stepInit?: number;
  hInit?: Float32Array;
  defaultEntry?: string;
}

/** Memory plan of the counter artifact (byte addresses). */
export function counterLayout(n: number) {
  const X = 64;
  const ACC = X + n * 4;
  const STEP = ACC + n * 4;
  const TOTAL = STEP + 16;
  const LOSS = TOTAL + 16;
  const H = LOSS + 16;
  const SCORE = H + 16;
  const end = SCORE + n * 4;
  return { X, ACC, STEP, TOTAL, LOSS, H, SCORE, pages: Math.ceil(end / 65536) };
}

/**
 * A hand-made "training" artifact with resident state:
 *   state:  acc f32[n] (init from the image), step i32 (init), total f32 (zero), h f16[4] (init, untouched)
 *   train_step (default entry), input x f32[n]:
 *     accumulate  acc[g] += x[g]                      (f32x4 groups, work n/4: split across threads)
 *     bump        step += 1; total += sum(x) in order; loss = sum(acc) in order   (work 1)
 *     outputs loss f32, step i32 (aliases the state tensor)
 *   eval_step, input x f32[n]: score[g] = acc[g] * x[g] (work n/4); outputs score, step.
 * The JS oracle lives in the tests.
 */
export function counterArtifact(o: CounterOptions = {}): Uint8Array {
  const n = o.n ?? 16;
  if (n % 4 !== 0) throw new Error('n must be a multiple of 4');
  const L = counterLayout(n);
  const groups = n / 4;
  const mem = `(import "env" "memory" (memory ${L.pages} ${L.pages}${o.shared ? ' shared' : ''}))`;
  const simdLoop = (body: string) => `(param $s i32) (param $e i32) (local $o i32)
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $s) (local.get $e)))
      (local.set $o (i32.shl (local.get $s) (i32.const 4)))
      ${body}
      (local.set $s (i32.add (local.get $s) (i32.const 1)))
      (br $l)))`;
  const sumOf = (base: number, acc: string) => `(local.set $i (i32.const 0)) (local.set ${acc} (f32.const 0))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (i32.const ${n})))
      (local.set ${acc} (f32.add (local.get ${acc}) (f32.load offset=${base} (i32.shl (local.get $i) (i32.const 2)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l)))`;
  const wat = `(module ${mem}
  (func (export "accumulate") ${simdLoop(
    `(v128.store offset=${L.ACC} (local.get $o) (f32x4.add (v128.load offset=${L.ACC} (local.get $o)) (v128.load offset=${L.X} (local.get $o))))`,
  )})
  (func (export "bump") (param $s i32) (param $e i32) (local $i i32) (local $sx f32) (local $sa f32)
    (i32.store offset=${L.STEP} (i32.const 0) (i32.add (i32.load offset=${L.STEP} (i32.const 0)) (i32.const 1)))
    ${sumOf(L.X, '$sx')}
    (f32.store offset=${L.TOTAL} (i32.const 0) (f32.add (f32.load offset=${L.TOTAL} (i32.const 0)) (local.get $sx)))
    ${sumOf(L.ACC, '$sa')}
    (f32.store offset=${L.LOSS} (i32.const 0) (local.get $sa)))
  (func (export "evaluate") ${simdLoop(
    `(v128.store offset=${L.SCORE} (local.get $o) (f32x4.mul (v128.load offset=${L.ACC} (local.get $o)) (v128.load offset=${L.X} (local.get $o))))`,
  )}))`;
  const acc = o.accInit ?? new Float32Array(n);
  const h = o.hInit ?? new Float32Array(4);
  // The state image: acc at 0, step at n*4, h (as f16 bits) at n*4 + 16.
  const image = new Uint8Array(n * 4 + 24);
  const view = new DataView(image.buffer);
  acc.forEach((v, i) => view.setFloat32(i * 4, v, true));
  view.setInt32(n * 4, o.stepInit ?? 0, true);
  h.forEach((v, i) => view.setUint16(n * 4 + 16 + i * 2, f32ToF16Bits(v), true));
  const x: TensorSpec = { name: 'x', shape: [n], dtype: 'f32', offset: L.X };
  const stepOut: TensorSpec = { name: 'step', shape: [], dtype: 'i32', offset: L.STEP };
  const manifest: ManifestInput = {
    format: 'kiln',
    version: 2,
    target: 'wasm',
    name: 'counter',
    inputs: [x],
    outputs: [{ name: 'loss', shape: [], dtype: 'f32', offset: L.LOSS }, stepOut],
    memory: { pages: L.pages, shared: o.shared ?? false },
    kernels: [
      { name: 'accumulate', work: groups },
      { name: 'bump', work: 1 },
      { name: 'evaluate', work: groups },
    ],
    schedule: [0, 1],
    state: [
      { name: 'acc', shape: [n], dtype: 'f32', offset: L.ACC, init: 0 },
      { name: 'step', shape: [], dtype: 'i32', offset: L.STEP, init: n * 4 },
      { name: 'total', shape: [], dtype: 'f32', offset: L.TOTAL },
      { name: 'h', shape: [2, 2], dtype: 'f16', offset: L.H, init: n * 4 + 16 },
    ],
    entries: {
      eval_step: { inputs: [x], outputs: [{ name: 'score', shape: [n], dtype: 'f32', offset: L.SCORE }, stepOut], schedule: [2] },
    },
    defaultEntry: o.defaultEntry ?? 'train_step',
    threads: { default: 2 },
  };
  return writeArtifact({ manifest, sections: { wasm: assemble(wat), state: image } });
}

/**
 * Runs that never end (runtime liveness tests, Node and browser): y = 2x over n f32 (work n),
 * then a kernel that loops forever on every chunk when the i32 input `flag` is 1 (work 4, so
 * up to 4 threads all spin). Shared memory, so it can run detached ({timeoutMs}).
 */
export function spinArtifact(n = 64): Uint8Array {
  const X = 64, Y = X + 4 * n, FLAG = Y + 4 * n;
  const pages = Math.ceil((FLAG + 16) / 65536);
  const wasm = assemble(`(module (import "env" "memory" (memory ${pages} ${pages} shared))
  (func (export "double") (param $s i32) (param $e i32)
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $s) (local.get $e)))
      (f32.store offset=${Y} (i32.shl (local.get $s) (i32.const 2))
        (f32.mul (f32.load offset=${X} (i32.shl (local.get $s) (i32.const 2))) (f32.const 2)))
      (local.set $s (i32.add (local.get $s) (i32.const 1)))
      (br $l))))
  (func (export "spin") (param $s i32) (param $e i32)
    (if (i32.eq (i32.load offset=${FLAG} (i32.const 0)) (i32.const 1))
      (then (loop $forever (br $forever))))))`);
  const manifest: ManifestInput = {
    format: 'kiln',
    version: 1,
    target: 'wasm',
    name: 'spin',
    inputs: [
      { name: 'x', shape: [n], dtype: 'f32', offset: X },
      { name: 'flag', shape: [], dtype: 'i32', offset: FLAG },
    ],
    outputs: [{ name: 'y', shape: [n], dtype: 'f32', offset: Y }],
    memory: { pages, shared: true, arenaOffset: FLAG + 16, arenaBytes: 0 },
    kernels: [
      { name: 'double', work: n },
      { name: 'spin', work: 4 },
    ],
    schedule: [0, 1],
    threads: { default: 2, minWorkPerThread: 1 },
  };
  return writeArtifact({ manifest, sections: { wasm } });
}

/** IEEE half bits of an f16-representable value (the fixture only stores such values). */
function f32ToF16Bits(v: number): number {
  if (v === 0) return Object.is(v, -0) ? 0x8000 : 0;
  const sign = v < 0 ? 0x8000 : 0;
  const a = Math.abs(v);
  const e = Math.floor(Math.log2(a));
  const mant = Math.round((a / 2 ** e - 1) * 1024);
  if (e < -14 || e > 15 || mant >= 1024) throw new Error(`fixture: ${v} is not a normal f16 value`);
  return sign | ((e + 15) << 10) | mant;
}
