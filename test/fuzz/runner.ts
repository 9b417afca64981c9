/**
 * The fuzzer's child process: loads each artifact it is sent with kiln/runtime (nothing else),
 * runs the seed's entries on the seed's inputs and answers with the outputs' bytes or the error.
 * Bundled by esbuild and started by campaign.ts with an IPC channel; one job at a time.
 */
import { load, KilnRuntimeError, type TensorData } from '../../src/runtime/index.js';

export interface Job {
  id: number;
  bytes: Uint8Array;
  threads: number;
  runs: { entry?: string; feed: Record<string, Float32Array> }[];
}

export type Reply =
  | { id: number; ok: true; outputs: Uint8Array[] }
  | { id: number; ok: false; stage: 'load' | 'run'; kiln: boolean; name: string; message: string };

const bytesOf = (t: TensorData): Uint8Array => new Uint8Array(t.buffer.slice(t.byteOffset, t.byteOffset + t.byteLength));

async function handle(job: Job): Promise<Reply> {
  let stage: 'load' | 'run' = 'load';
  let prog: Awaited<ReturnType<typeof load>> | undefined;
  try {
    prog = await load(job.bytes, { threads: job.threads });
    stage = 'run';
    const outputs: Uint8Array[] = [];
    for (const r of job.runs) {
      const out = prog.runSync(r.feed, r.entry === undefined ? undefined : { entry: r.entry });
      for (const name of Object.keys(out).sort()) outputs.push(bytesOf(out[name]!));
    }
    return { id: job.id, ok: true, outputs };
  } catch (e) {
    const err = e as Error;
    return { id: job.id, ok: false, stage, kiln: e instanceof KilnRuntimeError, name: err?.name ?? typeof e, message: String(err?.message ?? e).slice(0, 400) };
  } finally {
    try {
      prog?.dispose();
    } catch {
      /* a dispose failure shows up as the next job's problem */
    }
  }
}

process.on('message', (job: Job) => {
  void handle(job).then((reply) => process.send!(reply));
});
process.send!({ ready: true });
// The campaign is gone (ended or killed): so is this runner.
process.on('disconnect', () => process.exit(0));
