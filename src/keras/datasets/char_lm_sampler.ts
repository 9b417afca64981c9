/**
 * Text generation for the character LSTM: one compiled program per generated character. It
 * embeds the previous id, runs the LSTM cell once from the carried (h, c), applies the softmax
 * head and samples the next id by Gumbel-max (argmax of log p + Gumbel noise from the IR's
 * counter-based rng, keyed by an i32[2] input so every step draws fresh noise); the host loop
 * only feeds back the id, the states and the key. The artifact runs in the runtime alone.
 *
 * A compiled `kiln.whileLoop` around the step (so the whole sampling loop is one program) is the
 * next step once control flow lands (src/frontend/control_flow.ts).
 */
import { compile, type CompiledArtifact } from '../../compile.js';
import type { Program } from '../../runtime/program.js';
import { ops, type Tensor } from '../backend.js';
import type { Sequential } from '../engine/sequential.js';
import type { Embedding } from '../layers/embedding.js';
import type { LSTM } from '../layers/lstm.js';
import type { Dense } from '../layers/dense.js';

/** The sampler step: (id f32[1,1], h f32[1,units], c f32[1,units], key i32[2]) -> (next id i32[1], h, c). */
export function samplerStep(model: Sequential): (id: Tensor, h: Tensor, c: Tensor, key: Tensor) => Tensor[] {
  const [emb, rnn, head] = model.layers as [Embedding, LSTM, Dense];
  return (id, h, c, key) => {
    const x = ops.reshape(emb.apply(id), [1, emb.outputDim]);
    const [h2, , c2] = rnn.cell.call([x, h, c], { training: false }) as [Tensor, Tensor, Tensor];
    const p = head.apply(h2);
    const u = ops.randomUniform(p.shape, { seed: key, minval: 1e-7, maxval: 1 });
    const gumbel = ops.neg(ops.log(ops.neg(ops.log(u))));
    const next = ops.argMax(ops.add(ops.log(ops.maximum(p, 1e-30)), gumbel), -1);
    return [next, h2, c2];
  };
}

export function samplerArtifact(model: Sequential, o: { units: number }): CompiledArtifact {
  return compile(samplerStep(model), {
    name: 'char_lstm_sampler',
    inputShapes: [[1, 1], [1, o.units], [1, o.units], [2]],
    inputDtypes: ['f32', 'f32', 'f32', 'i32'],
  });
}

/**
 * Feed `prime` through the sampler (its samples ignored), then generate `n` ids, each fed back.
 * Deterministic for a given seed.
 */
export async function sampleText(prog: Program, prime: ArrayLike<number>, n: number, o: { units: number; seed: number }): Promise<number[]> {
  const [idName, hName, cName, keyName] = prog.inputs.map((t) => t.name) as [string, string, string, string];
  const [nextName, h2Name, c2Name] = prog.outputs.map((t) => t.name) as [string, string, string];
  let h: Float32Array = new Float32Array(o.units);
  let c: Float32Array = new Float32Array(o.units);
  let id = prime[0] ?? 1;
  const out: number[] = [];
  for (let step = 0; out.length < n; step++) {
    const r = await prog.run({
      [idName]: Float32Array.of(id), [hName]: h, [cName]: c, [keyName]: Int32Array.of(o.seed, step),
    });
    h = r[h2Name] as Float32Array;
    c = r[c2Name] as Float32Array;
    const sampled = (r[nextName] as Int32Array)[0]!;
    if (step + 1 < prime.length) id = prime[step + 1]!;
    else {
      id = sampled;
      out.push(sampled);
    }
  }
  return out;
}
