import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';
import { decode, encode } from 'fast-png';
import type { ImageData } from 'fast-png';
import { CoregError } from '../../src/errors.js';
import { createImage, finiteRange, pixelTypeOf } from '../../src/image/image.js';
import { readPng, writePng } from '../../src/io/png.js';
import { SKIP_NO_DATA, dataPath } from '../helpers.js';

const ITK_PNGS: [string, number, number, number, number][] = [
  // name, width, height, min, max (README inventory)
  ['BrainProtonDensitySlice.png', 181, 217, 0, 251],
  ['BrainProtonDensitySliceBSplined10.png', 221, 257, 0, 245],
  ['BrainProtonDensitySliceBorder20.png', 221, 257, 1, 249],
  ['BrainProtonDensitySliceBorder20Mask.png', 221, 257, 0, 255],
  ['BrainProtonDensitySliceR10X13Y17.png', 221, 257, 1, 241],
  ['BrainProtonDensitySliceR10X13Y17S12.png', 221, 257, 0, 241],
  ['BrainProtonDensitySliceRotated10.png', 221, 257, 0, 244],
  ['BrainProtonDensitySliceShifted13x17y.png', 221, 257, 1, 249],
  ['BrainT1Slice.png', 181, 217, 0, 214],
  ['BrainT1SliceBorder20.png', 221, 257, 1, 210],
];

function readItk(name: string, warnings: string[] = []) {
  return readPng(new Uint8Array(readFileSync(dataPath(`itk/${name}`))), { name, warn: (m) => warnings.push(m) });
}

function png(data: ImageData, warnings: string[] = []) {
  return readPng(encode(data), { name: 'synthetic.png', warn: (m) => warnings.push(m) });
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Byte offset of the first chunk of `type` (its length field). */
function findChunk(bytes: Uint8Array, type: string): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let at = 8; at < bytes.length; at += 12 + view.getUint32(at)) {
    if (String.fromCharCode(...bytes.subarray(at + 4, at + 8)) === type) return at;
  }
  return -1;
}

test('every ITK example PNG: size, spacing 1 despite pHYs, one grey component, documented range', { skip: SKIP_NO_DATA }, () => {
  for (const [name, w, h, min, max] of ITK_PNGS) {
    const img = readItk(name);
    assert.deepEqual(img.size, [w, h], name);
    assert.deepEqual(img.spacing, [1, 1], name);
    assert.deepEqual(img.origin, [0, 0], name);
    assert.deepEqual(img.direction, [1, 0, 0, 1], name);
    assert.equal(img.components, 1, name);
    assert.equal(pixelTypeOf(img.data), 'uint8', name);
    assert.deepEqual(finiteRange(img.data), { min, max }, name);
  }
});

test('grey-ramp palette PNG reads the palette index as the grey value', () => {
  const bytes = readFileSync(dataPath('itk/BrainProtonDensitySliceShifted13x17y.png'));
  const raw = decode(bytes);
  assert.ok(raw.palette, 'the file is a palette PNG');
  const img = readItk('BrainProtonDensitySliceShifted13x17y.png');
  assert.deepEqual(Array.from(img.data), Array.from(raw.data));
  // The same pixels as the MetaImage/NRRD copy's raw data (x fastest, row by row; the DirectionPlus30 .raw holds
  // the same bytes as BrainProtonDensitySliceShifted13x17y.raw).
  const rawFile = readFileSync(dataPath('itk/BrainProtonDensitySliceShifted13x17yDirectionPlus30.raw'));
  assert.deepEqual(Buffer.from(img.data), rawFile);
});

test('BrainT1Slice.png (RGB with R=G=B) reads as one grey component', () => {
  const raw = decode(readFileSync(dataPath('itk/BrainT1Slice.png')));
  assert.equal(raw.channels, 3);
  const img = readItk('BrainT1Slice.png');
  assert.equal(img.components, 1);
  for (let i = 0; i < img.data.length; i += 97) assert.equal(img.data[i], raw.data[i * 3]);
});

