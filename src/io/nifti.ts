/**
 * NIfTI-1 / NIfTI-2 reader and writer (single-file .nii / .nii.gz, and "ni1"/"ni2" .hdr + .img pairs on read).
 *
 * NIfTI stores RAS world coordinates; coreg's images are LPS, so the x and y rows of every NIfTI affine are
 * negated at this edge. Pixel data is x-fastest in both, but NIfTI keeps vector components (dim[5]) and time
 * points (dim[4]) as whole volumes ("planes") while coreg interleaves them per pixel, so those are reordered.
 */
import { CoregError } from '../errors.js';
import {
  type Image,
  type PixelArray,
  type PixelType,
  bytesPerElement,
  pixelTypeOf,
  pixelView,
  validateImage,
} from '../image/image.js';
import { polarDecomposition } from '../image/linalg.js';
import { gunzipBounded, gunzipPrefix, gzip, isGzip } from './compression.js';
import { type ReadContext, MAX_DECODED_BYTES, MAX_PIXEL_ELEMENTS } from './format.js';

const NIFTI_INTENT_VECTOR = 1007;
const NIFTI_XFORM_SCANNER_ANAT = 1;
/** xyzt_units: NIFTI_UNITS_MM | NIFTI_UNITS_SEC, as ITK writes. */
const UNITS_MM_SEC = 2 | 8;

const NATIVE_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

interface DatatypeInfo {
  type: PixelType;
  /** Values stored per voxel inside one plane (3 for RGB24, whose bytes are interleaved in the file). */
  inner: number;
}

const SUPPORTED_DATATYPES = new Map<number, DatatypeInfo>([
  [2, { type: 'uint8', inner: 1 }],
  [4, { type: 'int16', inner: 1 }],
  [8, { type: 'int32', inner: 1 }],
  [16, { type: 'float32', inner: 1 }],
  [64, { type: 'float64', inner: 1 }],
  [128, { type: 'uint8', inner: 3 }],
  [256, { type: 'int8', inner: 1 }],
  [512, { type: 'uint16', inner: 1 }],
  [768, { type: 'uint32', inner: 1 }],
]);

const DATATYPE_NAMES = new Map<number, string>([
  [0, 'unknown'],
  [1, 'binary'],
  [32, 'complex64'],
  [1024, 'int64'],
  [1280, 'uint64'],
  [1536, 'float128'],
  [1792, 'complex128'],
  [2048, 'complex256'],
  [2304, 'RGBA32'],
]);

const DATATYPE_CODES: Record<PixelType, number> = {
  uint8: 2,
  int16: 4,
  int32: 8,
  float32: 16,
  float64: 64,
  int8: 256,
  uint16: 512,
  uint32: 768,
};

interface NiftiHeader {
  version: 1 | 2;
  littleEndian: boolean;
  /** true for "ni1"/"ni2": the pixels live in a separate .img file. */
  pairedFiles: boolean;
  headerSize: number;
  dim: number[];
  datatype: number;
  pixdim: number[];
  voxOffset: number;
  sclSlope: number;
  sclInter: number;
  qformCode: number;
  sformCode: number;
  intentCode: number;
  quatern: number[];
  qoffset: number[];
  /** srow_x, srow_y, srow_z: a 3×4 row-major RAS affine. */
  srow: number[];
}

/** Geometry in LPS (3D while deciding, 2D at the end): p = origin + direction · diag(spacing) · index. */
interface Geometry {
  spacing: number[];
  origin: number[];
  direction: number[];
}

