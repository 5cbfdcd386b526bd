// Picks the image format from a file name and calls its reader or writer (browser-safe: bytes in, bytes out).
import { CoregError } from '../errors.js';
import type { WarningSink } from '../errors.js';
import { finiteRange, identityMatrix, numberOfPixels, pixelTypeOf } from '../image/image.js';
import type { Image } from '../image/image.js';
import type { EncodedFile, ReadContext } from './format.js';
import { readMetaImage, writeMetaImage } from './metaimage.js';
import { readNifti, writeNifti } from './nifti.js';
import { readNrrd, writeNrrd } from './nrrd.js';
import { hasDicomMagic, readDicom } from './dicom.js';
import { readMgh, writeMgh } from './mgh.js';
import { readPng, writePng } from './png.js';

export type ImageFormat = 'nifti' | 'metaimage' | 'nrrd' | 'png' | 'mgh';

const EXTENSIONS: [string, ImageFormat][] = [
  ['.nii.gz', 'nifti'],
  ['.nii', 'nifti'],
  ['.hdr', 'nifti'],
  ['.mha', 'metaimage'],
  ['.mhd', 'metaimage'],
  ['.nrrd', 'nrrd'],
  ['.nhdr', 'nrrd'],
  ['.png', 'png'],
  ['.mgz', 'mgh'],
  ['.mgh', 'mgh'],
];

/** The image format implied by a file name's extension (case-insensitive). */
export function imageFormatOf(fileName: string): ImageFormat {
  const lower = fileName.toLowerCase();
  for (const [ext, format] of EXTENSIONS) if (lower.endsWith(ext)) return format;
  throw new CoregError(fileName, 'unknown image format (expected .nii, .nii.gz, .hdr, .mha, .mhd, .nrrd, .nhdr, .png, .mgh or .mgz; or DICOM)');
}

/** True when the name has an image extension coreg reads and writes. */
export function isImageFileName(fileName: string): boolean {
  const lower = fileName.toLowerCase();
  return EXTENSIONS.some(([ext]) => lower.endsWith(ext));
}

/** Decodes an image file's bytes; the format comes from ctx.name. Anything malformed becomes a CoregError. */
export function decodeImage(bytes: Uint8Array, ctx: ReadContext): Image {
  // DICOM files are recognised by content ("DICM" at byte 128) or a .dcm/.ima name: scanners name them freely.
  const dicom = hasDicomMagic(bytes) || /\.(dcm|dicom|ima)$/i.test(ctx.name);
  const format = dicom ? 'dicom' : imageFormatOf(ctx.name);
  try {
    if (format === 'dicom') return readDicom(bytes, ctx.name);
    switch (format) {
      case 'nifti':
        return readNifti(bytes, ctx);
      case 'metaimage':
        return readMetaImage(bytes, ctx);
      case 'nrrd':
        return readNrrd(bytes, ctx);
      case 'png':
        return readPng(bytes, ctx);
      case 'mgh':
        return readMgh(bytes, ctx);
    }
  } catch (e) {
    if (e instanceof CoregError) throw e;
    // Readers' low-level failures (corrupt gzip, absurd sizes) are still the file's fault.
    const err = new CoregError(ctx.name, (e as Error).message ?? String(e));
    (err as { cause?: unknown }).cause = e;
    throw err;
  }
}

export interface EncodeOptions {
  /** Compress the pixel data where the format allows (.mha/.mhd zlib, .nrrd/.nhdr gzip). .nii.gz is always gzipped. */
  compress?: boolean;
  /** Told what a format cannot keep (PNG: origin, direction, float values, vectors). */
  warn?: WarningSink;
}

function baseName(fileName: string): string {
  return fileName.slice(Math.max(fileName.lastIndexOf('/'), fileName.lastIndexOf('\\')) + 1);
}

/**
 * Encodes an image for `fileName` (format from its extension). Returns the main file (name '') and any
 * sibling files (names relative to the main file's folder).
 */
