// PNG ⇄ Image. Reading: this module checks the chunks and their CRCs, inflates the image data once (bounded by
// the size IHDR declares) and undoes the scanline filters and Adam7 interlacing itself (fast-png's decoder would
// inflate the data a second time, with its own buffers: 2D register's peak RSS −2 MB, issue 13); it reads ITK's
// sCAL spacing and maps colour types onto coreg's scalar/vector pixels. Writing: fast-png's encoder. Geometry:
// spacing from sCAL only (never pHYs, which ITK ignores), origin 0, identity direction, x = column, y = row.
import { encode } from 'fast-png';
import { CoregError } from '../errors.js';
import { finiteRange, pixelTypeOf, validateImage } from '../image/image.js';
import { identity } from '../image/linalg.js';
import type { Image, PixelArray } from '../image/image.js';
import { MAX_DECODED_BYTES, type ReadContext } from './format.js';
import { inflateZlibBounded } from './compression.js';

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (ISO 3309, as PNG uses) of bytes[start, end). */
function crc32(bytes: Uint8Array, start: number, end: number): number {
  let c = 0xffffffff;
  for (let i = start; i < end; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunkType(bytes: Uint8Array, at: number): string {
  return String.fromCharCode(bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]);
}

export function isPng(bytes: Uint8Array): boolean {
  if (bytes.length < SIGNATURE.length) return false;
  for (let i = 0; i < SIGNATURE.length; i++) if (bytes[i] !== SIGNATURE[i]) return false;
  return true;
}

interface ChunkScan {
  /** Spacing (mm) from sCAL, or undefined when absent/unusable. */
  scal?: [number, number];
  interlaced: boolean;
  /** IHDR: width, height, bit depth, colour type. */
  width: number;
  height: number;
  depth: number;
  colorType: number;
  /** The IDAT chunks' data. */
  idat: Uint8Array[];
  /** PLTE entries [r, g, b], each with its tRNS alpha appended ([r, g, b, a]) when a tRNS chunk is present. */
  palette?: number[][];
  /** A tRNS chunk for a grey or RGB image (one transparent colour). */
  transparency: boolean;
}

/** Bit depths the PNG specification allows per colour type. */
const DEPTHS: Record<number, number[]> = { 0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16] };

const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

/** The Adam7 passes: first column, first row, column step, row step. */
const ADAM7 = [
  [0, 0, 8, 8],
  [4, 0, 8, 8],
  [0, 4, 4, 8],
  [2, 0, 4, 4],
  [0, 2, 2, 4],
  [1, 0, 2, 2],
  [0, 1, 1, 2],
];

/** Bytes of the filtered scanlines IHDR declares (all seven Adam7 passes when interlaced). */
function declaredScanlineBytes(s: ChunkScan): number {
  const bitsPerPixel = (CHANNELS[s.colorType] ?? 4) * s.depth;
  const rowBytes = (w: number) => (w === 0 ? 0 : 1 + Math.ceil((w * bitsPerPixel) / 8));
  if (!s.interlaced) return s.height * rowBytes(s.width);
  let n = 0;
  for (const [x0, y0, dx, dy] of ADAM7) {
    const w = Math.ceil((s.width - x0) / dx);
    const h = Math.ceil((s.height - y0) / dy);
    if (w > 0 && h > 0) n += h * rowBytes(w);
  }
  return n;
}

