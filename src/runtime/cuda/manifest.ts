/**
 * The CUDA part of an artifact manifest (target "cuda", see docs/artifact-format.md): the PTX
 * section, the device memory image size, and each kernel's launch configuration, plus the checks
 * that turn a malformed one into a KilnRuntimeError naming the field before anything is
 * allocated or launched. Inputs, outputs, weights and the schedule keep the meaning they have for
 * WebAssembly artifacts: byte offsets into one memory image; so do version-2 training artifacts'
 * resident `state` (initial values in the 'state' section) and further `entries`.
 */
import { KilnRuntimeError } from '../errors.js';
import { checkDType, dtypeBytes } from '../dtypes.js';
import { elementCount, type EntrySpec, type Manifest, type StateSpec, type TensorSpec } from '../manifest.js';

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

function fail(msg: string): never {
  throw new KilnRuntimeError(`invalid artifact manifest: ${msg}`);
}

const isCount = (x: unknown): x is number => typeof x === 'number' && Number.isInteger(x) && x >= 0;

function dims(x: unknown, where: string, min: number): [number, number, number] {
  if (!Array.isArray(x) || x.length !== 3 || !x.every((d) => isCount(d) && d >= min)) fail(`${where} must be 3 integers >= ${min}, got ${JSON.stringify(x)}`);
  return [x[0], x[1], x[2]];
}

function checkTensors(list: unknown, kind: string, memBytes: number): TensorSpec[] {
  if (!Array.isArray(list)) fail(`${kind} must be an array`);
  return list.map((t: Partial<TensorSpec> | null, i) => {
    if (typeof t !== 'object' || t === null || typeof t.name !== 'string') fail(`${kind}[${i}] needs a string name`);
    if (!Array.isArray(t.shape) || !t.shape.every(isCount)) fail(`${kind}[${i}] ('${t.name}').shape must be non-negative integers`);
    const dtype = checkDType(t.dtype, `invalid artifact manifest: ${kind}[${i}] ('${t.name}')`);
    if (!isCount(t.offset)) fail(`${kind}[${i}] ('${t.name}').offset must be a non-negative integer`);
    const end = t.offset + elementCount(t.shape) * dtypeBytes(dtype);
    if (end > memBytes) fail(`${kind}[${i}] ('${t.name}') ends at byte ${end}, past the ${memBytes}-byte device memory`);
    return { name: t.name, shape: [...t.shape], dtype, offset: t.offset };
  });
}

const range = (t: TensorSpec): [number, number] => [t.offset, t.offset + elementCount(t.shape) * dtypeBytes(t.dtype)];

/** Resident state: inside memory, initial values inside the 'state' section, no overlap with other state or any entry's inputs. */
function checkState(list: unknown, memBytes: number, stateBytes: number, inputs: readonly TensorSpec[]): StateSpec[] {
  const specs = checkTensors(list, 'state', memBytes);
  return specs.map((t, i) => {
    const init = (list as StateSpec[])[i]!.init;
    const [lo, hi] = range(t);
    if (init !== undefined) {
      if (!isCount(init)) fail(`state[${i}] ('${t.name}').init must be a non-negative integer, got ${JSON.stringify(init)}`);
      if (init + hi - lo > stateBytes) fail(`state[${i}] ('${t.name}') initial value [${init}, ${init + hi - lo}) lies outside the ${stateBytes}-byte 'state' section`);
    }
    for (const o of [...specs.slice(0, i), ...inputs]) {
      const [a, b] = range(o);
      if (lo < b && a < hi) fail(`state '${t.name}' [${lo}, ${hi}) overlaps ${specs.includes(o) ? 'state' : 'input'} '${o.name}' [${a}, ${b})`);
    }
    return init === undefined ? t : { ...t, init };
  });
}

