import { describe, expect, it } from 'vitest';
import { readArtifact, writeArtifact, KilnRuntimeError, type ManifestInput } from './index.js';
import { crc32c } from './checksum.js';
import { assemble } from '../../test/fuzz/assemble.js';
import * as artifactModule from './artifact.js';

const manifest: ManifestInput = {
  format: 'kiln',
  version: 3,
  target: 'wasm',
  name: 'tiny',
  createdBy: 'test',
  inputs: [{ name: 'x', shape: [2, 3], dtype: 'f32', offset: 64 }],
  outputs: [{ name: 'y', shape: [2, 3], dtype: 'f32', offset: 128 }],
  memory: { pages: 1, arenaOffset: 256, arenaBytes: 0, peakBytes: 48, sumIntermediateBytes: 0 },
  weights: { offset: 512, length: 5 },
  kernels: [{ name: 'k', work: 6 }],
  schedule: [0],
  threads: { default: 1 },
  meta: { note: 'ü unicode survives', nested: { a: [1, 2] } },
};

const wasm = Uint8Array.from({ length: 37 }, (_, i) => (i * 7 + 3) & 0xff);
const weights = Uint8Array.from([1, 2, 3, 4, 5]);

function u32(bytes: Uint8Array, at: number): number {
  return new DataView(bytes.buffer, bytes.byteOffset).getUint32(at, true);
}