/** Walks the chunk list: checks structure and every CRC, and extracts sCAL. */
function scanChunks(bytes: Uint8Array, ctx: ReadContext): ChunkScan {
  if (!isPng(bytes)) throw new CoregError(ctx.name, 'not a PNG file (bad signature)');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const scan: ChunkScan = { interlaced: false, width: 0, height: 0, depth: 8, colorType: 0, idat: [], transparency: false };
  let at = SIGNATURE.length;
  let sawEnd = false;
  let sawHeader = false;
  let paletteAlpha: Uint8Array | undefined;
  while (!sawEnd) {
    if (at + 8 > bytes.length) throw new CoregError(ctx.name, 'truncated PNG (no IEND chunk)');
    const length = view.getUint32(at);
    const type = chunkType(bytes, at + 4);
    const dataStart = at + 8;
    const dataEnd = dataStart + length;
    if (dataEnd + 4 > bytes.length) throw new CoregError(ctx.name, `truncated PNG chunk ${type}`);
    if (crc32(bytes, at + 4, dataEnd) !== view.getUint32(dataEnd)) throw new CoregError(ctx.name, `bad CRC in PNG chunk ${type}`);
    if (!sawHeader && type !== 'IHDR') throw corrupt(ctx, `the first chunk is ${type}, not IHDR`);
    if (type === 'IHDR') {
      if (sawHeader) throw corrupt(ctx, 'two IHDR chunks');
      if (length !== 13) throw corrupt(ctx, `IHDR chunk of ${length} bytes, not 13`);
      sawHeader = true;
      readHeader(bytes, view, dataStart, scan, ctx);
    } else if (type === 'IDAT') scan.idat.push(bytes.subarray(dataStart, dataEnd));
    else if (type === 'PLTE') {
      if (length % 3 !== 0 || length === 0 || length > 3 * 256) throw corrupt(ctx, `PLTE chunk of ${length} bytes (1 to 256 RGB entries)`);
      scan.palette = [];
      for (let i = dataStart; i < dataEnd; i += 3) scan.palette.push([bytes[i], bytes[i + 1], bytes[i + 2]]);
    } else if (type === 'tRNS') {
      if (scan.colorType === 3) paletteAlpha = bytes.subarray(dataStart, dataEnd);
      else if (scan.colorType === 0 || scan.colorType === 2) scan.transparency = true;
      else throw corrupt(ctx, `tRNS chunk in an image with an alpha channel (colour type ${scan.colorType})`);
    } else if (type === 'sCAL') scan.scal = parseScal(bytes.subarray(dataStart, dataEnd), ctx);
    else if (type === 'IEND') sawEnd = true;
    at = dataEnd + 4;
  }
  if (scan.colorType === 3) {
    if (!scan.palette) throw corrupt(ctx, 'palette image without a PLTE chunk');
    if (paletteAlpha) {
      if (paletteAlpha.length > scan.palette.length) throw corrupt(ctx, `tRNS chunk holds ${paletteAlpha.length} alpha values for ${scan.palette.length} palette entries`);
      scan.palette.forEach((entry, k) => entry.push(k < paletteAlpha!.length ? paletteAlpha![k] : 255));
    }
  }
  if (scan.idat.length === 0) throw corrupt(ctx, 'no IDAT chunk');
  return scan;
}

function corrupt(ctx: ReadContext, what: string): CoregError {
  return new CoregError(ctx.name, `corrupt PNG (${what})`);
}

/** IHDR's 13 bytes: size, bit depth, colour type and the methods (only deflate, adaptive filtering, none/Adam7). */
function readHeader(bytes: Uint8Array, view: DataView, at: number, scan: ChunkScan, ctx: ReadContext): void {
  scan.width = view.getUint32(at);
  scan.height = view.getUint32(at + 4);
  scan.depth = bytes[at + 8];
  scan.colorType = bytes[at + 9];
  const [compression, filter, interlace] = [bytes[at + 10], bytes[at + 11], bytes[at + 12]];
  if (scan.width === 0 || scan.height === 0) throw corrupt(ctx, `image size ${scan.width}x${scan.height}`);
  const depths = DEPTHS[scan.colorType];
  if (!depths) throw corrupt(ctx, `unknown colour type ${scan.colorType}`);
  if (!depths.includes(scan.depth)) throw corrupt(ctx, `bit depth ${scan.depth} is not allowed for colour type ${scan.colorType}`);
  if (compression !== 0) throw corrupt(ctx, `unknown compression method ${compression}`);
  if (filter !== 0) throw corrupt(ctx, `unknown filter method ${filter}`);
  if (interlace > 1) throw corrupt(ctx, `unknown interlace method ${interlace}`);
  scan.interlaced = interlace === 1;
}

