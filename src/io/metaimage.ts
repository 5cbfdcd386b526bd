// MetaImage (.mha / .mhd) reader and writer, following ITK's MetaIO conventions.
// The small byte/number helpers exported at the top are shared with the NRRD codec (src/io/nrrd.ts).
import { CoregError } from '../errors.js';
import { allocatePixels, bytesPerElement, pixelTypeOf, validateImage, type Image, type PixelArray, type PixelType } from '../image/image.js';
import { concatBytes, deflateZlib, inflateZlibBounded } from './compression.js';
import { MAX_DECODED_BYTES, MAX_PIXEL_ELEMENTS, dataFileBound, type EncodedFile, type ReadContext } from './format.js';

// ---- helpers shared with nrrd.ts ------------------------------------------------------------------

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Headers are text at the start of the file; anything longer than this is not a header we can trust. */
export const HEADER_BYTE_LIMIT = 1 << 20;

const utf8 = new TextDecoder('utf-8');

/** Decodes one header line (bytes without the newline); a trailing CR is dropped. */
export function decodeLine(bytes: Uint8Array, start: number, end: number): string {
  if (end > start && bytes[end - 1] === 0x0d) end--;
  return utf8.decode(bytes.subarray(start, end));
}

/** Shortest decimal text that parses back to exactly the same double ("-0" written as "0"). */
export function formatNumber(v: number): string {
  return v === 0 ? '0' : String(v);
}

/** Refuses, before anything is allocated, images with more pixel values than coreg can hold. */
export function checkElementCount(subject: string, size: readonly number[], components: number): number {
  let n = components;
  for (const s of size) n *= s;
  if (n > MAX_PIXEL_ELEMENTS) {
    const dims = size.join('x') + (components > 1 ? ` x ${components} components` : '');
    throw new CoregError(subject, `image of ${dims} = ${n} values exceeds the limit of ${MAX_PIXEL_ELEMENTS} values`);
  }
  return n;
}

function swapBytes(b: Uint8Array, width: number): void {
  const n = b.length - (b.length % width);
  if (width === 2) {
    for (let i = 0; i < n; i += 2) {
      const t = b[i];
      b[i] = b[i + 1];
      b[i + 1] = t;
    }
  } else if (width === 4) {
    for (let i = 0; i < n; i += 4) {
      let t = b[i];
      b[i] = b[i + 3];
      b[i + 3] = t;
      t = b[i + 1];
      b[i + 1] = b[i + 2];
      b[i + 2] = t;
    }
  } else if (width === 8) {
    for (let i = 0; i < n; i += 8) {
      for (let k = 0; k < 4; k++) {
        const t = b[i + k];
        b[i + k] = b[i + 7 - k];
        b[i + 7 - k] = t;
      }
    }
  }
}

/** Copies `count` values of `type` stored in the given byte order, starting at `offset` of `bytes`. */
export function decodePixels(bytes: Uint8Array, offset: number, type: PixelType, count: number, littleEndian: boolean): PixelArray {
  const out = allocatePixels(type, count);
  const width = bytesPerElement(type);
  const dst = new Uint8Array(out.buffer, out.byteOffset, count * width);
  dst.set(bytes.subarray(offset, offset + count * width));
  if (width > 1 && littleEndian !== HOST_LITTLE_ENDIAN) swapBytes(dst, width);
  return out;
}

/** The pixel values as little-endian bytes: a view of the image's memory on little-endian hosts, else a swapped copy. */
export function encodePixelsLE(data: PixelArray): Uint8Array {
  const view = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (HOST_LITTLE_ENDIAN || data.BYTES_PER_ELEMENT === 1) return view;
  const copy = view.slice();
  swapBytes(copy, data.BYTES_PER_ELEMENT);
  return copy;
}

