/**
 * docs/import-export.md stays true: every GraphModel op the importer translates, every op it
 * refuses on purpose, and every layer class the registry can load appears in it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OP_TABLE, REFUSED_OPS } from './ops/index.js';
import * as layers from '../../keras/layers/index.js';

const doc = readFileSync(join(__dirname, '../../../docs/import-export.md'), 'utf8');
const mentions = (name: string) => new RegExp(`(^|[^A-Za-z0-9_])${name.replace(/\*/g, '\\*')}([^A-Za-z0-9]|$)`).test(doc);

describe('docs/import-export.md', () => {
  it('lists every supported GraphModel op', () => {
    expect(Object.keys(OP_TABLE).filter((op) => !mentions(op))).toEqual([]);
  });
  it('lists every refused GraphModel op (families by prefix)', () => {
    const missing = Object.keys(REFUSED_OPS).filter((op) => !mentions(op) && !(op.startsWith('TensorArray') && doc.includes('TensorArray*')) && !(op.startsWith('TensorList') && doc.includes('TensorList*')) && !(/^NonMaxSuppressionV[2-5]$/.test(op) && doc.includes('NonMaxSuppressionV2–V5')));
    expect(missing).toEqual([]);
  });
  it('lists every built-in layer class', () => {
    const classes = Object.values(layers).filter((v): v is { className: string } & typeof v => typeof v === 'function' && typeof (v as { className?: unknown }).className === 'string')
      .map((c) => c.className).filter((n) => n !== 'Pooling2D' && n !== 'Layer');
    expect(classes.length).toBeGreaterThan(15);
    expect(classes.filter((c) => !mentions(c))).toEqual([]);
  });
});
