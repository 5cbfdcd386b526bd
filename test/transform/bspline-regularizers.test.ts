import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BSplineTransform, type BSplineGridSpec } from '../../src/transform/bspline.js';
import { bendingEnergy, bsplineSamplePoints, jacobianDeterminantPenalty } from '../../src/transform/bspline-regularizers.js';
import { assertClose } from '../helpers.js';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return ((z ^ (z >>> 14)) >>> 0) / 4294967296;
  };
}

const c30 = Math.cos(Math.PI / 6);
const s30 = Math.sin(Math.PI / 6);
const SPEC2: BSplineGridSpec = { dimension: 2, gridSize: [6, 5], gridOrigin: [-10, 4], gridSpacing: [7, 5], gridDirection: [c30, -s30, s30, c30] };
const SPEC3: BSplineGridSpec = { dimension: 3, gridSize: [5, 4, 5], gridOrigin: [2, -3, 1], gridSpacing: [6, 8, 5], gridDirection: [c30, 0, s30, 0, 1, 0, -s30, 0, c30] };

function randomTransform(spec: BSplineGridSpec, seed: number, amplitude: number): BSplineTransform {
  const t = new BSplineTransform(spec);
  const r = rng(seed);
  for (let i = 0; i < t.numberOfParameters; i++) t.parameters[i] = amplitude * (2 * r() - 1);
  return t;
}

/** Physical position of control point k (linear index). */
function controlPoint(t: BSplineTransform, k: number): number[] {
  const d = t.dimension;
  const idx: number[] = [];
  let rest = k;
  for (let a = 0; a < d; a++) {
    idx.push(rest % t.gridSize[a]);
    rest = Math.floor(rest / t.gridSize[a]);
  }
  const p: number[] = [];
  for (let r = 0; r < d; r++) {
    let s = t.gridOrigin[r];
    for (let c = 0; c < d; c++) s += t.gridDirection[r * d + c] * t.gridSpacing[c] * idx[c];
    p.push(s);
  }
  return p;
}

/** Random physical points inside the domain (a few), interleaved. */
function samplePoints(t: BSplineTransform, count: number, seed: number): Float64Array {
  const r = rng(seed);
  const d = t.dimension;
  const out = new Float64Array(count * d);
  for (let n = 0; n < count; n++) {
    const g = t.gridSize.map((s) => 1 + r() * (s - 3));
    for (let row = 0; row < d; row++) {
      let s = t.gridOrigin[row];
      for (let c = 0; c < d; c++) s += t.gridDirection[row * d + c] * t.gridSpacing[c] * g[c];
      out[n * d + row] = s;
    }
  }
  return out;
}

type Regulariser = (t: BSplineTransform, grad: Float64Array | null) => number;

function checkGradient(t: BSplineTransform, f: Regulariser, what: string, h: number, tol: number, columns = 40): void {
  const grad = new Float64Array(t.numberOfParameters);
  const value = f(t, grad);
  assert.equal(f(t, null), value, `${what}: value without gradient`);
  const r = rng(7);
  let nonzero = 0;
  for (let n = 0; n < columns; n++) {
    const i = n < t.numberOfParameters ? n : Math.floor(r() * t.numberOfParameters);
    const save = t.parameters[i];
    t.parameters[i] = save + h;
    const plus = f(t, null);
    t.parameters[i] = save - h;
    const minus = f(t, null);
    t.parameters[i] = save;
    const fd = (plus - minus) / (2 * h);
    assertClose(grad[i], fd, tol * Math.max(1, Math.abs(fd)), `${what} ∂/∂θ${i}`);
    if (grad[i] !== 0) nonzero++;
  }
  assert.ok(nonzero > columns / 4, `${what}: gradient is mostly non-zero (${nonzero})`);
}