test('BSplined10 sCAL (unit byte 0, mm) gives spacing (1, 1)', () => {
  const bytes = new Uint8Array(readFileSync(dataPath('itk/BrainProtonDensitySliceBSplined10.png')));
  assert.ok(findChunk(bytes, 'sCAL') > 0);
  assert.deepEqual(readItk('BrainProtonDensitySliceBSplined10.png').spacing, [1, 1]);
});

test('1-bit mask reads as 0/255', () => {
  const img = readItk('BrainProtonDensitySliceBorder20Mask.png');
  const values = new Set(img.data);
  assert.deepEqual([...values].sort((a, b) => a - b), [0, 255]);
});

test('one corrupted IDAT byte is reported as a bad CRC', () => {
  const bytes = new Uint8Array(readFileSync(dataPath('itk/BrainProtonDensitySliceShifted13x17y.png')));
  const at = findChunk(bytes, 'IDAT');
  bytes[at + 8 + 10] ^= 0x40;
  assert.throws(() => readPng(bytes, { name: 'broken.png' }), (e: unknown) => e instanceof CoregError && e.subject === 'broken.png' && e.message === 'bad CRC in PNG chunk IDAT');
});

test('truncated and non-PNG input fail with CoregError', () => {
  const good = writePng(createImage([4, 3], 'uint8'));
  assert.throws(() => readPng(good.subarray(0, good.length - 6), { name: 't.png' }), /truncated PNG/);
  assert.throws(() => readPng(new TextEncoder().encode('not a png at all'), { name: 'x.png' }), /not a PNG file/);
});

test('synthetic 8-bit and 16-bit grey round trip unchanged', () => {
  const a = createImage([5, 3], 'uint8');
  a.data.forEach((_, i) => (a.data[i] = i * 17));
  const ra = readPng(writePng(a), { name: 'a.png' });
  assert.equal(pixelTypeOf(ra.data), 'uint8');
  assert.deepEqual(Array.from(ra.data), Array.from(a.data));

  const b = createImage([3, 4], 'uint16');
  b.data.forEach((_, i) => (b.data[i] = i * 5000 + 7));
  const rb = readPng(writePng(b), { name: 'b.png' });
  assert.equal(pixelTypeOf(rb.data), 'uint16');
  assert.deepEqual(Array.from(rb.data), Array.from(b.data));
  assert.deepEqual(rb.size, [3, 4]);
});

test('2-bit grey with odd width scales to 0..255 like libpng', () => {
  // 5 pixels per row of 2 bits: 0,1,2,3,0 → packed into 2 bytes per row.
  const row = [0b00011011, 0b00000000];
  const img = png({ width: 5, height: 2, depth: 2, channels: 1, data: new Uint8Array([...row, ...row]) });
  assert.deepEqual(Array.from(img.data), [0, 85, 170, 255, 0, 0, 85, 170, 255, 0]);
});

test('grey+alpha drops alpha with one warning', () => {
  const warnings: string[] = [];
  const img = png({ width: 2, height: 2, channels: 2, depth: 8, data: new Uint8Array([10, 255, 20, 0, 30, 128, 40, 1]) }, warnings);
  assert.equal(img.components, 1);
  assert.deepEqual(Array.from(img.data), [10, 20, 30, 40]);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /alpha/);
});

test('palettes: grey entries give their grey value, colour entries give RGB', () => {
  const grey = png({ width: 3, height: 1, depth: 8, channels: 1, data: new Uint8Array([0, 1, 1]), palette: [[10, 10, 10], [200, 200, 200], [1, 2, 3]] });
  assert.equal(grey.components, 1, 'the unused colour entry does not matter');
  assert.deepEqual(Array.from(grey.data), [10, 200, 200]);

  const colour = png({ width: 2, height: 1, depth: 8, channels: 1, data: new Uint8Array([1, 0]), palette: [[255, 0, 0], [0, 128, 255]] });
  assert.equal(colour.components, 3);
  assert.deepEqual(Array.from(colour.data), [0, 128, 255, 255, 0, 0]);
});

