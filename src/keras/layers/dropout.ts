/**
 * Dropout: identity at inference; in training mode, inverted dropout as in Keras: each unit is
 * kept with probability 1 - rate and scaled by 1 / (1 - rate), dropped units are 0.
 *
 * Random masks come from the IR's counter-based rng (Threefry) keyed by [seed, step]:
 * - `seed` is the layer's seed (config `seed`, or one drawn when the layer is made);
 * - `step` is the training step counter, an i32 scalar Tensor passed in the call args:
 *   `layer.apply(x, {training: true, step})` (`DropoutCallArgs`; models pass call args through
 *   to every layer). Inside a compiled training step the fit code makes `step` a parameter or
 *   resident state that it increments each step, so every step draws a fresh mask without
 *   retracing, and a given (seed, step) always gives the same mask, on every target.
 * - Eagerly (concrete tensors, no trace) `step` may be omitted: the layer then counts its own
 *   training calls. Under a trace it may not be omitted, since the mask would be baked into the
 *   program as a constant and repeat every step; that is an error that says what to pass.
 */
import { ops, Tensor } from '../backend.js';
import { Layer, registerLayer, type CallArgs, type LayerArgs, type LayerConfig } from '../engine/layer.js';
import { checkLayerArgs } from './args.js';

export interface DropoutArgs extends LayerArgs {
  rate: number;
  seed?: number | null;
  /** Shape of the mask, broadcast over the input: 1 shares a mask along that axis, null means the input's size. */
  noiseShape?: readonly (number | null)[] | null;
}

export interface DropoutConfig extends LayerConfig {
  rate: number;
  /** null when unseeded / the input's shape, as Keras writes them. */
  seed: number | null;
  noiseShape: (number | null)[] | null;
}

/** Call args read by training-mode Dropout (the fit code passes them to the whole model). */
export interface DropoutCallArgs extends CallArgs {
  /** Training step counter: an i32 scalar, symbolic inside a traced training step. */
  step?: Tensor;
}

export class Dropout extends Layer {
  static override className = 'Dropout';
  readonly rate: number;
  readonly seed?: number;
  readonly noiseShape?: (number | null)[];
  /** The rng key's first word: the configured seed, or one drawn at construction like Keras. */
  private readonly keySeed: number;
  /** Training calls made eagerly without a `step`, used as the step then. */
  private eagerSteps = 0;

  constructor(args: DropoutArgs) {
    super(args);
    checkLayerArgs(this.label, args, { known: ['rate', 'seed', 'noiseShape'], required: ['rate'] });
    this.supportsMasking = true;
    if (!(args.rate >= 0 && args.rate < 1)) this.fail(`rate must be in [0, 1), got ${JSON.stringify(args.rate)}`);
    if (args.seed != null && !Number.isInteger(args.seed)) this.fail(`seed must be an integer, got ${JSON.stringify(args.seed)}`);
    this.rate = args.rate;
    if (args.seed != null) this.seed = args.seed;
    this.keySeed = args.seed ?? Math.floor(Math.random() * 0x7fffffff);
    if (args.noiseShape) {
      const ok = args.noiseShape.every((d) => d === null || (Number.isInteger(d) && d >= 1));
      if (!ok) this.fail(`noiseShape entries must be positive integers or null, got [${args.noiseShape.join(',')}]`);
      this.noiseShape = [...args.noiseShape];
    }
  }

  override call(inputs: Tensor | Tensor[], args: DropoutCallArgs): Tensor {
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    if (!args.training || this.rate === 0) return x;
    const mask = ops.randomUniform(this.maskShape(x), { seed: this.key(x, args.step) });
    const keep = ops.broadcastTo(ops.greaterEqual(mask, this.rate), x.shape);
    return ops.where(keep, ops.mul(x, 1 / (1 - this.rate)), 0);
  }

  /** noiseShape resolved against the input (null -> the input's size), checked to broadcast. */
  private maskShape(x: Tensor): number[] {
    if (!this.noiseShape) return x.shape;
    const s = this.noiseShape.map((d, i) => d ?? x.shape[i]!);
    if (s.length !== x.rank || s.some((d, i) => d !== 1 && d !== x.shape[i])) {
      this.fail(`noiseShape [${this.noiseShape.join(',')}] does not broadcast to input ${x.describe()} (each entry must be 1, null or the input's size)`);
    }
    return s;
  }

  /** The rng key [seed, step] as an i32[2] tensor (symbolic when the step is). */
  private key(x: Tensor, step: Tensor | undefined): Tensor {
    if (step === undefined) {
      if (x.isSymbolic) {
        this.fail(
          'training-mode dropout inside a traced function needs the step counter: call with {training: true, step} ' +
          'where step is an i32 scalar tensor that changes every step (otherwise one mask would be baked into the program)',
        );
      }
      return ops.tensor([this.keySeed | 0, this.eagerSteps++ | 0], [2], 'i32');
    }
    if (!(step instanceof Tensor) || step.dtype !== 'i32' || step.rank !== 0) {
      this.fail(`the 'step' call argument must be an i32 scalar tensor, got ${step instanceof Tensor ? step.describe() : typeof step}`);
    }
    return ops.concat([ops.tensor([this.keySeed | 0], [1], 'i32'), ops.reshape(step, [1])], 0);
  }

  override getConfig(): DropoutConfig {
    return { ...super.getConfig(), rate: this.rate, seed: this.seed ?? null, noiseShape: this.noiseShape ? [...this.noiseShape] : null };
  }

  static fromConfig(config: DropoutConfig): Dropout {
    return new Dropout(config);
  }
}
registerLayer(Dropout);

export function dropout(args: DropoutArgs): Dropout {
  return new Dropout(args);
}
