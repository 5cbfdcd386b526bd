import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createImage } from '../../src/image/image.js';
import { labelOverlap, percentileOfSorted, squaredDistanceTransform, summarizeDistances } from '../../src/report/overlap.js';
import { CoregError } from '../../src/errors.js';
import { assertClose } from '../helpers.js';

test('squared distance transform equals brute force with anisotropic spacing (2D and 3D)', () => {
  let seed = 7;
  const rand = (): number => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  for (const size of [[13, 9], [7, 6, 5]]) {
    const spacing = size.length === 2 ? [0.7, 1.9] : [1.3, 0.4, 2.1];
    const n = size.reduce((a, b) => a * b, 1);
    const seeds = new Uint8Array(n);
    for (let i = 0; i < n; i++) seeds[i] = rand() < 0.06 ? 1 : 0;
    seeds[3] = 1;
    const dist = squaredDistanceTransform(seeds, size, spacing);
    const coords = (i: number): number[] => {
      const x = i % size[0];
      const y = Math.floor(i / size[0]) % size[1];
      const z = Math.floor(i / (size[0] * size[1]));
      return [x * spacing[0], y * spacing[1], size.length === 3 ? z * spacing[2] : 0];
    };
    for (let i = 0; i < n; i++) {
      let best = Infinity;
      const p = coords(i);
      for (let s = 0; s < n; s++) {
        if (!seeds[s]) continue;
        const q = coords(s);
        best = Math.min(best, (p[0] - q[0]) ** 2 + (p[1] - q[1]) ** 2 + (p[2] - q[2]) ** 2);
      }
      assertClose(dist[i], best, 1e-9, `voxel ${i}`);
    }
  }
  assert.equal(squaredDistanceTransform(new Uint8Array(6), [3, 2], [1, 1])[0], Infinity);
});

test('Dice and Jaccard of two overlapping rectangles, volumes in physical units', () => {
  const a = createImage([20, 10], 'uint8', { spacing: [0.5, 2] });
  const b = createImage([20, 10], 'uint8', { spacing: [0.5, 2] });
  // A: x 0..9 (10 columns) all rows = 100 voxels; B: x 5..14 = 100 voxels; overlap x 5..9 = 50.
  for (let j = 0; j < 10; j++) {
    for (let i = 0; i < 10; i++) a.data[i + 20 * j] = 3;
    for (let i = 5; i < 15; i++) b.data[i + 20 * j] = 3;
  }
  b.data[19] = 7; // a label only in B
  const r = labelOverlap(a, b);
  assertClose(r.labels['3'].dice, 0.5, 1e-12);
  assertClose(r.labels['3'].jaccard, 50 / 150, 1e-12);
  assert.equal(r.labels['3'].volumeA, 100);
  assert.equal(r.labels['7'].dice, 0);
  assert.equal(r.labels['7'].hausdorff95, null);
  assertClose(r.mean!, 0.25, 1e-12);
  assert.equal(r.labels['0'], undefined);
  // The 5-column shift is 2.5 mm along x: every surface voxel's distance is at most that.
  assert.ok(r.labels['3'].hausdorff95! <= 2.5 + 1e-9 && r.labels['3'].hausdorff95! > 0);
});

test('Hausdorff 95 and mean surface distance of concentric spheres ≈ difference of radii (within a voxel)', () => {
  const n = 41;
  const spacing = [1, 1, 1.5];
  const a = createImage([n, n, 28], 'uint8', { spacing });
  const b = createImage([n, n, 28], 'uint8', { spacing });
  const c = [20, 20, 13.5 * 1.5];
  for (let k = 0; k < 28; k++) {
    for (let j = 0; j < n; j++) {
      for (let i = 0; i < n; i++) {
        const r = Math.hypot(i - c[0], j - c[1], k * 1.5 - c[2]);
        const at = i + n * (j + n * k);
        if (r <= 8) a.data[at] = 1;
        if (r <= 14) b.data[at] = 1;
      }
    }
  }
  const r = labelOverlap(a, b).labels['1'];
  assertClose(r.hausdorff95!, 6, 1.5, 'hd95');
  assertClose(r.meanSurfaceDistance!, 6, 1.5, 'msd');
  assertClose(r.dice, (2 * 8 ** 3) / (8 ** 3 + 14 ** 3), 0.03, 'dice');
});

test('label images on different grids or with fractional values are refused', () => {
  const a = createImage([4, 4], 'uint8');
  const b = createImage([4, 4], 'uint8', { origin: [1, 0] });
  assert.throws(() => labelOverlap(a, b, { a: 'a.nii', b: 'b.nii' }), (e: unknown) => e instanceof CoregError && e.subject === 'b.nii' && /same grid/.test(e.message));
  const f = createImage([4, 4], 'float32');
  f.data[2] = 0.5;
  assert.throws(() => labelOverlap(f, a), /integer/);
});

test('distance summary: mean, median, std, p95 (linear interpolation) and max', () => {
  const s = summarizeDistances([4, 1, 3, 2, 5]);
  assert.deepEqual([s.mean, s.median, s.max, s.points], [3, 3, 5, 5]);
  assertClose(s.std, Math.sqrt(2), 1e-12);
  assertClose(s.p95, 4.8, 1e-12);
  assertClose(percentileOfSorted([0, 10], 25), 2.5, 1e-12);
});
