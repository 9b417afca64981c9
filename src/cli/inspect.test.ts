import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileEntries } from '../compile.js';
import { parseFunc } from '../ir/parse.js';
import { literal } from '../ir/literal.js';
import { writeArtifact, type ManifestInput } from '../runtime/index.js';
import { kiln, tempDir } from './test_util.js';
import { cnnPair, writeIr } from './test_models.js';

const t = tempDir();
afterAll(t.remove);

interface RawSection { name: string; offset: number; length: number }
interface RawManifest {
  version: number; target: string; name: string;
  inputs: { name: string; shape: number[]; dtype: string }[];
  outputs: { name: string; shape: number[]; dtype: string }[];
  kernels: { name: string; work: number }[];
  memory: { pages: number; arenaBytes: number; shared: boolean };
  weights?: { length: number; offset: number };
  sections: RawSection[];
  cuda?: { sm: number; launches: { grid: number[]; block: number[] }[] };
}

/**
 * The manifest read by the container layout itself (docs/artifact-format.md: u32 version at byte 8,
 * u32 manifest length at 12, JSON after the 16-byte header, 20 bytes from version 3), not by readArtifact.
 */
function rawManifest(file: string): { m: RawManifest; size: number } {
  const bytes = new Uint8Array(readFileSync(t.path(file)));
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const at = dv.getUint32(8, true) >= 3 ? 20 : 16;
  const len = dv.getUint32(12, true);
  return { m: JSON.parse(new TextDecoder().decode(bytes.subarray(at, at + len))) as RawManifest, size: bytes.length };
}

const n = (x: number) => x.toLocaleString('en-US');

beforeAll(async () => {
  const { model } = await cnnPair();
  writeIr(model, [[1, 8, 8, 3]], t.path('cnn.txt'));
  for (const extra of [[], ['--target', 'cuda']]) {
    const out = extra.length ? 'cnn_cuda.kiln' : 'cnn.kiln';
    const r = await kiln(['compile', 'cnn.txt', '-o', out, ...extra], t.dir);
    if (r.code !== 0) throw new Error(r.stderr);
  }
  // A version-2 artifact: resident state 'w', a default entry that updates it, and an 'eval' entry.
  const step = parseFunc(`func @step(%w: f32[4], %x: f32[4]) -> (w2: f32[4], total: f32[]) {
  %0 = add(%w, %x) : f32[4]
  %1 = reduce(%0) {op=sum, axes=[0]} : f32[]
  return %0, %1
  aliases {0: %w}
}`);
  const evalFn = parseFunc(`func @eval(%w: f32[4], %x: f32[4]) -> (y: f32[4]) {
  %0 = mul(%w, %x) : f32[4]
  return %0
}`);
  const art = compileEntries([{ name: 'step', func: step }, { name: 'eval', func: evalFn }],
    [{ name: 'w', value: literal([4], 'f32', Float32Array.from([1, 2, 3, 4])) }], { threads: false });
  writeFileSync(t.path('train.kiln'), art.bytes);
});