function expectError(f: () => unknown, message: RegExp): void {
  let caught: unknown;
  try {
    f();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(KilnRuntimeError);
  expect((caught as Error).message).toMatch(message);
}

describe('artifact container', () => {
  it('writes the documented header (version 3, CRC-32C) and 16-byte-aligned sections, and reads them back', () => {
    const bytes = writeArtifact({ manifest, sections: { wasm, weights } });
    expect(Array.from(bytes.subarray(0, 8))).toEqual([...'KILNART'].map((c) => c.charCodeAt(0)).concat(0));
    expect(u32(bytes, 8)).toBe(3);
    const mlen = u32(bytes, 12);
    // The checksum, recomputed from the documented definition: every byte but 16..20.
    const rest = new Uint8Array(bytes.length - 4);
    rest.set(bytes.subarray(0, 16));
    rest.set(bytes.subarray(20), 16);
    expect(u32(bytes, 16)).toBe(crc32c(rest));
    const json = JSON.parse(new TextDecoder().decode(bytes.subarray(20, 20 + mlen)));
    expect(json.format).toBe('kiln');
    expect(json.version).toBe(3);
    expect(json.sections.map((s: { name: string }) => s.name)).toEqual(['wasm', 'weights']);
    for (const s of json.sections) {
      expect(s.offset % 16).toBe(0);
      expect(s.offset).toBeGreaterThanOrEqual(20 + mlen);
    }
    const last = json.sections[1];
    expect(bytes.length).toBe(last.offset + last.length);

    const art = readArtifact(bytes);
    // The code section carries the binding (a 16-byte custom section) after the module's bytes.
    expect(Array.from(art.sections['wasm']!.subarray(0, wasm.length))).toEqual(Array.from(wasm));
    expect(art.sections['wasm']!.length).toBe(wasm.length + 16);
    expect(new TextDecoder().decode(art.sections['wasm']!.subarray(wasm.length + 3, wasm.length + 12))).toBe('kiln.bind');
    expect(Array.from(art.sections['weights']!)).toEqual(Array.from(weights));
    expect(art.manifest.meta).toEqual(manifest.meta);
    expect(art.manifest.inputs).toEqual(manifest.inputs);
    expect(art.manifest.kernels).toEqual(manifest.kernels);
    // An ArrayBuffer (as fetch().arrayBuffer() gives) reads the same.
    const copy = bytes.slice().buffer;
    expect(Array.from(readArtifact(copy).sections['weights']!)).toEqual([1, 2, 3, 4, 5]);
    // Writing what was read gives the same file (the binding is replaced, not stacked).
    expect(Array.from(writeArtifact({ manifest: art.manifest, sections: art.sections }))).toEqual(Array.from(bytes));
  });

  it('round-trips empty sections and many sections with a manifest whose length shifts the offsets', () => {
    const sections: Record<string, Uint8Array> = { empty: new Uint8Array(0) };
    for (let i = 0; i < 40; i++) sections[`s${i}`] = new Uint8Array(i * 13).fill(i);
    const art = readArtifact(writeArtifact({ manifest, sections }));
    for (const [name, b] of Object.entries(sections)) expect(Array.from(art.sections[name]!)).toEqual(Array.from(b));
  });

  it('rejects any changed, missing or added byte by its checksum', () => {
    const bytes = writeArtifact({ manifest, sections: { wasm, weights } });
    for (let i = 0; i < bytes.length; i++) {
      if (i >= 8 && i < 12) continue; // the version: answered by the version check
      const b = bytes.slice();
      b[i] ^= 0x10;
      expectError(() => readArtifact(b), i < 8 ? /bad magic/ : /damaged Kiln artifact: checksum mismatch/);
    }
    const longer = new Uint8Array(bytes.length + 1);
    longer.set(bytes);
    expectError(() => readArtifact(longer), /checksum mismatch \(the header stores CRC-32C [0-9a-f]{8}, the \d+-byte file has [0-9a-f]{8}\)/);
    expectError(() => readArtifact(bytes.subarray(0, bytes.length - 1)), /checksum mismatch/);
  });

  it('still reads format versions 1 and 2 (no checksum: structure only)', () => {
    for (const version of [1, 2]) {
      const bytes = assemble({ ...manifest, version }, { wasm, weights }, { version });
      expect(u32(bytes, 8)).toBe(version);
      const art = readArtifact(bytes);
      expect(art.manifest.version).toBe(version);
      expect(Array.from(art.sections['weights']!)).toEqual(Array.from(weights));
      // Structure is still checked: a non-zero padding byte or a byte appended is refused.
      const w = art.manifest.sections.find((s) => s.name === 'weights')!;
      const padded = bytes.slice();
      padded[w.offset - 1] = 7;
      expectError(() => readArtifact(padded), new RegExp(`padding byte ${w.offset - 1} is 7, not 0`));
      const longer = new Uint8Array(bytes.length + 16);
      longer.set(bytes);
      expectError(() => readArtifact(longer), /16 bytes follow the last section/);
    }
  });

  it('rejects a file that is not an artifact', () => {
    expectError(() => readArtifact(new TextEncoder().encode('\0asm not kiln at all')), /not a Kiln artifact: bad magic/);
    expectError(() => readArtifact(new Uint8Array(3)), /bad magic/);
  });

  it('rejects a newer format version, naming both versions', () => {
    const bytes = writeArtifact({ manifest, sections: { wasm } });
    new DataView(bytes.buffer).setUint32(8, 7, true);
    expectError(() => readArtifact(bytes), /artifact format version 7 is newer than this runtime \(supports 1 to 5\)/);
  });

  it('rejects a file cut inside the header, the manifest, or a section, naming which', () => {
    const bytes = assemble({ ...manifest, version: 2 }, { wasm, weights }, { version: 2 });
    const mlen = u32(bytes, 12);
    expectError(() => readArtifact(bytes.subarray(0, 12)), /truncated.*header/);
    expectError(() => readArtifact(bytes.subarray(0, 16 + mlen - 1)), /truncated.*manifest/);
    const table = readArtifact(bytes).manifest.sections;
    const w = table.find((s) => s.name === 'weights')!;
    expectError(() => readArtifact(bytes.subarray(0, w.offset + 2)), /truncated.*section 'weights' \(manifest\.sections\[1\]\)/);
    const first = table.find((s) => s.name === 'wasm')!;
    expectError(() => readArtifact(bytes.subarray(0, first.offset + 10)), /truncated.*section 'wasm'/);
    expectError(() => readArtifact(writeArtifact({ manifest, sections: { wasm } }).subarray(0, 18)), /truncated.*20-byte header/);
  });

  it('rejects a manifest that is not JSON, or whose version disagrees with the header', () => {
    const broken = assemble({ ...manifest, version: 3 }, { wasm }).slice();
    broken[20] = 0x7a; // replace the opening '{'
    expectError(() => readArtifact(broken), /damaged Kiln artifact: checksum mismatch/);
    const { sealArtifact } = artifactModule;
    expectError(() => readArtifact(sealArtifact(broken)), /not valid UTF-8 JSON/);
    const other = writeArtifact({ manifest, sections: { wasm } });
    // Claim version 0 in the header: below the first version.
    new DataView(other.buffer).setUint32(8, 0, true);
    expectError(() => readArtifact(other), /version 0 is invalid/);
    expectError(() => readArtifact(assemble({ ...manifest, version: 2 }, { wasm }, { version: 3 })), /manifest\.version must be 3 \(the header's format version\), got 2/);
  });

  it('rejects a bad format tag or a malformed section table, naming the field', () => {
    const base = { ...manifest, version: 3 };
    expectError(() => readArtifact(assemble({ ...base, format: 'onnx' }, {})), /manifest\.format must be "kiln", got "onnx"/);
    expectError(() => readArtifact(assemble(null, {})), /manifest must be an object, got null/);
    expectError(() => readArtifact(assemble({ ...base }, {}, { keepTable: () => null })), /manifest\.sections must be an array, got null/);
    const edit = (f: (t: { name: string; offset: number; length: number }[]) => unknown) => assemble(base, { wasm, weights }, { keepTable: f });
    expectError(() => readArtifact(edit((t) => ((t[0]!.offset = -16), t))), /manifest\.sections\[0\]\.offset must be an integer in \[0, 2\^31\), got -16/);
    expectError(() => readArtifact(edit((t) => ((t[1]!.offset += 4), t))), /manifest\.sections\[1\]\.offset must be a multiple of 16, got \d+/);
    expectError(() => readArtifact(edit((t) => ((t[1]!.offset = t[0]!.offset), t))), /section '(wasm|weights)' \(manifest\.sections\[\d\]\) \[\d+, \d+\) overlaps section '(wasm|weights)' .*\(sections must be disjoint\)/);
    expectError(() => readArtifact(edit((t) => ((t[1]!.name = 'wasm'), t))), /manifest\.sections\[1\]\.name must be unique, got "wasm"/);
    expectError(() => readArtifact(edit((t) => ((t[0]!.offset = 16), t))), /manifest\.sections\[0\]\.offset must be at least \d+ \(the end of the header and manifest\), got 16/);
    expectError(() => readArtifact(edit((t) => ((t[1]!.length = 2 ** 32), t))), /manifest\.sections\[1\]\.length must be an integer in \[0, 2\^31\), got 4294967296/);
    expectError(() => readArtifact(edit((t) => [t[0], null])), /manifest\.sections\[1\] must be an object, got null/);
  });
});
