import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CoregError } from '../../src/errors.js';
import { indexToPhysical, physicalToIndexMatrix, type Image } from '../../src/image/image.js';
import {
  checkField,
  composeFields,
  createField,
  exponentiateVelocity,
  fieldImage,
  fieldTransform,
  invertField,
  jacobianDeterminantField,
  maxDisplacementVoxels,
  minJacobianDeterminant,
  smoothField,
  upsampleField,
  zeroFieldBorder,
} from '../../src/transform/dense-field.js';
import { assertClose } from '../helpers.js';
import type { GridLike } from '../../src/image/image.js';

type Vec = number[];
type Analytic = (p: Vec) => Vec;

function rotation2d(deg: number): number[] {
  const a = (deg * Math.PI) / 180;
  return [Math.cos(a), -Math.sin(a), Math.sin(a), Math.cos(a)];
}

/** A 2D grid with anisotropic spacing and a rotated direction, centred near the physical origin. */
const GRID_2D: GridLike = { dimension: 2, size: [64, 60], spacing: [1, 1.25], origin: [-20, -45], direction: rotation2d(30) };
const GRID_3D: GridLike = {
  dimension: 3,
  size: [24, 22, 20],
  spacing: [1, 1.2, 0.9],
  origin: [-12, -13, -9],
  direction: [1, 0, 0, 0, 0.8, -0.6, 0, 0.6, 0.8],
};

function point(grid: GridLike, index: Vec): Vec {
  return Array.from(indexToPhysical(grid as Image, index));
}

/** Calls fn(linear voxel number, index, physical point) for every voxel. */
function forEachVoxel(grid: GridLike, fn: (p: number, idx: Vec, x: Vec) => void): void {
  const [nx, ny] = grid.size;
  const nz = grid.dimension === 3 ? grid.size[2] : 1;
  let p = 0;
  for (let k = 0; k < nz; k++)
    for (let j = 0; j < ny; j++)
      for (let i = 0; i < nx; i++, p++) {
        const idx = grid.dimension === 3 ? [i, j, k] : [i, j];
        fn(p, idx, point(grid, idx));
      }
}

function sampled(grid: GridLike, f: Analytic): Float32Array {
  const u = createField(grid);
  const d = grid.dimension;
  forEachVoxel(grid, (p, _idx, x) => {
    const v = f(x);
    for (let c = 0; c < d; c++) u[p * d + c] = v[c];
  });
  return u;
}

function interior(grid: GridLike, idx: Vec, margin: number): boolean {
  return idx.every((v, a) => v >= margin && v <= grid.size[a] - 1 - margin);
}

const add = (a: Vec, b: Vec): Vec => a.map((v, i) => v + b[i]);
const norm = (a: Vec): number => Math.hypot(...a);

// Smooth analytic fields (mm) of a few mm amplitude.
const u2: Analytic = ([x, y]) => [2 * Math.sin(x / 9) * Math.cos(y / 11), 1.5 * Math.cos(x / 10 + 0.3) * Math.sin(y / 8)];
const v2: Analytic = ([x, y]) => [1.2 * Math.cos(y / 7), -1.8 * Math.sin((x + y) / 12)];
const u3: Analytic = ([x, y, z]) => [1.5 * Math.sin(y / 6) * Math.cos(z / 7), 1.2 * Math.sin(z / 8 + x / 9), -1.4 * Math.cos(x / 7) * Math.sin(y / 10)];
const v3: Analytic = ([x, y, z]) => [0.9 * Math.cos(z / 6), -1.1 * Math.sin((x + y) / 9), 0.8 * Math.sin(x / 8) * Math.cos(y / 9)];

