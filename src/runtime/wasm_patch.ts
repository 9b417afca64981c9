/**
 * Lets a module compiled for threads run on a host without shared memory (a
 * browser page that is not cross-origin isolated, some embedded hosts): it
 * rewrites the one byte that makes the `env.memory` import shared. Kiln
 * kernels use no atomic instructions, so the rewritten module validates
 * against a plain memory and computes the same thing on one thread.
 */
import { KilnRuntimeError } from './errors.js';

/**
 * A copy of `wasm` whose `env.memory` import is not shared: the limits flag
 * 0x03 (max, shared) becomes 0x01 (max). Walks the sections up to the import
 * section (id 2) and its entries up to the memory; nothing else changes
 * size, so no offset needs fixing.
 */
export function unshareMemoryImport(wasm: Uint8Array, section = 'wasm'): Uint8Array {
  let p = 8; // past "\0asm" and the version
  const leb = (): number => {
    let r = 0;
    let shift = 0;
    let b: number;
    do {
      b = wasm[p++] ?? 0;
      r += (b & 0x7f) * 2 ** shift;
      shift += 7;
    } while (b & 0x80);
    return r;
  };
  const name = (): string => {
    const n = leb();
    return String.fromCharCode(...wasm.subarray(p, (p += n)));
  };
  const limits = (): void => {
    const flags = leb();
    leb(); // minimum
    if (flags & 1) leb(); // maximum
  };
  while (p < wasm.length) {
    const id = wasm[p++];
    const end = leb() + p;
    if (id === 2) {
      for (let n = leb(); n > 0; n--) {
        const module = name();
        const field = name();
        const kind = wasm[p++];
        if (kind === 2 && module === 'env' && field === 'memory') {
          const out = wasm.slice();
          out[p]! &= ~2;
          return out;
        }
        if (kind === 0) leb(); // function: type index
        else if (kind === 1) (p++, limits()); // table: reftype, limits
        else if (kind === 2) limits();
        else if (kind === 3) p += 2; // global: valtype, mutability
        else (p++, leb()); // tag: attribute, type index
      }
    }
    p = end;
  }
  throw new KilnRuntimeError(
    `the '${section}' module imports no memory 'env.memory', so it cannot be switched to unshared memory for a host without SharedArrayBuffer`,
  );
}
