/**
 * Node's half of Kiln's host split: the one module in the compiler that imports Node built-ins
 * (files, paths, file URLs, `require` for ts-morph). Everything else reaches them through
 * `nodeHost(what)`. Browser bundles load src/host/browser.ts in its place (package.json
 * `browser` field), so no `node:*` module is reachable from the browser entry; the same call
 * there throws a KilnError naming the Node-only feature.
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import * as url from 'node:url';

const host = { fs, fsp, path, url, require: createRequire(import.meta.url) };

/** Node's modules, for the Node-only feature `what` (its name goes into the browser's error). */
export type NodeHost = typeof host;

/** Node's modules for the Node-only feature `what`. */
export function nodeHost(what: string): NodeHost {
  void what;
  return host;
}

/** Whether Node's modules are here (false in the browser build). */
export const hasNodeHost = true;
