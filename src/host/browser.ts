/**
 * The browser's half of Kiln's host split (see src/host/node.ts): package.json's `browser` field
 * puts this module in place of node.ts in browser bundles. It imports nothing from Node; asking
 * it for Node's modules throws a KilnError that names the Node-only feature and what to use in
 * a browser instead.
 */
import { KilnError } from '../ir/types.js';
import type { NodeHost } from './node.js';

export type { NodeHost };

/** Always throws: `what` needs Node's file system, which a browser has not. */
export function nodeHost(what: string): NodeHost {
  throw new KilnError(`${what} needs Node (file system access); this is Kiln's browser build: pass bytes, a URL or an IOHandler instead of a path`);
}

/** Whether Node's modules are here (false in the browser build). */
export const hasNodeHost = false;
