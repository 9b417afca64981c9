/**
 * Layout policy (issue 10, point 1): the physical layouts each target's kernels want for their
 * operands, and the one decision the rest of the compiler asks about them — may a transpose be
 * folded into the operand access of the kernel that reads it, or must it be materialized as an
 * explicit layout change (a kernel of its own)? Every answer carries its reason, printed by
 * `explain()`.
 *
 * This file holds no traversal: the layout pass (layout.ts) folds constant transforms and sinks
 * transposes, fusion (fusion.ts) asks `transposeLayout` whether a transpose joins the kernel of its
 * consumer, and code generation (codegen/lower.ts) reads a folded transpose at the permuted index
 * while packing (`packOperand`), so no lowering decides a layout on its own.
 *
 * Why the filter gradient needs this: a conv's weight gradient is computed as a conv over the batch
 * (`conv(transpose(x), transpose(dy))`, autodiff's rule), whose weight operand is the upstream
 * gradient transposed to [OH, OW, N, Cout]. Materialized, that transpose is a kernel of its own that
 * also computes dy's whole producer chain (the max-pool and ReLU gradients) in the transposed order,
 * striding through memory by N (22% of the Fashion-MNIST CNN training step). Both targets read conv
 * weights at an arbitrary index (the WebAssembly pack kernel, which has to copy them into GEMM
 * panels anyway, and CUDA's per-element conv), so the transpose costs nothing there: dy is stored
 * once, in its own row-major layout, and the pack reads each element of it exactly once.
 */
import type { Value } from '../ir/function.js';
import { attr } from '../ir/registry.js';

/** How strongly a kernel wants an operand layout: mandatory ones are produced by an explicit change. */
export type LayoutStrength = 'mandatory' | 'preferred';

/** One operand of one op kind, as a target's kernels lay it out physically. */
export interface OperandLayout {
  /** The consuming op. */
  readonly op: string;
  /** Which of its operands. */
  readonly operand: number;
  /** The physical layout the kernel reads. */
  readonly layout: string;
  readonly strength: LayoutStrength;
  /**
   * Whether the kernel reads the operand through a gather-capable step (a pack, or per-element
   * indexing) that can apply a transpose as a permuted index at no extra pass over memory.
   */
  readonly foldsTranspose: boolean;
  /** Why, in words. */
  readonly why: string;
}

export type LayoutTarget = 'wasm' | 'cuda';

/**
 * The layouts each target declares. A transpose feeding an operand that folds transposes on every
 * target joins the consumer's kernel; anywhere else it is materialized (an explicit layout change).
 */
export const TARGET_LAYOUTS: Readonly<Record<LayoutTarget, readonly OperandLayout[]>> = {
  wasm: [
    {
      op: 'conv', operand: 1, layout: 'GEMM panels of NR output channels over [KH*KW*Cin]', strength: 'mandatory', foldsTranspose: true,
      why: 'the blocked conv micro-kernel reads weights packed in panels: at compile time for constants (packPanels), else by a pack kernel that reads each weight once, at any index',
    },
    {
      op: 'conv', operand: 0, layout: 'NHWC rows (channels contiguous)', strength: 'mandatory', foldsTranspose: false,
      why: 'the blocked conv micro-kernel loads each input pixel\'s channels as SIMD vectors, once per overlapping window',
    },
    {
      op: 'dot_general', operand: 1, layout: 'GEMM panels of NR columns over K', strength: 'mandatory', foldsTranspose: false,
      why: 'the GEMM reads B packed in panels; dot_general\'s contracting dims already say which axis is K (simplify folds transposes into them)',
    },
    {
      op: 'dot_general', operand: 0, layout: 'A rows with a row stride, or A transposed', strength: 'preferred', foldsTranspose: false,
      why: 'the GEMM streams A by rows (or columns when transposed); other strides take the generic dot kernel',
    },
  ],
  cuda: [
    {
      op: 'conv', operand: 1, layout: 'HWIO, read per output element', strength: 'preferred', foldsTranspose: true,
      why: 'the per-element conv kernel reads each weight at a computed index; a transpose only permutes that index',
    },
    {
      op: 'conv', operand: 0, layout: 'NHWC', strength: 'preferred', foldsTranspose: false,
      why: 'the per-element conv kernel reads input windows at every output element; a folded transpose would be re-walked per window',
    },
    {
      op: 'dot_general', operand: 1, layout: 'row-major B (tensor-core tiles are loaded from it in shared memory)', strength: 'preferred', foldsTranspose: false,
      why: 'the tiled matmul loads B tiles by rows; dot_general\'s contracting dims already say which axis is K',
    },
  ],
};

