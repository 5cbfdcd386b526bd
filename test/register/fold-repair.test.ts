import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createImage } from '../../src/image/image.js';
import { foldCheckPoint, foldCheckPoints, repairFolding, safeCells } from '../../src/register/fold-repair.js';
import { createBSplineTransformForImage } from '../../src/transform/bspline.js';
import { jacobianDeterminantImage, summarizeJacobian } from '../../src/transform/jacobian.js';

// 160×160 image, 1 mm; control grid 8 mm (23×23 control points).
const fixed = createImage([160, 160], 'float32');

function setup(): { bs: ReturnType<typeof createBSplineTransformForImage>; before: Float64Array; after: Float64Array; nC: number; gx: number } {
  const bs = createBSplineTransformForImage(fixed, 8);
  const nC = bs.numberOfControlPoints;
  const gx = bs.gridSize[0];
  const before = new Float64Array(bs.numberOfParameters);
  // A gentle smooth update everywhere (never folds) …
  const after = new Float64Array(bs.numberOfParameters);
  for (let c = 0; c < nC; c++) after[c] = 0.5 * Math.sin(c / 3);
  return { bs, before, after, nC, gx };
}

for (const [name, direction] of [
  ['identity', [1, 0, 0, 1]],
  // Not orthonormal: the support of a point is found with D⁻¹ (the grid's own map); Dᵀ would miss it.
  ['sheared', [1, 0.45, 0, 0.9]],
] as const) {
  test(`repairFolding (${name} direction): a local fold is undone around it only; the rest of the update stays`, () => {
    const image = createImage([160, 160], 'float32', { direction: [...direction] });
    const bs = createBSplineTransformForImage(image, 8);
    const nC = bs.numberOfControlPoints;
    const gx = bs.gridSize[0];
    const before = new Float64Array(bs.numberOfParameters);
    const after = new Float64Array(bs.numberOfParameters);
    for (let c = 0; c < nC; c++) after[c] = 0.5 * Math.sin(c / 3);
    // One control point in the middle pushed 20 mm past its neighbours along x: a local fold.
    const centre = 11 * gx + 11;
    after[centre] += 20;
    bs.setParameters(after);
    assert.ok(summarizeJacobian(jacobianDeterminantImage([bs], image).data).foldedCount > 0, 'the update folds');
    const r = repairFolding(bs, before, after, foldCheckPoints(image, 1));
    assert.equal(r.repaired, true);
    assert.equal(summarizeJacobian(jacobianDeterminantImage([bs], image).data).foldedCount, 0, 'nothing folds on the image');
    assert.ok(bs.parameters[centre] < after[centre], 'the offending control point was scaled back');
    // The fold lies within the support of control point (11, 11): only control points whose support overlaps it
    // (within 4 grid steps) may change; every other keeps its whole update exactly.
    for (let c = 0; c < nC; c++) {
      const [i, j] = [c % gx, Math.floor(c / gx)];
      if (Math.abs(i - 11) <= 4 && Math.abs(j - 11) <= 4) continue;
      assert.equal(bs.parameters[c], after[c], `control point (${i}, ${j}) x`);
      assert.equal(bs.parameters[nC + c], after[nC + c], `control point (${i}, ${j}) y`);
    }
  });
}

test('repairFolding: no fold, nothing changes; widespread folding is still repaired where it is', () => {
  const { bs, before, after } = setup();
  const r = repairFolding(bs, before, after, foldCheckPoints(fixed, 1));
  assert.deepEqual(r, { repaired: true, pulledBack: 0 });
  assert.deepEqual([...bs.parameters], [...after]);
  // Every other control point pushed far in the left half of the grid: folds over a wide region. The repair
  // never gives up the level: nothing folds afterwards, and the right half keeps its update.
  const nC = bs.numberOfControlPoints;
  const gx = bs.gridSize[0];
  const wild = Float64Array.from(after, (v, i) => ((i % nC) % gx < gx / 2 - 4 ? v + (i % 2 ? 40 : -40) : v));
  const w = repairFolding(bs, before, wild, foldCheckPoints(fixed, 1));
  assert.equal(w.repaired, true);
  assert.ok(w.pulledBack > 0.1 * nC, `pulled back ${w.pulledBack} of ${nC}`);
  assert.equal(summarizeJacobian(jacobianDeterminantImage([bs], fixed).data).foldedCount, 0, 'nothing folds on the image');
  let kept = 0;
  for (let c = 0; c < nC; c++) if (c % gx >= gx / 2 + 2 && bs.parameters[c] === wild[c] && bs.parameters[nC + c] === wild[nC + c]) kept++;
  assert.ok(kept > 0.3 * nC, `${kept} control points of the right half kept their update`);
});

