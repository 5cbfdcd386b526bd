import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { readNifti, writeNifti } from '../../src/io/nifti.js';
import { gzip } from '../../src/io/compression.js';
import { CoregError } from '../../src/errors.js';
import { type Image, type PixelType, PIXEL_TYPES, createImage, pixelTypeOf } from '../../src/image/image.js';
import { SKIP_NO_DATA, dataPath, sharedPath, assertArrayClose } from '../helpers.js';

// --- synthetic images and header surgery -----------------------------------------------------------

function rotation3(ax: number, az: number): number[] {
  const [ca, sa, cz, sz] = [Math.cos(ax), Math.sin(ax), Math.cos(az), Math.sin(az)];
  const rx = [1, 0, 0, 0, ca, -sa, 0, sa, ca];
  const rz = [cz, -sz, 0, sz, cz, 0, 0, 0, 1];
  const m = new Array<number>(9).fill(0);
  for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) for (let k = 0; k < 3; k++) m[r * 3 + c] += rz[r * 3 + k] * rx[k * 3 + c];
  return m;
}

/** A rotated, anisotropic image with a negative-determinant direction and distinct, type-appropriate values. */
function sampleImage(type: PixelType, dimension: 2 | 3, components: number): Image {
  let img: Image;
  if (dimension === 3) {
    const dir = rotation3(0.35, 0.52);
    for (let r = 0; r < 3; r++) dir[r * 3 + 1] = -dir[r * 3 + 1]; // flip one axis: det = −1
    img = createImage([5, 4, 3], type, { spacing: [0.7, 1.3, 2.5], origin: [12.5, -30.25, 7.125], direction: dir, components });
  } else {
    const t = 0.44;
    img = createImage([6, 5], type, { spacing: [0.8, 1.7], origin: [-5.5, 3.25], direction: [Math.cos(t), Math.sin(t), Math.sin(t), -Math.cos(t)], components });
  }
  const signed = type === 'int8' || type === 'int16' || type === 'int32' || type.startsWith('float');
  const big = type === 'uint8' || type === 'int8' ? 100 : type === 'uint16' || type === 'int16' ? 30000 : 2_000_000_000;
  for (let i = 0; i < img.data.length; i++) {
    let v = ((i * 7919) % 201) / 200; // 0..1, varied
    if (signed) v = 2 * v - 1;
    img.data[i] = type.startsWith('float') ? v * 1234.5678 : Math.round(v * big);
  }
  return img;
}

