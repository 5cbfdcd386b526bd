// What every format reader and writer shares. Readers and writers work on bytes (browser-safe);
// src/io/node.ts does the file system at the edge.
import type { WarningSink } from '../errors.js';

export interface ReadContext {
  /** The file's name as the user gave it (used in error messages). */
  name: string;
  /**
   * Reads a file named relative to this file's folder (detached data of .mhd / .nhdr); throws if missing.
   * `maxBytes` is the largest size the naming header allows (see dataFileBound): a larger file is refused
   * before it is read. The Node implementation also enforces the path policy (src/io/node.ts).
   */
  readSibling?: (relativePath: string, maxBytes?: number) => Uint8Array;
  warn?: WarningSink;
}

/** One file produced by a writer. `name` is '' for the main file, else a sibling file name (e.g. "x.raw"). */
export interface EncodedFile {
  name: string;
  bytes: Uint8Array;
}

/** Guard before allocating: refuse absurd sizes with a stated limit. */
export const MAX_PIXEL_ELEMENTS = 2 ** 31 - 1;
/** The most pixel bytes any reader decodes (4 GiB): larger declared sizes are refused before reading. */
export const MAX_DECODED_BYTES = 2 ** 32;

/**
 * The largest data file a header declaring `declaredBytes` of pixel data may name: the declared size, plus a
 * prefix (`skip` header bytes) and, for compressed data, deflate's worst-case expansion (stored blocks).
 */
export function dataFileBound(declaredBytes: number, compressed: boolean, skip = 0): number {
  const base = declaredBytes + Math.max(0, skip);
  return compressed ? base + Math.ceil(base / 1000) * 5 + 65536 : base;
}
