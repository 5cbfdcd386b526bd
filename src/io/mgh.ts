// FreeSurfer MGH / MGZ (gzipped MGH), read and write (browser-safe: bytes in, bytes out).
// Layout (big-endian): int32 version (1), width, height, depth, nframes, type, dof; int16 goodRASFlag;
// float32 xsize, ysize, zsize, Mdc (x_r x_a x_s y_r y_a y_s z_r z_a z_s), c_r c_a c_s; data from byte 284,
// x fastest, frames slowest; optional scan parameters (TR, flip angle, TE, TI, FoV) after the data.
// Geometry as FreeSurfer and nibabel define it: vox2ras = [Mdc·diag(size) | c_ras − Mdc·diag(size)·dims/2],
// in RAS; coreg converts to LPS. goodRASFlag 0 means FreeSurfer's default coronal orientation, 1 mm, centre 0.
import { CoregError } from '../errors.js';
import type { WarningSink } from '../errors.js';
import { finiteRange, numberOfPixels, pixelTypeOf, validateImage } from '../image/image.js';
import type { Image, PixelArray } from '../image/image.js';
import { gunzip, gzip, isGzip } from './compression.js';
import type { ReadContext } from './format.js';
import { MAX_PIXEL_ELEMENTS } from './format.js';

const HEADER_BYTES = 284;
const TYPES: Record<number, { name: string; bytes: number }> = {
  0: { name: 'uchar', bytes: 1 },
  1: { name: 'int', bytes: 4 },
  3: { name: 'float', bytes: 4 },
  4: { name: 'short', bytes: 2 },
};

export function readMgh(bytes: Uint8Array, ctx: ReadContext): Image {
  const name = ctx.name;
  const file = isGzip(bytes) ? gunzip(bytes) : bytes;
  if (file.length < HEADER_BYTES) throw new CoregError(name, `file of ${file.length} bytes is too short for an MGH header (${HEADER_BYTES})`);
  const v = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const version = v.getInt32(0, false);
  if (version !== 1) throw new CoregError(name, `not an MGH file (version ${version}, expected 1)`);
  const dims = [v.getInt32(4, false), v.getInt32(8, false), v.getInt32(12, false)];
  const frames = v.getInt32(16, false);
  const type = v.getInt32(20, false);
  for (const [i, d] of [...dims, frames].entries()) if (!(d >= 1)) throw new CoregError(name, `${['width', 'height', 'depth', 'frames'][i]} is ${d}; must be ≥ 1`);
  const info = TYPES[type];
  if (!info) throw new CoregError(name, `unsupported MGH data type ${type} (expected 0 uchar, 1 int, 3 float or 4 short)`);
  const voxels = dims[0] * dims[1] * dims[2];
  const elements = voxels * frames;
  if (elements > MAX_PIXEL_ELEMENTS) throw new CoregError(name, `image of ${elements} values exceeds the limit of ${MAX_PIXEL_ELEMENTS}`);
  if (HEADER_BYTES + elements * info.bytes > file.length) {
    throw new CoregError(name, `truncated MGH data (${file.length - HEADER_BYTES} of ${elements * info.bytes} bytes)`);
  }
  const goodRas = v.getInt16(28, false) > 0;
  let size = [1, 1, 1];
  let mdc = [-1, 0, 0, 0, 0, -1, 0, 1, 0]; // row-major RAS 3×3, column c = axis c (FreeSurfer's coronal default)
  let cras = [0, 0, 0];
  if (goodRas) {
    size = [v.getFloat32(30, false), v.getFloat32(34, false), v.getFloat32(38, false)];
    const cols: number[][] = [];
    for (let c = 0; c < 3; c++) cols.push([0, 1, 2].map((r) => v.getFloat32(42 + 12 * c + 4 * r, false)));
    mdc = [cols[0][0], cols[1][0], cols[2][0], cols[0][1], cols[1][1], cols[2][1], cols[0][2], cols[1][2], cols[2][2]];
    cras = [v.getFloat32(78, false), v.getFloat32(82, false), v.getFloat32(86, false)];
    if (!size.every((s) => Number.isFinite(s) && s > 0)) throw new CoregError(name, `voxel sizes must be positive (got ${size.join(', ')})`);
    for (let c = 0; c < 3; c++) {
      const n = Math.hypot(mdc[c], mdc[3 + c], mdc[6 + c]);
      if (!(Math.abs(n - 1) < 1e-3)) throw new CoregError(name, `direction column ${c} is not a unit vector (length ${n})`);
      for (let r = 0; r < 3; r++) mdc[3 * r + c] /= n;
    }
    for (let a = 0; a < 3; a++) {
      for (let b = a + 1; b < 3; b++) {
        const d = mdc[a] * mdc[b] + mdc[3 + a] * mdc[3 + b] + mdc[6 + a] * mdc[6 + b];
        if (Math.abs(d) > 1e-3) throw new CoregError(name, 'direction cosines are not orthogonal (sheared MGH geometry is not supported)');
      }
    }
  }
  // P0 = c_ras − Mdc·diag(size)·dims/2 (RAS), then RAS → LPS.
  const p0 = [0, 1, 2].map((r) => cras[r] - [0, 1, 2].reduce((s, c) => s + mdc[3 * r + c] * size[c] * (dims[c] / 2), 0));
  const origin = [-p0[0], -p0[1], p0[2]];
  const direction = [-mdc[0], -mdc[1], -mdc[2], -mdc[3], -mdc[4], -mdc[5], mdc[6], mdc[7], mdc[8]];
  // Frames become components (interleaved per voxel).
  let data: PixelArray;
  switch (type) {
    case 0:
      data = new Uint8Array(elements);
      break;
    case 1:
      data = new Int32Array(elements);
      break;
    case 3:
      data = new Float32Array(elements);
      break;
    default:
      data = new Int16Array(elements);
  }
  for (let f = 0; f < frames; f++) {
    const base = HEADER_BYTES + f * voxels * info.bytes;
    for (let i = 0; i < voxels; i++) {
      const at = base + i * info.bytes;
      const value = type === 0 ? file[at] : type === 1 ? v.getInt32(at, false) : type === 3 ? v.getFloat32(at, false) : v.getInt16(at, false);
      data[i * frames + f] = value;
    }
  }
  if (frames > 1) ctx.warn?.(`${name}: ${frames} frames read as ${frames} components per voxel`);
  return { dimension: 3, size: dims, spacing: size, origin, direction, components: frames, data };
}

