/**
 * Text generation for the character LSTM. One step embeds the previous id, runs the LSTM cell
 * once from the carried (h, c), applies the softmax head and samples the next id by Gumbel-max
 * (argmax of log p + Gumbel noise from the IR's counter-based rng, keyed by [seed, step], so
 * every step draws fresh noise and a seed replays exactly).
 *
 * `samplerLoopArtifact` compiles the whole generation into one program: a `kiln.whileLoop` over
 * the steps (trip count an input), which first feeds the prime text and then its own samples;
 * the runtime runs it alone. `samplerArtifact` compiles the single step (the host loops), which
 * the test uses as the oracle of the loop: the same keys must give the same characters.
 */
import { whileLoop } from '../../frontend/control_flow.js';
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

/**
 * The whole sampler as one function: (prime f32[steps] (padded), primeLength i32[], steps i32[],
 * seed i32[]) -> ids i32[steps]: id k is the sample drawn after reading position k, so the
 * generated text is ids[primeLength - 1 .. steps - 1].
 */
export function samplerLoop(model: Sequential, o: { units: number; maxSteps: number }): (prime: Tensor, primeLength: Tensor, steps: Tensor, seed: Tensor) => Tensor[] {
  const step = samplerStep(model);
  return (prime, primeLength, steps, seed) => {
    const positions = ops.iota([o.maxSteps], 0, 'i32');
    const h0 = ops.zeros([1, o.units]);
    const first = ops.reshape(ops.slice(prime, [0], [1]), [1, 1]);
    const [, , , , ids] = whileLoop(
      (i) => ops.less(i!, steps),
      (i, id, h, c, out) => {
        const [next, h2, c2] = step(id!, h!, c!, ops.stack([seed, i!])) as [Tensor, Tensor, Tensor];
        const placed = ops.where(ops.equal(positions, i!), ops.broadcastTo(next, [o.maxSteps]), out!);
        // Feed the prime while it lasts, then the sample.
        const j = ops.add(i!, 1);
        const fromPrime = ops.reshape(ops.gather(prime, ops.reshape(ops.minimum(j, o.maxSteps - 1), [1]), 0), [1, 1]);
        const fed = ops.where(ops.less(j, primeLength), fromPrime, ops.reshape(ops.cast(next, 'f32'), [1, 1]));
        return [j, fed, h2, c2, placed];
      },
      [ops.scalar(0, 'i32'), first, h0, h0, ops.zeros([o.maxSteps], 'i32')],
      { maximumIterations: o.maxSteps },
    );
    return [ids!];
  };
}

export function samplerLoopArtifact(model: Sequential, o: { units: number; maxSteps: number }): CompiledArtifact {
  return compile(samplerLoop(model, o), {
    name: 'char_lstm_sampler_loop',
    inputShapes: [[o.maxSteps], [], [], []],
    inputDtypes: ['f32', 'i32', 'i32', 'i32'],
  });
}

/** Generate `n` ids after `prime` with the compiled loop (one run). */
export async function sampleTextLoop(prog: Program, prime: ArrayLike<number>, n: number, o: { maxSteps: number; seed: number }): Promise<number[]> {
  const steps = prime.length - 1 + n;
  if (steps > o.maxSteps) throw new Error(`sampleTextLoop: prime ${prime.length} + ${n} characters exceed the program's ${o.maxSteps} steps`);
  const padded = new Float32Array(o.maxSteps);
  padded.set(Array.from(prime));
  const names = prog.inputs.map((t) => t.name);
  const r = await prog.run({ [names[0]!]: padded, [names[1]!]: Int32Array.of(prime.length), [names[2]!]: Int32Array.of(steps), [names[3]!]: Int32Array.of(o.seed) });
  const ids = r[prog.outputs[0]!.name] as Int32Array;
  return Array.from(ids.subarray(prime.length - 1, steps));
}