/** Reads a NIfTI-1 or NIfTI-2 image (gzipped or plain); see the module comment for the conventions. */
export function readNifti(bytes: Uint8Array, ctx: ReadContext): Image {
  const name = ctx.name;
  if (bytes.length === 0) throw new CoregError(name, 'empty file');
  // A gzipped file is inflated in two steps: the header first, then no more than the size it declares.
  const gzipped = isGzip(bytes);
  let file = gzipped ? decompressPrefix(bytes, name, 544) : bytes;
  const hdr = parseHeader(file, name);

  const ndim = hdr.dim[0];
  if (!Number.isInteger(ndim) || ndim < 1 || ndim > 7) throw new CoregError(name, `dim[0] is ${ndim}, expected 1 to 7`);
  // Axes beyond dim[0] are ignored (treated as 1), as the standard says.
  const n = [1, 1, 1, 1, 1, 1, 1, 1];
  for (let i = 1; i <= ndim; i++) {
    const v = hdr.dim[i];
    if (!Number.isInteger(v) || v <= 0) throw new CoregError(name, `dim[${i}] is ${v}; every used dimension must be ≥ 1`);
    n[i] = v;
  }

  const info = SUPPORTED_DATATYPES.get(hdr.datatype);
  if (!info) {
    throw new CoregError(name, `unsupported NIfTI datatype ${hdr.datatype} (${DATATYPE_NAMES.get(hdr.datatype) ?? 'unknown'})`);
  }

  // 2D when the file says so (dim[0] ≤ 2), or when a vector/time series has a single slice: that is how a 2D
  // vector image is written (dim = [5, nx, ny, 1, 1, nc]). A plain 3D file with one slice stays 3D, but a 3D
  // vector image with one slice reads back as 2D. dim[5] is read as components whatever the intent code, as ITK does.
  const dimension: 2 | 3 = ndim <= 2 || (ndim >= 4 && n[3] === 1) ? 2 : 3;
  const size = dimension === 2 ? [n[1], n[2]] : [n[1], n[2], n[3]];
  const planes = n[4] * n[5] * n[6] * n[7];
  const components = planes * info.inner;
  const voxels = n[1] * n[2] * n[3];
  const elements = voxels * components;
  if (elements > MAX_PIXEL_ELEMENTS) {
    throw new CoregError(name, `image of ${elements} values exceeds the limit of ${MAX_PIXEL_ELEMENTS}`);
  }
  if (n[4] > 1 || n[6] > 1 || n[7] > 1) {
    ctx.warn?.(`${name}: ${ndim}D image with ${n[4]} time points read as ${components} components per pixel`);
  }

  for (let i = 1; i <= dimension; i++) {
    const p = hdr.pixdim[i];
    if (!Number.isFinite(p) || p === 0) throw new CoregError(name, `pixdim[${i}] is ${p}; pixel spacing must be finite and non-zero`);
  }

  const bpe = bytesPerElement(info.type);
  const dataBytes = elements * bpe;
  if (dataBytes > MAX_DECODED_BYTES) throw new CoregError(name, `too large: ${size.join('x')} image of ${dataBytes} bytes exceeds the limit of ${MAX_DECODED_BYTES} bytes`);
  let offset: number;
  if (hdr.pairedFiles) {
    offset = hdr.voxOffset;
  } else {
    // Some writers (e.g. old SPM) leave vox_offset 0 in single files; the data then follows the header and the
    // 4-byte extension flag, as nifti1_io and nibabel assume.
    offset = hdr.voxOffset < hdr.headerSize ? hdr.headerSize + 4 : hdr.voxOffset;
  }
  if (!Number.isInteger(offset) || offset < 0) throw new CoregError(name, `vox_offset ${hdr.voxOffset} is not a valid byte offset`);
  if (gzipped) {
    // A separate .hdr holds the header and its extensions only; a single file holds exactly offset + data bytes.
    file = decompress(bytes, name, hdr.pairedFiles ? Math.max(offset, hdr.headerSize + 4) + MAX_EXTENSION_BYTES : offset + dataBytes);
  }
  const source = hdr.pairedFiles ? readPairedImage(name, ctx, offset + dataBytes) : file;
  if (offset + dataBytes > source.length) {
    throw new CoregError(
      name,
      `header promises ${dataBytes} bytes of pixel data at offset ${offset}, but the ${hdr.pairedFiles ? '.img file' : 'file'} holds ${source.length} bytes`,
    );
  }

  let data = decodePixels(source, offset, info.type, bpe, voxels, planes, info.inner, hdr.littleEndian !== NATIVE_LITTLE_ENDIAN);
  if (info.inner === 1) data = applyScaling(data, hdr.sclSlope, hdr.sclInter);

  const g = chooseGeometry(hdr, dimension, name, ctx);
  const img: Image = { dimension, size, spacing: g.spacing, origin: g.origin, direction: g.direction, components, data };
  // Analyze files and files with neither transform are written back with ITK's scanner codes (header omitted).
  if (hdr.qformCode > 0 || hdr.sformCode > 0) img.header = { qformCode: hdr.qformCode, sformCode: hdr.sformCode, intentCode: hdr.intentCode };
  return img;
}

/**
 * Encodes an image as a single-file NIfTI the way ITK writes it: qform and sform codes 1 (scanner), units mm,
 * vox_offset 352 (v1) / 544 (v2), scl 1/0, vector images as dim[0] = 5 with intent 1007. Version 1 unless a
 * dimension exceeds NIfTI-1's int16 limit; NIfTI-2 keeps the geometry in full double precision.
 */
export function writeNifti(img: Image, opts: { gzip?: boolean; version?: 1 | 2 } = {}): Uint8Array {
  const header = niftiHeader(img, opts.version);
  const out = new Uint8Array(header.length + img.data.byteLength);
  out.set(header);
  putNiftiPixels(img, out, header.length);
  return opts.gzip ? gzip(out, 6) : out;
}

