// Content hashes for caching peer results: an image file together with its detached data file, if any.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';

/** The file itself plus the data file a detached header (.mhd ElementDataFile, .nhdr "data file") names. */
export function imageFileSet(path: string): string[] {
  const lower = path.toLowerCase();
  if (!lower.endsWith('.mhd') && !lower.endsWith('.nhdr')) return [path];
  const header = readFileSync(path, 'latin1');
  const m = lower.endsWith('.mhd') ? /^\s*ElementDataFile\s*=\s*(.+?)\s*$/m.exec(header) : /^\s*data ?file\s*:\s*(.+?)\s*$/m.exec(header);
  if (!m || m[1] === 'LOCAL') return [path];
  return [path, isAbsolute(m[1]) ? m[1] : join(dirname(path), m[1])];
}

/** sha256 (hex, first 16 characters) over the files' bytes and the extra strings, in order. */
export function hashInputs(files: string[], extra: string[]): string {
  const h = createHash('sha256');
  for (const f of files) {
    h.update(readFileSync(f));
    h.update('\0');
  }
  for (const s of extra) {
    h.update(s);
    h.update('\0');
  }
  return h.digest('hex').slice(0, 16);
}
