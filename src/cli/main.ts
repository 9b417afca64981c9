#!/usr/bin/env node
/**
 * The `kiln` command line: argument parsing and dispatch to one file per command (compile,
 * inspect, run, bench). `main(argv, io)` returns the exit code, 0 ok, 1 failed, 2 bad usage, and
 * writes only to the streams it is given, so tests run it in-process. Errors print as one line a
 * person can act on; the stack trace only with KILN_DEBUG=1. Run as a program (the package's
 * `bin`), it uses process.argv and the process's streams.
 */
import { readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { commandHelp, parseArgs, suggestion, UsageError, type CommandSpec, type ParsedArgs } from './args.js';
import { CommandError, type CliContext, type CliIO } from './io.js';
import * as compileCmd from './compile.js';
import * as inspectCmd from './inspect.js';
import * as runCmd from './run.js';
import * as benchCmd from './bench.js';
import { KilnError } from '../ir/types.js';
import { KilnRuntimeError } from '../runtime/errors.js';

export type { CliIO } from './io.js';

interface Command {
  readonly spec: CommandSpec;
  run(args: ParsedArgs, ctx: CliContext): Promise<number>;
}

const COMMANDS: readonly Command[] = [compileCmd, inspectCmd, runCmd, benchCmd];

/** The package version, from package.json (two levels up from src/cli and from dist/cli alike). */
export function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

function toolHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.spec.name.length)) + 2;
  return [
    'kiln: ahead-of-time compiler for Keras / TensorFlow.js models (WebAssembly SIMD, CUDA PTX)',
    '',
    'usage: kiln <command> [arguments] [flags]',
    '',
    'commands:',
    ...COMMANDS.map((c) => `  ${c.spec.name.padEnd(width)}${c.spec.summary}`),
    '',
    'flags:',
    '  -h, --help     show help (kiln <command> --help for a command\'s flags)',
    '  -v, --version  show the version',
    '',
    'exit codes: 0 ok, 1 the command failed, 2 bad usage. KILN_DEBUG=1 prints stack traces.',
    '',
  ].join('\n');
}

/** Runs the kiln command line `argv` (the words after `kiln`); resolves to the exit code. */
export async function main(argv: readonly string[], io: CliIO): Promise<number> {
  const ctx: CliContext = { stdout: io.stdout, stderr: io.stderr, env: io.env ?? process.env, cwd: io.cwd ?? process.cwd() };
  const debug = ctx.env['KILN_DEBUG'] === '1';
  const [first, ...rest] = argv;
  let command: Command | undefined;
  try {
    if (first === undefined) {
      ctx.stderr.write(toolHelp());
      return 2;
    }
    if (first === '--help' || first === '-h' || first === 'help') {
      const about = first === 'help' ? rest[0] : undefined;
      if (about !== undefined) {
        const c = COMMANDS.find((x) => x.spec.name === about);
        if (!c) throw new UsageError(`unknown command '${about}'; ${suggestion(about, COMMANDS.map((x) => x.spec.name))}`);
        ctx.stdout.write(commandHelp(c.spec));
      } else {
        ctx.stdout.write(toolHelp());
      }
      return 0;
    }
    if (first === '--version' || first === '-v') {
      ctx.stdout.write(`kiln ${version()}\n`);
      return 0;
    }
    command = COMMANDS.find((c) => c.spec.name === first);
    if (!command) {
      const names = COMMANDS.map((c) => c.spec.name);
      if (first.startsWith('-')) throw new UsageError(`unknown flag '${first}'; ${suggestion(first, ['--help', '--version'])} (flags of a command go after it: kiln <command> --help)`);
      throw new UsageError(`unknown command '${first}'; ${suggestion(first, names)}`);
    }
    const args = parseArgs(command.spec, rest);
    if (args.help) {
      ctx.stdout.write(commandHelp(command.spec));
      return 0;
    }
    return await command.run(args, ctx);
  } catch (e) {
    const who = command ? `kiln ${command.spec.name}` : 'kiln';
    if (e instanceof UsageError) {
      const helpWith = e.command ?? command?.spec.name;
      ctx.stderr.write(`${who}: ${e.message}\n${helpWith ? `run 'kiln ${helpWith} --help' for usage` : "run 'kiln --help' for usage"}\n`);
      if (debug) ctx.stderr.write(`${e.stack}\n`);
      return 2;
    }
    if (e instanceof CommandError || e instanceof KilnError || e instanceof KilnRuntimeError) {
      ctx.stderr.write(`${who}: error: ${e.message}\n`);
      if (debug) ctx.stderr.write(`${e.stack}\n`);
      return 1;
    }
    const err = e instanceof Error ? e : new Error(String(e));
    ctx.stderr.write(`${who}: internal error: ${err.message}\n`);
    ctx.stderr.write(debug ? `${err.stack}\n` : 'this is a bug in Kiln; run again with KILN_DEBUG=1 for the stack trace and report it\n');
    return 1;
  }
}

/** True when this file is the program node started (directly or through the npm bin link). */
function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr }).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`kiln: internal error: ${String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