/** Full check of a "cuda" target manifest against the sections present (and the 'state' section's size). */
export function checkCudaManifest(m: Manifest, sections: ReadonlySet<string>, stateSectionBytes?: number): CudaManifest {
  if (m.target !== 'cuda') throw new KilnRuntimeError(`artifact targets '${String(m.target)}'; the CUDA executor runs 'cuda' artifacts (load WebAssembly artifacts with load())`);
  if (!sections.has('ptx')) fail(`a 'cuda' artifact needs a 'ptx' section (has: ${[...sections].join(', ') || 'none'})`);
  const c = (m as Partial<CudaManifest>).cuda;
  if (typeof c !== 'object' || c === null) fail('a cuda artifact needs a "cuda" object (sm, memoryBytes, launches)');
  if (!isCount(c.sm)) fail(`cuda.sm must be an integer, got ${JSON.stringify(c.sm)}`);
  if (!isCount(c.memoryBytes)) fail(`cuda.memoryBytes must be a non-negative integer, got ${JSON.stringify(c.memoryBytes)}`);
  const inputs = checkTensors(m.inputs, 'inputs', c.memoryBytes);
  const outputs = checkTensors(m.outputs, 'outputs', c.memoryBytes);
  if (m.weights !== undefined) {
    if (!isCount(m.weights.offset) || !isCount(m.weights.length)) fail('weights.offset and weights.length must be non-negative integers');
    if (m.weights.offset + m.weights.length > c.memoryBytes) fail(`weights [${m.weights.offset}, ${m.weights.offset + m.weights.length}) do not fit the ${c.memoryBytes}-byte device memory`);
    if (m.weights.length > 0 && !sections.has('weights')) fail(`weights.length is ${m.weights.length} but there is no 'weights' section`);
  }
  if (!Array.isArray(m.kernels)) fail('kernels must be an array');
  m.kernels.forEach((k, i) => {
    if (typeof k !== 'object' || k === null || typeof k.name !== 'string') fail(`kernels[${i}] needs a string name`);
    if (!isCount(k.work)) fail(`kernels[${i}] ('${k.name}').work must be a non-negative integer`);
  });
  if (!Array.isArray(c.launches) || c.launches.length !== m.kernels.length) fail(`cuda.launches must have one entry per kernel (${m.kernels.length}), got ${Array.isArray(c.launches) ? c.launches.length : typeof c.launches}`);
  const launches = c.launches.map((l, i) => ({
    grid: dims(l?.grid, `cuda.launches[${i}].grid`, 1),
    block: dims(l?.block, `cuda.launches[${i}].block`, 1),
    threadsPerItem: isCount(l?.threadsPerItem) ? l.threadsPerItem : fail(`cuda.launches[${i}].threadsPerItem must be a non-negative integer`),
  }));
  if (!Array.isArray(m.schedule)) fail('schedule must be an array of kernel indices');
  m.schedule.forEach((k, i) => {
    if (!isCount(k) || k >= m.kernels.length) fail(`schedule[${i}] = ${JSON.stringify(k)} is not a kernel index (there are ${m.kernels.length} kernels)`);
  });
  const schedule = m.schedule as number[];
  const defaultEntry = m.defaultEntry ?? 'main';
  if (typeof defaultEntry !== 'string') fail(`defaultEntry must be a string, got ${JSON.stringify(defaultEntry)}`);
  let entries: Record<string, EntrySpec> | undefined;
  const allInputs = [...inputs];
  if (m.entries !== undefined) {
    if (typeof m.entries !== 'object' || m.entries === null || Array.isArray(m.entries)) fail('entries must be an object of named entry points');
    entries = {};
    for (const [name, e] of Object.entries(m.entries)) {
      const where = `entries['${name}']`;
      if (name === defaultEntry) fail(`${where} redefines the default entry (the top-level inputs/outputs/schedule)`);
      if (typeof e !== 'object' || e === null) fail(`${where} must be an object {inputs, outputs, schedule}`);
      const ins = checkTensors(e.inputs, `${where}.inputs`, c.memoryBytes);
      allInputs.push(...ins);
      if (!Array.isArray(e.schedule)) fail(`${where}.schedule must be an array of kernel indices`);
      e.schedule.forEach((k, i) => {
        if (!isCount(k) || k >= m.kernels.length) fail(`${where}.schedule[${i}] = ${JSON.stringify(k)} is not a kernel index (there are ${m.kernels.length} kernels)`);
      });
      entries[name] = { inputs: ins, outputs: checkTensors(e.outputs, `${where}.outputs`, c.memoryBytes), schedule: [...e.schedule] };
    }
  }
  const state = m.state === undefined ? undefined : checkState(m.state, c.memoryBytes, stateSectionBytes ?? 0, allInputs);
  return {
    ...m, inputs, outputs, schedule, defaultEntry,
    ...(entries ? { entries } : {}), ...(state ? { state } : {}),
    cuda: { sm: c.sm, memoryBytes: c.memoryBytes, launches },
  };
}
