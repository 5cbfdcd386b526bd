import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lnccDense, nccSimilarity, type LnccWorkspace } from '../../src/metric/index.js';
import { CoregError } from '../../src/errors.js';
import { assertClose } from '../helpers.js';
import { random } from './util.js';

function grids(size: number[], seed: number): { f: Float32Array; m: Float32Array } {
  const rnd = random(seed);
  const n = size.reduce((a, b) => a * b, 1);
  const f = Float32Array.from({ length: n }, () => rnd());
  const m = Float32Array.from(f, (v) => 0.6 * v + 0.4 * rnd());
  return { f, m };
}

/** The definition, window by window: −mean over valid voxels of local ncc² (flat windows count 0). */
function bruteForce(f: ArrayLike<number>, m: ArrayLike<number>, mask: Uint8Array | null, size: number[], r: number[]): number {
  const [nx, ny, nz] = [size[0], size[1], size[2] ?? 1];
  const [rx, ry, rz] = [r[0], r[1], r[2] ?? 0];
  let total = 0;
  let valid = 0;
  for (let z = 0; z < nz; z++) for (let y = 0; y < ny; y++) for (let x = 0; x < nx; x++) {
    if (mask && !mask[x + nx * (y + ny * z)]) continue;
    valid++;
    const a: number[] = [];
    const b: number[] = [];
    for (let k = Math.max(0, z - rz); k <= Math.min(nz - 1, z + rz); k++)
      for (let j = Math.max(0, y - ry); j <= Math.min(ny - 1, y + ry); j++)
        for (let i = Math.max(0, x - rx); i <= Math.min(nx - 1, x + rx); i++) {
          const idx = i + nx * (j + ny * k);
          if (mask && !mask[idx]) continue;
          a.push(f[idx]);
          b.push(m[idx]);
        }
    if (a.length > 1) total += nccSimilarity(a, b) ** 2;
  }
  return -total / valid;
}

function checkFiniteDifferences(size: number[], radius: number | number[], mask: Uint8Array | null, seed: number, voxels: number[]): void {
  const { f, m } = grids(size, seed);
  const mm = Float64Array.from(m);
  const out = new Float64Array(f.length);
  const workspace: LnccWorkspace = { buffers: [] };
  lnccDense(f, mm, mask, size, radius, out, workspace);
  let scale = 0;
  for (const v of out) scale = Math.max(scale, Math.abs(v));
  assert.ok(scale > 0);
  const h = 1e-5;
  for (const i of voxels) {
    const keep = mm[i];
    mm[i] = keep + h;
    const plus = lnccDense(f, mm, mask, size, radius, null, workspace);
    mm[i] = keep - h;
    const minus = lnccDense(f, mm, mask, size, radius, null, workspace);
    mm[i] = keep;
    assertClose(out[i], (plus - minus) / (2 * h), 1e-6 * scale, `∂lncc/∂m[${i}]`);
    if (mask && !mask[i]) assert.equal(out[i], 0);
  }
}

test('lncc of identical images is −1 with zero derivative', () => {
  for (const size of [[9, 8], [6, 5, 7]]) {
    const { f } = grids(size, 41);
    const out = new Float64Array(f.length);
    assertClose(lnccDense(f, f, null, size, 2, out), -1, 1e-12);
    for (const d of out) assertClose(d, 0, 1e-12);
  }
});

test('lncc matches the window-by-window definition (2D with mask, 3D with per-axis radius)', () => {
  const size2 = [11, 9];
  const { f, m } = grids(size2, 42);
  const rnd = random(43);
  const mask = Uint8Array.from({ length: f.length }, () => (rnd() < 0.8 ? 1 : 0));
  assertClose(lnccDense(f, m, mask, size2, 2), bruteForce(f, m, mask, size2, [2, 2]), 1e-12);
  const size3 = [6, 5, 4];
  const g = grids(size3, 44);
  assertClose(lnccDense(g.f, g.m, null, size3, [1, 2, 1]), bruteForce(g.f, g.m, null, size3, [1, 2, 1]), 1e-12);
});

test('a window larger than the grid gives minus the squared global ncc', () => {
  const size = [7, 6];
  const { f, m } = grids(size, 45);
  assertClose(lnccDense(f, m, null, size, 50), -(nccSimilarity(f, m) ** 2), 1e-12);
});

test('lncc (squared local ncc) is invariant to m → a·m + b, also for a < 0', () => {
  const size = [8, 7, 3];
  const { f, m } = grids(size, 46);
  const reference = lnccDense(f, m, null, size, 1);
  assertClose(lnccDense(f, Float64Array.from(m, (v) => 4 * v - 100), null, size, 1), reference, 1e-12);
  assertClose(lnccDense(f, Float64Array.from(m, (v) => 5 - 0.5 * v), null, size, 1), reference, 1e-12);
});

test('lncc derivative matches central differences on a small 2D grid with a mask', () => {
  const size = [9, 7];
  const rnd = random(47);
  const mask = Uint8Array.from({ length: 63 }, () => (rnd() < 0.85 ? 1 : 0));
  mask[10] = 0;
  checkFiniteDifferences(size, 2, mask, 48, [0, 10, 20, 31, 44, 62]);
});

test('lncc derivative matches central differences on a small 3D grid', () => {
  checkFiniteDifferences([5, 4, 6], 1, null, 49, [0, 17, 42, 63, 119]);
  checkFiniteDifferences([5, 4, 6], [2, 1, 1], null, 50, [3, 30, 77]);
});

test('lncc checks its inputs', () => {
  const { f, m } = grids([4, 4], 51);
  const isMetricError = (pattern: RegExp) => (e: unknown) => e instanceof CoregError && e.subject === 'metric' && pattern.test(e.message);
  assert.throws(() => lnccDense(f, m, null, [4, 5], 1), isMetricError(/does not match/));
  assert.throws(() => lnccDense(f, m, new Uint8Array(3), [4, 4], 1), isMetricError(/mask/));
  assert.throws(() => lnccDense(f, m, new Uint8Array(16), [4, 4], 1), isMetricError(/no valid voxels/));
  assert.throws(() => lnccDense(f, new Float32Array(16).fill(7), null, [4, 4], 1), isMetricError(/image is constant: lncc is undefined/));
  assert.throws(() => lnccDense(f, m, null, [4, 4], 0), isMetricError(/radius/));
  assert.throws(() => lnccDense(f, m, null, [16], 1), isMetricError(/2D or 3D/));
  assert.throws(() => lnccDense(f, m, null, [4, 4], 1, new Float64Array(2)), isMetricError(/derivative/));
});
