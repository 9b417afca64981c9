/**
 * Test helpers for the CUDA back end: build a Program from a Func the way the compiler does,
 * and merge several programs' kernels into one PTX module (entry names made unique) so one
 * ptxas run checks many kernels.
 */
import type { Func } from '../../ir/function.js';
import { optimize } from '../../passes/pipeline.js';
import { planFusion } from '../../passes/fusion_plan.js';
import { buildProgram, type Program } from '../program.js';
import { buildPtxModule, CUDA_DTYPES, type PtxOptions } from './backend.js';

export function programOf(fn: Func): Program {
  const opt = optimize(fn);
  return buildProgram(opt, planFusion(opt), { dtypes: CUDA_DTYPES });
}

/** Rename every kernel with `prefix` so programs can share one module. */
export function prefixed(p: Program, prefix: string): Program {
  return { ...p, kernels: p.kernels.map((k) => ({ ...k, name: `${prefix}${k.name}` })) };
}

/** One module holding all kernels of `programs`: the header once, then every entry. */
export function mergedPtx(programs: readonly Program[], opts: PtxOptions): { ptx: string; kernels: number } {
  let kernels = 0;
  const bodies = programs.map((p, i) => {
    const m = buildPtxModule(prefixed(p, `p${i}_`), opts);
    kernels += m.launches.length;
    return i === 0 ? m.ptx : m.ptx.slice(m.ptx.indexOf('.visible'));
  });
  return { ptx: bodies.join('\n'), kernels };
}
