/**
 * Crash-safe writes: a process killed (SIGKILL) at random moments while it rewrites a file with
 * writeFileAtomic leaves either the previous complete file or the new complete one, never a
 * truncated or mixed one, and no temporary files survive a successful write.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { build } from 'esbuild';
import { writeFileAtomic, writeFilesAtomic } from './atomic.js';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-atomic-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const SIZE = 8 << 20;

/** A whole file is SIZE bytes of one value. */
function whole(file: string): boolean {
  const b = fs.readFileSync(file);
  return b.length === SIZE && b.every((x) => x === b[0]);
}

describe('writeFileAtomic', () => {
  it('writes the bytes, replaces an existing file and leaves no temporary files', async () => {
    const f = path.join(dir, 'a.bin');
    await writeFileAtomic(f, new Uint8Array([1, 2, 3]));
    await writeFileAtomic(f, 'text');
    expect(fs.readFileSync(f, 'utf8')).toBe('text');
    await writeFilesAtomic([{ path: path.join(dir, 'b.bin'), data: new Uint8Array(5) }, { path: path.join(dir, 'c.json'), data: '{}' }]);
    expect(fs.readdirSync(dir).sort()).toEqual(['a.bin', 'b.bin', 'c.json']);
  });

  it('a writer killed at random moments never leaves a partial file', async () => {
    const script = path.join(dir, 'writer.mjs');
    await build({
      stdin: {
        contents: `import { writeFileAtomic } from ${JSON.stringify(path.join(__dirname, 'atomic.ts'))};
          const file = process.argv[2];
          for (let i = 1; ; i++) { await writeFileAtomic(file, new Uint8Array(${SIZE}).fill(i % 250 + 1)); process.stdout.write('.'); }`,
        resolveDir: __dirname, loader: 'ts',
      },
      bundle: true, platform: 'node', format: 'esm', outfile: script, logLevel: 'silent',
    });
    const target = path.join(dir, 'model.bin');
    let seen = 0;
    for (let k = 0; k < 6; k++) {
      const child = spawn(process.execPath, [script, target], { stdio: ['ignore', 'pipe', 'inherit'] });
      // Wait for at least one completed write, then kill at a random point of a later one.
      await new Promise<void>((ok) => child.stdout.once('data', () => ok()));
      await new Promise((ok) => setTimeout(ok, 5 + Math.random() * 60));
      child.kill('SIGKILL');
      await new Promise((ok) => child.once('exit', ok));
      expect(whole(target), `after kill ${k + 1}`).toBe(true);
      seen++;
    }
    expect(seen).toBe(6);
  }, 60_000);
});