/**
 * writeNifti's file in two parts: the header (with the zero bytes up to vox_offset) and the pixel bytes, which are
 * a view of the image's own data when they go to the file as they are (one component, little-endian host), so that
 * a writer can compress or write them without first copying a large image into one buffer.
 */
export function niftiParts(img: Image, requestedVersion?: 1 | 2): { header: Uint8Array; pixels: Uint8Array } {
  const header = niftiHeader(img, requestedVersion);
  let pixels = pixelsAsStored(img);
  if (!pixels) putNiftiPixels(img, (pixels = new Uint8Array(img.data.byteLength)), 0);
  return { header, pixels };
}

/** The image's pixel bytes when the file stores them as they are (one component, little-endian host), else null. */
function pixelsAsStored(img: Image): Uint8Array | null {
  const swap = !NATIVE_LITTLE_ENDIAN && bytesPerElement(pixelTypeOf(img.data)) > 1;
  return img.components === 1 && !swap ? new Uint8Array(img.data.buffer, img.data.byteOffset, img.data.byteLength) : null;
}

/** Writes the pixel bytes as the file stores them (little-endian, vector components as planes) into `out` at `at`. */
function putNiftiPixels(img: Image, out: Uint8Array, at: number): void {
  const stored = pixelsAsStored(img);
  if (stored) {
    out.set(stored, at);
    return;
  }
  const bpe = bytesPerElement(pixelTypeOf(img.data));
  const c = img.components;
  const src = new Uint8Array(img.data.buffer, img.data.byteOffset, img.data.byteLength);
  reorderBytes(src, 0, out, at, img.data.length / c, c, 1, bpe, !NATIVE_LITTLE_ENDIAN && bpe > 1, false);
}

