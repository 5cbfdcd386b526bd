import { test } from 'node:test';
import assert from 'node:assert/strict';
import { linear3d, linearValues3d } from '../../src/interpolate/kernels.js';

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
