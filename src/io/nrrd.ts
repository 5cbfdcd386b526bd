// NRRD (.nrrd attached / .nhdr detached) reader and writer. Geometry is converted to LPS at this edge.
import { CoregError } from '../errors.js';
import { allocatePixels, bytesPerElement, pixelTypeOf, type Image, type PixelArray, type PixelType } from '../image/image.js';
import { gzip, inflateZlibBounded } from './compression.js';
import { MAX_DECODED_BYTES, dataFileBound, type EncodedFile, type ReadContext } from './format.js';
import {
  HEADER_BYTE_LIMIT,
  baseName,
  checkElementCount,
  checkWritable,
  clip,
  decodeLine,
  decodePixels,
  determinant,
  encodePixelsLE,
  formatNumber,
  parseAsciiPixels,
  parseNumberToken,
  readDataFile,
} from './metaimage.js';

const NRRD_TYPES: Record<string, PixelType> = {};
function addTypeNames(type: PixelType, names: string[]): void {
  for (const n of names) NRRD_TYPES[n] = type;
}
addTypeNames('int8', ['signed char', 'int8', 'int8_t']);
addTypeNames('uint8', ['uchar', 'unsigned char', 'uint8', 'uint8_t']);
addTypeNames('int16', ['short', 'short int', 'signed short', 'signed short int', 'int16', 'int16_t']);
addTypeNames('uint16', ['ushort', 'unsigned short', 'unsigned short int', 'uint16', 'uint16_t']);
addTypeNames('int32', ['int', 'signed int', 'int32', 'int32_t']);
addTypeNames('uint32', ['uint', 'unsigned int', 'uint32', 'uint32_t']);
addTypeNames('float32', ['float']);
addTypeNames('float64', ['double']);

const UNSUPPORTED_TYPES = new Set([
  'longlong', 'long long', 'long long int', 'signed long long', 'signed long long int', 'int64', 'int64_t',
  'ulonglong', 'unsigned long long', 'unsigned long long int', 'uint64', 'uint64_t', 'block',
]);

/** teem's canonical spelling, as ITK writes it. */
const NRRD_NAME_OF: Record<PixelType, string> = {
  int8: 'signed char',
  uint8: 'unsigned char',
  int16: 'short',
  uint16: 'unsigned short',
  int32: 'int',
  uint32: 'unsigned int',
  float32: 'float',
  float64: 'double',
};

interface SpaceInfo {
  /** Number of coordinates in space directions / origin (including time). */
  dimension: number;
  /** Sign applied to x and y to reach LPS. */
  flipX: boolean;
  flipY: boolean;
  hasTime: boolean;
  /** True when coreg cannot tell how this space relates to the patient (kept as is, with a warning). */
  unknownFrame: boolean;
}

function spaceInfo(name: string, value: string): SpaceInfo {
  const v = value.trim().toLowerCase();
  const timed = v.endsWith('-time') || /^(ras|las|lps)t$/.test(v);
  const base = v.replace(/-time$/, '').replace(/^(ras|las|lps)t$/, '$1');
  const info = (flipX: boolean, flipY: boolean, unknownFrame = false): SpaceInfo => ({ dimension: timed ? 4 : 3, flipX, flipY, hasTime: timed, unknownFrame });
  switch (base) {
    case 'right-anterior-superior':
    case 'ras':
      return info(true, true);
    case 'left-anterior-superior':
    case 'las':
      return info(false, true);
    case 'left-posterior-superior':
    case 'lps':
      return info(false, false);
    case 'scanner-xyz':
    case '3d-right-handed':
    case '3d-left-handed':
      return info(false, false, true);
  }
  throw new CoregError(name, `unknown NRRD space "${clip(value)}"`);
}

const SPATIAL_KINDS = new Set(['domain', 'space', '???', 'none']);

interface NrrdHeader {
  /** Field name lower-cased with spaces removed ("data file" → "datafile") → value. */
  fields: Map<string, string>;
  /** Byte offset of attached data (after the first blank line), or bytes.length. */
  dataStart: number;
}

