import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  barycentric2d,
  barycentric3d,
  bspline2d,
  bspline3d,
  bsplineCoefficients,
  linear2d,
  linear3d,
  nearestIndex2d,
  nearestIndex3d,
} from '../../src/interpolate/index.js';
import { assertClose } from '../helpers.js';

/** Deterministic uniform [0, 1) numbers (mulberry32). */
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

function plane2d(nx: number, ny: number, f: (x: number, y: number) => number): Float64Array {
  const a = new Float64Array(nx * ny);
  for (let y = 0; y < ny; y++) for (let x = 0; x < nx; x++) a[x + nx * y] = f(x, y);
  return a;
}

function plane3d(nx: number, ny: number, nz: number, f: (x: number, y: number, z: number) => number): Float64Array {
  const a = new Float64Array(nx * ny * nz);
  for (let z = 0; z < nz; z++) for (let y = 0; y < ny; y++) for (let x = 0; x < nx; x++) a[x + nx * (y + ny * z)] = f(x, y, z);
  return a;
}

/** Nearest neighbour as a value kernel over nearestIndex2d/3d (NaN and a zero gradient outside). */
function nearest2d(d: Float64Array, nx: number, ny: number, x: number, y: number, g?: Float64Array): number {
  const n = nearestIndex2d(nx, ny, x, y);
  g?.fill(0);
  return n < 0 ? NaN : d[n];
}
function nearest3d(d: Float64Array, nx: number, ny: number, nz: number, x: number, y: number, z: number, g?: Float64Array): number {
  const n = nearestIndex3d(nx, ny, nz, x, y, z);
  g?.fill(0);
  return n < 0 ? NaN : d[n];
}

type K2 = (d: Float64Array, nx: number, ny: number, x: number, y: number, g?: Float64Array) => number;
type K3 = (d: Float64Array, nx: number, ny: number, nz: number, x: number, y: number, z: number, g?: Float64Array) => number;
const simple2d: [string, K2][] = [
  ['nearest', nearest2d],
  ['linear', linear2d],
  ['barycentric', barycentric2d],
];
const simple3d: [string, K3][] = [
  ['nearest', nearest3d],
  ['linear', linear3d],
  ['barycentric', barycentric3d],
];

test('every kernel returns the sample at integer indices (2D and 3D)', () => {
  const r = rng(1);
  const [nx, ny, nz] = [7, 6, 5];
  const p2 = plane2d(nx, ny, () => r() * 100);
  const p3 = plane3d(nx, ny, nz, () => r() * 100);
  const c2 = bsplineCoefficients(p2, [nx, ny]);
  const c3 = bsplineCoefficients(p3, [nx, ny, nz]);
  for (let y = 0; y < ny; y++) {
    for (let x = 0; x < nx; x++) {
      for (const [name, k] of simple2d) assert.equal(k(p2, nx, ny, x, y), p2[x + nx * y], `${name} 2D at ${x},${y}`);
      assertClose(bspline2d(c2, nx, ny, x, y), p2[x + nx * y], 1e-9, `bspline 2D at ${x},${y}`);
      for (let z = 0; z < nz; z++) {
        const v = p3[x + nx * (y + ny * z)];
        for (const [name, k] of simple3d) assert.equal(k(p3, nx, ny, nz, x, y, z), v, `${name} 3D`);
        assertClose(bspline3d(c3, nx, ny, nz, x, y, z), v, 1e-9, `bspline 3D at ${x},${y},${z}`);
      }
    }
  }
});