test('bending energy of an affine displacement is 0 (exact and sampled, 2D and 3D, rotated grids)', () => {
  for (const spec of [SPEC2, SPEC3]) {
    const t = new BSplineTransform(spec);
    const d = t.dimension;
    const nc = t.numberOfControlPoints;
    const a = d === 2 ? [0.1, -0.2, 0.05, 0.3] : [0.1, -0.2, 0.05, 0.3, 0.02, -0.1, 0.07, 0.2, -0.15];
    for (let k = 0; k < nc; k++) {
      const p = controlPoint(t, k);
      for (let r = 0; r < d; r++) {
        let s = 4 - r;
        for (let c = 0; c < d; c++) s += a[r * d + c] * p[c];
        t.parameters[r * nc + k] = s;
      }
    }
    // The B-spline reproduces the affine map inside the domain.
    const pts = samplePoints(t, 30, 1);
    const q = new Float64Array(d);
    for (let n = 0; n < 30; n++) {
      const p = pts.subarray(n * d, n * d + d);
      t.transformPoint(p, q);
      for (let r = 0; r < d; r++) {
        let s = p[r] + 4 - r;
        for (let c = 0; c < d; c++) s += a[r * d + c] * p[c];
        assertClose(q[r], s, 1e-9, 'affine reproduction');
      }
    }
    const grad = new Float64Array(t.numberOfParameters);
    assertClose(bendingEnergy(t, null, grad), 0, 1e-15, `${d}D exact`);
    for (const g of grad) assertClose(g, 0, 1e-12, 'exact gradient');
    assertClose(bendingEnergy(t, pts, grad), 0, 1e-15, `${d}D sampled`);
  }
});

test('bending energy of u = α·(x − o)² along a grid axis is 4α² (exact and sampled)', () => {
  // Quadratic reproduction: Σ_k (k² − 1/3) β³(g − k) = g².
  for (const spec of [
    { dimension: 2 as const, gridSize: [7, 5], gridOrigin: [1, 2], gridSpacing: [4, 3] },
    { dimension: 3 as const, gridSize: [6, 4, 5], gridOrigin: [1, 2, 3], gridSpacing: [4, 3, 5] },
  ]) {
    const t = new BSplineTransform(spec);
    const alpha = 0.03;
    const s = spec.gridSpacing[0];
    for (let k = 0; k < t.numberOfControlPoints; k++) {
      const kx = k % spec.gridSize[0];
      t.parameters[k] = alpha * s * s * (kx * kx - 1 / 3);
    }
    assertClose(bendingEnergy(t, null, null), 4 * alpha * alpha, 1e-15, 'exact');
    assertClose(bendingEnergy(t, samplePoints(t, 25, 2), null), 4 * alpha * alpha, 1e-15, 'sampled');
  }
});

/** Midpoints of a lattice of `perCell` samples per grid cell and axis over the domain, interleaved. */
function midpointLattice(t: BSplineTransform, perCell: number): Float64Array {
  const d = t.dimension;
  const counts = t.gridSize.map((n) => (n - 3) * perCell);
  const total = counts.reduce((p, v) => p * v, 1);
  const pts = new Float64Array(total * d);
  for (let n = 0; n < total; n++) {
    let rest = n;
    const g: number[] = [];
    for (let a = 0; a < d; a++) {
      g.push(1 + ((rest % counts[a]) + 0.5) / perCell);
      rest = Math.floor(rest / counts[a]);
    }
    for (let r = 0; r < d; r++) {
      let s = t.gridOrigin[r];
      for (let c = 0; c < d; c++) s += t.gridDirection[r * d + c] * t.gridSpacing[c] * g[c];
      pts[n * d + r] = s;
    }
  }
  return pts;
}

