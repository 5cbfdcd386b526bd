// Interoperability with plastimatch 1.9 (Debian `plastimatch`), an independent ITK-based resampler: the moving
// image warped by plastimatch through coreg's transform files must match `coreg apply` through the same files —
// a B-spline .tfm (written under ITK v3's BSplineDeformableTransform name, which plastimatch reads), the same
// deformation as a displacement-field NIfTI, and an affine .tfm. 3D only (plastimatch works on volumes).
// Skips with a message when plastimatch is not installed.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../src/cli/main.js';
import { createImage, indexToPhysical, sameGrid, type Image } from '../../src/image/image.js';
import { readImageFile, writeImageFile } from '../../src/io/node.js';
import { fieldImage } from '../../src/transform/dense-field.js';
import { BSplineTransform } from '../../src/transform/bspline.js';
import { formatItkTransformFile } from '../../src/transform/itk-tfm.js';
import { AffineTransform } from '../../src/transform/linear.js';
import { bsplineDisplacementField } from '../../src/transform/bspline-field.js';

const PLASTIMATCH: string | false = (() => {
  const r = spawnSync('plastimatch', ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? 'plastimatch' : false;
})();
const SKIP = PLASTIMATCH ? false : 'plastimatch is not installed (Debian: apt-get install plastimatch)';

const DIR = mkdtempSync(join(tmpdir(), 'coreg-plastimatch-'));
after(() => rmSync(DIR, { recursive: true, force: true }));

/** A smooth volume with structure everywhere (intensities ~10…110). */
function sceneValue(p: ArrayLike<number>): number {
  let v = 10;
  const blobs = [
    [8, 10, 9, 4, 90],
    [20, 9, 12, 3.5, 70],
    [14, 19, 8, 4.5, 80],
    [9, 20, 18, 3, 60],
    [22, 21, 19, 3.5, 50],
    [15, 14, 15, 5, 40],
  ];
  for (const [x, y, z, s, a] of blobs) v += a * Math.exp(-((p[0] - x) ** 2 + (p[1] - y) ** 2 + (p[2] - z) ** 2) / (2 * s * s));
  return v + 6 * Math.sin(0.4 * p[0]) * Math.cos(0.3 * p[1] + 0.5 * p[2]);
}

/** Fixed grid: anisotropic spacing and a non-zero origin (identity direction). Moving grid: its own geometry. */
const FIXED = createImage([22, 20, 18], 'float32', { spacing: [1.25, 1.5, 1], origin: [1.5, -0.5, 2] });
const MOVING: Image = (() => {
  const img = createImage([26, 25, 22], 'float32', { spacing: [1.1, 1.05, 1.2], origin: [-1, -1.5, -0.5] });
  const [nx, ny, nz] = img.size;
  for (let k = 0; k < nz; k++) for (let j = 0; j < ny; j++) for (let i = 0; i < nx; i++) img.data[i + nx * (j + ny * k)] = sceneValue(indexToPhysical(img, [i, j, k]));
  return img;
})();
const FIXED_PATH = join(DIR, 'fixed.mha');
const MOVING_PATH = join(DIR, 'moving.mha');
writeImageFile(FIXED_PATH, FIXED);
writeImageFile(MOVING_PATH, MOVING);

/**
 * A B-spline over the fixed image with smooth random displacements up to 2 mm, its control points on fixed voxel
 * centres (control point 1 at the fixed origin, grid spacing 6 voxels): plastimatch converts an ITK B-spline to its
 * own representation, whose knots sit on voxels, and only reproduces it exactly when the grid is aligned so
 * (with an unaligned 8 mm grid its field differs from ITK's formula by up to 0.3 mm).
 */
function makeBSpline(): BSplineTransform {
  const d = 3;
  const gridSpacing = FIXED.spacing.map((s) => 6 * s);
  const gridSize = FIXED.size.map((n, a) => Math.ceil(((n - 1) * FIXED.spacing[a]) / gridSpacing[a]) + 3);
  const gridOrigin = FIXED.origin.map((o, a) => o - gridSpacing[a]);
  const bs = new BSplineTransform({ dimension: d, gridSize, gridOrigin, gridSpacing });
  let seed = 17;
  const rnd = (): number => (seed = (seed * 16807) % 2147483647) / 2147483647;
  const p = new Float64Array(bs.numberOfParameters);
  for (let i = 0; i < p.length; i++) p[i] = 2 * (2 * rnd() - 1);
  bs.setParameters(p);
  return bs;
}

async function coregApply(transform: string, out: string): Promise<Image> {
  let stderr = '';
  const code = await run(['apply', '--reference', FIXED_PATH, '--moving', MOVING_PATH, '--transform', transform, '--out', out], {
    stdout: { write: () => undefined },
    stderr: { write: (s: string) => (stderr += s) },
  });
  assert.equal(code, 0, stderr);
  return readImageFile(out);
}

function plastimatchWarp(xf: string, out: string): Image {
  const r = spawnSync(PLASTIMATCH as string, ['warp', '--input', MOVING_PATH, '--xf', xf, '--fixed', FIXED_PATH, '--output-img', out, '--interpolation', 'linear', '--default-value', '0', '--output-type', 'float'], {
    encoding: 'utf8',
    timeout: 20_000,
  });
  assert.equal(r.status, 0, `plastimatch warp failed: ${r.stderr}${r.stdout}`);
  return readImageFile(out);
}

/**
 * Largest |coreg − plastimatch| over voxels where both are well inside the moving image (both non-zero and not next
 * to a zero voxel: at the moving image's edge the two may disagree on "inside" by a rounding), and the count.
 */
function compare(a: Image, b: Image): { max: number; compared: number } {
  assert.ok(sameGrid(a, b), 'outputs are on different grids');
  const [nx, ny, nz] = a.size;
  let max = 0;
  let compared = 0;
  const zeroNear = (img: Image, i: number, j: number, k: number): boolean => {
    for (let dk = -1; dk <= 1; dk++)
      for (let dj = -1; dj <= 1; dj++)
        for (let di = -1; di <= 1; di++) {
          const x = i + di;
          const y = j + dj;
          const z = k + dk;
          if (x < 0 || y < 0 || z < 0 || x >= nx || y >= ny || z >= nz) continue;
          if (img.data[x + nx * (y + ny * z)] === 0) return true;
        }
    return false;
  };
  for (let k = 0; k < nz; k++)
    for (let j = 0; j < ny; j++)
      for (let i = 0; i < nx; i++) {
        if (zeroNear(a, i, j, k) || zeroNear(b, i, j, k)) continue;
        const v = i + nx * (j + ny * k);
        max = Math.max(max, Math.abs(a.data[v] - b.data[v]));
        compared++;
      }
  return { max, compared };
}

// Tolerance: 1e-3 on intensities of ~10…110 (both resample linearly in float32; a convention error moves the
// sampled point by ≥ 1 voxel and shows as differences of several units).
const TOLERANCE = 1e-3;

function assertSame(a: Image, b: Image, what: string): void {
  const { max, compared } = compare(a, b);
  assert.ok(compared > 0.6 * a.data.length, `${what}: only ${compared} of ${a.data.length} voxels compared`);
  assert.ok(max <= TOLERANCE, `${what}: coreg apply and plastimatch warp differ by up to ${max} (tolerance ${TOLERANCE}) over ${compared} voxels`);
}

test('plastimatch warp with coreg\'s B-spline .tfm (BSplineDeformableTransform) matches coreg apply', { skip: SKIP }, async () => {
  const bs = makeBSpline();
  const tfm = join(DIR, 'bspline.tfm');
  const data = bs.toItkTransform({ formatAs: 'BSplineDeformableTransform' });
  assert.equal(data.type, 'BSplineDeformableTransform_double_3_3');
  bs.itkClassName = 'BSplineDeformableTransform';
  writeFileSync(tfm, formatItkTransformFile([bs]));
  const ours = await coregApply(tfm, join(DIR, 'coreg-bspline.mha'));
  const theirs = plastimatchWarp(tfm, join(DIR, 'plastimatch-bspline.mha'));
  assertSame(ours, theirs, 'B-spline .tfm');
});

test('plastimatch warp with coreg\'s displacement-field NIfTI matches coreg apply', { skip: SKIP }, async () => {
  const bs = makeBSpline();
  const field = join(DIR, 'field.nii.gz');
  writeImageFile(field, fieldImage(bsplineDisplacementField(bs, FIXED), FIXED));
  const ours = await coregApply(field, join(DIR, 'coreg-field.mha'));
  const theirs = plastimatchWarp(field, join(DIR, 'plastimatch-field.mha'));
  assertSame(ours, theirs, 'displacement field');
});

test('plastimatch warp with coreg\'s affine .tfm matches coreg apply', { skip: SKIP }, async () => {
  const affine = new AffineTransform(3);
  affine.setCenter([14, 12, 14]);
  affine.setParameters([1.03, 0.05, -0.02, -0.04, 0.98, 0.06, 0.03, -0.05, 1.02, 1.2, -0.7, 0.9]);
  const tfm = join(DIR, 'affine.tfm');
  writeFileSync(tfm, formatItkTransformFile([affine]));
  const ours = await coregApply(tfm, join(DIR, 'coreg-affine.mha'));
  const theirs = plastimatchWarp(tfm, join(DIR, 'plastimatch-affine.mha'));
  assertSame(ours, theirs, 'affine .tfm');
});