test('B-spline prefilter round trip (coefficients → samples) to 1e-9, including tiny sizes', () => {
  const r = rng(2);
  for (const [nx, ny] of [[1, 1], [2, 1], [1, 3], [2, 2], [3, 5], [40, 33]]) {
    const p = plane2d(nx, ny, () => r() * 1000 - 500);
    const c = bsplineCoefficients(p, [nx, ny]);
    for (let y = 0; y < ny; y++) for (let x = 0; x < nx; x++) assertClose(bspline2d(c, nx, ny, x, y), p[x + nx * y], 1e-9, `${nx}x${ny} at ${x},${y}`);
  }
  const p3 = plane3d(9, 2, 4, () => r() * 1000);
  const c3 = bsplineCoefficients(p3, [9, 2, 4]);
  for (let z = 0; z < 4; z++) for (let y = 0; y < 2; y++) for (let x = 0; x < 9; x++) assertClose(bspline3d(c3, 9, 2, 4, x, y, z), p3[x + 9 * (y + 2 * z)], 1e-9);
  // One component of an interleaved 2-component image.
  const inter = new Float64Array(2 * 12);
  for (let i = 0; i < 12; i++) {
    inter[2 * i] = i * i;
    inter[2 * i + 1] = r();
  }
  const cc = bsplineCoefficients(inter, [4, 3], 2, 1);
  for (let i = 0; i < 12; i++) assertClose(bspline2d(cc, 4, 3, i % 4, Math.floor(i / 4)), inter[2 * i + 1], 1e-9);
});

test('the prefilter is not the identity (coefficients differ from samples)', () => {
  const p = plane2d(5, 1, (x) => (x === 2 ? 1 : 0));
  const c = bsplineCoefficients(p, [5, 1]);
  assert.ok(Math.abs(c[2] - 1) > 0.5, `centre coefficient ${c[2]}`);
  assert.ok(c[1] < 0, 'neighbouring coefficients of an impulse are negative');
});

test('nearest, linear and barycentric reproduce constant and affine functions (2D, 3D)', () => {
  const r = rng(3);
  const [nx, ny, nz] = [9, 8, 7];
  const f2 = (x: number, y: number) => 3 + 1.5 * x - 2.25 * y;
  const f3 = (x: number, y: number, z: number) => -4 + 0.5 * x + 2 * y - 1.25 * z;
  const a2 = plane2d(nx, ny, f2);
  const a3 = plane3d(nx, ny, nz, f3);
  const k2 = plane2d(nx, ny, () => 42);
  const k3 = plane3d(nx, ny, nz, () => 42);
  for (let n = 0; n < 300; n++) {
    // Interior of the pixel-centre grid, where no clamping happens.
    const x = r() * (nx - 1);
    const y = r() * (ny - 1);
    const z = r() * (nz - 1);
    for (const [name, k] of simple2d) {
      assert.equal(k(k2, nx, ny, x, y), 42, `${name} constant 2D`);
      if (name === 'nearest') assertClose(k(a2, nx, ny, x, y), f2(Math.round(x), Math.round(y)), 1e-12);
      else assertClose(k(a2, nx, ny, x, y), f2(x, y), 1e-12, `${name} affine 2D`);
    }
    for (const [name, k] of simple3d) {
      assertClose(k(k3, nx, ny, nz, x, y, z), 42, 1e-12, `${name} constant 3D`);
      if (name === 'nearest') assertClose(k(a3, nx, ny, nz, x, y, z), f3(Math.round(x), Math.round(y), Math.round(z)), 1e-12);
      else assertClose(k(a3, nx, ny, nz, x, y, z), f3(x, y, z), 1e-12, `${name} affine 3D`);
    }
  }
});

