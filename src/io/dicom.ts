// DICOM in (read only, browser-safe: bytes in). Parsing goes through `dicom-parser`; this file turns the parsed
// objects of one series into an Image in LPS mm: frames sorted along the slice normal, spacing from the positions,
// PixelSpacing's (row, column) order, RescaleSlope/Intercept applied, enhanced multi-frame functional groups.
// Folder walking is the Node edge's job (src/io/node.ts).
import * as dicomParserNs from 'dicom-parser';
import type { DataSet } from 'dicom-parser';
import { Decoder as JpegLosslessDecoder } from 'jpeg-lossless-decoder-js';
import { CoregError } from '../errors.js';
import type { Image, PixelArray } from '../image/image.js';
import { MAX_PIXEL_ELEMENTS } from './format.js';
import { inflateRawBounded } from './compression.js';

/** A deflated data set declares no inflated size: one DICOM file of more than 1 GiB is refused as too large. */
const MAX_INFLATED_DICOM_BYTES = 2 ** 30;

// The package is a UMD bundle: under Node's ESM loader its API is the default export.
const dicomParser = ((dicomParserNs as unknown as { default?: typeof dicomParserNs }).default ?? dicomParserNs) as typeof dicomParserNs;

const IMPLICIT_LE = '1.2.840.10008.1.2';
const EXPLICIT_LE = '1.2.840.10008.1.2.1';
const DEFLATED_LE = '1.2.840.10008.1.2.1.99';
const EXPLICIT_BE = '1.2.840.10008.1.2.2';
const RLE_LOSSLESS = '1.2.840.10008.1.2.5';
const JPEG_LOSSLESS = new Set(['1.2.840.10008.1.2.4.57', '1.2.840.10008.1.2.4.70']);

const UNSUPPORTED_SYNTAXES: Record<string, string> = {
  '1.2.840.10008.1.2.4.50': 'JPEG Baseline',
  '1.2.840.10008.1.2.4.51': 'JPEG Extended',
  '1.2.840.10008.1.2.4.80': 'JPEG-LS Lossless',
  '1.2.840.10008.1.2.4.81': 'JPEG-LS Near-Lossless',
  '1.2.840.10008.1.2.4.90': 'JPEG 2000 Lossless',
  '1.2.840.10008.1.2.4.91': 'JPEG 2000',
  '1.2.840.10008.1.2.4.100': 'MPEG2',
  '1.2.840.10008.1.2.4.102': 'MPEG-4',
  '1.2.840.10008.1.2.4.201': 'HTJ2K Lossless',
  '1.2.840.10008.1.2.4.203': 'HTJ2K',
};

/** True when the bytes start like a DICOM Part 10 file ("DICM" after the 128-byte preamble). */
export function hasDicomMagic(bytes: Uint8Array): boolean {
  return bytes.length >= 132 && bytes[128] === 0x44 && bytes[129] === 0x49 && bytes[130] === 0x43 && bytes[131] === 0x4d;
}

/** One image frame of a DICOM object: where it is and how to get its stored values. */
interface Frame {
  position: number[] | null;
  orientation: number[] | null;
  pixelSpacing: number[] | null;
  slope: number;
  intercept: number;
  index: number;
  file: DicomObject;
}

/** One parsed DICOM file (header fields the reader needs, pixel data decoded on demand). */
export interface DicomObject {
  name: string;
  seriesUid: string;
  seriesNumber: number | null;
  description: string;
  modality: string;
  instanceNumber: number | null;
  rows: number;
  columns: number;
  frames: Frame[];
  hasPixelData: boolean;
  transferSyntax: string;
  bitsAllocated: number;
  bitsStored: number;
  signed: boolean;
  samplesPerPixel: number;
  sliceThickness: number | null;
  spacingBetweenSlices: number | null;
  dataSet: DataSet;
  littleEndian: boolean;
}

function str(ds: DataSet | undefined, tag: string): string {
  if (!ds) return '';
  const v = ds.string(tag);
  return v === undefined ? '' : v.trim();
}

function numbers(ds: DataSet | undefined, tag: string): number[] | null {
  const s = str(ds, tag);
  if (!s) return null;
  const parts = s.split('\\').map((p) => Number(p.trim()));
  return parts.every((v) => Number.isFinite(v)) ? parts : null;
}

function oneNumber(ds: DataSet | undefined, tag: string): number | null {
  const v = numbers(ds, tag);
  return v && v.length >= 1 ? v[0] : null;
}