/** Parses whitespace- or comma-separated numbers (ASCII pixel data) into a new array of `type`. */
export function parseAsciiPixels(subject: string, bytes: Uint8Array, type: PixelType, count: number): PixelArray {
  const out = allocatePixels(type, count);
  const text = utf8.decode(bytes);
  const re = /[^\s,]+/g;
  let i = 0;
  for (let m = re.exec(text); m !== null && i < count; m = re.exec(text)) {
    const v = parseNumberToken(m[0]);
    if (Number.isNaN(v) && m[0].toLowerCase() !== 'nan') throw new CoregError(subject, `ASCII pixel data holds "${clip(m[0])}", which is not a number`);
    out[i++] = v;
  }
  if (i < count) throw new CoregError(subject, `ASCII pixel data has ${i} values but the header promises ${count}`);
  return out;
}

/** Number() plus the C spellings of infinity that strtod accepts. */
export function parseNumberToken(token: string): number {
  const t = token.toLowerCase();
  if (t === 'inf' || t === '+inf' || t === 'infinity' || t === '+infinity') return Infinity;
  if (t === '-inf' || t === '-infinity') return -Infinity;
  return t === '' ? NaN : Number(token);
}

/** Shortens text quoted in an error message to one readable line. */
export function clip(s: string, max = 60): string {
  const oneLine = s.replace(/\p{Cc}/gu, '?');
  return oneLine.length > max ? `${oneLine.slice(0, max)}…` : oneLine;
}

/** Determinant of a 2×2 or 3×3 row-major matrix. */
export function determinant(m: readonly number[], d: number): number {
  if (d === 2) return m[0] * m[3] - m[1] * m[2];
  return m[0] * (m[4] * m[8] - m[5] * m[7]) - m[1] * (m[3] * m[8] - m[5] * m[6]) + m[2] * (m[3] * m[7] - m[4] * m[6]);
}

/** The part of a path after its last slash (data files are written beside the header). */
export function baseName(path: string): string {
  return path.slice(Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\')) + 1);
}

/** Reads a detached data file through the context, turning a failure into a message that names the file. */
export function readDataFile(ctx: ReadContext, fileName: string, maxBytes?: number): Uint8Array {
  if (!ctx.readSibling) throw new CoregError(ctx.name, `pixel data is in the separate file "${fileName}", which cannot be read here`);
  try {
    return ctx.readSibling(fileName, maxBytes);
  } catch (e) {
    if (e instanceof CoregError && e.subject === ctx.name) throw e;
    const why = e instanceof Error ? e.message.split('\n')[0] : String(e);
    throw new CoregError(ctx.name, `cannot read its data file "${fileName}" (${clip(why, 120)})`);
  }
}

// ---- MetaImage ------------------------------------------------------------------------------------

const MET_TYPES: Record<string, PixelType> = {
  MET_UCHAR: 'uint8',
  MET_CHAR: 'int8',
  MET_USHORT: 'uint16',
  MET_SHORT: 'int16',
  MET_UINT: 'uint32',
  MET_INT: 'int32',
  // MetaIO stores MET_LONG / MET_ULONG as 4 bytes on every platform (MET_ValueTypeSize).
  MET_LONG: 'int32',
  MET_ULONG: 'uint32',
  MET_FLOAT: 'float32',
  MET_DOUBLE: 'float64',
};

const MET_NAME_OF: Record<PixelType, string> = {
  uint8: 'MET_UCHAR',
  int8: 'MET_CHAR',
  uint16: 'MET_USHORT',
  int16: 'MET_SHORT',
  uint32: 'MET_UINT',
  int32: 'MET_INT',
  float32: 'MET_FLOAT',
  float64: 'MET_DOUBLE',
};

interface MetaHeader {
  /** Lower-cased key → trimmed value. */
  fields: Map<string, string>;
  /** Byte offset just after the ElementDataFile line (start of LOCAL data). */
  dataStart: number;
  /** File names listed after "ElementDataFile = LIST". */
  listedFiles: string[];
}

function parseMetaHeader(bytes: Uint8Array, name: string): MetaHeader {
  const fields = new Map<string, string>();
  let pos = 0;
  let lineNumber = 0;
  while (pos < bytes.length) {
    if (pos > HEADER_BYTE_LIMIT) throw new CoregError(name, `no ElementDataFile line in the first ${HEADER_BYTE_LIMIT} bytes (not a MetaImage header?)`);
    const nl = bytes.indexOf(0x0a, pos);
    const end = nl < 0 ? bytes.length : nl;
    if (end - pos > HEADER_BYTE_LIMIT) throw new CoregError(name, 'not a MetaImage header (no line break near the start)');
    const line = decodeLine(bytes, pos, end);
    pos = nl < 0 ? bytes.length : nl + 1;
    lineNumber++;
    if (line.trim() === '') continue;
    const eq = line.indexOf('=');
    const key = eq > 0 ? line.slice(0, eq).trim() : '';
    if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(key)) {
      throw new CoregError(name, `not a MetaImage header: line ${lineNumber} "${clip(line)}" is not "Key = value"`);
    }
    const lower = key.toLowerCase();
    const value = line.slice(eq + 1).trim();
    fields.set(lower, value);
    if (lower !== 'elementdatafile') continue;
    const listedFiles: string[] = [];
    if (/^LIST(\s|$)/i.test(value)) {
      // MetaIO's LIST form: one data file name per remaining line.
      while (pos < bytes.length) {
        const nl2 = bytes.indexOf(0x0a, pos);
        const end2 = nl2 < 0 ? bytes.length : nl2;
        const fileName = decodeLine(bytes, pos, end2).trim();
        pos = nl2 < 0 ? bytes.length : nl2 + 1;
        if (fileName !== '') listedFiles.push(fileName);
      }
    }
    return { fields, dataStart: pos, listedFiles };
  }
  if (fields.size === 0) throw new CoregError(name, bytes.length === 0 ? 'empty file' : 'not a MetaImage header (no "Key = value" lines)');
  throw new CoregError(name, 'MetaImage header has no ElementDataFile line');
}

