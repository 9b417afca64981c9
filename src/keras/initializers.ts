/**
 * Weight initializers (Keras 3 semantics, tfjs spelling): zeros, ones, constant, randomUniform,
 * randomNormal, truncatedNormal, glorotUniform/glorotNormal, heUniform/heNormal, lecunUniform/
 * lecunNormal, all as VarianceScaling where Keras defines them so.
 *
 * Values are generated on the host (a weight is data, not part of any traced program) with a
 * small seeded generator, so `seed` gives the same weights on every run and every target.
 * The "normal" variance-scaling initializers draw from a normal truncated at two standard
 * deviations and rescale by 1/0.87962566103423978 as Keras 3 does, so the variance matches.
 *
 * Lookup accepts tfjs names ('glorotUniform'), Keras names ('glorot_uniform', 'GlorotUniform'),
 * and serialized `{className, config}` forms written by tfjs-layers or Keras (a null seed is no
 * seed; VarianceScaling's mode/distribution in either spelling, 'normal' being the truncated
 * normal as in tfjs and Keras 2). serializeInitializer writes what tfjs-layers writes: the
 * VarianceScaling presets as `{className: 'VarianceScaling', config: {scale, mode, distribution}}`.
 */
import { KilnError } from '../ir/types.js';
import { suggestion } from './layers/args.js';

export interface Initializer {
  readonly className: string;
  /** Values for a weight of this shape, row-major. */
  generate(shape: readonly number[]): Float32Array;
  getConfig(): Record<string, unknown>;
}

export type InitializerIdentifier =
  | 'zeros' | 'ones' | 'glorotUniform' | 'glorotNormal' | 'heUniform' | 'heNormal'
  | 'lecunUniform' | 'lecunNormal' | 'randomUniform' | 'randomNormal' | 'truncatedNormal' | 'orthogonal';

/** Keras's snake_case names of the same initializers. */
export type KerasInitializerName =
  | 'glorot_uniform' | 'glorot_normal' | 'he_uniform' | 'he_normal' | 'lecun_uniform' | 'lecun_normal'
  | 'random_uniform' | 'random_normal' | 'truncated_normal';

export interface SerializedInitializer {
  className: string;
  config: Record<string, unknown>;
}

/** What layer arguments accept: a name, an instance, or a serialized initializer. */
export type InitializerLike = Initializer | InitializerIdentifier | KerasInitializerName | SerializedInitializer;

/** Mulberry32: a tiny, well-mixed 32-bit generator; enough for weight initialization. */
export class SeededRandom {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  /** The generator's position (a uint32); `new SeededRandom(r.position)` continues where r is. */
  get position(): number {
    return this.state;
  }
  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Standard normal (Box–Muller). */
  normal(): number {
    const u1 = 1 - this.next();
    const u2 = this.next();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }
  /** Standard normal truncated to [-2, 2] by rejection, as tf.truncated_normal. */
  truncatedNormal(): number {
    for (;;) {
      const z = this.normal();
      if (Math.abs(z) <= 2) return z;
    }
  }
}

function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function rngFor(seed: number | undefined): SeededRandom {
  return new SeededRandom(seed ?? Math.floor(Math.random() * 2 ** 32));
}

export class Zeros implements Initializer {
  readonly className = 'Zeros';
  generate(shape: readonly number[]): Float32Array {
    return new Float32Array(numel(shape));
  }
  getConfig(): Record<string, unknown> {
    return {};
  }
}

export class Ones implements Initializer {
  readonly className = 'Ones';
  generate(shape: readonly number[]): Float32Array {
    return new Float32Array(numel(shape)).fill(1);
  }
  getConfig(): Record<string, unknown> {
    return {};
  }
}

export class Constant implements Initializer {
  readonly className = 'Constant';
  readonly value: number;
  constructor(args: { value: number }) {
    this.value = args.value;
  }
  generate(shape: readonly number[]): Float32Array {
    return new Float32Array(numel(shape)).fill(this.value);
  }
  getConfig(): Record<string, unknown> {
    return { value: this.value };
  }
}

