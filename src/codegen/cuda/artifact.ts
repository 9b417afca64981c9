/**
 * A Program -> a one-file "cuda" artifact: the PTX module as the 'ptx' section (UTF-8 text), the
 * weights image as 'weights', and a manifest whose inputs/outputs/weights are byte offsets in the
 * device memory image (the same layout the WebAssembly target uses) plus the `cuda` object:
 * target architecture, memory image size and one launch configuration per kernel.
 * docs/artifact-format.md describes the format; src/runtime/cuda runs it.
 */
import { writeArtifact } from '../../runtime/artifact.js';
import type { ManifestInput } from '../../runtime/manifest.js';
import type { CudaSpec } from '../../runtime/cuda/manifest.js';
import type { Program } from '../program.js';
import { buildPtxModule, type PtxModule, type PtxOptions } from './backend.js';

export interface CudaArtifact {
  readonly bytes: Uint8Array;
  readonly manifest: ManifestInput & { cuda: CudaSpec };
  readonly module: PtxModule;
}

export function buildCudaArtifact(p: Program, opts: PtxOptions, meta: Record<string, unknown> = {}): CudaArtifact {
  const module = buildPtxModule(p, opts);
  const spec = (io: { name: string; buffer: { shape: readonly number[]; dtype: ManifestInput['inputs'][number]['dtype']; offset: number } }) =>
    ({ name: io.name, shape: [...io.buffer.shape], dtype: io.buffer.dtype, offset: io.buffer.offset });
  const memoryBytes = Math.max(1, p.totalBytes);
  const manifest: ManifestInput & { cuda: CudaSpec } = {
    format: 'kiln',
    version: 1,
    target: 'cuda',
    name: p.name,
    createdBy: 'kiln 0.1.0',
    inputs: p.inputs.map(spec),
    outputs: p.outputs.map(spec),
    memory: {
      pages: Math.max(1, Math.ceil(memoryBytes / 65536)),
      arenaOffset: p.arenaOffset, arenaBytes: p.arenaBytes, peakBytes: p.peakBytes, sumIntermediateBytes: p.sumIntermediateBytes,
    },
    ...(p.weights.length > 0 ? { weights: { offset: p.weightsOffset, length: p.weights.length } } : {}),
    kernels: p.kernels.map((k) => ({ name: k.name, work: k.work, note: k.note })),
    schedule: p.kernels.map((_, i) => i),
    meta: { splits: p.splits, ...meta },
    cuda: {
      sm: opts.sm,
      memoryBytes,
      launches: module.launches.map((l) => ({ grid: [...l.grid], block: [...l.block], threadsPerItem: l.threadsPerItem })),
    },
  };
  const sections: Record<string, Uint8Array> = { ptx: new TextEncoder().encode(module.ptx) };
  if (p.weights.length > 0) sections['weights'] = p.weights;
  return { bytes: writeArtifact({ manifest, sections }), manifest, module };
}