function numbersOf(name: string, key: string, value: string, count: number, integer = false): number[] {
  const tokens = value.split(/[\s,]+/).filter((t) => t !== '');
  const values = tokens.map(parseNumberToken);
  if (tokens.length < count || values.slice(0, count).some((v) => Number.isNaN(v) || (integer && !Number.isInteger(v)))) {
    throw new CoregError(name, `${key} must hold ${count} ${integer ? 'integers' : 'numbers'}, got "${clip(value)}"`);
  }
  return values.slice(0, count);
}

function booleanOf(name: string, key: string, value: string): boolean {
  const v = value.toLowerCase();
  if (v === 'true' || v === '1' || v === 'yes') return true;
  if (v === 'false' || v === '0' || v === 'no') return false;
  throw new CoregError(name, `${key} must be True or False, got "${clip(value)}"`);
}

/**
 * Reads a MetaImage: .mha (ElementDataFile = LOCAL, pixels after the header) or .mhd (pixels in the named
 * sibling file, read through ctx.readSibling; "LIST" of files also accepted). TransformMatrix lists the direction
 * matrix column by column.
 */
export function readMetaImage(bytes: Uint8Array, ctx: ReadContext): Image {
  const name = ctx.name;
  if (bytes.length === 0) throw new CoregError(name, 'empty file');
  const { fields, dataStart, listedFiles } = parseMetaHeader(bytes, name);
  const get = (...keys: string[]): [string, string] | undefined => {
    for (const k of keys) {
      const v = fields.get(k.toLowerCase());
      if (v !== undefined) return [k, v];
    }
    return undefined;
  };

  const objectType = get('ObjectType');
  if (objectType && objectType[1].toLowerCase() !== 'image') throw new CoregError(name, `ObjectType is "${clip(objectType[1])}", not Image`);

  const ndimsField = get('NDims');
  if (!ndimsField) throw new CoregError(name, 'MetaImage header has no NDims');
  const ndims = numbersOf(name, 'NDims', ndimsField[1], 1, true)[0];
  if (ndims !== 2 && ndims !== 3) throw new CoregError(name, `NDims = ${ndims}: only 2D and 3D images are supported`);
  const d = ndims;

  const dimField = get('DimSize');
  if (!dimField) throw new CoregError(name, 'MetaImage header has no DimSize');
  const size = numbersOf(name, 'DimSize', dimField[1], d, true);
  if (size.some((s) => s <= 0)) throw new CoregError(name, `DimSize must be positive, got "${clip(dimField[1])}"`);

  const typeField = get('ElementType');
  if (!typeField) throw new CoregError(name, 'MetaImage header has no ElementType');
  const metType = typeField[1].toUpperCase().replace(/_ARRAY$/, '');
  const type = MET_TYPES[metType];
  if (!type) {
    throw new CoregError(name, `ElementType ${clip(typeField[1])} is not supported (use MET_UCHAR, MET_CHAR, MET_USHORT, MET_SHORT, MET_UINT, MET_INT, MET_FLOAT or MET_DOUBLE)`);
  }

  const channelsField = get('ElementNumberOfChannels');
  const components = channelsField ? numbersOf(name, 'ElementNumberOfChannels', channelsField[1], 1, true)[0] : 1;
  if (components < 1) throw new CoregError(name, `ElementNumberOfChannels must be ≥ 1, got ${components}`);

  const spacingField = get('ElementSpacing', 'ElementSize');
  const spacing = spacingField ? numbersOf(name, spacingField[0], spacingField[1], d) : new Array<number>(d).fill(1);
  if (spacing.some((s) => !Number.isFinite(s) || s <= 0)) throw new CoregError(name, `${spacingField![0]} must be finite and > 0, got "${clip(spacingField![1])}"`);

  const originField = get('Offset', 'Origin', 'Position');
  const origin = originField ? numbersOf(name, originField[0], originField[1], d) : new Array<number>(d).fill(0);
  if (origin.some((o) => !Number.isFinite(o))) throw new CoregError(name, `${originField![0]} must be finite, got "${clip(originField![1])}"`);

  const matrixField = get('TransformMatrix', 'Rotation', 'Orientation');
  const direction = new Array<number>(d * d).fill(0);
  if (matrixField) {
    const listed = numbersOf(name, matrixField[0], matrixField[1], d * d);
    // Listed column by column: the first d numbers are axis 0's direction.
    for (let c = 0; c < d; c++) for (let r = 0; r < d; r++) direction[r * d + c] = listed[c * d + r];
    if (listed.some((v) => !Number.isFinite(v)) || Math.abs(determinant(direction, d)) < 1e-12) {
      throw new CoregError(name, `${matrixField[0]} must be an invertible direction matrix, got "${clip(matrixField[1])}"`);
    }
  } else {
    for (let i = 0; i < d; i++) direction[i * d + i] = 1;
  }

  const msbField = get('BinaryDataByteOrderMSB', 'ElementByteOrderMSB');
  const bigEndian = msbField ? booleanOf(name, msbField[0], msbField[1]) : false;
  const binaryField = get('BinaryData');
  // Hand-written headers often omit BinaryData; ITK reads them as binary.
  const binary = binaryField ? booleanOf(name, 'BinaryData', binaryField[1]) : true;
  const compressedField = get('CompressedData');
  const compressed = compressedField ? booleanOf(name, 'CompressedData', compressedField[1]) : false;
  const compressedSizeField = get('CompressedDataSize');
  const compressedSize = compressedSizeField ? numbersOf(name, 'CompressedDataSize', compressedSizeField[1], 1, true)[0] : undefined;
  const headerSizeField = get('HeaderSize');
  const headerSize = headerSizeField ? numbersOf(name, 'HeaderSize', headerSizeField[1], 1, true)[0] : 0;
  if (headerSize < -1) throw new CoregError(name, `HeaderSize must be ≥ -1, got ${headerSize}`);

  const count = checkElementCount(name, size, components);
  const byteCount = count * bytesPerElement(type);
  if (byteCount > MAX_DECODED_BYTES) throw new CoregError(name, `too large: image of ${byteCount} bytes exceeds the limit of ${MAX_DECODED_BYTES} bytes`);

  const dataFile = fields.get('elementdatafile')!;
  let payload: Uint8Array;
  if (dataFile.toUpperCase() === 'LOCAL') {
    payload = dataPart(bytes.subarray(dataStart), name, byteCount, compressed, compressedSize, headerSize === -1 ? -1 : 0, binary);
  } else if (/^LIST(\s|$)/i.test(dataFile)) {
    if (listedFiles.length === 0) throw new CoregError(name, 'ElementDataFile = LIST but no file names follow');
    if (byteCount % listedFiles.length !== 0) throw new CoregError(name, `${listedFiles.length} listed data files do not split the image evenly`);
    const part = byteCount / listedFiles.length;
    const parts = listedFiles.map((f) => dataPart(readDataFile(ctx, f, dataBound(part, compressed, headerSize, binary, count / listedFiles.length)), f, part, compressed, undefined, headerSize, binary));
    payload = concatBytes(parts);
  } else if (/%\d*d/.test(dataFile) && dataFile.split(/\s+/).length >= 3) {
    throw new CoregError(name, `ElementDataFile pattern "${clip(dataFile)}" is not supported; use one data file or LIST`);
  } else {
    const bound = compressedSize !== undefined && headerSize >= 0 ? headerSize + compressedSize : dataBound(byteCount, compressed, headerSize, binary, count);
    payload = dataPart(readDataFile(ctx, dataFile, bound), dataFile, byteCount, compressed, compressedSize, headerSize, binary);
  }

  const data = binary ? decodePixels(payload, 0, type, count, !bigEndian) : parseAsciiPixels(name, payload, type, count);
  return { dimension: d, size, spacing, origin, direction, components, data };
}