export class RandomUniform implements Initializer {
  readonly className = 'RandomUniform';
  readonly minval: number;
  readonly maxval: number;
  readonly seed?: number;
  constructor(args: { minval?: number; maxval?: number; seed?: number | null } = {}) {
    this.minval = args.minval ?? -0.05;
    this.maxval = args.maxval ?? 0.05;
    this.seed = args.seed ?? undefined;
  }
  generate(shape: readonly number[]): Float32Array {
    const rng = rngFor(this.seed);
    const out = new Float32Array(numel(shape));
    for (let i = 0; i < out.length; i++) out[i] = this.minval + (this.maxval - this.minval) * rng.next();
    return out;
  }
  getConfig(): Record<string, unknown> {
    return { minval: this.minval, maxval: this.maxval, seed: this.seed };
  }
}

export class RandomNormal implements Initializer {
  readonly className: string = 'RandomNormal';
  readonly mean: number;
  readonly stddev: number;
  readonly seed?: number;
  constructor(args: { mean?: number; stddev?: number; seed?: number | null } = {}) {
    this.mean = args.mean ?? 0;
    this.stddev = args.stddev ?? 0.05;
    this.seed = args.seed ?? undefined;
  }
  protected draw(rng: SeededRandom): number {
    return rng.normal();
  }
  generate(shape: readonly number[]): Float32Array {
    const rng = rngFor(this.seed);
    const out = new Float32Array(numel(shape));
    for (let i = 0; i < out.length; i++) out[i] = this.mean + this.stddev * this.draw(rng);
    return out;
  }
  getConfig(): Record<string, unknown> {
    return { mean: this.mean, stddev: this.stddev, seed: this.seed };
  }
}

export class TruncatedNormal extends RandomNormal {
  override readonly className: string = 'TruncatedNormal';
  protected override draw(rng: SeededRandom): number {
    return rng.truncatedNormal();
  }
}

/**
 * A (semi-)orthogonal matrix times `gain` (Keras's Orthogonal, the recurrent kernels' default):
 * the Q factor of a normal matrix `[prod(shape[:-1]), shape[-1]]` (Gram-Schmidt in f64, with
 * the sign of R's diagonal folded in, as Keras does), transposed when it has fewer rows.
 */
export class Orthogonal implements Initializer {
  readonly className = 'Orthogonal';
  readonly gain: number;
  readonly seed?: number;
  constructor(args: { gain?: number; seed?: number | null } = {}) {
    this.gain = args.gain ?? 1;
    this.seed = args.seed ?? undefined;
  }
  generate(shape: readonly number[]): Float32Array {
    if (shape.length < 2) throw new KilnError(`Orthogonal: needs a shape of rank >= 2, got [${shape.join(',')}]`);
    const cols = shape[shape.length - 1]!;
    const rows = numel(shape) / cols;
    // Orthonormal columns of a [n, k] normal matrix, n >= k.
    const [n, k] = rows >= cols ? [rows, cols] : [cols, rows];
    const rng = rngFor(this.seed);
    const q = Array.from({ length: k }, () => Float64Array.from({ length: n }, () => rng.normal()));
    for (let j = 0; j < k; j++) {
      const v = q[j]!;
      for (let i = 0; i < j; i++) {
        const u = q[i]!;
        let d = 0;
        for (let t = 0; t < n; t++) d += u[t]! * v[t]!;
        for (let t = 0; t < n; t++) v[t]! -= d * u[t]!;
      }
      const norm = Math.sqrt(v.reduce((a, x) => a + x * x, 0));
      for (let t = 0; t < n; t++) v[t]! /= norm;
    }
    const out = new Float32Array(rows * cols);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) out[r * cols + c] = this.gain * (rows >= cols ? q[c]![r]! : q[r]![c]!);
    }
    return out;
  }
  getConfig(): Record<string, unknown> {
    return { gain: this.gain, seed: this.seed };
  }
}

