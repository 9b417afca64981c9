/**
 * `kiln inspect <file.kiln>`: what an artifact holds, read from its container and manifest alone
 * (nothing is compiled or run): target and format version, the signature of each entry point,
 * the kernels and their work, the memory plan, resident state, and the sections with their sizes.
 */
import { readArtifact, KilnRuntimeError, type Artifact, type Manifest, type TensorSpec } from '../runtime/index.js';
import { validateWasm } from '../runtime/validate.js';
import { checkCudaManifest, type CudaSpec } from '../runtime/cuda/manifest.js';
import { flattenSchedule } from '../runtime/schedule.js';
import type { FlagSpec, ScheduleEntry } from '../runtime/manifest.js';
import { flagBool, type CommandSpec, type ParsedArgs } from './args.js';
import { CommandError, formatBytes, readBytes, type CliContext } from './io.js';

export const spec: CommandSpec = {
  name: 'inspect',
  summary: 'Show what a compiled artifact holds: target, signature, kernels, memory plan, state and sections.',
  positionals: [{ name: 'file.kiln', help: 'the artifact to inspect' }],
  flags: [{ name: 'json', kind: 'boolean', help: 'print the manifest as JSON instead' }],
  details: 'example:\n  kiln inspect mobilenet.kiln',
};

const plural = (k: number, one: string, many = `${one}s`): string => `${k} ${k === 1 ? one : many}`;
const tensor = (t: TensorSpec): string => `${t.dtype}[${t.shape.join(',')}]`;

function table(rows: readonly (readonly string[])[], indent: string): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) => indent + r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd());
}

function signature(inputs: readonly TensorSpec[], outputs: readonly TensorSpec[], indent: string): string[] {
  return table([...inputs.map((t) => ['input', t.name, tensor(t)]), ...outputs.map((t) => ['output', t.name, tensor(t)])], indent);
}

/** Loop and branch entries of a schedule, nested by indentation. */
function describeControl(schedule: readonly ScheduleEntry[], indent: string): string[] {
  const flag = (f: FlagSpec) => `flag ${f.dtype} at byte ${f.offset}`;
  const steps = (s: readonly ScheduleEntry[]) => plural(flattenSchedule(s).steps.length, 'kernel step');
  return schedule.flatMap((e) => {
    if (typeof e === 'number') return [];
    if ('loop' in e) {
      const l = e.loop;
      const bound = [l.count !== undefined ? `at most ${l.count} times` : '', l.flag ? `while the ${flag(l.flag)} holds` : ''].filter(Boolean).join(', ');
      return [`${indent}loop${l.note ? ` (${l.note})` : ''}: ${bound}; head ${steps(l.head ?? [])}, body ${steps(l.body)}`,
        ...describeControl([...(l.head ?? []), ...l.body], `${indent}  `)];
    }
    const b = e.branch;
    return [`${indent}branch${b.note ? ` (${b.note})` : ''}: on the ${flag(b.flag)}; then ${steps(b.then)}, else ${steps(b.else)}`,
      ...describeControl([...b.then, ...b.else], `${indent}  `)];
  });
}