function le(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function collect(): { warnings: string[]; warn: (m: string) => void } {
  const warnings: string[] = [];
  return { warnings, warn: (m: string) => warnings.push(m) };
}

function assertGeometry(a: Image, b: Image, tol: number, what: string): void {
  assert.equal(a.dimension, b.dimension, `${what} dimension`);
  assert.deepEqual(a.size, b.size, `${what} size`);
  assert.equal(a.components, b.components, `${what} components`);
  assertArrayClose(a.spacing, b.spacing, tol, `${what} spacing`);
  assertArrayClose(a.origin, b.origin, tol * 100, `${what} origin`);
  assertArrayClose(a.direction, b.direction, tol, `${what} direction`);
}

/** Raises CoregError with subject `name` and a message matching `re`. */
function assertReadError(bytes: Uint8Array, re: RegExp): void {
  assert.throws(
    () => readNifti(bytes, { name: 'bad.nii' }),
    (e: unknown) => e instanceof CoregError && e.subject === 'bad.nii' && re.test(e.message) && !e.message.includes('\n'),
  );
}

/** A hand-built NIfTI-1 single file (any endianness) for cases the writer never produces. */
function buildV1(o: {
  littleEndian: boolean;
  dim: number[];
  datatype: number;
  bitpix: number;
  pixdim: number[];
  qformCode?: number;
  sformCode?: number;
  quatern?: number[];
  qoffset?: number[];
  srow?: number[];
  data: Uint8Array;
}): Uint8Array {
  const out = new Uint8Array(352 + o.data.length);
  const v = le(out);
  const e = o.littleEndian;
  v.setInt32(0, 348, e);
  for (let i = 0; i < 8; i++) v.setInt16(40 + 2 * i, o.dim[i] ?? 1, e);
  v.setInt16(70, o.datatype, e);
  v.setInt16(72, o.bitpix, e);
  for (let i = 0; i < 8; i++) v.setFloat32(76 + 4 * i, o.pixdim[i] ?? 1, e);
  v.setFloat32(108, 352, e);
  v.setInt16(252, o.qformCode ?? 0, e);
  v.setInt16(254, o.sformCode ?? 0, e);
  (o.quatern ?? [0, 0, 0]).forEach((x, i) => v.setFloat32(256 + 4 * i, x, e));
  (o.qoffset ?? [0, 0, 0]).forEach((x, i) => v.setFloat32(268 + 4 * i, x, e));
  (o.srow ?? new Array<number>(12).fill(0)).forEach((x, i) => v.setFloat32(280 + 4 * i, x, e));
  out.set([0x6e, 0x2b, 0x31, 0], 344);
  out.set(o.data, 352);
  return out;
}

// --- round trips -----------------------------------------------------------------------------------

test('round trip: every pixel type × 2D/3D × scalar/vector × .nii/.nii.gz × NIfTI-1/2', () => {
  for (const type of PIXEL_TYPES) {
    for (const dimension of [2, 3] as const) {
      for (const components of [1, 3]) {
        const img = sampleImage(type, dimension, components);
        for (const gz of [false, true]) {
          for (const version of [1, 2] as const) {
            const what = `${type} ${dimension}D c${components} gz=${gz} v${version}`;
            const bytes = writeNifti(img, { gzip: gz, version });
            assert.equal(bytes[0] === 0x1f && bytes[1] === 0x8b, gz, `${what} gzip magic`);
            const { warnings, warn } = collect();
            const back = readNifti(bytes, { name: 'rt.nii', warn });
            assert.deepEqual(warnings, [], `${what} warnings`);
            assert.equal(pixelTypeOf(back.data), type, `${what} pixel type`);
            assert.deepEqual(Array.from(back.data), Array.from(img.data), `${what} pixels`);
            assertGeometry(back, img, version === 1 ? 2e-6 : 1e-13, what);
          }
        }
      }
    }
  }
});

test('writer header: ITK-style codes, offsets, qfac, vector layout', () => {
  const img3 = sampleImage('float32', 3, 1);
  const v1 = le(writeNifti(img3));
  assert.equal(v1.getInt32(0, true), 348);
  assert.equal(v1.getFloat32(108, true), 352);
  assert.equal(v1.getInt16(252, true), 1, 'qform_code');
  assert.equal(v1.getInt16(254, true), 1, 'sform_code');
  assert.equal(v1.getFloat32(76, true), -1, 'qfac for a left-handed direction');
  assert.equal(v1.getUint8(123) & 7, 2, 'xyz units mm');
  assert.equal(new TextDecoder().decode(new Uint8Array(v1.buffer, 344, 4)), 'n+1\0');
  // srow_x is the negated first row of the LPS affine.
  const s = img3.spacing;
  for (let c = 0; c < 3; c++) assert.ok(Math.abs(v1.getFloat32(280 + 4 * c, true) + img3.direction[c] * s[c]) < 1e-6);
  assert.ok(Math.abs(v1.getFloat32(292, true) + img3.origin[0]) < 1e-5);

  const v2 = le(writeNifti(img3, { version: 2 }));
  assert.equal(v2.getInt32(0, true), 540);
  assert.equal(Number(v2.getBigInt64(168, true)), 544);
  assert.deepEqual(Array.from(new Uint8Array(v2.buffer, 4, 8)), [0x6e, 0x2b, 0x32, 0, 0x0d, 0x0a, 0x1a, 0x0a]);
  assert.equal(v2.getFloat64(400 + 24, true), -img3.origin[0], 'full double precision origin');

  const vec2 = sampleImage('int16', 2, 4);
  const h = le(writeNifti(vec2));
  const dim = Array.from({ length: 8 }, (_, i) => h.getInt16(40 + 2 * i, true));
  assert.deepEqual(dim, [5, 6, 5, 1, 1, 4, 1, 1]);
  assert.equal(h.getInt16(68, true), 1007, 'vector intent');
  // Planar on disk: the first plane holds component 0 of every pixel.
  const planar = new Int16Array(h.buffer.slice(352));
  for (let p = 0; p < 30; p++) for (let c = 0; c < 4; c++) assert.equal(planar[c * 30 + p], vec2.data[p * 4 + c]);

  const flat2 = le(writeNifti(sampleImage('uint8', 2, 1)));
  assert.equal(flat2.getInt16(40, true), 2, '2D scalar has dim[0] = 2');
});

test('plain, native-endian, aligned data is a view (no copy); unaligned input is still read right', () => {
  const img = sampleImage('float32', 3, 1);
  const bytes = writeNifti(img);
  const back = readNifti(bytes, { name: 'v.nii' });
  assert.equal(back.data.buffer, bytes.buffer);
  assert.equal(back.data.byteOffset, 352);
  const gzBack = readNifti(writeNifti(img, { gzip: true }), { name: 'v.nii.gz' });
  assert.equal(gzBack.data.byteOffset, 352, 'view of the decompressed buffer');

  const shifted = new Uint8Array(bytes.length + 1);
  shifted.set(bytes, 1);
  const odd = readNifti(shifted.subarray(1), { name: 'odd.nii' });
  assert.deepEqual(Array.from(odd.data), Array.from(img.data));
});

test('images too large for NIfTI-1 int16 dimensions are written as NIfTI-2', () => {
  const wide = createImage([40000, 1], 'uint8');
  wide.data[39999] = 9;
  const bytes = writeNifti(wide);
  assert.equal(le(bytes).getInt32(0, true), 540);
  const back = readNifti(bytes, { name: 'wide.nii' });
  assert.deepEqual(back.size, [40000, 1]);
  assert.equal(back.data[39999], 9);
  assert.throws(() => writeNifti(wide, { version: 1 }), RangeError);
});

test('a 3D file with one slice stays 3D; dim[0] = 2 is 2D', () => {
  const img = createImage([4, 3, 1], 'uint8');
  const back = readNifti(writeNifti(img), { name: 'slab.nii' });
  assert.equal(back.dimension, 3);
  assert.deepEqual(back.size, [4, 3, 1]);
  const flat = readNifti(writeNifti(createImage([4, 3], 'uint8')), { name: 'flat.nii' });
  assert.equal(flat.dimension, 2);
});

// --- hand-made headers -----------------------------------------------------------------------------

test('big-endian NIfTI-1 (int16 and float32) with an sform', () => {
  const values = [1, -2, 300, -32768, 32767, 7, 0, 12345];
  const data = new Uint8Array(values.length * 2);
  values.forEach((x, i) => le(data).setInt16(2 * i, x, false));
  const bytes = buildV1({
    littleEndian: false,
    dim: [3, 2, 2, 2],
    datatype: 4,
    bitpix: 16,
    pixdim: [1, 2, 3, 4],
    sformCode: 2,
    srow: [2, 0, 0, -10, 0, 3, 0, 20, 0, 0, 4, 30],
    data,
  });
  const img = readNifti(bytes, { name: 'be.nii' });
  assert.ok(img.data instanceof Int16Array);
  assert.deepEqual(Array.from(img.data), values);
  assert.deepEqual(img.spacing, [2, 3, 4]);
  assert.deepEqual(img.origin, [10, -20, 30]);
  assert.deepEqual(img.direction, [-1, 0, 0, 0, -1, 0, 0, 0, 1]);

  const f = [1.5, -2.25, 1e10, -0.125];
  const fdata = new Uint8Array(16);
  f.forEach((x, i) => le(fdata).setFloat32(4 * i, x, false));
  const fimg = readNifti(gzip(buildV1({ littleEndian: false, dim: [2, 2, 2], datatype: 16, bitpix: 32, pixdim: [1, 1, 1], data: fdata })), { name: 'be.nii.gz' });
  assert.deepEqual(Array.from(fimg.data), f);
  assert.equal(fimg.dimension, 2);
});

test('qform only: quaternion, qfac = −1 and qoffset give the documented LPS geometry', () => {
  const s = Math.SQRT1_2; // 90° about z
  const bytes = buildV1({
    littleEndian: true,
    dim: [3, 2, 2, 2],
    datatype: 2,
    bitpix: 8,
    pixdim: [-1, 2, 3, 4],
    qformCode: 1,
    quatern: [0, 0, s],
    qoffset: [10, 20, 30],
    data: new Uint8Array(8),
  });
  const img = readNifti(bytes, { name: 'q.nii' });
  // RAS affine columns: (0,2,0), (−3,0,0), (0,0,−4); LPS negates the x and y rows.
  assertArrayClose(img.spacing, [2, 3, 4], 1e-6);
  assertArrayClose(img.direction, [0, 1, 0, -1, 0, 0, 0, 0, -1], 1e-6);
  assertArrayClose(img.origin, [-10, -20, 30], 1e-6);
});

test('qform alone reproduces the written geometry for awkward rotations (180° turns, reflections)', () => {
  const dirs = [
    [-1, 0, 0, 0, 1, 0, 0, 0, -1],
    [1, 0, 0, 0, -1, 0, 0, 0, -1],
    [0, 1, 0, 1, 0, 0, 0, 0, 1],
    [0, 0, 1, 1, 0, 0, 0, 1, 0],
    [-1, 0, 0, 0, -1, 0, 0, 0, -1],
    rotation3(3.1, 2.9),
  ];
  for (const direction of dirs) {
    const img = createImage([2, 2, 2], 'uint8', { spacing: [1.5, 2, 0.5], origin: [3, -4, 5], direction });
    const bytes = writeNifti(img, { version: 2 });
    le(bytes).setInt32(348, 0, true); // sform_code = 0
    const back = readNifti(bytes, { name: 'q2.nii' });
    assertGeometry(back, img, 1e-12, `direction [${direction.map((x) => x.toFixed(3))}]`);
  }
});

test('no qform or sform: pixdim spacing, identity direction, origin 0', () => {
  const bytes = buildV1({ littleEndian: true, dim: [3, 2, 2, 2], datatype: 2, bitpix: 8, pixdim: [0, 1.5, 2.5, 3.5], data: new Uint8Array(8) });
  const img = readNifti(bytes, { name: 'plain.nii' });
  assert.deepEqual(img.spacing, [1.5, 2.5, 3.5]);
  assert.deepEqual(img.origin, [0, 0, 0]);
  assert.deepEqual(img.direction, [1, 0, 0, 0, 1, 0, 0, 0, 1]);
});

test('qform and sform disagreeing: one-line warning naming both, sform used', () => {
  const img = sampleImage('uint8', 3, 1);
  const bytes = writeNifti(img);
  const v = le(bytes);
  v.setFloat32(292, v.getFloat32(292, true) + 5, true); // srow_x[3]: sform origin x moves by −5 mm in LPS
  const { warnings, warn } = collect();
  const back = readNifti(bytes, { name: 'dis.nii', warn });
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /^dis\.nii: qform and sform disagree \(qform origin \(.*\), sform origin \(.*\)\); using sform$/);
  assert.ok(Math.abs(back.origin[0] - (img.origin[0] - 5)) < 1e-4);

  // A sheared sform cannot be an ITK direction: the qform wins, with a warning.
  const sheared = writeNifti(img);
  const w = le(sheared);
  w.setFloat32(284, w.getFloat32(284, true) + 0.5, true); // srow_x[1]
  const sh = collect();
  const back2 = readNifti(sheared, { name: 'shear.nii', warn: sh.warn });
  assert.equal(sh.warnings.length, 1);
  assert.match(sh.warnings[0], /sheared.*using qform/);
  assertGeometry(back2, img, 2e-6, 'sheared sform → qform');
});

