/**
 * The artifact validator: proves, before anything is allocated, copied or
 * run, that every manifest field fits its use. Each rejection is a
 * KilnRuntimeError naming the field path (`manifest.kernels[3].work`) and
 * the bad value. Three layers:
 *
 * - validateContainer (readArtifact): header fields, the section table
 *   (aligned, disjoint, inside the file, zero padding, no trailing bytes);
 * - validateProgram (both executors): tensors, kernels, schedules, entries,
 *   state and weights against a memory of `memBytes` bytes;
 * - validateWasm / the CUDA loader: the target's own fields and its code
 *   sections, including the version-3 binding of manifest to code
 *   (binding.ts).
 *
 * docs/artifact-format.md lists the rules; keep the two in step.
 */
import { boundDigest, manifestDigest } from './binding.js';
import { dtypeBytes, isDType, type DType } from './dtypes.js';
import { KilnRuntimeError } from './errors.js';
import { relaxedSimdAvailable } from './host.js';
import { decodedBytes, encodedBytes, encodedStart } from './weights_codec.js';
import { elementCount, type EntrySpec, type WeightSegment, type WeightsEncoding, type FlagSpec, type KernelSpec, type Manifest, type ScheduleEntry, type SectionEntry, type StateSpec, type TensorSpec } from './manifest.js';

/** Every count, offset and size is an integer in [0, LIMIT). */
export const LIMIT = 2 ** 31;
/** The most threads a manifest may ask for by default. */
const MAX_THREADS = 1024;
const SECTION_ALIGN = 16;

type Obj = Record<string, unknown>;

function show(x: unknown): string {
  if (x === undefined) return 'undefined';
  if (typeof x === 'number') return String(x);
  let s: string;
  try {
    s = JSON.stringify(x) ?? String(x);
  } catch {
    s = String(x);
  }
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

export function fail(msg: string): never {
  throw new KilnRuntimeError(`invalid artifact manifest: ${msg}`);
}

function bad(path: string, expected: string, got: unknown): never {
  fail(`${path} must be ${expected}, got ${show(got)}`);
}

function obj(x: unknown, path: string): Obj {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) bad(path, 'an object', x);
  return x as Obj;
}

function arr(x: unknown, path: string): unknown[] {
  if (!Array.isArray(x)) bad(path, 'an array', x);
  return x;
}

function str(x: unknown, path: string): string {
  if (typeof x !== 'string' || x.length === 0) bad(path, 'a non-empty string', x);
  return x;
}

function int(x: unknown, path: string, min = 0, max = LIMIT - 1): number {
  if (typeof x !== 'number' || !Number.isInteger(x) || x < min || x > max) {
    bad(path, `an integer in [${min}, ${max === LIMIT - 1 ? '2^31)' : `${max}]`}`, x);
  }
  return x;
}

const opt = <T>(x: unknown, f: (x: unknown) => T): T | undefined => (x === undefined ? undefined : f(x));

/** A byte range [lo, hi) named for messages. */
interface Region {
  what: string;
  lo: number;
  hi: number;
}

/** Throws on the first two regions that share a byte (empty regions share none). */
function disjoint(regions: Region[], rule: string): void {
  const rs = regions.filter((r) => r.hi > r.lo).sort((a, b) => a.lo - b.lo || a.hi - b.hi);
  let last: Region | undefined;
  for (const r of rs) {
    if (last && r.lo < last.hi) fail(`${r.what} [${r.lo}, ${r.hi}) overlaps ${last.what} [${last.lo}, ${last.hi}) (${rule})`);
    if (!last || r.hi > last.hi) last = r;
  }
}

const tensorBytes = (t: TensorSpec): number => elementCount(t.shape) * dtypeBytes(t.dtype);
const region = (t: TensorSpec, what: string): Region => ({ what: `${what} '${t.name}'`, lo: t.offset, hi: t.offset + tensorBytes(t) });

// ---------------------------------------------------------------- container

