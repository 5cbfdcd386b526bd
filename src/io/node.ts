// The file system at the library's edge (Node only): reading images and text with clear errors, and atomic
// writes so that a failed command never leaves a partial output file behind.
import { gzipSync } from 'node:zlib';
import { closeSync, fsyncSync, openSync, readdirSync, readFileSync, realpathSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { CoregError } from '../errors.js';
import type { WarningSink } from '../errors.js';
import type { Image } from '../image/image.js';
import { decodeImage, encodeImage } from './image-io.js';
import { groupDicomSeries, hasDicomMagic, parseDicomObject, readDicomSeries, severalSeriesError, summarizeDicomSeries } from './dicom.js';
import type { DicomObject, DicomSeriesSummary } from './dicom.js';

/** A one-line reason for a failed file-system call. */
function describeFsError(e: unknown, reading: boolean): string {
  const code = (e as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT':
      return reading ? 'no such file' : 'folder does not exist';
    case 'ENOTDIR':
      return 'a parent of this path is not a folder';
    case 'EISDIR':
      return 'is a directory';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ENOSPC':
      return 'no space left on device';
    case 'EROFS':
      return 'read-only file system';
    case 'EMFILE':
    case 'ENFILE':
      return 'too many open files';
    default:
      return `${reading ? 'cannot read' : 'cannot write'} (${code ?? (e as Error).message})`;
  }
}

/** The whole file; CoregError(path, …) when it is missing, a directory, empty or unreadable. */
export function readFileBytes(path: string): Uint8Array {
  let bytes: Uint8Array;
  try {
    if (statSync(path).isDirectory()) throw new CoregError(path, 'is a directory');
    const buf = readFileSync(path);
    bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  } catch (e) {
    if (e instanceof CoregError) throw e;
    throw new CoregError(path, describeFsError(e, true));
  }
  if (bytes.length === 0) throw new CoregError(path, 'empty file');
  return bytes;
}

/** A UTF-8 text file (a leading BOM is dropped). */
export function readTextFile(path: string): string {
  const text = new TextDecoder('utf-8').decode(readFileBytes(path));
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** Reads an image file of any supported format; detached data files are looked up beside it. A folder is read
 * as one DICOM series (`series` picks one SeriesInstanceUID when the folder holds several). */
export function readImageFile(path: string, opts: { warn?: WarningSink; series?: string } = {}): Image {
  if (isDirectory(path)) return readDicomFolder(path, opts.series);
  if (opts.series !== undefined) throw new CoregError('--series', `${path} is a file, not a DICOM folder`, 2);
  const bytes = readFileBytes(path);
  const folder = dirname(path);
  return decodeImage(bytes, {
    name: path,
    warn: opts.warn,
    // A missing data file is reported under its own path (format readers add which header wanted it).
    readSibling: (relativePath: string) => readFileBytes(isAbsolute(relativePath) ? relativePath : join(folder, relativePath)),
  });
}

const MAX_DICOM_FILES = 100_000;

/** The regular files under a folder (recursively, sorted, hidden entries and symlinked folders skipped). */
function listFilesRecursive(folder: string, out: string[]): void {
  let entries;
  try {
    entries = readdirSync(folder, { withFileTypes: true });
  } catch (e) {
    throw new CoregError(folder, describeFsError(e, true));
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    const p = join(folder, e.name);
    if (e.isDirectory()) listFilesRecursive(p, out);
    else if (e.isFile()) out.push(p);
    if (out.length > MAX_DICOM_FILES) throw new CoregError(folder, `more than ${MAX_DICOM_FILES} files; point at the series' own folder`);
  }
}

/** Every DICOM image object under a folder (files recognised by content or a .dcm/.ima name; DICOMDIR skipped). */
export function readDicomObjects(folder: string): DicomObject[] {
  const files: string[] = [];
  listFilesRecursive(folder, files);
  const objects: DicomObject[] = [];
  let nonImage = 0;
  for (const f of files) {
    const bytes = readFileBytes(f);
    if (!hasDicomMagic(bytes) && !/\.(dcm|dicom|ima)$/i.test(f)) continue;
    if (/(^|\/)DICOMDIR$/i.test(f)) continue;
    const obj = parseDicomObject(bytes, f);
    if (!obj.hasPixelData) {
      nonImage++;
      continue;
    }
    objects.push(obj);
  }
  if (objects.length === 0) {
    throw new CoregError(folder, nonImage > 0 ? `missing pixel data (${nonImage} DICOM file(s), none of them an image)` : 'no DICOM files in this folder');
  }
  return objects;
}

/** The series in a DICOM folder. */
export function listDicomSeries(folder: string): DicomSeriesSummary[] {
  return summarizeDicomSeries(readDicomObjects(folder));
}

/** Reads the one series in a folder (or the one named by `series`). */
export function readDicomFolder(folder: string, series?: string): Image {
  const objects = readDicomObjects(folder);
  const groups = groupDicomSeries(objects);
  if (series !== undefined) {
    const chosen = groups.get(series);
    if (!chosen) throw new CoregError('--series', `no series ${series} in ${folder} (it holds ${[...groups.keys()].join(', ')})`);
    return readDicomSeries(chosen, folder);
  }
  if (groups.size > 1) throw severalSeriesError(folder, summarizeDicomSeries(objects));
  return readDicomSeries(objects, folder);
}

function temporaryName(path: string): string {
  return `${path}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
}

function writeWhole(path: string, data: Uint8Array | string): void {
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  const fd = openSync(path, 'wx');
  try {
    let at = 0;
    while (at < bytes.length) at += writeSync(fd, bytes, at, bytes.length - at);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Already gone or never created: nothing to clean up.
  }
}

/**
 * Writes several files so that either all of them appear or none: each goes to a temporary name in its own
 * folder first, and only when every one is complete are they renamed (the first file, the main one, last).
 */
export function writeFilesAtomic(files: { path: string; data: Uint8Array | string }[]): void {
  const temps: string[] = [];
  let current = '';
  try {
    for (const f of files) {
      current = f.path;
      if (isDirectory(f.path)) throw new CoregError(f.path, 'is a directory');
      const tmp = temporaryName(f.path);
      temps.push(tmp);
      writeWhole(tmp, f.data);
    }
    // Data files first, so that a header never appears without its data.
    for (let i = files.length - 1; i >= 0; i--) {
      current = files[i].path;
      renameSync(temps[i], files[i].path);
      temps[i] = '';
    }
  } catch (e) {
    for (const t of temps) if (t) removeQuietly(t);
    if (e instanceof CoregError) throw e;
    throw new CoregError(current, describeFsError(e, false));
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** Writes one file atomically (temporary name in the same folder, then rename). */
export function writeFileAtomic(path: string, data: Uint8Array | string): void {
  writeFilesAtomic([{ path, data }]);
}

/** Writes an image (format from the extension) and its sibling data files, all or nothing. */
export function writeImageFile(path: string, img: Image, opts: { compress?: boolean; warn?: WarningSink } = {}): void {
  let encoded;
  if (/\.nii\.gz$/i.test(path)) {
    // Node's native zlib deflates several times faster than the pure-JS codec the browser build uses.
    encoded = encodeImage(img, path.slice(0, -3), { warn: opts.warn }).map((f) => ({ name: f.name, bytes: new Uint8Array(gzipSync(f.bytes, { level: 6 })) }));
  } else {
    encoded = encodeImage(img, path, { compress: opts.compress, warn: opts.warn });
  }
  const folder = dirname(path);
  const main = encoded.filter((f) => f.name === '');
  const siblings = encoded.filter((f) => f.name !== '');
  writeFilesAtomic([...main.map((f) => ({ path, data: f.bytes })), ...siblings.map((f) => ({ path: join(folder, f.name), data: f.bytes }))]);
}

/** The canonical path of a file that may not exist yet (its folder resolved through symlinks). */
function canonicalPath(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    try {
      return join(realpathSync(dirname(resolve(path))), basename(path));
    } catch {
      return resolve(path);
    }
  }
}

/** device:inode of an existing file (catches hard links), or undefined. */
function fileIdentity(path: string): string | undefined {
  try {
    const s = statSync(path);
    return `${s.dev}:${s.ino}`;
  } catch {
    return undefined;
  }
}

/** Refuses to write `outputPath` when it is (through links or relative paths) one of the inputs. */
export function assertNotInput(outputPath: string, inputPaths: string[], subject: string): void {
  const out = canonicalPath(outputPath);
  const outId = fileIdentity(outputPath);
  for (const input of inputPaths) {
    const inId = outId && fileIdentity(input);
    if (canonicalPath(input) === out || (outId && inId === outId)) throw new CoregError(subject, `would overwrite the input ${input}; choose another output file`);
  }
}