/** The NIfTI header of `img` with the zero bytes up to vox_offset (version as writeNifti chooses it). */
function niftiHeader(img: Image, requestedVersion?: 1 | 2): Uint8Array {
  validateImage(img);
  // NIfTI-1 stores dimensions as int16: larger images go to NIfTI-2 unless version 1 was asked for explicitly.
  const fitsV1 = img.components <= 32767 && img.size.every((n) => n <= 32767);
  const version = requestedVersion ?? (fitsV1 ? 1 : 2);
  if (version === 1 && !fitsV1) throw new RangeError(`NIfTI-1 holds at most 32767 per dimension; size [${img.size}] × ${img.components} components needs NIfTI-2`);
  const type = pixelTypeOf(img.data);
  const bpe = bytesPerElement(type);
  const d = img.dimension;
  const c = img.components;
  const headerSize = version === 1 ? 348 : 540;
  const voxOffset = headerSize + 4;
  const out = new Uint8Array(voxOffset);
  const view = new DataView(out.buffer);

  const dim = [d, img.size[0], img.size[1], d === 3 ? img.size[2] : 1, 1, 1, 1, 1];
  if (c > 1) {
    dim[0] = 5;
    dim[5] = c;
  }

  // Geometry as ITK writes it: the direction is made orthonormal, the quaternion carries its handedness in qfac,
  // and the sform holds the same rotation scaled by the spacing (both codes NIFTI_XFORM_SCANNER_ANAT).
  const dir3 = [1, 0, 0, 0, 1, 0, 0, 0, 1];
  for (let r = 0; r < d; r++) for (let col = 0; col < d; col++) dir3[r * 3 + col] = img.direction[r * d + col];
  const rot = nearestOrthogonal(dir3);
  const spacing = [img.spacing[0], img.spacing[1], d === 3 ? img.spacing[2] : 1];
  const originRas = [0 - img.origin[0], 0 - img.origin[1], d === 3 ? img.origin[2] : 0];
  const rotRas = rot.slice();
  for (let col = 0; col < 3; col++) {
    rotRas[col] = 0 - rotRas[col];
    rotRas[3 + col] = 0 - rotRas[3 + col];
  }
  const q = rotationToQuaternion(rotRas);
  const pixdim = [q.qfac, spacing[0], spacing[1], spacing[2], 1, 1, 1, 1];
  const srow = new Array<number>(12);
  for (let r = 0; r < 3; r++) {
    for (let col = 0; col < 3; col++) srow[r * 4 + col] = rotRas[r * 3 + col] * spacing[col];
    srow[r * 4 + 3] = originRas[r];
  }

  // Codes from the image's header (e.g. sform_code 4, MNI) when it has one, else ITK's: both scanner (1). A
  // code of 0 stays 0 only while the other transform is set. The intent is kept for scalar images; vector images
  // are always NIFTI_INTENT_VECTOR.
  const h = img.header;
  const validCode = (v: number | undefined) => (v !== undefined && Number.isInteger(v) && v >= 0 && v <= 5 ? v : NIFTI_XFORM_SCANNER_ANAT);
  let qformCode = validCode(h?.qformCode);
  const sformCode = validCode(h?.sformCode);
  if (qformCode === 0 && sformCode === 0) qformCode = NIFTI_XFORM_SCANNER_ANAT;
  const intentCode = c > 1 ? NIFTI_INTENT_VECTOR : h && Number.isInteger(h.intentCode) && h.intentCode !== NIFTI_INTENT_VECTOR && h.intentCode >= 0 && h.intentCode < 32768 ? h.intentCode : 0;

  const text = new TextEncoder();
  if (version === 1) {
    view.setInt32(0, 348, true);
    out[38] = 0x72; // regular = 'r', as nifti1_io writes
    for (let i = 0; i < 8; i++) view.setInt16(40 + 2 * i, dim[i], true);
    view.setInt16(68, intentCode, true);
    view.setInt16(70, DATATYPE_CODES[type], true);
    view.setInt16(72, bpe * 8, true);
    for (let i = 0; i < 8; i++) view.setFloat32(76 + 4 * i, pixdim[i], true);
    view.setFloat32(108, voxOffset, true);
    view.setFloat32(112, 1, true);
    view.setFloat32(116, 0, true);
    out[123] = UNITS_MM_SEC;
    out.set(text.encode('coreg'), 148);
    view.setInt16(252, qformCode, true);
    view.setInt16(254, sformCode, true);
    view.setFloat32(256, q.b, true);
    view.setFloat32(260, q.c, true);
    view.setFloat32(264, q.d, true);
    for (let i = 0; i < 3; i++) view.setFloat32(268 + 4 * i, originRas[i], true);
    for (let i = 0; i < 12; i++) view.setFloat32(280 + 4 * i, srow[i], true);
    out.set(text.encode('n+1\0'), 344);
  } else {
    view.setInt32(0, 540, true);
    out.set([0x6e, 0x2b, 0x32, 0x00, 0x0d, 0x0a, 0x1a, 0x0a], 4); // "n+2\0\r\n\032\n"
    view.setInt16(12, DATATYPE_CODES[type], true);
    view.setInt16(14, bpe * 8, true);
    for (let i = 0; i < 8; i++) view.setBigInt64(16 + 8 * i, BigInt(dim[i]), true);
    for (let i = 0; i < 8; i++) view.setFloat64(104 + 8 * i, pixdim[i], true);
    view.setBigInt64(168, BigInt(voxOffset), true);
    view.setFloat64(176, 1, true);
    view.setFloat64(184, 0, true);
    out.set(text.encode('coreg'), 240);
    view.setInt32(344, qformCode, true);
    view.setInt32(348, sformCode, true);
    view.setFloat64(352, q.b, true);
    view.setFloat64(360, q.c, true);
    view.setFloat64(368, q.d, true);
    for (let i = 0; i < 3; i++) view.setFloat64(376 + 8 * i, originRas[i], true);
    for (let i = 0; i < 12; i++) view.setFloat64(400 + 8 * i, srow[i], true);
    view.setInt32(500, UNITS_MM_SEC, true);
    view.setInt32(504, intentCode, true);
  }
  // Bytes headerSize..voxOffset stay 0: no extensions.
  return out;
}

// --- reading helpers ------------------------------------------------------------------------------

/** Header extensions allowed in a separate gzipped .hdr beyond vox_offset. */
const MAX_EXTENSION_BYTES = 1 << 24;

/** gunzip of at most `limit` bytes (the size the header declares), CRC and ISIZE checked. */
function decompress(bytes: Uint8Array, name: string, limit: number): Uint8Array {
  if (!isGzip(bytes)) return bytes;
  try {
    return gunzipBounded(bytes, limit, 'the header declares');
  } catch (e) {
    throw new CoregError(name, (e as Error).message);
  }
}

/** The first `n` bytes of a gzipped file (the header). */
function decompressPrefix(bytes: Uint8Array, name: string, n: number): Uint8Array {
  try {
    return gunzipPrefix(bytes, n);
  } catch (e) {
    throw new CoregError(name, (e as Error).message);
  }
}

function readPairedImage(name: string, ctx: ReadContext, declaredBytes: number): Uint8Array {
  const base = name.replace(/^.*[\\/]/, '');
  const m = /^(.*)\.(hdr)(\.gz)?$/i.exec(base);
  if (!m) throw new CoregError(name, 'a "ni1"/"ni2" header must be named .hdr so that its .img file can be found');
  const img = m[2] === 'HDR' ? 'IMG' : 'img';
  const gz = m[3] ?? '.gz';
  const candidates = m[3] ? [`${m[1]}.${img}${gz}`, `${m[1]}.${img}`] : [`${m[1]}.${img}`, `${m[1]}.${img}${gz}`];
  if (!ctx.readSibling) throw new CoregError(name, `the pixel data is in ${candidates[0]}, which cannot be read here`);
  let firstError: unknown;
  for (const candidate of candidates) {
    let bytes: Uint8Array;
    try {
      bytes = ctx.readSibling(candidate, declaredBytes);
    } catch (e) {
      firstError ??= e;
      continue;
    }
    return decompress(bytes, candidate, declaredBytes);
  }
  throw firstError;
}