/**
 * Header fields and the section table. `manifestEnd` is where the manifest
 * ends; sections follow it, 16-aligned, disjoint, with zero padding between
 * them and nothing after the last.
 */
export function validateContainer(parsed: unknown, headerVersion: number, manifestEnd: number, bytes: Uint8Array): Manifest {
  const m = obj(parsed, 'manifest');
  if (m.format !== 'kiln') bad('manifest.format', '"kiln"', m.format);
  if (m.version !== headerVersion) bad('manifest.version', `${headerVersion} (the header's format version)`, m.version);
  str(m.target, 'manifest.target');
  opt(m.name, (x) => (typeof x === 'string' ? x : bad('manifest.name', 'a string', x)));
  opt(m.createdBy, (x) => (typeof x === 'string' ? x : bad('manifest.createdBy', 'a string', x)));
  opt(m.meta, (x) => obj(x, 'manifest.meta'));
  const names = new Set<string>();
  const table: (SectionEntry & { what: string })[] = arr(m.sections, 'manifest.sections').map((x, i) => {
    const path = `manifest.sections[${i}]`;
    const s = obj(x, path);
    const name = str(s.name, `${path}.name`);
    if (names.has(name)) bad(`${path}.name`, 'unique', name);
    names.add(name);
    const offset = int(s.offset, `${path}.offset`);
    const length = int(s.length, `${path}.length`);
    if (offset % SECTION_ALIGN !== 0) bad(`${path}.offset`, `a multiple of ${SECTION_ALIGN}`, offset);
    if (offset < manifestEnd) bad(`${path}.offset`, `at least ${manifestEnd} (the end of the header and manifest)`, offset);
    if (offset + length > bytes.length) {
      throw new KilnRuntimeError(`truncated Kiln artifact: section '${name}' (${path}) needs bytes [${offset}, ${offset + length}) but the file has ${bytes.length}`);
    }
    return { name, offset, length, what: `section '${name}' (${path})` };
  });
  disjoint(table.map((s) => ({ what: s.what, lo: s.offset, hi: s.offset + s.length })), 'sections must be disjoint');
  // Padding (between the manifest, the sections and each other) is zero; nothing follows the last section.
  const used = table.map((s): [number, number] => [s.offset, s.offset + s.length]).sort((a, b) => a[0] - b[0]);
  let at = manifestEnd;
  for (const [lo, hi] of [...used, [bytes.length, bytes.length] as [number, number]]) {
    for (let i = at; i < lo; i++) {
      if (bytes[i] !== 0) throw new KilnRuntimeError(`invalid Kiln artifact: padding byte ${i} is ${bytes[i]}, not 0 (padding between sections is zero)`);
    }
    at = Math.max(at, hi);
  }
  const end = Math.max(manifestEnd, ...used.map((u) => u[1]));
  if (bytes.length !== end) {
    throw new KilnRuntimeError(`invalid Kiln artifact: ${bytes.length - end} bytes follow the last section (which ends at byte ${end})`);
  }
  return m as unknown as Manifest;
}

// ---------------------------------------------------------------- program

function tensor(x: unknown, path: string, memBytes: number, space: string): TensorSpec {
  const t = obj(x, path);
  const name = str(t.name, `${path}.name`);
  let count = 1;
  const shape = arr(t.shape, `${path}.shape`).map((d, i) => {
    const n = int(d, `${path}.shape[${i}]`);
    count *= n;
    return n;
  });
  if (!isDType(t.dtype)) bad(`${path}.dtype`, "one of 'f32', 'f16', 'bf16', 'i32', 'i8', 'u8', 'bool'", t.dtype);
  const dtype: DType = t.dtype;
  const size = dtypeBytes(dtype);
  if (count * size >= LIMIT) fail(`${path} ('${name}') shape [${shape.join(', ')}] of ${dtype} is ${count * size} bytes, more than 2^31`);
  const offset = int(t.offset, `${path}.offset`);
  if (offset % size !== 0) bad(`${path}.offset`, `a multiple of the ${dtype} size ${size}`, offset);
  if (offset + count * size > memBytes) {
    fail(`${path} ('${name}') [${offset}, ${offset + count * size}) does not fit the ${memBytes}-byte ${space}`);
  }
  const batch = opt(t.batch, (v) => int(v, `${path}.batch`, 1));
  return { name, shape, dtype, offset, ...(batch !== undefined ? { batch } : {}) };
}

