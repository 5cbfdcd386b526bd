// Independent cross-check against nibabel (Debian python3-nibabel): files coreg writes must read the same in
// nibabel, and nibabel's own test files must read the same in coreg. Skips when nibabel is not installed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readNifti, writeNifti } from '../../src/io/nifti.js';
import { type Image, type PixelType, createImage, numberOfPixels } from '../../src/image/image.js';
import { assertArrayClose, skipUnlessTool } from '../helpers.js';

const PYTHON = '/usr/bin/python3';
const NIBABEL_DATA = '/usr/lib/python3/dist-packages/nibabel/tests/data';
const SKIP_NO_NIBABEL: string | false = (() => {
  const r = spawnSync(PYTHON, ['-c', 'import nibabel'], { encoding: 'utf8' });
  return r.status === 0 ? false : `nibabel is not importable by ${PYTHON} (install python3-nibabel)`;
})();

interface NibabelReport {
  shape: number[];
  dtype: string;
  intent: number;
  affine: number[][];
  /** [Fortran-order flat index, value of get_fdata() (null for NaN)] pairs. */
  samples: [number, number | null][];
}

/** nibabel's view of each file: shape, dtype, RAS affine and a fixed sample of (scaled) voxel values. */
function nibabelReports(files: string[]): NibabelReport[] {
  const script = `
import json, sys
import numpy as np
import nibabel as nib
out = []
for f in sys.argv[1:]:
    img = nib.load(f)
    data = np.asanyarray(img.get_fdata()).reshape(-1, order='F')
    idx = sorted(set([0, data.size - 1] + list(np.random.default_rng(7).integers(0, data.size, 40).tolist())))
    out.append({'shape': list(img.shape), 'dtype': str(img.get_data_dtype().newbyteorder('=')), 'intent': int(img.header['intent_code']),
                'affine': img.affine.tolist(), 'samples': [[i, None if np.isnan(data[i]) else float(data[i])] for i in idx]})
print(json.dumps(out))
`;
  const r = spawnSync(PYTHON, ['-c', script, ...files], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as NibabelReport[];
}

/** coreg's geometry as the 4×4 RAS affine nibabel reports (x and y rows negated). */
function rasAffine(img: Image): number[][] {
  const d = img.dimension;
  const a = [
    [0, 0, 0, 0],
    [0, 0, 0, 0],
    [0, 0, 0, 0],
    [0, 0, 0, 1],
  ];
  for (let r = 0; r < 3; r++) {
    for (let c = 0; c < 3; c++) {
      const lps = r < d && c < d ? img.direction[r * d + c] * img.spacing[c] : r === c ? 1 : 0;
      a[r][c] = r < 2 ? -lps : lps;
    }
    const o = r < d ? img.origin[r] : 0;
    a[r][3] = r < 2 ? -o : o;
  }
  return a;
}

/** Value of nibabel's Fortran-order flat index in coreg's interleaved layout (planes = components). */
function valueAt(img: Image, flat: number): number {
  const voxels = numberOfPixels(img);
  return img.data[(flat % voxels) * img.components + Math.floor(flat / voxels)];
}

function compare(img: Image, nib: NibabelReport, what: string, affineTol: number): void {
  assertArrayClose(rasAffine(img).flat(), nib.affine.flat(), affineTol, `${what} affine`);
  for (const [flat, v] of nib.samples) {
    const ours = valueAt(img, flat);
    if (v === null) {
      assert.ok(Number.isNaN(ours), `${what} value at ${flat}: coreg ${ours}, nibabel NaN`);
      continue;
    }
    assert.ok(Math.abs(ours - v) <= 1e-6 * Math.max(1, Math.abs(v)), `${what} value at ${flat}: coreg ${ours}, nibabel ${v}`);
  }
}

function sample(type: PixelType, size: number[], components: number, direction: number[], spacing: number[], origin: number[]): Image {
  const img = createImage(size, type, { direction, spacing, origin, components });
  const signed = type.startsWith('int') || type.startsWith('float');
  for (let i = 0; i < img.data.length; i++) img.data[i] = ((i * 37) % 97) - (signed ? 40 : 0) + (type.startsWith('float') ? 0.25 : 0);
  return img;
}

const c = Math.cos(0.4);
const s = Math.sin(0.4);
const ROT3 = [c, -s, 0, s, c, 0, 0, 0, -1]; // det −1
const WRITTEN: { file: string; img: Image; version: 1 | 2; shape: number[]; dtype: string }[] = [
  { file: 'a.nii.gz', img: sample('int16', [5, 4, 3], 1, ROT3, [0.9, 1.1, 2.2], [10.5, -20.25, 30]), version: 1, shape: [5, 4, 3], dtype: 'int16' },
  { file: 'b.nii', img: sample('float64', [4, 3, 2], 1, ROT3, [1.5, 0.5, 3], [1.1, 2.2, 3.3]), version: 2, shape: [4, 3, 2], dtype: 'float64' },
  { file: 'c.nii', img: sample('uint8', [6, 5], 1, [c, s, s, -c], [0.7, 1.4], [-4, 8]), version: 1, shape: [6, 5], dtype: 'uint8' },
  { file: 'd.nii.gz', img: sample('float32', [3, 4, 2], 3, ROT3, [1, 2, 3], [0, 5, -5]), version: 1, shape: [3, 4, 2, 1, 3], dtype: 'float32' },
  { file: 'e.nii', img: sample('uint16', [3, 4], 2, [1, 0, 0, 1], [1, 1], [0, 0]), version: 2, shape: [3, 4, 1, 1, 2], dtype: 'uint16' },
];
// anatomical.nii is big-endian; example_nifti2.nii.gz is NIfTI-2 and 4D; standard.nii.gz has only an sform
// (code 2); functional.nii is 4D and scaled; the *_moved files are big-endian float32 with NaNs.
const NIBABEL_FILES = ['anatomical.nii', 'example_nifti2.nii.gz', 'standard.nii.gz', 'functional.nii', 'example4d.nii.gz', 'reoriented_anat_moved.nii', 'resampled_anat_moved.nii'];

let cached: { written: NibabelReport[]; own: NibabelReport[] } | undefined;
/** One Python start-up (importing nibabel is slow) for both tests. */
function reports(): { written: NibabelReport[]; own: NibabelReport[] } {
  if (cached) return cached;
  const dir = mkdtempSync(join(tmpdir(), 'coreg-nifti-'));
  try {
    for (const k of WRITTEN) writeFileSync(join(dir, k.file), writeNifti(k.img, { gzip: k.file.endsWith('.gz'), version: k.version }));
    const all = nibabelReports([...WRITTEN.map((k) => join(dir, k.file)), ...NIBABEL_FILES.map((n) => join(NIBABEL_DATA, n))]);
    cached = { written: all.slice(0, WRITTEN.length), own: all.slice(WRITTEN.length) };
    return cached;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const SKIP_NO_FILES = skipUnlessTool(SKIP_NO_NIBABEL || (!existsSync(NIBABEL_DATA) && `${NIBABEL_DATA} is absent`));

test('files written by coreg read the same in nibabel', { skip: SKIP_NO_FILES }, () => {
  const { written } = reports();
  WRITTEN.forEach((k, i) => {
    const nib = written[i];
    assert.deepEqual(nib.shape, k.shape, `${k.file} shape`);
    assert.equal(nib.dtype, k.dtype, `${k.file} dtype`);
    assert.equal(nib.intent, k.img.components > 1 ? 1007 : 0, `${k.file} intent`);
    compare(k.img, nib, k.file, k.version === 1 ? 1e-5 : 1e-12);
  });
});

test("nibabel's own test files read as nibabel reads them", { skip: SKIP_NO_FILES }, () => {
  const { own } = reports();
  NIBABEL_FILES.forEach((name, i) => {
    const warnings: string[] = [];
    const img = readNifti(readFileSync(join(NIBABEL_DATA, name)), { name, warn: (m) => warnings.push(m) });
    const nib = own[i];
    assert.deepEqual(img.size, nib.shape.slice(0, 3), `${name} size`);
    const extra = nib.shape.slice(3).reduce((a, b) => a * b, 1);
    assert.equal(img.components, extra, `${name} components`);
    assert.equal(warnings.length, extra > 1 ? 1 : 0, `${name} warnings: ${warnings.join(' | ')}`);
    compare(img, nib, name, 1e-4);
  });
});
