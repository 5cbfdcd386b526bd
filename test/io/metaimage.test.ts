import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { readMetaImage, writeMetaImage } from '../../src/io/metaimage.js';
import { readNrrd } from '../../src/io/nrrd.js';
import { CoregError } from '../../src/errors.js';
import { PIXEL_TYPES, allocatePixels, pixelTypeOf, type Image, type PixelType } from '../../src/image/image.js';
import type { EncodedFile, ReadContext } from '../../src/io/format.js';
import { FIXTURES, SHARED_DATA, SKIP_NO_DATA, sharedPath, assertArrayClose } from '../helpers.js';

const enc = new TextEncoder();

/** A small image with rotated, anisotropic geometry and pixel values that exercise the whole type range. */
function sampleImage(type: PixelType, d: 2 | 3, components: number): Image {
  const size = d === 2 ? [5, 4] : [4, 3, 2];
  const ca = Math.cos(0.3), sa = Math.sin(0.3), cb = Math.cos(-0.2), sb = Math.sin(-0.2);
  // 3D: Rz(0.3)·Rx(-0.2); 2D: a plain rotation by 0.3 rad.
  const direction = d === 2 ? [ca, -sa, sa, ca] : [ca, -sa * cb, sa * sb, sa, ca * cb, -ca * sb, 0, sb, cb];
  const spacing = d === 2 ? [0.7, 1.3] : [0.7, 1.3, 2.1];
  const origin = d === 2 ? [-12.5, Math.PI] : [-12.5, Math.PI, 100.123456789];
  const n = size.reduce((a, b) => a * b, 1) * components;
  const data = allocatePixels(type, n);
  for (let i = 0; i < n; i++) data[i] = type.startsWith('float') ? (i - 10) / 3 : (i * 2654435761) % 4294967296;
  return { dimension: d, size, spacing, origin, direction, components, data };
}

function folder(files: EncodedFile[], mainName: string): { main: Uint8Array; ctx: ReadContext } {
  const byName = new Map(files.map((f) => [f.name, f.bytes]));
  const readSibling = (rel: string): Uint8Array => {
    const b = byName.get(rel);
    if (!b) throw new Error(`ENOENT: no such file "${rel}"`);
    return b;
  };
  return { main: byName.get('')!, ctx: { name: mainName, readSibling } };
}

function assertSameImage(actual: Image, expected: Image): void {
  assert.equal(actual.dimension, expected.dimension);
  assert.deepEqual(actual.size, expected.size);
  assert.deepEqual(actual.spacing, expected.spacing);
  assert.deepEqual(actual.origin, expected.origin);
  assert.deepEqual(actual.direction, expected.direction);
  assert.equal(actual.components, expected.components);
  assert.equal(pixelTypeOf(actual.data), pixelTypeOf(expected.data));
  assert.deepEqual(Array.from(actual.data), Array.from(expected.data));
}

test('MetaImage round trip: every pixel type × 2D/3D × scalar/vector × .mha / .mhd raw / .mhd zraw', () => {
  for (const type of PIXEL_TYPES) {
    for (const d of [2, 3] as const) {
      for (const components of [1, 3]) {
        const img = sampleImage(type, d, components);
        for (const [fileName, compress, dataName] of [
          ['x.mha', false, undefined],
          ['x.mha', true, undefined],
          ['dir/x.mhd', false, 'x.raw'],
          ['dir/x.mhd', true, 'x.zraw'],
        ] as const) {
          const files = writeMetaImage(img, { fileName, compress });
          assert.deepEqual(files.map((f) => f.name), dataName ? ['', dataName] : ['']);
          const { main, ctx } = folder(files, fileName);
          assertSameImage(readMetaImage(main, ctx), img);
        }
      }
    }
  }
});

