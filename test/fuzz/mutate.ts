/**
 * Seeded mutations of artifact files. Two classes:
 *
 * - "raw": what damage does to a file (bit flips, truncation, appended bytes, edits and foreign
 *   sections without fixing the checksum). The checksum should answer nearly all of them.
 * - "resealed": manifest and section-table edits written back with a correct checksum, so the
 *   structural validator and the manifest-to-code binding are what must answer. Code and weight
 *   bytes are never changed in this class: a re-sealed change there is a forgery no reader can
 *   tell from a different program.
 *
 * Every case is a pure function of (campaign seed, case index), so any case can be replayed.
 */
import { sealArtifact } from '../../src/runtime/artifact.js';
import { assemble } from './assemble.js';

export type MutationClass = 'raw' | 'resealed';

export interface Mutation {
  cls: MutationClass;
  kind: string;
  /** What was done, for reports ("manifest.kernels[2].work = 4294967296"). */
  what: string;
  bytes: Uint8Array;
}

export interface ParsedSeed {
  bytes: Uint8Array;
  manifest: Record<string, unknown>;
  /** Section bytes as they are in the file (code sections include their binding). */
  sections: Record<string, Uint8Array>;
  manifestStart: number;
  manifestEnd: number;
}

/** Splits a version-3 file without trusting the runtime's reader. */
export function parseSeed(bytes: Uint8Array): ParsedSeed {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const mlen = view.getUint32(12, true);
  const manifest = JSON.parse(new TextDecoder().decode(bytes.subarray(20, 20 + mlen))) as Record<string, unknown>;
  const sections: Record<string, Uint8Array> = {};
  for (const s of manifest.sections as { name: string; offset: number; length: number }[]) sections[s.name] = bytes.slice(s.offset, s.offset + s.length);
  return { bytes, manifest, sections, manifestStart: 20, manifestEnd: 20 + mlen };
}

/** mulberry32: small, fast, good enough to pick mutations. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const caseSeed = (campaign: number, index: number): number => (Math.imul(campaign ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(index + 1, 0xc2b2ae35)) >>> 0;

type R = () => number;
const int = (r: R, n: number): number => Math.floor(r() * n);
const pick = <T>(r: R, xs: readonly T[]): T => xs[int(r, xs.length)]!;
type Json = unknown;
type Obj = Record<string, Json>;

/** Values that do not fit where numbers, strings, arrays or objects are expected. */
const BAD_VALUES: readonly Json[] = [
  2 ** 31, 2 ** 32, 2 ** 32 + 1, 2 ** 53, 1e9, 1e308, -1, -16, -0.5, 0.5, 3.25, 0, 1, null, true, false, '', 'x', '12', [], [0], [-1], {}, { a: 1 },
];
const DELETE = Symbol('delete');

/** Every path in the manifest except the section table (which the assembler writes). */
function paths(m: Json, at: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  if (at.length > 0) out.push(at);
  if (Array.isArray(m)) m.forEach((v, i) => paths(v, [...at, i], out));
  else if (typeof m === 'object' && m !== null) for (const [k, v] of Object.entries(m)) if (!(at.length === 0 && k === 'sections')) paths(v, [...at, k], out);
  return out;
}

const show = (p: (string | number)[]): string => 'manifest' + p.map((k) => (typeof k === 'number' ? `[${k}]` : /^[A-Za-z_]\w*$/.test(k) ? `.${k}` : `['${k}']`)).join('');
const showValue = (v: Json | typeof DELETE): string => (v === DELETE ? '(deleted)' : typeof v === 'number' ? String(v) : JSON.stringify(v));

function setPath(m: Obj, p: (string | number)[], v: Json | typeof DELETE): void {
  let o = m as Record<string | number, Json>;
  for (const k of p.slice(0, -1)) o = o[k] as Record<string | number, Json>;
  const last = p[p.length - 1]!;
  if (v === DELETE) {
    if (Array.isArray(o) && typeof last === 'number') o.splice(last, 1);
    else delete o[last];
  } else o[last] = v;
}

function getPath(m: Obj, p: (string | number)[]): Json {
  let o: Json = m;
  for (const k of p) o = (o as Record<string | number, Json>)[k];
  return o;
}

