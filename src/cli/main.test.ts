import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { parseArgs, type CommandSpec } from './args.js';
import { kiln, tempDir } from './test_util.js';

const t = tempDir();
afterAll(t.remove);
const ROOT = join(__dirname, '../..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string; bin: Record<string, string> };

describe('kiln (the tool)', () => {
  it('--help lists every command and the exit codes; --version prints package.json\'s version', async () => {
    for (const argv of [['--help'], ['-h'], ['help']]) {
      const r = await kiln(argv, t.dir);
      expect(r.code).toBe(0);
      for (const c of ['compile', 'inspect', 'run', 'bench']) expect(r.stdout).toMatch(new RegExp(`^ {2}${c} +\\S`, 'm'));
      expect(r.stdout).toContain('exit codes: 0 ok, 1 the command failed, 2 bad usage');
    }
    for (const flag of ['--version', '-v']) {
      const v = await kiln([flag], t.dir);
      expect([v.code, v.stdout]).toEqual([0, `kiln ${pkg.version}\n`]);
    }
  });

  it('each command has --help generated from its flags (exit 0, nothing run)', async () => {
    const flags: Record<string, string[]> = {
      compile: ['--output', '--input-shape', '--target', '--sm', '--threads, --no-threads', '--explain', '--outputs', '--inputs', '--layers'],
      inspect: ['--json'],
      run: ['--input', '--output', '--threads', '--preview'],
      bench: ['--threads', '--warmup', '--runs', '--seed'],
    };
    for (const [cmd, names] of Object.entries(flags)) {
      for (const argv of [[cmd, '--help'], [cmd, 'whatever.kiln', '-h'], ['help', cmd]]) {
        const r = await kiln(argv, t.dir);
        expect(r.code).toBe(0);
        expect(r.stderr).toBe('');
        expect(r.stdout).toMatch(new RegExp(`^usage: kiln ${cmd} <`, 'm'));
        for (const f of names) expect(r.stdout).toContain(f);
      }
    }
  });

  it('bad usage at the top level exits 2 naming what was wrong', async () => {
    const cases: [string[], RegExp][] = [
      [[], /^kiln: ahead-of-time compiler/],
      [['complie'], /^kiln: unknown command 'complie'; did you mean 'compile'\?\nrun 'kiln --help' for usage\n$/],
      [['frobnicate'], /^kiln: unknown command 'frobnicate'; valid: 'compile', 'inspect', 'run', 'bench'/],
      [['--verison'], /^kiln: unknown flag '--verison'; did you mean '--version'\? \(flags of a command go after it/],
      [['help', 'inpsect'], /^kiln: unknown command 'inpsect'; did you mean 'inspect'\?/],
    ];
    for (const [argv, msg] of cases) {
      const r = await kiln(argv, t.dir);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.stderr).toMatch(msg);
    }
  });

  it('parses --flag=value, -- before positionals, negative numbers as values, and refuses empty values', () => {
    const spec: CommandSpec = {
      name: 'x', summary: '', positionals: [{ name: 'a', help: 'a file' }],
      flags: [{ name: 'n', kind: 'value', help: '' }, { name: 'l', kind: 'list', help: '' }, { name: 'b', kind: 'boolean', negatable: true, help: '' }],
    };
    const p = parseArgs(spec, ['--n=-3', '--l', 'a', '--l=b', '--no-b', '--', '-file']);
    expect([p.positionals, p.flags.get('n'), p.flags.get('l'), p.flags.get('b')]).toEqual([['-file'], '-3', ['a', 'b'], false]);
    expect(() => parseArgs(spec, ['f', '--n='])).toThrow(/'--n' needs a value/);
    expect(() => parseArgs(spec, ['f', '--n', '--l', 'x'])).toThrow(/'--n' needs a value/);
    expect(() => parseArgs(spec, ['f', '--b', '--no-b'])).toThrow(/'--b' is given twice \(as '--b' and '--no-b'\)/);
  });

  it('an unexpected error is reported as an internal error, its stack only with KILN_DEBUG=1', async () => {
    // A directory where a file is expected makes readFile fail with EISDIR: a clean failure, not internal.
    const dir = await kiln(['inspect', '.'], t.dir);
    expect(dir.code).toBe(1);
    expect(dir.stderr).toBe("kiln inspect: error: cannot read artifact '.': it is a directory\n");
    // An IO object whose stdout throws: the failure is the tool's own, so it says so.
    let err = '';
    const io = (env: Record<string, string>) => ({
      stdout: { write: () => { throw new TypeError('stdout is closed'); } },
      stderr: { write: (s: string) => (err += s) },
      env, cwd: t.dir,
    });
    const { main } = await import('./main.js');
    expect(await main(['--version'], io({}))).toBe(1);
    expect(err).toBe("kiln: internal error: stdout is closed\nthis is a bug in Kiln; run again with KILN_DEBUG=1 for the stack trace and report it\n");
    err = '';
    expect(await main(['--version'], io({ KILN_DEBUG: '1' }))).toBe(1);
    expect(err).toMatch(/^kiln: internal error: stdout is closed\nTypeError: stdout is closed\n\s+at /);
  });
});

const BIN = join(ROOT, pkg.bin['kiln']!);
const built = existsSync(BIN);
describe(`the installed bin (${pkg.bin['kiln']})`, () => {
  it.skipIf(!built)(built ? 'runs as a program: --help, --version, exit codes 0/1/2 from the process'
    : `NOT RUN: ${pkg.bin['kiln']} is not built; run \`npm run build\` first (CI builds before testing)`, async () => {
    const run = async (argv: string[]) => {
      try {
        const { stdout, stderr } = await promisify(execFile)(process.execPath, [BIN, ...argv], { cwd: t.dir });
        return { code: 0, stdout, stderr };
      } catch (e) {
        const x = e as { code: number; stdout: string; stderr: string };
        return { code: x.code, stdout: x.stdout, stderr: x.stderr };
      }
    };
    expect(readFileSync(BIN, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage: kiln <command>/m);
    expect((await run(['--version'])).stdout).toBe(`kiln ${pkg.version}\n`);
    const bad = await run(['compile', 'm.json', '--bogus']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/unknown flag '--bogus'/);
    const fail = await run(['inspect', 'missing.kiln']);
    expect(fail.code).toBe(1);
    expect(fail.stderr).toBe("kiln inspect: error: cannot read artifact 'missing.kiln': no such file or directory\n");
  });
});