/** The artifact as text: one block per aspect. */
export function describeArtifact(art: Artifact, fileBytes: number, file: string): string {
  const m: Manifest = art.manifest;
  const lines: string[] = [];
  lines.push(`${file}: Kiln artifact, format version ${m.version}, target ${m.target}${m.name ? `, name '${m.name}'` : ''}${m.createdBy ? `, created by ${m.createdBy}` : ''}`);
  lines.push(`size: ${formatBytes(fileBytes)}${m.version >= 3 ? '; checksum (CRC-32C) verified' : ''}`);
  const cuda = (m as Manifest & { cuda?: CudaSpec }).cuda;
  if (cuda) lines.push(`cuda: sm_${cuda.sm}, device memory ${formatBytes(cuda.memoryBytes)}`);

  const entryNames = [m.defaultEntry ?? 'main', ...Object.keys(m.entries ?? {})];
  lines.push('', `signature (entry '${entryNames[0]}'${entryNames.length > 1 ? ', the default' : ''}):`);
  lines.push(...signature(m.inputs ?? [], m.outputs ?? [], '  '));
  if (m.batch) lines.push(`  batch: any from 1 to ${m.batch.max} (leading dims listed at ${m.batch.max}; kernels scale their work with it)`);
  for (const [name, e] of Object.entries(m.entries ?? {})) {
    lines.push(`entry '${name}' (${plural(flattenSchedule(e.schedule).steps.length, 'kernel launch', 'kernel launches')}):`);
    lines.push(...signature(e.inputs, e.outputs, '  '));
  }

  const kernels = m.kernels ?? [];
  const totalWork = kernels.reduce((a, k) => a + k.work, 0);
  lines.push('', `kernels: ${kernels.length} (schedule of ${flattenSchedule(m.schedule ?? []).steps.length} launches, ${totalWork.toLocaleString('en-US')} work items in all)`);
  const control = describeControl(m.schedule ?? [], '  ');
  if (control.length > 0) lines.push('', 'control flow (format version 4):', ...control);
  lines.push(...table(kernels.map((k, i) => {
    const launch = cuda?.launches[i];
    return [
      String(i), k.name, `work ${k.work}`,
      ...(m.batch ? [k.batch === undefined ? 'fixed' : typeof k.batch === 'number' ? `${k.batch} per batch item` : `${k.batch[0]} at batch 1`] : []),
      ...(launch ? [`grid ${launch.grid.join('x')} block ${launch.block.join('x')}`] : []),
      k.note ?? '',
    ];
  }), '  '));

  const mem = m.memory ?? { pages: 0 };
  lines.push('', 'memory:');
  const memRows: string[][] = [];
  if (m.target === 'wasm') memRows.push(['linear memory', `${formatBytes(mem.pages * 65536)}, ${plural(mem.pages, 'page')}${mem.shared ? ', shared (compiled for threads)' : ', not shared (single thread)'}`]);
  if (mem.arenaBytes !== undefined) memRows.push(['arena', `${formatBytes(mem.arenaBytes)}${mem.arenaOffset !== undefined ? ` at offset ${mem.arenaOffset}` : ''}`]);
  if (mem.peakBytes !== undefined) memRows.push(['peak intermediates', formatBytes(mem.peakBytes)]);
  if (mem.sumIntermediateBytes !== undefined) memRows.push(['unplanned intermediates', formatBytes(mem.sumIntermediateBytes)]);
  memRows.push(['weights', m.weights ? `${formatBytes(m.weights.length)} at offset ${m.weights.offset}${encodingNote(m)}` : 'none']);
  lines.push(...table(memRows, '  '));

  const state = m.state ?? [];
  lines.push('', state.length ? `state: ${plural(state.length, 'resident tensor')}` : 'state: none');
  lines.push(...table(state.map((s) => [s.name, tensor(s), s.init === undefined ? 'starts at zero' : `initial value at state+${s.init}`]), '  '));

  lines.push('', `sections: ${m.sections.length}`);
  lines.push(...table(m.sections.map((s) => [s.name, formatBytes(s.length), `at byte ${s.offset}`]), '  '));
  return lines.join('\n') + '\n';
}

export async function run(args: ParsedArgs, ctx: CliContext): Promise<number> {
  const file = args.positionals[0]!;
  const bytes = await readBytes(ctx, file, 'artifact');
  let art: Artifact;
  let raw: Manifest;
  try {
    art = readArtifact(bytes);
    raw = art.manifest;
    // Check the whole manifest, so a malformed one is reported by field, not as a crash here.
    const m = art.manifest;
    if (m.target === 'wasm') art = { ...art, manifest: validateWasm(m, art.sections) };
    else if (m.target === 'cuda') art = { ...art, manifest: checkCudaManifest(m, art.sections) };
    else throw new KilnRuntimeError(`unknown target ${JSON.stringify(m.target)} (this Kiln knows 'wasm' and 'cuda')`);
  } catch (e) {
    if (e instanceof KilnRuntimeError) throw new CommandError(`'${file}': ${e.message}`);
    throw e;
  }
  if (flagBool(args, 'json')) ctx.stdout.write(JSON.stringify(raw, null, 2) + '\n');
  else ctx.stdout.write(describeArtifact(art, bytes.length, file));
  return 0;
}

/** Encoded weights (version 5): the stored size and the segments by encoding. */
function encodingNote(m: Manifest): string {
  const e = m.weights?.encoding;
  if (!e) return '';
  const count = new Map<string, number>();
  for (const s of e.segments) count.set(s.enc, (count.get(s.enc) ?? 0) + 1);
  const stored = m.sections.find((s) => s.name === 'weights')?.length ?? 0;
  return `, stored encoded in ${formatBytes(stored)}, decoded at load; segments: ${[...count].map(([k, n]) => `${k} ${n}`).join(', ')}`;
}