export type FanMode = 'fanIn' | 'fanOut' | 'fanAvg';
export type VarianceDistribution = 'truncatedNormal' | 'untruncatedNormal' | 'uniform';
/** Spellings accepted on input: Keras's snake_case, and 'normal' (truncated, as tfjs and Keras 2). */
export type FanModeLike = FanMode | 'fan_in' | 'fan_out' | 'fan_avg';
export type VarianceDistributionLike = VarianceDistribution | 'normal' | 'truncated_normal' | 'untruncated_normal';

const MODES: Record<string, FanMode> = { fanIn: 'fanIn', fanOut: 'fanOut', fanAvg: 'fanAvg', fan_in: 'fanIn', fan_out: 'fanOut', fan_avg: 'fanAvg' };
const DISTRIBUTIONS: Record<string, VarianceDistribution> = {
  truncatedNormal: 'truncatedNormal', truncated_normal: 'truncatedNormal', normal: 'truncatedNormal',
  untruncatedNormal: 'untruncatedNormal', untruncated_normal: 'untruncatedNormal', uniform: 'uniform',
};

/**
 * Fans of a weight shape as Keras computes them: a matrix [in, out]; a conv kernel
 * [...spatial, in, out] multiplies both by the receptive field size.
 */
export function computeFans(shape: readonly number[]): { fanIn: number; fanOut: number } {
  if (shape.length === 0) return { fanIn: 1, fanOut: 1 };
  if (shape.length === 1) return { fanIn: shape[0]!, fanOut: shape[0]! };
  if (shape.length === 2) return { fanIn: shape[0]!, fanOut: shape[1]! };
  const receptive = numel(shape.slice(0, -2));
  return { fanIn: shape[shape.length - 2]! * receptive, fanOut: shape[shape.length - 1]! * receptive };
}

export interface VarianceScalingArgs {
  scale?: number;
  mode?: FanModeLike;
  distribution?: VarianceDistributionLike;
  seed?: number | null;
}

export class VarianceScaling implements Initializer {
  readonly className: string = 'VarianceScaling';
  readonly scale: number;
  readonly mode: FanMode;
  readonly distribution: VarianceDistribution;
  readonly seed?: number;
  constructor(args: VarianceScalingArgs = {}) {
    this.scale = args.scale ?? 1;
    const mode = MODES[args.mode ?? 'fanIn'];
    if (!mode) throw new KilnError(`VarianceScaling: mode must be one of fanIn, fanOut, fanAvg (or fan_in, fan_out, fan_avg), got ${JSON.stringify(args.mode)}`);
    this.mode = mode;
    const dist = DISTRIBUTIONS[args.distribution ?? 'truncatedNormal'];
    if (!dist) throw new KilnError(`VarianceScaling: distribution must be one of ${Object.keys(DISTRIBUTIONS).join(', ')}, got ${JSON.stringify(args.distribution)}`);
    this.distribution = dist;
    this.seed = args.seed ?? undefined;
    if (!(this.scale > 0)) throw new KilnError(`VarianceScaling: scale must be positive, got ${this.scale}`);
  }
  generate(shape: readonly number[]): Float32Array {
    const { fanIn, fanOut } = computeFans(shape);
    const n = this.mode === 'fanIn' ? fanIn : this.mode === 'fanOut' ? fanOut : (fanIn + fanOut) / 2;
    const scale = this.scale / Math.max(1, n);
    const rng = rngFor(this.seed);
    const out = new Float32Array(numel(shape));
    if (this.distribution === 'uniform') {
      const limit = Math.sqrt(3 * scale);
      for (let i = 0; i < out.length; i++) out[i] = -limit + 2 * limit * rng.next();
    } else if (this.distribution === 'truncatedNormal') {
      // 0.879...: stddev of a standard normal truncated to [-2, 2]; dividing keeps the variance.
      const stddev = Math.sqrt(scale) / 0.87962566103423978;
      for (let i = 0; i < out.length; i++) out[i] = stddev * rng.truncatedNormal();
    } else {
      const stddev = Math.sqrt(scale);
      for (let i = 0; i < out.length; i++) out[i] = stddev * rng.normal();
    }
    return out;
  }
  getConfig(): Record<string, unknown> {
    return { scale: this.scale, mode: this.mode, distribution: this.distribution, seed: this.seed };
  }
}

