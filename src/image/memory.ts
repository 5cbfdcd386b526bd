/**
 * Shared memory for the big typed arrays of a registration (levels, samples, block sums), kept out of malloc.
 *
 * A SharedArrayBuffer (or ArrayBuffer) of Node comes from the C library's malloc. glibc serves a big request from
 * its own mapping only above a threshold that rises to the size of the last such block freed (up to 32 MB), so
 * after the first few MB-sized buffers are collected, the next ones are carved from the thread's malloc arena, and
 * an arena gives freed memory back only from its top: a worker thread that registers an atlas of its own then keeps
 * tens of MB resident after its buffers are dead (coreg segment with two atlases at once: +60 MB of peak RSS, gone
 * with MALLOC_MMAP_THRESHOLD_, which cannot be set from inside the process). The buffer of a shared
 * WebAssembly.Memory is a SharedArrayBuffer that the engine maps by itself and unmaps when it is collected (Node
 * and browsers alike), so buffers of MAPPED_MIN_BYTES and more are taken from one each; smaller ones, and any the
 * engine refuses (address space), from SharedArrayBuffer as before. Either way the memory is zeroed.
 */

/** From this size on, a shared array gets its own mapping (a WebAssembly.Memory of whole 64 KiB pages). */
export const MAPPED_MIN_BYTES = 256 * 1024;
const PAGE = 65536;
// a memory32's most pages (4 GiB): larger buffers come from SharedArrayBuffer
const MAX_PAGES = 65536;

/** A typed array's constructor (Float32Array, …), as sharedTypedArray takes it. */
export interface TypedArrayConstructor<T> {
  new (buffer: SharedArrayBuffer, byteOffset: number, length: number): T;
  readonly BYTES_PER_ELEMENT: number;
}

/** Zeroed shared memory of at least `bytes` bytes (exactly `bytes` unless it is mapped: then whole pages). */
export function sharedBuffer(bytes: number): SharedArrayBuffer {
  if (bytes >= MAPPED_MIN_BYTES && typeof WebAssembly === 'object' && typeof WebAssembly.Memory === 'function') {
    const pages = Math.ceil(bytes / PAGE);
    if (pages <= MAX_PAGES) {
      try {
        return new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true }).buffer as unknown as SharedArrayBuffer;
      } catch {
        // no address space or no shared memories here: a plain SharedArrayBuffer
      }
    }
  }
  return new SharedArrayBuffer(bytes);
}

/** A zeroed typed array of `length` elements on shared memory (sharedBuffer); callers check that it exists. */
export function sharedTypedArray<T>(Ctor: TypedArrayConstructor<T>, length: number): T {
  return new Ctor(sharedBuffer(length * Ctor.BYTES_PER_ELEMENT), 0, length);
}

/**
 * A zeroed scratch or result typed array of `length` elements that stays in this thread's hands (never transferred):
 * big ones mapped outside malloc as above where shared memory exists, else a plain array.
 */
export function mappedTypedArray<T>(Ctor: TypedArrayConstructor<T> & (new (length: number) => T), length: number): T {
  return typeof SharedArrayBuffer === 'function' && length * Ctor.BYTES_PER_ELEMENT >= MAPPED_MIN_BYTES ? sharedTypedArray(Ctor, length) : new Ctor(length);
}