function tensors(x: unknown, path: string, memBytes: number, space: string): TensorSpec[] {
  const seen = new Map<string, number>();
  return arr(x, path).map((t, i) => {
    const spec = tensor(t, `${path}[${i}]`, memBytes, space);
    const before = seen.get(spec.name);
    if (before !== undefined) bad(`${path}[${i}].name`, `unique (${path}[${before}] has it too)`, spec.name);
    seen.set(spec.name, i);
    return spec;
  });
}

const FLAG_DTYPES: string[] = ['bool', 'u8', 'i8', 'i32', 'f32'];

/** Refuses keys outside `known`, listing the known ones. */
function keys(o: Obj, path: string, known: readonly string[]): void {
  for (const k of Object.keys(o)) if (!known.includes(k)) fail(`${path}.${k} is not a field here (fields: ${known.join(', ')})`);
}

/**
 * A schedule: kernel indices, and from version 4 `{loop}` / `{branch}`
 * entries over nested schedules (manifest.ts, schedule.ts). Flags are
 * scalars inside memory; a loop has a count or a flag.
 */
function schedule(x: unknown, path: string, kernels: number, version: number, memBytes: number, space: string, depth = 0): ScheduleEntry[] {
  if (depth > 32) fail(`${path} nests too deep (over 32)`);
  const flag = (f: unknown, at: string): FlagSpec => {
    const o = obj(f, at);
    keys(o, at, ['offset', 'dtype']);
    const t = tensor({ ...o, name: 'flag', shape: [] }, at, memBytes, space);
    if (!FLAG_DTYPES.includes(t.dtype)) bad(`${at}.dtype`, `one of ${FLAG_DTYPES.join(', ')}`, t.dtype);
    return { offset: t.offset, dtype: t.dtype as FlagSpec['dtype'] };
  };
  const nested = (v: unknown, at: string) => schedule(v, at, kernels, version, memBytes, space, depth + 1);
  return arr(x, path).map((k, i): ScheduleEntry => {
    const at = `${path}[${i}]`;
    if (typeof k !== 'object' || k === null || Array.isArray(k)) {
      if (kernels === 0) bad(at, 'a kernel index, but manifest.kernels is empty', k);
      return int(k, at, 0, kernels - 1);
    }
    if (version < 4) bad(at, `a kernel index (version ${version}; loops and branches need version 4)`, k);
    const e = k as Obj;
    keys(e, at, ['loop', 'branch']);
    if ((e.loop === undefined) === (e.branch === undefined)) bad(at, 'a kernel index, {loop} or {branch}', k);
    if (e.loop !== undefined) {
      const lp = `${at}.loop`;
      const l = obj(e.loop, lp);
      keys(l, lp, ['count', 'head', 'flag', 'body', 'note']);
      const count = opt(l.count, (v) => int(v, `${lp}.count`));
      const f = opt(l.flag, (v) => flag(v, `${lp}.flag`));
      if (count === undefined && !f) bad(lp, 'a loop with a count, a flag or both (else it never ends)', l);
      const head = opt(l.head, (v) => nested(v, `${lp}.head`));
      const body = nested(l.body, `${lp}.body`);
      return { loop: { ...(count !== undefined ? { count } : {}), ...(head ? { head } : {}), ...(f ? { flag: f } : {}), body } };
    }
    const bp = `${at}.branch`;
    const b = obj(e.branch, bp);
    keys(b, bp, ['flag', 'then', 'else', 'note']);
    return { branch: { flag: flag(b.flag, `${bp}.flag`), then: nested(b.then, `${bp}.then`), else: nested(b.else, `${bp}.else`) } };
  });
}