test('MetaImage writer: ITK field order, column-by-column TransformMatrix, RAI for identity', () => {
  const img = sampleImage('int16', 3, 2);
  img.direction = [1, 0, 0, 0, 1, 0, 0, 0, 1];
  const header = new TextDecoder().decode(writeMetaImage(img, { fileName: 'a.mhd', compress: true })[0].bytes);
  const keys = header.trim().split('\n').map((l) => l.split(' = ')[0]);
  assert.deepEqual(keys, [
    'ObjectType', 'NDims', 'BinaryData', 'BinaryDataByteOrderMSB', 'CompressedData', 'CompressedDataSize', 'TransformMatrix', 'Offset',
    'CenterOfRotation', 'AnatomicalOrientation', 'ElementSpacing', 'DimSize', 'ElementNumberOfChannels', 'ElementType', 'ElementDataFile',
  ]);
  assert.match(header, /AnatomicalOrientation = RAI\n/);
  assert.match(header, /ElementSpacing = 0.7 1.3 2.1\n/);
  assert.match(header, /ElementDataFile = a.zraw\n$/);
  const rot = sampleImage('uint8', 2, 1);
  rot.direction = [0, -1, 1, 0]; // axis 0 along +y, axis 1 along -x
  const text = new TextDecoder().decode(writeMetaImage(rot, { fileName: 'b.mha' })[0].bytes);
  assert.match(text, /TransformMatrix = 0 1 -1 0\n/);
  assert.throws(() => writeMetaImage(rot, { fileName: 'b.nii' }), (e: unknown) => e instanceof CoregError && e.subject === 'b.nii');
});

/** Geometry of every MetaImage / NRRD header in ../shared/data/itk, as documented in its README. */
const IDENTITY2 = [1, 0, 0, 1];
const PLUS30 = [0.8660254, -0.5, 0.5, 0.8660254]; // axis 0 = (0.866, 0.5)
const MINUS30 = [0.8660254, 0.5, -0.5, 0.8660254]; // axis 0 = (0.866, -0.5)
const SLICE = { size: [221, 257], spacing: [1, 1], origin: [0, 0] };
const EXPECTED: Record<string, { size: number[]; spacing: number[]; origin: number[]; direction: number[]; range: [number, number] }> = {
  'BrainProtonDensity3Slices.mha': { size: [181, 217, 3], spacing: [1, 1, 1], origin: [0, 0, 0], direction: [1, 0, 0, 0, 1, 0, 0, 0, 1], range: [0, 250] },
  'RatLungSlice1.mha': { size: [128, 128], spacing: [1, 1], origin: [0, 0], direction: IDENTITY2, range: [0, 255] },
  'RatLungSlice2.mha': { size: [128, 128], spacing: [1, 1], origin: [0, 0], direction: IDENTITY2, range: [0, 255] },
  'BrainProtonDensitySliceBorder20.mhd': { ...SLICE, direction: IDENTITY2, range: [1, 249] },
  'BrainProtonDensitySliceBorder20DirectionMinus30.mhd': { ...SLICE, direction: MINUS30, range: [1, 249] },
  'BrainProtonDensitySliceBorder20DirectionPlus30.mhd': { ...SLICE, direction: PLUS30, range: [1, 249] },
  'BrainProtonDensitySliceShifted13x17y.mhd': { ...SLICE, direction: IDENTITY2, range: [1, 249] },
  'BrainProtonDensitySliceShifted13x17yDirectionMinus30.mhd': { ...SLICE, direction: MINUS30, range: [1, 249] },
  'BrainProtonDensitySliceShifted13x17yDirectionPlus30.mhd': { ...SLICE, direction: PLUS30, range: [1, 249] },
  'BrainT1SliceBorder20DirectionMinus30.mhd': { ...SLICE, direction: MINUS30, range: [1, 210] },
  'BrainT1SliceBorder20DirectionPlus30.mhd': { ...SLICE, direction: PLUS30, range: [1, 210] },
  'BrainProtonDensitySliceBorder20.nhdr': { ...SLICE, direction: IDENTITY2, range: [1, 249] },
  'BrainProtonDensitySliceBorder20DirectionPlus30.nhdr': { ...SLICE, direction: PLUS30, range: [1, 249] },
  'BrainProtonDensitySliceShifted13x17y.nhdr': { ...SLICE, direction: IDENTITY2, range: [1, 249] },
  'BrainProtonDensitySliceShifted13x17yDirectionPlus30.nhdr': { ...SLICE, direction: PLUS30, range: [1, 249] },
  'BrainT1SliceBorder20DirectionPlus30.nhdr': { ...SLICE, direction: PLUS30, range: [1, 210] },
};