function item(ds: DataSet | undefined, tag: string, index = 0): DataSet | undefined {
  const el = ds?.elements[tag];
  return el?.items && el.items.length > index ? el.items[index].dataSet : undefined;
}

/** A value from a functional group (per-frame first, then shared), or from the top level. */
function groupValue<T>(perFrame: DataSet | undefined, shared: DataSet | undefined, top: DataSet, seq: string, read: (ds: DataSet | undefined) => T | null): T | null {
  const a = read(item(perFrame, seq));
  if (a !== null) return a;
  const b = read(item(shared, seq));
  if (b !== null) return b;
  return read(top);
}

/** Parses one DICOM file's bytes (header; pixels stay in place until readDicomSeries). */
export function parseDicomObject(bytes: Uint8Array, name: string): DicomObject {
  let ds: DataSet;
  try {
    const options: Record<string, unknown> = { inflater: (arr: Uint8Array, pos: number) => concatInflated(arr, pos) };
    if (!hasDicomMagic(bytes)) options.TransferSyntaxUID = guessSyntaxWithoutMeta(bytes);
    ds = dicomParser.parseDicom(bytes, options as never);
  } catch (e) {
    const msg = e instanceof Error ? e.message : typeof e === 'string' ? e : (e as { exception?: string })?.exception ?? String(e);
    throw new CoregError(name, `not a readable DICOM file (${msg.replace(/^dicomParser\.\w+: /, '')})`);
  }
  const syntax = str(ds, 'x00020010') || (hasDicomMagic(bytes) ? '' : guessSyntaxWithoutMeta(bytes));
  const pixel = ds.elements.x7fe00010;
  const rows = ds.uint16('x00280010') ?? 0;
  const columns = ds.uint16('x00280011') ?? 0;
  const nFrames = Math.max(1, Math.round(oneNumber(ds, 'x00280008') ?? 1));
  const perFrameSeq = ds.elements.x52009230;
  const shared = item(ds, 'x52009229');
  const obj: DicomObject = {
    name,
    seriesUid: str(ds, 'x0020000e'),
    seriesNumber: oneNumber(ds, 'x00200011'),
    description: str(ds, 'x0008103e'),
    modality: str(ds, 'x00080060'),
    instanceNumber: oneNumber(ds, 'x00200013'),
    rows,
    columns,
    frames: [],
    hasPixelData: pixel !== undefined && (pixel.length > 0 || pixel.encapsulatedPixelData === true),
    transferSyntax: syntax,
    bitsAllocated: ds.uint16('x00280100') ?? 0,
    bitsStored: ds.uint16('x00280101') ?? ds.uint16('x00280100') ?? 0,
    signed: ds.uint16('x00280103') === 1,
    samplesPerPixel: ds.uint16('x00280002') ?? 1,
    sliceThickness: oneNumber(ds, 'x00180050'),
    spacingBetweenSlices: oneNumber(ds, 'x00180088'),
    dataSet: ds,
    littleEndian: syntax !== EXPLICIT_BE,
  };
  for (let f = 0; f < nFrames; f++) {
    const perFrame = perFrameSeq?.items?.[f]?.dataSet;
    obj.frames.push({
      position: groupValue(perFrame, shared, ds, 'x00209113', (d) => numbers(d, 'x00200032')),
      orientation: groupValue(perFrame, shared, ds, 'x00209116', (d) => numbers(d, 'x00200037')),
      pixelSpacing: groupValue(perFrame, shared, ds, 'x00289110', (d) => numbers(d, 'x00280030')) ?? numbers(ds, 'x00181164'),
      slope: groupValue(perFrame, shared, ds, 'x00289145', (d) => oneNumber(d, 'x00281053')) ?? 1,
      intercept: groupValue(perFrame, shared, ds, 'x00289145', (d) => oneNumber(d, 'x00281052')) ?? 0,
      index: f,
      file: obj,
    });
  }
  // Classic multi-frame objects (RT dose, NM) place frames by GridFrameOffsetVector along the normal from one
  // ImagePositionPatient; RT dose scales its stored values by DoseGridScaling.
  const offsets = numbers(ds, 'x3004000c');
  const ipp = numbers(ds, 'x00200032');
  const iop = numbers(ds, 'x00200037');
  if (!perFrameSeq && nFrames > 1 && offsets && offsets.length === nFrames && ipp?.length === 3 && iop?.length === 6) {
    const n = cross(iop.slice(0, 3), iop.slice(3, 6));
    for (let f = 0; f < nFrames; f++) obj.frames[f].position = [0, 1, 2].map((a) => ipp[a] + offsets[f] * n[a]);
  }
  const doseScaling = oneNumber(ds, 'x3004000e');
  if (doseScaling !== null && !ds.elements.x00281053) for (const f of obj.frames) f.slope = doseScaling;
  // Enhanced objects may keep the slice thickness / spacing in the pixel-measures group.
  if (obj.sliceThickness === null) obj.sliceThickness = groupValue(perFrameSeq?.items?.[0]?.dataSet, shared, ds, 'x00289110', (d) => oneNumber(d, 'x00180050'));
  return obj;
}