const SEGMENT_KEYS: Record<WeightSegment['enc'], string[]> = { raw: ['bytes'], f16: [], affine: ['bits', 'scale', 'min', 'zero'], q8: ['block'] };

/**
 * manifest.weights.encoding (version 5): known encodings with their fields, segments in order
 * inside the `length`-byte region, f32 segments 4-aligned, and encoded sizes (each aligned to its
 * element size) adding up to the `section`-byte 'weights' section.
 */
function weightsEncoding(x: unknown, length: number, section: number): WeightsEncoding {
  const path = 'manifest.weights.encoding';
  let end = 0;
  let from = 0;
  const segments = arr(obj(x, path).segments, `${path}.segments`).map((y, i) => {
    const at = `${path}.segments[${i}]`;
    const s = obj(y, at);
    const keys = Object.prototype.hasOwnProperty.call(SEGMENT_KEYS, s.enc as string) ? ['enc', 'at', ...(s.enc === 'raw' ? [] : ['count', 'width', 'stride']), ...SEGMENT_KEYS[s.enc as WeightSegment['enc']]] : bad(`${at}.enc`, Object.keys(SEGMENT_KEYS).join(' | '), s.enc);
    for (const k in s) if (!keys.includes(k)) bad(`${at}.${k}`, `absent (fields: ${keys.join(', ')})`, s[k]);
    if (int(s.at, `${at}.at`) < end || (s.enc !== 'raw' && (s.at as number) % 4)) bad(`${at}.at`, `at least ${end}, in order${s.enc === 'raw' ? '' : ', a multiple of 4'}`, s.at);
    const n = int(s.enc === 'raw' ? s.bytes : s.count, `${at}.${s.enc === 'raw' ? 'bytes' : 'count'}`);
    if (s.width !== undefined || s.stride !== undefined) {
      if (n % int(s.width, `${at}.width`, 1) || int(s.stride, `${at}.stride`, s.width as number) < 0) bad(`${at}.count`, `a multiple of width ${s.width}`, n);
    }
    if (s.enc === 'q8') int(s.block, `${at}.block`, 1, 65536);
    if (s.enc === 'affine') {
      if (s.bits !== 8 && s.bits !== 16) bad(`${at}.bits`, '8 or 16', s.bits);
      for (const k of ['scale', 'min']) if (!Number.isFinite(s[k])) bad(`${at}.${k}`, 'a finite number', s[k]);
      opt(s.zero, (v) => int(v, `${at}.zero`, 0, 2 ** (s.bits as number) - 1));
    }
    const seg = s as unknown as WeightSegment;
    end = seg.at + decodedBytes(seg);
    if (end > length) bad(at, `inside the ${length}-byte weights region`, y);
    from = encodedStart(from, seg) + encodedBytes(seg);
    return seg;
  });
  if (from !== section) bad(`${path}.segments`, `encoded sizes adding up to the 'weights' section's ${section} bytes`, `${from} bytes`);
  return { segments };
}

/**
 * The fields both executors share: tensors, kernels, schedules, entries,
 * state and weights, checked against a memory image of `memBytes` bytes and
 * the sections present (name -> byte length). Returns the manifest with
 * those fields normalized (fresh arrays, defaultEntry filled in).
 */
