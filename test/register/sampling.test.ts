// The sampler picks the same voxels as an explicit per-voxel implementation (the one it replaced), in memory
// sized by the samples; the fold-check lattice yields the points an explicit list held.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createImage, indexToPhysicalMatrix, physicalToIndexMatrix, type Image } from '../../src/image/image.js';
import { createRandom } from '../../src/random.js';
import { maskAt, sampleFixedImage, sparseShuffle } from '../../src/register/sampling.js';
import { foldCheckPoint, foldCheckPoints } from '../../src/register/fold-repair.js';

/** The explicit partial Fisher–Yates shuffle over an array of all nc indices. */
function explicitShuffle(nc: number, want: number, rand: () => number): Int32Array {
  const c = new Int32Array(nc);
  for (let v = 0; v < nc; v++) c[v] = v;
  for (let s = 0; s < want; s++) {
    const r = s + Math.floor(rand() * (nc - s));
    const t = c[s];
    c[s] = c[r];
    c[r] = t;
  }
  return c.slice(0, want);
}

/** Voxel-by-voxel reference: a byte per voxel for the pick, the mask checked at each voxel centre. */
function referenceVoxels(img: Image, strategy: 'all' | 'regular' | 'random', fraction: number, seed: number, mask?: Image): number[] {
  const d = img.dimension;
  const [nx, ny] = img.size;
  const n = img.data.length;
  const M = indexToPhysicalMatrix(img);
  const N = mask ? physicalToIndexMatrix(mask) : null;
  const inside = (v: number): boolean => {
    if (!mask) return true;
    const idx = [v % nx, Math.floor(v / nx) % ny, Math.floor(v / (nx * ny))];
    const p = img.origin.map((o, r) => o + idx.slice(0, d).reduce((a, x, c) => a + M[r * d + c] * x, 0));
    return maskAt(mask, N!, p);
  };
  const pick = new Uint8Array(n);
  if (strategy === 'all' || fraction >= 1) pick.fill(1);
  else if (strategy === 'regular') {
    const stride = Math.max(1, Math.round(Math.pow(1 / fraction, 1 / d)));
    for (let v = 0; v < n; v++) if (v % nx % stride === 0 && (Math.floor(v / nx) % ny) % stride === 0 && (d === 2 || Math.floor(v / (nx * ny)) % stride === 0)) pick[v] = 1;
  } else {
    const cand: number[] = [];
    for (let v = 0; v < n; v++) if (inside(v)) cand.push(v);
    const want = Math.min(cand.length, Math.max(1, Math.round(fraction * n)));
    for (const r of explicitShuffle(cand.length, want, createRandom(seed))) pick[cand[r]] = 1;
  }
  const out: number[] = [];
  for (let v = 0; v < n; v++) if (pick[v] && inside(v)) out.push(v);
  return out;
}

test('sparseShuffle draws the same indices in the same order as an explicit Fisher–Yates shuffle', () => {
  for (const [nc, want, seed] of [[10, 10, 1], [1000, 37, 2], [100_000, 5000, 3], [7, 1, 4], [1, 1, 5]]) {
    assert.deepEqual(sparseShuffle(nc, want, createRandom(seed)), explicitShuffle(nc, want, createRandom(seed)), `nc ${nc} want ${want}`);
  }
});

test('sampleFixedImage: the same voxels as the per-voxel reference (all, regular, random; with and without a mask; 2D and 3D)', () => {
  const img3 = createImage([23, 17, 11], 'float32', { spacing: [1, 1.5, 2], origin: [3, -4, 5] });
  for (let v = 0; v < img3.data.length; v++) img3.data[v] = Math.sin(v);
  const img2 = createImage([31, 29], 'float32');
  for (let v = 0; v < img2.data.length; v++) img2.data[v] = v % 7;
  // A mask on another grid (coarser, shifted): a ball.
  const mask3 = createImage([12, 13, 12], 'uint8', { spacing: [2, 2, 2], origin: [3, -4, 5] });
  for (let v = 0; v < mask3.data.length; v++) {
    const i = v % 12, j = Math.floor(v / 12) % 13, k = Math.floor(v / 156);
    mask3.data[v] = (i - 6) ** 2 + (j - 6) ** 2 + (k - 5) ** 2 < 20 ? 1 : 0;
  }
  const mask2 = createImage([31, 29], 'uint8');
  for (let v = 0; v < mask2.data.length; v++) mask2.data[v] = v % 31 > 10 && Math.floor(v / 31) < 20 ? 1 : 0;
  for (const [img, mask] of [[img3, mask3], [img2, mask2]] as const) {
    for (const strategy of ['all', 'regular', 'random'] as const) {
      for (const fraction of [1, 0.2, 0.013]) {
        for (const m of [undefined, mask]) {
          const s = sampleFixedImage(img, { strategy, percentage: fraction, seed: 11, mask: m });
          const ref = referenceVoxels(img, strategy, fraction, 11, m);
          const what = `${img.dimension}D ${strategy} ${fraction} ${m ? 'mask' : 'no mask'}`;
          assert.deepEqual(Array.from(s.voxels), ref, what);
          assert.equal(s.count, ref.length, what);
          assert.equal(s.voxels.length, s.count, `${what}: voxels sized by the samples`);
          for (let k = 0; k < s.count; k++) assert.equal(s.values[k], img.data[s.voxels[k]]);
        }
      }
    }
  }
});

test('foldCheckPoints: the lattice gives every stride-th voxel centre in grid order', () => {
  const img = createImage([9, 7, 5], 'float32', { spacing: [1, 2, 3], origin: [1, 2, 3], direction: [0, 1, 0, -1, 0, 0, 0, 0, 1] });
  const M = indexToPhysicalMatrix(img);
  for (const stride of [1, 2, 3]) {
    const g = foldCheckPoints(img, stride);
    const p = new Float64Array(3);
    let n = 0;
    for (let k = 0; k < 5; k += stride) for (let j = 0; j < 7; j += stride) for (let i = 0; i < 9; i += stride) {
      foldCheckPoint(g, n++, p);
      for (let r = 0; r < 3; r++) assert.ok(Math.abs(p[r] - (img.origin[r] + M[r * 3] * i + M[r * 3 + 1] * j + M[r * 3 + 2] * k)) < 1e-12);
    }
    assert.equal(g.count, n);
  }
});
