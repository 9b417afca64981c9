/**
 * Small helpers over binaryen shared by the WebAssembly kernel generators:
 * creating a module whose memory is imported as `env.memory` (shared when the
 * artifact is compiled for threads), the SIMD operations binaryen's JS API does
 * not wrap (relaxed FMA), the `(start, end) -> void` kernel signature of the
 * execution ABI, and validating/optimizing/emitting the binary.
 *
 * Every kernel addresses buffers through i32 constants baked into the code
 * (static memory plan), so helpers here take byte addresses as numbers.
 */
import binaryen from 'binaryen';
import { KilnError } from '../../ir/types.js';

export type Module = binaryen.Module;
export type ExpressionRef = binaryen.ExpressionRef;

export interface KernelModuleOptions {
  /** Import a shared memory (for workers); requires the threads feature. */
  shared?: boolean;
  /** Initial memory pages (64 KiB each) declared by the import. */
  initialPages?: number;
  /** Allow relaxed-SIMD instructions (f32x4.relaxed_madd). */
  relaxed?: boolean;
}

/** Largest memory32 size in pages; declaring it as the import's maximum accepts any host memory. */
const MAX_PAGES = 65536;

/** A module with SIMD enabled and its memory imported as env.memory. */
export function createKernelModule(opts: KernelModuleOptions = {}): Module {
  const mod = new binaryen.Module();
  let features =
    binaryen.Features.SIMD128 |
    binaryen.Features.BulkMemory |
    binaryen.Features.SignExt |
    binaryen.Features.NontrappingFPToInt |
    binaryen.Features.MutableGlobals;
  if (opts.shared) features |= binaryen.Features.Atomics;
  if (opts.relaxed) features |= binaryen.Features.RelaxedSIMD;
  mod.setFeatures(features);
  // A shared memory must declare a maximum; an unshared import without one
  // links against memories with or without a maximum.
  const max = opts.shared ? MAX_PAGES : -1;
  mod.setMemory(opts.initialPages ?? 1, max, null, [], opts.shared ?? false, false, 'memory');
  mod.addMemoryImport('memory', 'env', 'memory', opts.shared ?? false);
  return mod;
}

/** The execution ABI's kernel signature: (start: i32, end: i32) -> void. */
export function kernelParams(): binaryen.Type {
  return binaryen.createType([binaryen.i32, binaryen.i32]);
}

/** Add an exported kernel `(start, end) -> void` with extra locals of the given types. */
export function addKernel(
  mod: Module,
  name: string,
  locals: readonly binaryen.Type[],
  body: ExpressionRef,
): void {
  mod.addFunction(name, kernelParams(), binaryen.none, [...locals], body);
  mod.addFunctionExport(name, name);
}

/** acc + a * b; fused (relaxed_madd, one rounding or two) when `relaxed`. */
export function madd(mod: Module, relaxed: boolean, a: ExpressionRef, b: ExpressionRef, acc: ExpressionRef): ExpressionRef {
  if (relaxed) {
    // binaryen.js exposes relaxed_madd only through the C API.
    const api = binaryen as unknown as {
      _BinaryenSIMDTernary(m: number, op: number, a: number, b: number, c: number): number;
      RelaxedMaddVecF32x4: number;
    };
    return api._BinaryenSIMDTernary(mod.ptr, api.RelaxedMaddVecF32x4, a, b, acc);
  }
  return mod.f32x4.add(acc, mod.f32x4.mul(a, b));
}

/** An f32x4 constant with all lanes equal to `x`. */
export function f32x4Const(mod: Module, x: number): ExpressionRef {
  return mod.f32x4.splat(mod.f32.const(x));
}

/** A v128 of zeros. */
export function v128Zero(mod: Module): ExpressionRef {
  return mod.v128.const([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
}

/**
 * Load `lanes` (1..4) consecutive f32 at ptr+offset into the low lanes of a
 * vector without reading past them (the other lanes are unspecified zeros),
 * so tails never touch bytes outside their buffer.
 */
export function loadLanes(mod: Module, lanes: number, offset: number, ptr: ExpressionRef): ExpressionRef {
  switch (lanes) {
    case 4:
      return mod.v128.load(offset, 4, ptr);
    case 2:
      return mod.v128.load64_zero(offset, 4, ptr);
    case 1:
      return mod.v128.load32_zero(offset, 4, ptr);
    case 3:
      // A binaryen expression may have one parent only: the second load gets a copy of ptr.
      return mod.f32x4.replace_lane(mod.v128.load64_zero(offset, 4, ptr), 2, mod.f32.load(offset + 8, 4, mod.copyExpression(ptr)));
    default:
      throw new KilnError(`loadLanes: lanes must be 1..4, got ${lanes}`);
  }
}

/**
 * Store the low `lanes` (1..4) lanes of `vec` to local(ptrLocal)+offset.
 * `vec` is evaluated once; partial stores go through the v128 local `tmp`.
 */
export function storeLanes(
  mod: Module,
  lanes: number,
  offset: number,
  ptrLocal: number,
  vec: ExpressionRef,
  tmp: number,
): ExpressionRef {
  const p = (): ExpressionRef => mod.local.get(ptrLocal, binaryen.i32);
  if (lanes === 4) return mod.v128.store(offset, 4, p(), vec);
  const get = (): ExpressionRef => mod.local.get(tmp, binaryen.v128);
  switch (lanes) {
    case 1:
      return mod.v128.store32_lane(offset, 4, 0, p(), vec);
    case 2:
      return mod.v128.store64_lane(offset, 4, 0, p(), vec);
    case 3:
      return mod.block(null, [
        mod.local.set(tmp, vec),
        mod.v128.store64_lane(offset, 4, 0, p(), get()),
        mod.v128.store32_lane(offset + 8, 4, 2, p(), get()),
      ]);
    default:
      throw new KilnError(`storeLanes: lanes must be 1..4, got ${lanes}`);
  }
}

export interface EmitOptions {
  /** Run binaryen's optimizer (-O3 level) before emitting. */
  optimize?: boolean;
}

/** Validate (throwing a KilnError with binaryen's message) and emit the binary. */
export function emitModule(mod: Module, opts: EmitOptions = {}): Uint8Array {
  if (!mod.validate()) {
    throw new KilnError('generated WebAssembly module failed validation (see binaryen output above)');
  }
  if (opts.optimize) {
    binaryen.setOptimizeLevel(3);
    binaryen.setShrinkLevel(0);
    mod.optimize();
  }
  return mod.emitBinary();
}

/** The execution ABI's view of an instantiated kernel: (start, end) -> void. */
export type KernelFn = (start: number, end: number) => void;

/**
 * Compile and instantiate kernel bytes against `memory` (synchronously: for
 * compiler-side checks, tests and benchmarks; the runtime has its own loader).
 */
export function instantiateKernels(bytes: Uint8Array, memory: WebAssembly.Memory): Record<string, KernelFn> {
  const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>), { env: { memory } });
  const out: Record<string, KernelFn> = {};
  for (const [name, value] of Object.entries(inst.exports)) {
    if (typeof value === 'function') out[name] = value as KernelFn;
  }
  return out;
}
