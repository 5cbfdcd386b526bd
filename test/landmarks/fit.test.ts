import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CoregError } from '../../src/errors.js';
import {
  fitAffine,
  fitLandmarks,
  fitRigid,
  fitSimilarity,
  iterativeClosestPoint,
  landmarkResiduals,
} from '../../src/landmarks/fit.js';
import { parseLandmarkPairs } from '../../src/landmarks/pairs.js';
import { parsePointSet } from '../../src/landmarks/point-io.js';
import { determinant, matMul } from '../../src/image/linalg.js';
import { Euler2DTransform, Euler3DTransform, Similarity2DTransform, Similarity3DTransform, AffineTransform } from '../../src/transform/linear.js';
import type { LinearTransform } from '../../src/transform/transform.js';
import { assertArrayClose, dataPath } from '../helpers.js';

/** Deterministic uniform numbers in [0, 1) (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomPoints(rand: () => number, n: number, d: number, extent = 100): number[][] {
  return Array.from({ length: n }, () => Array.from({ length: d }, () => (rand() * 2 - 1) * extent));
}

function randomRotation(rand: () => number, d: 2 | 3): Float64Array {
  if (d === 2) {
    const a = (rand() * 2 - 1) * Math.PI;
    return Float64Array.of(Math.cos(a), -Math.sin(a), Math.sin(a), Math.cos(a));
  }
  // Unit quaternion → rotation matrix.
  let w = rand() * 2 - 1;
  let x = rand() * 2 - 1;
  let y = rand() * 2 - 1;
  let z = rand() * 2 - 1;
  const n = Math.hypot(w, x, y, z);
  [w, x, y, z] = [w / n, x / n, y / n, z / n];
  return Float64Array.of(
    1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
    2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
    2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
  );
}

function apply(m: ArrayLike<number>, t: ArrayLike<number>, p: number[]): number[] {
  const d = p.length;
  return Array.from({ length: d }, (_, r) => {
    let s = t[r];
    for (let c = 0; c < d; c++) s += m[r * d + c] * p[c];
    return s;
  });
}

function centroid(points: number[][]): number[] {
  const d = points[0].length;
  return Array.from({ length: d }, (_, k) => points.reduce((s, p) => s + p[k], 0) / points.length);
}

function assertRecovers(t: LinearTransform, m: ArrayLike<number>, o: ArrayLike<number>, fixed: number[][], moving: number[][], what: string): void {
  assertArrayClose(t.matrix(), m, 1e-12, `${what} matrix`);
  assertArrayClose(t.offset(), o, 1e-9, `${what} offset`);
  const r = landmarkResiduals(t, fixed, moving);
  assert.ok(r.max <= 1e-9, `${what}: max residual ${r.max}`);
}

function throwsCoreg(fn: () => unknown, subject: string, message: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof CoregError, `expected CoregError, got ${String(e)}`);
    assert.equal(e.subject, subject);
    assert.match(e.message, message);
    assert.ok(!e.message.includes('\n'), 'one line');
    return true;
  });
}

for (const d of [2, 3] as const) {
  test(`${d}D: rigid, similarity and affine maps are recovered exactly from random correspondences`, () => {
    const rand = rng(17 + d);
    for (let trial = 0; trial < 20; trial++) {
      const fixed = randomPoints(rand, 6 + trial, d);
      const rot = randomRotation(rand, d);
      const shift = Array.from({ length: d }, () => (rand() * 2 - 1) * 50);

      const rigidMoving = fixed.map((p) => apply(rot, shift, p));
      const rigid = fitRigid(fixed, rigidMoving);
      assert.ok(rigid instanceof (d === 2 ? Euler2DTransform : Euler3DTransform));
      assertArrayClose(rigid.getCenter(), centroid(fixed), 1e-12, 'centre');
      assertRecovers(rigid, rot, shift, fixed, rigidMoving, `rigid trial ${trial}`);

      const scale = 0.5 + 1.5 * rand();
      const sm = rot.map((v) => v * scale);
      const simMoving = fixed.map((p) => apply(sm, shift, p));
      const sim = fitSimilarity(fixed, simMoving);
      assert.ok(sim instanceof (d === 2 ? Similarity2DTransform : Similarity3DTransform));
      assertRecovers(sim, sm, shift, fixed, simMoving, `similarity trial ${trial}`);

      const am = Float64Array.from({ length: d * d }, (_, i) => (i % (d + 1) === 0 ? 1 : 0) + (rand() * 2 - 1) * 0.4);
      const affMoving = fixed.map((p) => apply(am, shift, p));
      const aff = fitAffine(fixed, affMoving);
      assert.ok(aff instanceof AffineTransform);
      assertArrayClose(aff.getCenter(), centroid(fixed), 1e-12, 'affine centre');
      assertRecovers(aff, am, shift, fixed, affMoving, `affine trial ${trial}`);
    }
  });

  test(`${d}D: the minimum number of pairs already determines each fit`, () => {
    const rand = rng(5 + d);
    const rot = randomRotation(rand, d);
    const shift = [3, -4, 5].slice(0, d);
    const fixed3 = randomPoints(rand, d, d);
    assertRecovers(fitRigid(fixed3, fixed3.map((p) => apply(rot, shift, p))), rot, shift, fixed3, fixed3.map((p) => apply(rot, shift, p)), 'rigid minimum');
    const fixed4 = randomPoints(rand, d + 1, d);
    const am = Float64Array.from({ length: d * d }, (_, i) => (i % (d + 1) === 0 ? 1.2 : 0.1 * i));
    assertRecovers(fitAffine(fixed4, fixed4.map((p) => apply(am, shift, p))), am, shift, fixed4, fixed4.map((p) => apply(am, shift, p)), 'affine minimum');
  });
}

test('Kabsch reflection trap: coplanar 3D points are recovered as a proper rotation; mirrored data never gives a reflection', () => {
  const rand = rng(99);
  for (let trial = 0; trial < 20; trial++) {
    // Coplanar fixed points: H has a zero singular value, so U·Vᵀ alone is a reflection about half the time.
    const fixed = randomPoints(rand, 5, 2).map(([x, y]) => [x, y, 7]);
    const rot = randomRotation(rand, 3);
    const shift = [1, 2, 3];
    const moving = fixed.map((p) => apply(rot, shift, p));
    const t = fitRigid(fixed, moving);
    assertRecovers(t, rot, shift, fixed, moving, `coplanar trial ${trial}`);
  }
  // A mirror image: the best rigid fit is a rotation (det +1), leaving a real residual.
  const fixed = randomPoints(rand, 8, 3);
  const mirror = Float64Array.of(-1, 0, 0, 0, 1, 0, 0, 0, 1);
  const moving = fixed.map((p) => apply(mirror, [0, 0, 0], p));
  const t = fitRigid(fixed, moving);
  assert.ok(Math.abs(determinant(t.matrix(), 3) - 1) < 1e-12, 'proper rotation');
  const rt = matMul(t.matrix(), Float64Array.of(...t.matrix()).map((_, i, m) => m[(i % 3) * 3 + Math.floor(i / 3)]), 3, 3, 3);
  assertArrayClose(rt, [1, 0, 0, 0, 1, 0, 0, 0, 1], 1e-12, 'R·Rᵀ');
  assert.ok(landmarkResiduals(t, fixed, moving).mean > 1, 'a reflection cannot be fitted by a rotation');
  // 2D too: a mirrored triangle.
  const f2 = [[0, 0], [10, 0], [0, 5], [3, 3]];
  const t2 = fitRigid(f2, f2.map(([x, y]) => [-x, y]));
  assert.ok(Math.abs(determinant(t2.matrix(), 2) - 1) < 1e-12);
});

test('least squares with noise: the fits minimise the residual (perturbing the parameters never lowers it)', () => {
  const rand = rng(3);
  const fixed = randomPoints(rand, 12, 3);
  const moving = fixed.map((p) => p.map((v, k) => 1.1 * v + k + (rand() - 0.5)));
  for (const kind of ['rigid', 'similarity', 'affine'] as const) {
    const t = fitLandmarks(kind, fixed, moving) as Euler3DTransform;
    const sse = (tr: typeof t) => landmarkResiduals(tr, fixed, moving).rms;
    const best = sse(t);
    for (let k = 0; k < t.numberOfParameters; k++) {
      for (const h of [1e-4, -1e-4]) {
        const c = t.clone() as typeof t;
        const step = new Float64Array(t.numberOfParameters);
        step[k] = h;
        c.setParameters(t.parameters.map((v, i) => v + step[i]));
        assert.ok(sse(c) >= best - 1e-12, `${kind}: parameter ${k} ${h > 0 ? '+' : '-'} lowers the residual`);
      }
    }
  }
});

test('errors: unequal counts, too few pairs, degenerate sets, dimension mismatch, non-finite values', () => {
  const tri = [[0, 0], [1, 0], [0, 1]];
  throwsCoreg(() => fitRigid(tri, tri.slice(0, 2), { fixedName: 'f.csv', movingName: 'm.csv' }), 'm.csv', /has 2 points but f\.csv has 3/);
  throwsCoreg(() => fitAffine(tri.slice(0, 2), tri.slice(0, 2)), 'fixed points', /at least 3 point pairs in 2D, got 2/);
  throwsCoreg(() => fitRigid([[1, 2]], [[1, 2]]), 'fixed points', /at least 2 point pairs in 2D, got 1/);
  throwsCoreg(() => fitAffine([[0, 0, 0], [1, 0, 0], [0, 1, 0]], [[0, 0, 0], [1, 0, 0], [0, 1, 0]]), 'fixed points', /at least 4 point pairs in 3D/);
  throwsCoreg(() => fitAffine([[0, 0], [1, 1], [2, 2], [3, 3]], tri.concat([[1, 1]])), 'fixed points', /collinear/);
  const plane = [[0, 0, 1], [1, 0, 1], [0, 1, 1], [1, 1, 1], [2, 5, 1]];
  throwsCoreg(() => fitAffine(plane, plane), 'fixed points', /coplanar/);
  throwsCoreg(() => fitLandmarks('tps', plane, plane), 'fixed points', /coplanar/);
  throwsCoreg(() => fitRigid([[5, 5], [5, 5], [5, 5]], tri), 'fixed points', /coincide/);
  throwsCoreg(() => fitSimilarity(tri, [[5, 5], [5, 5], [5, 5]], { movingName: 'q.txt' }), 'q.txt', /coincide/);
  throwsCoreg(() => fitRigid([[0, 0, 0], [1, 1, 1], [2, 2, 2]], [[0, 0, 0], [1, 1, 1], [2, 2, 2]]), 'fixed points', /collinear/);
  throwsCoreg(() => fitRigid(tri, [[0, 0, 0], [1, 0, 0], [0, 1, 0]]), 'moving points', /3D points but fixed points holds 2D/);
  throwsCoreg(() => fitRigid([[0, 0], [1, NaN], [0, 1]], tri), 'fixed points', /point 2 has a non-finite/);
  throwsCoreg(() => fitLandmarks('tps', [[0, 0], [1, 0], [0, 1], [1, 0]], [[0, 0], [1, 0], [0, 1], [2, 0]]), 'fixed points', /points 2 and 4 coincide/);
});

test('ITK IterativeClosestPoint points: ordered fits give the translation (2,2); ICP finds it in shuffled, unpaired sets', () => {
  const fixedFile = dataPath('itk/IterativeClosestPointFixedPoints.txt');
  const movingFile = dataPath('itk/IterativeClosestPointMovingPoints.txt');
  const fixed = parsePointSet(readFileSync(fixedFile, 'utf8'), fixedFile).points;
  const moving = parsePointSet(readFileSync(movingFile, 'utf8'), movingFile).points;
  assert.equal(fixed.length, 8);
  for (const kind of ['rigid', 'similarity', 'affine'] as const) {
    const t = fitLandmarks(kind, fixed, moving) as LinearTransform;
    assertArrayClose(t.matrix(), [1, 0, 0, 1], 1e-12, `${kind} matrix`);
    assertArrayClose(t.offset(), [2, 2], 1e-9, `${kind} offset`);
  }
  const shuffled = [5, 2, 7, 0, 3, 6, 1, 4].map((i) => moving[i]);
  for (const initialization of ['identity', 'centroids'] as const) {
    const icp = iterativeClosestPoint(fixed, shuffled, 'rigid', { initialization });
    assert.ok(icp.converged);
    assertArrayClose(icp.transform.matrix(), [1, 0, 0, 1], 1e-12, `ICP ${initialization} matrix`);
    assertArrayClose(icp.transform.offset(), [2, 2], 1e-9, `ICP ${initialization} offset`);
    assert.ok(icp.rms < 1e-9);
    assert.deepEqual(Array.from(icp.matches, (j) => shuffled[j]), moving);
  }
});

test('ICP recovers a 3D rigid motion from an unordered, larger moving set', () => {
  const rand = rng(42);
  const fixed = randomPoints(rand, 40, 3);
  const a = (8 * Math.PI) / 180;
  const rot = Float64Array.of(Math.cos(a), -Math.sin(a), 0, Math.sin(a), Math.cos(a), 0, 0, 0, 1);
  const shift = [4, -3, 2];
  const moving = fixed.map((p) => apply(rot, shift, p));
  const extra = randomPoints(rand, 5, 3, 400).map((p) => p.map((v) => v + 1000)); // far-away outliers are never matched
  const shuffled = [...moving, ...extra].map((p, i) => ({ p, k: (i * 7919) % 45 })).sort((x, y) => x.k - y.k).map((x) => x.p);
  const icp = iterativeClosestPoint(fixed, shuffled, 'rigid', { initialization: 'identity' });
  assert.ok(icp.converged);
  assert.ok(icp.iterations > 1, 'needs more than one round of matching');
  assertArrayClose(icp.transform.matrix(), rot, 1e-12, 'ICP rotation');
  assertArrayClose(icp.transform.offset(), shift, 1e-9, 'ICP translation');
});

test('ITK LandmarkWarping2 pairs: tps passes through all five; affine is the least-squares solution of the normal equations', () => {
  const file = dataPath('itk/LandmarkWarping2Landmarks1.txt');
  const { dimension, fixed, moving } = parseLandmarkPairs(readFileSync(file, 'utf8'), file);
  assert.equal(dimension, 2);
  assert.deepEqual(fixed[4], [110, 128]);
  assert.deepEqual(moving[4], [130, 148]);
  const tps = fitLandmarks('tps', fixed, moving);
  assert.ok(landmarkResiduals(tps, fixed, moving).max <= 1e-9);
  // Independent check: solve [Σ p̂p̂ᵀ]·aᵣ = Σ p̂·qᵣ (p̂ = (x, y, 1)) with Cramer's rule.
  const s = [0, 1, 2].map((i) => [0, 1, 2].map((j) => fixed.reduce((acc, p) => acc + [p[0], p[1], 1][i] * [p[0], p[1], 1][j], 0)));
  const det3 = (m: number[][]) => m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
  const aff = fitAffine(fixed, moving);
  for (let r = 0; r < 2; r++) {
    const rhs = [0, 1, 2].map((i) => fixed.reduce((acc, p, k) => acc + [p[0], p[1], 1][i] * moving[k][r], 0));
    const sol = [0, 1, 2].map((c) => det3(s.map((row, i) => row.map((v, j) => (j === c ? rhs[i] : v)))) / det3(s));
    assertArrayClose([aff.matrix()[r * 2], aff.matrix()[r * 2 + 1], aff.offset()[r]], sol, 1e-9, `affine row ${r}`);
  }
  // The corners stay put only in the spline; the linear fits spread the centre's 28 mm move over all points.
  assert.ok(landmarkResiduals(aff, fixed, moving).max > 1);
});