test('RGB: colour keeps 3 components, R=G=B becomes grey; RGBA drops alpha', () => {
  const rgb = png({ width: 2, height: 1, depth: 8, channels: 3, data: new Uint8Array([1, 2, 3, 4, 5, 6]) });
  assert.equal(rgb.components, 3);
  assert.deepEqual(Array.from(rgb.data), [1, 2, 3, 4, 5, 6]);
  const grey = png({ width: 2, height: 1, depth: 8, channels: 3, data: new Uint8Array([7, 7, 7, 9, 9, 9]) });
  assert.equal(grey.components, 1);
  assert.deepEqual(Array.from(grey.data), [7, 9]);
  const warnings: string[] = [];
  const rgba = png({ width: 1, height: 2, depth: 16, channels: 4, data: new Uint16Array([1000, 2000, 3000, 65535, 5, 6, 7, 0]) }, warnings);
  assert.equal(pixelTypeOf(rgba.data), 'uint16');
  assert.equal(rgba.components, 3);
  assert.deepEqual(Array.from(rgba.data), [1000, 2000, 3000, 5, 6, 7]);
  assert.equal(warnings.length, 1);
  const greyA = png({ width: 1, height: 1, depth: 8, channels: 4, data: new Uint8Array([50, 50, 50, 3]) });
  assert.equal(greyA.components, 1);
  assert.deepEqual(Array.from(greyA.data), [50]);
});

test('uint8 RGB images are written as RGB and read back', () => {
  const img = createImage([2, 2], 'uint8', { components: 3 });
  img.data.set([255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 8, 7]);
  const back = readPng(writePng(img), { name: 'rgb.png' });
  assert.equal(back.components, 3);
  assert.deepEqual(Array.from(back.data), Array.from(img.data));
});

test('sCAL round trip with spacing 0.5 x 0.7; unit 1 (metres) is converted to mm', () => {
  const img = createImage([4, 2], 'uint8', { spacing: [0.5, 0.7] });
  const bytes = writePng(img);
  const at = findChunk(bytes, 'sCAL');
  assert.ok(at > 0 && at < findChunk(bytes, 'IDAT'), 'sCAL precedes IDAT');
  assert.equal(bytes[at + 8], 0, 'unit byte 0 as ITK writes');
  assert.deepEqual(readPng(bytes, { name: 's.png' }).spacing, [0.5, 0.7]);
  assert.equal(findChunk(writePng(createImage([4, 2], 'uint8')), 'sCAL'), -1, 'no sCAL at spacing 1');

  const metres = bytes.slice();
  const len = new DataView(metres.buffer).getUint32(at);
  metres[at + 8] = 1;
  new DataView(metres.buffer).setUint32(at + 8 + len, crc32(metres.subarray(at + 4, at + 8 + len)));
  const m = readPng(metres, { name: 'm.png' }).spacing;
  assert.ok(Math.abs(m[0] - 500) < 1e-9 && Math.abs(m[1] - 700) < 1e-9, `got ${m}`);
});

test('window/level writing: floats scaled to 0..255 and clamped; default window is the finite range', () => {
  const img = createImage([6, 1], 'float32');
  img.data.set([-1, 0, 0.5, 1, 2, NaN]);
  const windowed = readPng(writePng(img, { window: [0, 1] }), { name: 'w.png' });
  assert.equal(pixelTypeOf(windowed.data), 'uint8');
  assert.deepEqual(Array.from(windowed.data), [0, 0, 128, 255, 255, 0]);
  const auto = readPng(writePng(img), { name: 'a.png' });
  assert.deepEqual(Array.from(auto.data), [0, 85, 128, 170, 255, 0]);

  const ct = createImage([3, 1], 'int16');
  ct.data.set([-1000, 0, 1000]);
  const ct16 = readPng(writePng(ct), { name: 'ct.png' });
  assert.equal(pixelTypeOf(ct16.data), 'uint16');
  assert.deepEqual(Array.from(ct16.data), [0, 32768, 65535]);

  const u8 = createImage([3, 1], 'uint8');
  u8.data.set([0, 100, 200]);
  assert.deepEqual(Array.from(readPng(writePng(u8, { window: [100, 200] }), { name: 'u.png' }).data), [0, 0, 255]);
});

