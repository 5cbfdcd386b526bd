// The fold repair's checks on a team of threads (src/register/fold-repair.ts repairFoldingOn): the same
// parameters and counts, bit for bit, as the one-thread repairFolding for 1, 2 and 3 threads, 2D and 3D (oblique
// grids), with updates that fold in many places; the helpers did some of the checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createImage } from '../../src/image/image.js';
import { foldCheckPoints, repairFolding, repairFoldingOn, TEAM_MIN_FOLD_POINTS } from '../../src/register/fold-repair.js';
import { createBSplineTransformForImage } from '../../src/transform/bspline.js';
import { teamCache } from './team-cache.js';

const team = teamCache();

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

test('repairFoldingOn: the same repair as repairFolding on 1, 2 and 3 threads (2D and 3D, folds in many places)', async () => {
  const images = [
    createImage([300, 260], 'float32', { spacing: [1, 1.2], direction: [0.8, -0.6, 0.6, 0.8] }),
    createImage([48, 44, 40], 'float32', { spacing: [1, 1.1, 1.3], direction: [1, 0.2, 0, 0, 1, 0, 0, 0, 1] }),
  ];
  for (const image of images) {
    const pts = foldCheckPoints(image, 1);
    assert.ok(pts.count >= TEAM_MIN_FOLD_POINTS, 'enough points for the team');
    const bs = createBSplineTransformForImage(image, 6);
    const random = lcg(7);
    const before = new Float64Array(bs.numberOfParameters);
    for (const amplitude of [25]) {
      const after = Float64Array.from({ length: bs.numberOfParameters }, () => amplitude * (random() - 0.5));
      const ref = repairFolding(bs, before, after, pts);
      const expected = Float64Array.from(bs.parameters);
      assert.ok(ref.pulledBack > 0, `${image.dimension}D amplitude ${amplitude}: the update folds`);
      for (const threads of [1, 2, 3]) {
        const t = team(threads);
        const helperBlocks = t.helperBlocks;
        bs.setParameters(before);
        const got = await repairFoldingOn(t, bs, before, after, pts);
        assert.deepEqual(got, ref, `${image.dimension}D amplitude ${amplitude}, ${threads} threads`);
        assert.deepEqual([...bs.parameters], [...expected], `${image.dimension}D amplitude ${amplitude}, ${threads} threads: parameters`);
        if (threads > 1) assert.ok(t.helperBlocks > helperBlocks, `${threads} threads: the helpers checked points`);
      }
    }
  }
});
