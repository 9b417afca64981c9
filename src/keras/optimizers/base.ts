/**
 * The optimizer base class. Optimizer state is explicit and functional so that a whole update
 * traces into one IR function: `init(params)` builds the state (an i32 `iterations` counter and
 * per-parameter slot tensors such as Adam's m and v), and `apply(params, grads, state)` returns
 * new params and a new state, composed only of frontend ops (no host math on tensor values).
 * `stateTensors`/`fromTensors`/`stateNames` give the flat, named view the compiler makes into
 * resident state buffers.
 *
 * The order of one update follows Keras 3 (`BaseOptimizer._backend_apply_gradients`): the
 * learning rate is read at the current (0-based) `iterations`, gradients are clipped, decoupled
 * weight decay `p -= lr * wd * p` is applied, then each subclass's `updateStep`, then
 * `iterations += 1`.
 */
import { KilnError, shapesEqual } from '../../ir/types.js';
import { activeTrace } from '../../frontend/context.js';
import { variablesOfGrads, variableGradsList } from '../../frontend/tape.js';
import { ops, Tensor, variable, Variable } from '../backend.js';
import { clipGradients, validateClipOptions } from './clipping.js';
import { deserializeSchedule, LearningRateSchedule, type SerializedSchedule } from './schedules.js';

/** A constant learning rate or a schedule evaluated from the step counter inside the program. */
export type LearningRate = number | LearningRateSchedule;

/** Slot tensors of one parameter, keyed by slot name (e.g. {m, v} for Adam). */
export type Slots = Readonly<Record<string, Tensor>>;

export interface OptimizerState {
  /** i32 scalar: the number of updates applied so far (Keras `optimizer.iterations`). */
  readonly iterations: Tensor;
  /** One record per parameter, in parameter order, holding `slotNames()`. */
  readonly slots: readonly Slots[];
}

export interface OptimizerUpdate {
  params: Tensor[];
  state: OptimizerState;
}

export interface BaseOptimizerArgs {
  learningRate?: LearningRate;
  /** Decoupled weight decay (Keras 3): before each update p -= lr * weightDecay * p. */
  weightDecay?: number | null;
  /** Clip each gradient to this L2 norm. */
  clipnorm?: number | null;
  /** Clip each gradient element to [-clipvalue, clipvalue]. */
  clipvalue?: number | null;
  /** Scale all gradients together so their global L2 norm is at most this. */
  globalClipnorm?: number | null;
  /** Prefix of the state names (default: the Keras name, e.g. 'adam'). */
  name?: string;
}

/** What one slot update sees besides the parameter, its gradient and its slots. */
export interface StepContext {
  /** The learning rate of this step: a number, or an f32 scalar tensor under a schedule. */
  lr: Tensor | number;
  /** The 1-based step being applied, as an f32 scalar (Keras `local_step`). */
  localStep: Tensor;
}

/**
 * What `applyGradients` takes: Keras's `[[grad, variable], ...]`, `{grads, vars}` as parallel
 * lists, or tfjs's forms: a map from variable name to gradient (as `kiln.variableGrads` returns
 * it) or a list of `{name, tensor}`.
 */
export type GradsAndVars =
  | ReadonlyArray<readonly [Tensor, Variable]>
  | { readonly grads: readonly Tensor[]; readonly vars: readonly Variable[] }
  | Readonly<Record<string, Tensor>>
  | ReadonlyArray<{ readonly name: string; readonly tensor: Tensor }>;

export type ConfigValue = number | boolean | string | null | SerializedSchedule;
export type OptimizerConfig = Record<string, ConfigValue>;

export interface SerializedOptimizer {
  class_name: string;
  config: OptimizerConfig;
}

/** camelCase option -> Keras snake_case key (beta1 -> beta_1, globalClipnorm -> global_clipnorm). */
export function toSnake(key: string): string {
  return key.replace(/([a-z])([A-Z0-9])/g, '$1_$2').toLowerCase();
}

