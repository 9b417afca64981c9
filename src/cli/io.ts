/**
 * What every `kiln` command shares: where it writes (stdout/stderr streams given by the caller,
 * so tests run commands in-process), the working directory file names resolve against, the
 * error a command throws when it fails (exit code 1) with a message a person can act on, file
 * reading and crash-safe writing with those messages, and number formatting.
 */
import { readFile } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { writeFileAtomic } from '../frontend/io/atomic.js';

export interface Out {
  write(text: string): unknown;
}

export interface CliIO {
  stdout: Out;
  stderr: Out;
  /** Environment (KILN_DEBUG); default process.env. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Directory relative file names resolve against; default process.cwd(). */
  cwd?: string;
}

export interface CliContext {
  readonly stdout: Out;
  readonly stderr: Out;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
}

/** The command ran and failed (exit code 1): a bad file, a model Kiln cannot compile, a failed run. */
export class CommandError extends Error {
  override readonly name = 'CommandError';
}

export function resolvePath(ctx: CliContext, file: string): string {
  return isAbsolute(file) ? file : resolve(ctx.cwd, file);
}

const FS_REASONS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or directory',
  EISDIR: 'it is a directory',
  ENOTDIR: 'a part of the path is not a directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on the device',
};

function fsReason(e: unknown): string {
  const code = (e as { code?: string }).code;
  return (code && FS_REASONS[code]) ?? (e as Error).message;
}

/** Reads a whole file; a missing or unreadable one is a CommandError naming `what` and the path. */
export async function readBytes(ctx: CliContext, file: string, what: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(resolvePath(ctx, file)));
  } catch (e) {
    throw new CommandError(`cannot read ${what} '${file}': ${fsReason(e)}`);
  }
}

/** Writes a whole file crash-safely (temp file, fsync, rename); failures name `what` and the path. */
export async function writeBytes(ctx: CliContext, file: string, data: Uint8Array | string, what: string): Promise<void> {
  try {
    await writeFileAtomic(resolvePath(ctx, file), data);
  } catch (e) {
    throw new CommandError(`cannot write ${what} '${file}': ${fsReason(e)}`);
  }
}

/** 1234567 -> '1,234,567 bytes (1.18 MiB)'. */
export function formatBytes(n: number): string {
  const exact = `${n.toLocaleString('en-US')} bytes`;
  if (n < 1024) return exact;
  const units = ['KiB', 'MiB', 'GiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${exact} (${v.toFixed(v < 10 ? 2 : 1)} ${units[u]})`;
}

export function formatMs(ms: number): string {
  return ms < 10 ? `${ms.toFixed(2)} ms` : ms < 1000 ? `${ms.toFixed(1)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

/** A value for previews: up to 6 significant digits, integers as they are. */
export function formatValue(x: number): string {
  if (Number.isInteger(x)) return String(x);
  if (!Number.isFinite(x)) return String(x);
  return String(Number(x.toPrecision(6)));
}
