// Types of scripts/build-browser.mjs, for the tests that import it (src/host/browser_bundle.test.ts).
import type { Metafile } from 'esbuild';

export interface NodeImport { importer: string; path: string; kind: string }
export declare const BROWSER_ALLOWED_NODE_IMPORTS: readonly NodeImport[];
export declare function bundleKiln(opts?: { platform?: 'browser' | 'node'; entry?: string; minify?: boolean }): Promise<{ code: Uint8Array; metafile: Metafile; bytes: number; gzipBytes: number }>;
export declare function nodeImports(metafile: Metafile): NodeImport[];