/** The entries (default first) as [path, entry object]. */
function entryPaths(m: Obj): [(string | number)[], Obj][] {
  const out: [(string | number)[], Obj][] = [[[], m]];
  if (m.entries && typeof m.entries === 'object') for (const [k, e] of Object.entries(m.entries as Obj)) out.push([['entries', k], e as Obj]);
  return out;
}

interface Edit {
  what: string;
  apply: (m: Obj, sections: Record<string, Uint8Array>) => void;
}

/** Semantic edits a validator or the binding must catch; some of them only the binding can. */
function targetedEdit(r: R, m: Obj, sections: Record<string, Uint8Array>): Edit {
  const kernels = m.kernels as Obj[];
  const k = int(r, kernels.length);
  const ents = entryPaths(m);
  const [ep, e] = pick(r, ents);
  const tensorsOf = (x: Obj) => [...((x.inputs as Obj[]) ?? []).map((_, i) => ['inputs', i] as const), ...((x.outputs as Obj[]) ?? []).map((_, i) => ['outputs', i] as const)];
  const choices: (() => Edit)[] = [
    () => {
      const w = kernels[k]!.work as number;
      const v = pick(r, [2 ** 32, 2 ** 32 + w, 2 ** 31, 1e9, w + 1, w * 2, w * 16 + 3, -1, 0.5, null, String(w), 0]);
      return { what: `manifest.kernels[${k}].work = ${showValue(v)}`, apply: (mm) => ((mm.kernels as Obj[])[k]!.work = v) };
    },
    () => {
      const j = (k + 1 + int(r, Math.max(1, kernels.length - 1))) % kernels.length;
      return {
        what: `swap the names of manifest.kernels[${k}] and [${j}]`,
        apply: (mm) => {
          const ks = mm.kernels as Obj[];
          [ks[k]!.name, ks[j]!.name] = [ks[j]!.name, ks[k]!.name];
        },
      };
    },
    () => ({
      what: `manifest.kernels[${k}].name = another export`,
      apply: (mm) => ((mm.kernels as Obj[])[k]!.name = (kernels[(k + 1) % kernels.length]!.name as string) + pick(r, ['', '_', 'x'])),
    }),
    () => {
      const how = pick(r, ['field', 'section', 'both']);
      return {
        what: `remove the weights (${how})`,
        apply: (mm, ss) => {
          if (how !== 'section') delete mm.weights;
          if (how !== 'field') delete ss['weights'];
        },
      };
    },
    () => ({ what: `${show([...ep, 'schedule'])} = []`, apply: (mm) => ((ents.length > 1 && ep.length ? (getPath(mm, ep) as Obj) : mm).schedule = []) }),
    () => {
      const v = pick(r, [kernels.length, kernels.length + 7, -1, 2 ** 32, 1.5, null]);
      return {
        what: `${show([...ep, 'schedule'])}: append ${showValue(v)}`,
        apply: (mm) => ((ep.length ? (getPath(mm, ep) as Obj) : mm).schedule as Json[]).push(v),
      };
    },
    () => {
      const inputs = (e.inputs as Obj[]) ?? [];
      const targets: [string, number][] = [];
      if (m.weights) targets.push(['weights', (m.weights as Obj).offset as number]);
      for (const s of (m.state as Obj[]) ?? []) targets.push([`state '${String(s.name)}'`, s.offset as number]);
      for (const x of (e.outputs as Obj[]) ?? []) targets.push([`output '${String(x.name)}'`, x.offset as number]);
      const [name, off] = targets.length ? pick(r, targets) : ['0', 0];
      const i = int(r, Math.max(1, inputs.length));
      return {
        what: `${show([...ep, 'inputs', i, 'offset'])} = ${off} (over ${name})`,
        apply: (mm) => {
          const t = ((ep.length ? (getPath(mm, ep) as Obj) : mm).inputs as Obj[])[i];
          if (t) t.offset = off;
        },
      };
    },
    () => {
      const ts = tensorsOf(e);
      const [list, i] = pick(r, ts);
      const field = pick(r, ['offset', 'shape', 'dtype', 'name']);
      const cur = (e[list] as Obj[])[i]![field];
      const v =
        field === 'offset' ? pick(r, [(cur as number) + 4, (cur as number) + 2, (cur as number) + 65536, 2 ** 31 - 4, 2 ** 32, -4])
        : field === 'shape' ? pick(r, [[...(cur as number[]), 2], (cur as number[]).map((d) => d * 2), [], [2 ** 31], [-1], [65536, 65536]])
        : field === 'dtype' ? pick(r, ['f16', 'i32', 'u8', 'bool', 'f64', 'float32', null])
        : pick(r, [(e[list] as Obj[])[(i + 1) % (e[list] as Obj[]).length]!.name, '', null, 'renamed']);
      return { what: `${show([...ep, list, i, field])} = ${showValue(v)}`, apply: (mm) => (((ep.length ? (getPath(mm, ep) as Obj) : mm)[list] as Obj[])[i]![field] = v) };
    },
    () => {
      const mem = m.memory as Obj;
      const field = pick(r, ['pages', 'pages', 'shared', 'arenaOffset', 'arenaBytes']);
      const cur = mem[field];
      const v = field === 'shared' ? pick(r, [!cur, 'yes', 1]) : pick(r, [0, 65537, 2 ** 32, (cur as number) + 1, (cur as number) * 2 + 65536, -1, null]);
      return { what: `manifest.memory.${field} = ${showValue(v)}`, apply: (mm) => ((mm.memory as Obj)[field] = v) };
    },
    () => {
      const field = pick(r, ['default', 'minWorkPerThread']);
      const v = pick(r, [1e9, 2 ** 32, -1, 0, 3, 1.5]);
      return { what: `manifest.threads.${field} = ${showValue(v)}`, apply: (mm) => ((mm.threads ??= {}) as Obj)[field] = v };
    },
    () => {
      const v = pick(r, [0, 2 ** 32, 2 ** 31, -1, 1e9, 1, 7]);
      return { what: `manifest.kernels[${k}].minWorkPerThread = ${showValue(v)}`, apply: (mm) => ((mm.kernels as Obj[])[k]!.minWorkPerThread = v) };
    },
    () => {
      const state = (m.state as Obj[]) ?? [];
      if (state.length === 0) return { what: 'manifest.state = [] (none before)', apply: (mm) => (mm.state = []) };
      const i = int(r, state.length);
      const how = pick(r, ['init', 'offset', 'remove', 'overlap', 'all']);
      return {
        what: `manifest.state[${i}] ${how}`,
        apply: (mm) => {
          const st = mm.state as Obj[];
          if (how === 'init') st[i]!.init = pick(r, [(st[i]!.init as number) + 4, 2 ** 32, 1e9, -4, null]);
          else if (how === 'offset') st[i]!.offset = (st[i]!.offset as number) + pick(r, [4, 64, 65536, -4]);
          else if (how === 'remove') st.splice(i, 1);
          else if (how === 'overlap') st[i]!.offset = st[(i + 1) % st.length]!.offset;
          else delete mm.state;
        },
      };
    },
    () => ({
      what: pick(r, ['delete manifest.entries', 'rename manifest.defaultEntry', 'manifest.defaultEntry = null']),
      apply(mm) {
        if (this.what.startsWith('delete')) delete mm.entries;
        else if (this.what.startsWith('rename')) mm.defaultEntry = 'predict';
        else mm.defaultEntry = null;
      },
    }),
    () => {
      const v = pick(r, [1, 2, 4, 0, '3', null]);
      return { what: `manifest.version = ${showValue(v)}`, apply: (mm) => (mm.version = v) };
    },
    () => ({ what: "manifest.target = 'cuda'", apply: (mm) => (mm.target = pick(r, ['cuda', 'WASM', '', null])) }),
    () => ({
      what: 'duplicate a kernel or tensor entry',
      apply: (mm) => {
        const list = pick(r, ['kernels', 'inputs', 'outputs']);
        const xs = mm[list] as Json[];
        xs.push(structuredClone(xs[int(r, xs.length)]));
      },
    }),
    // Fields the runtime does not depend on: accepted, outputs identical (or refused by the binding for notes).
    () => ({ what: 'edit name / createdBy / meta', apply: (mm) => (mm[pick(r, ['name', 'createdBy', 'meta'])] = pick(r, ['renamed', 'kiln 9.9', { any: [1, 2] }])) }),
  ];
  void sections;
  return pick(r, choices)();
}