function concatInflated(arr: Uint8Array, pos: number): Uint8Array {
  const inflated = inflateRawBounded(arr.subarray(pos), MAX_INFLATED_DICOM_BYTES, 'one DICOM file may hold');
  const out = new Uint8Array(pos + inflated.length);
  out.set(arr.subarray(0, pos), 0);
  out.set(inflated, pos);
  return out;
}

/** A file without the Part 10 header: explicit VR if the first element carries a two-letter VR, else implicit. */
function guessSyntaxWithoutMeta(bytes: Uint8Array): string {
  if (bytes.length < 8) return IMPLICIT_LE;
  const isLetter = (b: number) => b >= 0x41 && b <= 0x5a;
  if (!(isLetter(bytes[4]) && isLetter(bytes[5]))) return IMPLICIT_LE;
  // Group numbers are small: a little-endian group 0x0008 starts 08 00, a big-endian one 00 08.
  return bytes[0] === 0 && bytes[1] !== 0 ? EXPLICIT_BE : EXPLICIT_LE;
}

/** A short summary of one series (for `coreg dicom` and the several-series error). */
export interface DicomSeriesSummary {
  uid: string;
  number: number | null;
  description: string;
  modality: string;
  files: number;
  size: number[] | null;
  spacing: number[] | null;
}

/** Groups parsed objects by SeriesInstanceUID (in order of first appearance). */
export function groupDicomSeries(objects: DicomObject[]): Map<string, DicomObject[]> {
  const map = new Map<string, DicomObject[]>();
  for (const o of objects) {
    const list = map.get(o.seriesUid);
    if (list) list.push(o);
    else map.set(o.seriesUid, [o]);
  }
  return map;
}

export function summarizeDicomSeries(objects: DicomObject[]): DicomSeriesSummary[] {
  const out: DicomSeriesSummary[] = [];
  for (const [uid, list] of groupDicomSeries(objects)) {
    let size: number[] | null = null;
    let spacing: number[] | null = null;
    try {
      const g = seriesGeometry(list, uid || list[0].name);
      size = g.size;
      spacing = g.spacing;
    } catch {
      // Left null: the series cannot be assembled (reading it gives the reason).
    }
    out.push({ uid, number: list[0].seriesNumber, description: list[0].description, modality: list[0].modality, files: list.length, size, spacing });
  }
  return out;
}

/** The one-line error for a folder holding several series. */
export function severalSeriesError(subject: string, summaries: DicomSeriesSummary[]): CoregError {
  const listed = summaries.map((s) => `${s.uid} (${s.description ? JSON.stringify(s.description) : 'no description'})`).join(', ');
  return new CoregError(subject, `${summaries.length} DICOM series (pick one with coreg convert FOLDER OUT --series UID): ${listed}`);
}

interface Geometry {
  size: number[];
  spacing: number[];
  origin: number[];
  direction: number[];
  frames: Frame[];
}