function readShared(file: string, dir = sharedPath('itk')): Image {
  const ctx: ReadContext = { name: file, readSibling: (rel) => readFileSync(join(dir, rel)) };
  const bytes = readFileSync(join(dir, file));
  return file.endsWith('.nhdr') ? readNrrd(bytes, ctx) : readMetaImage(bytes, ctx);
}

for (const [where, dir] of [
  ['../shared/data/itk', SHARED_DATA && join(SHARED_DATA, 'itk')],
  ['test/fixtures/itk', join(FIXTURES, 'itk')],
] as const) {
test(`every .mha/.mhd/.nhdr in ${where} reads with its documented geometry`, { skip: dir ? false : '../shared/data is absent' }, () => {
  const files = readdirSync(dir!).filter((f) => /\.(mha|mhd|nhdr)$/.test(f));
  if (where.startsWith('../shared')) assert.equal(files.length, Object.keys(EXPECTED).length);
  else assert.ok(files.length >= 3);
  for (const file of files) {
    const exp = EXPECTED[file];
    assert.ok(exp, `no expectation for ${file}`);
    const img = readShared(file, dir!);
    assert.deepEqual(img.size, exp.size, file);
    assertArrayClose(img.spacing, exp.spacing, 1e-6, `${file} spacing`);
    assertArrayClose(img.origin, exp.origin, 1e-9, `${file} origin`);
    assertArrayClose(img.direction, exp.direction, 1e-6, `${file} direction`);
    assert.equal(img.components, 1);
    assert.equal(pixelTypeOf(img.data), 'uint8');
    let min = Infinity, max = -Infinity;
    for (const v of img.data) {
      if (v < min) min = v;
      if (v > max) max = v;
    }
    assert.deepEqual([min, max], exp.range, `${file} range`);
  }
  // DirectionPlus30: image axis 0 points along (0.866, 0.5) in physical space.
  const plus = readShared('BrainProtonDensitySliceBorder20DirectionPlus30.mhd', dir!);
  assertArrayClose([plus.direction[0], plus.direction[2]], [0.866, 0.5], 1e-3, 'axis 0');
});
}

test('committed copies: the .zraw MetaImage and the raw NRRD of the same ITK image agree pixel for pixel', () => {
  const dir = join(FIXTURES, 'itk');
  const a = readShared('BrainProtonDensitySliceShifted13x17yDirectionPlus30.mhd', dir);
  const b = readShared('BrainProtonDensitySliceShifted13x17yDirectionPlus30.nhdr', dir);
  assert.ok(Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength).equals(Buffer.from(b.data.buffer, b.data.byteOffset, b.data.byteLength)));
  assertArrayClose(a.direction, b.direction, 1e-6, 'direction');
});

test('.zraw and .raw variants, and .mhd vs .nhdr of the same image, agree pixel for pixel', { skip: SKIP_NO_DATA }, () => {
  const pairs = [
    ['BrainProtonDensitySliceBorder20.mhd', 'BrainProtonDensitySliceBorder20DirectionPlus30.mhd'], // raw vs zraw
    ['BrainProtonDensitySliceShifted13x17y.mhd', 'BrainProtonDensitySliceShifted13x17yDirectionPlus30.mhd'],
    ['BrainT1SliceBorder20DirectionPlus30.nhdr', 'BrainT1SliceBorder20DirectionPlus30.mhd'],
    ['BrainProtonDensitySliceBorder20.mhd', 'BrainProtonDensitySliceBorder20.nhdr'],
    ['BrainProtonDensitySliceShifted13x17y.mhd', 'BrainProtonDensitySliceShifted13x17y.nhdr'],
    ['BrainProtonDensitySliceShifted13x17yDirectionPlus30.mhd', 'BrainProtonDensitySliceShifted13x17yDirectionPlus30.nhdr'],
  ];
  for (const [a, b] of pairs) {
    const ia = readShared(a);
    const ib = readShared(b);
    assert.ok(Buffer.from(ia.data.buffer, ia.data.byteOffset, ia.data.byteLength).equals(Buffer.from(ib.data.buffer, ib.data.byteOffset, ib.data.byteLength)), `${a} vs ${b}`);
  }
});

function mha(header: string, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const h = enc.encode(header);
  const out = new Uint8Array(h.length + data.length);
  out.set(h);
  out.set(data, h.length);
  return out;
}