test('scl_slope / scl_inter', () => {
  const img = sampleImage('uint8', 3, 1);
  const withScale = (src: Image, slope: number, inter: number): Image => {
    const bytes = writeNifti(src);
    le(bytes).setFloat32(112, slope, true);
    le(bytes).setFloat32(116, inter, true);
    return readNifti(bytes, { name: 's.nii' });
  };
  const scaled = withScale(img, 2.5, -1);
  assert.ok(scaled.data instanceof Float32Array);
  for (let i = 0; i < img.data.length; i++) assert.equal(scaled.data[i], Math.fround(img.data[i] * 2.5 - 1));
  assert.ok(withScale(img, 0, 5).data instanceof Uint8Array, 'slope 0 means unscaled');
  assert.ok(withScale(img, NaN, 5).data instanceof Uint8Array, 'NaN slope means unscaled');
  assert.ok(withScale(img, 1, 0).data instanceof Uint8Array, '(1, 0) means unscaled');
  const i32 = sampleImage('int32', 3, 1);
  const s32 = withScale(i32, 0.5, 3);
  assert.ok(s32.data instanceof Float64Array);
  for (let i = 0; i < i32.data.length; i++) assert.equal(s32.data[i], Math.fround(0.5) * i32.data[i] + 3);
  const f64 = withScale(sampleImage('float64', 3, 1), 2, 0);
  assert.ok(f64.data instanceof Float64Array);
});

