// FreeSurfer MGH/MGZ: files nibabel (Debian python3-nibabel) writes read with nibabel's voxels and affine; files
// coreg writes read the same in nibabel; round trips; truncated data is an error. Skips the nibabel parts without it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createImage, indexToPhysical } from '../../src/image/image.js';
import type { Image } from '../../src/image/image.js';
import { readMgh, writeMgh } from '../../src/io/mgh.js';
import { readImageFile, writeImageFile } from '../../src/io/node.js';
import { CoregError } from '../../src/errors.js';
import { assertArrayClose } from '../helpers.js';

const PYTHON = '/usr/bin/python3';
const SKIP_NO_NIBABEL: string | false = spawnSync(PYTHON, ['-c', 'import nibabel'], { encoding: 'utf8' }).status === 0 ? false : `nibabel is not importable by ${PYTHON} (install python3-nibabel)`;

/** coreg's geometry as nibabel's 4×4 RAS affine. */
function rasAffine(img: Image): number[] {
  const o = indexToPhysical(img, [0, 0, 0]);
  const cols = [0, 1, 2].map((c) => [0, 1, 2].map((r) => img.direction[3 * r + c] * img.spacing[c]));
  const flip = [-1, -1, 1];
  return [0, 1, 2].flatMap((r) => [flip[r] * cols[0][r], flip[r] * cols[1][r], flip[r] * cols[2][r], flip[r] * o[r]]);
}

function nibabel(script: string, ...args: string[]): string {
  const r = spawnSync(PYTHON, ['-c', script, ...args], { encoding: 'utf8', maxBuffer: 1 << 26 });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

const READ = `
import sys, json, numpy as np, nibabel as nib
img = nib.load(sys.argv[1])
a = np.asarray(img.dataobj)
a = a.reshape(-1, a.shape[3] if a.ndim == 4 else 1, order='F')  # voxels x fastest, frames interleaved
print(json.dumps({'affine': img.affine[:3].reshape(-1).tolist(), 'dtype': str(img.get_data_dtype().newbyteorder('=')), 'shape': [int(v) for v in img.shape], 'data': a.reshape(-1).tolist()}))
`;

test('MGH/MGZ written by nibabel: same voxels and affine (oblique, each MGH type, frames)', { skip: SKIP_NO_NIBABEL }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'coreg-mgh-'));
  try {
    for (const [dtype, frames, ext] of [['float32', 1, 'mgz'], ['int16', 1, 'mgh'], ['uint8', 1, 'mgz'], ['int32', 3, 'mgh']] as const) {
      const file = join(dir, `a-${dtype}-${frames}.${ext}`);
      nibabel(`
import sys, numpy as np, nibabel as nib
shape = (4, 5, 6) + ((${frames},) if ${frames} > 1 else ())
a = (np.arange(int(np.prod(shape))).reshape(shape, order='F') % 200).astype(np.${dtype})
th = 0.3
Rz = np.array([[np.cos(th), -np.sin(th), 0], [np.sin(th), np.cos(th), 0], [0, 0, 1]])
A = np.eye(4); A[:3, :3] = Rz @ np.array([[0., 0, 1], [1, 0, 0], [0, 1, 0]]) @ np.diag([1.2, 0.9, 2.0]); A[:3, 3] = [5, -7, 11]
nib.save(nib.MGHImage(a, A), sys.argv[1])
`, file);
      const ref = JSON.parse(nibabel(READ, file)) as { affine: number[]; dtype: string; data: number[] };
      const img = readImageFile(file);
      assert.equal(img.components, frames);
      assertArrayClose(rasAffine(img), ref.affine, 1e-4, `${file} affine`);
      assertArrayClose(img.data, ref.data, 0, `${file} data`);
      // And back: coreg's file reads the same in nibabel.
      const back = join(dir, `b-${dtype}-${frames}.${ext === 'mgz' ? 'mgh' : 'mgz'}`);
      writeImageFile(back, img);
      const again = JSON.parse(nibabel(READ, back)) as { affine: number[]; dtype: string; data: number[] };
      assert.equal(again.dtype, ref.dtype, 'MGH type kept');
      assertArrayClose(again.affine, ref.affine, 1e-4, `${back} affine`);
      assertArrayClose(again.data, ref.data, 0, `${back} data`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('MGH round trip keeps the geometry of an oblique LPS image; other pixel types widen; bad files are errors', () => {
  const c = Math.cos(0.4);
  const s = Math.sin(0.4);
  const img = createImage([3, 4, 5], 'uint16', { spacing: [0.7, 1.1, 2.3], origin: [-10, 20.5, 3], direction: [c, -s, 0, s, c, 0, 0, 0, 1] });
  for (let i = 0; i < img.data.length; i++) img.data[i] = i * 300;
  const back = readMgh(writeMgh(img, { gzip: true }), { name: 'x.mgz' });
  assert.ok(back.data instanceof Int32Array, 'uint16 stored as MGH int');
  assertArrayClose(back.data, img.data, 0, 'data');
  assertArrayClose(back.spacing, img.spacing, 1e-6, 'spacing');
  assertArrayClose(back.origin, img.origin, 1e-4, 'origin');
  assertArrayClose(back.direction, img.direction, 1e-6, 'direction');
  const bytes = writeMgh(img);
  assert.throws(() => readMgh(bytes.subarray(0, 300), { name: 'x.mgh' }), (e: unknown) => e instanceof CoregError && /truncated MGH data/.test(e.message));
  const wrong = bytes.slice();
  new DataView(wrong.buffer).setInt32(0, 7, false);
  assert.throws(() => readMgh(wrong, { name: 'x.mgh' }), /not an MGH file/);
  // A 2D image is written as one slice.
  const flat = createImage([3, 2], 'float32', { spacing: [2, 3], origin: [1, 2] });
  const flatBack = readMgh(writeMgh(flat), { name: 'f.mgh' });
  assert.deepEqual(flatBack.size, [3, 2, 1]);
  assertArrayClose(flatBack.origin, [1, 2, 0], 1e-5, '2D origin');
});

test('writing .mgz from the command line is atomic and nibabel-readable', { skip: SKIP_NO_NIBABEL }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'coreg-mgh-'));
  try {
    const img = createImage([2, 2, 2], 'float32', { spacing: [1, 2, 3] });
    img.data.set([1, 2, 3, 4, 5, 6, 7, 8.5]);
    const file = join(dir, 'x.mgz');
    writeImageFile(file, img);
    const ref = JSON.parse(nibabel(READ, file)) as { data: number[]; shape: number[] };
    assert.deepEqual(ref.shape, [2, 2, 2]);
    assertArrayClose(ref.data, img.data, 0, 'values');
    writeFileSync(join(dir, 'bad.mgz'), new Uint8Array([0x1f, 0x8b, 8, 0, 0, 0]));
    assert.throws(() => readImageFile(join(dir, 'bad.mgz')), CoregError);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
