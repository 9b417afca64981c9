/**
 * Command-line parsing for `kiln`: each command declares its flags and positionals once (a
 * CommandSpec), and the same declaration drives parsing, validation and `--help`. Anything the
 * declaration does not allow is a UsageError (exit code 2) naming the flag or value: an unknown
 * flag (with the closest valid one), a missing or extra value, a flag given twice, a missing or
 * extra positional.
 */
import { suggest } from '../runtime/args.js';

/** Bad usage: the command line itself is wrong. `kiln` exits with code 2 and prints `hint`. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  constructor(message: string, readonly command?: string) {
    super(message);
  }
}

export interface FlagSpec {
  /** Long name without dashes: 'input-shape'. */
  readonly name: string;
  /** One-letter alias without the dash: 'o'. */
  readonly short?: string;
  /**
   * 'boolean': present or not (`--no-<name>` too when `negatable`); 'value': one value;
   * 'list': repeatable, values collected in order.
   */
  readonly kind: 'boolean' | 'value' | 'list';
  readonly negatable?: boolean;
  /** Placeholder shown in help: '<file>'. */
  readonly arg?: string;
  readonly help: string;
}

export interface CommandSpec {
  readonly name: string;
  /** One line for `kiln --help`. */
  readonly summary: string;
  /** Positional arguments, in order; all required. */
  readonly positionals: readonly { readonly name: string; readonly help: string }[];
  readonly flags: readonly FlagSpec[];
  /** Extra help text: examples, notes. */
  readonly details?: string;
}

export interface ParsedArgs {
  readonly positionals: readonly string[];
  /** Boolean flags: true/false; value flags: the string; list flags: the strings in order. */
  readonly flags: ReadonlyMap<string, boolean | string | readonly string[]>;
  /** `--help` or `-h` was given. */
  readonly help: boolean;
}

/** " (did you mean 'x'?)" when a candidate is close, else the list of valid names. */
export function suggestion(name: string, candidates: readonly string[]): string {
  const near = suggest(name, candidates);
  return near ? near.trim().replace(/^\((.*)\)$/, '$1') : `valid: ${candidates.map((x) => `'${x}'`).join(', ')}`;
}

const HELP_FLAGS = new Set(['--help', '-h']);

/** Parses `argv` (the words after the command name) against `spec`. */
export function parseArgs(spec: CommandSpec, argv: readonly string[]): ParsedArgs {
  const cmd = `kiln ${spec.name}`;
  const byLong = new Map(spec.flags.map((f) => [f.name, f]));
  const byShort = new Map(spec.flags.filter((f) => f.short).map((f) => [f.short!, f]));
  const flagNames = [...spec.flags.flatMap((f) => [`--${f.name}`, ...(f.negatable ? [`--no-${f.name}`] : []), ...(f.short ? [`-${f.short}`] : [])]), '--help'];
  const flags = new Map<string, boolean | string | string[]>();
  const seen = new Map<string, string>();
  const positionals: string[] = [];
  let help = false;
  let onlyPositionals = false;
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    if (onlyPositionals || word === '-' || !word.startsWith('-') || /^-\d/.test(word)) {
      positionals.push(word);
      continue;
    }
    if (word === '--') {
      onlyPositionals = true;
      continue;
    }
    if (HELP_FLAGS.has(word)) {
      help = true;
      continue;
    }
    const eq = word.indexOf('=');
    const written = eq >= 0 ? word.slice(0, eq) : word;
    const inline = eq >= 0 ? word.slice(eq + 1) : undefined;
    let f: FlagSpec | undefined;
    let negated = false;
    if (written.startsWith('--')) {
      const long = written.slice(2);
      f = byLong.get(long);
      if (!f && long.startsWith('no-')) {
        const g = byLong.get(long.slice(3));
        if (g?.negatable) {
          f = g;
          negated = true;
        }
      }
    } else if (written.length === 2) {
      f = byShort.get(written.slice(1));
    }
    if (!f) throw new UsageError(`unknown flag '${written}' for '${cmd}'; ${suggestion(written, flagNames)}`, spec.name);
    const shown = f.short && written === `-${f.short}` ? `-${f.short}` : `--${f.name}`;
    if (f.kind !== 'list' && seen.has(f.name)) {
      throw new UsageError(`'${shown}' is given twice (as '${seen.get(f.name)}' and '${written}'); give it once`, spec.name);
    }
    seen.set(f.name, written);
    if (f.kind === 'boolean') {
      if (inline !== undefined) throw new UsageError(`'${written}' takes no value (got '${word}'); write '${written}' alone`, spec.name);
      flags.set(f.name, !negated);
      continue;
    }
    let value = inline;
    if (value === undefined) {
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith('-') && !/^-\d/.test(next) && next !== '-')) {
        throw new UsageError(`'${shown}' needs a value: ${shown} ${f.arg ?? '<value>'}`, spec.name);
      }
      value = next;
      i++;
    }
    if (value === '') throw new UsageError(`'${shown}' needs a value: ${shown} ${f.arg ?? '<value>'}`, spec.name);
    if (f.kind === 'list') {
      const list = (flags.get(f.name) as string[] | undefined) ?? [];
      list.push(value);
      flags.set(f.name, list);
    } else {
      flags.set(f.name, value);
    }
  }
  if (!help) {
    if (positionals.length < spec.positionals.length) {
      const missing = spec.positionals[positionals.length]!;
      throw new UsageError(`'${cmd}' needs <${missing.name}>: ${missing.help}`, spec.name);
    }
    if (positionals.length > spec.positionals.length) {
      const extra = positionals[spec.positionals.length]!;
      throw new UsageError(`unexpected argument '${extra}' for '${cmd}' (it takes ${spec.positionals.map((p) => `<${p.name}>`).join(' ') || 'no arguments'} and flags)`, spec.name);
    }
  }
  return { positionals, flags, help };
}

