// Files written by other tools, committed under test/fixtures (see its README.md for where each came from), so
// these checks run in a fresh clone without ../shared/data and without the tools installed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { indexToPhysical } from '../../src/image/image.js';
import { readMetaImage } from '../../src/io/metaimage.js';
import { BSplineTransform } from '../../src/transform/bspline.js';
import { parseItkTransformFile } from '../../src/transform/itk-tfm.js';
import { AffineTransform, VersorRigid3DTransform } from '../../src/transform/linear.js';
import { FIXTURES } from '../helpers.js';

const DIR = join(FIXTURES, 'plastimatch');

for (const [name, type] of [
  ['rigid', VersorRigid3DTransform],
  ['affine', AffineTransform],
] as const) {
  test(`plastimatch's ITK-written ${name}.tfm maps every voxel of its ITK-written field as plastimatch does`, () => {
    const [t, ...rest] = parseItkTransformFile(readFileSync(join(DIR, `${name}.tfm`), 'utf8'), `${name}.tfm`);
    assert.equal(rest.length, 0);
    assert.ok(t instanceof type, `${name}.tfm reads as ${type.name}`);
    // u(x) = T(x) − x, computed by plastimatch (ITK) on its reference grid and written as a vector MetaImage.
    const field = readMetaImage(readFileSync(join(DIR, `${name}-vf.mha`)), { name: `${name}-vf.mha` });
    assert.equal(field.components, 3);
    assert.deepEqual(field.size, [6, 5, 4]);
    const [nx, ny, nz] = field.size;
    const y = new Float64Array(3);
    let worst = 0;
    let largest = 0;
    for (let k = 0; k < nz; k++) {
      for (let j = 0; j < ny; j++) {
        for (let i = 0; i < nx; i++) {
          const x = indexToPhysical(field, [i, j, k]);
          t.transformPoint(x, y);
          const at = 3 * (i + nx * (j + ny * k));
          for (let a = 0; a < 3; a++) {
            const u = field.data[at + a];
            largest = Math.max(largest, Math.abs(u));
            worst = Math.max(worst, Math.abs(y[a] - x[a] - u));
          }
        }
      }
    }
    assert.ok(largest > 0.5, `the transform moves points (largest displacement ${largest} mm)`);
    assert.ok(worst < 1e-4, `coreg and plastimatch differ by up to ${worst} mm`);
  });
}

test("plastimatch's ITK-written B-spline .tfm maps points as scipy evaluates its coefficients", () => {
  const [t, ...rest] = parseItkTransformFile(readFileSync(join(DIR, 'bspline.tfm'), 'utf8'), 'bspline.tfm');
  assert.equal(rest.length, 0);
  assert.ok(t instanceof BSplineTransform);
  assert.equal(t.itkClassName, 'BSplineDeformableTransform');
  // u = Σ c_k β³(g(x) − k) by scipy.ndimage.map_coordinates(order=3, prefilter=False) (make.sh).
  const { points, displacements } = JSON.parse(readFileSync(join(DIR, 'bspline-points.json'), 'utf8')) as { points: number[][]; displacements: number[][] };
  assert.equal(points.length, 40);
  const y = new Float64Array(3);
  let worst = 0;
  let largest = 0;
  for (let n = 0; n < points.length; n++) {
    t.transformPoint(points[n], y);
    for (let a = 0; a < 3; a++) {
      largest = Math.max(largest, Math.abs(displacements[n][a]));
      worst = Math.max(worst, Math.abs(y[a] - points[n][a] - displacements[n][a]));
    }
  }
  assert.ok(largest > 0.5, `the transform moves points (largest displacement ${largest} mm)`);
  assert.ok(worst < 1e-9, `coreg and scipy differ by up to ${worst} mm`);
});