test('big-endian MetaImage data (BinaryDataByteOrderMSB and ElementByteOrderMSB)', () => {
  const be = new DataView(new ArrayBuffer(8));
  [-2, 300, 32767, -32768].forEach((v, i) => be.setInt16(i * 2, v, false));
  const img = readMetaImage(mha('NDims = 2\nDimSize = 2 2\nElementType = MET_SHORT\nBinaryDataByteOrderMSB = True\nElementDataFile = LOCAL\n', new Uint8Array(be.buffer)), { name: 'be.mha' });
  assert.deepEqual(Array.from(img.data), [-2, 300, 32767, -32768]);
  const bd = new DataView(new ArrayBuffer(16));
  bd.setFloat64(0, Math.PI, false);
  bd.setFloat64(8, -1e-300, false);
  const img2 = readMetaImage(mha('NDims=2\nDimSize=2 1\nElementType=MET_DOUBLE\nElementByteOrderMSB=True\nElementDataFile=LOCAL\r\n', new Uint8Array(bd.buffer)), { name: 'be2.mha' });
  assert.deepEqual(Array.from(img2.data), [Math.PI, -1e-300]);
});

test('MetaImage key variants: ElementSize, Origin/Position, Rotation, HeaderSize, ASCII data, LIST, channels', () => {
  const a = readMetaImage(mha('ObjectType = Image\nNDims = 2\nDimSize = 2 1\nElementSize = 0.5 2\nPosition = 3 4\nRotation = 0 1 -1 0\nElementType = MET_FLOAT\nBinaryData = False\nElementDataFile = LOCAL\n1.5 -2e3\n'), { name: 'a.mha' });
  assert.deepEqual(a.spacing, [0.5, 2]);
  assert.deepEqual(a.origin, [3, 4]);
  assert.deepEqual(a.direction, [0, -1, 1, 0]);
  assert.deepEqual(Array.from(a.data), [1.5, -2000]);

  const raw = new Uint8Array([9, 9, 9, 1, 2, 3, 4]);
  const sib = { name: 'h.mhd', readSibling: () => raw };
  const tail = readMetaImage(mha('NDims = 2\nDimSize = 2 2\nOrigin = 1 2\nElementType = MET_UCHAR\nHeaderSize = -1\nElementDataFile = d.raw\n'), sib);
  assert.deepEqual(Array.from(tail.data), [1, 2, 3, 4]);
  assert.deepEqual(tail.origin, [1, 2]);
  const skip = readMetaImage(mha('NDims = 2\nDimSize = 2 1\nElementType = MET_UCHAR\nHeaderSize = 3\nElementDataFile = d.raw\n'), sib);
  assert.deepEqual(Array.from(skip.data), [1, 2]);

  const slices: Record<string, Uint8Array> = { 's0.raw': new Uint8Array([1, 2]), 's1.raw': new Uint8Array([3, 4]) };
  const list = readMetaImage(mha('NDims = 3\nDimSize = 2 1 2\nElementType = MET_UCHAR\nElementDataFile = LIST 2D\ns0.raw\ns1.raw\n'), { name: 'l.mhd', readSibling: (r) => slices[r] });
  assert.deepEqual(Array.from(list.data), [1, 2, 3, 4]);

  const rgb = readMetaImage(mha('NDims = 2\nDimSize = 1 2\nElementNumberOfChannels = 3\nElementType = MET_UCHAR_ARRAY\nElementDataFile = LOCAL\n', new Uint8Array([1, 2, 3, 4, 5, 6])), { name: 'c.mha' });
  assert.equal(rgb.components, 3);
  assert.deepEqual(Array.from(rgb.data), [1, 2, 3, 4, 5, 6]);
});

function assertCoregError(fn: () => unknown, subject: string, message: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof CoregError, `expected CoregError, got ${String(e)}`);
    assert.equal(e.subject, subject);
    assert.match(e.message, message);
    assert.ok(!e.message.includes('\n'), 'one-line message');
    return true;
  });
}