test('cubic B-spline reproduces linear and quadratic functions in the interior to 1e-6', () => {
  const r = rng(4);
  const n = 48;
  const lin = (x: number, y: number) => 2 + 0.7 * x - 1.3 * y;
  const quad = (x: number, y: number) => 0.05 * x * x - 0.03 * x * y + 0.08 * y * y - x + 5;
  const cl = bsplineCoefficients(plane2d(n, n, lin), [n, n]);
  const cq = bsplineCoefficients(plane2d(n, n, quad), [n, n]);
  const m = 12;
  const l3 = (x: number, y: number, z: number) => 1 + x - 0.5 * y + 0.25 * z;
  const q3 = (x: number, y: number, z: number) => 0.02 * x * z + 0.05 * y * y - 0.01 * z * z + y;
  const cl3 = bsplineCoefficients(plane3d(32, 32, 32, l3), [32, 32, 32]);
  const cq3 = bsplineCoefficients(plane3d(32, 32, 32, q3), [32, 32, 32]);
  const g = new Float64Array(3);
  for (let k = 0; k < 200; k++) {
    const x = m + r() * (n - 1 - 2 * m);
    const y = m + r() * (n - 1 - 2 * m);
    assertClose(bspline2d(cl, n, n, x, y, g), lin(x, y), 1e-6, 'linear');
    assertClose(g[0], 0.7, 1e-6, 'linear d/dx');
    assertClose(bspline2d(cq, n, n, x, y, g), quad(x, y), 1e-6, 'quadratic');
    assertClose(g[1], -0.03 * x + 0.16 * y, 1e-6, 'quadratic d/dy');
    const x3 = m + r() * 7;
    const y3 = m + r() * 7;
    const z3 = m + r() * 7;
    assertClose(bspline3d(cl3, 32, 32, 32, x3, y3, z3), l3(x3, y3, z3), 1e-6, 'linear 3D');
    assertClose(bspline3d(cq3, 32, 32, 32, x3, y3, z3, g), q3(x3, y3, z3), 1e-6, 'quadratic 3D');
    assertClose(g[2], 0.02 * x3 - 0.02 * z3, 1e-6, 'quadratic 3D d/dz');
  }
});

/** Fractional part distance to the nearest kink of the piecewise-linear kernels (cell faces, simplex faces). */
function kinkDistance(f: number[], simplex: boolean): number {
  let d = Infinity;
  for (const v of f) d = Math.min(d, v, 1 - v);
  if (simplex) for (let a = 0; a < f.length; a++) for (let b = a + 1; b < f.length; b++) d = Math.min(d, Math.abs(f[a] - f[b]));
  return d;
}

test('gradients match central finite differences (2D and 3D, random points)', () => {
  const r = rng(5);
  const [nx, ny, nz] = [8, 7, 6];
  const p2 = plane2d(nx, ny, () => r() * 100);
  const p3 = plane3d(nx, ny, nz, () => r() * 100);
  const c2 = bsplineCoefficients(p2, [nx, ny]);
  const c3 = bsplineCoefficients(p3, [nx, ny, nz]);
  const kernels2d: [string, K2, Float64Array][] = [
    ['linear', linear2d, p2],
    ['barycentric', barycentric2d, p2],
    ['bspline', bspline2d, c2],
  ];
  const kernels3d: [string, K3, Float64Array][] = [
    ['linear', linear3d, p3],
    ['barycentric', barycentric3d, p3],
    ['bspline', bspline3d, c3],
  ];
  const h = 1e-5;
  const g = new Float64Array(3);
  let checked = 0;
  for (let n = 0; n < 400; n++) {
    const x = -0.4 + r() * (nx - 0.2);
    const y = -0.4 + r() * (ny - 0.2);
    const z = -0.4 + r() * (nz - 0.2);
    const frac = [x - Math.floor(x), y - Math.floor(y), z - Math.floor(z)];
    for (const [name, k, data] of kernels2d) {
      if (name !== 'bspline' && kinkDistance(frac.slice(0, 2), name === 'barycentric') < 10 * h) continue;
      k(data, nx, ny, x, y, g);
      assertClose(g[0], (k(data, nx, ny, x + h, y) - k(data, nx, ny, x - h, y)) / (2 * h), 1e-4, `${name} 2D d/dx`);
      assertClose(g[1], (k(data, nx, ny, x, y + h) - k(data, nx, ny, x, y - h)) / (2 * h), 1e-4, `${name} 2D d/dy`);
      checked++;
    }
    for (const [name, k, data] of kernels3d) {
      if (name !== 'bspline' && kinkDistance(frac, name === 'barycentric') < 10 * h) continue;
      k(data, nx, ny, nz, x, y, z, g);
      const gx = (k(data, nx, ny, nz, x + h, y, z) - k(data, nx, ny, nz, x - h, y, z)) / (2 * h);
      const gy = (k(data, nx, ny, nz, x, y + h, z) - k(data, nx, ny, nz, x, y - h, z)) / (2 * h);
      const gz = (k(data, nx, ny, nz, x, y, z + h) - k(data, nx, ny, nz, x, y, z - h)) / (2 * h);
      assertClose(g[0], gx, 1e-4, `${name} 3D d/dx`);
      assertClose(g[1], gy, 1e-4, `${name} 3D d/dy`);
      assertClose(g[2], gz, 1e-4, `${name} 3D d/dz`);
      checked++;
    }
  }
  assert.ok(checked > 1500, `only ${checked} points checked`);
  // Nearest is piecewise constant.
  g.fill(7);
  nearest3d(p3, nx, ny, nz, 2.3, 1.6, 3.1, g);
  assert.deepEqual([...g], [0, 0, 0]);
});