test('writePng refuses 3D and non-RGB vector images', () => {
  assert.throws(() => writePng(createImage([2, 2, 2], 'uint8'), { fileName: 'v.png' }), (e: unknown) => e instanceof CoregError && e.subject === 'v.png' && /2D/.test(e.message));
  assert.throws(() => writePng(createImage([2, 2], 'float32', { components: 2 })), /scalar/);
});

// ---- the scanline decoder (readPng's own; fast-png only writes) ----------------------------------------------

/** A PNG chunk: length, type, data, CRC. */
function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/**
 * An independent PNG writer for the tests: `rows(x0, y0, dx, dy)` gives a pass's packed scanlines; every row gets
 * filter type (row + pass) % 5 (or `filterOf`), the data is deflated by Node's zlib and split over two IDAT chunks.
 */
function writeFilteredPng(
  width: number,
  height: number,
  colorType: number,
  depth: number,
  samples: number[],
  opts: { interlace?: boolean; palette?: number[][]; trns?: number[]; filterOf?: (row: number, pass: number) => number } = {},
): Uint8Array {
  const channels = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[colorType]!;
  const bpp = Math.max(1, (channels * depth) >> 3);
  const passes = opts.interlace ? [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]] : [[0, 0, 1, 1]];
  const scan: number[] = [];
  passes.forEach(([x0, y0, dx, dy], pass) => {
    const w = Math.ceil((width - x0) / dx);
    const h = Math.ceil((height - y0) / dy);
    if (w <= 0 || h <= 0) return;
    const rowBytes = Math.ceil((w * channels * depth) / 8);
    let prev = new Array<number>(rowBytes).fill(0);
    for (let y = 0; y < h; y++) {
      // pack the row's samples (MSB first; 16-bit big-endian)
      const row = new Array<number>(rowBytes).fill(0);
      let bit = 0;
      for (let x = 0; x < w; x++) {
        for (let c = 0; c < channels; c++) {
          const v = samples[((y0 + y * dy) * width + x0 + x * dx) * channels + c];
          if (depth === 16) {
            row[bit >> 3] = v >> 8;
            row[(bit >> 3) + 1] = v & 0xff;
          } else row[bit >> 3] |= v << (8 - depth - (bit & 7));
          bit += depth;
        }
      }
      const f = opts.filterOf ? opts.filterOf(y, pass) : (y + pass) % 5;
      scan.push(f);
      for (let i = 0; i < rowBytes; i++) {
        const a = i >= bpp ? row[i - bpp] : 0;
        const b = prev[i];
        const c = i >= bpp ? prev[i - bpp] : 0;
        const p = a + b - c;
        const paeth = Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c) ? a : Math.abs(p - b) <= Math.abs(p - c) ? b : c;
        const predicted = [0, a, b, (a + b) >> 1, paeth][f] ?? 0;
        scan.push((row[i] - predicted) & 0xff);
      }
      prev = row;
    }
  });
  const ihdr = new Uint8Array(13);
  new DataView(ihdr.buffer).setUint32(0, width);
  new DataView(ihdr.buffer).setUint32(4, height);
  ihdr.set([depth, colorType, 0, 0, opts.interlace ? 1 : 0], 8);
  const z = new Uint8Array(deflateSync(new Uint8Array(scan)));
  const half = z.length >> 1;
  const parts = [new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr)];
  if (opts.palette) parts.push(chunk('PLTE', new Uint8Array(opts.palette.flat())));
  if (opts.trns) parts.push(chunk('tRNS', new Uint8Array(opts.trns)));
  parts.push(chunk('IDAT', z.subarray(0, half)), chunk('IDAT', z.subarray(half)), chunk('IEND', new Uint8Array(0)));
  return Buffer.concat(parts);
}

/** The same samples as fast-png's encoder takes them (sub-byte depths packed per row). */
function fastPngData(width: number, height: number, channels: number, depth: number, samples: number[]): Uint8Array | Uint16Array {
  if (depth === 16) return new Uint16Array(samples);
  if (depth === 8) return new Uint8Array(samples);
  const rowBytes = Math.ceil((width * depth) / 8);
  const out = new Uint8Array(rowBytes * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) out[y * rowBytes + ((x * depth) >> 3)] |= samples[y * width + x] << (8 - depth - ((x * depth) & 7));
  return out;
}

