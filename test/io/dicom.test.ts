// DICOM in: series written by Debian's pydicom (an independent writer) with oblique orientation, distinct row and
// column spacing, shuffled file names and rescale, compared with the values pydicom wrote, with dcm2niix's NIfTI
// of the same folder, and pydicom's own test files (explicit/implicit VR, big endian, RLE, deflate) against
// pydicom's pixel_array. Skips when pydicom / dcm2niix are absent (CI installs them).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { indexToPhysical, physicalToIndex, numberOfPixels } from '../../src/image/image.js';
import type { Image } from '../../src/image/image.js';
import { readImageFile, listDicomSeries } from '../../src/io/node.js';
import { decodeRle } from '../../src/io/dicom.js';
import { CoregError } from '../../src/errors.js';
import { assertArrayClose } from '../helpers.js';
import { run } from '../../src/cli/main.js';

const PYTHON = '/usr/bin/python3';
const MAKE_SERIES = fileURLToPath(new URL('./make-dicom-series.py', import.meta.url));
const PYDICOM_DATA = '/usr/lib/python3/dist-packages/pydicom/data/test_files';
const SKIP_NO_PYDICOM: string | false = (() => {
  const r = spawnSync(PYTHON, ['-c', 'import pydicom, numpy'], { encoding: 'utf8' });
  return r.status === 0 ? false : `pydicom is not importable by ${PYTHON} (install python3-pydicom)`;
})();
const SKIP_NO_DCM2NIIX: string | false = SKIP_NO_PYDICOM || (spawnSync('dcm2niix', ['-v']).error ? 'dcm2niix is not installed' : false);
const SKIP_NO_DCMTK: string | false = !existsSync(PYDICOM_DATA) ? 'pydicom test files absent' : spawnSync('dcmcjpeg', ['--version']).error ? 'dcmcjpeg (Debian dcmtk) is not installed' : false;

const OBLIQUE = [0.8660254, 0.5, 0, -0.3535534, 0.6123724, 0.7071068];

function makeSeries(folder: string, opts: Record<string, unknown>): void {
  const r = spawnSync(PYTHON, [MAKE_SERIES, folder, JSON.stringify(opts)], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'coreg-dicom-'));
}

/** The command line in process (no subprocess): exit code and what it printed. */
async function runCli(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const status = await run(args, { stdout: { write: (t: string) => (stdout += t) }, stderr: { write: (t: string) => (stderr += t) } });
  return { status, stdout, stderr };
}

const unit = (v: number[]) => v.map((x) => x / Math.hypot(...v));

