/**
 * The container: reads and writes the one-file artifact. Layout (all
 * integers little-endian): 8-byte magic "KILNART\0", u32 format version, u32
 * manifest byte length, the manifest as UTF-8 JSON, then each section's bytes
 * at an offset (from file start) that is a multiple of 16. The manifest's
 * `sections` list says where each one is. Nothing here knows about targets.
 */
import { KilnRuntimeError } from './errors.js';
import { checkManifestHeader, FORMAT_VERSION, versionFor, type Manifest, type ManifestInput, type SectionEntry } from './manifest.js';

const MAGIC = [0x4b, 0x49, 0x4c, 0x4e, 0x41, 0x52, 0x54, 0x00]; // "KILNART\0"
const HEADER_BYTES = 16;
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

/** Parses the container and checks it is complete; section bytes are not copied. */
export function readArtifact(input: Uint8Array | ArrayBuffer): Artifact {
  const bytes = asBytes(input);
  if (bytes.length < 8 || MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new KilnRuntimeError('not a Kiln artifact: bad magic (expected the file to start with "KILNART\\0")');
  }
  if (bytes.length < HEADER_BYTES) {
    throw new KilnRuntimeError(`truncated Kiln artifact: the ${HEADER_BYTES}-byte header is cut off at ${bytes.length} bytes`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(8, true);
  if (version > FORMAT_VERSION) {
    throw new KilnRuntimeError(`artifact format version ${version} is newer than this runtime (supports 1 to ${FORMAT_VERSION}); update kiln/runtime`);
  }
  if (version < 1) throw new KilnRuntimeError(`artifact format version ${version} is invalid (versions start at 1)`);
  const manifestLength = view.getUint32(12, true);
  const manifestEnd = HEADER_BYTES + manifestLength;
  if (manifestEnd > bytes.length) {
    throw new KilnRuntimeError(
      `truncated Kiln artifact: the manifest needs bytes [${HEADER_BYTES}, ${manifestEnd}) but the file has ${bytes.length}`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(bytes.subarray(HEADER_BYTES, manifestEnd)));
  } catch (e) {
    throw new KilnRuntimeError(`invalid artifact manifest: not valid JSON (${(e as Error).message})`);
  }
  const manifest = checkManifestHeader(parsed);
  if (manifest.version !== version) {
    throw new KilnRuntimeError(`invalid artifact manifest: version ${String(manifest.version)} disagrees with the header's format version ${version}`);
  }
  const sections: Record<string, Uint8Array> = {};
  for (const s of manifest.sections) {
    if (Object.prototype.hasOwnProperty.call(sections, s.name)) {
      throw new KilnRuntimeError(`invalid artifact manifest: section '${s.name}' is listed twice`);
    }
    if (s.offset < manifestEnd) {
      throw new KilnRuntimeError(`invalid artifact manifest: section '${s.name}' at byte ${s.offset} overlaps the header or manifest (which end at ${manifestEnd})`);
    }
    if (s.offset + s.length > bytes.length) {
      throw new KilnRuntimeError(
        `truncated Kiln artifact: section '${s.name}' needs bytes [${s.offset}, ${s.offset + s.length}) but the file has ${bytes.length}`,
      );
    }
    sections[s.name] = bytes.subarray(s.offset, s.offset + s.length);
  }
  return { manifest, sections };
}

const align = (n: number): number => Math.ceil(n / SECTION_ALIGN) * SECTION_ALIGN;

function layout(manifestBytes: number, sizes: [string, number][]): SectionEntry[] {
  let at = align(HEADER_BYTES + manifestBytes);
  return sizes.map(([name, length]) => {
    const e = { name, offset: at, length };
    at = align(at + length);
    return e;
  });
}

/**
 * Serializes an artifact. `manifest.sections` is computed here (any value
 * passed in is replaced), in the order the sections are given. `version` is
 * set too: the lowest format version that holds the manifest.
 */
export function writeArtifact(a: { manifest: ManifestInput; sections: Record<string, Uint8Array> }): Uint8Array {
  const entries = Object.entries(a.sections);
  const sizes = entries.map(([n, b]): [string, number] => [n, b.length]);
  const encoder = new TextEncoder();
  const version = versionFor(a.manifest);
  // Section offsets depend on the manifest length, which depends on the
  // offsets' digits: iterate to the fixed point (two or three rounds).
  let table = layout(0, sizes);
  let json = encoder.encode('');
  for (let round = 0; ; round++) {
    json = encoder.encode(JSON.stringify({ ...a.manifest, format: 'kiln', version, sections: table }));
    const next = layout(json.length, sizes);
    if (next.every((e, i) => e.offset === table[i]!.offset)) break;
    if (round === 8) throw new KilnRuntimeError('writeArtifact: section layout did not converge');
    table = next;
  }
  const last = table[table.length - 1];
  const total = last ? last.offset + last.length : HEADER_BYTES + json.length;
  const out = new Uint8Array(total);
  out.set(MAGIC, 0);
  const view = new DataView(out.buffer);
  view.setUint32(8, version, true);
  view.setUint32(12, json.length, true);
  out.set(json, HEADER_BYTES);
  entries.forEach(([, b], i) => out.set(b, table[i]!.offset));
  return out;
}
