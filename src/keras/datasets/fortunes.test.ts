import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { CharVocabulary, charWindows, fortuneCategories, loadFortunes, FORTUNES_DIR } from './fortunes.js';
import { KilnError } from '../../ir/types.js';

describe('fortunes dataset', () => {
  it('reads the installed texts: categories, %-separated entries', () => {
    const cats = fortuneCategories();
    expect(cats).toContain('computers');
    const entries = loadFortunes({ categories: ['computers'] });
    // An independent count: '%' separator lines in the file.
    const raw = readFileSync(`${FORTUNES_DIR}/computers`, 'latin1');
    const seps = raw.split('\n').filter((l) => l === '%').length;
    expect(entries.length).toBeGreaterThan(seps - 5);
    expect(entries.length).toBeLessThanOrEqual(seps + 1);
    expect(entries.every((e) => e.category === 'computers' && e.text.length > 0 && !e.text.includes('\n%\n'))).toBe(true);
    expect(() => loadFortunes({ categories: ['computer'] })).toThrow(/no category 'computer'/);
    expect(() => fortuneCategories('/nonexistent')).toThrow(KilnError);
  });

  it('character vocabulary and next-character windows', () => {
    const v = new CharVocabulary(['hello', 'world']);
    expect(v.size).toBe(8); // padding + d e h l o r w
    expect(v.decode(v.encode('hello'))).toBe('hello');
    expect(() => v.encode('x')).toThrow(/character "x" is not in the vocabulary/);
    const w = charWindows(Int32Array.from([1, 2, 3, 4, 5, 6, 7]), 3, 2);
    expect(w.n).toBe(2);
    expect(Array.from(w.x)).toEqual([1, 2, 3, 3, 4, 5]);
    expect(Array.from(w.y)).toEqual([2, 3, 4, 4, 5, 6]);
  });
});
