/**
 * The tracing context: a stack of open Traces. The top one receives every op that has a symbolic
 * input (see emit.ts). A Trace owns the Builder of the Func being recorded, the constants it
 * captured from concrete tensors (one node per literal), and the variables bound to parameters.
 */
import { Builder } from '../ir/builder.js';
import type { Value } from '../ir/function.js';
import type { Literal } from '../ir/literal.js';
import { KilnError } from '../ir/types.js';
import { Tensor, type TraceRef } from './tensor.js';

/** What a trace needs from a variable (variable.ts implements it; kept structural to avoid a cycle). */
export interface VariableRef {
  readonly name: string;
  readonly value: Tensor;
}

export class Trace implements TraceRef {
  readonly builder: Builder;
  open = true;
  /** Constant nodes made for concrete tensors, by literal, so a weight used twice is captured once. */
  private readonly captured = new Map<Literal, Value>();
  /** Variables bound to parameters: read() returns the bound (or latest assigned) symbolic value. */
  readonly bindings = new Map<VariableRef, Tensor>();
  /** Variables whose concrete value was read (captured as constants) while tracing. */
  readonly capturedVariables = new Set<VariableRef>();
  /** Bound variables assigned while tracing, with their new symbolic values. */
  readonly updates = new Map<VariableRef, Tensor>();

  constructor(readonly name: string) {
    this.builder = new Builder(name);
  }

  /** The IR value of `t` in this trace: its own value, or a captured constant. */
  valueOf(t: Tensor, op: string): Value {
    if (t.value) {
      if (t.trace !== this) {
        const where = t.trace ? `'${t.trace.name}'` : 'another trace';
        const why = t.trace && !t.trace.open ? 'a trace that has already finished' : `the enclosing trace ${where}`;
        throw new KilnError(
          `${op}: a symbolic ${t.describe()} from ${why} was used while tracing '${this.name}'; ` +
          `pass it to the function as an argument (or return it and use the result) instead of closing over it`,
        );
      }
      return t.value;
    }
    const lit = t.literal!;
    let v = this.captured.get(lit);
    if (!v) {
      v = this.builder.constant(lit);
      this.captured.set(lit, v);
    }
    return v;
  }

  symbolic(v: Value): Tensor {
    return Tensor.symbolic(v, this);
  }
}

const stack: Trace[] = [];

export function activeTrace(): Trace | undefined {
  return stack[stack.length - 1];
}

/** Run `body` with `trace` on top of the stack; the trace is closed afterwards, even on error. */
export function withTrace<T>(trace: Trace, body: () => T): T {
  stack.push(trace);
  try {
    return body();
  } finally {
    stack.pop();
    trace.open = false;
  }
}
