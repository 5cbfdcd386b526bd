import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createImage, type Image } from '../../src/image/image.js';
import { writeImageFile } from '../../src/io/node.js';
import { DisplacementFieldTransform } from '../../src/transform/displacement-field.js';
import { AffineTransform, TranslationTransform } from '../../src/transform/linear.js';
import { nodeTransformFiles } from '../../src/cli/transform-files.js';
import { CoregError } from '../../src/errors.js';
import { createBSplineTransformForImage } from '../../src/transform/bspline.js';
import { formatItkTransformFile } from '../../src/transform/itk-tfm.js';
import { assertArrayClose, assertClose } from '../helpers.js';
import { createChainInverse } from '../../src/transform/chain.js';
import { loadTransformChain } from '../../src/io/chain-io.js';
import { jacobianDeterminantImage, summarizeJacobian } from '../../src/transform/jacobian.js';

/** A smooth 2D field u(x) = (a·sin(y/7), b·cos(x/9)) on a 40×30 grid, spacing (1.5, 2), origin (−5, 3). */
function smoothField(a: number, b: number): Image {
  const f = createImage([40, 30], 'float32', { spacing: [1.5, 2], origin: [-5, 3], components: 2 });
  for (let j = 0; j < 30; j++) {
    for (let i = 0; i < 40; i++) {
      const x = -5 + 1.5 * i;
      const y = 3 + 2 * j;
      f.data[2 * (i + 40 * j)] = a * Math.sin(y / 7);
      f.data[2 * (i + 40 * j) + 1] = b * Math.cos(x / 9);
    }
  }
  return f;
}

test('displacement field: T(x) = x + u(x) at grid points, bilinear between, 0 outside', () => {
  const t = new DisplacementFieldTransform(smoothField(2, 3));
  const out = new Float64Array(2);
  t.transformPoint([-5 + 1.5 * 4, 3 + 2 * 5], out);
  assertArrayClose(out, [1 + Math.fround(2 * Math.sin(13 / 7)), 13 + Math.fround(3 * Math.cos(1 / 9))], 1e-6);
  t.transformPoint([1000, -50], out);
  assert.deepEqual(Array.from(out), [1000, -50]);
  assert.throws(() => new DisplacementFieldTransform(createImage([4, 4], 'float32', { components: 3 }), 'f.nii'), (e: unknown) => e instanceof CoregError && e.subject === 'f.nii');
});