test('4D time series: time points become components, with a warning', () => {
  const img = sampleImage('int16', 3, 3);
  const bytes = writeNifti(img);
  const v = le(bytes);
  v.setInt16(40, 4, true); // dim[0]
  v.setInt16(48, 3, true); // dim[4] = 3 time points
  v.setInt16(50, 1, true); // dim[5]
  v.setInt16(68, 0, true); // no intent
  const { warnings, warn } = collect();
  const back = readNifti(bytes, { name: 'fmri.nii', warn });
  assert.equal(back.components, 3);
  assert.deepEqual(Array.from(back.data), Array.from(img.data));
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /^fmri\.nii: .*3 time points/);
});

test('RGB24 reads as 3 interleaved uint8 components', () => {
  const rgb = Uint8Array.from({ length: 2 * 3 * 3 }, (_, i) => (i * 37) % 256);
  const img = readNifti(buildV1({ littleEndian: true, dim: [2, 2, 3], datatype: 128, bitpix: 24, pixdim: [1, 1, 1], data: rgb }), { name: 'rgb.nii' });
  assert.equal(img.components, 3);
  assert.ok(img.data instanceof Uint8Array);
  assert.deepEqual(Array.from(img.data), Array.from(rgb));
});

test('"ni1" header + .img pair through ctx.readSibling', () => {
  const img = sampleImage('int16', 3, 1);
  const single = writeNifti(img);
  const hdr = single.slice(0, 348);
  hdr.set([0x6e, 0x69, 0x31, 0], 344);
  le(hdr).setFloat32(108, 0, true);
  const data = single.slice(352);
  const asked: string[] = [];
  const back = readNifti(hdr, {
    name: 'some/dir/pair.hdr',
    readSibling: (p) => {
      asked.push(p);
      if (p === 'pair.img') return data;
      throw new CoregError(p, 'no such file');
    },
  });
  assert.deepEqual(asked, ['pair.img']);
  assert.deepEqual(Array.from(back.data), Array.from(img.data));
  assertGeometry(back, img, 2e-6, 'pair');
  assert.throws(() => readNifti(hdr, { name: 'pair.hdr' }), (e: unknown) => e instanceof CoregError && /pair\.img/.test(e.message));
});