function parseHeader(file: Uint8Array, name: string): NiftiHeader {
  if (file.length < 4) throw new CoregError(name, `file of ${file.length} bytes is too short for a NIfTI header`);
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  let littleEndian = true;
  let headerSize = view.getInt32(0, true);
  if (headerSize !== 348 && headerSize !== 540) {
    const be = view.getInt32(0, false);
    if (be !== 348 && be !== 540) throw new CoregError(name, `not a NIfTI file (sizeof_hdr is ${headerSize}, expected 348 or 540)`);
    headerSize = be;
    littleEndian = false;
  }
  if (file.length < headerSize) throw new CoregError(name, `truncated NIfTI header (${file.length} of ${headerSize} bytes)`);
  const le = littleEndian;

  if (headerSize === 348) {
    const magic = asciiAt(file, 344, 4);
    // Analyze 7.5 (.hdr/.img, no NIfTI magic) reads as ITK reads it: no qform/sform (the bytes there are Analyze's
    // orient/originator fields), so spacing from pixdim, identity LPS direction, origin 0; data in the .img.
    const analyze = magic !== 'n+1\0' && magic !== 'ni1\0' && /\.hdr(\.gz)?$/i.test(name);
    if (magic !== 'n+1\0' && magic !== 'ni1\0' && !analyze) throw new CoregError(name, `not a NIfTI-1 file (magic ${JSON.stringify(magic)}, expected "n+1" or "ni1")`);
    const dim: number[] = [];
    for (let i = 0; i < 8; i++) dim.push(view.getInt16(40 + 2 * i, le));
    const pixdim: number[] = [];
    for (let i = 0; i < 8; i++) pixdim.push(view.getFloat32(76 + 4 * i, le));
    const srow: number[] = [];
    for (let i = 0; i < 12; i++) srow.push(view.getFloat32(280 + 4 * i, le));
    return {
      version: 1,
      littleEndian,
      pairedFiles: magic === 'ni1\0' || analyze,
      headerSize,
      dim,
      datatype: view.getInt16(70, le),
      pixdim,
      voxOffset: view.getFloat32(108, le),
      sclSlope: view.getFloat32(112, le),
      sclInter: view.getFloat32(116, le),
      intentCode: analyze ? 0 : view.getInt16(68, le),
      qformCode: analyze ? 0 : view.getInt16(252, le),
      sformCode: analyze ? 0 : view.getInt16(254, le),
      quatern: [view.getFloat32(256, le), view.getFloat32(260, le), view.getFloat32(264, le)],
      qoffset: [view.getFloat32(268, le), view.getFloat32(272, le), view.getFloat32(276, le)],
      srow,
    };
  }

  const magic = asciiAt(file, 4, 4);
  if (magic !== 'n+2\0' && magic !== 'ni2\0') throw new CoregError(name, `not a NIfTI-2 file (magic ${JSON.stringify(magic)}, expected "n+2" or "ni2")`);
  const dim: number[] = [];
  for (let i = 0; i < 8; i++) dim.push(Number(view.getBigInt64(16 + 8 * i, le)));
  const pixdim: number[] = [];
  for (let i = 0; i < 8; i++) pixdim.push(view.getFloat64(104 + 8 * i, le));
  const srow: number[] = [];
  for (let i = 0; i < 12; i++) srow.push(view.getFloat64(400 + 8 * i, le));
  return {
    version: 2,
    littleEndian,
    pairedFiles: magic === 'ni2\0',
    headerSize,
    dim,
    datatype: view.getInt16(12, le),
    pixdim,
    voxOffset: Number(view.getBigInt64(168, le)),
    sclSlope: view.getFloat64(176, le),
    sclInter: view.getFloat64(184, le),
    intentCode: view.getInt32(504, le),
    qformCode: view.getInt32(344, le),
    sformCode: view.getInt32(348, le),
    quatern: [view.getFloat64(352, le), view.getFloat64(360, le), view.getFloat64(368, le)],
    qoffset: [view.getFloat64(376, le), view.getFloat64(384, le), view.getFloat64(392, le)],
    srow,
  };
}

function asciiAt(bytes: Uint8Array, start: number, length: number): string {
  let s = '';
  for (let i = 0; i < length; i++) s += String.fromCharCode(bytes[start + i]);
  return s;
}

