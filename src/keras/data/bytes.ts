/**
 * Where file sources get their bytes: a Uint8Array / ArrayBuffer given directly, or a string
 * read from the file system in Node (through src/host/node.ts, which browser bundles replace)
 * and fetched as a URL in browsers. `.gz` data is gunzipped with the
 * host's DecompressionStream (Node 18+, browsers).
 */
import { hasNodeHost, nodeHost } from '../../host/node.js';
import { KilnError } from '../../ir/types.js';

export type ByteSource = string | Uint8Array | ArrayBuffer;

/**
 * Import a Node-only npm package (the image decoders) by a name bundlers do not follow: a browser
 * bundle of Kiln must not pull in their zlib/stream dependencies.
 */
export function nodeImport<T>(name: string): Promise<T> {
  return import(/* @vite-ignore */ name) as Promise<T>;
}

export async function readBytes(who: string, src: ByteSource): Promise<Uint8Array> {
  if (src instanceof Uint8Array) return src;
  if (src instanceof ArrayBuffer) return new Uint8Array(src);
  if (typeof src !== 'string') throw new KilnError(`${who}: expects a path/URL string, a Uint8Array or an ArrayBuffer, got ${src === null ? 'null' : typeof src}`);
  if (hasNodeHost && !/^https?:\/\//.test(src)) {
    const { fsp } = nodeHost(`${who} (reading '${src}')`);
    try {
      return new Uint8Array(await fsp.readFile(src.startsWith('file://') ? new URL(src) : src));
    } catch (e) {
      throw new KilnError(`${who}: cannot read '${src}': ${(e as Error).message}`);
    }
  }
  const r = await fetch(src);
  if (!r.ok) throw new KilnError(`${who}: fetching '${src}' failed: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

/** Gunzip when the bytes start with gzip's magic (1f 8b); otherwise return them as they are. */
export async function maybeGunzip(bytes: Uint8Array): Promise<Uint8Array> {
  if (bytes.length < 2 || bytes[0] !== 0x1f || bytes[1] !== 0x8b) return bytes;
  const stream = new Blob([bytes as BlobPart]).stream().pipeThrough(new DecompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}