/** Encodes an image as MGH (gzipped for .mgz). uint8/int16/int32/float32 are stored as they are; other types
 * become the smallest MGH type that holds them exactly (float64 → float, with a warning). */
export function writeMgh(img: Image, opts: { gzip?: boolean; fileName?: string; warn?: WarningSink } = {}): Uint8Array {
  validateImage(img);
  const name = opts.fileName ?? 'image.mgh';
  const n = numberOfPixels(img);
  const frames = img.components;
  const src = pixelTypeOf(img.data);
  let type: number;
  if (src === 'uint8') type = 0;
  else if (src === 'int16' || src === 'int8') type = 4;
  else if (src === 'int32' || src === 'uint16') type = 1;
  else if (src === 'float32') type = 3;
  else {
    const r = finiteRange(img.data);
    if (src === 'uint32' && r && r.max <= 2147483647) type = 1;
    else {
      type = 3;
      opts.warn?.(`${name}: MGH has no ${src} type; values written as float32`);
    }
  }
  const bytesPer = TYPES[type].bytes;
  const out = new Uint8Array(HEADER_BYTES + n * frames * bytesPer + 4 * 4);
  const v = new DataView(out.buffer);
  const dims = img.dimension === 3 ? img.size : [img.size[0], img.size[1], 1];
  const spacing = img.dimension === 3 ? img.spacing : [img.spacing[0], img.spacing[1], 1];
  // LPS → RAS direction (3×3, a 2D image's third axis is the normal).
  const d = img.direction;
  const lps = img.dimension === 3 ? d : [d[0], d[1], 0, d[2], d[3], 0, 0, 0, 1];
  const mdc = [-lps[0], -lps[1], -lps[2], -lps[3], -lps[4], -lps[5], lps[6], lps[7], lps[8]];
  const o = img.dimension === 3 ? img.origin : [img.origin[0], img.origin[1], 0];
  const p0 = [-o[0], -o[1], o[2]];
  const cras = [0, 1, 2].map((r) => p0[r] + [0, 1, 2].reduce((s, c) => s + mdc[3 * r + c] * spacing[c] * (dims[c] / 2), 0));
  v.setInt32(0, 1, false);
  for (let i = 0; i < 3; i++) v.setInt32(4 + 4 * i, dims[i], false);
  v.setInt32(16, frames, false);
  v.setInt32(20, type, false);
  v.setInt32(24, 0, false);
  v.setInt16(28, 1, false);
  for (let i = 0; i < 3; i++) v.setFloat32(30 + 4 * i, spacing[i], false);
  for (let c = 0; c < 3; c++) for (let r = 0; r < 3; r++) v.setFloat32(42 + 12 * c + 4 * r, mdc[3 * r + c], false);
  for (let i = 0; i < 3; i++) v.setFloat32(78 + 4 * i, cras[i], false);
  const data = img.data;
  for (let f = 0; f < frames; f++) {
    const base = HEADER_BYTES + f * n * bytesPer;
    for (let i = 0; i < n; i++) {
      const value = data[i * frames + f];
      const at = base + i * bytesPer;
      if (type === 0) out[at] = value;
      else if (type === 1) v.setInt32(at, value, false);
      else if (type === 3) v.setFloat32(at, value, false);
      else v.setInt16(at, value, false);
    }
  }
  // The optional scan parameters (TR, flip angle, TE, TI) are left 0, as nibabel writes them by default.
  return opts.gzip ? gzip(out) : out;
}
