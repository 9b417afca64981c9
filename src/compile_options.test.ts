/**
 * The compiler entries refuse what they cannot honour: unknown option keys (with the closest
 * valid name), malformed `quantize` objects, targets and SM architectures outside the
 * supported set, malformed inputShapes/inputDtypes, non-boolean flags; and accept what they can
 * (Keras dtype spellings, every key CompileOptions declares). Each message names the entry, the
 * option, the expected and the received value.
 */
import { describe, expect, it } from 'vitest';
import * as kiln from './index.js';
import { KilnError } from './ir/types.js';
import { COMPILE_OPTION_NAMES } from './compile_options.js';

const mlp = () => kiln.sequential({ name: 'mlp', layers: [kiln.layers.dense({ units: 4, inputShape: [3] })] });
const f = (x: kiln.Tensor) => kiln.relu(x);

/** The KilnError `run` throws (fails when it throws anything else, or nothing). */
function kilnError(run: () => unknown): string {
  try {
    run();
  } catch (e) {
    expect(e, String(e)).toBeInstanceOf(KilnError);
    return (e as Error).message;
  }
  throw new Error('expected a KilnError, nothing was thrown');
}

describe('compile options', () => {
  it('refuses unknown keys with the closest valid name, in every entry', () => {
    expect(kilnError(() => kiln.compile(mlp(), { thread: false } as never))).toMatch(/^compile: unknown option 'thread' \(did you mean 'threads'\?\); valid options are: target, sm, /);
    expect(kilnError(() => kiln.explain(mlp(), { inputShape: [[1, 3]], print: null } as never))).toMatch(/^explain: unknown option 'inputShape' \(did you mean 'inputShapes'\?\)/);
    expect(kilnError(() => kiln.toFunc(f, { inputShapes: [[2]], targte: 'wasm' } as never))).toMatch(/^toFunc: unknown option 'targte' \(did you mean 'target'\?\)/);
    const fn = kiln.toFunc(f, { inputShapes: [[2]] });
    expect(kilnError(() => kiln.compileEntries([{ name: 'main', func: fn }], [], { relaxedSIMD: false } as never))).toMatch(/^compileEntries: unknown option 'relaxedSIMD' \(did you mean 'relaxedSimd'\?\)/);
    // print belongs to explain only.
    expect(kilnError(() => kiln.compile(mlp(), { print: null } as never))).toMatch(/^compile: unknown option 'print'/);
    // With nothing close, the valid names are listed.
    expect(kilnError(() => kiln.compile(mlp(), { zzzzzz: 1 } as never))).toMatch(/^compile: unknown option 'zzzzzz'; valid options are: .*onStage/);
  });

  it('quantize is an object with a known mode and nothing else; its misspellings get the closest name', () => {
    expect(kilnError(() => kiln.compile(mlp(), { quantize: 'int8-weights' } as never))).toBe("compile: option 'quantize' must be an object {mode: ...}, got string 'int8-weights' (write quantize: {mode: 'int8-weights'})");
    expect(kilnError(() => kiln.compile(mlp(), { quantize: { mode: 'int8-weight' } } as never))).toMatch(/^compile: option 'quantize\.mode' must be one of .*'int8-weights'.*, got 'int8-weight' \(did you mean 'int8-weights'\?\)/);
    expect(kilnError(() => kiln.compile(mlp(), { quantize: {} } as never))).toMatch(/^compile: option 'quantize' needs a mode, one of /);
    expect(kilnError(() => kiln.compile(mlp(), { quantize: { mode: 'float16-weights', blok: 32 } } as never))).toMatch(/^compile \(quantize\): unknown option 'blok'; valid options are: mode/);
    expect(kilnError(() => kiln.compile(mlp(), { quantise: { mode: 'none' } } as never))).toMatch(/^compile: unknown option 'quantise' \(did you mean 'quantize'\?\)/);
  });

  it('target only wasm or cuda; sm only 80 or 90, and only for cuda', () => {
    expect(kilnError(() => kiln.compile(mlp(), { target: 'webgpu' } as never))).toBe("compile: option 'target' must be one of 'wasm', 'cuda', got 'webgpu'");
    expect(kilnError(() => kiln.compile(mlp(), { target: 'Cuda' } as never))).toMatch(/got 'Cuda' \(did you mean 'cuda'\?\)/);
    expect(kilnError(() => kiln.compile(mlp(), { target: 'cuda', sm: 70 } as never))).toMatch(/^compile: option 'sm' must be one of 80, 90 \(sm_80 Ampere, sm_90 Hopper.*\), got number 70$/);
    expect(kilnError(() => kiln.compile(mlp(), { target: 'cuda', sm: '80' } as never))).toMatch(/option 'sm' must be one of 80, 90 .*got '80'/);
    expect(kilnError(() => kiln.compile(mlp(), { sm: 90 }))).toBe("compile: option 'sm' (90) applies to target 'cuda' only, but target is 'wasm'");
    // The supported ones compile (PTX text is emitted without a GPU).
    const art = kiln.compile(mlp(), { target: 'cuda', sm: 90 });
    expect(new TextDecoder().decode(art.bytes)).toContain('.target sm_90');
  });

  it('inputShapes: one shape per input, positive integers', () => {
    expect(kilnError(() => kiln.compile(mlp(), { inputShapes: [1, 3] as never }))).toMatch(/^compile: inputShapes\[0\] must be a shape \(an array of positive integers, e.g. \[1, 784\]\), got number 1 \(inputShapes takes one shape per input: \[\[...\]\]\)/);
    expect(kilnError(() => kiln.compile(mlp(), { inputShapes: [[0, 3]] }))).toBe('compile: inputShapes[0][0] must be a positive integer, got number 0 (shape [0, 3])');
    expect(kilnError(() => kiln.compile(mlp(), { inputShapes: [[2.5, 3]] }))).toMatch(/inputShapes\[0\]\[0\] must be a positive integer, got number 2.5/);
    expect(kilnError(() => kiln.compile(mlp(), { inputShapes: [[null, 3]] as never }))).toMatch(/inputShapes\[0\]\[0\] must be a positive integer, got null \(shape \[null, 3\]\)/);
    expect(kilnError(() => kiln.compile(mlp(), { inputShapes: 'x' as never }))).toMatch(/option 'inputShapes' must be an array of shapes/);
    expect(kilnError(() => kiln.compile(mlp(), { inputShapes: [[1, 3], [1, 3]] }))).toBe("compile: model 'mlp' has 1 input(s), inputShapes gives 2; give one per input");
    expect(kilnError(() => kiln.compile(mlp(), { inputShapes: [[1, 4]] }))).toMatch(/input 0 has shape \[null,3\], inputShapes gives \[1,4\]/);
    // A Func's types are fixed.
    const fn = kiln.toFunc(f, { inputShapes: [[2]] });
    expect(kilnError(() => kiln.compile(fn, { inputShapes: [[3]] }))).toMatch(/^compile: Func '.*' takes \(f32\[2\]\), inputShapes gives \[\[3\]\]/);
    expect(() => kiln.compile(fn, { inputShapes: [[2]] })).not.toThrow();
  });

  it('inputDtypes: names through parseDType (Kiln and Keras spellings), one per input', () => {
    expect(kilnError(() => kiln.toFunc(f, { inputShapes: [[2]], inputDtypes: ['float64' as never] }))).toMatch(/^toFunc: inputDtypes\[0\]: unknown dtype "float64" \(expected one of 'f32'\/'float32'/);
    expect(kilnError(() => kiln.toFunc(f, { inputShapes: [[2]], inputDtypes: ['f32', 'f32'] }))).toBe('toFunc: inputShapes gives 1 input(s) but inputDtypes gives 2; give one of each per input');
    expect(kilnError(() => kiln.toFunc(f, { inputShapes: [[2]], inputDtypes: 'f32' as never }))).toMatch(/option 'inputDtypes' must be an array of dtype names/);
    // Keras's spelling is read as Kiln's.
    const g = kiln.toFunc((x: kiln.Tensor) => kiln.add(x, x), { inputShapes: [[2]], inputDtypes: ['int32' as never] });
    expect(kiln.ir.printFunc(g)).toMatch(/i32\[2\]/);
  });

  it('flags are booleans; mixedPrecision f16/bf16; fusion options closed; options an object', () => {
    expect(kilnError(() => kiln.compile(mlp(), { threads: 'no' as never }))).toBe("compile: option 'threads' must be true or false, got 'no'");
    expect(kilnError(() => kiln.compile(mlp(), { relaxedSimd: 1 as never }))).toBe("compile: option 'relaxedSimd' must be true or false, got number 1");
    expect(kilnError(() => kiln.compile(mlp(), { target: 'cuda', mixedPrecision: 'fp16' as never }))).toMatch(/^compile: option 'mixedPrecision' must be one of 'f16', 'bf16', got 'fp16' \(did you mean 'f16'\?\)/);
    expect(kilnError(() => kiln.compile(mlp(), { fusion: { maxDuplicatonCost: 2 } as never }))).toMatch(/^compile \(fusion\): unknown option 'maxDuplicatonCost' \(did you mean 'maxDuplicationCost'\?\)/);
    expect(kilnError(() => kiln.compile(mlp(), { fusion: { maxDuplicationCost: -1 } }))).toMatch(/fusion.maxDuplicationCost must be a finite number >= 0, got number -1/);
    expect(kilnError(() => kiln.compile(mlp(), 'cuda' as never))).toMatch(/^compile: options must be an object .*got 'cuda'/);
    expect(kilnError(() => kiln.compile(mlp(), { onStage: 'log' as never }))).toMatch(/option 'onStage' must be a function/);
    expect(kilnError(() => kiln.explain(mlp(), { print: 'yes' as never }))).toMatch(/option 'print' must be a function/);
  });

  it('the compiled target must be a model, a function or a Func', () => {
    expect(kilnError(() => kiln.compile(null as never))).toBe('compile: expected a Keras model, a GraphModel, a function of tensors or an IR Func to compile, got null');
    expect(kilnError(() => kiln.compile(new Float32Array(3) as never))).toMatch(/got Float32Array\(3\)/);
    const fn = kiln.toFunc(f, { inputShapes: [[2]] });
    expect(kilnError(() => kiln.compileEntries([{ name: 'main' } as never], []))).toMatch(/^compileEntries: entries\[0\] must be \{name: string, func: Func\}, got object/);
    expect(kilnError(() => kiln.compileEntries([{ name: 'main', func: fn }], null as never))).toMatch(/^compileEntries: state must be an array/);
    expect(kilnError(() => kiln.compileEntries([{ name: 'main', func: fn }], [], { inputShapes: [[2]] }))).toMatch(/option 'inputShapes' does not apply/);
  });

  it('every option CompileOptions declares is accepted (onStage included)', () => {
    const stages: string[] = [];
    const all: Required<Omit<kiln.CompileOptions, 'sm' | 'mixedPrecision'>> = {
      target: 'wasm', inputShapes: [[2, 3]], inputDtypes: ['f32'], threads: false, relaxedSimd: false, optimizeWasm: false,
      fusion: { maxDuplicationCost: 4 }, name: 'all_options', onStage: (s) => stages.push(s), maxBatch: 2, quantize: { mode: 'float16-weights' },
    };
    const art = kiln.compile(mlp(), all);
    expect(art.manifest.name).toBe('all_options');
    expect(stages).toEqual(['trace', 'passes', 'fusion', 'codegen', 'pack']);
    expect([...COMPILE_OPTION_NAMES].sort()).toEqual([...Object.keys(all), 'sm', 'mixedPrecision'].sort());
  });
});