export function encodeImage(img: Image, fileName: string, opts: EncodeOptions = {}): EncodedFile[] {
  const base = baseName(fileName);
  const lower = base.toLowerCase();
  switch (imageFormatOf(fileName)) {
    case 'nifti':
      if (lower.endsWith('.hdr')) return niftiPair(writeNifti(img, { gzip: false, version: 1 }), base, fileName);
      return [{ name: '', bytes: writeNifti(img, { gzip: lower.endsWith('.gz') }) }];
    case 'metaimage':
      return writeMetaImage(img, { fileName: base, compress: opts.compress });
    case 'nrrd':
      return writeNrrd(img, { fileName: base, gzip: opts.compress });
    case 'png':
      return [{ name: '', bytes: writePng(toPngImage(img, fileName, opts.warn), { fileName }) }];
    case 'mgh':
      return [{ name: '', bytes: writeMgh(img, { gzip: lower.endsWith('.mgz'), fileName, warn: opts.warn }) }];
  }
}

/** Splits a single-file NIfTI-1 ("n+1") into a header/image pair ("ni1", vox_offset 0). */
function niftiPair(single: Uint8Array, base: string, fileName: string): EncodedFile[] {
  const view = new DataView(single.buffer, single.byteOffset, single.byteLength);
  const little = view.getInt32(0, true) === 348;
  if (!little && view.getInt32(0, false) !== 348) throw new CoregError(fileName, 'cannot split the NIfTI-1 header into .hdr/.img');
  const voxOffset = view.getFloat32(108, little);
  const header = single.slice(0, 348);
  const headerView = new DataView(header.buffer);
  headerView.setFloat32(108, 0, little);
  header.set([0x6e, 0x69, 0x31, 0x00], 344); // "ni1\0"
  const imgName = base.slice(0, -4) + (base.endsWith('.HDR') ? '.IMG' : '.img');
  return [
    { name: '', bytes: header },
    { name: imgName, bytes: single.slice(voxOffset) },
  ];
}

function isIdentityGeometry(img: Image): boolean {
  const d = img.dimension;
  for (let i = 0; i < d; i++) if (img.origin[i] !== 0) return false;
  const id = identityMatrix(d);
  for (let i = 0; i < d * d; i++) if (Math.abs(img.direction[i] - id[i]) > 1e-12) return false;
  return true;
}

/** Reduces an image to what PNG stores (2D; scalar or uint8/uint16 RGB), warning about what is lost. */
function toPngImage(img: Image, fileName: string, warn?: WarningSink): Image {
  if (img.dimension === 3 && img.size[2] !== 1) {
    throw new CoregError(fileName, `PNG holds 2D images only; this image is 3D (${img.size.join('x')})`);
  }
  if (!isIdentityGeometry(img)) warn?.(`${fileName}: PNG cannot store origin or direction; written with origin 0 and identity direction`);
  const type = pixelTypeOf(img.data);
  let flat: Image = img;
  if (img.dimension === 3) {
    // A single slice: keep its in-plane spacing; the z geometry is what the warning above covers.
    flat = { ...img, dimension: 2, size: img.size.slice(0, 2), spacing: img.spacing.slice(0, 2), origin: [0, 0], direction: identityMatrix(2) };
  }
  const integerStorable = type === 'uint8' || type === 'uint16';
  if (img.components !== 1 && !(img.components === 3 && integerStorable)) {
    warn?.(`${fileName}: PNG stores one component per pixel; writing the magnitude of the ${img.components}-component vectors, rescaled`);
    flat = { ...flat, components: 1, data: vectorMagnitude(img.data, img.components, numberOfPixels(img)) };
  } else if (!integerStorable) {
    const r = finiteRange(img.data);
    const range = r ? `[${r.min}, ${r.max}]` : '(no finite values)';
    warn?.(`${fileName}: PNG stores 8/16-bit integers; ${type} values ${range} rescaled`);
  }
  return flat;
}

function vectorMagnitude(data: ArrayLike<number>, components: number, n: number): Float32Array {
  const out = new Float32Array(n);
  for (let p = 0; p < n; p++) {
    let s = 0;
    const base = p * components;
    for (let c = 0; c < components; c++) {
      const v = data[base + c];
      s += v * v;
    }
    out[p] = Math.sqrt(s);
  }
  return out;
}
