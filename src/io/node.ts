// The file system at the library's edge (Node only): reading images and text with clear errors, and atomic
// writes so that a failed command never leaves a partial output file behind.
import * as zlib from 'node:zlib';
import { gunzipSync, gzip, gzipSync, inflateSync, constants as zlibConstants, type ZlibOptions } from 'node:zlib';
import { constants as bufferConstants } from 'node:buffer';
import { closeSync, mkdirSync, readdirSync, readFileSync, constants as fsConstants, fstatSync, fsyncSync, openSync, readSync, realpathSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { CoregError } from '../errors.js';
import type { WarningSink } from '../errors.js';
import type { Image } from '../image/image.js';
import { decodeImage, encodeImage } from './image-io.js';
import { niftiParts } from './nifti.js';
import { groupDicomSeries, hasDicomMagic, parseDicomObject, readDicomSeries, severalSeriesError, summarizeDicomSeries } from './dicom.js';
import type { DicomObject, DicomSeriesSummary } from './dicom.js';
import { concatBytes, readUint32LE, setNativeGunzip, setNativeInflateZlib } from './compression.js';

/** A Buffer zlib returned as an array that owns its memory (a small result may sit inside Node's shared pool). */
function ownBytes(out: Buffer): Uint8Array {
  return out.byteOffset === 0 && out.buffer.byteLength === out.length ? new Uint8Array(out.buffer) : new Uint8Array(out);
}

// Node's zlib inflates .nii.gz faster than the pure-JS decoder the browser build uses (CPU: ch2bet 0.14 → 0.02 s,
// a 512×512×300 int16 CT 1.7 → 0.7 s); a failure there falls back to that decoder for the exact error message.
export function nodeGunzip(bytes: Uint8Array, limit: number): Uint8Array {
  const max = Math.max(1, Math.min(limit, bufferConstants.MAX_LENGTH));
  return ownBytes(gunzipSync(bytes, { maxOutputLength: max, chunkSize: gunzipChunkSize(bytes, max) }));
}

/**
 * zlib's output chunk for a gzip file: the size its trailer states (ISIZE, the last member's size mod 2^32) when
 * that is within the bound, so that the result is one buffer written once. With the 16 KiB default, zlib writes
 * ~1 700 chunks for a 28 MB image and then copies them into one buffer: every page touched twice (a fresh page
 * costs ~11 µs on this VM kind; reading a 181×217×181 float32 .nii.gz took 284 ms instead of 177). Only a buffer
 * size: a wrong trailer (several members, > 4 GiB, damage) just means more chunks, joined as before.
 */
export function gunzipChunkSize(bytes: Uint8Array, max: number): number | undefined {
  if (bytes.length < 18) return undefined;
  const isize = readUint32LE(bytes, bytes.length - 4);
  return isize >= 1 << 16 && isize <= max ? isize : undefined;
}
setNativeGunzip(nodeGunzip);
// The same for zlib streams (PNG image data, .zraw): the 2D bench pair's two PNGs took ≈ 20 ms of CPU in the JS
// decoder, which runs before it is optimised (issue 13).
export function nodeInflateZlib(bytes: Uint8Array, limit: number): Uint8Array {
  return ownBytes(inflateSync(bytes, { maxOutputLength: Math.max(1, Math.min(limit, bufferConstants.MAX_LENGTH)) }));
}
setNativeInflateZlib(nodeInflateZlib);

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

// ---- reading: the path policy, regular files only, a size bound before every read ---------------------

/** The largest file coreg reads (2 GiB − 1, Node's limit for one read); readers pass tighter bounds. */
export const MAX_FILE_BYTES = 2 ** 31 - 1;

/**
 * The policy for files named inside other files (MetaImage ElementDataFile, NRRD "data file", result.json's
 * "transforms", elastix chains): by default they must resolve inside the folder of the file that names them
 * (subfolders allowed, symbolic links followed and checked); `allowOutsidePaths` (the CLI's
 * --allow-outside-paths) lifts that for trusted layouts.
 */
export const pathPolicy = { allowOutsidePaths: false };

const ABSOLUTE = /^(?:[\\/]|[A-Za-z]:)/;

/**
 * Resolves `name`, as written inside `namingFile`, against the folder of `namingFile` under the path policy.
 * Throws CoregError(namingFile, …) for absolute paths, `..` paths leaving the folder and links out of it; the
 * check is made on the text first, so nothing is learnt about files outside the folder. `what` names the entry
 * in the message (e.g. 'data file').
 */
export function resolveNamedFile(namingFile: string, name: string, what = 'file', opts: { allowOutsidePaths?: boolean } = {}): string {
  const folder = dirname(namingFile);
  if (name === '' || name.includes('\0')) throw new CoregError(namingFile, `names an empty or invalid ${what} path`);
  if (opts.allowOutsidePaths ?? pathPolicy.allowOutsidePaths) return isAbsolute(name) ? name : join(folder, name);
  const shown = name.length > 80 ? `${name.slice(0, 80)}…` : name;
  const refuse = (why: string) =>
    new CoregError(namingFile, `${what} "${shown}" ${why}; files named inside a file must be in its folder (--allow-outside-paths lifts this for trusted files)`);
  if (ABSOLUTE.test(name)) throw refuse('is an absolute path');
  const base = resolve(folder);
  const candidate = resolve(base, name);
  if (!candidate.startsWith(base.endsWith(sep) ? base : base + sep)) throw refuse('is outside the folder');
  let real: string;
  try {
    real = realpathSync(candidate);
  } catch {
    return candidate; // missing: the read reports it under the path inside the folder
  }
  const realBase = realpathSync(base);
  if (!real.startsWith(realBase.endsWith(sep) ? realBase : realBase + sep)) throw refuse('links outside the folder');
  return candidate;
}

/**
 * For elastix-style chains (InitialTransformParametersFileName holds whatever path elastix was given): the file
 * with the same base name in the folder of `namingFile`, whatever folder the name points to.
 */
export function resolveByBaseName(namingFile: string, name: string): string {
  const base = name.slice(Math.max(name.lastIndexOf('/'), name.lastIndexOf('\\')) + 1);
  if (base === '' || base === '.' || base === '..') throw new CoregError(namingFile, `names an invalid file "${name}"`);
  return join(dirname(namingFile), base);
}

/** The files read so far (canonical path → path as given), when tracking is on (the CLI turns it on). */
const inputsRead = new Map<string, string>();
let trackingInputs = false;

/** Records every file read from now on, so that outputs can be checked against all inputs (CLI only). */
export function trackInputs(on = true): void {
  trackingInputs = on;
  inputsRead.clear();
}

/**
 * The whole file; CoregError(path, …) when it is missing, not a regular file (a folder, device, FIFO or socket
 * is never opened for reading), larger than `maxBytes` (checked before reading), empty or unreadable.
 */
export function readFileBytes(path: string, maxBytes = MAX_FILE_BYTES): Uint8Array {
  let bytes: Uint8Array;
  let fd = -1;
  try {
    const st = statSync(path);
    if (st.isDirectory()) throw new CoregError(path, 'is a directory');
    if (!st.isFile()) throw new CoregError(path, 'not a regular file (devices, FIFOs and sockets are not read)');
    const limit = Math.min(maxBytes, MAX_FILE_BYTES);
    if (st.size > limit) throw new CoregError(path, `too large: ${st.size} bytes, more than the ${limit} bytes allowed here`);
    // O_NONBLOCK: should the file be swapped for a FIFO after the check, opening it still cannot hang.
    fd = openSync(path, fsConstants.O_RDONLY | (fsConstants.O_NONBLOCK ?? 0));
    const fst = fstatSync(fd);
    if (!fst.isFile() || fst.size > limit) throw new CoregError(path, 'changed while being opened');
    bytes = new Uint8Array(fst.size);
    let at = 0;
    while (at < bytes.length) {
      const n = readSync(fd, bytes, at, bytes.length - at, null);
      if (n === 0) throw new CoregError(path, 'changed while being read (shorter than its size)');
      at += n;
    }
  } catch (e) {
    if (e instanceof CoregError) throw e;
    throw new CoregError(path, describeFsError(e, true));
  } finally {
    if (fd >= 0) closeSync(fd);
  }
  if (bytes.length === 0) throw new CoregError(path, 'empty file');
  if (trackingInputs) inputsRead.set(canonicalPath(path), path);
  return bytes;
}

/** The largest text file (points, settings, transforms) read by default: 512 MiB. */
export const MAX_TEXT_BYTES = 2 ** 29;

/** A UTF-8 text file (a leading BOM is dropped), refused when larger than `maxBytes`. */
export function readTextFile(path: string, maxBytes = MAX_TEXT_BYTES): string {
  const text = new TextDecoder('utf-8').decode(readFileBytes(path, maxBytes));
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** Reads an image file of any supported format; detached data files are looked up beside it. A folder is read
 * as one DICOM series (`series` picks one SeriesInstanceUID when the folder holds several). */
export function readImageFile(path: string, opts: { warn?: WarningSink; series?: string } = {}): Image {
  if (isDirectory(path)) return readDicomFolder(path, opts.series);
  if (opts.series !== undefined) throw new CoregError('--series', `${path} is a file, not a DICOM folder`, 2);
  const bytes = readFileBytes(path);
  return decodeImage(bytes, {
    name: path,
    warn: opts.warn,
    // A missing data file is reported under its own path (format readers add which header wanted it).
    readSibling: (relativePath: string, maxBytes?: number) => readFileBytes(resolveNamedFile(path, relativePath, 'data file'), maxBytes),
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

/** Temporary names made by this process so far. */
let temporaries = 0;

/**
 * A name beside `path` that no other file has: this process' id and count make it unique among running processes,
 * the random part keeps a crashed run's leftover (same id, reused) from clashing; files are created exclusively
 * ('wx'), so the name need not be unpredictable (and node:crypto, ~10 ms and 2 MB to load, is not needed).
 */
function temporaryName(path: string): string {
  return `${path}.tmp-${process.pid}-${(++temporaries).toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
}

/** Temporary files being written right now (removed by removeTemporaries on a signal). */
const liveTemporaries = new Set<string>();
/** Lock files this process holds (released by releaseOutputLocks). */
const heldLocks = new Set<string>();

/** Removes every temporary file this process is writing and every output lock it holds (signal handlers). */
export function removeTemporaries(): void {
  for (const t of liveTemporaries) removeQuietly(t);
  liveTemporaries.clear();
  releaseOutputLocks();
}

/**
 * mkdir -p, one level at a time from the deepest existing ancestor (Node's recursive mkdir can loop forever
 * under /proc); CoregError(subject, …) with the reason (read-only file system, permission denied, …).
 */
export function makeFolder(dir: string, subject = dir): void {
  const missing: string[] = [];
  let p = resolve(dir);
  for (;;) {
    try {
      statSync(p);
      break;
    } catch {
      missing.push(p);
      const parent = dirname(p);
      if (parent === p) break;
      p = parent;
    }
  }
  for (let i = missing.length - 1; i >= 0; i--) {
    try {
      mkdirSync(missing[i]);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') continue;
      const code = (e as NodeJS.ErrnoException).code;
      throw new CoregError(subject, code === 'ENOENT' ? `cannot create the folder ${missing[i]} here` : `cannot create the folder ${missing[i]}: ${describeFsError(e, false)}`);
    }
  }
}

/** The lock that keeps a second coreg run out of an output folder while this one writes there. */
export const LOCK_NAME = '.coreg.lock';

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Creates `dir` if needed and takes its lock (`dir/.coreg.lock` holding this process id), before any work: this
 * also proves that the folder can be written. A lock held by a live process is an error naming it; a stale one
 * (its process is gone) is taken over. Release with releaseOutputLock (signal handlers release all).
 */
export function acquireOutputLock(dir: string, subject = dir): string {
  makeFolder(dir, subject);
  if (!statSync(dir).isDirectory()) throw new CoregError(subject, 'exists and is not a folder');
  const lock = join(dir, LOCK_NAME);
  for (let attempt = 0; attempt < 2; attempt++) {
    let fd: number;
    try {
      fd = openSync(lock, 'wx');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new CoregError(subject, describeFsError(e, false));
      let pid = NaN;
      try {
        pid = Number(readFileSync(lock, 'utf8').trim());
      } catch {
        // Vanished meanwhile: try again.
      }
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && processAlive(pid)) {
        throw new CoregError(subject, `in use by another coreg run (process ${pid}); wait for it to finish (or remove ${lock} if that process is not coreg)`);
      }
      removeQuietly(lock);
      continue;
    }
    try {
      writeSync(fd, `${process.pid}\n`);
    } finally {
      closeSync(fd);
    }
    heldLocks.add(lock);
    return lock;
  }
  throw new CoregError(subject, `cannot take the lock ${lock}`);
}

export function releaseOutputLock(lock: string): void {
  if (heldLocks.delete(lock)) removeQuietly(lock);
}

export function releaseOutputLocks(): void {
  for (const l of heldLocks) removeQuietly(l);
  heldLocks.clear();
}

function writeWhole(path: string, data: Uint8Array | string | readonly Uint8Array[]): void {
  const parts = typeof data === 'string' ? [new TextEncoder().encode(data)] : Array.isArray(data) ? data : [data as Uint8Array];
  const fd = openSync(path, 'wx');
  try {
    for (const bytes of parts) {
      let at = 0;
      while (at < bytes.length) at += writeSync(fd, bytes, at, bytes.length - at);
    }
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

/** A file written under a temporary name beside its target (stageFile), renamed into place by writeFilesAtomic. */
export interface StagedFile {
  path: string;
  staged: string;
}

/**
 * Writes `data` now under a temporary name beside `path`, so that its bytes need not stay in memory until the other
 * files are ready (register's compressed images: −50 MB of peak RSS for a 3D B-spline run). writeFilesAtomic renames
 * it into place with the others (and removes it if they fail); a signal removes it (removeTemporaries); so does
 * discardStaged when the command fails before writeFilesAtomic.
 */
export function stageFile(path: string, data: Uint8Array | string | readonly Uint8Array[]): StagedFile {
  if (isDirectory(path)) throw new CoregError(path, 'is a directory');
  assertNotOverwritingInputs([path]);
  const tmp = temporaryName(path);
  liveTemporaries.add(tmp);
  try {
    writeWhole(tmp, data);
  } catch (e) {
    removeQuietly(tmp);
    liveTemporaries.delete(tmp);
    throw new CoregError(path, describeFsError(e, false));
  }
  return { path, staged: tmp };
}

/** Removes staged files that will not be renamed into place (their command failed). */
export function discardStaged(files: readonly StagedFile[]): void {
  for (const f of files) {
    removeQuietly(f.staged);
    liveTemporaries.delete(f.staged);
  }
}

/**
 * Writes several files so that either all of them appear or none: each goes to a temporary name in its own
 * folder first, and only when every one is complete are they renamed (the first file, the main one, last).
 * Files already written by stageFile are only renamed.
 */
export function writeFilesAtomic(files: ({ path: string; data: Uint8Array | string | readonly Uint8Array[] } | StagedFile)[]): void {
  const temps: string[] = [];
  let current = '';
  // Every target is checked before anything is written: no folder in the way, no input overwritten, no file twice.
  for (const f of files) if (isDirectory(f.path)) throw new CoregError(f.path, 'is a directory');
  assertNotOverwritingInputs(files.map((f) => f.path));
  const seen = new Set<string>();
  for (const f of files) {
    const c = canonicalPath(f.path);
    if (seen.has(c)) throw new CoregError(f.path, 'would be written twice by this command; choose different output names');
    seen.add(c);
  }
  try {
    for (const f of files) {
      current = f.path;
      if ('staged' in f) {
        temps.push(f.staged);
        continue;
      }
      const tmp = temporaryName(f.path);
      temps.push(tmp);
      liveTemporaries.add(tmp);
      writeWhole(tmp, f.data);
    }
    // Data files first, so that a header never appears without its data.
    for (let i = files.length - 1; i >= 0; i--) {
      current = files[i].path;
      renameSync(temps[i], files[i].path);
      liveTemporaries.delete(temps[i]);
      temps[i] = '';
    }
  } catch (e) {
    for (const t of temps) {
      if (t) removeQuietly(t);
      liveTemporaries.delete(t);
    }
    if (e instanceof CoregError) throw e;
    throw new CoregError(current, describeFsError(e, false));
  }
}

/**
 * A command's output folder under its lock (a concurrent run stays out while the files are renamed into place):
 * `files` and DIR/result.json, which writeFilesAtomic renames last, so a folder with result.json is complete.
 */
export function writeResultFolder(dir: string, subject: string, json: unknown, files: { path: string; data: Uint8Array | string }[]): void {
  const lock = acquireOutputLock(dir, subject);
  try {
    writeFilesAtomic([{ path: join(dir, 'result.json'), data: JSON.stringify(json, null, 2) + '\n' }, ...files]);
  } finally {
    releaseOutputLock(lock);
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
  writeFilesAtomic(imageFileParts(path, img, opts));
}

/**
 * writeImageFile with a .nii.gz compressed in pieces on libuv's thread pool and written from its buffers
 * (imageFilePartsAsync): the same image, several times faster for a large one (a 1 mm head's float32 image: the
 * single-threaded gzip and two whole-file copies took ~0.4 s).
 */
export async function writeImageFileAsync(path: string, img: Image, opts: { compress?: boolean; warn?: WarningSink } = {}): Promise<void> {
  writeFilesAtomic(await imageFilePartsAsync(path, img, opts));
}

/**
 * The files that make up an image file (the main file first, then detached data files), ready for
 * writeFilesAtomic: a command stages all its outputs in one call so that they appear together or not at all.
 */
export function imageFileParts(path: string, img: Image, opts: { compress?: boolean; warn?: WarningSink } = {}): { path: string; data: Uint8Array }[] {
  let encoded;
  if (/\.nii\.gz$/i.test(path)) {
    // Node's native zlib deflates several times faster than the pure-JS codec the browser build uses.
    const gz = gzipOptionsFor(img);
    encoded = encodeImage(img, path.slice(0, -3), { warn: opts.warn }).map((f) => ({ name: f.name, bytes: new Uint8Array(gzipSync(f.bytes, gz)) }));
  } else {
    encoded = encodeImage(img, path, { compress: opts.compress, warn: opts.warn });
  }
  return partsOf(path, encoded);
}

/**
 * imageFileParts, with .nii.gz compressed on libuv's thread pool: several images compress at once, beside the
 * JavaScript thread. The same file once inflated; the gzip stream is gzipPieces' (several deflate pieces in one
 * member), and a .nii.gz file's data is the list of its buffers (stageFile writes them in order).
 */
export async function imageFilePartsAsync(path: string, img: Image, opts: { compress?: boolean; warn?: WarningSink } = {}): Promise<{ path: string; data: Uint8Array | Uint8Array[] }[]> {
  if (!/\.nii\.gz$/i.test(path)) return imageFileParts(path, img, opts);
  // The header and the image's own pixel bytes go to the compressor as they are, and its pieces to the file: neither
  // the whole uncompressed file nor the whole compressed one is copied into one buffer (a 1 mm head's float32 image:
  // 28 + 22 MB of fresh pages, ~11 µs each on this VM kind).
  const { header, pixels } = niftiParts(img);
  return [{ path, data: await gzipPieces([header, pixels], gzipOptionsFor(img)) }];
}

/** Uncompressed bytes per piece of gzipPieces (a 1 mm head's float32 image: 7 pieces). */
const GZIP_PIECE = 4 << 20;

type Crc32 = (data: Uint8Array, value?: number) => number;

/**
 * zlib's output chunk for `n` input bytes: room for all of it (deflate's worst case is a few bytes per 16 KiB
 * block). Node's zlib hands each chunk of output back to the event loop before it deflates on, so with its 16 KiB
 * default a piece took ~250 round trips through this thread and the pool's threads mostly waited: a 1 mm head's
 * float32 image (7 pieces, 2 cores) 124–169 → 78–83 ms.
 */
function outputChunk(n: number): number {
  return n + 65536;
}

/**
 * gzip of the concatenation of `parts` (one member, any gzip reader's) on libuv's thread pool, in pieces compressed
 * at once when there are several (pigz's layout): each piece is deflated on its own (no window shared across pieces)
 * and all but the last end with an empty stored block (Z_SYNC_FLUSH), so that their raw deflate outputs follow one
 * another as one stream; the CRC-32 and length close the member. A 1 mm head's float32 image took ~0.35 s in one
 * piece, which a 2-thread registration's threads sat out. Each part is cut into its own pieces (a small header is a
 * piece of its own), and the result is the buffers that make the file in order (gzip header, each piece's deflate
 * output, trailer): neither the input nor the output is copied into one buffer. Up to one piece's worth in all (or a
 * Node without zlib.crc32): one plain gzip of the joined parts.
 */
export async function gzipPieces(parts: readonly Uint8Array[], options: ZlibOptions): Promise<Uint8Array[]> {
  const crc32 = (zlib as unknown as { crc32?: Crc32 }).crc32;
  const total = parts.reduce((n, p) => n + p.length, 0);
  if (total <= GZIP_PIECE || typeof crc32 !== 'function') {
    const bytes = parts.length === 1 ? parts[0] : concatBytes(parts);
    return new Promise<Uint8Array[]>((resolveBytes, reject) =>
      gzip(bytes, { ...options, chunkSize: outputChunk(bytes.length) }, (err, out) => (err ? reject(err) : resolveBytes([new Uint8Array(out.buffer, out.byteOffset, out.byteLength)]))),
    );
  }
  const slices: Uint8Array[] = [];
  for (const p of parts) for (let k = 0; k < p.length; k += GZIP_PIECE) slices.push(p.subarray(k, Math.min(p.length, k + GZIP_PIECE)));
  const count = slices.length;
  const deflating = Promise.all(
    slices.map(
      (piece, k) =>
        new Promise<Buffer>((resolveBytes, reject) => {
          const finishFlush = k === count - 1 ? zlibConstants.Z_FINISH : zlibConstants.Z_SYNC_FLUSH;
          zlib.deflateRaw(piece, { ...options, finishFlush, chunkSize: outputChunk(piece.length) }, (err, out) => (err ? reject(err) : resolveBytes(out)));
        }),
    ),
  );
  // (the CRC here while the pool deflates)
  let crc = 0;
  for (const piece of slices) crc = crc32(piece, crc);
  const pieces = await deflating;
  // header: magic, deflate, no flags, no time, no extra flags, OS unknown
  const head = new Uint8Array([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
  const trailer = new Uint8Array(8);
  const view = new DataView(trailer.buffer);
  view.setUint32(0, crc >>> 0, true);
  view.setUint32(4, total >>> 0, true);
  return [head, ...pieces.map((p) => new Uint8Array(p.buffer, p.byteOffset, p.byteLength)), trailer];
}

/**
 * gzip settings for an image: float pixels with the run-length strategy (deflate's match search finds next to
 * nothing in float data: on register's float32 outputs Z_RLE is 3× faster than level 6 for the same size, within
 * 1 %), other pixel types at level 6 (labels and integers do have longer matches).
 */
function gzipOptionsFor(img: Image): ZlibOptions {
  return img.data instanceof Float32Array || img.data instanceof Float64Array ? { level: 6, strategy: zlibConstants.Z_RLE } : { level: 6 };
}

function partsOf(path: string, encoded: { name: string; bytes: Uint8Array }[]): { path: string; data: Uint8Array }[] {
  const folder = dirname(path);
  const main = encoded.filter((f) => f.name === '');
  const siblings = encoded.filter((f) => f.name !== '');
  return [...main.map((f) => ({ path, data: f.bytes })), ...siblings.map((f) => ({ path: join(folder, f.name), data: f.bytes }))];
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

/**
 * Refuses outputs that are (through links, hard links or relative paths) any file read so far (when tracking is
 * on: images, their detached data files, transform files and the files a result.json names) or one of
 * `inputPaths`. CoregError(output, …), exit 1.
 */
export function assertNotOverwritingInputs(outputPaths: string[], inputPaths: string[] = []): void {
  for (const o of outputPaths) {
    // A folder where a file must go would stop the final renames: refuse it before any work, too.
    if (isDirectory(o)) throw new CoregError(o, 'is a directory');
    assertNotInput(o, [...inputsRead.values(), ...inputPaths], o);
  }
}

/** The files read since tracking was turned on (as the paths they were read under). */
export function inputsReadSoFar(): string[] {
  return [...inputsRead.values()];
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
