/**
 * Binds a version-3 manifest to its code: the writer stores the CRC-32C of
 * the manifest's program-describing fields (everything but `sections`,
 * `name`, `createdBy` and `meta`) inside each code section, as a custom
 * section "kiln.bind" at the end of a WebAssembly module and as a last
 * comment line `// kiln.bind xxxxxxxx` of PTX text. The file checksum
 * catches damage; this catches a manifest edited and the file re-sealed
 * (a work count, an offset, a kernel name that no longer fits the code).
 */
import { crc32c } from './checksum.js';

const NAME = 'kiln.bind';
const CODE_SECTIONS = new Set(['wasm', 'wasm-relaxed', 'ptx']);

export const isCodeSection = (name: string): boolean => CODE_SECTIONS.has(name);

/**
 * The digest a code section carries, over: the section's name (so the plain and relaxed modules
 * cannot stand in for each other); the file's section names, with the byte length of each data
 * section (so a section renamed, dropped, added or resized is noticed); and the manifest's
 * program-describing fields (as a JSON value, in its key order).
 */
export function manifestDigest(m: object, section: string, sections: Iterable<readonly [string, number]>): number {
  const { sections: _s, name: _n, createdBy: _c, meta: _m, ...rest } = m as Record<string, unknown>;
  const layout = [...sections].map(([n, len]) => (isCodeSection(n) ? n : `${n}:${len}`)).sort();
  const enc = new TextEncoder();
  return crc32c(enc.encode(`${section}\n${layout.join('\n')}\n${JSON.stringify(rest)}`));
}

const hex8 = (d: number): string => d.toString(16).padStart(8, '0');

/** The code without a binding it already ends with (a section read from another artifact). */
function unbound(section: string, code: Uint8Array): Uint8Array {
  if (section === 'ptx') {
    const tail = new TextDecoder().decode(code.subarray(Math.max(0, code.length - 23)));
    return /^\n\/\/ kiln\.bind [0-9a-f]{8}\n$/.test(tail) ? code.subarray(0, code.length - 23) : code;
  }
  const marker = [0, 14, NAME.length, ...[...NAME].map((c) => c.charCodeAt(0))];
  const at = code.length - 16;
  return at >= 8 && marker.every((b, i) => code[at + i] === b) ? code.subarray(0, at) : code;
}

/** The code section with the digest appended (replacing one it already ends with). */
export function bindCode(section: string, input: Uint8Array, digest: number): Uint8Array {
  const code = unbound(section, input);
  if (section === 'ptx') {
    const tail = new TextEncoder().encode(`\n// ${NAME} ${hex8(digest)}\n`);
    const out = new Uint8Array(code.length + tail.length);
    out.set(code);
    out.set(tail, code.length);
    return out;
  }
  const out = new Uint8Array(code.length + 16);
  out.set(code);
  out.set([0, 14, NAME.length, ...[...NAME].map((c) => c.charCodeAt(0))], code.length);
  new DataView(out.buffer).setUint32(code.length + 12, digest, true);
  return out;
}

/**
 * The digest a code section carries, or a sentence saying why there is
 * none. For WebAssembly this walks the module's section list (ids and
 * LEB128 sizes, each inside the module), so it also proves the module's
 * outer structure is sound.
 */
export function boundDigest(section: string, code: Uint8Array): number | string {
  if (section === 'ptx') {
    const tail = new TextDecoder().decode(code.subarray(Math.max(0, code.length - 32)));
    const m = /\n\/\/ kiln\.bind ([0-9a-f]{8})\n$/.exec(tail);
    return m ? parseInt(m[1]!, 16) : `the PTX text does not end with a '// ${NAME}' line`;
  }
  const head = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  if (code.length < 8 || head.some((b, i) => code[i] !== b)) return 'it does not start with the WebAssembly magic and version 1';
  let p = 8;
  const leb = (): number => {
    let v = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (p >= code.length) return -1;
      const b = code[p++]!;
      v += (b & 0x7f) * 2 ** shift;
      if (!(b & 0x80)) return v;
    }
    return -1;
  };
  let found: number | string = `it has no '${NAME}' custom section`;
  while (p < code.length) {
    const at = p;
    const id = code[p++]!;
    const size = leb();
    if (size < 0 || p + size > code.length) return `its section at byte ${at} (id ${id}) runs past the module's end (${code.length} bytes)`;
    const end = p + size;
    if (id === 0) {
      const n = leb();
      if (n >= 0 && p + n <= end && new TextDecoder().decode(code.subarray(p, p + n)) === NAME) {
        if (typeof found === 'number') return `it has two '${NAME}' custom sections`;
        if (end - (p + n) !== 4) return `its '${NAME}' custom section holds ${end - (p + n)} bytes, not 4`;
        found = new DataView(code.buffer, code.byteOffset).getUint32(p + n, true);
      }
    }
    p = end;
  }
  return found;
}
