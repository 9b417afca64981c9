// The single-threaded fallback for threads artifacts: the binary patch on its
// own, then whole loads on a simulated host without SharedArrayBuffer (the
// global is removed for the duration of each test and restored after).
import { afterEach, describe, expect, it } from 'vitest';
import { load, unshareMemoryImport, KilnRuntimeError, type Program } from './index.js';
import { addScaleArtifact, addScaleReference, assemble, counterArtifact } from '../../test/browser/fixture.js';

// Imports of every kind a walker must step over before the memory.
const MANY_IMPORTS = `(module
  (import "env" "log" (func $log (param i32)))
  (import "env" "g" (global $g i32))
  (import "env" "t" (table 1 funcref))
  (import "env" "memory" (memory 2 3 shared))
  (func (export "poke") (param $v i32)
    (i32.store (i32.const 65540) (i32.add (local.get $v) (global.get $g)))
    (call $log (i32.load (i32.const 65540)))))`;

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

describe('unshareMemoryImport', () => {
  it('clears only the shared flag of env.memory, past other imports, and the result runs on a plain memory', () => {
    const original = assemble(MANY_IMPORTS);
    const before = original.slice();
    const patched = unshareMemoryImport(original);
    expect(Array.from(original)).toEqual(Array.from(before)); // input untouched
    const diff = [...patched.keys()].filter((i) => patched[i] !== original[i]);
    expect(diff.length).toBe(1);
    expect([original[diff[0]!], patched[diff[0]!]]).toEqual([0x03, 0x01]);
    // The limits follow the flag: min 2, max 3.
    expect(Array.from(patched.subarray(diff[0]! + 1, diff[0]! + 3))).toEqual([2, 3]);

    const memory = new WebAssembly.Memory({ initial: 2, maximum: 3 });
    expect(memory.buffer).toBeInstanceOf(ArrayBuffer);
    const logged: number[] = [];
    const imports = {
      env: {
        log: (v: number) => logged.push(v),
        g: new WebAssembly.Global({ value: 'i32', mutable: false }, 5),
        t: new WebAssembly.Table({ initial: 1, element: 'anyfunc' }),
        memory,
      },
    };
    expect(() => new WebAssembly.Instance(new WebAssembly.Module(original as Uint8Array<ArrayBuffer>), imports)).toThrow(WebAssembly.LinkError);
    expect(WebAssembly.validate(patched as Uint8Array<ArrayBuffer>)).toBe(true);
    const inst = new WebAssembly.Instance(new WebAssembly.Module(patched as Uint8Array<ArrayBuffer>), imports);
    (inst.exports['poke'] as (v: number) => void)(37);
    expect(logged).toEqual([42]);
    expect(new Int32Array(memory.buffer, 65540, 1)[0]).toBe(42);
  });

  it('leaves an already unshared memory as it was', () => {
    const plain = assemble('(module (import "env" "memory" (memory 1 1)) (func (export "f")))');
    expect(Array.from(unshareMemoryImport(plain))).toEqual(Array.from(plain));
  });

  it('rejects a module without an env.memory import, naming the section', () => {
    expectThrows(() => unshareMemoryImport(assemble('(module (memory 1 1 shared) (func (export "f")))'), 'wasm-relaxed'), /the 'wasm-relaxed' module imports no memory 'env.memory'/);
    expectThrows(() => unshareMemoryImport(assemble('(module (import "js" "memory" (memory 1 1 shared)))')), /imports no memory 'env.memory'/);
    expectThrows(() => unshareMemoryImport(assemble('(module (import "env" "memory" (func)))')), /imports no memory 'env.memory'/);
    expectThrows(() => unshareMemoryImport(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0])), /imports no memory/);
  });
});

describe('threads artifacts on a host without SharedArrayBuffer', () => {
  const saved = globalThis.SharedArrayBuffer;
  const open: Program[] = [];
  afterEach(() => {
    for (const p of open.splice(0)) p.dispose();
    globalThis.SharedArrayBuffer = saved;
  });
  const noSharedMemory = () => {
    delete (globalThis as { SharedArrayBuffer?: unknown }).SharedArrayBuffer;
    expect(typeof SharedArrayBuffer).toBe('undefined');
  };
  const W = Float32Array.from({ length: 32 }, (_, i) => Math.cos(i) * 3);
  const X = Float32Array.from({ length: 32 }, (_, i) => Math.sin(i * 2) * 4);

  it('runs single-threaded on an unshared memory by default and with threads: 1', async () => {
    noSharedMemory();
    for (const options of [{}, { threads: 1 }]) {
      const prog = await load(addScaleArtifact(W, { shared: true }), options);
      open.push(prog);
      expect(prog.threads).toBe(1);
      expect(prog.sharedMemory).toBe(false);
      const out = prog.runSync({ x: X });
      const ref = addScaleReference(X, W);
      expect(Array.from(out['y']!)).toEqual(Array.from(ref.y));
      expect(out['sum']![0]).toBe(ref.sum);
    }
  });

  it('refuses threads > 1 with a clear error', async () => {
    noSharedMemory();
    await expect(load(addScaleArtifact(W, { shared: true }), { threads: 2 })).rejects.toThrow(
      /threads: 2 was requested, but this host cannot run threads .*COOP: same-origin and COEP: require-corp.*threads: 1/,
    );
  });

  it('keeps resident state working', async () => {
    noSharedMemory();
    const acc0 = Float32Array.from({ length: 8 }, (_, i) => i);
    const prog = await load(counterArtifact({ n: 8, shared: true, accInit: acc0, stepInit: 3 }));
    open.push(prog);
    expect(prog.sharedMemory).toBe(false);
    const x = Float32Array.from({ length: 8 }, (_, i) => 0.5 - i);
    for (let k = 0; k < 3; k++) prog.runSync({ x });
    const s = prog.getState(['acc', 'step']);
    expect(Array.from(s['acc']!)).toEqual(Array.from(acc0, (a, i) => a + 3 * x[i]!)); // exact: halves and small integers
    expect(Array.from(s['step']!)).toEqual([6]);
  });

  it('uses shared memory again once the host has it', async () => {
    const prog = await load(addScaleArtifact(W, { shared: true }), { threads: 1 });
    open.push(prog);
    expect(prog.sharedMemory).toBe(true);
  });
});