/**
 * Undoes the five scanline filters (PNG spec §9) of `rows` rows of `rowBytes` bytes, each preceded by its filter
 * byte, read from `src` at `at`, into `out` (rows × rowBytes, no filter bytes). `bpp`: bytes per complete pixel,
 * at least 1 (sub-byte depths filter by whole bytes). Returns the offset after the last row.
 */
function unfilterRows(src: Uint8Array, at: number, rows: number, rowBytes: number, bpp: number, out: Uint8Array, ctx: ReadContext): number {
  for (let y = 0; y < rows; y++) {
    const filter = src[at++];
    const o = y * rowBytes;
    const p = o - rowBytes; // the row above (y > 0)
    switch (filter) {
      case 0:
        for (let i = 0; i < rowBytes; i++) out[o + i] = src[at + i];
        break;
      case 1:
        for (let i = 0; i < rowBytes; i++) out[o + i] = (src[at + i] + (i >= bpp ? out[o + i - bpp] : 0)) & 0xff;
        break;
      case 2:
        if (y === 0) for (let i = 0; i < rowBytes; i++) out[o + i] = src[at + i];
        else for (let i = 0; i < rowBytes; i++) out[o + i] = (src[at + i] + out[p + i]) & 0xff;
        break;
      case 3:
        for (let i = 0; i < rowBytes; i++) {
          const a = i >= bpp ? out[o + i - bpp] : 0;
          const b = y > 0 ? out[p + i] : 0;
          out[o + i] = (src[at + i] + ((a + b) >> 1)) & 0xff;
        }
        break;
      case 4:
        for (let i = 0; i < rowBytes; i++) {
          const a = i >= bpp ? out[o + i - bpp] : 0;
          const b = y > 0 ? out[p + i] : 0;
          const c = i >= bpp && y > 0 ? out[p + i - bpp] : 0;
          const pa = Math.abs(b - c);
          const pb = Math.abs(a - c);
          const pc = Math.abs(a + b - 2 * c);
          out[o + i] = (src[at + i] + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c)) & 0xff;
        }
        break;
      default:
        throw corrupt(ctx, `unknown scanline filter type ${filter}`);
    }
    at += rowBytes;
  }
  return at;
}

/**
 * The pixels of the inflated scanlines: bytes row after row (sub-byte depths packed, rows byte-aligned; interlaced
 * images have whole bytes per sample), or native 16-bit values for depth 16. Channels interleaved.
 */
function unfilterImage(inflated: Uint8Array, scan: ChunkScan, ctx: ReadContext): Uint8Array | Uint16Array {
  const { width, height, depth } = scan;
  const channels = CHANNELS[scan.colorType];
  const bpp = Math.max(1, (channels * depth) >> 3);
  const rowBytes = Math.ceil((width * channels * depth) / 8);
  let bytes: Uint8Array;
  if (!scan.interlaced) {
    bytes = new Uint8Array(height * rowBytes);
    unfilterRows(inflated, 0, height, rowBytes, bpp, bytes, ctx);
  } else {
    // (depth ≥ 8 here: readPng refuses interlaced sub-byte depths)
    bytes = new Uint8Array(height * width * bpp);
    let pass = new Uint8Array(0);
    let at = 0;
    for (const [x0, y0, dx, dy] of ADAM7) {
      const w = Math.ceil((width - x0) / dx);
      const h = Math.ceil((height - y0) / dy);
      if (w <= 0 || h <= 0) continue;
      if (pass.length < w * h * bpp) pass = new Uint8Array(w * h * bpp);
      at = unfilterRows(inflated, at, h, w * bpp, bpp, pass, ctx);
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const from = (y * w + x) * bpp;
          const to = ((y0 + y * dy) * width + x0 + x * dx) * bpp;
          for (let k = 0; k < bpp; k++) bytes[to + k] = pass[from + k];
        }
      }
    }
  }
  if (depth !== 16) return bytes;
  // PNG stores 16-bit samples big-endian
  const out = new Uint16Array(bytes.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = (bytes[2 * i] << 8) | bytes[2 * i + 1];
  return out;
}

