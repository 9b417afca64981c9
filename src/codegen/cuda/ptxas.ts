/**
 * Runs NVIDIA's `ptxas` on PTX text (tests and the GPU bench preparation): the assembler is the
 * authority on whether a module is valid for an architecture, and it needs no GPU. Returns null
 * when ptxas is not installed so callers can skip with a visible reason.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let cached: string | null | undefined;

/** Path of ptxas (PTXAS env var, PATH, or /usr/local/cuda/bin), or null when absent. */
export function findPtxas(): string | null {
  if (cached !== undefined) return cached;
  const candidates = [process.env.PTXAS, 'ptxas', '/usr/local/cuda/bin/ptxas'].filter((x): x is string => !!x);
  for (const c of candidates) {
    try {
      execFileSync(c, ['--version'], { stdio: 'ignore' });
      return (cached = c);
    } catch {
      // try the next one
    }
  }
  return (cached = null);
}

export interface PtxasResult {
  readonly ok: boolean;
  /** ptxas diagnostics (stderr + stdout). */
  readonly log: string;
}

/** Assemble `ptx` for sm_<sm>; `ok` is ptxas's verdict. Throws if ptxas is absent. */
export function assemblePtx(ptx: string, sm: number, opts: { verbose?: boolean } = {}): PtxasResult {
  const bin = findPtxas();
  if (!bin) throw new Error('ptxas not found (set PTXAS or install the CUDA toolkit)');
  const dir = mkdtempSync(join(tmpdir(), 'kiln-ptxas-'));
  try {
    const src = join(dir, 'm.ptx');
    writeFileSync(src, ptx);
    const args = [`-arch=sm_${sm}`, src, '-o', join(dir, 'm.cubin')];
    if (opts.verbose) args.unshift('-v');
    const r = spawnSync(bin, args, { encoding: 'utf8' });
    return { ok: r.status === 0, log: `${r.stderr ?? ''}${r.stdout ?? ''}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