/**
 * The pixels as coreg's interleaved array of `type`. A native-endian, aligned scalar (or RGB24) payload is a
 * view of `src` (no copy); otherwise the bytes are copied once, swapping and/or interleaving on the way.
 */
function decodePixels(src: Uint8Array, offset: number, type: PixelType, bpe: number, voxels: number, planes: number, inner: number, swap: boolean): PixelArray {
  const elements = voxels * planes * inner;
  const start = src.byteOffset + offset;
  if (planes === 1 && (!swap || bpe === 1)) {
    if (start % bpe === 0) return pixelView(type, src.buffer, start, elements);
    const copy = src.slice(offset, offset + elements * bpe);
    return pixelView(type, copy.buffer, 0, elements);
  }
  const dst = new Uint8Array(elements * bpe);
  reorderBytes(src, offset, dst, 0, voxels, planes, inner, bpe, swap && bpe > 1, true);
  return pixelView(type, dst.buffer, 0, elements);
}

/**
 * Moves a block of `planes` planes × `voxels` voxels × `inner` elements of `bpe` bytes between NIfTI's planar
 * layout (plane slowest) and coreg's interleaved one (plane fastest), reversing each element's bytes when `swap`.
 * Byte-level so one monomorphic loop serves every pixel type and both directions.
 */
function reorderBytes(src: Uint8Array, srcStart: number, dst: Uint8Array, dstStart: number, voxels: number, planes: number, inner: number, bpe: number, swap: boolean, toInterleaved: boolean): void {
  const chunk = inner * bpe;
  for (let p = 0; p < planes; p++) {
    for (let v = 0; v < voxels; v++) {
      const planar = (p * voxels + v) * chunk;
      const interleaved = (v * planes + p) * chunk;
      const s = srcStart + (toInterleaved ? planar : interleaved);
      const t = dstStart + (toInterleaved ? interleaved : planar);
      if (swap) {
        for (let e = 0; e < chunk; e += bpe) for (let b = 0; b < bpe; b++) dst[t + e + b] = src[s + e + bpe - 1 - b];
      } else {
        for (let b = 0; b < chunk; b++) dst[t + b] = src[s + b];
      }
    }
  }
}

/**
 * scl_slope/scl_inter as nibabel applies them: only when the slope is finite and non-zero and the pair is not
 * the identity (1, 0). Float64 results for inputs float32 cannot hold exactly (float64, int32, uint32).
 */
function applyScaling(data: PixelArray, slope: number, inter: number): PixelArray {
  if (!Number.isFinite(slope) || slope === 0) return data;
  const intercept = Number.isFinite(inter) ? inter : 0;
  if (slope === 1 && intercept === 0) return data;
  if (data instanceof Float64Array || data instanceof Int32Array || data instanceof Uint32Array) {
    const out = new Float64Array(data.length);
    out.set(data);
    scaleFloat64InPlace(out, slope, intercept);
    return out;
  }
  const out = new Float32Array(data.length);
  out.set(data);
  // The stored values are exact in float32 here (≤ 16-bit integers or float32), so scaling in double and
  // rounding once gives the correctly rounded result.
  scaleFloat32InPlace(out, slope, intercept);
  return out;
}

function scaleFloat32InPlace(a: Float32Array, slope: number, inter: number): void {
  for (let i = 0; i < a.length; i++) a[i] = a[i] * slope + inter;
}

function scaleFloat64InPlace(a: Float64Array, slope: number, inter: number): void {
  for (let i = 0; i < a.length; i++) a[i] = a[i] * slope + inter;
}

// --- geometry -------------------------------------------------------------------------------------

/**
 * Which header transform defines the geometry (ITK 5 NiftiImageIO and nibabel agree on all but one case):
 * 1. sform_code > 0 and its columns are orthogonal → sform. (nibabel always takes the sform when its code is
 *    set; ITK does so when qform_code is 0, when sform_code is SCANNER_ANAT, or when both agree. For
 *    sform_code 2–4 with a different qform ITK takes the qform; we follow nibabel there and warn.)
 * 2. sform_code > 0 but sheared → the qform if qform_code > 0 (ITK); else the nearest rotation of the sform's
 *    normalised columns (ITK's "permissive sform" behaviour), with a warning.
 * 3. qform_code > 0 → qform.
 * 4. neither → spacing from pixdim, identity LPS direction, origin 0 (ITK; nibabel's Analyze-style fallback
 *    flips x and centres the volume, which ITK does not do).
 * Spacing is the length of each affine column (= pixdim for a consistent header), direction the unit columns.
 * When both codes are set and the two geometries differ (1e-4 mm in origin or spacing, 1e-4 in direction),
 * ctx.warn names both.
 */