test('scanline filters 0–4 and Adam7 interlacing, every colour type and bit depth: the pixels fast-png writes and decodes', () => {
  let seed = 12345;
  const random = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) % n;
  const cases: [number, number][] = [[0, 1], [0, 2], [0, 4], [0, 8], [0, 16], [2, 8], [2, 16], [3, 1], [3, 2], [3, 4], [3, 8], [4, 8], [4, 16], [6, 8], [6, 16]];
  for (const [width, height] of [[13, 11], [1, 1], [9, 3], [3, 17]]) {
    for (const [colorType, depth] of cases) {
      const channels = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[colorType]!;
      const entries = Math.min(1 << depth, 7);
      const palette = colorType === 3 ? Array.from({ length: entries }, (_, k) => [k * 30, 255 - k * 20, (k * 77) & 0xff]) : undefined;
      const top = colorType === 3 ? entries : 1 << depth;
      const samples = Array.from({ length: width * height * channels }, () => random(top));
      const expected = readPng(encode({ width, height, depth: depth as 8, channels, data: fastPngData(width, height, channels, depth, samples), ...(palette ? { palette: palette as [number, number, number][] } : {}) }), { name: 'ref.png' });
      for (const interlace of depth >= 8 ? [false, true] : [false]) {
        const what = `${width}x${height} colour type ${colorType} depth ${depth}${interlace ? ' Adam7' : ''}`;
        const bytes = writeFilteredPng(width, height, colorType, depth, samples, { interlace, palette });
        // the test's writer is right: fast-png's decoder reads the samples back
        assert.deepEqual(Array.from(decode(bytes).data), Array.from(decode(encode({ width, height, depth: depth as 8, channels, data: fastPngData(width, height, channels, depth, samples), ...(palette ? { palette: palette as [number, number, number][] } : {}) })).data), what);
        const img = readPng(bytes, { name: 'f.png' });
        assert.deepEqual(img.size, [width, height], what);
        assert.equal(img.components, expected.components, what);
        assert.equal(pixelTypeOf(img.data), pixelTypeOf(expected.data), what);
        assert.deepEqual(Array.from(img.data), Array.from(expected.data), what);
      }
    }
  }
});

test('a palette tRNS warns; a bad filter byte, bit depth, method or a missing PLTE is a corrupt PNG', () => {
  const warnings: string[] = [];
  const pal = readPng(writeFilteredPng(2, 1, 3, 8, [0, 1], { palette: [[5, 5, 5], [9, 9, 9]], trns: [255, 0] }), { name: 't.png', warn: (m) => warnings.push(m) });
  assert.deepEqual(Array.from(pal.data), [5, 9]);
  assert.deepEqual(warnings, ['t.png: PNG transparency dropped']);
  const bad = (bytes: Uint8Array, re: RegExp) => assert.throws(() => readPng(bytes, { name: 'c.png' }), (e: unknown) => e instanceof CoregError && e.subject === 'c.png' && re.test(e.message));
  bad(writeFilteredPng(3, 2, 0, 8, [1, 2, 3, 4, 5, 6], { filterOf: (y) => (y === 1 ? 7 : 0) }), /^corrupt PNG \(unknown scanline filter type 7\)$/);
  bad(writeFilteredPng(3, 2, 2, 4, new Array(18).fill(1)), /^corrupt PNG \(bit depth 4 is not allowed for colour type 2\)$/);
  bad(writeFilteredPng(2, 1, 3, 8, [0, 1]), /^corrupt PNG \(palette image without a PLTE chunk\)$/);
  const methods = writeFilteredPng(2, 1, 0, 8, [0, 1]);
  methods[8 + 8 + 11] = 1; // filter method 1
  const view = new DataView(methods.buffer, methods.byteOffset);
  view.setUint32(8 + 8 + 13, crc32(methods.subarray(8 + 4, 8 + 8 + 13)));
  bad(methods, /^corrupt PNG \(unknown filter method 1\)$/);
});
