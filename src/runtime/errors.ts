/**
 * The one error class the runtime throws for anything the caller can fix: a
 * file that is not an artifact, a format version this runtime does not know,
 * a truncated file, a malformed manifest, or inputs of the wrong name, shape
 * or type. WebAssembly traps inside kernels are wrapped in it too, naming the
 * kernel and thread. It is separate from the compiler's KilnError because the
 * runtime may import nothing from the rest of Kiln.
 */
export class KilnRuntimeError extends Error {
  override readonly name = 'KilnRuntimeError';
}

/** Short alias: `catch (e) { if (e instanceof RuntimeError) ... }`. */
export { KilnRuntimeError as RuntimeError };