function parseNrrdHeader(bytes: Uint8Array, name: string): NrrdHeader {
  if (bytes.length === 0) throw new CoregError(name, 'empty file');
  const magic = decodeLine(bytes, 0, Math.min(8, bytes.length));
  if (!/^NRRD000[1-9]$/.test(magic)) throw new CoregError(name, 'not a NRRD file (it does not start with "NRRD000N")');
  const fields = new Map<string, string>();
  let pos = bytes.indexOf(0x0a);
  if (pos < 0) return { fields, dataStart: bytes.length };
  pos++;
  while (pos < bytes.length) {
    if (pos > HEADER_BYTE_LIMIT) throw new CoregError(name, `NRRD header longer than ${HEADER_BYTE_LIMIT} bytes (no blank line before the data?)`);
    const nl = bytes.indexOf(0x0a, pos);
    const end = nl < 0 ? bytes.length : nl;
    const line = decodeLine(bytes, pos, Math.min(end, pos + HEADER_BYTE_LIMIT));
    pos = nl < 0 ? bytes.length : nl + 1;
    if (line === '') break;
    if (line.startsWith('#')) continue;
    if (/^[^:]*:=/.test(line)) continue; // key:=value pairs carry no geometry
    const colon = line.indexOf(':');
    if (colon <= 0) throw new CoregError(name, `malformed NRRD header line "${clip(line)}" (expected "field: value")`);
    const field = line.slice(0, colon).trim().toLowerCase().replace(/\s+/g, '');
    const value = line.slice(colon + 1).trim();
    fields.set(field, value);
    if (field === 'datafile' && /^LIST(\s|$)/i.test(value)) {
      throw new CoregError(name, '"data file: LIST" (one data file per slice) is not supported; use a single data file');
    }
  }
  return { fields, dataStart: pos };
}

function integersOf(name: string, field: string, value: string, count: number, min: number): number[] {
  const tokens = value.split(/\s+/).filter((t) => t !== '');
  const values = tokens.map(Number);
  if (tokens.length !== count || values.some((v) => !Number.isInteger(v) || v < min)) {
    throw new CoregError(name, `NRRD "${field}" must be ${count} integer${count > 1 ? 's' : ''} ≥ ${min}, got "${clip(value)}"`);
  }
  return values;
}

/** Parses "(a,b,c)" vectors and the words none / ??? (null) of "space directions" or "space origin". */
function vectorsOf(name: string, field: string, value: string, count: number, length: number): (number[] | null)[] {
  const tokens = value.match(/\([^)]*\)|[^\s()]+/g) ?? [];
  if (tokens.length !== count) throw new CoregError(name, `NRRD "${field}" must list ${count} entr${count > 1 ? 'ies' : 'y'}, got "${clip(value)}"`);
  return tokens.map((t) => {
    if (!t.startsWith('(')) {
      if (t.toLowerCase() === 'none' || t === '???') return null;
      throw new CoregError(name, `NRRD "${field}" entry "${clip(t)}" is not a (x,y,z) vector`);
    }
    const comps = t.slice(1, -1).split(',').map((s) => parseNumberToken(s.trim()));
    if (comps.length !== length || comps.some((c) => !Number.isFinite(c))) {
      throw new CoregError(name, `NRRD "${field}" entry "${clip(t)}" must hold ${length} finite numbers`);
    }
    return comps;
  });
}

/**
 * Reads a NRRD image: "NRRD000N" magic, attached data after the first blank line or a detached `data file` read
 * through ctx.readSibling. One non-spatial axis (vector, list, RGB-color…, anywhere) becomes the components.
 * RAS/LAS spaces are converted to LPS.
 */
