// The fold repair with its point checks on a team (parallel-fold.ts): the same result, bit for bit, as repairFolding
// alone, on 2 and 3 threads; the helpers take part.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createImage } from '../../src/image/image.js';
import { foldCheckPoints, repairFolding } from '../../src/register/fold-repair.js';
import { repairFoldingOn } from '../../src/register/parallel-fold.js';
import { createBSplineTransformForImage } from '../../src/transform/bspline.js';
import { jacobianDeterminantImage, summarizeJacobian } from '../../src/transform/jacobian.js';
import { createRandom } from '../../src/random.js';
import { teamCache } from './team-cache.js';

const team = teamCache();

// 48×46×40 voxels (88 320 check points at every voxel), a 6 mm control grid: axis-aligned (the checks contracted
// axis by axis; on the team only when asked for so few points) and oblique (point by point; on the team from 2^16)
const aligned = createImage([48, 46, 40], 'float32', { spacing: [1, 1.1, 0.9], origin: [3, -2, 1] });
const c = Math.cos(0.3);
const sn = Math.sin(0.3);
const oblique = createImage([48, 46, 40], 'float32', { spacing: [1, 1.1, 0.9], origin: [3, -2, 1], direction: [c, -sn, 0, sn, c, 0, 0, 0, 1] });

function update(image: typeof aligned, scale: number, seed: number): { before: Float64Array; after: Float64Array } {
  const bs = createBSplineTransformForImage(image, 6);
  const random = createRandom(seed);
  const before = new Float64Array(bs.numberOfParameters);
  for (let i = 0; i < before.length; i++) before[i] = 0.3 * (random() - 0.5);
  // large random moves: most cells can fold by the bound, and many points do
  const after = Float64Array.from(before, (v) => v + scale * (random() - 0.5));
  return { before, after };
}

for (const [name, image, minPoints] of [
  ['axis-aligned', aligned, 1 << 16],
  ['oblique', oblique, undefined],
] as const) {
test(`repairFoldingOn (${name}): the same repair (parameters bit for bit) as repairFolding alone, on 2 and 3 threads`, async () => {
  const points = foldCheckPoints(image, 1);
  for (const [scale, seed] of [
    [14, 1],
    [30, 2],
  ]) {
    const { before, after } = update(image, scale, seed);
    const alone = createBSplineTransformForImage(image, 6);
    const reference = repairFolding(alone, before, after, points);
    assert.ok(reference.pulledBack > 0, 'the update folded and was repaired');
    assert.equal(summarizeJacobian(jacobianDeterminantImage([alone], image).data).foldedCount, 0);
    for (const threads of [2, 3]) {
      const before0 = team(threads).helperBlocks;
      for (let rep = 0; rep < 10 && (rep === 0 || team(threads).helperBlocks === before0); rep++) {
        const bs = createBSplineTransformForImage(image, 6);
        const r = await repairFoldingOn(team(threads), bs, before, after, points, minPoints);
        assert.deepEqual(r, reference, `${threads} threads, scale ${scale}`);
        assert.deepEqual(new Uint8Array(bs.parameters.buffer.slice(0)), new Uint8Array(alone.parameters.buffer.slice(0)), `${threads} threads, scale ${scale}: parameters`);
      }
      assert.ok(team(threads).helperBlocks > before0, `${threads} threads: the helpers did no block`);
    }
  }
});
}

test('repairFoldingOn: no fold possible, nothing changes (no session), as alone', async () => {
  const { before } = update(oblique, 0, 3);
  const after = Float64Array.from(before, (v, i) => v + 0.01 * Math.sin(i));
  const points = foldCheckPoints(oblique, 1);
  const bs = createBSplineTransformForImage(oblique, 6);
  const blocks = team(2).helperBlocks;
  assert.deepEqual(await repairFoldingOn(team(2), bs, before, after, points), { repaired: true, pulledBack: 0 });
  assert.deepEqual([...bs.parameters], [...after]);
  assert.equal(team(2).helperBlocks, blocks, 'no team session for an update that cannot fold');
});