function chooseGeometry(hdr: NiftiHeader, dimension: 2 | 3, name: string, ctx: ReadContext): Geometry {
  const dz = Number.isFinite(hdr.pixdim[3]) && hdr.pixdim[3] !== 0 ? Math.abs(hdr.pixdim[3]) : 1;
  const pixSpacing = [Math.abs(hdr.pixdim[1]), Math.abs(hdr.pixdim[2]), dz];
  let g: Geometry;
  const qform = hdr.qformCode > 0 ? geometryFromAffine(qformAffine(hdr, pixSpacing), dimension, name, 'qform') : undefined;
  if (hdr.sformCode > 0) {
    let sform = geometryFromAffine(hdr.srow, dimension, name, 'sform');
    let used = 'sform';
    if (!isOrthonormal(sform.direction)) {
      if (qform) {
        ctx.warn?.(`${name}: sform is sheared (not a rotation and scaling); using qform`);
        sform = qform;
        used = 'qform';
      } else {
        ctx.warn?.(`${name}: sform is sheared (not a rotation and scaling); using its nearest rotation`);
        sform = { ...sform, direction: nearestOrthogonal(sform.direction) };
      }
    }
    if (qform && used === 'sform') warnIfDifferent(qform, sform, name, ctx);
    g = sform;
  } else if (qform) {
    g = qform;
  } else {
    g = { spacing: pixSpacing, origin: [0, 0, 0], direction: [1, 0, 0, 0, 1, 0, 0, 0, 1] };
  }
  return dimension === 3 ? g : to2D(g);
}

/** The in-plane part of a 3D geometry: the upper-left 2×2 block, its columns renormalised. */
function to2D(g: Geometry): Geometry {
  const direction = [g.direction[0], g.direction[1], g.direction[3], g.direction[4]];
  for (let col = 0; col < 2; col++) {
    const len = Math.hypot(direction[col], direction[2 + col]);
    if (len > 1e-12) {
      direction[col] /= len;
      direction[2 + col] /= len;
    } else {
      // The axis points straight along z: no in-plane direction exists, so fall back to the identity column.
      direction[col] = col === 0 ? 1 : 0;
      direction[2 + col] = col === 1 ? 1 : 0;
    }
  }
  return { spacing: [g.spacing[0], g.spacing[1]], origin: [g.origin[0], g.origin[1]], direction };
}

/** The qform as a 3×4 RAS affine (NIfTI-1 "method 2"), pixdim[0] < 0 flipping the third column. */
function qformAffine(hdr: NiftiHeader, spacing: number[]): number[] {
  let [b, c, d] = hdr.quatern;
  let a2 = 1 - (b * b + c * c + d * d);
  let a: number;
  if (a2 < 1e-7) {
    // (b, c, d) is (nearly) a unit vector: a 180° rotation; renormalise as nifti1_io does.
    const len = Math.sqrt(b * b + c * c + d * d);
    b /= len;
    c /= len;
    d /= len;
    a = 0;
  } else {
    a = Math.sqrt(a2);
  }
  a2 = a * a;
  const r = [
    a2 + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c),
    2 * (b * c + a * d), a2 + c * c - b * b - d * d, 2 * (c * d - a * b),
    2 * (b * d - a * c), 2 * (c * d + a * b), a2 + d * d - c * c - b * b,
  ];
  const qfac = hdr.pixdim[0] < 0 ? -1 : 1;
  const scale = [spacing[0], spacing[1], spacing[2] * qfac];
  const m = new Array<number>(12);
  for (let row = 0; row < 3; row++) {
    for (let col = 0; col < 3; col++) m[row * 4 + col] = r[row * 3 + col] * scale[col];
    m[row * 4 + 3] = hdr.qoffset[row];
  }
  return m;
}

/** LPS geometry of a 3×4 RAS affine: x and y rows negated, spacing = column lengths, direction = unit columns. */
function geometryFromAffine(m: number[], dimension: 2 | 3, name: string, which: string): Geometry {
  const lps = m.slice();
  for (let col = 0; col < 4; col++) {
    lps[col] = 0 - lps[col]; // 0 − v, not −v, so that zeros stay +0
    lps[4 + col] = 0 - lps[4 + col];
  }
  for (const v of lps) if (!Number.isFinite(v)) throw new CoregError(name, `${which} holds a non-finite value`);
  const spacing = [0, 0, 0];
  const direction = new Array<number>(9).fill(0);
  for (let col = 0; col < 3; col++) {
    const len = Math.hypot(lps[col], lps[4 + col], lps[8 + col]);
    spacing[col] = len;
    if (len === 0) continue;
    for (let row = 0; row < 3; row++) direction[row * 3 + col] = lps[row * 4 + col] / len;
  }
  for (let col = 0; col < dimension; col++) {
    if (spacing[col] === 0) throw new CoregError(name, `${which} axis ${col} has zero length`);
  }
  if (spacing[2] === 0) {
    // A 2D file may leave the third column empty; complete it so the 3D direction is a rotation.
    const x = direction;
    direction[2] = x[3] * x[7] - x[6] * x[4];
    direction[5] = x[6] * x[1] - x[0] * x[7];
    direction[8] = x[0] * x[4] - x[3] * x[1];
    spacing[2] = 1;
  }
  return { spacing, origin: [lps[3], lps[7], lps[11]], direction };
}