for (const [grid, u, v] of [
  [GRID_2D, u2, v2],
  [GRID_3D, u3, v3],
] as const) {
  const d = grid.dimension;
  test(`composeFields ${d}D matches the analytic composition v(x) + u(x + v(x)) within 0.02 mm`, () => {
    const uf = sampled(grid, u);
    const vf = sampled(grid, v);
    const w = composeFields(uf, vf, grid);
    let worst = 0;
    forEachVoxel(grid, (p, idx, x) => {
      if (!interior(grid, idx, 3)) return;
      const expected = add(v(x), u(add(x, v(x))));
      for (let c = 0; c < d; c++) worst = Math.max(worst, Math.abs(w[p * d + c] - expected[c]));
    });
    assert.ok(worst < 0.02, `max error ${worst} mm`);
    // out may be v itself (each voxel reads only its own v)
    const same = composeFields(uf, vf.slice(), grid);
    const aliased = vf.slice();
    composeFields(uf, aliased, grid, aliased);
    assert.deepEqual(aliased, same);
    assert.throws(() => composeFields(uf, vf, grid, uf), /out must not be u/);
  });

  test(`invertField ${d}D: residual against the analytic field < 0.05 voxel, reported residual ≤ tolerance`, () => {
    const uf = sampled(grid, u);
    const result = invertField(uf, grid);
    assert.equal(result.unconverged, 0);
    assert.ok(result.maxResidual <= 1e-3 * Math.min(...grid.spacing) + 1e-9, `reported ${result.maxResidual}`);
    assert.ok(result.meanResidual <= result.maxResidual);
    let worst = 0;
    forEachVoxel(grid, (p, idx, x) => {
      if (!interior(grid, idx, 4)) return;
      const vx = Array.from({ length: d }, (_, c) => result.field[p * d + c]);
      worst = Math.max(worst, norm(add(vx, u(add(x, vx)))));
    });
    assert.ok(worst < 0.05 * Math.min(...grid.spacing), `analytic residual ${worst} mm`);
    // forward ∘ inverse ≈ identity on the grid, to the inversion tolerance
    const roundTrip = composeFields(uf, result.field, grid);
    assert.ok(maxDisplacementVoxels(roundTrip, grid) < 2e-3, `round trip ${maxDisplacementVoxels(roundTrip, grid)} voxel`);
  });
}

test('invertField converges where the plain fixed-point iteration diverges (2.5× expansion)', () => {
  // u(x) = 1.5·(x − c): v ← −u(x + v) multiplies the error by −1.5 each step; the exact inverse is −0.6·(x − c).
  const grid: GridLike = { dimension: 2, size: [41, 41], spacing: [1, 1], origin: [-20, -20], direction: [1, 0, 0, 1] };
  const uf = sampled(grid, ([x, y]) => [1.5 * x, 1.5 * y]);
  const result = invertField(uf, grid, { maxIterations: 100, tolerance: 1e-4 });
  assert.equal(result.unconverged, 0);
  forEachVoxel(grid, (p, _idx, [x, y]) => {
    assertClose(result.field[2 * p], -0.6 * x, 1e-3, 'v_x');
    assertClose(result.field[2 * p + 1], -0.6 * y, 1e-3, 'v_y');
  });
});

test('invertField warm start from the output array itself needs no iteration when already exact', () => {
  const grid = GRID_2D;
  const uf = sampled(grid, u2);
  const first = invertField(uf, grid);
  const again = invertField(uf, grid, { initial: first.field }, first.field);
  assert.equal(again.iterations, 0);
  assert.ok(again.maxResidual <= first.maxResidual + 1e-6);
});