/** sCAL = unit byte, ASCII x, NUL, ASCII y. ITK writes unit 0 (undefined by the spec) with mm values. */
function parseScal(data: Uint8Array, ctx: ReadContext): [number, number] | undefined {
  const unit = data[0];
  const text = new TextDecoder('latin1').decode(data.subarray(1));
  const parts = text.split('\0');
  const x = Number(parts[0]);
  const y = Number(parts[1]);
  if (parts.length < 2 || !(x > 0) || !(y > 0) || !Number.isFinite(x) || !Number.isFinite(y)) {
    ctx.warn?.(`${ctx.name}: ignoring unreadable sCAL chunk; spacing 1 mm`);
    return undefined;
  }
  if (unit === 0) return [x, y];
  if (unit === 1) return [x * 1000, y * 1000];
  ctx.warn?.(`${ctx.name}: sCAL unit ${unit} is not a length; spacing 1 mm`);
  return undefined;
}

/** Expands packed 1/2/4-bit samples (MSB first, rows byte-aligned) to one byte per sample. */
function unpackLowBitDepth(packed: ArrayLike<number>, width: number, height: number, depth: number): Uint8Array {
  const out = new Uint8Array(width * height);
  const rowBytes = Math.ceil((width * depth) / 8);
  const perByte = 8 / depth;
  const mask = (1 << depth) - 1;
  for (let y = 0; y < height; y++) {
    const row = y * rowBytes;
    const o = y * width;
    for (let x = 0; x < width; x++) {
      const byte = packed[row + Math.floor(x / perByte)];
      const shift = 8 - depth * ((x % perByte) + 1);
      out[o + x] = (byte >> shift) & mask;
    }
  }
  return out;
}

/** True when every pixel's first three interleaved channels are equal. */
function channelsAreGrey(data: ArrayLike<number>, channels: number, n: number): boolean {
  for (let p = 0, i = 0; p < n; p++, i += channels) {
    const r = data[i];
    if (data[i + 1] !== r || data[i + 2] !== r) return false;
  }
  return true;
}

/** Copies channel `first`..`first+count-1` of each pixel into a new array of the same type. */
function selectChannels(data: Uint8Array | Uint16Array, channels: number, first: number, count: number, n: number): Uint8Array | Uint16Array {
  const out = data instanceof Uint16Array ? new Uint16Array(n * count) : new Uint8Array(n * count);
  for (let p = 0; p < n; p++) {
    const src = p * channels + first;
    const dst = p * count;
    for (let c = 0; c < count; c++) out[dst + c] = data[src + c];
  }
  return out;
}