function isOrthonormal(dir: number[]): boolean {
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      let dot = 0;
      for (let k = 0; k < 3; k++) dot += dir[k * 3 + i] * dir[k * 3 + j];
      if (Math.abs(dot - (i === j ? 1 : 0)) > 1e-4) return false;
    }
  }
  return true;
}

function warnIfDifferent(q: Geometry, s: Geometry, name: string, ctx: ReadContext): void {
  if (!ctx.warn) return;
  let originDiffers = false;
  let axesDiffer = false;
  for (let i = 0; i < 3; i++) {
    if (Math.abs(q.origin[i] - s.origin[i]) > 1e-4) originDiffers = true;
    if (Math.abs(q.spacing[i] - s.spacing[i]) > 1e-4) axesDiffer = true;
  }
  for (let i = 0; i < 9; i++) if (Math.abs(q.direction[i] - s.direction[i]) > 1e-4) axesDiffer = true;
  if (!originDiffers && !axesDiffer) return;
  const parts: string[] = [];
  if (originDiffers) parts.push(`qform origin ${fmt(q.origin)}, sform origin ${fmt(s.origin)}`);
  if (axesDiffer) {
    parts.push(`qform spacing ${fmt(q.spacing)} direction ${fmt(q.direction)}, sform spacing ${fmt(s.spacing)} direction ${fmt(s.direction)}`);
  }
  ctx.warn(`${name}: qform and sform disagree (${parts.join('; ')}); using sform`);
}

function fmt(v: number[]): string {
  return `(${v.map((x) => Number(x.toPrecision(6))).join(', ')})`;
}

/**
 * Unit quaternion (b, c, d; a ≥ 0) of a 3×3 orthogonal matrix; a left-handed matrix gets qfac = −1 and its
 * third column negated first, as NIfTI's qform requires.
 */
function rotationToQuaternion(m: number[]): { b: number; c: number; d: number; qfac: number } {
  const r = m.slice();
  const det = r[0] * (r[4] * r[8] - r[5] * r[7]) - r[1] * (r[3] * r[8] - r[5] * r[6]) + r[2] * (r[3] * r[7] - r[4] * r[6]);
  let qfac = 1;
  if (det < 0) {
    qfac = -1;
    r[2] = -r[2];
    r[5] = -r[5];
    r[8] = -r[8];
  }
  const [r11, r12, r13, r21, r22, r23, r31, r32, r33] = r;
  let a: number, b: number, c: number, d: number;
  const trace1 = 1 + r11 + r22 + r33; // = 4a²
  if (trace1 > 0.5) {
    a = 0.5 * Math.sqrt(trace1);
    b = (0.25 * (r32 - r23)) / a;
    c = (0.25 * (r13 - r31)) / a;
    d = (0.25 * (r21 - r12)) / a;
  } else {
    // Small |a|: pivot on the largest of b, c, d for accuracy.
    const xd = 1 + r11 - (r22 + r33); // = 4b²
    const yd = 1 + r22 - (r11 + r33); // = 4c²
    const zd = 1 + r33 - (r11 + r22); // = 4d²
    if (xd >= yd && xd >= zd) {
      b = 0.5 * Math.sqrt(xd);
      c = (0.25 * (r12 + r21)) / b;
      d = (0.25 * (r13 + r31)) / b;
      a = (0.25 * (r32 - r23)) / b;
    } else if (yd >= zd) {
      c = 0.5 * Math.sqrt(yd);
      b = (0.25 * (r12 + r21)) / c;
      d = (0.25 * (r23 + r32)) / c;
      a = (0.25 * (r13 - r31)) / c;
    } else {
      d = 0.5 * Math.sqrt(zd);
      b = (0.25 * (r13 + r31)) / d;
      c = (0.25 * (r23 + r32)) / d;
      a = (0.25 * (r21 - r12)) / d;
    }
    if (a < 0) {
      b = -b;
      c = -c;
      d = -d;
    }
  }
  return { b, c, d, qfac };
}

/** The orthogonal matrix closest to a 3×3 m (the orthogonal factor of its polar decomposition; det may be −1). */
function nearestOrthogonal(m: readonly number[]): number[] {
  return Array.from(polarDecomposition(m, 3).orthogonal);
}