test('exponentiateVelocity of an infinitesimal rotation gives the rotation (within 0.05 voxel)', () => {
  const grid: GridLike = { dimension: 2, size: [64, 64], spacing: [1, 1], origin: [-31.5, -31.5], direction: [1, 0, 0, 1] };
  const theta = 0.2;
  // v(x) = θ·J·x with J the 90° rotation generator: its flow is the rotation by θ about the origin.
  const vf = sampled(grid, ([x, y]) => [-theta * y, theta * x]);
  const { field, squarings } = exponentiateVelocity(vf, grid);
  assert.ok(squarings >= 5, `squarings ${squarings}`);
  const c = Math.cos(theta);
  const s = Math.sin(theta);
  let worst = 0;
  let checked = 0;
  forEachVoxel(grid, (p, _idx, [x, y]) => {
    // points whose orbit stays on the grid
    if (Math.hypot(x, y) > 28) return;
    checked++;
    const ex = c * x - s * y - x;
    const ey = s * x + c * y - y;
    worst = Math.max(worst, Math.hypot(field[2 * p] - ex, field[2 * p + 1] - ey));
  });
  assert.ok(checked > 2000);
  assert.ok(worst < 0.05, `max error ${worst} voxel`);
  // a zero velocity gives the identity without squaring
  const zero = exponentiateVelocity(createField(grid), grid);
  assert.equal(zero.squarings, 0);
  assert.ok(zero.field.every((v) => v === 0));
});

test('Jacobian determinant of u = a·x is (1 + a)^d on rotated anisotropic grids; a flip folds', () => {
  for (const grid of [GRID_2D, GRID_3D]) {
    const d = grid.dimension;
    const a = 0.1;
    const uf = sampled(grid, (x) => x.map((v) => a * (v - 3)));
    const det = jacobianDeterminantField(uf, grid);
    assert.deepEqual(det.size, grid.size);
    for (const v of det.data) assertClose(v, (1 + a) ** d, 1e-4, `${d}D det`);
    assertClose(minJacobianDeterminant(uf, grid), (1 + a) ** d, 1e-4);
    // x ↦ x + (−2x₀, 0…): a mirror along the first physical axis, det −1
    const flip = sampled(grid, (x) => x.map((v, i) => (i === 0 ? -2 * v : 0)));
    assertClose(minJacobianDeterminant(flip, grid), -1, 1e-4, `${d}D flip`);
  }
});

test('smoothField: σ in voxels whatever the spacing, components independent, constants kept', () => {
  const grid: GridLike = { dimension: 2, size: [41, 41], spacing: [3, 0.5], origin: [0, 0], direction: [1, 0, 0, 1] };
  const u = createField(grid);
  const centre = 20 + 41 * 20;
  u[2 * centre] = 1;
  smoothField(u, grid, [2, 3]);
  let sum = 0;
  let mx = 0;
  let my = 0;
  let other = 0;
  for (let j = 0; j < 41; j++)
    for (let i = 0; i < 41; i++) {
      const w = u[2 * (i + 41 * j)];
      sum += w;
      mx += w * (i - 20) ** 2;
      my += w * (j - 20) ** 2;
      other += Math.abs(u[2 * (i + 41 * j) + 1]);
    }
  assertClose(sum, 1, 1e-5, 'sum');
  assertClose(mx, 4, 0.01, 'variance along x (voxels²)');
  assertClose(my, 9, 0.02, 'variance along y (voxels²)');
  assert.equal(other, 0);
  const constant = createField(GRID_3D).fill(1.75);
  smoothField(constant, GRID_3D, 1.5);
  for (const v of constant) assertClose(v, 1.75, 1e-5);
  assert.throws(() => smoothField(constant, GRID_3D, [1, 2]), CoregError);
});

test('upsampleField keeps mm values and reproduces a linear field on the finer grid', () => {
  const coarse: GridLike = { dimension: 3, size: [6, 6, 5], spacing: [4, 4, 4], origin: [1.5, 1.5, 1.5], direction: [1, 0, 0, 0, 1, 0, 0, 0, 1] };
  const fine: GridLike = { dimension: 3, size: [24, 24, 20], spacing: [1, 1, 1], origin: [0, 0, 0], direction: [1, 0, 0, 0, 1, 0, 0, 0, 1] };
  const f: Analytic = ([x, y, z]) => [0.5 + 0.1 * x, -0.2 * y + 0.05 * z, 2];
  const up = upsampleField(sampled(coarse, f), coarse, fine);
  forEachVoxel(fine, (p, _idx, x) => {
    // inside the hull of the coarse voxel centres interpolation is exact for a linear field
    if (x.some((v, a) => v < 1.5 || v > 1.5 + 4 * (coarse.size[a] - 1))) return;
    const e = f(x);
    for (let c = 0; c < 3; c++) assertClose(up[3 * p + c], e[c], 1e-5);
  });
  for (let p = 0; p < up.length / 3; p++) assertClose(up[3 * p + 2], 2, 1e-6, 'constant component');
});

