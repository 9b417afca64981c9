/**
 * Variables: named mutable holders of a concrete tensor (how Keras layers keep weights).
 * `read()` gives the concrete value, which a trace captures as a constant (inference), unless
 * the active trace bound the variable to a parameter (trace option `variables`, training), in
 * which case it gives the symbolic parameter. `assign` replaces the value; under a trace that
 * bound the variable it records a state update instead (an output aliased to the parameter).
 */
import { KilnError, shapesEqual } from '../ir/types.js';
import { activeTrace, type VariableRef } from './context.js';
import { tensor, type TensorValues } from './creation.js';
import { Tensor } from './tensor.js';

const usedNames = new Map<string, number>();

function uniqueName(base: string): string {
  const n = usedNames.get(base) ?? 0;
  usedNames.set(base, n + 1);
  return n === 0 ? base : `${base}_${n}`;
}

export class Variable implements VariableRef {
  readonly name: string;
  readonly trainable: boolean;
  private current: Tensor;
  private assigned = 0;

  constructor(init: Tensor, name: string, trainable: boolean) {
    if (init.isSymbolic) {
      throw new KilnError(`variable '${name}': the initial value must be concrete, got ${init.describe()}; create variables outside traced functions`);
    }
    this.current = init;
    this.name = name;
    this.trainable = trainable;
  }

  /** The concrete value (outside any trace binding). */
  get value(): Tensor {
    return this.current;
  }

  /** Incremented by every concrete assign; `fn` retraces when a captured variable changed. */
  get version(): number {
    return this.assigned;
  }

  get shape(): number[] {
    return this.current.shape;
  }

  get dtype(): Tensor['dtype'] {
    return this.current.dtype;
  }

  read(): Tensor {
    const trace = activeTrace();
    if (trace) {
      const bound = trace.updates.get(this) ?? trace.bindings.get(this);
      if (bound) return bound;
      trace.capturedVariables.add(this);
    }
    return this.current;
  }

  assign(t: Tensor): void {
    if (!(t instanceof Tensor)) throw new KilnError(`variable '${this.name}'.assign: expected a Tensor`);
    if (t.dtype !== this.current.dtype || !shapesEqual(t.shape, this.current.shape)) {
      throw new KilnError(`variable '${this.name}'.assign: value ${t.describe()} does not match the variable's ${this.current.describe()}`);
    }
    const trace = activeTrace();
    if (trace && trace.bindings.has(this)) {
      trace.updates.set(this, t);
      return;
    }
    if (t.isSymbolic) {
      throw new KilnError(
        `variable '${this.name}'.assign: got ${t.describe()}, but this trace captured the variable as a constant; ` +
        `bind it (trace option 'variables' / fn option 'variables') to update it inside a traced function, or return the new value and assign after the call`,
      );
    }
    this.current = t;
    this.assigned++;
  }
}

export interface VariableOptions {
  name?: string;
  trainable?: boolean;
}

export function variable(init: Tensor | TensorValues, opts: VariableOptions = {}): Variable {
  const value = init instanceof Tensor ? init : tensor(init);
  return new Variable(value, opts.name ?? uniqueName('variable'), opts.trainable ?? true);
}