test('exact bending energy equals the domain mean of the sampled one (midpoint rule + Richardson)', () => {
  // A sheared (non-orthogonal) grid exercises the cross terms between different second derivatives.
  const sheared: BSplineGridSpec = { ...SPEC2, gridDirection: [1, Math.sin(0.35), 0, Math.cos(0.35)] };
  for (const [spec, perCell] of [[SPEC2, 12], [SPEC3, 6], [sheared, 12]] as const) {
    const t = randomTransform(spec, 11, 2);
    const exact = bendingEnergy(t, null, null);
    const coarse = bendingEnergy(t, midpointLattice(t, perCell), null);
    const fine = bendingEnergy(t, midpointLattice(t, 2 * perCell), null);
    assert.ok(exact > 0);
    // The midpoint rule's error is O(h²): extrapolating removes it, leaving O(h⁴).
    const extrapolated = (4 * fine - coarse) / 3;
    assertClose(extrapolated, exact, 1e-4 * exact, `${t.dimension}D extrapolated midpoint rule`);
    assert.ok(Math.abs(fine - exact) < Math.abs(coarse - exact), 'converges');
    checkGradient(t, (tt, g) => bendingEnergy(tt, null, g), `${t.dimension}D exact bending gradient`, 1e-3, 1e-7);
  }
});

test('regulariser gradients match finite differences (2D and 3D)', () => {
  for (const [spec, seed] of [[SPEC2, 21], [SPEC3, 22]] as const) {
    const t = randomTransform(spec, seed, 2);
    const d = t.dimension;
    checkGradient(t, (tt, g) => bendingEnergy(tt, null, g), `${d}D exact bending`, 1e-3, 1e-7);
    const pts = samplePoints(t, 40, seed);
    checkGradient(t, (tt, g) => bendingEnergy(tt, pts, g), `${d}D sampled bending`, 1e-3, 1e-7);
    // Strong enough to fold somewhere, and an ε that makes many samples active.
    const folding = randomTransform(spec, seed + 1, 6);
    const value = jacobianDeterminantPenalty(folding, null, null, 0.8);
    assert.ok(value > 0, 'some samples are below ε');
    checkGradient(folding, (tt, g) => jacobianDeterminantPenalty(tt, null, g, 0.8), `${d}D det penalty (lattice)`, 1e-6, 1e-5);
    checkGradient(folding, (tt, g) => jacobianDeterminantPenalty(tt, pts, g, 0.8), `${d}D det penalty (points)`, 1e-6, 1e-5);
  }
});

test('determinant penalty: zero for the identity, positive and matching the definition when folded', () => {
  for (const spec of [SPEC2, SPEC3]) {
    const t = new BSplineTransform(spec);
    const d = t.dimension;
    const grad = new Float64Array(t.numberOfParameters).fill(3);
    assert.equal(jacobianDeterminantPenalty(t, null, grad), 0);
    assert.ok(grad.every((v) => v === 0));
    const pts = bsplineSamplePoints(t);
    const lattice = t.gridSize.reduce((p, n) => p * (2 * (n - 3) + 1), 1);
    assert.equal(pts.length, lattice * d);
    for (let n = 0; n < lattice; n++) assert.ok(t.isInside(pts.subarray(n * d, n * d + d)), 'sample points lie in the domain');
    const folded = randomTransform(spec, 5, 8);
    let expected = 0;
    for (let n = 0; n < lattice; n++) {
      const det = folded.jacobianDeterminant(pts.subarray(n * d, n * d + d));
      expected += Math.max(0, 0.2 - det) ** 2;
    }
    expected /= lattice;
    assert.ok(expected > 0);
    assertClose(jacobianDeterminantPenalty(folded, null, null, 0.2), expected, 1e-12 * Math.max(1, expected), 'definition');
  }
});

test('regulariser argument errors', () => {
  const t = new BSplineTransform(SPEC2);
  assert.throws(() => bendingEnergy(t, null, new Float64Array(3)), RangeError);
  assert.throws(() => bendingEnergy(t, new Float64Array(3), null), RangeError);
  assert.throws(() => jacobianDeterminantPenalty(t, new Float64Array(0), null), /at least one sample point/);
});