/** Keras snake_case key -> camelCase option (beta_1 -> beta1). */
export function toCamel(key: string): string {
  return key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

export abstract class Optimizer {
  /** The Keras class name ('Adam'), used in serialized configs. */
  abstract readonly className: string;
  readonly name: string;
  readonly learningRate: LearningRate;
  readonly weightDecay: number | null;
  readonly clipnorm: number | null;
  readonly clipvalue: number | null;
  readonly globalClipnorm: number | null;

  protected constructor(defaultName: string, defaultLearningRate: number, args: BaseOptimizerArgs) {
    this.name = args.name ?? defaultName;
    this.learningRate = args.learningRate ?? defaultLearningRate;
    this.weightDecay = args.weightDecay ?? null;
    this.clipnorm = args.clipnorm ?? null;
    this.clipvalue = args.clipvalue ?? null;
    this.globalClipnorm = args.globalClipnorm ?? null;
    const owner = `optimizer '${this.name}'`;
    validateClipOptions(owner, this);
    if (typeof this.learningRate === 'number' && !(Number.isFinite(this.learningRate) && this.learningRate >= 0)) {
      throw new KilnError(`${owner}: learningRate must be a non-negative number or a schedule, got ${this.learningRate}`);
    }
    if (this.weightDecay !== null && !(Number.isFinite(this.weightDecay) && this.weightDecay >= 0)) {
      throw new KilnError(`${owner}: weightDecay must be a non-negative number, got ${this.weightDecay}`);
    }
  }

  /** Names of the slots kept per parameter, in state order (may depend on the config). */
  abstract slotNames(): string[];

  /** The subclass's own options for getConfig, camelCase, without the base options. */
  protected abstract ownConfig(): Record<string, number | boolean | string | null>;

  /** One parameter's update; returns its new value and new slots. */
  protected abstract updateStep(param: Tensor, grad: Tensor, slots: Slots, ctx: StepContext): { param: Tensor; slots: Slots };

  /** The initial value of a slot (zeros unless overridden, e.g. Adagrad's initial accumulator). */
  protected initSlot(_slot: string, param: Tensor): Tensor {
    return ops.zerosLike(param);
  }

  init(params: readonly Tensor[]): OptimizerState {
    const names = this.slotNames();
    return {
      iterations: ops.scalar(0, 'i32'),
      slots: params.map((p) => Object.fromEntries(names.map((s) => [s, this.initSlot(s, p)]))),
    };
  }

  /** The learning rate at 0-based `iterations` (a number when constant, else an f32 scalar). */
  learningRateAt(iterations: Tensor): Tensor | number {
    return typeof this.learningRate === 'number' ? this.learningRate : this.learningRate.call(iterations);
  }

  apply(params: readonly Tensor[], grads: readonly Tensor[], state: OptimizerState): OptimizerUpdate {
    this.checkApply(params, grads, state);
    const lr = this.learningRateAt(state.iterations);
    const clipped = clipGradients(grads, this);
    const next = ops.add(state.iterations, 1);
    const localStep = ops.cast(next, 'f32');
    const newParams: Tensor[] = [];
    const newSlots: Slots[] = [];
    params.forEach((p, i) => {
      const plr = scalarFor(lr, p);
      let decayed = p;
      if (this.weightDecay) decayed = ops.sub(p, ops.mul(p, lrTimes(plr, this.weightDecay)));
      const r = this.updateStep(decayed, clipped[i]!, state.slots[i]!, { lr: plr, localStep });
      newParams.push(r.param);
      newSlots.push(r.slots);
    });
    return { params: newParams, state: { iterations: next, slots: newSlots } };
  }

  /** The state as one flat list: iterations, then each parameter's slots in slotNames() order. */
  stateTensors(state: OptimizerState): Tensor[] {
    const names = this.slotNames();
    return [state.iterations, ...state.slots.flatMap((s) => names.map((n) => s[n]!))];
  }

  /** Names for stateTensors, e.g. ['adam/iterations', 'dense/kernel/m', 'dense/kernel/v', ...]. */
  stateNames(paramNames: readonly string[]): string[] {
    const names = this.slotNames();
    return [`${this.name}/iterations`, ...paramNames.flatMap((p) => names.map((n) => `${p}/${n}`))];
  }

  /** Inverse of stateTensors for `numParams` parameters. */
  fromTensors(tensors: readonly Tensor[], numParams: number): OptimizerState {
    const names = this.slotNames();
    const expected = 1 + numParams * names.length;
    if (tensors.length !== expected) {
      throw new KilnError(
        `${this.className}.fromTensors: expected ${expected} tensors (iterations + ${numParams} params x [${names.join(', ')}]), got ${tensors.length}`,
      );
    }
    const slots: Slots[] = [];
    for (let i = 0; i < numParams; i++) {
      slots.push(Object.fromEntries(names.map((n, k) => [n, tensors[1 + i * names.length + k]!])));
    }
    return { iterations: tensors[0]!, slots };
  }

  // ---- state kept in the optimizer: applyGradients / minimize -------------------------------------

  /** The step counter and the slots of each variable updated so far (Keras's optimizer.variables). */
  private iterationsVariable?: Variable;
  private readonly slotVariables = new Map<Variable, Variable[]>();

  /** Updates applied by applyGradients/minimize so far (tfjs's `optimizer.iterations`). */
  get iterations(): number {
    return this.iterationsVariable ? this.iterationsVariable.value.item() : 0;
  }

  /** The state applyGradients keeps: the i32 step counter, then each variable's slots in first-use order. */
  get variables(): Variable[] {
    return this.iterationsVariable ? [this.iterationsVariable, ...[...this.slotVariables.values()].flat()] : [];
  }

  /** The slot variables of `v` in slotNames() order (created by build or the first update of v). */
  slotsOf(v: Variable): Variable[] | undefined {
    return this.slotVariables.get(v);
  }

  /**
   * Create the state for `vars` now (Keras's `optimizer.build(var_list)`): the step counter and
   * each variable's slots, named `<variable>/<slot>`. applyGradients does it on first use; a
   * step traced with `trace` (not `fn`, which binds assigned variables itself) needs it done
   * first, to list `optimizer.variables` among the bound variables.
   */
  build(vars: readonly Variable[]): void {
    const who = `optimizer '${this.name}'.build`;
    if (!Array.isArray(vars)) throw new KilnError(`${who}: expects a list of Variables, got ${typeof vars}`);
    vars.forEach((v, i) => { if (!(v instanceof Variable)) throw new KilnError(`${who}: vars[${i}] must be a kiln Variable, got ${describeArg(v)}`); });
    this.iterationsVariable ??= variable(ops.scalar(0, 'i32'), { name: `${this.name}/iterations`, trainable: false });
    for (const v of vars) {
      if (this.slotVariables.has(v)) continue;
      // Initial slot values come from the variable's concrete value: concrete even under a trace.
      const init = this.init([v.value]).slots[0]!;
      this.slotVariables.set(v, this.slotNames().map((n) => variable(concreteOr(init[n]!, v, n), { name: `${v.name}/${n}`, trainable: false })));
    }
  }

  /**
   * Apply one update (Keras's `apply_gradients`, tfjs's `applyGradients`): reads each variable,
   * its slots and the step counter, runs `apply` and assigns the results. Eagerly it updates the
   * variables; under a trace it records the updates, which needs the variables and
   * `optimizer.variables` bound by that trace (`fn` binds assigned variables itself; for `trace`
   * see `build`). One call counts one iteration.
   */
  applyGradients(gradsAndVars: GradsAndVars): void {
    const who = `optimizer '${this.name}'.applyGradients`;
    const { grads, vars } = normalizeGradsAndVars(who, gradsAndVars, this.slotVariables);
    const seen = new Set<Variable>();
    vars.forEach((v, i) => {
      const g = grads[i]!;
      if (seen.has(v)) throw new KilnError(`${who}: variable '${v.name}' is listed twice`);
      seen.add(v);
      if (!(g instanceof Tensor)) throw new KilnError(`${who}: the gradient of variable '${v.name}' must be a Tensor, got ${describeArg(g)}`);
      if (g.dtype !== v.dtype || !shapesEqual(g.shape, v.shape)) {
        throw new KilnError(`${who}: variable '${v.name}' is ${v.value.describe()} but its gradient is ${g.describe()}`);
      }
    });
    if (vars.length === 0) throw new KilnError(`${who}: got no gradients`);
    this.build(vars);
    const state = [this.iterationsVariable!, ...vars.flatMap((v) => this.slotVariables.get(v)!)];
    const trace = activeTrace();
    if (trace) {
      const unbound = [...vars, ...state].filter((v) => !trace.bindings.has(v));
      if (unbound.length > 0) {
        throw new KilnError(
          `${who} while tracing '${trace.name}': ${unbound.map((v) => `'${v.name}'`).join(', ')} ${unbound.length === 1 ? 'is' : 'are'} not bound by the trace, so the update cannot be recorded; ` +
            `kiln.fn binds the variables a step assigns by itself; with kiln.trace, call optimizer.build(vars) first and pass {variables: [...vars, ...optimizer.variables]}`,
        );
      }
    }
    const names = this.slotNames();
    const slots = vars.map((v) => Object.fromEntries(this.slotVariables.get(v)!.map((s, k) => [names[k]!, s.read()])));
    const r = this.apply(vars.map((v) => v.read()), grads, { iterations: this.iterationsVariable!.read(), slots });
    vars.forEach((v, i) => {
      v.assign(r.params[i]!);
      const sv = this.slotVariables.get(v)!;
      names.forEach((n, k) => sv[k]!.assign(r.state.slots[i]![n]!));
    });
    this.iterationsVariable!.assign(r.state.iterations);
  }

  /**
   * Differentiate `loss` (a function of no arguments returning a scalar) with respect to `vars`
   * (default: every trainable variable it reads) and apply the update; returns the loss. The
   * tfjs form `minimize(f, returnCost, varList)` is accepted too (null when returnCost is false).
   */
  minimize(loss: () => Tensor, vars?: readonly Variable[]): Tensor;
  minimize(loss: () => Tensor, returnCost: boolean, varList?: readonly Variable[]): Tensor | null;
  minimize(loss: () => Tensor, a?: readonly Variable[] | boolean, b?: readonly Variable[]): Tensor | null {
    const tfjsForm = typeof a === 'boolean';
    const vars = tfjsForm ? b : a;
    const r = variableGradsList(loss, vars, `optimizer '${this.name}'.minimize`);
    this.applyGradients({ grads: r.grads, vars: r.variables });
    return tfjsForm && !a ? null : r.value;
  }

  /** Keras-style config (snake_case keys; a schedule as {class_name, config}). */
  getConfig(): OptimizerConfig {
    const config: OptimizerConfig = {
      name: this.name,
      learning_rate: typeof this.learningRate === 'number' ? this.learningRate : this.learningRate.serialize(),
      weight_decay: this.weightDecay,
      clipnorm: this.clipnorm,
      global_clipnorm: this.globalClipnorm,
      clipvalue: this.clipvalue,
    };
    for (const [k, v] of Object.entries(this.ownConfig())) config[toSnake(k)] = v;
    return config;
  }

  serialize(): SerializedOptimizer {
    return { class_name: this.className, config: this.getConfig() };
  }

  private checkApply(params: readonly Tensor[], grads: readonly Tensor[], state: OptimizerState): void {
    const who = `${this.className}.apply`;
    if (params.length !== grads.length) {
      throw new KilnError(`${who}: got ${params.length} params but ${grads.length} gradients`);
    }
    if (state.slots.length !== params.length) {
      throw new KilnError(`${who}: the state holds slots for ${state.slots.length} params, got ${params.length} params; init() the state with the same params`);
    }
    if (state.iterations.dtype !== 'i32' || state.iterations.rank !== 0) {
      throw new KilnError(`${who}: state.iterations must be an i32 scalar, got ${state.iterations.describe()}`);
    }
    params.forEach((p, i) => {
      const g = grads[i]!;
      if (!(p instanceof Tensor) || !(g instanceof Tensor)) throw new KilnError(`${who}: param ${i} and its gradient must be Tensors`);
      if (p.dtype !== g.dtype || !shapesEqual(p.shape, g.shape)) {
        throw new KilnError(`${who}: param ${i} is ${p.describe()} but its gradient is ${g.describe()}`);
      }
      for (const n of this.slotNames()) {
        const s = state.slots[i]![n];
        if (!s || !shapesEqual(s.shape, p.shape)) {
          throw new KilnError(`${who}: slot '${n}' of param ${i} (${p.describe()}) is ${s ? s.describe() : 'missing'}`);
        }
      }
    });
  }
}

function describeArg(x: unknown): string {
  if (x instanceof Tensor) return x.describe();
  if (x === null) return 'null';
  if (Array.isArray(x)) return `an array of ${x.length}`;
  return typeof x === 'object' ? `an object (${(x as object).constructor?.name ?? 'no prototype'})` : `${typeof x} ${String(x)}`;
}

/** A slot's initial value as a concrete tensor (an initSlot that was traced falls back to zeros). */
function concreteOr(t: Tensor, v: Variable, slot: string): Tensor {
  if (!t.isSymbolic) return t;
  throw new KilnError(`optimizer: the initial value of slot '${slot}' of variable '${v.name}' came out symbolic; call optimizer.build(vars) outside traced functions`);
}

/** The four accepted forms of applyGradients' argument as parallel lists. */
function normalizeGradsAndVars(who: string, x: GradsAndVars, known: ReadonlyMap<Variable, unknown>): { grads: Tensor[]; vars: Variable[] } {
  const form = 'expects [[grad, variable], ...], {grads, vars}, a map {variableName: grad} (from kiln.variableGrads) or [{name, tensor}, ...]';
  if (x === null || typeof x !== 'object') throw new KilnError(`${who}: ${form}; got ${describeArg(x)}`);
  if (Array.isArray(x)) {
    const grads: Tensor[] = [];
    const vars: Variable[] = [];
    const named: Record<string, Tensor> = {};
    x.forEach((e: unknown, i) => {
      if (Array.isArray(e) && e.length === 2) {
        const [g, v] = e as [unknown, unknown];
        if (g instanceof Variable && v instanceof Tensor) throw new KilnError(`${who}: entry ${i} is [variable, grad]; Keras's order is [grad, variable]`);
        if (!(v instanceof Variable)) throw new KilnError(`${who}: entry ${i} must be [grad, variable] with a kiln Variable second, got ${describeArg(v)}`);
        grads.push(g as Tensor);
        vars.push(v);
      } else if (e !== null && typeof e === 'object' && typeof (e as { name?: unknown }).name === 'string' && 'tensor' in (e as object)) {
        named[(e as { name: string }).name] = (e as { tensor: Tensor }).tensor;
      } else {
        throw new KilnError(`${who}: entry ${i}: ${form}; got ${describeArg(e)}`);
      }
    });
    if (Object.keys(named).length > 0) {
      if (vars.length > 0) throw new KilnError(`${who}: mixes [grad, variable] pairs and {name, tensor} entries; use one form`);
      return resolveNamed(who, named, undefined, known);
    }
    return { grads, vars };
  }
  if ('grads' in x && 'vars' in x && Array.isArray((x as { grads: unknown }).grads)) {
    const { grads, vars } = x as { grads: readonly Tensor[]; vars: readonly Variable[] };
    if (!Array.isArray(vars) || vars.length !== grads.length) {
      throw new KilnError(`${who}: {grads, vars} must be two lists of the same length, got ${grads.length} grads and ${Array.isArray(vars) ? vars.length : describeArg(vars)} vars`);
    }
    vars.forEach((v, i) => { if (!(v instanceof Variable)) throw new KilnError(`${who}: vars[${i}] must be a kiln Variable, got ${describeArg(v)}`); });
    return { grads: [...grads], vars: [...vars] };
  }
  return resolveNamed(who, x as Readonly<Record<string, Tensor>>, variablesOfGrads(x), known);
}

/** A tfjs name-keyed gradient map: names resolve through variableGrads' record or the variables this optimizer updated before. */
function resolveNamed(who: string, named: Readonly<Record<string, Tensor>>, fromGrads: ReadonlyMap<string, Variable> | undefined, known: ReadonlyMap<Variable, unknown>): { grads: Tensor[]; vars: Variable[] } {
  const byName = new Map<string, Variable>();
  for (const v of known.keys()) byName.set(v.name, v);
  for (const [n, v] of fromGrads ?? []) byName.set(n, v);
  const grads: Tensor[] = [];
  const vars: Variable[] = [];
  for (const [name, g] of Object.entries(named)) {
    const v = byName.get(name);
    if (!v) {
      throw new KilnError(
        `${who}: no variable named '${name}' is known (Kiln has no global variable registry): pass the grads map kiln.variableGrads returned, ` +
          `or [[grad, variable], ...] / {grads, vars}`,
      );
    }
    grads.push(g);
    vars.push(v);
  }
  return { grads, vars };
}

/** The learning rate in the parameter's dtype (a tensor lr is f32; params may be f16). */
function scalarFor(lr: Tensor | number, p: Tensor): Tensor | number {
  return typeof lr === 'number' || lr.dtype === p.dtype ? lr : ops.cast(lr, p.dtype);
}

/** lr * k, in JS when the learning rate is a constant (so no tensor of the wrong dtype appears). */
export function lrTimes(lr: Tensor | number, k: number): Tensor | number {
  return typeof lr === 'number' ? lr * k : ops.mul(lr, k);
}

/** Base options read back from a snake_case (or camelCase) config. */
export function baseArgsFromConfig(config: OptimizerConfig): BaseOptimizerArgs & Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(config)) {
    if (v === null || v === undefined) continue;
    out[toCamel(k)] = v;
  }
  const lr = out['learningRate'];
  if (lr !== undefined && typeof lr === 'object') out['learningRate'] = deserializeSchedule(lr as SerializedSchedule);
  return out;
}
