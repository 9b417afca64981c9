/**
 * Crash-safe file writes. Every file Kiln writes (artifacts, model.save, checkpoints) goes to a
 * temporary name in the same directory, is flushed to disk (fsync), renamed over the target, and
 * the directory is synced, so a reader sees either the old file or the whole new one, never a
 * truncated one, whatever moment the process dies. Node only: node:fs is imported on first use,
 * so browser bundles that never write files don't load it.
 */
import { nodeHost } from '../../host/node.js';

export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  await writeFilesAtomic([{ path, data }]);
}

/**
 * Write several files, each atomically (temp name, fsync, rename), then sync each directory once.
 * Files are renamed in the order given: put the file that refers to the others (model.json) last,
 * so a crash never leaves it pointing at missing or partial shards.
 */
export async function writeFilesAtomic(files: readonly { path: string; data: Uint8Array | string }[]): Promise<void> {
  const fs = nodeHost('writing files').fsp;
  const { dirname, basename, join } = nodeHost('writing files').path;
  const temps: { tmp: string; path: string }[] = [];
  try {
    for (const { path, data } of files) {
      const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`);
      const fh = await fs.open(tmp, 'w');
      try {
        await fh.writeFile(data);
        await fh.sync();
      } finally {
        await fh.close();
      }
      temps.push({ tmp, path });
    }
    for (const { tmp, path } of temps) await fs.rename(tmp, path);
    temps.length = 0;
  } finally {
    for (const { tmp } of temps) await fs.rm(tmp, { force: true });
  }
  for (const dir of new Set(files.map((f) => dirname(f.path)))) await syncDir(fs, dir);
}

async function syncDir(fs: typeof import('node:fs/promises'), dir: string): Promise<void> {
  let fh: import('node:fs/promises').FileHandle | undefined;
  try {
    fh = await fs.open(dir, 'r');
    await fh.sync();
  } catch {
    // Some file systems refuse fsync on a directory; the rename is still atomic there.
  } finally {
    await fh?.close();
  }
}