const cross = (a: number[], b: number[]) => [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
const dot = (a: number[], b: number[]) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
const norm = (a: number[]) => Math.sqrt(dot(a, a));

function seriesGeometry(objects: DicomObject[], subject: string): Geometry {
  const withPixels = objects.filter((o) => o.hasPixelData);
  if (withPixels.length === 0) throw new CoregError(subject, 'missing pixel data (no DICOM image in the series)');
  const first = withPixels[0];
  for (const o of withPixels) {
    if (o.rows !== first.rows || o.columns !== first.columns) {
      throw new CoregError(o.name, `${o.columns}x${o.rows} pixels, but ${first.name} has ${first.columns}x${first.rows}: not one volume`);
    }
  }
  if (first.rows <= 0 || first.columns <= 0) throw new CoregError(first.name, 'missing Rows/Columns');
  const frames = withPixels.flatMap((o) => o.frames);
  const ref = frames[0];
  const iop = ref.orientation ?? [1, 0, 0, 0, 1, 0];
  if (iop.length !== 6) throw new CoregError(ref.file.name, 'ImageOrientationPatient must have 6 values');
  const row = iop.slice(0, 3);
  const col = iop.slice(3, 6);
  if (Math.abs(norm(row) - 1) > 1e-3 || Math.abs(norm(col) - 1) > 1e-3 || Math.abs(dot(row, col)) > 1e-3) {
    throw new CoregError(ref.file.name, 'ImageOrientationPatient is not two orthonormal vectors');
  }
  for (const f of frames) {
    const o = f.orientation ?? [1, 0, 0, 0, 1, 0];
    for (let i = 0; i < 6; i++) {
      if (Math.abs(o[i] - iop[i]) > 1e-4) throw new CoregError(f.file.name, 'mixed orientations in one series (ImageOrientationPatient differs between slices)');
    }
  }
  const rowU = row.map((v) => v / norm(row));
  const colU = col.map((v) => v / norm(col));
  const normal = cross(rowU, colU);
  const ps = ref.pixelSpacing ?? [1, 1];
  // PixelSpacing is (spacing between rows, spacing between columns) = (y, x).
  const sx = ps.length >= 2 ? ps[1] : ps[0];
  const sy = ps[0];
  if (!(sx > 0 && sy > 0)) throw new CoregError(ref.file.name, `PixelSpacing must be positive (got ${ps.join('\\')})`);
  for (const f of frames) {
    const p = f.pixelSpacing ?? [1, 1];
    if (Math.abs(p[0] - ps[0]) > 1e-4 || Math.abs((p[1] ?? p[0]) - (ps[1] ?? ps[0])) > 1e-4) {
      throw new CoregError(f.file.name, 'PixelSpacing differs between slices of one series');
    }
  }
  let sorted = frames;
  let sz: number;
  if (frames.length > 1) {
    if (frames.some((f) => f.position === null || f.position.length !== 3)) {
      throw new CoregError(frames.find((f) => !f.position || f.position.length !== 3)!.file.name, 'missing ImagePositionPatient: cannot order the slices');
    }
    const keyed = frames.map((f) => ({ f, d: dot(f.position!, normal) }));
    keyed.sort((a, b) => a.d - b.d);
    sorted = keyed.map((k) => k.f);
    const gaps: number[] = [];
    for (let i = 1; i < keyed.length; i++) gaps.push(keyed[i].d - keyed[i - 1].d);
    const minGap = Math.min(...gaps);
    if (minGap < 1e-4) {
      const i = gaps.indexOf(minGap);
      throw new CoregError(keyed[i + 1].f.file.name, `two slices at the same position as ${keyed[i].f.file.name} (several volumes in one series?)`);
    }
    sz = (keyed[keyed.length - 1].d - keyed[0].d) / (keyed.length - 1);
    for (let i = 0; i < gaps.length; i++) {
      if (Math.abs(gaps[i] - sz) > Math.max(1e-3, 0.01 * sz)) {
        throw new CoregError(subject, `non-uniform slice spacing (${gaps[i].toPrecision(4)} mm between ${keyed[i].f.file.name} and ${keyed[i + 1].f.file.name}, ${sz.toPrecision(4)} mm on average); resample it with another tool first`);
      }
    }
    // Gantry tilt: the slice positions move off the normal.
    const p0 = sorted[0].position!;
    const pn = sorted[sorted.length - 1].position!;
    const along = [pn[0] - p0[0], pn[1] - p0[1], pn[2] - p0[2]];
    const offNormal = norm(cross(along, normal)) / norm(along);
    if (offNormal > 1e-3) {
      const deg = (Math.asin(Math.min(1, offNormal)) * 180) / Math.PI;
      throw new CoregError(subject, `gantry tilt or sheared slice stack (${deg.toFixed(2)}° between the slice normal and the slice positions); not supported`);
    }
  } else {
    sz = first.spacingBetweenSlices ?? first.sliceThickness ?? 1;
    if (!(sz > 0)) sz = 1;
  }
  const origin = sorted[0].position ?? [0, 0, 0];
  // Direction columns: image x = row direction, y = column direction, z = normal (DICOM is LPS already).
  const direction = [rowU[0], colU[0], normal[0], rowU[1], colU[1], normal[1], rowU[2], colU[2], normal[2]];
  return { size: [first.columns, first.rows, sorted.length], spacing: [sx, sy, sz], origin: origin.slice(0, 3), direction, frames: sorted };
}

/**
 * Assembles one series (all objects must share one SeriesInstanceUID) into a 3D image. Stored values are
 * decoded per frame; RescaleSlope/Intercept are applied (integer results stay integers when they fit).
 */
export function readDicomSeries(objects: DicomObject[], subject: string): Image {
  const uids = new Set(objects.map((o) => o.seriesUid));
  if (uids.size > 1) throw severalSeriesError(subject, summarizeDicomSeries(objects));
  const g = seriesGeometry(objects, subject);
  const first = g.frames[0].file;
  if (first.samplesPerPixel !== 1) throw new CoregError(first.name, `${first.samplesPerPixel} samples per pixel (colour DICOM) is not supported; coreg reads grey-scale series`);
  const perFrame = g.size[0] * g.size[1];
  const total = perFrame * g.size[2];
  if (total > MAX_PIXEL_ELEMENTS) throw new CoregError(subject, `too many pixels (${total})`);
  const stored = new Float64Array(total);
  let allInteger = true;
  for (let k = 0; k < g.frames.length; k++) {
    const f = g.frames[k];
    decodeFrame(f, stored, k * perFrame, perFrame);
    if (!Number.isInteger(f.slope) || !Number.isInteger(f.intercept)) allInteger = false;
    if (f.slope !== 1 || f.intercept !== 0) {
      for (let i = k * perFrame, end = i + perFrame; i < end; i++) stored[i] = stored[i] * f.slope + f.intercept;
    }
  }
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < total; i++) {
    const v = stored[i];
    if (v < min) min = v;
    if (v > max) max = v;
  }
  let data: PixelArray;
  if (!allInteger) data = Float32Array.from(stored);
  else if (min >= 0 && max <= 255 && first.bitsAllocated === 8) data = Uint8Array.from(stored);
  else if (min >= -32768 && max <= 32767) data = Int16Array.from(stored);
  else if (min >= 0 && max <= 65535) data = Uint16Array.from(stored);
  else if (min >= -2147483648 && max <= 2147483647) data = Int32Array.from(stored);
  else data = Float64Array.from(stored);
  return { dimension: 3, size: g.size, spacing: g.spacing, origin: g.origin, direction: g.direction, components: 1, data };
}