/** The named VarianceScaling presets keep their own class names, as in Keras. */
function preset(className: string, scale: number, mode: FanMode, distribution: VarianceDistribution) {
  return class extends VarianceScaling {
    override readonly className = className;
    constructor(args: { seed?: number | null } = {}) {
      super({ scale, mode, distribution, seed: args.seed });
    }
    override getConfig(): Record<string, unknown> {
      return { seed: this.seed };
    }
  };
}

export const GlorotUniform = preset('GlorotUniform', 1, 'fanAvg', 'uniform');
export const GlorotNormal = preset('GlorotNormal', 1, 'fanAvg', 'truncatedNormal');
export const HeUniform = preset('HeUniform', 2, 'fanIn', 'uniform');
export const HeNormal = preset('HeNormal', 2, 'fanIn', 'truncatedNormal');
export const LecunUniform = preset('LecunUniform', 1, 'fanIn', 'uniform');
export const LecunNormal = preset('LecunNormal', 1, 'fanIn', 'truncatedNormal');

type InitCtor = new (config: never) => Initializer;
const classes: Record<string, InitCtor> = {
  Zeros, Ones, Constant, RandomUniform, RandomNormal, TruncatedNormal, VarianceScaling,
  GlorotUniform, GlorotNormal, HeUniform, HeNormal, LecunUniform, LecunNormal, Orthogonal,
};

const byIdentifier: Record<InitializerIdentifier, string> = {
  zeros: 'Zeros', ones: 'Ones', glorotUniform: 'GlorotUniform', glorotNormal: 'GlorotNormal',
  heUniform: 'HeUniform', heNormal: 'HeNormal', lecunUniform: 'LecunUniform', lecunNormal: 'LecunNormal',
  randomUniform: 'RandomUniform', randomNormal: 'RandomNormal', truncatedNormal: 'TruncatedNormal', orthogonal: 'Orthogonal',
};

/** Config keys each class takes (a serialized config with another key is refused). */
const configKeys: Record<string, readonly string[]> = {
  Zeros: [], Ones: [], Constant: ['value'], RandomUniform: ['minval', 'maxval', 'seed'],
  RandomNormal: ['mean', 'stddev', 'seed'], TruncatedNormal: ['mean', 'stddev', 'seed'],
  VarianceScaling: ['scale', 'mode', 'distribution', 'seed'],
  Orthogonal: ['gain', 'seed'], GlorotUniform: ['seed'], GlorotNormal: ['seed'], HeUniform: ['seed'], HeNormal: ['seed'], LecunUniform: ['seed'], LecunNormal: ['seed'],
};

/** Keys beside className/config that Keras and tfjs files carry and that mean nothing here. */
const IGNORED_KEYS = new Set(['module', 'registeredName', 'registered_name', 'sharedObjectId', 'shared_object_id']);

/** 'glorot_uniform' -> 'glorotUniform'; 'GlorotUniform' -> its class. */
function classForName(name: string): string | undefined {
  if (name in classes) return name;
  const camel = name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
  return byIdentifier[camel as InitializerIdentifier];
}

/**
 * Resolve a name (`'glorotUniform'`, `'glorot_uniform'`, `'GlorotUniform'`), a serialized
 * `{className, config}` or an instance. `who` names the layer and field in errors.
 */