/** The fold repair as it was before the safe-cell bound: every lattice point's determinant, every round. */
function repairFoldingReference(bs: ReturnType<typeof createBSplineTransformForImage>, before: Float64Array, after: Float64Array, pts: ReturnType<typeof foldCheckPoints>): { repaired: boolean; pulledBack: number } {
  const d = bs.dimension;
  const nC = bs.numberOfControlPoints;
  const [nx, nxy] = bs.gridStrides;
  const params = Float64Array.from(after);
  const share = new Float64Array(nC).fill(1);
  const lo = new Int32Array(d);
  const p = new Float64Array(d);
  let touched = 0;
  for (let round = 0; round <= 40; round++) {
    bs.setParameters(params);
    let folded = 0;
    const hit = new Set<number>();
    for (let i = 0; i < pts.count; i++) {
      foldCheckPoint(pts, i, p);
      if (bs.jacobianDeterminant(p) > 0) continue;
      folded++;
      for (let a = 0; a < d; a++) {
        let u = 0;
        for (let r = 0; r < d; r++) u += bs.toGrid[a * d + r] * (p[r] - bs.gridOrigin[r]);
        lo[a] = Math.floor(u) - 1;
      }
      for (let kz = 0; kz < (d === 3 ? 4 : 1); kz++) {
        const iz = d === 3 ? Math.min(bs.gridSize[2] - 1, Math.max(0, lo[2] + kz)) : 0;
        for (let ky = 0; ky < 4; ky++) {
          const iy = Math.min(bs.gridSize[1] - 1, Math.max(0, lo[1] + ky));
          for (let kx = 0; kx < 4; kx++) hit.add(iz * nxy + iy * nx + Math.min(bs.gridSize[0] - 1, Math.max(0, lo[0] + kx)));
        }
      }
    }
    if (folded === 0) return { repaired: true, pulledBack: touched };
    if (round === 40) break;
    let changed = false;
    for (const c of hit) {
      if (share[c] === 0) continue;
      if (share[c] === 1) touched++;
      share[c] = share[c] > 2 ** -6 ? share[c] * 0.5 : 0;
      changed = true;
      for (let a = 0; a < d; a++) params[a * nC + c] = before[a * nC + c] + share[c] * (after[a * nC + c] - before[a * nC + c]);
    }
    if (!changed) break;
  }
  return { repaired: false, pulledBack: touched };
}

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

test('safeCells: no point of a cell it calls safe folds (random grids, 2D and 3D, oblique and anisotropic)', () => {
  const cases = [
    createImage([40, 36], 'float32', { spacing: [1, 1.5], direction: [0.8, -0.6, 0.6, 0.8] }),
    createImage([24, 20, 18], 'float32', { spacing: [1, 1.2, 2], direction: [1, 0.3, 0, 0, 1, 0, 0, 0, 1] }),
  ];
  for (const [ci, image] of cases.entries()) {
    const bs = createBSplineTransformForImage(image, 6);
    const random = lcg(7 + ci);
    const d = bs.dimension;
    const safe = new Uint8Array((bs.gridSize[0] - 3) * (bs.gridSize[1] - 3) * (d === 3 ? bs.gridSize[2] - 3 : 1));
    let safeSeen = 0;
    let unsafeSeen = 0;
    for (const amplitude of [0.5, 1.5, 3, 6]) {
      const params = Float64Array.from({ length: bs.numberOfParameters }, () => amplitude * (random() - 0.5));
      bs.setParameters(params);
      const unsafe = safeCells(bs, params, safe);
      unsafeSeen += unsafe;
      safeSeen += safe.length - unsafe;
      // random points in the domain: wherever the cell is safe, the determinant is positive
      const g = new Float64Array(d);
      const p = new Float64Array(d);
      for (let k = 0; k < 4000; k++) {
        for (let a = 0; a < d; a++) g[a] = 1 + random() * (bs.gridSize[a] - 3);
        // physical point of grid index g: gridOrigin + D·diag(spacing)·g
        for (let r = 0; r < d; r++) {
          let s = bs.gridOrigin[r];
          for (let a = 0; a < d; a++) s += bs.gridDirection[r * d + a] * bs.gridSpacing[a] * g[a];
          p[r] = s;
        }
        const cell = [0, 1, 2].slice(0, d).map((a) => Math.min(bs.gridSize[a] - 4, Math.floor(g[a]) - 1));
        const index = d === 3 ? cell[0] + (bs.gridSize[0] - 3) * (cell[1] + (bs.gridSize[1] - 3) * cell[2]) : cell[0] + (bs.gridSize[0] - 3) * cell[1];
        if (safe[index]) assert.ok(bs.jacobianDeterminant(p) > 1e-6, `case ${ci}, amplitude ${amplitude}: det ${bs.jacobianDeterminant(p)} in a safe cell`);
      }
    }
    assert.ok(safeSeen > 0 && unsafeSeen > 0, `both kinds of cells occur (safe ${safeSeen}, unsafe ${unsafeSeen})`);
  }
});

