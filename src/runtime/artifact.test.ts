import { describe, expect, it } from 'vitest';
import { readArtifact, writeArtifact, KilnRuntimeError, type ManifestInput } from './index.js';

const manifest: ManifestInput = {
  format: 'kiln',
  version: 1,
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
  it('writes the documented header and 16-byte-aligned sections, and reads them back', () => {
    const bytes = writeArtifact({ manifest, sections: { wasm, weights } });
    expect(Array.from(bytes.subarray(0, 8))).toEqual([...'KILNART'].map((c) => c.charCodeAt(0)).concat(0));
    expect(u32(bytes, 8)).toBe(1);
    const mlen = u32(bytes, 12);
    const json = JSON.parse(new TextDecoder().decode(bytes.subarray(16, 16 + mlen)));
    expect(json.format).toBe('kiln');
    expect(json.sections.map((s: { name: string }) => s.name)).toEqual(['wasm', 'weights']);
    for (const s of json.sections) {
      expect(s.offset % 16).toBe(0);
      expect(s.offset).toBeGreaterThanOrEqual(16 + mlen);
    }

    const art = readArtifact(bytes);
    expect(Array.from(art.sections['wasm']!)).toEqual(Array.from(wasm));
    expect(Array.from(art.sections['weights']!)).toEqual(Array.from(weights));
    expect(art.manifest.meta).toEqual(manifest.meta);
    expect(art.manifest.inputs).toEqual(manifest.inputs);
    expect(art.manifest.kernels).toEqual(manifest.kernels);
    // An ArrayBuffer (as fetch().arrayBuffer() gives) reads the same.
    const copy = bytes.slice().buffer;
    expect(Array.from(readArtifact(copy).sections['weights']!)).toEqual([1, 2, 3, 4, 5]);
  });

  it('round-trips empty sections and many sections with a manifest whose length shifts the offsets', () => {
    const sections: Record<string, Uint8Array> = { empty: new Uint8Array(0) };
    for (let i = 0; i < 40; i++) sections[`s${i}`] = new Uint8Array(i * 13).fill(i);
    const art = readArtifact(writeArtifact({ manifest, sections }));
    for (const [name, b] of Object.entries(sections)) expect(Array.from(art.sections[name]!)).toEqual(Array.from(b));
  });

  it('rejects a file that is not an artifact', () => {
    expectError(() => readArtifact(new TextEncoder().encode('\0asm not kiln at all')), /not a Kiln artifact: bad magic/);
    expectError(() => readArtifact(new Uint8Array(3)), /bad magic/);
  });

  it('rejects a newer format version, naming both versions', () => {
    const bytes = writeArtifact({ manifest, sections: { wasm } });
    new DataView(bytes.buffer).setUint32(8, 7, true);
    expectError(() => readArtifact(bytes), /artifact format version 7 is newer than this runtime \(supports 1 to 2\)/);
  });

  it('rejects a file cut inside the header, the manifest, or a section, naming which', () => {
    const bytes = writeArtifact({ manifest, sections: { wasm, weights } });
    const mlen = u32(bytes, 12);
    expectError(() => readArtifact(bytes.subarray(0, 12)), /truncated.*header/);
    expectError(() => readArtifact(bytes.subarray(0, 16 + mlen - 1)), /truncated.*manifest/);
    const table = readArtifact(bytes).manifest.sections;
    const w = table.find((s) => s.name === 'weights')!;
    expectError(() => readArtifact(bytes.subarray(0, w.offset + 2)), /truncated.*section 'weights'/);
    const first = table.find((s) => s.name === 'wasm')!;
    expectError(() => readArtifact(bytes.subarray(0, first.offset + 10)), /truncated.*section 'wasm'/);
  });

  it('rejects a manifest that is not JSON, or whose version disagrees with the header', () => {
    const bytes = writeArtifact({ manifest, sections: { wasm } });
    const broken = bytes.slice();
    broken[16] = 0x7a; // replace the opening '{'
    expectError(() => readArtifact(broken), /not valid JSON/);
    const other = bytes.slice();
    // Claim version 0 in the header: below the first version.
    new DataView(other.buffer).setUint32(8, 0, true);
    expectError(() => readArtifact(other), /version 0 is invalid/);
  });

  it('rejects a manifest with a bad format tag or malformed section table', () => {
    const make = (m: object) => {
      const json = new TextEncoder().encode(JSON.stringify(m));
      const out = new Uint8Array(16 + json.length);
      out.set(new TextEncoder().encode('KILNART\0'));
      new DataView(out.buffer).setUint32(8, 1, true);
      new DataView(out.buffer).setUint32(12, json.length, true);
      out.set(json, 16);
      return out;
    };
    expectError(() => readArtifact(make({ format: 'onnx', version: 1, sections: [] })), /format must be "kiln"/);
    expectError(() => readArtifact(make({ format: 'kiln', version: 1 })), /sections must be an array/);
    expectError(
      () => readArtifact(make({ format: 'kiln', version: 1, sections: [{ name: 'wasm', offset: -4, length: 1 }] })),
      /sections\[0\] \('wasm'\)\.offset must be a non-negative integer/,
    );
    expectError(() => readArtifact(make({ format: 'kiln', version: 2, sections: [] })), /disagrees with the header/);
  });
});
