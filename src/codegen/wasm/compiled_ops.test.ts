import { describe, expect, it } from 'vitest';
import { allOps } from '../../ir/registry.js';
import { randomFunc, randomInputs } from '../../ir/random.js';
import { printFunc } from '../../ir/print.js';
import { compareCompiled, usesOnlyWasmTypes } from './test_util.js';
import '../../ir/ops/index.js';

// Every op, compiled to WebAssembly and run through the runtime, agrees with the interpreter on
// random shapes (sizes 1, non-multiples of 4 and zero-size dims come from the generator).
const OPS = allOps().map((d) => d.name).filter((n) => n !== 'constant');

describe('compiled ops agree with the interpreter', () => {
  for (const op of OPS) {
    it(op, async () => {
      let checked = 0;
      for (let seed = 1; checked < 4 && seed < 60; seed++) {
        const fn = randomFunc(seed * 7919 + op.length, { ops: [op], size: 3 });
        if (!usesOnlyWasmTypes(fn) || !fn.body.some((v) => v.op === op)) continue;
        const inputs = randomInputs(fn, seed);
        const mm = await compareCompiled(fn, inputs, { load: { threads: 1 } });
        expect(mm, `${printFunc(fn)}\nmismatch: ${JSON.stringify(mm)}`).toBeUndefined();
        checked++;
      }
      expect(checked).toBeGreaterThan(0);
    });
  }
});
