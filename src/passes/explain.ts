/**
 * Human-readable fusion plans: each group (kind, ops, inputs and outputs with their types) and
 * each fusion decision with its reason. Used by `KILN_DUMP`, bug reports and tests.
 */
import type { Value } from '../ir/function.js';
import { typeToString } from '../ir/types.js';
import type { FusionPlan } from './fusion_plan.js';
import { layoutLines } from './layout_policy.js';

function describeValue(v: Value, plan: FusionPlan): string {
  const t = typeToString(v.type);
  if (v.op === 'parameter') return `%${v.id} ${v.name ?? 'param'}: ${t}`;
  const owner = plan.groupOf.get(v);
  const from = owner ? ` (group #${owner.id})` : v.op === 'constant' ? ' (constant)' : '';
  return `%${v.id} ${v.op}: ${t}${from}`;
}

export function explainPlan(plan: FusionPlan): string {
  const fn = plan.func;
  const lines: string[] = [];
  const kept = plan.decisions.filter((d) => d.fuse).length;
  lines.push(`fusion plan for @${fn.name}: ${fn.body.length} values -> ${plan.groups.length} kernels; ` +
    `${kept} of ${plan.decisions.length} decisions fused`);
  for (const g of plan.groups) {
    const ops = g.values.filter((v) => v.op !== 'constant').map((v) => `${v.op} %${v.id}`);
    lines.push(`group #${g.id} ${g.kind} (root ${g.root.op} %${g.root.id}: ${typeToString(g.root.type)}), ${ops.length} ops`);
    lines.push(`  ops: ${ops.join(', ')}`);
    if (g.prologue.length > 0) lines.push(`  prologue: ${g.prologue.map((v) => `${v.op} %${v.id}`).join(', ')}`);
    if (g.epilogue.length > 0) lines.push(`  epilogue: ${g.epilogue.map((v) => `${v.op} %${v.id}`).join(', ')}`);
    lines.push(`  inputs: ${g.inputs.map((v) => describeValue(v, plan)).join(', ') || 'none'}`);
    const resultIndex = (v: Value) => fn.results.indexOf(v);
    lines.push(`  outputs: ${g.outputs.map((v) => {
      const r = resultIndex(v);
      return `%${v.id}: ${typeToString(v.type)}${r >= 0 ? ` -> result ${fn.resultNames[r] ?? r}` : ''}`;
    }).join(', ')}`);
  }
  if (plan.controls.length > 0) {
    lines.push('control flow:');
    for (const c of plan.controls) lines.push(`  ${c}`);
  }
  const layout = layoutLines(fn, (v) => plan.groupOf.get(v));
  if (layout.length > 0) {
    lines.push('layout (transposes: fold = read at permuted indices by a kernel, change = explicit layout change):');
    for (const l of layout) lines.push(`  ${l}`);
  }
  lines.push('decisions:');
  // Program order reads better than the planner's last-to-first traversal.
  const position = new Map(fn.body.map((v, i) => [v, i] as const));
  const ordered = plan.decisions
    .map((d, k) => ({ d, k }))
    .sort((a, b) => (position.get(a.d.producer) ?? -1) - (position.get(b.d.producer) ?? -1) || a.k - b.k)
    .map((x) => x.d);
  for (const d of ordered) {
    lines.push(`  ${d.fuse ? '+' : '-'} ${d.producer.op} %${d.producer.id} -> ${d.consumer.op} %${d.consumer.id}: ${d.why}`);
  }
  // Region bodies are planned (and fused) on their own.
  for (const [node, plans] of plan.regions) {
    plans.forEach((p, i) => {
      lines.push('', `region ${i} of ${node.op} %${node.id}:`, ...explainPlan(p).split('\n').map((l) => `  ${l}`));
    });
  }
  return lines.join('\n');
}