/** The operand layout of `consumer`'s operand `operand` on `target`, if the target declares one. */
export function operandLayout(target: LayoutTarget, consumer: Value, operand: number): OperandLayout | undefined {
  return TARGET_LAYOUTS[target].find((c) => c.op === consumer.op && c.operand === operand);
}

/** A layout decision for one transpose, with its reason. */
export interface LayoutDecision {
  /** True: the transpose is read at permuted indices by its consumer's kernel; false: materialized. */
  readonly fold: boolean;
  readonly why: string;
}

const permText = (t: Value): string => `[${attr.ints(t.attrs, 'perm').join(', ')}]`;

/**
 * May transpose `t` be folded into the operand access of `consumer` (one of its users)? Only when
 * every target declares that operand as one that folds transposes (conv weights today): then the
 * transpose joins the consumer's kernel and its own operand is stored in its natural layout.
 */
export function transposeLayout(t: Value, consumer: Value): LayoutDecision {
  const at = `transpose %${t.id} ${permText(t)} -> ${consumer.op} %${consumer.id}`;
  if (t.op !== 'transpose') return { fold: false, why: `${t.op} %${t.id} is not a transpose` };
  const operand = consumer.inputs.indexOf(t);
  if (operand < 0) return { fold: false, why: `${at}: not an operand of ${consumer.op} %${consumer.id}` };
  if (consumer.inputs.lastIndexOf(t) !== operand) return { fold: false, why: `${at}: read as two operands; materialized once` };
  const targets = Object.keys(TARGET_LAYOUTS) as LayoutTarget[];
  const layouts = targets.map((tg) => operandLayout(tg, consumer, operand));
  const refusing = targets.find((_, i) => layouts[i] === undefined || !layouts[i]!.foldsTranspose);
  if (refusing !== undefined) {
    const l = operandLayout(refusing, consumer, operand);
    return { fold: false, why: `${at}: materialized (explicit layout change): ${refusing} ${l ? `wants ${l.layout} (${l.strength}): ${l.why}` : 'declares no layout for this operand'}` };
  }
  const src = t.inputs[0]!;
  return {
    fold: true,
    why: `${at}: folded into the operand read (${layouts.map((l, i) => `${targets[i]}: ${l!.layout}`).join('; ')}); ` +
      `${src.op === 'parameter' ? `%${src.name ?? src.id}` : `${src.op} %${src.id}`} stays in its own layout [${src.shape.join(',')}] and is read once at permuted indices`,
  };
}

/** The folded-transpose decision of `v` as a prologue of `anchor`, or undefined when `v` is not one. */
export function foldedTransposeOf(v: Value, anchor: Value): LayoutDecision | undefined {
  if (v.op !== 'transpose' || !anchor.inputs.includes(v)) return undefined;
  const d = transposeLayout(v, anchor);
  return d.fold ? d : undefined;
}

/**
 * The layout decisions of a planned function, one line each, for `explain()`: every transpose
 * feeding an operand a target declares (folded into the operand read, or materialized with the
 * constraint that forces it), and every other transpose by where it runs: inside the kernel of
 * its readers (read at permuted indices), or as a kernel of its own (an explicit layout change).
 */
export function layoutLines(fn: { body: readonly Value[]; users(): Map<Value, Value[]> }, groupOf: (v: Value) => { id: number; root: Value } | undefined): string[] {
  const users = fn.users();
  const lines: string[] = [];
  for (const t of fn.body) {
    if (t.op !== 'transpose') continue;
    const declared = (users.get(t) ?? []).filter((u) => (Object.keys(TARGET_LAYOUTS) as LayoutTarget[]).some((tg) => operandLayout(tg, u, u.inputs.indexOf(t))));
    for (const u of declared) {
      const d = transposeLayout(t, u);
      lines.push(`${d.fold ? 'fold' : 'change'} ${d.why}`);
    }
    if (declared.length > 0) continue;
    const g = groupOf(t);
    const at = `transpose %${t.id} [${attr.ints(t.attrs, 'perm').join(', ')}]: ${typeToShape(t)}`;
    if (g && g.root === t) lines.push(`change ${at}: explicit layout change, stored by its own kernel (group #${g.id}) for its readers`);
    else if (g) lines.push(`fold ${at}: read at permuted indices inside group #${g.id} (root ${g.root.op} %${g.root.id})`);
  }
  return lines;
}

const typeToShape = (v: Value): string => `[${v.shape.join(',')}]`;