test('domain: inside iff −0.5 ≤ ci ≤ size − 0.5; outside gives NaN and a zero gradient; edges clamp', () => {
  const [nx, ny, nz] = [4, 3, 2];
  const p2 = plane2d(nx, ny, (x, y) => 10 * y + x);
  const p3 = plane3d(nx, ny, nz, (x, y, z) => 100 * z + 10 * y + x);
  const c2 = bsplineCoefficients(p2, [nx, ny]);
  const c3 = bsplineCoefficients(p3, [nx, ny, nz]);
  const all2d: [string, K2, Float64Array][] = [...simple2d.map(([n, k]) => [n, k, p2] as [string, K2, Float64Array]), ['bspline', bspline2d, c2]];
  const all3d: [string, K3, Float64Array][] = [...simple3d.map(([n, k]) => [n, k, p3] as [string, K3, Float64Array]), ['bspline', bspline3d, c3]];
  const g = new Float64Array(3);
  for (const [name, k, data] of all2d) {
    for (const [x, y] of [[-0.5, 0], [nx - 0.5, ny - 0.5], [1.2, -0.5]]) assert.ok(Number.isFinite(k(data, nx, ny, x, y)), `${name} inside at ${x},${y}`);
    for (const [x, y] of [[-0.5001, 0], [0, ny - 0.4999], [NaN, 1], [Infinity, 0]]) {
      g.fill(5);
      assert.ok(Number.isNaN(k(data, nx, ny, x, y, g)), `${name} outside at ${x},${y}`);
      assert.deepEqual([g[0], g[1]], [0, 0]);
    }
  }
  for (const [name, k, data] of all3d) {
    assert.ok(Number.isFinite(k(data, nx, ny, nz, -0.5, -0.5, nz - 0.5)), `${name} inside corner`);
    g.fill(5);
    assert.ok(Number.isNaN(k(data, nx, ny, nz, 1, 1, nz - 0.49, g)), `${name} outside in z`);
    assert.deepEqual([...g], [0, 0, 0]);
  }
  // In the outer half pixel the edge value is extended as a constant.
  assert.equal(linear2d(p2, nx, ny, -0.4, 1), 10);
  assert.equal(barycentric2d(p2, nx, ny, nx - 0.6, ny - 0.7), p2[nx * ny - 1]);
  assert.equal(linear3d(p3, nx, ny, nz, 1, 2.3, 0), 21);
  linear2d(p2, nx, ny, -0.3, 1.5, g);
  assert.equal(g[0], 0);
  assert.equal(nearest2d(p2, nx, ny, 0.5, 0.5), 11, 'nearest rounds half up');
});
