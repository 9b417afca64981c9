/**
 * The container: reads and writes the one-file artifact. Layout (all
 * integers little-endian): 8-byte magic "KILNART\0", u32 format version, u32
 * manifest byte length, (version 3) u32 CRC-32C of the whole file but these
 * four bytes, the manifest as UTF-8 JSON, then each section's bytes at an
 * offset (from file start) that is a multiple of 16. The manifest's
 * `sections` list says where each one is. readArtifact verifies the checksum
 * before parsing anything and the container structure (validate.ts) before
 * returning. Nothing here knows about targets.
 */
import { bindCode, isCodeSection, manifestDigest } from './binding.js';
import { crc32c } from './checksum.js';
import { KilnRuntimeError } from './errors.js';
import { CONTROL_FORMAT_VERSION, FORMAT_VERSION, PLAIN_FORMAT_VERSION, type Manifest, type ManifestInput, type SectionEntry } from './manifest.js';
import { validateContainer } from './validate.js';

const MAGIC = [0x4b, 0x49, 0x4c, 0x4e, 0x41, 0x52, 0x54, 0x00]; // "KILNART\0"
/** Header bytes: 16 up to version 2, 20 from version 3 (the checksum). */
const headerBytes = (version: number): number => (version >= 3 ? 20 : 16);
const CRC_AT = 16;
const SECTION_ALIGN = 16;

export interface Artifact {
  manifest: Manifest;
  /** Section bytes by name: views into the input, not copies. */
  sections: Record<string, Uint8Array>;
}

function asBytes(bytes: Uint8Array | ArrayBuffer): Uint8Array {
  if (bytes instanceof Uint8Array) return bytes;
  if (bytes instanceof ArrayBuffer) return new Uint8Array(bytes);
  throw new KilnRuntimeError(`an artifact must be a Uint8Array or ArrayBuffer, got ${Object.prototype.toString.call(bytes)}`);
}

/** The version-3 checksum: CRC-32C of bytes [0, 16) then [20, end). */
export function artifactChecksum(bytes: Uint8Array): number {
  return crc32c(bytes.subarray(CRC_AT + 4), crc32c(bytes.subarray(0, CRC_AT)));
}

/** Recomputes a version-3 file's checksum in place (tools and tests that edit artifacts on purpose). */
export function sealArtifact(bytes: Uint8Array): Uint8Array {
  new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).setUint32(CRC_AT, artifactChecksum(bytes), true);
  return bytes;
}

/** Parses the container, verifies its checksum and structure; section bytes are not copied. */
export function readArtifact(input: Uint8Array | ArrayBuffer): Artifact {
  const bytes = asBytes(input);
  if (bytes.length < 8 || MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new KilnRuntimeError('not a Kiln artifact: bad magic (expected the file to start with "KILNART\\0")');
  }
  if (bytes.length < 16) throw new KilnRuntimeError(`truncated Kiln artifact: the header is cut off at ${bytes.length} bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(8, true);
  if (version > FORMAT_VERSION) {
    throw new KilnRuntimeError(`artifact format version ${version} is newer than this runtime (supports 1 to ${FORMAT_VERSION}); update kiln/runtime`);
  }
  if (version < 1) throw new KilnRuntimeError(`artifact format version ${version} is invalid (versions start at 1)`);
  const header = headerBytes(version);
  if (bytes.length < header) throw new KilnRuntimeError(`truncated Kiln artifact: the ${header}-byte header is cut off at ${bytes.length} bytes`);
  if (version >= 3) {
    const stored = view.getUint32(CRC_AT, true);
    const actual = artifactChecksum(bytes);
    if (stored !== actual) {
      throw new KilnRuntimeError(
        `damaged Kiln artifact: checksum mismatch (the header stores CRC-32C ${stored.toString(16).padStart(8, '0')}, the ${bytes.length}-byte file has ${actual.toString(16).padStart(8, '0')}); the file was truncated, extended or changed after it was written`,
      );
    }
  }
  const manifestLength = view.getUint32(12, true);
  const manifestEnd = header + manifestLength;
  if (manifestEnd > bytes.length) {
    throw new KilnRuntimeError(`truncated Kiln artifact: the manifest needs bytes [${header}, ${manifestEnd}) but the file has ${bytes.length}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(header, manifestEnd)));
  } catch (e) {
    throw new KilnRuntimeError(`invalid artifact manifest: not valid UTF-8 JSON (${(e as Error).message})`);
  }
  const manifest = validateContainer(parsed, version, manifestEnd, bytes);
  const sections: Record<string, Uint8Array> = {};
  for (const s of manifest.sections) sections[s.name] = bytes.subarray(s.offset, s.offset + s.length);
  return { manifest, sections };
}

const align = (n: number): number => Math.ceil(n / SECTION_ALIGN) * SECTION_ALIGN;

function layout(start: number, sizes: [string, number][]): SectionEntry[] {
  let at = align(start);
  return sizes.map(([name, length]) => {
    const e = { name, offset: at, length };
    at = align(at + length);
    return e;
  });
}

/**
 * Serializes an artifact: version 5 when the weights are encoded, else 4 when a schedule has a
 * loop or a branch, else 3. `manifest.sections`,
 * `format` and `version` are set here (values passed in are replaced);
 * sections are laid out in the order given. Code sections ('wasm',
 * 'wasm-relaxed', 'ptx') get the manifest's binding digest (binding.ts);
 * the header gets the checksum.
 */
export function writeArtifact(a: { manifest: ManifestInput; sections: Record<string, Uint8Array> }): Uint8Array {
  const hasControl = (s: unknown[] | undefined): boolean => !!s?.some((e) => typeof e !== 'number');
  const m = a.manifest;
  const control = hasControl(m.schedule) || Object.values(m.entries ?? {}).some((e) => hasControl(e.schedule));
  const version = m.weights?.encoding ? FORMAT_VERSION : control ? CONTROL_FORMAT_VERSION : PLAIN_FORMAT_VERSION;
  const header = headerBytes(version);
  const base = { ...a.manifest, format: 'kiln', version };
  const lengths = Object.entries(a.sections).map(([n, b]): [string, number] => [n, b.length]);
  const entries = Object.entries(a.sections).map(([n, b]): [string, Uint8Array] => [n, isCodeSection(n) ? bindCode(n, b, manifestDigest(base, n, lengths)) : b]);
  const sizes = entries.map(([n, b]): [string, number] => [n, b.length]);
  const encoder = new TextEncoder();
  // Section offsets depend on the manifest length, which depends on the
  // offsets' digits: iterate to the fixed point (two or three rounds).
  let table = layout(header, sizes);
  let json = encoder.encode('');
  for (let round = 0; ; round++) {
    json = encoder.encode(JSON.stringify({ ...base, sections: table }));
    const next = layout(header + json.length, sizes);
    if (next.every((e, i) => e.offset === table[i]!.offset)) break;
    if (round === 8) throw new KilnRuntimeError('writeArtifact: section layout did not converge');
    table = next;
  }
  const last = table[table.length - 1];
  const total = last ? last.offset + last.length : header + json.length;
  const out = new Uint8Array(total);
  out.set(MAGIC, 0);
  const view = new DataView(out.buffer);
  view.setUint32(8, version, true);
  view.setUint32(12, json.length, true);
  out.set(json, header);
  entries.forEach(([, b], i) => out.set(b, table[i]!.offset));
  return sealArtifact(out);
}