test('a pydicom series: oblique, row/column spacing, shuffled names, rescale', { skip: SKIP_NO_PYDICOM }, () => {
  const dir = tempDir();
  try {
    makeSeries(dir, { iop: OBLIQUE, origin: [10, -20, 30], shuffle: true, slope: 2, intercept: -100, row_spacing: 0.8, col_spacing: 1.3, slice_spacing: 2.5 });
    const img = readImageFile(dir);
    assert.deepEqual(img.size, [7, 5, 4]);
    assertArrayClose(img.spacing, [1.3, 0.8, 2.5], 1e-5, 'spacing (x = column spacing, y = row spacing, z from positions)');
    assertArrayClose(img.origin, [10, -20, 30], 1e-9, 'origin');
    const r = unit(OBLIQUE.slice(0, 3));
    const c = unit(OBLIQUE.slice(3));
    const n = [r[1] * c[2] - r[2] * c[1], r[2] * c[0] - r[0] * c[2], r[0] * c[1] - r[1] * c[0]];
    assertArrayClose(img.direction, [r[0], c[0], n[0], r[1], c[1], n[1], r[2], c[2], n[2]], 1e-6, 'direction');
    assert.ok(img.data instanceof Int16Array, 'integer rescale stays integer');
    for (let k = 0; k < 4; k++) {
      for (let j = 0; j < 5; j++) {
        for (let i = 0; i < 7; i++) assert.equal(img.data[i + 7 * (j + 5 * k)], 2 * (i + 10 * j + 100 * k) - 100, `voxel ${i},${j},${k}`);
      }
    }
    // A fractional slope gives float values.
    const dir2 = join(dir, 'frac');
    makeSeries(dir2, { slope: 0.5, intercept: 0.25 });
    const f = readImageFile(dir2);
    assert.ok(f.data instanceof Float32Array);
    assert.equal(f.data[1 + 7 * (2 + 5 * 3)], 0.5 * 321 + 0.25);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an enhanced multi-frame object: per-frame positions and rescale, shared orientation and spacing, 12-bit signed', { skip: SKIP_NO_PYDICOM }, () => {
  const dir = tempDir();
  try {
    makeSeries(dir, { enhanced: true, iop: OBLIQUE, origin: [1, 2, 3], slices: 5 });
    const img = readImageFile(join(dir, 'enhanced.dcm'));
    assert.deepEqual(img.size, [7, 5, 5]);
    assertArrayClose(img.spacing, [1.3, 0.8, 2.5], 1e-5, 'spacing');
    assertArrayClose(img.origin, [1, 2, 3], 1e-9, 'origin: the lowest frame along the normal, though stored last');
    assert.ok(img.data instanceof Float32Array);
    for (let k = 0; k < 5; k++) {
      for (let j = 0; j < 5; j++) {
        for (let i = 0; i < 7; i++) assert.equal(img.data[i + 7 * (j + 5 * k)], 1.5 * (i + 10 * j + 100 * k - 300) + (k - 5), `voxel ${i},${j},${k}`);
      }
    }
    assert.deepEqual(readImageFile(dir).size, [7, 5, 5], 'the folder reads the same');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Every voxel of `a` equals the voxel of `b` at the same physical point (geometry and values agree). */
function assertSameVolume(a: Image, b: Image, tol: number): void {
  assert.equal(numberOfPixels(a), numberOfPixels(b));
  const idx = [0, 0, 0];
  for (let k = 0; k < a.size[2]; k++) {
    for (let j = 0; j < a.size[1]; j++) {
      for (let i = 0; i < a.size[0]; i++) {
        const p = indexToPhysical(a, [i, j, k]);
        const q = physicalToIndex(b, p, idx);
        for (let d = 0; d < 3; d++) assert.ok(Math.abs(q[d] - Math.round(q[d])) < 1e-3, `voxel ${i},${j},${k} lands between voxels of the reference (${Array.from(q).join(', ')})`);
        const bi = Math.round(q[0]) + b.size[0] * (Math.round(q[1]) + b.size[1] * Math.round(q[2]));
        assert.ok(Math.abs(a.data[i + a.size[0] * (j + a.size[1] * k)] - b.data[bi]) <= tol, `value at ${i},${j},${k}`);
      }
    }
  }
}

test('a pydicom series reads as dcm2niix converts it', { skip: SKIP_NO_DCM2NIIX }, () => {
  const dir = tempDir();
  try {
    const series = join(dir, 'series');
    makeSeries(series, { iop: OBLIQUE, origin: [10, -20, 30], shuffle: true, slope: 2, intercept: -100, row_spacing: 0.8, col_spacing: 1.3 });
    const out = join(dir, 'nii');
    mkdirSync(out);
    const r = spawnSync('dcm2niix', ['-z', 'n', '-f', 'ref', '-o', out, series], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const ref = readImageFile(join(out, 'ref.nii'));
    assertSameVolume(readImageFile(series), ref, 1e-4);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** pydicom's pixel_array × slope + intercept (× DoseGridScaling), flattened x fastest. */
function pydicomPixels(file: string): number[] {
  const script = `
import sys, json, pydicom, numpy as np
d = pydicom.dcmread(sys.argv[1])
a = d.pixel_array.astype(float) * float(d.get('RescaleSlope', 1)) + float(d.get('RescaleIntercept', 0))
if 'DoseGridScaling' in d: a = a * float(d.DoseGridScaling)
print(json.dumps(a.reshape(-1).tolist()))
`;
  const r = spawnSync(PYTHON, ['-c', script, file], { encoding: 'utf8', maxBuffer: 1 << 28 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as number[];
}

test("pydicom's test files: every transfer syntax coreg decodes matches pydicom's pixel_array", { skip: SKIP_NO_PYDICOM || (!existsSync(PYDICOM_DATA) && 'pydicom test files absent') }, () => {
  for (const name of ['CT_small.dcm', 'MR_small.dcm', 'MR_small_RLE.dcm', 'MR_small_bigendian.dcm', 'MR_small_implicit.dcm', 'MR_small_expb.dcm', 'image_dfl.dcm', 'rtdose_1frame.dcm', 'rtdose_rle_1frame.dcm']) {
    const file = join(PYDICOM_DATA, name);
    const img = readImageFile(file);
    assertArrayClose(img.data, pydicomPixels(file), 1e-3, name);
  }
  const ct = readImageFile(join(PYDICOM_DATA, 'CT_small.dcm'));
  assertArrayClose(ct.origin, [-158.135803, -179.035797, -75.699997], 1e-5, 'CT_small origin');
  assertArrayClose(ct.spacing.slice(0, 2), [0.661468, 0.661468], 1e-6, 'CT_small spacing');
  // RT dose: 15 frames placed by GridFrameOffsetVector, scaled by DoseGridScaling.
  const dose = readImageFile(join(PYDICOM_DATA, 'rtdose.dcm'));
  assert.deepEqual(dose.size, [10, 10, 15]);
  assertArrayClose(dose.spacing, [10, 10, 5], 1e-9, 'rtdose spacing');
  const rle = readImageFile(join(PYDICOM_DATA, 'rtdose_rle.dcm'));
  assertArrayClose(rle.data, dose.data, 0, 'RLE multi-frame = uncompressed');
});

test('JPEG Lossless (process 14 and SV1, written by dcmtk) decodes to the uncompressed values', { skip: SKIP_NO_DCMTK }, () => {
  const dir = tempDir();
  try {
    for (const name of ['MR_small.dcm', 'CT_small.dcm']) {
      const plain = readImageFile(join(PYDICOM_DATA, name));
      for (const mode of ['+e1', '+el']) {
        const out = join(dir, `${mode.slice(1)}-${name}`);
        const r = spawnSync('dcmcjpeg', [mode, join(PYDICOM_DATA, name), out], { encoding: 'utf8' });
        assert.equal(r.status, 0, r.stderr);
        const img = readImageFile(out);
        assert.deepEqual(img.size, plain.size);
        assertArrayClose(img.data, plain.data, 0, `${name} ${mode}`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('RLE: PackBits literal and repeat runs, two byte planes (MSB first)', () => {
  // 4 pixels of 16 bits: 0x0102, 0x0102, 0x0304, 0x0005.
  const msb = [0xff, 0x01, 0x01, 0x03, 0x00]; // repeat 0x01 twice, literal [03, 00]
  const lsb = [0x03, 0x02, 0x02, 0x04, 0x05]; // literal of 4
  const frame = new Uint8Array(64 + msb.length + lsb.length);
  const v = new DataView(frame.buffer);
  v.setUint32(0, 2, true);
  v.setUint32(4, 64, true);
  v.setUint32(8, 64 + msb.length, true);
  frame.set(msb, 64);
  frame.set(lsb, 64 + msb.length);
  const out = decodeRle(frame, 4, 2, 'x');
  assert.deepEqual(Array.from(new Uint16Array(out.buffer)), [0x0102, 0x0102, 0x0304, 0x0005]);
  assert.throws(() => decodeRle(frame.subarray(0, 66), 4, 2, 'x'), CoregError);
});

test('DICOM bad input: one clear line, exit 1, nothing written', { skip: SKIP_NO_PYDICOM }, async () => {
  const dir = tempDir();
  try {
    const out = join(dir, 'out.nii.gz');
    const expectFail = async (input: string, pattern: RegExp, extra: string[] = []) => {
      const r = await runCli(['convert', input, out, ...extra]);
      assert.equal(r.status, 1, r.stderr);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0], /^coreg: error: /);
      assert.match(lines[0], pattern);
      assert.ok(!existsSync(out), 'nothing written');
      assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith('out')), []);
    };
    // Several series: each UID with its description; --series picks one.
    const two = join(dir, 'two');
    makeSeries(join(two, 'a'), { series_uid: '1.2.3.4.1', description: 'T1 axial' });
    makeSeries(join(two, 'b'), { series_uid: '1.2.3.4.2', description: 'localizer', cols: 4 });
    await expectFail(two, /2 DICOM series.*1\.2\.3\.4\.1 \("T1 axial"\).*1\.2\.3\.4\.2 \("localizer"\)/);
    const ok = await runCli(['convert', two, out, '--series', '1.2.3.4.2']);
    assert.equal(ok.status, 0, ok.stderr);
    assert.deepEqual(readImageFile(out).size, [4, 5, 4]);
    rmSync(out);
    await expectFail(two, /--series: no series 9\.9/, ['--series', '9.9']);
    const listed = await runCli(['dicom', two, '--json']);
    assert.equal(listed.status, 0, listed.stderr);
    const series = JSON.parse(listed.stdout) as { uid: string; description: string; files: number; size: number[]; spacing: number[]; modality: string; number: number }[];
    assert.deepEqual(series.map((s) => [s.uid, s.description, s.files, s.modality, s.number]), [['1.2.3.4.1', 'T1 axial', 4, 'MR', 3], ['1.2.3.4.2', 'localizer', 4, 'MR', 3]]);
    assert.deepEqual(series[1].size, [4, 5, 4]);
    assert.deepEqual(listDicomSeries(two).length, 2);
    // A folder without DICOM.
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    writeFileSync(join(empty, 'notes.txt'), 'hello');
    await expectFail(empty, /no DICOM files/);
    // Truncated and corrupt files.
    const trunc = join(dir, 'trunc');
    makeSeries(trunc, {});
    const first = join(trunc, 'IM0000');
    const bytes = readFileSync(first);
    writeFileSync(first, bytes.subarray(0, bytes.length - 20));
    await expectFail(trunc, /IM0000: (truncated|not a readable DICOM)/);
    writeFileSync(first, Buffer.concat([bytes.subarray(0, 132), Buffer.alloc(50, 0xff)]));
    await expectFail(trunc, /IM0000: not a readable DICOM/);
    // Mixed orientations, missing pixel data, gantry tilt, non-uniform spacing.
    const mixed = join(dir, 'mixed');
    makeSeries(mixed, { iop_last: [0, 1, 0, 0, 0, -1] });
    await expectFail(mixed, /mixed orientations/);
    const nopix = join(dir, 'nopix');
    makeSeries(nopix, { no_pixels: true });
    await expectFail(nopix, /missing pixel data/);
    const tilt = join(dir, 'tilt');
    makeSeries(tilt, { tilt: 15 });
    await expectFail(tilt, /gantry tilt/);
    const gap = join(dir, 'gap');
    makeSeries(gap, { gap_at: 2 });
    await expectFail(gap, /non-uniform slice spacing/);
    // A compressed syntax coreg does not decode is named.
    if (existsSync(join(PYDICOM_DATA, 'JPEG2000.dcm'))) {
      const j2k = join(dir, 'j2k.dcm');
      copyFileSync(join(PYDICOM_DATA, 'JPEG2000.dcm'), j2k);
      await expectFail(j2k, /JPEG 2000.*1\.2\.840\.10008\.1\.2\.4\.91/);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a DICOM folder works wherever an image does (info)', { skip: SKIP_NO_PYDICOM }, async () => {
  const dir = tempDir();
  try {
    makeSeries(dir, { iop: OBLIQUE, slope: 1, intercept: -1024, modality: 'CT' });
    const r = await runCli(['info', dir, '--json']);
    assert.equal(r.status, 0, r.stderr);
    const info = JSON.parse(r.stdout) as { size: number[]; min: number; max: number };
    assert.deepEqual(info.size, [7, 5, 4]);
    assert.equal(info.min, -1024);
    assert.equal(info.max, 6 + 40 + 300 - 1024);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('register and apply take DICOM folders (fixed, moving and reference)', { skip: SKIP_NO_PYDICOM }, async () => {
  const dir = tempDir();
  try {
    const series = join(dir, 'series');
    makeSeries(series, { cols: 24, rows: 20, slices: 10, iop: OBLIQUE, shuffle: true, intercept: -1024, modality: 'CT' });
    const nii = join(dir, 'copy.nii.gz');
    let r = await runCli(['convert', series, nii]);
    assert.equal(r.status, 0, r.stderr);
    const out = join(dir, 'reg');
    r = await runCli(['register', '--fixed', series, '--moving', nii, '--out', out, '--transform', 'translation', '--metric', 'mse', '--iterations', '20', '--shrink', '1', '--smooth', '0', '--initializer', 'geometry', '--quiet']);
    assert.equal(r.status, 0, r.stderr);
    const tfm = readFileSync(join(out, 'transform.tfm'), 'utf8');
    const params = /Parameters: (.*)/.exec(tfm)![1].trim().split(/\s+/).map(Number);
    assertArrayClose(params, [0, 0, 0], 1e-3, 'the same volume registers to itself');
    const applied = join(dir, 'applied.nii.gz');
    r = await runCli(['apply', '--reference', series, '--moving', series, '--transform', out, '--out', applied, '--interpolation', 'nearest']);
    assert.equal(r.status, 0, r.stderr);
    assertArrayClose(readImageFile(applied).data, readImageFile(series).data, 0, 'apply through the identity');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
