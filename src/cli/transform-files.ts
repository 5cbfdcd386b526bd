// Node file access for transform chains (src/io/chain-io.ts stays browser-safe).
import { statSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { readFileBytes } from '../io/node.js';
import type { TransformFileAccess } from '../io/chain-io.js';

export const nodeTransformFiles: TransformFileAccess = {
  readBytes: (path) => readFileBytes(path),
  isDirectory: (path) => {
    try {
      return statSync(path).isDirectory();
    } catch {
      return false;
    }
  },
  sibling: (path, relative) => (isAbsolute(relative) ? relative : join(dirname(path), relative)),
  exists: (path) => {
    try {
      return statSync(path).isFile();
    } catch {
      return false;
    }
  },
};