export function validateProgram(m: Manifest, sectionSizes: ReadonlyMap<string, number>, memBytes: number, space: string): Manifest {
  const raw = m as unknown as Obj;
  const version = m.version;
  if (version < 2) {
    for (const k of ['state', 'entries', 'defaultEntry']) {
      if (raw[k] !== undefined) bad(`manifest.${k}`, `absent in a version-${version} artifact (it needs format version 2 or later)`, raw[k]);
    }
  }
  const inputs = tensors(raw.inputs, 'manifest.inputs', memBytes, space);
  const outputs = tensors(raw.outputs, 'manifest.outputs', memBytes, space);

  // Weights: the 'weights' section, copied (or, version 5, decoded) to [offset, offset + length).
  let weights: { offset: number; length: number; encoding?: WeightsEncoding } | undefined;
  const wSection = sectionSizes.get('weights');
  if (raw.weights !== undefined) {
    const w = obj(raw.weights, 'manifest.weights');
    const offset = int(w.offset, 'manifest.weights.offset');
    const length = int(w.length, 'manifest.weights.length');
    if (offset + length > memBytes) fail(`manifest.weights [${offset}, ${offset + length}) does not fit the ${memBytes}-byte ${space}`);
    if (w.encoding !== undefined) {
      if (version < 5) bad('manifest.weights.encoding', `absent in a version-${version} artifact (encoded weights need format version 5)`, w.encoding);
      if (offset % 4) bad('manifest.weights.offset', 'a multiple of 4 (encoded weights decode to f32)', offset);
      weights = { offset, length, encoding: weightsEncoding(w.encoding, length, wSection ?? 0) };
    } else {
      if (length !== (wSection ?? 0)) bad('manifest.weights.length', `the 'weights' section's size ${wSection ?? 0}`, length);
      weights = { offset, length };
    }
  } else if (wSection !== undefined && wSection > 0) {
    bad('manifest.weights', `an object {offset, length} (the file has a ${wSection}-byte 'weights' section)`, undefined);
  }

  // Batch polymorphism: every batched tensor leads with batch * max; the slot is an i32 in memory.
  const b = opt(raw.batch, (x) => obj(x, 'manifest.batch'));
  const maxBatch = b && int(b.max, 'manifest.batch.max', 1, 65536);
  if (b) {
    if (int(b.slot, 'manifest.batch.slot') % 4 || (b.slot as number) + 4 > memBytes) bad('manifest.batch.slot', 'an aligned i32 in memory', b.slot);
    for (const t of [...inputs, ...outputs]) if (t.batch && t.shape[0] !== t.batch * maxBatch!) bad(`'${t.name}'.shape[0]`, `batch * batch.max = ${t.batch * maxBatch!}`, t.shape[0]);
  }
  const kernelNames = new Map<string, number>();
  const kernels: KernelSpec[] = arr(raw.kernels, 'manifest.kernels').map((x, i) => {
    const path = `manifest.kernels[${i}]`;
    const k = obj(x, path);
    const name = str(k.name, `${path}.name`);
    const before = kernelNames.get(name);
    if (before !== undefined) bad(`${path}.name`, `unique (manifest.kernels[${before}] has it too)`, name);
    kernelNames.set(name, i);
    const work = int(k.work, `${path}.work`);
    const minWork = opt(k.minWorkPerThread, (v) => int(v, `${path}.minWorkPerThread`));
    opt(k.note, (v) => (typeof v === 'string' ? v : bad(`${path}.note`, 'a string', v)));
    // Work counts at batch 1..maxBatch, each at most `limit` (the kernel's work, or a segment's length).
    const counts = (v: unknown, p: string, limit: number, of: string) => {
      const ok = maxBatch && (Array.isArray(v) ? v.length === maxBatch && v.every((x) => int(x, p) <= limit) : int(v, p) * maxBatch <= limit);
      if (!ok) bad(p, `work counts for batch 1..${maxBatch ?? '(no manifest.batch)'}, each at most ${of} ${limit}`, v);
    };
    opt(k.batch, (v) => counts(v, `${path}.batch`, work, 'work'));
    // The runtime runs the first items of each segment: they must lie inside it.
    opt(k.batchSegments, (v) => {
      const g = obj(v, `${path}.batchSegments`), len = work / int(g.count, `${path}.batchSegments.count`, 1);
      if (len % 1) bad(`${path}.batchSegments.count`, `a divisor of work ${work}`, g.count);
      counts(g.work, `${path}.batchSegments.work`, len, 'work / count');
    });
    return { ...(k as unknown as KernelSpec), name, work, ...(minWork !== undefined ? { minWorkPerThread: minWork } : {}) };
  });
  if (raw.threads !== undefined) {
    const t = obj(raw.threads, 'manifest.threads');
    opt(t.default, (v) => int(v, 'manifest.threads.default', 0, MAX_THREADS));
    opt(t.minWorkPerThread, (v) => int(v, 'manifest.threads.minWorkPerThread'));
  }

  const defaultEntry = raw.defaultEntry === undefined ? 'main' : str(raw.defaultEntry, 'manifest.defaultEntry');
  const all: { path: string; inputs: TensorSpec[]; outputs: TensorSpec[]; schedule: ScheduleEntry[] }[] = [
    { path: 'manifest', inputs, outputs, schedule: schedule(raw.schedule, 'manifest.schedule', kernels.length, version, memBytes, space) },
  ];
  let entries: Record<string, EntrySpec> | undefined;
  if (raw.entries !== undefined) {
    entries = {};
    for (const [name, x] of Object.entries(obj(raw.entries, 'manifest.entries'))) {
      const path = `manifest.entries['${name}']`;
      if (name === defaultEntry) bad(`manifest.entries`, `free of the default entry's name '${defaultEntry}' (the top-level inputs/outputs/schedule)`, name);
      const e = obj(x, path);
      const spec: EntrySpec = {
        inputs: tensors(e.inputs, `${path}.inputs`, memBytes, space),
        outputs: tensors(e.outputs, `${path}.outputs`, memBytes, space),
        schedule: schedule(e.schedule, `${path}.schedule`, kernels.length, version, memBytes, space),
      };
      entries[name] = spec;
      all.push({ path, ...spec });
    }
  }

  // Resident state: initial values inside the 'state' section.
  const stateBytes = sectionSizes.get('state');
  const state: StateSpec[] | undefined = opt(raw.state, (x) =>
    tensors(x, 'manifest.state', memBytes, space).map((t, i) => {
      const init = opt((raw.state as Obj[])[i]!.init, (v) => int(v, `manifest.state[${i}].init`));
      if (init === undefined) return t;
      const n = tensorBytes(t);
      if (init + n > (stateBytes ?? 0)) {
        fail(`manifest.state[${i}].init: the initial value of '${t.name}' [${init}, ${init + n}) lies outside the ${stateBytes ?? 0}-byte 'state' section`);
      }
      return { ...t, init };
    }),
  );

  // Regions the format requires disjoint: within each entry, its inputs, the state and the weights.
  const fixed: Region[] = [
    ...(state ?? []).map((t, i) => region(t, `manifest.state[${i}]`)),
    ...(weights ? [{ what: 'manifest.weights', lo: weights.offset, hi: weights.offset + weights.length }] : []),
  ];
  for (const e of all) {
    disjoint([...fixed, ...e.inputs.map((t, i) => region(t, `${e.path}.inputs[${i}]`))], 'inputs, state and weights must not share bytes');
    // A schedule may be empty only when every output is an input, state or weights passed through.
    if (e.schedule.length === 0) {
      const sources = [...fixed, ...e.inputs.map((t) => region(t, 'input'))];
      for (const [i, o] of e.outputs.entries()) {
        const r = region(o, 'output');
        if (r.hi > r.lo && !sources.some((s) => s.lo <= r.lo && r.hi <= s.hi)) {
          bad(`${e.path}.schedule`, `non-empty (output '${o.name}', ${e.path}.outputs[${i}], is computed by no kernel)`, e.schedule);
        }
      }
    }
  }
  return {
    ...m, inputs, outputs, kernels, schedule: all[0]!.schedule, defaultEntry,
    ...(weights ? { weights } : {}), ...(entries ? { entries } : {}), ...(state ? { state } : {}),
  };
}

