/**
 * Test helpers for src/cli: run `kiln` in-process with captured output, and temp directories.
 * Tests only.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from './main.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `kiln ...argv` in `cwd`; resolves to its exit code and everything it printed. */
export async function kiln(argv: readonly string[], cwd: string, env: Record<string, string | undefined> = {}): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env,
    cwd,
  });
  return { code, stdout, stderr };
}

/** A fresh temp directory and a function that removes it. */
export function tempDir(prefix = 'kiln-cli-'): { dir: string; path: (name: string) => string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, path: (name) => join(dir, name), remove: () => rmSync(dir, { recursive: true, force: true }) };
}