test('displacement field round trip through a NIfTI vector image, as a register output folder chain', () => {
  const dir = mkdtempSync(join(tmpdir(), 'coreg-field-'));
  try {
    const field = smoothField(2, 3);
    writeImageFile(join(dir, 'field.nii.gz'), field);
    writeFileSync(join(dir, 'result.json'), JSON.stringify({ transforms: ['field.nii.gz'] }));
    const [fromFile] = loadTransformChain(join(dir, 'field.nii.gz'), nodeTransformFiles);
    const [fromDir] = loadTransformChain(dir, nodeTransformFiles);
    const direct = new DisplacementFieldTransform(field);
    const a = new Float64Array(2);
    const b = new Float64Array(2);
    const c = new Float64Array(2);
    for (const p of [[0, 10], [20.3, 40.7], [50, 60]]) {
      direct.transformPoint(p, a);
      fromFile.transformPoint(p, b);
      fromDir.transformPoint(p, c);
      assertArrayClose(b, a, 1e-9);
      assertArrayClose(c, a, 1e-9);
    }
    assert.equal(fromDir.kind, 'displacement-field');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('inverse by fixed-point iteration: T(T⁻¹(y)) = y to 1e-6 mm, also inside a mixed chain', () => {
  const t = new DisplacementFieldTransform(smoothField(2, 3));
  const x = new Float64Array(2);
  const y = new Float64Array(2);
  for (const p of [[10, 20], [30.5, 41.2], [0, 5]]) {
    assert.ok(t.inverseTransformPoint(p, x));
    t.transformPoint(x, y);
    assertArrayClose(y, p, 1e-6);
  }
  const pre = new AffineTransform(2);
  pre.setParameters([1.1, 0.1, -0.05, 0.95, 2, -1]);
  const post = new TranslationTransform(2);
  post.setParameters([3, 4]);
  const chain = [pre, t, post];
  const inverse = createChainInverse(chain);
  const tmp = new Float64Array(2);
  for (const p of [[12, 25], [30, 30]]) {
    assert.ok(inverse(p, x));
    pre.transformPoint(x, y);
    t.transformPoint(y, tmp);
    post.transformPoint(tmp, y);
    assertArrayClose(y, p, 2e-6);
  }
  // A field that folds (|∂u/∂x| > 1) does not converge, and says so.
  const folding = createImage([20, 20], 'float32', { components: 2 });
  for (let j = 0; j < 20; j++) for (let i = 0; i < 20; i++) folding.data[2 * (i + 20 * j)] = 3 * Math.sin(i);
  assert.equal(new DisplacementFieldTransform(folding).inverseTransformPoint([9.3, 9], x), false);
});

test('Jacobian determinant: constant for linear chains, det(I + ∂u/∂x) for a field', () => {
  const grid = createImage([12, 10, 6], 'uint8', { spacing: [1, 2, 0.5] });
  const scale = new AffineTransform(3);
  scale.setParameters([2, 0, 0, 0, 3, 0, 0, 0, 0.5, 1, 2, 3]);
  const det = jacobianDeterminantImage([scale], grid);
  assert.ok(det.data.every((v) => v === 3));
  // u = (0.1·x, −0.2·y) on a 2D grid: det = 1.1 · 0.8 everywhere inside (field grid larger than the reference).
  const f = createImage([30, 30], 'float32', { origin: [-5, -5], components: 2 });
  for (let j = 0; j < 30; j++) {
    for (let i = 0; i < 30; i++) {
      f.data[2 * (i + 30 * j)] = 0.1 * (i - 5);
      f.data[2 * (i + 30 * j) + 1] = -0.2 * (j - 5);
    }
  }
  const ref = createImage([15, 12], 'uint8', { spacing: [1.5, 1] });
  const s = summarizeJacobian(jacobianDeterminantImage([new DisplacementFieldTransform(f)], ref).data);
  assertClose(s.min, 0.88, 1e-5);
  assertClose(s.max, 0.88, 1e-5);
  assert.equal(s.foldedCount, 0);
  const folded = summarizeJacobian(Float32Array.from([1, -1, 0, 2]));
  assert.deepEqual([folded.foldedCount, folded.foldedPercent], [2, 50]);
});

test('a B-spline .tfm in a chain loads and inverts iteratively', () => {
  const dir = mkdtempSync(join(tmpdir(), 'coreg-bspline-'));
  try {
    const grid = createImage([40, 40], 'uint8');
    const b = createBSplineTransformForImage(grid, 10);
    const p = new Float64Array(b.numberOfParameters);
    for (let i = 0; i < p.length; i++) p[i] = 0.8 * Math.sin(i);
    b.setParameters(p);
    writeFileSync(join(dir, 'b.tfm'), formatItkTransformFile([b]));
    const [loaded] = loadTransformChain(join(dir, 'b.tfm'), nodeTransformFiles);
    const a = new Float64Array(2);
    const c = new Float64Array(2);
    b.transformPoint([12.5, 20], a);
    loaded.transformPoint([12.5, 20], c);
    assertArrayClose(c, a, 1e-9);
    const x = new Float64Array(2);
    assert.ok(createChainInverse([loaded])(a, x));
    assertArrayClose(x, [12.5, 20], 1e-5);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('addDisplacementRow3d maps a row of points as transformPoint maps each (bit for bit, inside and outside the domain)', () => {
  const field = createImage([7, 6, 5], 'float32', { components: 3, spacing: [1.5, 2, 0.8], origin: [-3, 4, 1], direction: [0.8, 0.6, 0, -0.6, 0.8, 0, 0, 0, 1] });
  for (let i = 0; i < field.data.length; i++) field.data[i] = Math.sin(i * 1.7) * 2.5;
  const t = new DisplacementFieldTransform(field, 'f');
  const n = 200;
  const x = new Float64Array(n);
  const y = new Float64Array(n);
  const z = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    x[i] = -12 + 0.13 * i;
    y[i] = -2 + 0.11 * i;
    z[i] = -1 + 0.037 * i;
  }
  const want = new Float64Array(3 * n);
  const q = new Float64Array(3);
  let outside = 0;
  for (let i = 0; i < n; i++) {
    t.transformPoint([x[i], y[i], z[i]], q);
    if (q[0] === x[i] && q[1] === y[i] && q[2] === z[i]) outside++;
    want.set(q, 3 * i);
  }
  assert.ok(outside > 10 && outside < n - 10, `${outside} of ${n} points outside the field`);
  t.addDisplacementRow3d(x, y, z, n);
  for (let i = 0; i < n; i++) assert.deepEqual([x[i], y[i], z[i]], [want[3 * i], want[3 * i + 1], want[3 * i + 2]], `point ${i}`);
});