// --- bad input -------------------------------------------------------------------------------------

test('bad input: each a one-line CoregError naming the file', () => {
  const good = writeNifti(sampleImage('int16', 3, 1));
  const patched = (f: (v: DataView) => void): Uint8Array => {
    const b = good.slice();
    f(le(b));
    return b;
  };
  assertReadError(new Uint8Array(0), /^empty file$/);
  assertReadError(gzip(good).subarray(0, 100), /corrupt compressed data \(truncated/);
  assertReadError(new Uint8Array(10), /sizeof_hdr/);
  assertReadError(patched((v) => v.setInt32(0, 350, true)), /sizeof_hdr is 350/);
  assertReadError(patched((v) => v.setUint8(345, 0x3f)), /magic/);
  assertReadError(good.subarray(0, 200), /truncated NIfTI header/);
  assertReadError(good.subarray(0, good.length - 1), /promises 120 bytes of pixel data at offset 352/);
  assertReadError(patched((v) => v.setInt16(44, 0, true)), /dim\[2\] is 0/);
  assertReadError(patched((v) => v.setInt16(46, -3, true)), /dim\[3\] is -3/);
  assertReadError(patched((v) => v.setInt16(40, 9, true)), /dim\[0\] is 9/);
  assertReadError(
    patched((v) => [32767, 32767, 32767].forEach((n, i) => v.setInt16(42 + 2 * i, n, true))),
    /exceeds the limit of 2147483647/,
  );
  assertReadError(patched((v) => v.setFloat32(80, NaN, true)), /pixdim\[1\] is NaN/);
  assertReadError(patched((v) => v.setFloat32(84, 0, true)), /pixdim\[2\] is 0/);
  assertReadError(patched((v) => v.setInt16(70, 1024, true)), /^unsupported NIfTI datatype 1024 \(int64\)$/);
  assertReadError(patched((v) => v.setInt16(70, 32, true)), /^unsupported NIfTI datatype 32 \(complex64\)$/);
  const v2 = writeNifti(sampleImage('uint8', 2, 1), { version: 2 });
  v2[5] = 0x3f;
  assertReadError(v2, /NIfTI-2.*magic/);
});

// --- real data -------------------------------------------------------------------------------------

test('ch2bet.nii.gz: 181×217×181 uint8, 1 mm, LPS diag(−1,−1,1), origin (90,125,−71)', { skip: SKIP_NO_DATA }, () => {
  const { warnings, warn } = collect();
  const img = readNifti(readFileSync(sharedPath('mni/ch2bet.nii.gz')), { name: 'ch2bet.nii.gz', warn });
  assert.deepEqual(warnings, []);
  assert.equal(img.dimension, 3);
  assert.deepEqual(img.size, [181, 217, 181]);
  assert.ok(img.data instanceof Uint8Array);
  assert.equal(img.components, 1);
  assert.deepEqual(img.spacing, [1, 1, 1]);
  assert.deepEqual(img.direction, [-1, 0, 0, 0, -1, 0, 0, 0, 1]);
  assert.deepEqual(img.origin, [90, 125, -71]);
  let max = 0;
  for (let i = 0; i < img.data.length; i++) if (img.data[i] > max) max = img.data[i];
  assert.equal(max, 133);
});

test('ch2bet-corner.nii.gz (nibabel-written corner of ch2bet, same sform): 6×5×4 uint8, LPS diag(−1,−1,1), origin (90,125,−71)', () => {
  const { warnings, warn } = collect();
  const img = readNifti(readFileSync(dataPath('mni/ch2bet-corner.nii.gz')), { name: 'ch2bet-corner.nii.gz', warn });
  assert.deepEqual(warnings, []);
  assert.deepEqual(img.size, [6, 5, 4]);
  assert.ok(img.data instanceof Uint8Array);
  assert.deepEqual(img.spacing, [1, 1, 1]);
  assert.deepEqual(img.direction, [-1, 0, 0, 0, -1, 0, 0, 0, 1]);
  assert.deepEqual(img.origin, [90, 125, -71]);
});
