// BSplineTransform.separableSupports / supportBases (the batched paths of the registration cost) against the
// per-point separableSupport: same bases, the same weights bit for bit, −1 outside the domain (NaN included).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BSplineTransform } from '../../src/transform/bspline.js';
import { bsplineSupportBases, bsplineSupports } from '../../src/transform/bspline-supports.js';

function rotation3d(a: number): number[] {
  const c = Math.cos(a);
  const s = Math.sin(a);
  return [c, -s, 0, s, c, 0, 0, 0, 1];
}

/** Points at uniform random continuous grid indices in [−0.5, size − 0.5] per axis (about half in the domain). */
function gridPoints(t: BSplineTransform, n: number, seed: number): Float64Array {
  const d = t.dimension;
  let s = seed;
  const rnd = (): number => (s = (s * 16807) % 2147483647) / 2147483647;
  const points = new Float64Array(d * n);
  const g = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    for (let a = 0; a < d; a++) g[a] = -0.5 + t.gridSize[a] * rnd();
    for (let r = 0; r < d; r++) {
      let v = t.gridOrigin[r];
      for (let c = 0; c < d; c++) v += t.gridDirection[r * d + c] * t.gridSpacing[c] * g[c];
      points[d * i + r] = v;
    }
  }
  return points;
}

function check(t: BSplineTransform, points: Float64Array, weightType: 'float32' | 'float64'): void {
  const d = t.dimension;
  const n = points.length / d;
  const bases = new Int32Array(n);
  const cells = new Int32Array(n);
  const W = weightType === 'float32' ? new Float32Array(4 * d * n) : new Float64Array(4 * d * n);
  bsplineSupports(t, points, n, bases, W);
  bsplineSupportBases(t, points, n, cells);
  const one = weightType === 'float32' ? new Float32Array(4 * d) : new Float64Array(4 * d);
  let inside = 0;
  let outside = 0;
  for (let i = 0; i < n; i++) {
    const base = t.separableSupport(points.subarray(d * i, d * i + d), one);
    assert.equal(bases[i], base, `base of point ${i}`);
    assert.equal(cells[i], base, `supportBases of point ${i}`);
    if (base < 0) {
      outside++;
      continue;
    }
    inside++;
    for (let k = 0; k < 4 * d; k++) assert.equal(W[4 * d * i + k], one[k], `weight ${k} of point ${i}`);
  }
  // The points straddle the domain: both branches ran.
  assert.ok(inside > n / 10 && outside > 0, `${inside} inside, ${outside} outside`);
}

test('3D separableSupports and supportBases equal separableSupport per point (oblique grid, float32 and float64 weights)', () => {
  const t = new BSplineTransform({ dimension: 3, gridSize: [7, 6, 8], gridOrigin: [-3, 2, 1], gridSpacing: [4, 5, 3.5], gridDirection: rotation3d(0.3) });
  const points = gridPoints(t, 400, 7);
  points[0] = NaN;
  check(t, points, 'float32');
  check(t, points, 'float64');
});

test('2D separableSupports and supportBases equal separableSupport per point', () => {
  const t = new BSplineTransform({ dimension: 2, gridSize: [9, 5], gridOrigin: [1, -2], gridSpacing: [3, 6], gridDirection: [0.8, -0.6, 0.6, 0.8] });
  const points = gridPoints(t, 300, 11);
  check(t, points, 'float32');
  check(t, points, 'float64');
});