export function readNrrd(bytes: Uint8Array, ctx: ReadContext): Image {
  const name = ctx.name;
  const { fields, dataStart } = parseNrrdHeader(bytes, name);
  const required = (field: string, label: string): string => {
    const v = fields.get(field);
    if (v === undefined || v === '') throw new CoregError(name, `NRRD header has no "${label}" field`);
    return v;
  };

  const typeText = required('type', 'type');
  const typeKey = typeText.toLowerCase().replace(/\s+/g, ' ');
  const type = NRRD_TYPES[typeKey];
  if (!type) {
    throw new CoregError(name, UNSUPPORTED_TYPES.has(typeKey) ? `NRRD type "${typeText}" is not supported (64-bit integers and blocks cannot be held)` : `unknown NRRD type "${clip(typeText)}"`);
  }
  const dimension = integersOf(name, 'dimension', required('dimension', 'dimension'), 1, 1)[0];
  const sizes = integersOf(name, 'sizes', required('sizes', 'sizes'), dimension, 1);
  const encoding = required('encoding', 'encoding').toLowerCase();

  // ---- which axes are spatial ----
  const spaceText = fields.get('space');
  const spaceDimText = fields.get('spacedimension');
  let space: SpaceInfo | null = null;
  if (spaceText !== undefined) {
    space = spaceInfo(name, spaceText);
    if (space.unknownFrame) ctx.warn?.(`${name}: NRRD space "${spaceText}" has no patient frame; its coordinates are used as LPS`);
  } else if (spaceDimText !== undefined) {
    const sd = integersOf(name, 'space dimension', spaceDimText, 1, 1)[0];
    space = { dimension: sd, flipX: false, flipY: false, hasTime: false, unknownFrame: false };
  } else if (fields.has('spacedirections')) {
    // Not allowed by the format without a space, but some writers do it: the vectors' length gives the space.
    const firstVector = /\(([^)]*)\)/.exec(fields.get('spacedirections')!);
    if (firstVector) space = { dimension: firstVector[1].split(',').length, flipX: false, flipY: false, hasTime: false, unknownFrame: false };
  }
  const spatialCoords = space ? space.dimension - (space.hasTime ? 1 : 0) : 0;
  if (space && spatialCoords !== 2 && spatialCoords !== 3) throw new CoregError(name, `NRRD space dimension ${space.dimension} is not supported (2D or 3D space only)`);

  const kinds = fields.has('kinds') ? fields.get('kinds')!.split(/\s+/).map((k) => k.toLowerCase()) : null;
  if (kinds && kinds.length !== dimension) throw new CoregError(name, `NRRD "kinds" must list ${dimension} entries, got "${clip(fields.get('kinds')!)}"`);
  const directionsText = fields.get('spacedirections');
  const axisVectors = space && directionsText !== undefined ? vectorsOf(name, 'space directions', directionsText, dimension, space.dimension) : null;

  const spatial: number[] = [];
  const other: number[] = [];
  for (let a = 0; a < dimension; a++) {
    let isSpatial: boolean;
    if (axisVectors) {
      const v = axisVectors[a];
      // In a space with time, an axis whose vector has no spatial part runs along time.
      isSpatial = v !== null && (!space!.hasTime || v.slice(0, spatialCoords).some((c) => c !== 0));
    } else if (kinds) {
      isSpatial = SPATIAL_KINDS.has(kinds[a]);
    } else {
      isSpatial = true;
    }
    (isSpatial ? spatial : other).push(a);
  }
  const componentAxes = other.filter((a) => sizes[a] > 1);
  if (componentAxes.length > 1) throw new CoregError(name, `NRRD has ${componentAxes.length} non-spatial axes (${componentAxes.join(', ')}); only one (the pixel components) is supported`);
  const componentAxis = componentAxes.length === 1 ? componentAxes[0] : -1;
  if (componentAxis >= 0 && (kinds?.[componentAxis] === 'time' || (space?.hasTime && axisVectors?.[componentAxis] !== null))) {
    throw new CoregError(name, 'NRRD time series (several time points) are not supported');
  }
  const components = componentAxis >= 0 ? sizes[componentAxis] : 1;
  if (spatial.length < 2 || spatial.length > 3) {
    throw new CoregError(name, `NRRD has ${spatial.length} spatial axes; only 2D and 3D images are supported${!kinds && !axisVectors && dimension > 3 ? ' (add "kinds" to say which axis is not spatial)' : ''}`);
  }

  // ---- geometry ----
  const n = spatial.length;
  let size = spatial.map((a) => sizes[a]);
  let spacing: number[];
  let origin: number[];
  let direction: number[];
  if (space) {
    const sd = spatialCoords;
    const toLps = (v: number[]): number[] => {
      const p = v.slice(0, sd);
      if (space!.flipX) p[0] = -p[0];
      if (space!.flipY) p[1] = -p[1];
      return p;
    };
    const columns = spatial.map((a, i) => {
      const v = axisVectors ? axisVectors[a] : null;
      if (v) return toLps(v);
      const unit = new Array<number>(sd).fill(0);
      unit[i] = 1;
      return unit;
    });
    const originText = fields.get('spaceorigin');
    origin = originText !== undefined ? toLps(vectorsOf(name, 'space origin', originText, 1, space.dimension)[0] ?? new Array<number>(sd).fill(0)) : new Array<number>(sd).fill(0);
    if (n > sd) throw new CoregError(name, `NRRD has ${n} spatial axes in a ${sd}D space`);
    if (n < sd) {
      // A 2D slice placed in 3D space: flat in the x-y plane it is a 2D image, otherwise a one-slice volume.
      if (columns.every((c) => c[2] === 0) && origin[2] === 0) {
        for (const c of columns) c.length = 2;
        origin.length = 2;
      } else {
        const [a, b] = columns;
        const normal = [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
        const len = Math.hypot(normal[0], normal[1], normal[2]);
        if (!(len > 0)) throw new CoregError(name, 'NRRD "space directions" of the two axes are parallel');
        columns.push(normal.map((x) => x / len));
        size = [...size, 1];
      }
    }
    const d = columns.length;
    spacing = columns.map((c, i) => {
      const s = Math.hypot(...c);
      if (!(s > 0)) throw new CoregError(name, `NRRD "space directions" gives axis ${spatial[i] ?? i} zero length (spacing must be > 0)`);
      return s;
    });
    direction = new Array<number>(d * d);
    for (let c = 0; c < d; c++) for (let r = 0; r < d; r++) direction[r * d + c] = columns[c][r] / spacing[c];
  } else {
    const spacingsText = fields.get('spacings');
    if (spacingsText !== undefined) {
      const tokens = spacingsText.split(/\s+/).filter((t) => t !== '');
      if (tokens.length !== dimension) throw new CoregError(name, `NRRD "spacings" must list ${dimension} entries, got "${clip(spacingsText)}"`);
      spacing = spatial.map((a) => parseNumberToken(tokens[a]));
    } else {
      spacing = new Array<number>(n).fill(1);
    }
    origin = new Array<number>(n).fill(0);
    direction = new Array<number>(n * n).fill(0);
    for (let i = 0; i < n; i++) direction[i * n + i] = 1;
  }
  if (spacing.some((s) => !Number.isFinite(s) || s <= 0)) throw new CoregError(name, `NRRD spacing must be finite and > 0, got [${spacing.join(', ')}]`);
  if (Math.abs(determinant(direction, size.length)) < 1e-12) throw new CoregError(name, 'NRRD "space directions" are not independent (singular direction matrix)');

  // ---- pixel data ----
  const count = checkElementCount(name, size, components);
  const width = bytesPerElement(type);
  const byteCount = count * width;
  if (byteCount > MAX_DECODED_BYTES) throw new CoregError(name, `too large: image of ${byteCount} bytes exceeds the limit of ${MAX_DECODED_BYTES} bytes`);
  const endianText = fields.get('endian')?.toLowerCase();
  if (endianText !== undefined && endianText !== 'little' && endianText !== 'big') throw new CoregError(name, `NRRD "endian" must be little or big, got "${clip(endianText)}"`);
  const binaryEncoding = encoding === 'raw' || encoding === 'gzip' || encoding === 'gz' || encoding === 'hex';
  if (binaryEncoding && width > 1 && endianText === undefined) throw new CoregError(name, `NRRD header has no "endian" field (required for type ${typeText})`);
  const lineSkip = fields.has('lineskip') ? integersOf(name, 'line skip', fields.get('lineskip')!, 1, 0)[0] : 0;
  const byteSkip = fields.has('byteskip') ? integersOf(name, 'byte skip', fields.get('byteskip')!, 1, -1)[0] : 0;

  const dataFileText = fields.get('datafile');
  let src: Uint8Array;
  let srcName = name;
  if (dataFileText !== undefined) {
    const tokens = dataFileText.split(/\s+/);
    if (tokens.length >= 4 && tokens[0].includes('%')) throw new CoregError(name, `NRRD "data file" pattern "${clip(dataFileText)}" (one file per slice) is not supported; use a single data file`);
    srcName = dataFileText;
    const textual = encoding === 'ascii' || encoding === 'text' || encoding === 'txt' || encoding === 'hex';
    // Skipped lines and bytes come on top of the data; a file larger than that is refused before it is read.
    const bound = byteSkip === -1 || lineSkip > 0 ? undefined : dataFileBound(textual ? count * 40 : byteCount, encoding === 'gzip' || encoding === 'gz', byteSkip);
    src = readDataFile(ctx, dataFileText, bound);
  } else {
    src = bytes.subarray(dataStart);
    if (src.length === 0) throw new CoregError(name, 'NRRD has no attached pixel data (no blank line after the header, or nothing after it) and no "data file" field');
  }
  let start = 0;
  for (let skipped = 0; skipped < lineSkip; skipped++) {
    const nl = src.indexOf(0x0a, start);
    if (nl < 0) throw new CoregError(srcName, `"line skip: ${lineSkip}" skips past the end of the data`);
    start = nl + 1;
  }
  src = src.subarray(start);

  let values: PixelArray;
  if (encoding === 'raw' || encoding === 'gzip' || encoding === 'gz') {
    let raw = src;
    if (encoding !== 'raw') {
      if (byteSkip === -1) throw new CoregError(name, '"byte skip: -1" is only allowed with raw encoding');
      try {
        raw = inflateZlibBounded(src, byteSkip + byteCount, 'the header declares');
      } catch (e) {
        const m = (e as Error).message;
        throw new CoregError(srcName, /^(too large|size mismatch)/.test(m) ? m : `corrupt gzip pixel data: ${m}`);
      }
    }
    const offset = byteSkip === -1 ? raw.length - byteCount : byteSkip;
    if (offset < 0 || offset + byteCount > raw.length) {
      throw new CoregError(srcName, `pixel data is ${Math.max(raw.length - Math.max(offset, 0), 0)} bytes but the header promises ${byteCount} (${size.join('x')}${components > 1 ? `x${components}` : ''} ${typeText})`);
    }
    values = decodePixels(raw, offset, type, count, endianText !== 'big');
  } else if (encoding === 'ascii' || encoding === 'text' || encoding === 'txt') {
    values = parseAsciiPixels(srcName, src, type, count);
  } else if (encoding === 'hex') {
    values = decodePixels(hexBytes(srcName, src, byteCount), 0, type, count, endianText !== 'big');
  } else if (encoding === 'bzip2' || encoding === 'bz2') {
    throw new CoregError(name, 'bzip2-compressed NRRD data is not supported (use raw or gzip encoding)');
  } else {
    throw new CoregError(name, `unknown NRRD encoding "${clip(encoding)}"`);
  }

  const data = componentAxis > 0 ? interleaveComponents(values, sizes, componentAxis) : values;
  return { dimension: size.length as 2 | 3, size, spacing, origin, direction, components, data };
}

