/**
 * The progress display of `fit` (Keras's ProgbarLogger), written to stderr so it never mixes
 * with a program's own output. verbose 1: "Epoch 2/5", then a bar redrawn in place on a
 * terminal (at most every 100 ms) and finished with the epoch's time per step and its logs;
 * where stderr is not a terminal (CI logs, files) only the finished line is written. verbose 2:
 * one line per epoch. Values shown during the epoch are running means over the samples seen so
 * far (from the per-batch logs, weighted by batch size); the finished line shows the epoch logs.
 */
import { Callback, type Logs } from './callbacks/callback.js';

/** Where the progress goes: process.stderr by default. */
export interface ProgressStream {
  write(text: string): unknown;
  readonly isTTY?: boolean;
}

export interface ProgbarLoggerArgs {
  stream?: ProgressStream;
  /** Minimum milliseconds between redraws of the bar on a terminal. Default 100. */
  intervalMs?: number;
  /** 1 (bar) or 2 (a line per epoch); default: fit's verbose. */
  verbose?: 1 | 2;
}

const BAR = 30;

function defaultStream(): ProgressStream {
  const proc = (globalThis as { process?: { stderr?: ProgressStream } }).process;
  if (proc?.stderr) return proc.stderr;
  let line = '';
  // A browser has no stderr: collect text and hand complete lines to console.log.
  return {
    write(text: string) {
      line += text.replace(/^.*\r/s, '');
      const parts = line.split('\n');
      line = parts.pop()!;
      for (const p of parts) console.log(p);
    },
  };
}

/** Keras's number format: 4 decimals, or scientific for tiny non-zero values. */
export function formatValue(v: number): string {
  return v !== 0 && Math.abs(v) < 1e-3 ? v.toExponential(4) : v.toFixed(4);
}

/** "loss: 0.3123 - acc: 0.8890" for the named values, in order. */
export function formatLogs(logs: Logs, names: readonly string[]): string {
  return names.filter((n) => logs[n] !== undefined).map((n) => `${n}: ${formatValue(logs[n]!)}`).join(' - ');
}

/** 12s, 1m 05s, 340ms: Keras-style durations. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = ms / 1000;
  if (s < 60) return `${Math.round(s)}s`;
  const m = Math.floor(s / 60);
  return `${m}m ${String(Math.round(s - 60 * m)).padStart(2, '0')}s`;
}

/** The bar: "[==========>...................]" for `done` of `total`. */
export function formatBar(done: number, total: number): string {
  const filled = total > 0 ? Math.min(BAR, Math.floor((BAR * done) / total)) : BAR;
  if (filled >= BAR) return `[${'='.repeat(BAR)}]`;
  if (filled === 0) return `[${'.'.repeat(BAR)}]`;
  return `[${'='.repeat(filled - 1)}>${'.'.repeat(BAR - filled)}]`;
}

export class ProgbarLogger extends Callback {
  private readonly stream: ProgressStream;
  private readonly intervalMs: number;
  private readonly ownVerbose?: 1 | 2;
  private epochStart = 0;
  private lastDraw = 0;
  private seen = 0;
  private sums: Record<string, number> = {};
  private batchesDone = 0;

  constructor(args: ProgbarLoggerArgs = {}) {
    super();
    this.stream = args.stream ?? defaultStream();
    this.intervalMs = args.intervalMs ?? 100;
    if (args.verbose !== undefined) this.ownVerbose = args.verbose;
  }

  private get verbose(): number {
    return this.ownVerbose ?? this.params?.verbose ?? 1;
  }

  /** The names shown: the train values (val_ values only on the finished line). */
  private get trainNames(): string[] {
    return (this.params?.metrics ?? []).filter((n) => !n.startsWith('val_'));
  }

  override onEpochBegin(epoch: number): void {
    this.epochStart = performance.now();
    this.lastDraw = 0;
    this.seen = 0;
    this.sums = {};
    this.batchesDone = 0;
    if (this.verbose === 1) this.stream.write(`Epoch ${epoch + 1}/${this.params?.epochs ?? '?'}\n`);
  }

  override onBatchEnd(batch: number, logs: Logs): void {
    const size = logs['size'] ?? 1;
    this.seen += size;
    this.batchesDone = batch + 1;
    for (const n of this.trainNames) if (logs[n] !== undefined) this.sums[n] = (this.sums[n] ?? 0) + logs[n]! * size;
    if (this.verbose !== 1 || !this.stream.isTTY) return;
    const now = performance.now();
    const known = this.params?.steps;
    const steps = known ?? this.batchesDone;
    if (now - this.lastDraw < this.intervalMs && (known === undefined || this.batchesDone < steps)) return;
    this.lastDraw = now;
    const running: Logs = {};
    for (const n of Object.keys(this.sums)) running[n] = this.sums[n]! / this.seen;
    const elapsed = now - this.epochStart;
    const eta = (elapsed / this.batchesDone) * (steps - this.batchesDone);
    // A dataset of unknown size: a count of batches so far, no bar or ETA (Keras's "12/Unknown").
    const head = known === undefined ? `${this.batchesDone}/Unknown` : `${this.counter(this.batchesDone, steps)} ${formatBar(this.batchesDone, steps)} - ETA: ${formatDuration(eta)}`;
    this.stream.write(`\r${head} - ${formatLogs(running, this.trainNames)}\x1b[K`);
  }

  override onEpochEnd(epoch: number, logs: Logs): void {
    const elapsed = performance.now() - this.epochStart;
    const steps = this.params?.steps ?? this.batchesDone;
    const perStep = this.batchesDone > 0 ? elapsed / this.batchesDone : 0;
    const values = formatLogs(logs, Object.keys(logs));
    if (this.verbose === 1) {
      const head = `${this.counter(this.batchesDone, steps)} ${formatBar(this.batchesDone, steps)}`;
      this.stream.write(`${this.stream.isTTY ? '\r' : ''}${head} - ${formatDuration(elapsed)} ${formatDuration(perStep)}/step - ${values}${this.stream.isTTY ? '\x1b[K' : ''}\n`);
    } else if (this.verbose === 2) {
      this.stream.write(`Epoch ${epoch + 1}/${this.params?.epochs ?? '?'} - ${formatDuration(elapsed)} - ${formatDuration(perStep)}/step - ${values}\n`);
    }
  }

  private counter(done: number, total: number): string {
    const w = String(total).length;
    return `${String(done).padStart(w)}/${total}`;
  }
}