/** The largest data file the header allows (undefined: HeaderSize -1 puts the data at the end of a file of any size). */
function dataBound(byteCount: number, compressed: boolean, headerSize: number, binary: boolean, count: number): number | undefined {
  if (headerSize === -1) return undefined;
  // ASCII pixels: at most ~40 characters per value ("-1.2345678901234567e-308 ").
  return binary ? dataFileBound(byteCount, compressed, headerSize) : dataFileBound(count * 40, compressed, headerSize);
}

/** The (decompressed) pixel bytes of one data file, checked against the size the header promises. */
function dataPart(src: Uint8Array, srcName: string, byteCount: number, compressed: boolean, compressedSize: number | undefined, headerSize: number, binary: boolean): Uint8Array {
  if (compressed) {
    let start = headerSize > 0 ? headerSize : 0;
    let end = src.length;
    if (compressedSize !== undefined) {
      if (headerSize === -1) start = src.length - compressedSize;
      end = start + compressedSize;
      if (start < 0 || end > src.length) throw new CoregError(srcName, `header promises ${compressedSize} compressed bytes but the file holds only ${src.length - Math.max(start, 0)}`);
    }
    let raw: Uint8Array;
    try {
      raw = inflateZlibBounded(src.subarray(start, end), binary ? byteCount : byteCount * 40, 'the header declares');
    } catch (e) {
      const m = (e as Error).message;
      throw new CoregError(srcName, /^(too large|size mismatch)/.test(m) ? m : `corrupt compressed pixel data: ${m}`);
    }
    if (raw.length < byteCount) throw new CoregError(srcName, `compressed pixel data holds ${raw.length} bytes but the header promises ${byteCount}`);
    return raw;
  }
  if (!binary) return headerSize > 0 ? src.subarray(headerSize) : src;
  const start = headerSize === -1 ? src.length - byteCount : headerSize;
  if (start < 0 || start + byteCount > src.length) {
    throw new CoregError(srcName, `pixel data is ${Math.max(src.length - Math.max(start, 0), 0)} bytes but the header promises ${byteCount}`);
  }
  return src.subarray(start, start + byteCount);
}

