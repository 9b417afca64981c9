import { describe, expect, it } from 'vitest';
import { randomFunc, randomInputs } from '../../ir/random.js';
import { printFunc } from '../../ir/print.js';
import { compareCompiled, usesOnlyWasmTypes } from './test_util.js';
import '../../ir/ops/index.js';

// Random graphs mix every op, so the fusion planner builds loop, row, dot/conv-epilogue and
// sibling groups out of them; compiled and run through the runtime they agree with the interpreter.
describe('compiled random graphs agree with the interpreter', () => {
  for (const threads of [1, 2]) {
    it(`${threads} thread(s)`, async () => {
      let checked = 0;
      for (let seed = 100; checked < 25 && seed < 400; seed++) {
        const fn = randomFunc(seed, { size: 14 });
        if (!usesOnlyWasmTypes(fn)) continue;
        const mm = await compareCompiled(fn, randomInputs(fn, seed), { load: { threads } });
        expect(mm, `seed ${seed}\n${printFunc(fn)}\nmismatch: ${JSON.stringify(mm)}`).toBeUndefined();
        checked++;
      }
      expect(checked).toBe(25);
    });
  }
});
