import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BROWSER_ALLOWED_NODE_IMPORTS, bundleKiln, nodeImports } from '../../scripts/build-browser.mjs';
import { KilnError } from '../ir/types.js';
import { nodeHost } from './browser.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

describe('browser entry', () => {
  it('reaches no Node built-in: the esbuild metafile of the browser bundle names none but binaryen\'s guarded one', async () => {
    const b = await bundleKiln({ platform: 'browser', minify: false });
    const inputs = Object.keys(b.metafile.inputs);
    // The host split took effect: browser.ts is in, node.ts is out.
    expect(inputs).toContain('src/host/browser.ts');
    expect(inputs).not.toContain('src/host/node.ts');
    // The compiler's stages are all in (this is the compiler, not the runtime alone).
    for (const f of ['src/compile.ts', 'src/ir/interpreter.ts', 'src/codegen/wasm/emit.ts', 'src/keras/engine/training.ts']) expect(inputs).toContain(f);
    const found = nodeImports(b.metafile);
    const allowed = found.filter((i) => BROWSER_ALLOWED_NODE_IMPORTS.some((a) => a.importer === i.importer && a.path === i.path && a.kind === i.kind));
    expect(found.filter((i) => !allowed.includes(i))).toEqual([]);
    expect(allowed.every((i) => i.kind === 'dynamic-import')).toBe(true);
  }, 60_000);

  it('keeps Node built-ins out of the compiler\'s sources except the Node-only places', () => {
    // Node-only by design: the host module, the CLI, the CUDA runtime, ptxas and the fortunes
    // reader (tests, bench; neither is exported from the entry).
    const nodeOnly = [/^src\/host\/node\.ts$/, /^src\/keras\/datasets\/fortunes\.ts$/, /^src\/cli\//, /^src\/runtime\/cuda\//, /^src\/codegen\/cuda\/ptxas\.ts$/, /\.test\.ts$/, /testkit/, /test_util/];
    const bad: string[] = [];
    const walk = (dir: string): void => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = join(dir, e.name);
        if (e.isDirectory()) { walk(p); continue; }
        const rel = relative(root, p).split('\\').join('/');
        if (!rel.endsWith('.ts') || nodeOnly.some((r) => r.test(rel))) continue;
        const src = readFileSync(p, 'utf8');
        // Value imports only: `import type` and `typeof import('node:...')` types are erased.
        for (const m of src.matchAll(/(?:^import\s+(?!type\b)[^;]*?from\s+|await\s+import\s*\(\s*)['"](node:[\w/]+)['"]/gm)) bad.push(`${rel}: ${m[1]}`);
      }
    };
    walk(join(root, 'src'));
    expect(bad).toEqual([]);
  });

  it('throws a KilnError naming the Node-only feature when the browser host is asked for files', () => {
    expect(() => nodeHost('ModelCheckpoint')).toThrow(KilnError);
    expect(() => nodeHost('ModelCheckpoint')).toThrow(/ModelCheckpoint needs Node .*browser build/);
  });
});
