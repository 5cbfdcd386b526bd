// `coreg resample` (no transform) and NIfTI header codes kept on outputs on a grid read from NIfTI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createImage, indexToPhysical } from '../../src/image/image.js';
import { readNifti } from '../../src/io/nifti.js';
import { readFileBytes, readImageFile, writeImageFile } from '../../src/io/node.js';
import { gridWithSpacing } from '../../src/resample/grid.js';
import { assertArrayClose } from '../helpers.js';
import { runCoreg as coreg } from './run-in-process.js';

const PYTHON = '/usr/bin/python3';
const SKIP_NO_NIBABEL: string | false = spawnSync(PYTHON, ['-c', 'import nibabel'], { encoding: 'utf8' }).status === 0 ? false : `nibabel is not importable by ${PYTHON} (install python3-nibabel)`;

function withDir(fn: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'coreg-resample-'));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

const ramp = (p: ArrayLike<number>) => 3 + p[0] + 2 * p[1] - 0.5 * p[2];

test('gridWithSpacing keeps the direction and the centre of the field of view', () => {
  const c = Math.cos(0.3);
  const s = Math.sin(0.3);
  const g = { dimension: 3 as const, size: [10, 7, 4], spacing: [1, 1.5, 3], origin: [5, -2, 7], direction: [c, -s, 0, s, c, 0, 0, 0, 1] };
  const n = gridWithSpacing(g, [2, 2, 2]);
  assert.deepEqual(n.size, [5, 5, 6]);
  const centre = (grid: typeof g) => indexToPhysical({ ...grid, components: 1, data: new Float32Array(0) }, grid.size.map((k) => (k - 1) / 2));
  assertArrayClose(centre(n as typeof g), centre(g), 1e-12, 'centre');
  assert.deepEqual(n.direction, g.direction);
  assert.throws(() => gridWithSpacing(g, [1, 0, 1]), /positive/);
});

test('coreg resample --spacing / --reference: a linear ramp stays exact inside; usage errors exit 2', withDir(async (dir) => {
  const img = createImage([12, 10, 8], 'float32', { spacing: [1, 1.2, 1.5], origin: [-3, 4, 1] });
  for (let k = 0; k < 8; k++) for (let j = 0; j < 10; j++) for (let i = 0; i < 12; i++) img.data[i + 12 * (j + 10 * k)] = ramp(indexToPhysical(img, [i, j, k]));
  const input = join(dir, 'in.nii.gz');
  writeImageFile(input, img);
  const out = join(dir, 'out.nii.gz');
  let r = await coreg(['resample', input, out, '--spacing', '2,2.4,3']);
  assert.equal(r.code, 0, r.stderr);
  const res = readImageFile(out);
  assert.deepEqual(res.size, [6, 5, 4]);
  assertArrayClose(res.spacing, [2, 2.4, 3], 1e-6, 'spacing');
  for (let k = 0; k < 4; k++) for (let j = 0; j < 5; j++) for (let i = 0; i < 6; i++) {
    assert.ok(Math.abs(res.data[i + 6 * (j + 5 * k)] - ramp(indexToPhysical(res, [i, j, k]))) < 1e-4, `voxel ${i},${j},${k}`);
  }
  // An oblique reference inside the input's field of view.
  const c = Math.cos(0.2);
  const s = Math.sin(0.2);
  const refImg = createImage([4, 4, 3], 'uint8', { spacing: [1.1, 0.9, 1.3], origin: [2, 8, 4], direction: [c, -s, 0, s, c, 0, 0, 0, 1] });
  const ref = join(dir, 'ref.nii');
  writeImageFile(ref, refImg);
  rmSync(out);
  r = await coreg(['resample', input, out, '--reference', ref]);
  assert.equal(r.code, 0, r.stderr);
  const onRef = readImageFile(out);
  assert.deepEqual(onRef.size, [4, 4, 3]);
  for (let k = 0; k < 3; k++) for (let j = 0; j < 4; j++) for (let i = 0; i < 4; i++) {
    assert.ok(Math.abs(onRef.data[i + 4 * (j + 4 * k)] - ramp(indexToPhysical(onRef, [i, j, k]))) < 1e-4, `reference voxel ${i},${j},${k}`);
  }
  const other = join(dir, 'other.nii');
  for (const args of [[], ['--spacing', '1', '--reference', ref], ['--spacing', '1,2'], ['--spacing', '0'], ['--spacing', '1', '--interpolation', 'cubic']]) {
    r = await coreg(['resample', input, other, ...args]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split('\n').length, 1);
    assert.ok(!existsSync(other));
  }
}));

test('outputs on a NIfTI grid keep its sform/qform codes and intent (sform_code 4 stays 4)', { skip: SKIP_NO_NIBABEL }, withDir(async (dir) => {
  const fixed = join(dir, 'mni.nii.gz');
  const made = spawnSync(PYTHON, ['-c', `
import sys, numpy as np, nibabel as nib
a = np.zeros((6, 5, 4), np.int16); a[2:4, 1:3, 1:3] = 7
A = np.diag([-2.0, 2.0, 2.0, 1]); A[:3, 3] = [90, -126, -72]
img = nib.Nifti1Image(a, A)
img.set_sform(A, code=4); img.set_qform(A, code=2)
img.header.set_intent('label')
nib.save(img, sys.argv[1])
`, fixed], { encoding: 'utf8' });
  assert.equal(made.status, 0, made.stderr);
  const codes = (file: string) => {
    const r = spawnSync(PYTHON, ['-c', "import sys, nibabel as nib; h = nib.load(sys.argv[1]).header; print(int(h['sform_code']), int(h['qform_code']), int(h['intent_code']))", file], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.trim();
  };
  assert.equal(codes(fixed), '4 2 1002');
  const moving = join(dir, 'moving.nii.gz');
  writeImageFile(moving, createImage([6, 5, 4], 'float32', { spacing: [2, 2, 2] }));
  const converted = join(dir, 'c.nii');
  assert.equal((await coreg(['convert', fixed, converted])).code, 0);
  assert.equal(codes(converted), '4 2 1002', 'convert');
  const resampled = join(dir, 'r.nii.gz');
  assert.equal((await coreg(['resample', moving, resampled, '--reference', fixed])).code, 0);
  assert.equal(codes(resampled), '4 2 1002', 'resample --reference');
  const tfm = join(dir, 'id.tfm');
  writeFileSync(tfm, '#Insight Transform File V1.0\n#Transform 0\nTransform: TranslationTransform_double_3_3\nParameters: 0 0 0\nFixedParameters:\n');
  const applied = join(dir, 'a.nii.gz');
  const r = await coreg(['apply', '--reference', fixed, '--moving', moving, '--transform', tfm, '--out', applied]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(codes(applied), '4 2 1002', 'apply');
  // A file without codes on its grid (here MetaImage) is written with ITK's scanner codes.
  const mha = join(dir, 'm.mha');
  writeImageFile(mha, readImageFile(moving));
  const plain = join(dir, 'p.nii');
  assert.equal((await coreg(['convert', mha, plain])).code, 0);
  assert.equal(codes(plain), '1 1 0');
  assert.equal(readNifti(readFileBytes(plain), { name: plain }).header?.sformCode, 1);
}));