/** Decodes pairs of hex digits (whitespace ignored) into `byteCount` bytes. */
function hexBytes(subject: string, src: Uint8Array, byteCount: number): Uint8Array {
  const out = new Uint8Array(byteCount);
  let n = 0;
  let high = -1;
  for (let i = 0; i < src.length && n < byteCount; i++) {
    const ch = src[i];
    let v: number;
    if (ch >= 0x30 && ch <= 0x39) v = ch - 0x30;
    else if (ch >= 0x61 && ch <= 0x66) v = ch - 0x57;
    else if (ch >= 0x41 && ch <= 0x46) v = ch - 0x37;
    else if (ch === 0x20 || (ch >= 0x09 && ch <= 0x0d)) continue;
    else throw new CoregError(subject, `hex pixel data holds a non-hex character (code ${ch})`);
    if (high < 0) high = v;
    else {
      out[n++] = (high << 4) | v;
      high = -1;
    }
  }
  if (n < byteCount) throw new CoregError(subject, `hex pixel data holds ${n} bytes but the header promises ${byteCount}`);
  return out;
}

/** Moves the component axis (not the fastest in the file) to be the fastest: data[pixel * C + c]. */
function interleaveComponents(src: PixelArray, sizes: readonly number[], componentAxis: number): PixelArray {
  let inner = 1;
  for (let a = 0; a < componentAxis; a++) inner *= sizes[a];
  const ncomp = sizes[componentAxis];
  const outer = src.length / (inner * ncomp);
  const out = allocatePixels(pixelTypeOf(src), src.length);
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < ncomp; c++) {
      const from = (o * ncomp + c) * inner;
      let to = o * inner * ncomp + c;
      for (let i = 0; i < inner; i++) {
        out[to] = src[from + i];
        to += ncomp;
      }
    }
  }
  return out;
}