test('MetaImage bad input gives one-line CoregErrors naming the file', () => {
  const ok = 'NDims = 2\nDimSize = 2 2\nElementType = MET_UCHAR\n';
  const px = new Uint8Array([1, 2, 3, 4]);
  const read = (text: string, data?: Uint8Array, ctx: Partial<ReadContext> = {}) => () => readMetaImage(mha(text, data), { name: 'bad.mha', ...ctx });
  assertCoregError(read(''), 'bad.mha', /empty file/);
  assertCoregError(() => readMetaImage(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 10, 3]), { name: 'bad.mha' }), 'bad.mha', /not a MetaImage header/);
  assertCoregError(read('DimSize = 2 2\nElementType = MET_UCHAR\nElementDataFile = LOCAL\n', px), 'bad.mha', /no NDims/);
  assertCoregError(read('NDims = 4\nDimSize = 2 2 1 1\nElementType = MET_UCHAR\nElementDataFile = LOCAL\n', px), 'bad.mha', /NDims = 4: only 2D and 3D/);
  assertCoregError(read('NDims = 2\nElementType = MET_UCHAR\nElementDataFile = LOCAL\n', px), 'bad.mha', /no DimSize/);
  assertCoregError(read('NDims = 2\nDimSize = 2 x\nElementType = MET_UCHAR\nElementDataFile = LOCAL\n', px), 'bad.mha', /DimSize must hold 2 integers/);
  assertCoregError(read('NDims = 2\nDimSize = 0 2\nElementType = MET_UCHAR\nElementDataFile = LOCAL\n', px), 'bad.mha', /DimSize must be positive/);
  assertCoregError(read('NDims = 3\nDimSize = 100000 100000 1000\nElementType = MET_UCHAR\nElementDataFile = LOCAL\n', px), 'bad.mha', /exceeds the limit of 2147483647/);
  assertCoregError(read(`${ok}ElementSpacing = 1 0\nElementDataFile = LOCAL\n`, px), 'bad.mha', /ElementSpacing must be finite and > 0/);
  assertCoregError(read(`${ok}ElementSpacing = 1 nan\nElementDataFile = LOCAL\n`, px), 'bad.mha', /ElementSpacing/);
  assertCoregError(read(`${ok}TransformMatrix = 1 0 1 0\nElementDataFile = LOCAL\n`, px), 'bad.mha', /invertible/);
  assertCoregError(read('NDims = 2\nDimSize = 2 2\nElementType = MET_LONG_LONG\nElementDataFile = LOCAL\n', px), 'bad.mha', /ElementType MET_LONG_LONG is not supported/);
  assertCoregError(read('NDims = 2\nDimSize = 2 2\nElementDataFile = LOCAL\n', px), 'bad.mha', /no ElementType/);
  assertCoregError(read(ok), 'bad.mha', /no ElementDataFile/);
  assertCoregError(read('ObjectType = Transform\nNDims = 2\nDimSize = 2 2\nElementType = MET_UCHAR\nElementDataFile = LOCAL\n', px), 'bad.mha', /not Image/);
  assertCoregError(read(`${ok}ElementDataFile = LOCAL\n`, px.subarray(0, 3)), 'bad.mha', /3 bytes but the header promises 4/);
  assertCoregError(read(`${ok}ElementDataFile = gone.raw\n`, undefined, { readSibling: (r) => { throw new Error(`ENOENT: ${r}`); } }), 'bad.mha', /cannot read its data file "gone.raw"/);
  assertCoregError(read(`${ok}ElementDataFile = gone.raw\n`), 'bad.mha', /separate file "gone.raw"/);
  assertCoregError(read(`${ok}CompressedData = True\nElementDataFile = LOCAL\n`, new Uint8Array([0x78, 0x9c, 1, 2, 3, 4, 5])), 'bad.mha', /corrupt compressed/);
  const z = deflateSync(Buffer.from(px));
  assertCoregError(read(`${ok}CompressedData = True\nCompressedDataSize = ${z.length + 5}\nElementDataFile = LOCAL\n`, z), 'bad.mha', /promises/);
  assertCoregError(read('NDims = 2\nDimSize = 2 4\nElementType = MET_UCHAR\nCompressedData = True\nElementDataFile = LOCAL\n', z), 'bad.mha', /holds 4 bytes but the header promises 8/);
  const zraw = readMetaImage(mha(`${ok}CompressedData = True\nCompressedDataSize = ${z.length}\nElementDataFile = LOCAL\n`, z), { name: 'z.mha' });
  assert.deepEqual(Array.from(zraw.data), [1, 2, 3, 4]);
});