test('field utilities: border zeroing, voxel norms, image and transform views, size checks', () => {
  const grid: GridLike = { dimension: 2, size: [5, 4], spacing: [2, 0.5], origin: [10, 20], direction: [1, 0, 0, 1] };
  const u = createField(grid).fill(1);
  zeroFieldBorder(u, grid);
  for (let j = 0; j < 4; j++)
    for (let i = 0; i < 5; i++) {
      const edge = i === 0 || j === 0 || i === 4 || j === 3;
      assert.equal(u[2 * (i + 5 * j)], edge ? 0 : 1);
    }
  // 1 mm along x is half a voxel, 1 mm along y two voxels
  assertClose(maxDisplacementVoxels(u, grid), Math.hypot(0.5, 2), 1e-12);
  const img = fieldImage(u, grid);
  assert.equal(img.components, 2);
  assert.equal(img.data, u);
  const t = fieldTransform(u, grid);
  const out = [0, 0];
  t.transformPoint([12, 20.5], out);
  assert.deepEqual(out, [13, 21.5]);
  assert.throws(() => checkField(new Float32Array(7), grid), CoregError);
  assert.deepEqual(Array.from(physicalToIndexMatrix(grid)), [0.5, 0, 0, 2]);
});

test('smoothField along strided axes equals a direct mirrored convolution (rows longer than one chunk)', () => {
  const grid: GridLike = { dimension: 3, size: [100, 9, 8], spacing: [1, 1, 1], origin: [0, 0, 0], direction: [1, 0, 0, 0, 1, 0, 0, 0, 1] };
  const u = createField(grid);
  let seed = 5;
  for (let i = 0; i < u.length; i++) u[i] = (seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5;
  const expected = Float64Array.from(u);
  const sigmas = [0, 1.2, 0.8];
  const [nx, ny, nz] = grid.size;
  const strides = [1, nx, nx * ny];
  // reference: each strided axis in turn, sampled Gaussian truncated at ⌈4σ⌉, indices mirrored about the edges
  for (const axis of [1, 2]) {
    const s = sigmas[axis];
    const r = Math.ceil(4 * s);
    const w = Array.from({ length: 2 * r + 1 }, (_, k) => Math.exp(-((k - r) ** 2) / (2 * s * s)));
    const sum = w.reduce((a, b) => a + b, 0);
    const len = grid.size[axis];
    const mirror = (e: number): number => {
      const period = 2 * len;
      const m = ((e % period) + period) % period;
      return m >= len ? period - 1 - m : m;
    };
    const source = Float64Array.from(expected);
    for (let k = 0; k < nz; k++)
      for (let j = 0; j < ny; j++)
        for (let i = 0; i < nx; i++) {
          const idx = [i, j, k];
          const p = i + nx * j + nx * ny * k;
          for (let c = 0; c < 3; c++) {
            let acc = 0;
            for (let t = -r; t <= r; t++) {
              const q = p + (mirror(idx[axis] + t) - idx[axis]) * strides[axis];
              acc += (w[t + r] / sum) * source[3 * q + c];
            }
            expected[3 * p + c] = acc;
          }
        }
  }
  smoothField(u, grid, sigmas);
  for (let i = 0; i < u.length; i++) assertClose(u[i], expected[i], 1e-6);
});