/**
 * Encodes a NRRD the way ITK writes one: `.nrrd` with attached data, or `.nhdr` (name '') plus a sibling
 * `<base>.raw` / `<base>.raw.gz`. Vector images get a leading "vector" axis with direction "none".
 */
export function writeNrrd(img: Image, opts: { fileName: string; gzip?: boolean }): EncodedFile[] {
  const lowerName = opts.fileName.toLowerCase();
  const attached = lowerName.endsWith('.nrrd');
  if (!attached && !lowerName.endsWith('.nhdr')) throw new CoregError(opts.fileName, 'a NRRD file name must end in .nrrd or .nhdr');
  checkWritable(img, opts.fileName);
  const compress = opts.gzip ?? false;
  const d = img.dimension;
  const type = pixelTypeOf(img.data);
  const raw = encodePixelsLE(img.data);
  const payload = compress ? gzip(raw) : raw;
  const vector = img.components > 1;
  const tuple = (v: readonly number[]): string => `(${v.map(formatNumber).join(',')})`;
  const columns: string[] = [];
  for (let c = 0; c < d; c++) {
    const col: number[] = [];
    for (let r = 0; r < d; r++) col.push(img.direction[r * d + c] * img.spacing[c]);
    columns.push(tuple(col));
  }
  const domain = new Array<string>(d).fill('domain');
  const lines = [
    'NRRD0004',
    '# Complete NRRD file format specification at:',
    '# http://teem.sourceforge.net/nrrd/format.html',
    `type: ${NRRD_NAME_OF[type]}`,
    `dimension: ${d + (vector ? 1 : 0)}`,
    // ITK names the space only in 3D; 2D images get a bare space dimension.
    d === 3 ? 'space: left-posterior-superior' : 'space dimension: 2',
    `sizes: ${(vector ? [img.components, ...img.size] : img.size).join(' ')}`,
    `space directions: ${(vector ? ['none', ...columns] : columns).join(' ')}`,
    `kinds: ${(vector ? ['vector', ...domain] : domain).join(' ')}`,
    ...(bytesPerElement(type) > 1 ? ['endian: little'] : []),
    `encoding: ${compress ? 'gzip' : 'raw'}`,
    `space origin: ${tuple(img.origin)}`,
  ];
  const encoder = new TextEncoder();
  if (!attached) {
    const dataName = `${baseName(opts.fileName).slice(0, -5)}${compress ? '.raw.gz' : '.raw'}`;
    lines.push(`data file: ${dataName}`);
    return [{ name: '', bytes: encoder.encode(lines.join('\n') + '\n') }, { name: dataName, bytes: payload }];
  }
  const header = encoder.encode(lines.join('\n') + '\n\n');
  const out = new Uint8Array(header.length + payload.length);
  out.set(header, 0);
  out.set(payload, header.length);
  return [{ name: '', bytes: out }];
}