/** Checks memory.* informational fields: integers, the arena inside the memory and clear of weights and state. */
function validateMemoryFields(mem: Obj, memBytes: number, m: Manifest, space: string): void {
  for (const k of ['arenaOffset', 'arenaBytes', 'peakBytes', 'sumIntermediateBytes']) {
    opt(mem[k], (v) => (k === 'sumIntermediateBytes' ? int(v, `manifest.memory.${k}`, 0, Number.MAX_SAFE_INTEGER) : int(v, `manifest.memory.${k}`)));
  }
  const lo = mem.arenaOffset as number | undefined;
  const n = mem.arenaBytes as number | undefined;
  if (lo === undefined || n === undefined) return;
  if (lo + n > memBytes) fail(`manifest.memory arena [${lo}, ${lo + n}) does not fit the ${memBytes}-byte ${space}`);
  disjoint(
    [
      { what: 'the arena (manifest.memory.arenaOffset)', lo, hi: lo + n },
      ...(m.state ?? []).map((t, i) => region(t, `manifest.state[${i}]`)),
      ...(m.weights ? [{ what: 'manifest.weights', lo: m.weights.offset, hi: m.weights.offset + m.weights.length }] : []),
    ],
    'the arena holds no state or weights',
  );
}

// ---------------------------------------------------------------- code