function decodePixels(pixels: Uint8Array | Uint16Array, png: ChunkScan, ctx: ReadContext): { data: Uint8Array | Uint16Array; components: number } {
  const { width, height, depth } = png;
  const channels = CHANNELS[png.colorType];
  const n = width * height;
  let raw = pixels;

  if (png.colorType === 3) {
    const idx = depth < 8 ? unpackLowBitDepth(raw, width, height, depth) : (raw as Uint8Array);
    const palette = png.palette!;
    let maxIndex = 0;
    for (let i = 0; i < n; i++) if (idx[i] > maxIndex) maxIndex = idx[i];
    if (maxIndex >= palette.length) throw new CoregError(ctx.name, `PNG palette index ${maxIndex} is outside the ${palette.length}-entry palette`);
    const used = new Uint8Array(256);
    for (let i = 0; i < n; i++) used[idx[i]] = 1;
    let grey = true;
    for (let k = 0; k < palette.length && grey; k++) {
      if (used[k] && (palette[k][0] !== palette[k][1] || palette[k][0] !== palette[k][2])) grey = false;
    }
    if (palette.some((entry) => entry.length > 3 && entry[3] !== 255)) ctx.warn?.(`${ctx.name}: PNG transparency dropped`);
    const components = grey ? 1 : 3;
    const lut = new Uint8Array(256 * 3);
    for (let k = 0; k < palette.length; k++) for (let c = 0; c < 3; c++) lut[k * 3 + c] = palette[k][c];
    const out = new Uint8Array(n * components);
    if (grey) for (let i = 0; i < n; i++) out[i] = lut[idx[i] * 3];
    else for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) out[i * 3 + c] = lut[idx[i] * 3 + c];
    return { data: out, components };
  }

  if (depth < 8) {
    // libpng's expand_gray_1_2_4_to_8 (what ITK uses): replicate the bits, i.e. scale to 0..255.
    const unpacked = unpackLowBitDepth(raw, width, height, depth);
    const scale = 255 / ((1 << depth) - 1);
    for (let i = 0; i < n; i++) unpacked[i] = unpacked[i] * scale;
    raw = unpacked;
  }
  if (png.transparency) ctx.warn?.(`${ctx.name}: PNG transparency dropped`);

  switch (channels) {
    case 1:
      return { data: raw, components: 1 };
    case 2:
      ctx.warn?.(`${ctx.name}: PNG alpha channel dropped`);
      return { data: selectChannels(raw, 2, 0, 1, n), components: 1 };
    case 3:
      return channelsAreGrey(raw, 3, n) ? { data: selectChannels(raw, 3, 0, 1, n), components: 1 } : { data: raw, components: 3 };
    case 4: {
      ctx.warn?.(`${ctx.name}: PNG alpha channel dropped`);
      const grey = channelsAreGrey(raw, 4, n);
      return { data: selectChannels(raw, 4, 0, grey ? 1 : 3, n), components: grey ? 1 : 3 };
    }
    default:
      throw new CoregError(ctx.name, `unsupported PNG with ${channels} channels`);
  }
}

/** Decodes a PNG file's bytes into a 2D image (uint8 or uint16; 1 or 3 components). */
export function readPng(bytes: Uint8Array, ctx: ReadContext): Image {
  const scan = scanChunks(bytes, ctx);
  // The size IHDR declares bounds everything: refuse absurd images, and inflate no more than the scanlines
  // it declares before the codec runs (a small file must not decompress into gigabytes).
  const pixelBytes = scan.width * scan.height * (CHANNELS[scan.colorType] ?? 4) * Math.max(1, scan.depth / 8);
  if (pixelBytes > MAX_DECODED_BYTES) throw new CoregError(ctx.name, `too large: ${scan.width}x${scan.height} PNG of ${pixelBytes} bytes exceeds the limit of ${MAX_DECODED_BYTES} bytes`);
  const declared = declaredScanlineBytes(scan);
  let compressed = 0;
  for (const c of scan.idat) compressed += c.length;
  const joined = new Uint8Array(compressed);
  for (let i = 0, at = 0; i < scan.idat.length; at += scan.idat[i].length, i++) joined.set(scan.idat[i], at);
  let inflated: Uint8Array;
  try {
    inflated = inflateZlibBounded(joined, declared, `its ${scan.width}x${scan.height} header declares`);
  } catch (e) {
    const message = (e as Error).message;
    throw /^too large/.test(message) ? new CoregError(ctx.name, message) : corrupt(ctx, message);
  }
  if (inflated.length !== declared) throw new CoregError(ctx.name, `size mismatch: the image data holds ${inflated.length} bytes, its header declares ${declared}`);
  if (scan.interlaced && scan.depth < 8) throw new CoregError(ctx.name, `interlaced PNG with bit depth ${scan.depth} is not supported`);
  const { data, components } = decodePixels(unfilterImage(inflated, scan, ctx), scan, ctx);
  const img: Image = {
    dimension: 2,
    size: [scan.width, scan.height],
    spacing: scan.scal ? scan.scal.slice() : [1, 1],
    origin: [0, 0],
    direction: Array.from(identity(2)),
    components,
    data,
  };
  validateImage(img);
  return img;
}

export interface PngWriteOptions {
  /** Output bit depth; default 16 for uint16 images (and 16/32-bit integers), else 8. */
  bitDepth?: 8 | 16;
  /** [low, high] mapped linearly onto 0..max (clamped). Default: unchanged for uint8/uint16, else finite min..max. */
  window?: [number, number];
  /** Names the file in error messages. */
  fileName?: string;
}

