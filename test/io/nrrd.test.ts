import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { readNrrd, writeNrrd } from '../../src/io/nrrd.js';
import { CoregError } from '../../src/errors.js';
import { PIXEL_TYPES, allocatePixels, pixelTypeOf, type Image, type PixelType } from '../../src/image/image.js';
import type { EncodedFile, ReadContext } from '../../src/io/format.js';
import { assertArrayClose } from '../helpers.js';

const enc = new TextEncoder();

/** A small image with rotated, anisotropic geometry and pixel values that exercise the whole type range. */
function sampleImage(type: PixelType, d: 2 | 3, components: number): Image {
  const size = d === 2 ? [5, 4] : [4, 3, 2];
  const ca = Math.cos(0.3), sa = Math.sin(0.3), cb = Math.cos(-0.2), sb = Math.sin(-0.2);
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

function nrrd(header: string, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const h = enc.encode(header);
  const out = new Uint8Array(h.length + data.length);
  out.set(h);
  out.set(data, h.length);
  return out;
}

test('NRRD round trip: every pixel type × 2D/3D × scalar/vector × .nrrd raw/gzip, .nhdr raw/gzip', () => {
  for (const type of PIXEL_TYPES) {
    for (const d of [2, 3] as const) {
      for (const components of [1, 3]) {
        const img = sampleImage(type, d, components);
        for (const [fileName, gzip, dataName] of [
          ['x.nrrd', false, undefined],
          ['x.nrrd', true, undefined],
          ['out/x.nhdr', false, 'x.raw'],
          ['out/x.nhdr', true, 'x.raw.gz'],
        ] as const) {
          const files = writeNrrd(img, { fileName, gzip });
          assert.deepEqual(files.map((f) => f.name), dataName ? ['', dataName] : ['']);
          const { main, ctx } = folder(files, fileName);
          const back = readNrrd(main, ctx);
          assert.deepEqual(back.size, img.size);
          assert.equal(back.components, components);
          assertArrayClose(back.spacing, img.spacing, 1e-14, 'spacing');
          assertArrayClose(back.origin, img.origin, 0, 'origin');
          assertArrayClose(back.direction, img.direction, 1e-15, 'direction');
          assert.equal(pixelTypeOf(back.data), type);
          assert.deepEqual(Array.from(back.data), Array.from(img.data));
        }
      }
    }
  }
});

test('NRRD writer: ITK-style header (space dimension 2 in 2D, LPS in 3D, vector axis first)', () => {
  const text = (img: Image, fileName = 'a.nhdr') => new TextDecoder().decode(writeNrrd(img, { fileName })[0].bytes);
  const h2 = text(sampleImage('uint8', 2, 1));
  assert.match(h2, /^NRRD0004\n/);
  assert.match(h2, /\ntype: unsigned char\n/);
  assert.match(h2, /\nspace dimension: 2\n/);
  assert.doesNotMatch(h2, /endian/);
  assert.match(h2, /\ndata file: a.raw\n$/);
  const img3 = sampleImage('float32', 3, 2);
  img3.direction = [1, 0, 0, 0, 1, 0, 0, 0, 1];
  const h3 = text(img3);
  assert.match(h3, /\nspace: left-posterior-superior\n/);
  assert.match(h3, /\nsizes: 2 4 3 2\n/);
  assert.match(h3, /\nspace directions: none \(0.7,0,0\) \(0,1.3,0\) \(0,0,2.1\)\n/);
  assert.match(h3, /\nkinds: vector domain domain domain\n/);
  assert.match(h3, /\nendian: little\n/);
  assert.match(h3, /\nspace origin: \(-12.5,3.141592653589793,100.123456789\)\n/);
  assert.throws(() => writeNrrd(img3, { fileName: 'a.mha' }), CoregError);
});

test('NRRD type spellings, ascii / hex / gz encodings', () => {
  const spellings: Record<string, PixelType> = {
    uchar: 'uint8', 'unsigned char': 'uint8', uint8: 'uint8', uint8_t: 'uint8', 'signed char': 'int8', int8_t: 'int8',
    short: 'int16', 'short int': 'int16', 'signed short int': 'int16', int16_t: 'int16', ushort: 'uint16', 'unsigned short': 'uint16', uint16: 'uint16',
    int: 'int32', 'signed int': 'int32', int32: 'int32', uint: 'uint32', 'unsigned int': 'uint32', uint32_t: 'uint32', float: 'float32', double: 'float64',
  };
  for (const [spelling, type] of Object.entries(spellings)) {
    const img = readNrrd(nrrd(`NRRD0004\ntype: ${spelling}\ndimension: 2\nsizes: 2 1\nencoding: ascii\n\n7\n-1\n`), { name: 't.nrrd' });
    assert.equal(pixelTypeOf(img.data), type, spelling);
    assert.equal(img.data[0], 7);
  }
  const hex = readNrrd(nrrd('NRRD0005\ntype: ushort\ndimension: 2\nsizes: 2 1\nendian: big\nencoding: hex\n\n01 02\nfffe\n'), { name: 'h.nrrd' });
  assert.deepEqual(Array.from(hex.data), [0x0102, 0xfffe]);
  const gz = readNrrd(nrrd('NRRD0004\ntype: uint8\ndimension: 2\nsizes: 2 2\nencoding: gz\nbyte skip: 1\n\n', gzipSync(new Uint8Array([9, 1, 2, 3, 4]))), { name: 'g.nrrd' });
  assert.deepEqual(Array.from(gz.data), [1, 2, 3, 4]);
});

test('big-endian NRRD data with line skip and byte skip -1', () => {
  const dv = new DataView(new ArrayBuffer(12));
  [1.5, -2.25, 1e30].forEach((v, i) => dv.setFloat32(i * 4, v, false));
  const junk = enc.encode('junk line\nmore junk\n');
  const file = new Uint8Array(junk.length + 3 + 12);
  file.set(junk);
  file.set(new Uint8Array(dv.buffer), junk.length + 3);
  const files: Record<string, Uint8Array> = { 'd.bin': file };
  const header = 'NRRD0004\ntype: float\ndimension: 2\nsizes: 3 1\nendian: big\nencoding: raw\nline skip: 1\nbyte skip: -1\ndatafile: d.bin\n';
  const img = readNrrd(nrrd(header), { name: 'd.nhdr', readSibling: (r) => files[r] });
  assert.deepEqual(Array.from(img.data), [1.5, -2.25, Math.fround(1e30)]);
  const dv16 = new DataView(new ArrayBuffer(4));
  dv16.setInt16(0, -300, false);
  dv16.setInt16(2, 12345, false);
  const s = readNrrd(nrrd('NRRD0004\ntype: short\ndimension: 2\nsizes: 2 1\nendian: big\nencoding: raw\n\n', new Uint8Array(dv16.buffer)), { name: 's.nrrd' });
  assert.deepEqual(Array.from(s.data), [-300, 12345]);
});

test('RAS and LAS NRRD geometry converts to LPS', () => {
  const header = (space: string) =>
    `NRRD0004\ntype: uint8\ndimension: 3\nspace: ${space}\nsizes: 2 1 1\nspace directions: (0,-1.5,0) (2,0,0) (0,0,3)\nkinds: domain domain domain\nencoding: raw\nspace origin: (10,20,30)\n\n`;
  const ras = readNrrd(nrrd(header('right-anterior-superior'), new Uint8Array([5, 6])), { name: 'ras.nrrd' });
  assert.deepEqual(ras.origin, [-10, -20, 30]);
  assert.deepEqual(ras.spacing, [1.5, 2, 3]);
  // column 0 = axis 0 in LPS = (0, 1.5, 0)/1.5; column 1 = (-2, 0, 0)/2.
  assert.deepEqual(ras.direction.map((v) => v + 0), [0, -1, 0, 1, 0, 0, 0, 0, 1]);
  assert.deepEqual(Array.from(ras.data), [5, 6]);
  const rasShort = readNrrd(nrrd(header('RAS'), new Uint8Array([5, 6])), { name: 'ras.nrrd' });
  assert.deepEqual(rasShort.origin, [-10, -20, 30]);
  const las = readNrrd(nrrd(header('left-anterior-superior'), new Uint8Array([5, 6])), { name: 'las.nrrd' });
  assert.deepEqual(las.origin, [10, -20, 30]);
  const lps = readNrrd(nrrd(header('LPS'), new Uint8Array([5, 6])), { name: 'lps.nrrd' });
  assert.deepEqual(lps.origin, [10, 20, 30]);
  const warnings: string[] = [];
  readNrrd(nrrd(header('scanner-xyz'), new Uint8Array([5, 6])), { name: 'sc.nrrd', warn: (m) => warnings.push(m) });
  assert.equal(warnings.length, 1);
});

test('NRRD non-spatial axes: vector first, list last, RGB-color with old-style spacings, time of size 1', () => {
  const first = readNrrd(
    nrrd('NRRD0004\ntype: uint8\ndimension: 3\nspace dimension: 2\nsizes: 2 2 1\nspace directions: none (1,0) (0,2)\nkinds: covariant-vector domain domain\nencoding: raw\n\n', new Uint8Array([1, 2, 3, 4])),
    { name: 'v.nrrd' },
  );
  assert.equal(first.components, 2);
  assert.deepEqual(first.size, [2, 1]);
  assert.deepEqual(first.spacing, [1, 2]);
  assert.deepEqual(Array.from(first.data), [1, 2, 3, 4]);
  // Component axis last (planar): pixels (0,1) of component 0, then of component 1 → interleaved.
  const last = readNrrd(
    nrrd('NRRD0004\ntype: uint8\ndimension: 3\nspace: LPS\nsizes: 2 1 2\nspace directions: (1,0,0) (0,1,0) none\nkinds: domain domain list\nencoding: raw\n\n', new Uint8Array([1, 2, 10, 20])),
    { name: 'l.nrrd' },
  );
  assert.equal(last.dimension, 2);
  assert.equal(last.components, 2);
  assert.deepEqual(Array.from(last.data), [1, 10, 2, 20]);
  const rgb = readNrrd(nrrd('NRRD0001\ntype: uchar\ndimension: 3\nsizes: 3 1 1\nspacings: nan 0.5 4\nkinds: RGB-color domain domain\nencoding: raw\n\n', new Uint8Array([7, 8, 9])), { name: 'c.nrrd' });
  assert.deepEqual(rgb.spacing, [0.5, 4]);
  assert.equal(rgb.components, 3);
  const timed = readNrrd(
    nrrd('NRRD0004\ntype: uint8\ndimension: 4\nspace: left-posterior-superior-time\nsizes: 1 1 2 1\nspace directions: (1,0,0,0) (0,1,0,0) (0,0,2,0) (0,0,0,1)\nencoding: raw\nspace origin: (1,2,3,0)\n\n', new Uint8Array([3, 4])),
    { name: 't.nrrd' },
  );
  assert.deepEqual(timed.size, [1, 1, 2]);
  assert.deepEqual(timed.origin, [1, 2, 3]);
  // space directions without a space field: the vectors' length says the space is 2D.
  const bare = readNrrd(nrrd('NRRD0004\ntype: uint8\ndimension: 2\nsizes: 1 2\nspace directions: (0,3) (2,0)\nencoding: raw\n\n', new Uint8Array([3, 4])), { name: 'b.nrrd' });
  assert.deepEqual(bare.spacing, [3, 2]);
  assert.deepEqual(bare.direction, [0, 1, 1, 0]);
});

test('2D NRRD in 3D space: flat → 2D image, tilted → one-slice volume', () => {
  const head = (dirs: string, origin: string) => `NRRD0004\ntype: uint8\ndimension: 2\nspace: LPS\nsizes: 2 1\nspace directions: ${dirs}\nencoding: raw\nspace origin: ${origin}\n\n`;
  const flat = readNrrd(nrrd(head('(2,0,0) (0,3,0)', '(1,1,0)'), new Uint8Array([1, 2])), { name: 'f.nrrd' });
  assert.equal(flat.dimension, 2);
  assert.deepEqual(flat.spacing, [2, 3]);
  const tilted = readNrrd(nrrd(head('(2,0,0) (0,0,3)', '(1,1,5)'), new Uint8Array([1, 2])), { name: 't.nrrd' });
  assert.equal(tilted.dimension, 3);
  assert.deepEqual(tilted.size, [2, 1, 1]);
  assert.deepEqual(tilted.direction.map((v) => v + 0), [1, 0, 0, 0, 0, -1, 0, 1, 0]);
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

test('NRRD bad input gives one-line CoregErrors naming the file', () => {
  const px = new Uint8Array([1, 2, 3, 4]);
  const base = { type: 'uint8', dimension: '2', sizes: '2 2', encoding: 'raw' } as Record<string, string>;
  const make = (fields: Record<string, string | undefined>, data: Uint8Array = px, ctx: Partial<ReadContext> = {}) => () => {
    const all = { ...base, ...fields };
    const lines = Object.entries(all).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}: ${v}`);
    return readNrrd(nrrd(`NRRD0004\n${lines.join('\n')}\n\n`, data), { name: 'bad.nrrd', ...ctx });
  };
  assert.deepEqual(Array.from(make({})().data), [1, 2, 3, 4]);
  assertCoregError(() => readNrrd(new Uint8Array(0), { name: 'bad.nrrd' }), 'bad.nrrd', /empty file/);
  assertCoregError(() => readNrrd(enc.encode('NRRX0004\ntype: uint8\n'), { name: 'bad.nrrd' }), 'bad.nrrd', /not a NRRD file/);
  assertCoregError(make({ type: undefined }), 'bad.nrrd', /no "type" field/);
  assertCoregError(make({ sizes: undefined }), 'bad.nrrd', /no "sizes" field/);
  assertCoregError(make({ encoding: undefined }), 'bad.nrrd', /no "encoding" field/);
  assertCoregError(make({ dimension: '0' }), 'bad.nrrd', /"dimension" must be 1 integer ≥ 1/);
  assertCoregError(make({ sizes: '2 0' }), 'bad.nrrd', /"sizes" must be 2 integers ≥ 1/);
  assertCoregError(make({ sizes: '2 two' }), 'bad.nrrd', /"sizes"/);
  assertCoregError(make({ dimension: '3', sizes: '100000 100000 1000' }), 'bad.nrrd', /exceeds the limit of 2147483647/);
  assertCoregError(make({ dimension: '1', sizes: '4' }), 'bad.nrrd', /1 spatial axes; only 2D and 3D/);
  assertCoregError(make({ type: 'int64' }), 'bad.nrrd', /"int64" is not supported/);
  assertCoregError(make({ type: 'quaternion' }), 'bad.nrrd', /unknown NRRD type/);
  assertCoregError(make({ type: 'short' }), 'bad.nrrd', /no "endian" field/);
  assertCoregError(make({ encoding: 'bzip2' }), 'bad.nrrd', /bzip2/);
  assertCoregError(make({ encoding: 'zstd' }), 'bad.nrrd', /unknown NRRD encoding/);
  assertCoregError(make({ space: 'up-down-sideways' }), 'bad.nrrd', /unknown NRRD space/);
  assertCoregError(make({ 'space dimension': '2', 'space directions': '(1,0) (0,0)' }), 'bad.nrrd', /zero length/);
  assertCoregError(make({ 'space dimension': '2', 'space directions': '(1,0) (0,nan)' }), 'bad.nrrd', /finite numbers/);
  assertCoregError(make({ 'space dimension': '2', 'space directions': '(1,0)' }), 'bad.nrrd', /must list 2 entries/);
  assertCoregError(make({ spacings: '1 0' }), 'bad.nrrd', /spacing must be finite and > 0/);
  assertCoregError(make({ spacings: '1 nan' }), 'bad.nrrd', /spacing must be finite and > 0/);
  assertCoregError(make({}, px.subarray(0, 3)), 'bad.nrrd', /3 bytes but the header promises 4/);
  assertCoregError(make({ encoding: 'gzip' }, new Uint8Array([0x1f, 0x8b, 8, 0, 1, 2, 3])), 'bad.nrrd', /corrupt gzip/);
  assertCoregError(make({ encoding: 'gzip' }, gzipSync(px.subarray(0, 2))), 'bad.nrrd', /2 bytes but the header promises 4/);
  assertCoregError(make({ 'data file': 'gone.raw' }, undefined, { readSibling: (r) => { throw new Error(`ENOENT: ${r}`); } }), 'bad.nrrd', /cannot read its data file "gone.raw"/);
  assertCoregError(make({ 'data file': 'LIST' }), 'bad.nrrd', /LIST/);
  assertCoregError(make({ 'data file': 'slice%03d.raw 0 9 1' }), 'bad.nrrd', /pattern/);
  assertCoregError(make({ dimension: '3', sizes: '2 2 2', kinds: 'list domain list' }, new Uint8Array(8)), 'bad.nrrd', /non-spatial axes/);
  assertCoregError(() => readNrrd(enc.encode('NRRD0004\ntype: uint8\ndimension: 2\nsizes: 2 2\nencoding: raw\n'), { name: 'bad.nrrd' }), 'bad.nrrd', /no attached pixel data/);
  assertCoregError(() => readNrrd(enc.encode('NRRD0004\ntype uint8\n'), { name: 'bad.nrrd' }), 'bad.nrrd', /malformed NRRD header line/);
  assertCoregError(
    () => readNrrd(nrrd('NRRD0004\ntype: uint8\ndimension: 4\nspace: LPST\nsizes: 1 1 1 2\nspace directions: (1,0,0,0) (0,1,0,0) (0,0,1,0) (0,0,0,1)\nencoding: raw\n\n', new Uint8Array(2)), { name: 'bad.nrrd' }),
    'bad.nrrd',
    /time series/,
  );
});
