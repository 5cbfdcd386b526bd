import { test } from 'node:test';
import assert from 'node:assert/strict';
import { linear3d, linearValues3d, linearVectorValues3d } from '../../src/interpolate/kernels.js';

test('linearValues3d gives linear3d bit for bit (inside, at the borders, outside; float32 and float64 planes)', () => {
  const [nx, ny, nz] = [7, 5, 4];
  let s = 11;
  const random = (): number => (s = (s * 16807) % 2147483647) / 2147483647;
  for (const plane of [Float32Array.from({ length: nx * ny * nz }, () => random() * 100 - 20), Float64Array.from({ length: nx * ny * nz }, () => random() * 3)]) {
    const n = 3000;
    const ci = new Float64Array(3 * n);
    for (let i = 0; i < n; i++) {
      ci[3 * i] = random() * (nx + 1) - 1;
      ci[3 * i + 1] = random() * (ny + 1) - 1;
      ci[3 * i + 2] = i % 50 === 0 ? nz - 0.5 : random() * (nz + 1) - 1;
    }
    const out = new Float64Array(n).fill(7);
    linearValues3d(plane, nx, ny, nz, ci, 100, n, out);
    let inside = 0;
    for (let i = 0; i < n; i++) {
      const expected = i < 100 ? 7 : linear3d(plane, nx, ny, nz, ci[3 * i], ci[3 * i + 1], ci[3 * i + 2]);
      assert.ok(Object.is(out[i], expected), `sample ${i}: ${out[i]} vs ${expected}`);
      if (i >= 100 && Number.isFinite(expected)) inside++;
    }
    assert.ok(inside > 1000 && inside < n - 200, `both inside and outside points (${inside} inside)`);
  }
});

test('linearVector3d gives linear3d of each of the three planes bit for bit (inside, at the borders), false outside', async () => {
  const { linearVector3d } = await import('../../src/interpolate/kernels.js');
  const [nx, ny, nz] = [6, 5, 7];
  let s = 5;
  const random = (): number => (s = (s * 16807) % 2147483647) / 2147483647;
  const planes = [0, 1, 2].map((c) => Float32Array.from({ length: nx * ny * nz }, () => random() * 10 - 5 + c));
  const out = new Float64Array(3);
  let inside = 0;
  for (let i = 0; i < 4000; i++) {
    const [x, y, z] = [random() * (nx + 1) - 1, i % 40 === 0 ? ny - 0.5 : random() * (ny + 1) - 1, random() * (nz + 1) - 1];
    out.fill(9);
    const ok = linearVector3d(planes[0], planes[1], planes[2], nx, ny, nz, Float64Array.of(x, y, z), out);
    const expected = planes.map((p) => linear3d(p, nx, ny, nz, x, y, z));
    if (!ok) {
      assert.ok(expected.every((v) => Number.isNaN(v)), `(${x}, ${y}, ${z}): outside for linear3d too`);
      assert.deepEqual([...out], [9, 9, 9], 'out untouched outside');
      continue;
    }
    inside++;
    for (let c = 0; c < 3; c++) assert.ok(Object.is(out[c], expected[c]), `(${x}, ${y}, ${z}) component ${c}: ${out[c]} vs ${expected[c]}`);
  }
  assert.ok(inside > 2000 && inside < 3900, `both inside and outside points (${inside} inside)`);
});

test('linearVectorValues3d gives linear3d of each of the three planes bit for bit, NaN outside (rows longer than a chunk)', () => {
  const [nx, ny, nz] = [6, 7, 5];
  let s = 17;
  const random = (): number => (s = (s * 16807) % 2147483647) / 2147483647;
  const planes = [0, 1, 2].map((c) => Float32Array.from({ length: nx * ny * nz }, () => random() * 8 - 4 + c));
  const n = 200;
  const ci = new Float64Array(3 * n);
  for (let i = 0; i < 3 * n; i++) ci[i] = random() * 8 - 1;
  const u = [0, 1, 2].map(() => new Float64Array(n));
  linearVectorValues3d(planes[0], planes[1], planes[2], nx, ny, nz, ci, n, u[0], u[1], u[2]);
  let inside = 0;
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) {
      const expected = linear3d(planes[c], nx, ny, nz, ci[3 * i], ci[3 * i + 1], ci[3 * i + 2]);
      assert.ok(Object.is(u[c][i], expected), `point ${i} plane ${c}: ${u[c][i]} vs ${expected}`);
    }
    if (Number.isFinite(u[0][i])) inside++;
  }
  assert.ok(inside > 20 && inside < n - 20, `both inside and outside points (${inside} inside)`);
});
