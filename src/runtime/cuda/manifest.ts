/**
 * The CUDA part of an artifact manifest (target "cuda", see docs/artifact-format.md): the PTX
 * section, the device memory image size, and each kernel's launch configuration, plus the checks
 * that turn a malformed one into a KilnRuntimeError naming the field before anything is
 * allocated or launched (the shared rules are in ../validate.ts). Inputs, outputs, weights and the schedule keep the meaning they have for
 * WebAssembly artifacts: byte offsets into one memory image; so do version-2 training artifacts'
 * resident `state` (initial values in the 'state' section) and further `entries`.
 */
import { KilnRuntimeError } from '../errors.js';
import type { Manifest } from '../manifest.js';
import { checkBinding, fail, LIMIT, validateProgram } from '../validate.js';

export interface CudaLaunchSpec {
  grid: [number, number, number];
  block: [number, number, number];
  /** 1: a thread per work item, 32: a warp per work item, 0: the kernel tiles its own grid. */
  threadsPerItem: number;
}

export interface CudaSpec {
  /** The architecture the PTX targets (80 = sm_80); the driver JIT-compiles it for newer GPUs. */
  sm: number;
  /** Bytes of the device memory image (weights + arena). */
  memoryBytes: number;
  /** One per manifest kernel, same order. */
  launches: CudaLaunchSpec[];
}

export type CudaManifest = Manifest & { cuda: CudaSpec };

const isCount = (x: unknown): x is number => typeof x === 'number' && Number.isInteger(x) && x >= 0;

function dims(x: unknown, where: string, min: number, max: number): [number, number, number] {
  if (!Array.isArray(x) || x.length !== 3 || !x.every((d) => isCount(d) && d >= min && d <= max)) {
    fail(`${where} must be 3 integers in [${min}, ${max}], got ${JSON.stringify(x) ?? String(x)}`);
  }
  return [x[0], x[1], x[2]];
}

/**
 * Full check of a "cuda" target manifest against the sections present: the program fields
 * (validate.ts, against a device memory of cuda.memoryBytes), one launch per kernel with
 * dimensions the driver accepts, and the PTX text: UTF-8, for the manifest's sm, declaring every
 * kernel as an .entry, and (version 3) bound to this manifest.
 */
export function checkCudaManifest(m: Manifest, sections: Readonly<Record<string, Uint8Array>>): CudaManifest {
  if (m.target !== 'cuda') throw new KilnRuntimeError(`artifact targets '${String(m.target)}'; the CUDA executor runs 'cuda' artifacts (load WebAssembly artifacts with load())`);
  const ptxBytes = sections['ptx'];
  if (!ptxBytes) fail(`a 'cuda' artifact needs a 'ptx' section (has: ${Object.keys(sections).join(', ') || 'none'})`);
  const c = (m as Partial<CudaManifest>).cuda as unknown;
  if (typeof c !== 'object' || c === null || Array.isArray(c)) fail(`manifest.cuda must be an object {sm, memoryBytes, launches}, got ${JSON.stringify(c) ?? 'undefined'}`);
  const spec = c as Record<string, unknown>;
  if (!isCount(spec.sm) || spec.sm < 50 || spec.sm > 1000) fail(`manifest.cuda.sm must be an integer in [50, 1000] (80 = sm_80), got ${JSON.stringify(spec.sm) ?? 'undefined'}`);
  if (!isCount(spec.memoryBytes) || spec.memoryBytes < 1 || spec.memoryBytes >= LIMIT) {
    fail(`manifest.cuda.memoryBytes must be an integer in [1, 2^31), got ${JSON.stringify(spec.memoryBytes) ?? 'undefined'}`);
  }
  const sizes = new Map(Object.entries(sections).map(([k, v]) => [k, v.length]));
  const out = validateProgram(m, sizes, spec.memoryBytes, 'device memory');
  const launchList = spec.launches;
  if (!Array.isArray(launchList) || launchList.length !== out.kernels.length) {
    fail(`manifest.cuda.launches must be an array with one entry per kernel (${out.kernels.length}), got ${Array.isArray(launchList) ? `${launchList.length} entries` : JSON.stringify(launchList) ?? 'undefined'}`);
  }
  const launches = launchList.map((x: unknown, i): CudaLaunchSpec => {
    const where = `manifest.cuda.launches[${i}]`;
    if (typeof x !== 'object' || x === null || Array.isArray(x)) fail(`${where} must be an object {grid, block, threadsPerItem}, got ${JSON.stringify(x) ?? 'undefined'}`);
    const l = x as Record<string, unknown>;
    const grid = dims(l.grid, `${where}.grid`, 1, LIMIT - 1);
    const block = dims(l.block, `${where}.block`, 1, 1024);
    if (block[0] * block[1] * block[2] > 1024) fail(`${where}.block has ${block[0] * block[1] * block[2]} threads, more than CUDA's 1024 per block`);
    if (grid[1] > 65535 || grid[2] > 65535) fail(`${where}.grid y and z must be at most 65535, got ${JSON.stringify(grid)}`);
    if (!isCount(l.threadsPerItem) || ![0, 1, 32].includes(l.threadsPerItem)) fail(`${where}.threadsPerItem must be 0, 1 or 32, got ${JSON.stringify(l.threadsPerItem) ?? 'undefined'}`);
    return { grid, block, threadsPerItem: l.threadsPerItem };
  });
  let ptx: string;
  try {
    ptx = new TextDecoder('utf-8', { fatal: true }).decode(ptxBytes);
  } catch {
    throw new KilnRuntimeError("invalid artifact: the 'ptx' section is not UTF-8 text");
  }
  const target = /^\s*\.target\s+sm_(\d+)/m.exec(ptx);
  if (!/^\s*\.version\s+\d+\.\d+/m.test(ptx) || !target) throw new KilnRuntimeError("invalid artifact: the 'ptx' section has no .version and .target sm_XX directives");
  if (Number(target[1]) !== spec.sm) throw new KilnRuntimeError(`invalid artifact: the PTX targets sm_${target[1]} but manifest.cuda.sm is ${spec.sm}`);
  const declared = new Set([...ptx.matchAll(/\.entry\s+([A-Za-z_$][\w$]*)/g)].map((x) => x[1]!));
  out.kernels.forEach((k, i) => {
    if (!declared.has(k.name)) fail(`manifest.kernels[${i}].name '${k.name}' is not an .entry of the PTX`);
  });
  checkBinding(m, 'ptx', sections);
  return { ...out, cuda: { sm: spec.sm, memoryBytes: spec.memoryBytes, launches } };
}