function defaultBitDepth(img: Image): 8 | 16 {
  const t = pixelTypeOf(img.data);
  return t === 'uint16' || t === 'int16' || t === 'uint32' || t === 'int32' ? 16 : 8;
}

/** Linear window/level of data onto 0..top, clamped; NaN → 0. */
function windowPixels(data: PixelArray, low: number, high: number, top: number, out: Uint8Array | Uint16Array): void {
  const scale = high > low ? top / (high - low) : 0;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    let s = (v - low) * scale;
    if (!(s > 0)) s = 0;
    else if (s > top) s = top;
    // A constant image (high ≤ low) maps values above the level to white.
    if (scale === 0 && v > low) s = top;
    out[i] = Math.round(s);
  }
}

/**
 * Encodes a 2D image as PNG: grey (1 component) or RGB (3 components, uint8/uint16 only). uint8 and uint16
 * are stored unchanged unless a window is given; other types are window/levelled to the output bit depth.
 * Spacing ≠ 1 is written as an sCAL chunk (unit byte 0, mm, as ITK does); origin and direction are not stored.
 */
export function writePng(img: Image, opts: PngWriteOptions = {}): Uint8Array {
  const name = opts.fileName ?? 'PNG';
  if (img.dimension !== 2) throw new CoregError(name, `PNG holds 2D images only; this image is ${img.size.join('x')}`);
  const type = pixelTypeOf(img.data);
  const [width, height] = img.size;
  const depth = opts.bitDepth ?? defaultBitDepth(img);
  const unchanged = !opts.window && ((type === 'uint8' && depth === 8) || (type === 'uint16' && depth === 16));
  const rgb = img.components === 3 && unchanged;
  if (img.components !== 1 && !rgb) {
    throw new CoregError(name, `PNG holds scalar (or uint8/uint16 RGB) images only; this image has ${img.components} components of ${type}`);
  }
  let data: Uint8Array | Uint16Array;
  if (unchanged) {
    data = img.data as Uint8Array | Uint16Array;
  } else {
    data = depth === 16 ? new Uint16Array(img.data.length) : new Uint8Array(img.data.length);
    let window = opts.window;
    if (!window) {
      const r = finiteRange(img.data);
      window = r ? [r.min, r.max] : [0, 0];
    }
    if (!Number.isFinite(window[0]) || !Number.isFinite(window[1]) || window[1] < window[0]) {
      throw new CoregError(name, `PNG window must be two finite numbers low ≤ high, got [${window}]`);
    }
    windowPixels(img.data, window[0], window[1], depth === 16 ? 65535 : 255, data);
  }
  const encoded = encode({ width, height, data, depth, channels: rgb ? 3 : 1 });
  const [sx, sy] = img.spacing;
  return sx === 1 && sy === 1 ? encoded : insertScal(encoded, sx, sy);
}

/** Inserts an sCAL chunk right after IHDR (it must precede IDAT). */
function insertScal(png: Uint8Array, sx: number, sy: number): Uint8Array {
  const text = new TextEncoder().encode(`${String(sx)}\0${String(sy)}`);
  const length = 1 + text.length;
  const chunk = new Uint8Array(12 + length);
  const view = new DataView(chunk.buffer);
  view.setUint32(0, length);
  chunk.set([0x73, 0x43, 0x41, 0x4c], 4); // "sCAL"
  chunk[8] = 0; // unit byte 0 + mm values, as ITK writes and reads
  chunk.set(text, 9);
  view.setUint32(8 + length, crc32(chunk, 4, 8 + length));
  const ihdrEnd = SIGNATURE.length + 8 + 13 + 4;
  const out = new Uint8Array(png.length + chunk.length);
  out.set(png.subarray(0, ihdrEnd), 0);
  out.set(chunk, ihdrEnd);
  out.set(png.subarray(ihdrEnd), ihdrEnd + chunk.length);
  return out;
}