test('repairFolding with the safe-cell bound: the same parameters and counts as checking every point', () => {
  for (const image of [createImage([48, 40], 'float32', { spacing: [1, 1.25] }), createImage([20, 22, 16], 'float32', { direction: [1, 0.2, 0, 0, 1, 0, 0, 0, 1] })]) {
    const bs = createBSplineTransformForImage(image, 5);
    const random = lcg(3);
    const before = new Float64Array(bs.numberOfParameters);
    let repairs = 0;
    for (const amplitude of [2, 8, 16]) {
      const after = Float64Array.from({ length: bs.numberOfParameters }, () => amplitude * (random() - 0.5));
      const pts = foldCheckPoints(image, 1);
      const ref = repairFoldingReference(bs, before, after, pts);
      const expected = Float64Array.from(bs.parameters);
      const got = repairFolding(bs, before, after, pts);
      assert.deepEqual(got, ref, `amplitude ${amplitude}`);
      assert.deepEqual([...bs.parameters], [...expected], `amplitude ${amplitude}: parameters`);
      if (got.pulledBack > 0) repairs++;
    }
    assert.ok(repairs > 0, 'some update folded and was repaired');
  }
});

test('foldFlagsSlices: the separable determinant gives the point-by-point verdicts (3D, flipped axes, anisotropic lattice); oblique grids go point by point', async () => {
  const { foldFlags, foldFlagsSlices, foldScratch, foldSlices } = await import('../../src/register/fold-repair.js');
  const { createRandom } = await import('../../src/random.js');
  const img = createImage([41, 37, 29], 'float32', { spacing: [1.2, 0.9, 1.5], origin: [12, -30, 4], direction: [-1, 0, 0, 0, -1, 0, 0, 0, 1] });
  const bs = createBSplineTransformForImage(img, 7);
  const random = createRandom(5);
  // large random moves in the grid's first half along x (folds), small ones elsewhere (safe cells)
  const nC = bs.numberOfControlPoints;
  const q = Float64Array.from({ length: bs.numberOfParameters }, (_, i) => ((i % nC) % bs.gridSize[0] < bs.gridSize[0] / 2 ? 30 : 0.1) * (random() - 0.5));
  bs.setParameters(q);
  for (const stride of [1, 2]) {
    const pts = foldCheckPoints(img, stride);
    const safe = new Uint8Array((bs.gridSize[0] - 3) * (bs.gridSize[1] - 3) * (bs.gridSize[2] - 3));
    const unsafe = safeCells(bs, q, safe);
    assert.ok(unsafe > 0 && unsafe < safe.length, 'some cells safe, some not');
    const p = new Float64Array(3);
    const reference = new Uint8Array(pts.count);
    const folded = foldFlags(bs, pts, safe, 0, pts.count, reference, p);
    assert.ok(folded > 0 && folded < pts.count / 2, `some points fold (${folded})`);
    const scratch = foldScratch(bs, pts);
    assert.ok(scratch, 'a diagonal grid and lattice: separable');
    const flags = new Uint8Array(pts.count).fill(7);
    // in two calls (the team's blocks are slice ranges)
    const half = Math.floor(foldSlices(pts) / 2);
    const n = foldFlagsSlices(bs, pts, safe, 0, half, flags, scratch, p) + foldFlagsSlices(bs, pts, safe, half, foldSlices(pts), flags, scratch, p);
    let differ = 0;
    for (let i = 0; i < pts.count; i++) {
      if (flags[i] === reference[i]) continue;
      foldCheckPoint(pts, i, p);
      assert.ok(Math.abs(bs.jacobianDeterminant(p)) < 1e-9, `point ${i}: verdicts differ away from det 0`);
      differ++;
    }
    assert.ok(differ <= 2, `${differ} verdicts differ`);
    assert.equal([...flags].filter((f) => f === 1).length, n, 'the count is the flags set');
  }
  const oblique = createImage([20, 20, 20], 'float32', { direction: [0.8, -0.6, 0, 0.6, 0.8, 0, 0, 0, 1] });
  assert.equal(foldScratch(createBSplineTransformForImage(oblique, 6), foldCheckPoints(oblique, 1)), null);
});
