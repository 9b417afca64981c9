/**
 * Test helpers for the WebAssembly back end: compile a Func, run it through the real runtime
 * (the artifact bytes, loaded as a user would), and compare with the reference interpreter.
 */
import { compile, type CompileOptions } from '../../compile.js';
import type { Func } from '../../ir/function.js';
import { interpret } from '../../ir/interpreter.js';
import type { Literal } from '../../ir/literal.js';
import { typeToString } from '../../ir/types.js';
import { load, type LoadOptions } from '../../runtime/index.js';

export interface Mismatch {
  output: string;
  index: number;
  got: number;
  want: number;
}

/** First element where `got` and `want` differ beyond rtol/atol (NaN equals NaN, inf equals inf). */
export function firstMismatch(name: string, got: ArrayLike<number>, want: ArrayLike<number>, rtol = 1e-4, atol = 1e-5): Mismatch | undefined {
  if (got.length !== want.length) return { output: name, index: -1, got: got.length, want: want.length };
  for (let i = 0; i < want.length; i++) {
    const a = Number(got[i]), b = Number(want[i]);
    if (Number.isNaN(a) && Number.isNaN(b)) continue;
    if (a === b) continue;
    if (!(Math.abs(a - b) <= atol + rtol * Math.abs(b))) return { output: name, index: i, got: a, want: b };
  }
  return undefined;
}

export function usesOnlyWasmTypes(fn: Func): boolean {
  const ok = (d: string) => d !== 'f16' && d !== 'bf16';
  return fn.params.every((p) => ok(p.dtype)) && fn.body.every((v) => ok(v.dtype));
}

/** Compile `fn`, run it with `inputs` through the runtime, and return the first mismatch vs the interpreter. */
export async function compareCompiled(fn: Func, inputs: readonly Literal[], opts: { compile?: CompileOptions; load?: LoadOptions; rtol?: number; atol?: number } = {}): Promise<Mismatch | undefined> {
  const want = interpret(fn, inputs);
  const art = compile(fn, opts.compile);
  const prog = await load(art.bytes, opts.load);
  try {
    const feed: Record<string, Literal['data']> = {};
    fn.params.forEach((p, i) => { feed[art.manifest.inputs[i]!.name] = inputs[i]!.data; });
    const got = prog.runSync(feed);
    for (let i = 0; i < want.length; i++) {
      const name = art.manifest.outputs[i]!.name;
      const g = got[name];
      if (!g) throw new Error(`compiled program has no output '${name}' (outputs: ${Object.keys(got).join(', ')})`);
      const mm = firstMismatch(`${name}: ${typeToString(want[i]!.type)}`, g as ArrayLike<number>, want[i]!.data, opts.rtol, opts.atol);
      if (mm) return mm;
    }
    return undefined;
  } finally {
    prog.dispose();
  }
}
