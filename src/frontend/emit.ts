/**
 * The one emission point of the frontend. `emit(op, inputs, attrs)` records a node in the active
 * trace when any input is symbolic (concrete inputs become captured constants); otherwise it
 * evaluates the node eagerly with the interpreter's per-node kernel and returns a concrete
 * Tensor that owns a plain typed array (no tidy/dispose for users).
 */
import * as tf from '@tensorflow/tfjs-core';
import '../ir/index.js'; // registers the ops
import { makeValue } from '../ir/builder.js';
import { Value, type Attrs } from '../ir/function.js';
import { ensureCpuBackend, evalNode, literalToTensor, tensorToLiteral } from '../ir/interpreter.js';
import { KilnError } from '../ir/types.js';
import { activeTrace } from './context.js';
import { Tensor } from './tensor.js';

export function emit(op: string, inputs: readonly Tensor[], attrs: Attrs = {}): Tensor {
  // Under a trace, a broadcast of a concrete value (a scalar operand of x + 1, relu's 0) is
  // recorded, not materialized: evaluating it eagerly would bake a full-size constant into the IR.
  const recordBroadcast = op === 'broadcast_in_dim' && activeTrace() !== undefined;
  if (recordBroadcast || inputs.some((t) => t.isSymbolic)) {
    const trace = activeTrace();
    if (!trace) {
      const sym = inputs.find((t) => t.isSymbolic)!;
      throw new KilnError(
        `${op}: the symbolic ${sym.describe()} escaped from its trace (through a closure, a variable or a global) ` +
        `and was used outside any trace; return it from the traced function instead`,
      );
    }
    const values = inputs.map((t) => trace.valueOf(t, op));
    return trace.symbolic(trace.builder.op(op, values, attrs));
  }
  return evalEagerly(op, inputs, attrs);
}

function evalEagerly(op: string, inputs: readonly Tensor[], attrs: Attrs): Tensor {
  // Stand-in parameters give makeValue the operand types: it checks arity and attrs and infers
  // the result type exactly as under tracing, so eager and traced errors read the same.
  const params = inputs.map((t, i) => new Value('parameter', [], { index: i }, t.type));
  const node = makeValue(op, params, attrs);
  ensureCpuBackend();
  tf.engine().startScope();
  try {
    const outT = evalNode(node, inputs.map((t) => literalToTensor(t.literal!)));
    return Tensor.concrete(tensorToLiteral(outT, node.type));
  } finally {
    tf.engine().endScope();
  }
}