/** Stored values of one frame (sign-extended from BitsStored) into out[at … at+n). */
function decodeFrame(frame: Frame, out: Float64Array, at: number, n: number): void {
  const o = frame.file;
  const ds = o.dataSet;
  const el = ds.elements.x7fe00010;
  if (!el) throw new CoregError(o.name, 'missing pixel data');
  const bits = o.bitsAllocated;
  if (bits !== 8 && bits !== 16 && bits !== 32) throw new CoregError(o.name, `BitsAllocated ${bits} is not supported (8, 16 or 32)`);
  const bytesPer = bits / 8;
  let bytes: Uint8Array;
  let little = o.littleEndian;
  const syntax = o.transferSyntax;
  if (el.encapsulatedPixelData) {
    if (syntax !== RLE_LOSSLESS && !JPEG_LOSSLESS.has(syntax)) {
      const name = UNSUPPORTED_SYNTAXES[syntax] ?? 'an unknown compressed transfer syntax';
      throw new CoregError(o.name, `compressed DICOM (${name}, transfer syntax ${syntax}) is not supported; decompress it first (e.g. gdcmconv --raw or dcmdjpeg)`);
    }
    let fragment: Uint8Array;
    try {
      const nFrames = o.frames.length;
      const nFragments = el.fragments?.length ?? 0;
      if (el.basicOffsetTable && el.basicOffsetTable.length > 0) fragment = dicomParser.readEncapsulatedImageFrame(ds, el, frame.index) as Uint8Array;
      else if (nFrames === 1) fragment = dicomParser.readEncapsulatedPixelDataFromFragments(ds, el, 0, nFragments) as Uint8Array;
      // RLE (and usually JPEG) puts each frame in one fragment.
      else if (nFragments === nFrames) fragment = dicomParser.readEncapsulatedPixelDataFromFragments(ds, el, frame.index, 1) as Uint8Array;
      else throw new Error(`${nFragments} fragments for ${nFrames} frames and no offset table`);
    } catch (e) {
      throw new CoregError(o.name, `cannot read compressed frame ${frame.index} (${e instanceof Error ? e.message : String(e)})`);
    }
    bytes = syntax === RLE_LOSSLESS ? decodeRle(fragment, n, bytesPer, o.name) : decodeJpegLossless(fragment, n, bytesPer, o.name);
    little = syntax === RLE_LOSSLESS ? true : NATIVE_LITTLE_ENDIAN;
  } else {
    if (syntax && syntax !== IMPLICIT_LE && syntax !== EXPLICIT_LE && syntax !== EXPLICIT_BE && syntax !== DEFLATED_LE) {
      throw new CoregError(o.name, `unknown transfer syntax ${syntax}`);
    }
    const start = el.dataOffset + frame.index * n * bytesPer;
    const end = start + n * bytesPer;
    if (end > ds.byteArray.length || end > el.dataOffset + el.length) throw new CoregError(o.name, 'truncated pixel data');
    bytes = ds.byteArray.subarray(start, end) as Uint8Array;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stored = Math.min(o.bitsStored || bits, bits);
  const shift = 32 - stored;
  const mask = stored >= 32 ? 0xffffffff : (2 ** stored) - 1;
  for (let i = 0; i < n; i++) {
    let v = bits === 8 ? view.getUint8(i) : bits === 16 ? view.getUint16(i * 2, little) : view.getUint32(i * 4, little);
    if (o.signed) v = (v << shift) >> shift;
    else if (stored < 32) v = v & mask;
    else v = v >>> 0;
    out[at + i] = v;
  }
}

/**
 * DICOM RLE Lossless (PS3.5 Annex G): a 64-byte header of segment offsets, one PackBits segment per byte
 * plane, most significant byte first. Returns the frame as little-endian samples.
 */
export function decodeRle(frame: Uint8Array, n: number, bytesPer: number, name: string): Uint8Array {
  if (frame.length < 64) throw new CoregError(name, 'truncated RLE frame');
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const segments = view.getUint32(0, true);
  if (segments !== bytesPer) throw new CoregError(name, `RLE frame has ${segments} segments, expected ${bytesPer}`);
  const out = new Uint8Array(n * bytesPer);
  for (let s = 0; s < segments; s++) {
    const start = view.getUint32(4 + 4 * s, true);
    const end = s + 1 < segments ? view.getUint32(8 + 4 * s, true) : frame.length;
    if (start < 64 || end > frame.length || end < start) throw new CoregError(name, 'corrupt RLE segment offsets');
    // Segment 0 holds the most significant bytes; little-endian output puts them last.
    const byteIndex = bytesPer - 1 - s;
    let p = start;
    let o = 0;
    while (o < n && p < end) {
      const h = (frame[p++] << 24) >> 24;
      if (h >= 0) {
        const count = h + 1;
        if (p + count > end) throw new CoregError(name, 'corrupt RLE segment (literal run past its end)');
        for (let c = 0; c < count && o < n; c++) out[(o++) * bytesPer + byteIndex] = frame[p++];
      } else if (h !== -128) {
        const count = 1 - h;
        if (p >= end) throw new CoregError(name, 'corrupt RLE segment (repeat run past its end)');
        const v = frame[p++];
        for (let c = 0; c < count && o < n; c++) out[(o++) * bytesPer + byteIndex] = v;
      }
    }
    if (o < n) throw new CoregError(name, `truncated RLE segment (${o} of ${n} pixels)`);
  }
  return out;
}

const NATIVE_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** JPEG Lossless (processes 14 and 14 SV1) through jpeg-lossless-decoder-js; samples in platform byte order. */
function decodeJpegLossless(fragment: Uint8Array, n: number, bytesPer: number, name: string): Uint8Array {
  if (bytesPer > 2) throw new CoregError(name, `JPEG Lossless with ${bytesPer * 8}-bit samples is not supported`);
  let decoded: Uint8Array | Uint16Array;
  try {
    const copy = fragment.slice();
    decoded = new JpegLosslessDecoder().decode(copy.buffer, 0, copy.byteLength, bytesPer);
  } catch (e) {
    throw new CoregError(name, `corrupt JPEG Lossless frame (${e instanceof Error ? e.message : String(e)})`);
  }
  if (decoded.length < n) throw new CoregError(name, `JPEG Lossless frame holds ${decoded.length} of ${n} samples`);
  return new Uint8Array(decoded.buffer, decoded.byteOffset, n * bytesPer);
}

/** Reads one DICOM file's bytes as an image (its own series). */
export function readDicom(bytes: Uint8Array, name: string): Image {
  const obj = parseDicomObject(bytes, name);
  if (!obj.hasPixelData) throw new CoregError(name, 'missing pixel data (not a DICOM image)');
  return readDicomSeries([obj], name);
}