/** ITK's three-letter "from" code (RAI = identity in LPS); ITK writes ?? for 2D images. */
function anatomicalOrientation(img: Image): string {
  if (img.dimension !== 3) return '??';
  const letters = [
    ['R', 'L'],
    ['A', 'P'],
    ['I', 'S'],
  ];
  let code = '';
  for (let c = 0; c < 3; c++) {
    let best = 0;
    for (let r = 1; r < 3; r++) if (Math.abs(img.direction[r * 3 + c]) > Math.abs(img.direction[best * 3 + c])) best = r;
    code += letters[best][img.direction[best * 3 + c] >= 0 ? 0 : 1];
  }
  return code;
}

/** Throws CoregError(subject) when the image is inconsistent (writers get images from user code). */
export function checkWritable(img: Image, subject: string): void {
  try {
    validateImage(img);
  } catch (e) {
    throw new CoregError(subject, `cannot write an invalid image: ${(e as Error).message}`);
  }
}

/**
 * Encodes a MetaImage the way ITK writes one. `fileName` ending in .mha gives one file with LOCAL data; .mhd
 * gives the header (name '') plus a sibling `<base>.raw` (or `.zraw` when `compress`) named in ElementDataFile.
 */
export function writeMetaImage(img: Image, opts: { fileName: string; compress?: boolean }): EncodedFile[] {
  const lowerName = opts.fileName.toLowerCase();
  const attached = lowerName.endsWith('.mha');
  if (!attached && !lowerName.endsWith('.mhd')) throw new CoregError(opts.fileName, 'a MetaImage file name must end in .mha or .mhd');
  checkWritable(img, opts.fileName);
  const compress = opts.compress ?? false;
  const d = img.dimension;
  const raw = encodePixelsLE(img.data);
  const payload = compress ? deflateZlib(raw) : raw;
  const dataName = `${baseName(opts.fileName).slice(0, -4)}${compress ? '.zraw' : '.raw'}`;
  const listed: number[] = [];
  for (let c = 0; c < d; c++) for (let r = 0; r < d; r++) listed.push(img.direction[r * d + c]);
  const join = (v: readonly number[]): string => v.map(formatNumber).join(' ');
  const lines = [
    'ObjectType = Image',
    `NDims = ${d}`,
    'BinaryData = True',
    'BinaryDataByteOrderMSB = False',
    `CompressedData = ${compress ? 'True' : 'False'}`,
    ...(compress ? [`CompressedDataSize = ${payload.length}`] : []),
    `TransformMatrix = ${join(listed)}`,
    `Offset = ${join(img.origin)}`,
    `CenterOfRotation = ${join(new Array<number>(d).fill(0))}`,
    `AnatomicalOrientation = ${anatomicalOrientation(img)}`,
    `ElementSpacing = ${join(img.spacing)}`,
    `DimSize = ${img.size.join(' ')}`,
    ...(img.components > 1 ? [`ElementNumberOfChannels = ${img.components}`] : []),
    `ElementType = ${MET_NAME_OF[pixelTypeOf(img.data)]}`,
    `ElementDataFile = ${attached ? 'LOCAL' : dataName}`,
  ];
  const header = new TextEncoder().encode(lines.join('\n') + '\n');
  if (!attached) return [{ name: '', bytes: header }, { name: dataName, bytes: payload }];
  return [{ name: '', bytes: concatBytes([header, payload]) }];
}