export function getInitializer(id: InitializerLike, who = 'initializer'): Initializer {
  if (id !== null && typeof id === 'object' && 'generate' in id) return id;
  if (typeof id === 'string') {
    const cls = classForName(id);
    if (!cls) throw new KilnError(`${who}: unknown initializer '${id}' ${suggestion(id, [...Object.keys(byIdentifier), ...Object.keys(classes)])}`);
    return new (classes[cls] as unknown as new () => Initializer)();
  }
  if (id === null || typeof id !== 'object' || typeof id.className !== 'string') {
    throw new KilnError(`${who}: expected an initializer name, instance or {className, config}, got ${JSON.stringify(id)}`);
  }
  for (const k of Object.keys(id)) {
    if (k !== 'className' && k !== 'config' && !IGNORED_KEYS.has(k)) throw new KilnError(`${who}: unknown key '${k}' in serialized initializer ${id.className} (expected {className, config})`);
  }
  const name = classForName(id.className);
  const Cls = name !== undefined ? (classes[name] as unknown as new (c: Record<string, unknown>) => Initializer) : undefined;
  if (!Cls || name === undefined) throw new KilnError(`${who}: unknown initializer class '${id.className}' ${suggestion(id.className, Object.keys(classes))}`);
  const config = id.config ?? {};
  const known = configKeys[name] ?? [];
  for (const k of Object.keys(config)) {
    if (!known.includes(k)) throw new KilnError(`${who}: ${name} has no config field '${k}' ${known.length ? suggestion(k, known) : '(it takes none)'}`);
  }
  try {
    return new Cls(config);
  } catch (e) {
    if (e instanceof KilnError) throw new KilnError(`${who}: ${e.message}`);
    throw e;
  }
}

/** tfjs-layers' spelling of each VarianceScaling distribution ('normal' is its truncated normal). */
const TFJS_DISTRIBUTION: Record<VarianceDistribution, string> = { truncatedNormal: 'normal', untruncatedNormal: 'untruncatedNormal', uniform: 'uniform' };

/**
 * `{className, config}` as tfjs-layers writes it: the VarianceScaling presets (GlorotUniform...)
 * as VarianceScaling with their scale, mode and distribution; undefined fields left out.
 */
export function serializeInitializer(init: Initializer): SerializedInitializer {
  if (init instanceof VarianceScaling) {
    const config: Record<string, unknown> = { scale: init.scale, mode: init.mode, distribution: TFJS_DISTRIBUTION[init.distribution] };
    if (init.seed !== undefined) config.seed = init.seed;
    return { className: 'VarianceScaling', config };
  }
  const config = Object.fromEntries(Object.entries(init.getConfig()).filter(([, v]) => v !== undefined));
  return { className: init.className, config };
}

/** Factory functions in tfjs spelling: `initializers.glorotUniform({seed: 1})`. */
export const zeros = (): Initializer => new Zeros();
export const ones = (): Initializer => new Ones();
export const constant = (args: { value: number }): Initializer => new Constant(args);
export const randomUniform = (args?: { minval?: number; maxval?: number; seed?: number }): Initializer => new RandomUniform(args);
export const randomNormal = (args?: { mean?: number; stddev?: number; seed?: number }): Initializer => new RandomNormal(args);
export const truncatedNormal = (args?: { mean?: number; stddev?: number; seed?: number }): Initializer => new TruncatedNormal(args);
export const varianceScaling = (args?: VarianceScalingArgs): Initializer => new VarianceScaling(args);
export const glorotUniform = (args?: { seed?: number }): Initializer => new GlorotUniform(args);
export const glorotNormal = (args?: { seed?: number }): Initializer => new GlorotNormal(args);
export const heUniform = (args?: { seed?: number }): Initializer => new HeUniform(args);
export const heNormal = (args?: { seed?: number }): Initializer => new HeNormal(args);
export const lecunUniform = (args?: { seed?: number }): Initializer => new LecunUniform(args);
export const lecunNormal = (args?: { seed?: number }): Initializer => new LecunNormal(args);
export const orthogonal = (args?: { gain?: number; seed?: number }): Initializer => new Orthogonal(args);
