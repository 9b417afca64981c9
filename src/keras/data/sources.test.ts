/**
 * kiln.data file sources, each against an independent encoder or oracle: .npy bytes written
 * with the CLI's writer, CSV text written in the test (header, delimiter, typed and label
 * columns, quotes, bad fields), IDX bytes built by hand and the real Fashion-MNIST files
 * (apt package dataset-fashion-mnist; the test fails naming it when absent), PNG and JPEG encoded
 * with pngjs / jpeg-js (lossless PNG exact, JPEG at quality 100 within a few levels).
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { gunzipSync, gzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import pngjs from 'pngjs';
import jpegjs from 'jpeg-js';
import { writeNpy } from '../../frontend/io/npy.js';
import type { Tensor } from '../backend.js';
import { csv } from './csv.js';
import { decodeImage, images } from './image.js';
import { decodeIdx, idx } from './idx.js';
import { npy } from './npy.js';

const dir = mkdtempSync(join(tmpdir(), 'kiln-data-'));
type XY = { xs: Tensor; ys: Tensor };

describe('file sources', () => {
  it('npy: rows of {xs, ys} arrays from files and bytes', async () => {
    const x = Float32Array.from({ length: 12 }, (_, i) => i / 4);
    const y = Int32Array.of(3, 1, 4);
    writeFileSync(join(dir, 'x.npy'), writeNpy(x, [3, 2, 2]));
    const ds = await npy({ xs: join(dir, 'x.npy'), ys: writeNpy(y, [3]) });
    expect(ds.cardinality).toBe(3);
    const els = (await ds.toArray()) as XY[];
    els.forEach((e, i) => {
      expect(e.xs.shape).toEqual([2, 2]);
      expect(Array.from(e.xs.dataSync())).toEqual(Array.from(x.subarray(i * 4, i * 4 + 4)));
      expect(e.ys.dtype).toBe('i32');
      expect(e.ys.dataSync()[0]).toBe(y[i]);
    });
    await expect(npy(join(dir, 'missing.npy'))).rejects.toThrow(/data\.npy: cannot read '.*missing\.npy'/);
  });

  it('csv: header, delimiter, typed and label columns, quotes; bad fields named by line and column', async () => {
    const rows = [[1.5, 2, 0], [-3, 4.25, 2], [7, 8, 1]];
    const text = `a;b;"label"\n${rows.map((r) => r.join(';')).join('\n')}\n`;
    writeFileSync(join(dir, 'd.csv'), text);
    const ds = await csv(join(dir, 'd.csv'), { delimiter: ';', labelColumn: 'label', dtypes: { label: 'int32' } });
    expect(ds.cardinality).toBe(3);
    const els = (await ds.toArray()) as XY[];
    els.forEach((e, i) => {
      expect(Array.from(e.xs.dataSync())).toEqual(rows[i]!.slice(0, 2));
      expect(e.ys.dtype).toBe('i32');
      expect(e.ys.shape).toEqual([]);
      expect(e.ys.dataSync()[0]).toBe(rows[i]![2]);
    });
    // No header: names given; no label: one feature vector; a quoted field with the delimiter inside.
    const plain = (await (await csv(new TextEncoder().encode('1,"2"\n3,4\n'), { hasHeader: false, columnNames: ['p', 'q'] })).toArray()) as Tensor[];
    expect(plain.map((t) => Array.from(t.dataSync()))).toEqual([[1, 2], [3, 4]]);
    await expect(csv(new TextEncoder().encode('a,b\n1,2\n'), { labelColumn: 'lable' })).rejects.toThrow(/labelColumn 'lable' is not a column \(did you mean 'label'\?\)|labelColumn 'lable' is not a column/);
    const bad = await csv(new TextEncoder().encode('a,b\n1,2\n3,x\n'), { dtypes: { b: 'int32' } });
    await expect(bad.toArray()).rejects.toThrow(/line 3, column 'b' is 'x', not a number/);
    const frac = await csv(new TextEncoder().encode('a,b\n1,2.5\n'), { dtypes: { b: 'i32' } });
    await expect(frac.toArray()).rejects.toThrow(/line 2, column 'b' is '2.5', not an integer/);
    await expect((await csv(new TextEncoder().encode('a,b\n1\n'))).toArray()).rejects.toThrow(/line 2 has 1 fields, the header has 2/);
    await expect(csv(new TextEncoder().encode('a\n1\n'), { delimeter: ';' } as never)).rejects.toThrow(/unknown option 'delimeter' \(did you mean 'delimiter'\?\)/);
  });

  it('idx: hand-built big-endian files (gzip or not) and header errors', async () => {
    // u8 images [2, 2, 3] and i32 values [3], written byte by byte.
    const img = Uint8Array.of(0, 0, 0x08, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3, ...Array.from({ length: 12 }, (_, i) => i * 20));
    const ints = new Uint8Array(4 + 4 + 12);
    const v = new DataView(ints.buffer);
    v.setUint32(0, 0x0c01); v.setUint32(4, 3);
    [-5, 70000, 9].forEach((x, i) => v.setInt32(8 + 4 * i, x));
    const a = decodeIdx(img);
    expect(a.shape).toEqual([2, 2, 3]);
    expect(Array.from(a.data)).toEqual(Array.from({ length: 12 }, (_, i) => i * 20));
    expect(Array.from(decodeIdx(ints).data)).toEqual([-5, 70000, 9]);
    const ds = await idx({ xs: new Uint8Array(gzipSync(img)), ys: Uint8Array.of(0, 0, 8, 1, 0, 0, 0, 2, 7, 9) }, { normalize: true, channelsLast: true });
    const els = (await ds.toArray()) as XY[];
    expect(els[1]!.xs.shape).toEqual([2, 3, 1]);
    expect(els[1]!.xs.dataSync()[5]).toBeCloseTo((11 * 20) / 255, 6);
    expect(els.map((e) => [e.ys.dtype, e.ys.dataSync()[0]])).toEqual([['i32', 7], ['i32', 9]]);
    expect(() => decodeIdx(Uint8Array.of(0, 0, 8, 1, 0, 0, 0, 5, 1, 2))).toThrow(/shape \[5\] of u8 needs 13 bytes, the data has 10/);
    expect(() => decodeIdx(Uint8Array.of(1, 0, 8, 1))).toThrow(/not an IDX file/);
  });

  it('idx: the real Fashion-MNIST files', async () => {
    const FM = '/usr/share/datasets/fashion-mnist';
    const files = ['t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'];
    const missing = files.filter((f) => !existsSync(join(FM, f)));
    if (missing.length > 0) throw new Error(`${FM} lacks ${missing.join(', ')}: install the Debian package dataset-fashion-mnist (apt-get install dataset-fashion-mnist)`);
    const ds = await idx({ xs: join(FM, files[0]!), ys: join(FM, files[1]!) }, { normalize: true, channelsLast: true });
    expect(ds.cardinality).toBe(10000);
    const batch = (await ds.batch(1000).take(1).toArray())[0] as XY;
    expect(batch.xs.shape).toEqual([1000, 28, 28, 1]);
    // Oracle: the gunzipped file's bytes after the 16-byte header, read directly.
    const raw = gunzipSync(new Uint8Array(readFileSync(join(FM, files[0]!))));
    const px = batch.xs.dataSync();
    for (let i = 0; i < 1000 * 784; i += 997) expect(px[i]).toBeCloseTo(raw[16 + i]! / 255, 6);
    const labRaw = gunzipSync(new Uint8Array(readFileSync(join(FM, files[1]!))));
    expect(Array.from(batch.ys.dataSync().subarray(0, 50))).toEqual(Array.from(labRaw.subarray(8, 58)));
    const counts = new Array(10).fill(0);
    for (const l of batch.ys.dataSync()) counts[l]++;
    expect(counts.every((c) => c > 50)).toBe(true); // ten classes, roughly balanced
  });

  it('images: PNG exact and JPEG close, gray/RGB/RGBA, with labels; bad bytes named', async () => {
    const W = 5, H = 3;
    const rgba = new Uint8Array(W * H * 4);
    for (let p = 0; p < W * H; p++) rgba.set([p * 10, 255 - p * 7, (p * 37) % 256, 200], p * 4);
    const png = new pngjs.PNG({ width: W, height: H });
    png.data = Buffer.from(rgba);
    const pngBytes = new Uint8Array(pngjs.PNG.sync.write(png));
    writeFileSync(join(dir, 'a.png'), pngBytes);
    const t = await decodeImage(join(dir, 'a.png'), { channels: 4, dtype: 'u8' });
    expect(t.shape).toEqual([H, W, 4]);
    expect(Array.from(t.dataSync())).toEqual(Array.from(rgba));
    const gray = await decodeImage(pngBytes, { channels: 1 });
    expect(gray.dataSync()[4]).toBeCloseTo(0.299 * 40 + 0.587 * (255 - 28) + 0.114 * 148, 3);
    // A flat-colour JPEG at quality 100 decodes within a few levels of its colour.
    const flat = new Uint8Array(16 * 16 * 4);
    for (let p = 0; p < 256; p++) flat.set([200, 100, 50, 255], p * 4);
    const jpg = jpegjs.encode({ data: flat, width: 16, height: 16 }, 100).data;
    const ds = images([pngBytes, new Uint8Array(jpg)], { labels: [3, 8] });
    expect(ds.cardinality).toBe(2);
    const [a, b] = (await ds.toArray()) as XY[];
    expect(a!.xs.shape).toEqual([H, W, 3]);
    expect(Array.from(a!.xs.dataSync().subarray(0, 3))).toEqual([0, 255, 0]);
    expect(b!.xs.shape).toEqual([16, 16, 3]);
    const px = b!.xs.dataSync();
    for (let i = 0; i < px.length; i += 3) {
      expect(Math.abs(px[i]! - 200)).toBeLessThanOrEqual(3);
      expect(Math.abs(px[i + 1]! - 100)).toBeLessThanOrEqual(3);
      expect(Math.abs(px[i + 2]! - 50)).toBeLessThanOrEqual(3);
    }
    expect([a!.ys.dataSync()[0], b!.ys.dataSync()[0]]).toEqual([3, 8]);
    await expect(decodeImage(Uint8Array.of(1, 2, 3, 4))).rejects.toThrow(/neither PNG .* nor JPEG .*01 02 03 04/);
    expect(() => images([pngBytes], { labels: [1, 2] })).toThrow(/1 images but 2 labels/);
  });
});
