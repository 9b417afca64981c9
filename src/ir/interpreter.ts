import * as tf from '@tensorflow/tfjs-core';
// A named import (not `import '...'`): it registers the cpu backend all the same, and TypeScript
// leaves it out of interpreter.d.ts, so tfjs's types stay out of Kiln's published declarations.
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { castScalar, type DType } from './dtype.js';
import type { Func, Value } from './function.js';
import { literal, type Literal } from './literal.js';
import { getOp } from './registry.js';
import { KilnError, shapesEqual, typeToString, type TensorType } from './types.js';

/**
 * The reference interpreter: evaluates a Func on concrete literals with tfjs-core's cpu kernels.
 * It defines Kiln's semantics; every code generator is tested against it.
 */

/**
 * tfjs-backend-cpu prints a banner ("install our node backend") on its first tensor write in
 * Node. Kiln uses that backend as its reference on purpose, so the advice is noise in every
 * process that imports Kiln: mark the backend as already used. (tfjs-core's IS_NODE and PROD
 * flags would silence it too, but they are global: tfjs-backend-wasm reads IS_NODE to find its
 * .wasm file in Node, and PROD hides every tfjs warning the user's own code would get.)
 */
function quietCpuBackend(): void {
  // A bundler that drops tfjs-backend-cpu's side-effect registration (or loads two copies of
  // tfjs-core) leaves 'cpu' unregistered here: register it with this tfjs-core explicitly.
  if (!tf.findBackendFactory('cpu')) tf.registerBackend('cpu', () => new MathBackendCPU(), 1);
  const cpu = tf.findBackend('cpu');
  if (cpu instanceof MathBackendCPU) (cpu as unknown as { firstUse: boolean }).firstUse = false;
}
quietCpuBackend();

let cpuChecked = false;
/** Make sure tfjs-core runs on its cpu backend (the reference), whatever else was registered. */
export function ensureCpuBackend(): void {
  if (cpuChecked && tf.getBackend() === 'cpu') return;
  if (tf.getBackend() !== 'cpu') {
    // setBackend is async in tfjs, but the cpu backend initializes synchronously; switch eagerly.
    const engine = tf.engine() as unknown as {
      backendName: string; backendInstance: unknown; registry: Record<string, unknown>;
      initializeBackend(name: string): { success: boolean | Promise<boolean> };
    };
    const init = engine.initializeBackend('cpu');
    if (init.success !== true) throw new Error('the tfjs-core cpu backend could not be initialized');
    engine.backendName = 'cpu';
    engine.backendInstance = engine.registry['cpu'];
  }
  quietCpuBackend();
  cpuChecked = true;
}

export function tfDtype(d: DType): 'float32' | 'int32' | 'bool' {
  if (d === 'f32' || d === 'f16' || d === 'bf16') return 'float32';
  if (d === 'bool') return 'bool';
  return 'int32';
}

/** @internal A literal as a tfjs-core tensor (tfjs-core's types stay out of Kiln's published .d.ts). */
export function literalToTensor(l: Literal): tf.Tensor {
  const dt = tfDtype(l.type.dtype);
  const data = dt === 'float32' ? (l.data instanceof Float32Array ? l.data : Float32Array.from(l.data))
    : dt === 'int32' ? (l.data instanceof Int32Array ? l.data : Int32Array.from(l.data))
      : Uint8Array.from(l.data);
  return tf.tensor(data, [...l.type.shape], dt);
}

/** @internal Read a tensor back as a literal of `type`, rounding/wrapping to the IR dtype. */
export function tensorToLiteral(t: tf.Tensor, type: TensorType): Literal {
  if (!shapesEqual(t.shape, type.shape)) {
    throw new Error(`interpreter: kernel produced shape [${t.shape}] but the IR says ${typeToString(type)}`);
  }
  const raw = t.dataSync();
  const d = type.dtype;
  if (d === 'f32' || d === 'i32' || d === 'bool') return literal(type.shape, d, raw as ArrayLike<number>);
  const out = literal(type.shape, d);
  for (let i = 0; i < raw.length; i++) out.data[i] = castScalar(raw[i] as number, d);
  return out;
}