/** Version 3 binds manifest and code: the digest each code section carries must be the manifest's (`m` as parsed, not normalized). */
export function checkBinding(m: Manifest, section: string, sections: Readonly<Record<string, Uint8Array>>): void {
  const code = sections[section]!;
  if (m.version < 3) return;
  const got = boundDigest(section, code);
  if (typeof got === 'string') throw new KilnRuntimeError(`invalid artifact: the '${section}' section cannot be read: ${got}`);
  const want = manifestDigest(m, section, Object.entries(sections).map(([n, b]): [string, number] => [n, b.length]));
  if (got !== want) {
    throw new KilnRuntimeError(
      `invalid artifact: the manifest does not belong to the '${section}' section (its kiln.bind digest is ${got.toString(16)}, the manifest's is ${want.toString(16)}): the manifest was edited after compilation`,
    );
  }
}

/**
 * A "wasm" artifact: the target's fields, the program fields and both code
 * sections. The plain module must pass WebAssembly.validate; the relaxed one
 * too where the host has relaxed SIMD (elsewhere it is never run, and only
 * its structure and binding are checked).
 */
export function validateWasm(m: Manifest, sections: Readonly<Record<string, Uint8Array>>): Manifest {
  if (m.target !== 'wasm') throw new KilnRuntimeError(`artifact targets '${String(m.target)}'; this executor runs 'wasm' artifacts`);
  if (!sections['wasm']) fail(`a 'wasm' artifact needs a 'wasm' section (has: ${Object.keys(sections).join(', ') || 'none'})`);
  const mem = obj((m as unknown as Obj).memory, 'manifest.memory');
  const pages = int(mem.pages, 'manifest.memory.pages', 1, 65536);
  opt(mem.shared, (v) => (typeof v === 'boolean' ? v : bad('manifest.memory.shared', 'a boolean', v)));
  const memBytes = pages * 65536;
  const sizes = new Map(Object.entries(sections).map(([k, v]) => [k, v.length]));
  const out = validateProgram(m, sizes, memBytes, 'memory');
  validateMemoryFields(mem, memBytes, out, 'memory');
  for (const name of ['wasm', 'wasm-relaxed']) {
    const code = sections[name];
    if (!code) continue;
    const structure = boundDigest(name, code);
    if (typeof structure === 'string' && !structure.includes('kiln.bind')) {
      throw new KilnRuntimeError(`invalid artifact: the '${name}' section is not a WebAssembly module: ${structure}`);
    }
    const checkable = name === 'wasm' || relaxedSimdAvailable();
    if (checkable && !WebAssembly.validate(code as Uint8Array<ArrayBuffer>)) {
      throw new KilnRuntimeError(
        `invalid artifact: the '${name}' section does not validate as WebAssembly (damaged, or the host lacks SIMD128${name === 'wasm' ? '' : ' or relaxed SIMD'})`,
      );
    }
    checkBinding(m, name, sections);
  }
  return out;
}