function randomEdit(r: R, m: Obj): Edit {
  const ps = paths(m);
  const p = pick(r, ps);
  const roll = r();
  const v: Json | typeof DELETE =
    roll < 0.15 ? DELETE : roll < 0.25 ? structuredClone(getPath(m, pick(r, ps))) : pick(r, BAD_VALUES);
  return { what: `${show(p)} = ${showValue(v)}`, apply: (mm) => setPath(mm, p, v) };
}

type Table = { name: string; offset: number; length: number }[];

function tableEdit(r: R): { what: string; edit: (t: Table) => unknown } {
  const choices: { what: string; edit: (t: Table) => unknown }[] = [
    { what: 'unalign a section', edit: (t) => ((t[int(r, t.length)]!.offset += 1 + int(r, 15)), t) },
    { what: 'overlap two sections', edit: (t) => (t.length > 1 ? ((t[1 + int(r, t.length - 1)]!.offset = t[0]!.offset), t) : t) },
    { what: 'move a section by 16', edit: (t) => ((t[int(r, t.length)]!.offset += pick(r, [16, -16, 32])), t) },
    { what: 'grow a section', edit: (t) => ((t[int(r, t.length)]!.length += pick(r, [1, 4, 16, 4096, 2 ** 32, 2 ** 31])), t) },
    { what: 'shrink a section', edit: (t) => ((t[int(r, t.length)]!.length -= pick(r, [1, 4, 16])), t) },
    { what: 'section offset past the file', edit: (t) => ((t[int(r, t.length)]!.offset = pick(r, [2 ** 31, 2 ** 32, 1e9, -16])), t) },
    { what: 'swap two section names', edit: (t) => { if (t.length > 1) { const a = int(r, t.length), b = (a + 1) % t.length; [t[a]!.name, t[b]!.name] = [t[b]!.name, t[a]!.name]; } return t; } },
    { what: 'drop a section entry', edit: (t) => (t.splice(int(r, t.length), 1), t) },
    { what: 'duplicate a section entry', edit: (t) => [...t, { ...t[int(r, t.length)]! }] },
    { what: 'null a section entry', edit: (t) => ((t[int(r, t.length)] as unknown) = pick(r, [null, 7, 'wasm', { name: 'wasm' }]), t) },
    { what: 'section table not an array', edit: () => pick(r, [null, {}, 'wasm', 0]) },
  ];
  return pick(r, choices);
}