/** @internal Evaluate one node given its input tensors; rounds the result to the node's dtype. */
export function evalNode(v: Value, inputs: readonly tf.Tensor[]): tf.Tensor {
  const def = getOp(v.op);
  let out = def.interpret(inputs, v.attrs, v.type, v.inputs.map((i) => i.type));
  if (out.dtype !== tfDtype(v.dtype)) out = tf.cast(out, tfDtype(v.dtype));
  const d = v.dtype;
  if (d === 'f16' || d === 'bf16' || d === 'i8' || d === 'u8') {
    const data = out.dataSync();
    const rounded = d === 'i8' || d === 'u8' ? new Int32Array(data.length) : new Float32Array(data.length);
    for (let i = 0; i < data.length; i++) rounded[i] = castScalar(data[i] as number, d);
    out = tf.tensor(rounded, out.shape, out.dtype);
  }
  return out;
}

export type Inputs = readonly Literal[] | Readonly<Record<string, Literal>>;

/** Order named or positional inputs by the function's parameters, checking their types. */
export function bindInputs(fn: Func, inputs: Inputs): Literal[] {
  const list = Array.isArray(inputs)
    ? (inputs as readonly Literal[])
    : fn.params.map((p, i) => {
      const byName = (inputs as Record<string, Literal>)[p.name ?? `arg${i}`];
      if (!byName) throw new KilnError(`${fn.name}: missing input '${p.name}' (${typeToString(p.type)}); got ${Object.keys(inputs).join(', ') || 'none'}`);
      return byName;
    });
  if (list.length !== fn.params.length) {
    throw new KilnError(`${fn.name}: expects ${fn.params.length} inputs (${fn.params.map((p) => `${p.name}: ${typeToString(p.type)}`).join(', ')}), got ${list.length}`);
  }
  list.forEach((l, i) => {
    const p = fn.params[i]!;
    if (l.type.dtype !== p.dtype || !shapesEqual(l.type.shape, p.shape)) {
      throw new KilnError(`${fn.name}: input '${p.name}' must be ${typeToString(p.type)}, got ${typeToString(l.type)}`);
    }
  });
  return [...list];
}

/** Evaluate `fn` on concrete inputs (positional, or by parameter name). */
export function interpret(fn: Func, inputs: Inputs): Literal[] {
  ensureCpuBackend();
  const args = bindInputs(fn, inputs);
  tf.engine().startScope();
  try {
    const out = evalFunc(fn, args.map(literalToTensor));
    return fn.results.map((r, i) => tensorToLiteral(out[i]!, r.type));
  } finally {
    tf.engine().endScope();
  }
}

/**
 * @internal Evaluate `fn` on tfjs tensors (in the caller's engine scope): the interpreter's loop,
 * also used by control-flow kernels to run their regions. A node with regions returns one tensor
 * per tuple element (OpDef.interpretRegions); `get_result` picks one of them.
 */
export function evalFunc(fn: Func, args: readonly tf.Tensor[]): tf.Tensor[] {
  const env = new Map<Value, tf.Tensor | tf.Tensor[]>();
  fn.params.forEach((p, i) => env.set(p, args[i]!));
  const get = (v: Value, user: Value): tf.Tensor | tf.Tensor[] => {
    const t = env.get(v);
    if (!t) throw new Error(`interpreter: %${v.id} (${v.op}) used by ${user.op} before it is defined`);
    return t;
  };
  for (const v of fn.body) {
    if (v.op === 'get_result') {
      const tuple = get(v.inputs[0]!, v);
      if (!Array.isArray(tuple)) throw new Error(`interpreter: get_result of ${v.inputs[0]!.op}, which has no tuple result`);
      env.set(v, tuple[v.attrs['index'] as number]!);
      continue;
    }
    const ins = v.inputs.map((i) => {
      const t = get(i, v);
      if (Array.isArray(t)) throw new Error(`interpreter: ${v.op} reads the tuple result of ${i.op} directly; use get_result`);
      return t;
    });
    const def = getOp(v.op);
    env.set(v, def.interpretRegions ? def.interpretRegions(ins, v.attrs, v.type, v.regions) : evalNode(v, ins));
  }
  return fn.results.map((r) => {
    const t = env.get(r)!;
    if (Array.isArray(t)) throw new Error(`interpreter: @${fn.name} returns the tuple result of ${r.op}; use get_result`);
    return t;
  });
}
