/**
 * The text of `model.summary()`: a Keras-style table of layers (name and class), output
 * shapes, parameter counts and, for functional models, what each layer is connected to.
 */

export interface SummaryRow {
  name: string;
  className: string;
  /** Already formatted, e.g. `(None, 10)`; several outputs joined by commas. */
  outputShape: string;
  params: number;
  /** Inbound layers (functional models only). */
  connectedTo?: string[];
}

export interface SummaryTotals {
  total: number;
  trainable: number;
  nonTrainable: number;
}

function pad(s: string, width: number): string {
  return s.length >= width ? s : s + ' '.repeat(width - s.length);
}

export function formatSummary(modelName: string, className: string, rows: readonly SummaryRow[], totals: SummaryTotals): string {
  const functional = rows.some((r) => r.connectedTo !== undefined && r.connectedTo.length > 0);
  const header = ['Layer (type)', 'Output Shape', 'Param #', ...(functional ? ['Connected to'] : [])];
  const cells = rows.map((r) => [
    `${r.name} (${r.className})`,
    r.outputShape,
    r.params.toLocaleString('en-US'),
    ...(functional ? [(r.connectedTo ?? []).join(', ')] : []),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)) + 2);
  const line = (cols: readonly string[]) => cols.map((c, i) => pad(c, widths[i]!)).join('').trimEnd();
  const total = widths.reduce((a, b) => a + b, 0);
  const out = [
    `Model: "${modelName}" (${className})`,
    '_'.repeat(total),
    line(header),
    '='.repeat(total),
  ];
  cells.forEach((c, i) => {
    out.push(line(c));
    out.push(i === cells.length - 1 ? '='.repeat(total) : '_'.repeat(total));
  });
  if (cells.length === 0) out.push('='.repeat(total));
  out.push(`Total params: ${totals.total.toLocaleString('en-US')}`);
  out.push(`Trainable params: ${totals.trainable.toLocaleString('en-US')}`);
  out.push(`Non-trainable params: ${totals.nonTrainable.toLocaleString('en-US')}`);
  out.push('_'.repeat(total));
  return out.join('\n');
}