/** The typed accessors commands use on ParsedArgs. */
export function flagValue(a: ParsedArgs, name: string): string | undefined {
  const v = a.flags.get(name);
  return typeof v === 'string' ? v : undefined;
}

export function flagList(a: ParsedArgs, name: string): readonly string[] {
  const v = a.flags.get(name);
  return Array.isArray(v) ? v : [];
}

export function flagBool(a: ParsedArgs, name: string): boolean | undefined {
  const v = a.flags.get(name);
  return typeof v === 'boolean' ? v : undefined;
}

/** Parses a whole number flag value in [min, max], or throws a UsageError naming the flag. */
export function intFlag(a: ParsedArgs, name: string, min: number, max = Number.MAX_SAFE_INTEGER, command?: string): number | undefined {
  const v = flagValue(a, name);
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer in [${min}, ${max}]`;
    throw new UsageError(`--${name} '${v}' is not ${range}`, command);
  }
  return Number(v);
}

/** Parses a value that must be one of `choices`, or throws a UsageError naming the flag. */
export function choiceFlag<T extends string>(a: ParsedArgs, name: string, choices: readonly T[], command?: string): T | undefined {
  const v = flagValue(a, name);
  if (v === undefined) return undefined;
  if (!(choices as readonly string[]).includes(v)) {
    throw new UsageError(`--${name} '${v}' is not one of ${choices.join(', ')}${suggest(v, choices)}`, command);
  }
  return v as T;
}

/** `--help` text for one command, generated from its spec. */
export function commandHelp(spec: CommandSpec): string {
  const usage = [`kiln ${spec.name}`, ...spec.positionals.map((p) => `<${p.name}>`), '[flags]'].join(' ');
  const rows = spec.flags.map((f) => {
    const names = [f.short ? `-${f.short}, ` : '    ', `--${f.name}`, f.negatable ? `, --no-${f.name}` : '', f.arg ? ` ${f.arg}` : ''].join('');
    return [names, f.help + (f.kind === 'list' ? ' (repeatable)' : '')] as const;
  });
  rows.push(['-h, --help', 'show this help']);
  const width = Math.max(...rows.map(([n]) => n.length), ...spec.positionals.map((p) => p.name.length + 2)) + 2;
  const lines = [`${spec.summary}`, '', `usage: ${usage}`, ''];
  if (spec.positionals.length) {
    lines.push('arguments:');
    for (const p of spec.positionals) lines.push(`  ${`<${p.name}>`.padEnd(width)}${p.help}`);
    lines.push('');
  }
  lines.push('flags:');
  for (const [n, h] of rows) lines.push(`  ${n.padEnd(width)}${h}`);
  if (spec.details) lines.push('', spec.details.trimEnd());
  return lines.join('\n') + '\n';
}
