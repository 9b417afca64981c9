/**
 * Builds artifact files byte by byte, trusting nothing: any manifest value
 * (invalid ones included), any header version, the section table either laid
 * out here or taken as given. The fuzzer and the validator tests use it to
 * make files writeArtifact never would, and re-seal them (a correct
 * checksum) so the structural checks behind the checksum are what answers.
 */
import { bindCode, manifestDigest } from '../../src/runtime/binding.js';
import { sealArtifact } from '../../src/runtime/artifact.js';

const MAGIC = [0x4b, 0x49, 0x4c, 0x4e, 0x41, 0x52, 0x54, 0x00];
const align = (n: number): number => Math.ceil(n / 16) * 16;

export interface AssembleOptions {
  /** Header version (default: manifest.version, else 3). 1 and 2 get the 16-byte header, 3 the 20-byte one with a checksum. */
  version?: number;
  /** Keep manifest.sections as given (offsets are still where the bytes go, from the laid-out table). */
  keepTable?: (table: { name: string; offset: number; length: number }[]) => unknown;
  /** Re-bind code sections to this (edited) manifest: a consistent forgery. Default false. */
  rebind?: boolean;
  /** Bytes reserved for the manifest (padded with spaces); default: its length. */
  reserve?: number;
}

/**
 * Lays out `sections` after the manifest like writeArtifact and writes
 * `manifest` (any JSON value) with the resulting table, or with the table
 * `keepTable` returns for it. Version 3 files are sealed.
 */
export function assemble(manifest: unknown, sections: Record<string, Uint8Array>, o: AssembleOptions = {}): Uint8Array {
  const m = manifest as Record<string, unknown> | null;
  const version = o.version ?? (typeof m?.version === 'number' ? m.version : 3);
  const header = version >= 3 ? 20 : 16;
  let entries = Object.entries(sections);
  if (o.rebind && m) {
    const lengths = entries.map(([n, b]): [string, number] => [n, b.length]);
    entries = entries.map(([n, b]) => [n, n === 'wasm' || n === 'wasm-relaxed' || n === 'ptx' ? bindCode(n, b, manifestDigest(m, n, lengths)) : b]);
  }
  const json = (table: unknown): Uint8Array =>
    new TextEncoder().encode(JSON.stringify(m === null || typeof m !== 'object' || Array.isArray(m) ? m : { ...m, sections: table }));
  // Lay out with room for the manifest's final length (offsets may grow by a few digits).
  let reserve = o.reserve ?? 0;
  let table: { name: string; offset: number; length: number }[] = [];
  let text: Uint8Array = new Uint8Array(0);
  for (let round = 0; round < 8; round++) {
    let at = align(header + reserve);
    table = entries.map(([name, b]) => {
      const e = { name, offset: at, length: b.length };
      at = align(at + b.length);
      return e;
    });
    text = json(o.keepTable ? o.keepTable(structuredClone(table)) : table);
    if (text.length <= reserve) break;
    reserve = text.length + 16;
  }
  const mlen = Math.max(reserve, text.length);
  const last = table[table.length - 1];
  const total = last ? last.offset + last.length : header + mlen;
  const out = new Uint8Array(Math.max(total, header + mlen));
  out.set(MAGIC, 0);
  const view = new DataView(out.buffer);
  view.setUint32(8, version, true);
  view.setUint32(12, mlen, true);
  out.fill(0x20, header, header + mlen);
  out.set(text, header);
  entries.forEach(([, b], i) => out.set(b, table[i]!.offset));
  return version >= 3 ? sealArtifact(out) : out;
}
