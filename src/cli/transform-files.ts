// Node file access for transform chains (src/io/chain-io.ts stays browser-safe).
import { statSync } from 'node:fs';
import { readFileBytes, resolveNamedFile } from '../io/node.js';
import type { TransformFileAccess } from '../io/chain-io.js';

export const nodeTransformFiles: TransformFileAccess = {
  readBytes: (path, maxBytes) => readFileBytes(path, maxBytes),
  isDirectory: (path) => {
    try {
      return statSync(path).isDirectory();
    } catch {
      return false;
    }
  },
  // Files named inside result.json (or a field's header) obey the path policy: inside the naming file's folder.
  sibling: (path, relative) => resolveNamedFile(path, relative, /result\.json$/i.test(path) ? 'transform file' : 'data file'),
  exists: (path) => {
    try {
      return statSync(path).isFile();
    } catch {
      return false;
    }
  },
};