describe('kiln inspect', () => {
  it('shows target, version, signature, kernels, memory plan and sections as the file holds them', async () => {
    const r = await kiln(['inspect', 'cnn.kiln'], t.dir);
    expect(r.code).toBe(0);
    const { m, size } = rawManifest('cnn.kiln');
    const out = r.stdout;
    expect(out).toMatch(new RegExp(`^cnn.kiln: Kiln artifact, format version ${m.version}, target wasm, name '${m.name}', created by kiln `));
    expect(out).toContain(`size: ${n(size)} bytes`);
    expect(out).toMatch(/^ {2}input +input +f32\[1,8,8,3\]$/m);
    expect(out).toMatch(/^ {2}output +out0 +f32\[1,5\]$/m);
    expect(out).toMatch(new RegExp(`size: ${n(size)} bytes .*${m.version >= 3 ? '; checksum \\(CRC-32C\\) verified' : ''}`));
    expect(out).toContain(`kernels: ${m.kernels.length} (`);
    m.kernels.forEach((k, i) => expect(out).toMatch(new RegExp(`^ {2}${i} +${k.name} +work ${k.work}\\b`, 'm')));
    expect(out).toMatch(new RegExp(`linear memory +${n(m.memory.pages * 65536)} bytes .*${m.memory.pages} pages?, shared`));
    expect(out).toMatch(new RegExp(`arena +${n(m.memory.arenaBytes)} bytes`));
    expect(out).toMatch(new RegExp(`weights +${n(m.weights!.length)} bytes .*at offset ${m.weights!.offset}`));
    expect(out).toContain('state: none');
    expect(out).toContain(`sections: ${m.sections.length}`);
    for (const s of m.sections) expect(out).toMatch(new RegExp(`^ {2}${s.name} +${n(s.length)} bytes.* at byte ${s.offset}$`, 'm'));
    expect(m.sections.map((s) => s.name)).toContain('weights');
  });

  it('shows the entries and resident state of a training artifact, and the launches of a CUDA one', async () => {
    const r = await kiln(['inspect', 'train.kiln'], t.dir);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/format version [2-9], target wasm/);
    expect(r.stdout).toContain("signature (entry 'step', the default):");
    expect(r.stdout).toMatch(/^ {2}input +x +f32\[4\]\n {2}output +total +f32\[\]$/m);
    expect(r.stdout).toMatch(/^entry 'eval' \(1 kernel launch\):\n {2}input +x +f32\[4\]\n {2}output +y +f32\[4\]$/m);
    expect(r.stdout).toMatch(/^state: 1 resident tensor\n {2}w {2}f32\[4\] {2}initial value at state\+0$/m);
    expect(r.stdout).toMatch(/not shared \(single thread\)/);
    const c = await kiln(['inspect', 'cnn_cuda.kiln'], t.dir);
    expect(c.code).toBe(0);
    const { m } = rawManifest('cnn_cuda.kiln');
    expect(c.stdout).toMatch(/target cuda/);
    expect(c.stdout).toMatch(new RegExp(`^cuda: sm_${m.cuda!.sm}, device memory `, 'm'));
    m.kernels.forEach((k, i) => {
      const l = m.cuda!.launches[i]!;
      expect(c.stdout).toMatch(new RegExp(`^ {2}${i} +${k.name} +work ${k.work} +grid ${l.grid.join('x')} block ${l.block.join('x')}`, 'm'));
    });
    expect(c.stdout).toMatch(/^ {2}ptx +[\d,]+ bytes/m);
  });

  it('--json prints the manifest itself', async () => {
    const r = await kiln(['inspect', '--json', 'cnn.kiln'], t.dir);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(rawManifest('cnn.kiln').m);
  });

  it('refuses what is not a readable artifact (exit 1) and bad usage (exit 2)', async () => {
    const good = new Uint8Array(readFileSync(t.path('cnn.kiln')));
    writeFileSync(t.path('text.kiln'), 'hello');
    writeFileSync(t.path('cut.kiln'), good.subarray(0, good.length - 100));
    writeFileSync(t.path('badkernels.kiln'), writeArtifact({
      manifest: { ...(rawManifest('cnn.kiln').m as unknown as ManifestInput), weights: undefined, kernels: 'none' as never },
      sections: { wasm: new Uint8Array(8) },
    }));
    const fails: [string, RegExp][] = [
      ['text.kiln', /^kiln inspect: error: 'text.kiln': not a Kiln artifact: bad magic/],
      ['cut.kiln', /^kiln inspect: error: 'cut.kiln': (damaged Kiln artifact: checksum mismatch .* the file was truncated|truncated Kiln artifact)/],
      ['badkernels.kiln', /^kiln inspect: error: 'badkernels.kiln': invalid artifact manifest: .*kernels must be an array/],
      ['missing.kiln', /^kiln inspect: error: cannot read artifact 'missing.kiln': no such file or directory/],
    ];
    for (const [file, msg] of fails) {
      const r = await kiln(['inspect', file], t.dir);
      expect(r.stderr).toMatch(msg);
      expect(r.code).toBe(1);
    }
    const usage: [string[], RegExp][] = [
      [[], /'kiln inspect' needs <file.kiln>: the artifact to inspect/],
      [['a.kiln', 'b.kiln'], /unexpected argument 'b.kiln' for 'kiln inspect'/],
      [['cnn.kiln', '--jsn'], /unknown flag '--jsn' for 'kiln inspect'; did you mean '--json'\?/],
    ];
    for (const [argv, msg] of usage) {
      const r = await kiln(['inspect', ...argv], t.dir);
      expect(r.stderr).toMatch(msg);
      expect(r.code).toBe(2);
    }
  });
});