function foreignSection(r: R, s: ParsedSeed): [string, Uint8Array] {
  const names = ['foreign', 'x'.repeat(1 + int(r, 40)), 'ptx', 'state', 'wasm-relaxed', 'weights', 'wasm\u0000', 'WASM'];
  const name = pick(r, names);
  const n = pick(r, [0, 1, 16, 100, 4096]);
  const bytes = Uint8Array.from({ length: n }, () => int(r, 256));
  if (name === 'wasm-relaxed' && r() < 0.5 && s.sections['wasm']) return [name, s.sections['wasm'].slice()];
  return [name, bytes];
}

/** Re-assembles with an edited manifest/sections: sealed (resealed class) or with the stale checksum (raw class). */
function rebuild(s: ParsedSeed, m: Obj, sections: Record<string, Uint8Array>, sealed: boolean, keepTable?: (t: Table) => unknown): Uint8Array {
  const out = assemble(m, sections, { version: 3, ...(keepTable ? { keepTable } : {}) });
  if (!sealed) out.set(s.bytes.subarray(16, 20), 16);
  return out;
}

/** One mutation of `seed`, chosen by `r`. */
export function mutate(r: R, s: ParsedSeed): Mutation {
  const b = s.bytes;
  const roll = r();
  const m = structuredClone(s.manifest);
  const sections = { ...s.sections };
  if (roll < 0.45) {
    // ---- raw
    const kind = pick(r, ['flip-bits', 'flip-bits', 'flip-header-manifest', 'truncate', 'append', 'set-byte', 'edit-unsealed', 'foreign-unsealed']);
    const out = b.slice();
    switch (kind) {
      case 'flip-bits':
      case 'flip-header-manifest': {
        const n = 1 + int(r, 4);
        const span = kind === 'flip-bits' ? b.length : s.manifestEnd;
        const at: number[] = [];
        for (let i = 0; i < n; i++) {
          const p = int(r, span);
          out[p]! ^= 1 << int(r, 8);
          at.push(p);
        }
        return { cls: 'raw', kind, what: `flip bits at bytes ${at.join(', ')}`, bytes: out };
      }
      case 'truncate': {
        const n = r() < 0.5 ? int(r, b.length) : b.length - 1 - int(r, 64);
        return { cls: 'raw', kind, what: `cut to ${Math.max(0, n)} bytes`, bytes: b.slice(0, Math.max(0, n)) };
      }
      case 'append': {
        const n = 1 + int(r, 64);
        const zeros = r() < 0.5;
        const o = new Uint8Array(b.length + n);
        o.set(b);
        if (!zeros) for (let i = b.length; i < o.length; i++) o[i] = int(r, 256);
        return { cls: 'raw', kind, what: `append ${n} ${zeros ? 'zero' : 'random'} bytes`, bytes: o };
      }
      case 'set-byte': {
        const p = int(r, b.length);
        const v = int(r, 256);
        out[p] = v;
        return { cls: 'raw', kind, what: `byte ${p} = ${v}`, bytes: out };
      }
      case 'edit-unsealed': {
        const e = r() < 0.5 ? randomEdit(r, m) : targetedEdit(r, m, sections);
        e.apply(m, sections);
        return { cls: 'raw', kind, what: `${e.what} (checksum not updated)`, bytes: rebuild(s, m, sections, false) };
      }
      default: {
        const [name, bytes] = foreignSection(r, s);
        sections[name] = bytes;
        return { cls: 'raw', kind: 'foreign-unsealed', what: `add section '${name}' (${bytes.length} bytes), checksum not updated`, bytes: rebuild(s, m, sections, false) };
      }
    }
  }
  // ---- resealed
  const kind = pick(r, ['edit-field', 'edit-field', 'edit-targeted', 'edit-targeted', 'edit-targeted', 'section-table', 'foreign-section', 'flip-manifest', 'header', 'identity']);
  switch (kind) {
    case 'edit-field':
    case 'edit-targeted': {
      const e = kind === 'edit-field' ? randomEdit(r, m) : targetedEdit(r, m, sections);
      e.apply(m, sections);
      return { cls: 'resealed', kind, what: e.what, bytes: rebuild(s, m, sections, true) };
    }
    case 'section-table': {
      const t = tableEdit(r);
      return { cls: 'resealed', kind, what: t.what, bytes: rebuild(s, m, sections, true, t.edit) };
    }
    case 'foreign-section': {
      const [name, bytes] = foreignSection(r, s);
      sections[name] = bytes;
      return { cls: 'resealed', kind, what: `add section '${name}' (${bytes.length} bytes)`, bytes: rebuild(s, m, sections, true) };
    }
    case 'flip-manifest': {
      const out = b.slice();
      const n = 1 + int(r, 3);
      const at: number[] = [];
      for (let i = 0; i < n; i++) {
        const p = s.manifestStart + int(r, s.manifestEnd - s.manifestStart);
        out[p] = pick(r, [out[p]! ^ (1 << int(r, 8)), 0x30 + int(r, 10), 0x2d, 0x2e, 0x22, 0x20]);
        at.push(p);
      }
      return { cls: 'resealed', kind, what: `change manifest bytes ${at.join(', ')}`, bytes: sealV3(out) };
    }
    case 'header': {
      const out = b.slice();
      const v = new DataView(out.buffer);
      const which = pick(r, ['version', 'mlen']);
      if (which === 'version') v.setUint32(8, pick(r, [0, 1, 2, 4, 2 ** 31]), true);
      else v.setUint32(12, v.getUint32(12, true) + pick(r, [-1, 1, 16, -16, 2 ** 31, 2 ** 32 - 20]), true);
      return { cls: 'resealed', kind, what: `header ${which} changed`, bytes: sealV3(out) };
    }
    default:
      return { cls: 'resealed', kind: 'identity', what: 're-assembled without changes', bytes: rebuild(s, m, sections, true) };
  }
}

const sealV3 = (b: Uint8Array): Uint8Array => sealArtifact(b);
