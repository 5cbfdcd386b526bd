// What every format reader and writer shares. Readers and writers work on bytes (browser-safe);
// src/io/node.ts does the file system at the edge.
import type { WarningSink } from '../errors.js';

export interface ReadContext {
  /** The file's name as the user gave it (used in error messages). */
  name: string;
  /** Reads a file named relative to this file's folder (detached data of .mhd / .nhdr); throws if missing. */
  readSibling?: (relativePath: string) => Uint8Array;
  warn?: WarningSink;
}

/** One file produced by a writer. `name` is '' for the main file, else a sibling file name (e.g. "x.raw"). */
export interface EncodedFile {
  name: string;
  bytes: Uint8Array;
}

/** Guard before allocating: refuse absurd sizes with a stated limit. */
export const MAX_PIXEL_ELEMENTS = 2 ** 31 - 1;
