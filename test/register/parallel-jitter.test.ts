// A level's jittered sample set with its per-sample loop on a team (parallel-jitter.ts: the B-spline levels'
// 150 000 samples): the same points, values and voxels as sampleFixedImage, bit for bit, on 1, 2 and 3 threads,
// for a random subset and for every voxel, 3D and 2D; the helpers take part.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Image } from '../../src/image/image.js';
import { shareArray } from '../../src/register/parallel-for.js';
import { sampleFixedImageOn } from '../../src/register/parallel-jitter.js';
import { sampleFixedImage, type SampleSet, type SamplingOptions } from '../../src/register/sampling.js';
import { imageFromFunction, scene2d, scene3d } from './synthetic.js';
import { teamCache } from './team-cache.js';

const team = teamCache();

function bytes(a: Float64Array | Int32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

function assertSame(a: SampleSet, b: SampleSet, what: string): void {
  assert.equal(a.count, b.count, what);
  assert.deepEqual(bytes(a.points), bytes(b.points), `${what}: points`);
  assert.deepEqual(bytes(a.values), bytes(b.values), `${what}: values`);
  assert.deepEqual(bytes(a.voxels), bytes(b.voxels), `${what}: voxels`);
}

/** The image with its pixels on shared memory (as a team's pyramid levels are). */
function shared(img: Image): Image {
  return { ...img, data: shareArray(img.data as Float32Array) };
}

const cases: { name: string; fixed: Image; opts: SamplingOptions }[] = [
  {
    name: '3D random subset',
    fixed: shared(imageFromFunction({ size: [60, 56, 52], spacing: [1.1, 0.9, 1.2], origin: [-3, 2, -1] }, scene3d)),
    opts: { strategy: 'random', percentage: 0.5, seed: 1234, jitter: true },
  },
  {
    name: '3D every voxel',
    fixed: shared(imageFromFunction({ size: [44, 42, 40], spacing: [1, 1, 1.3], origin: [0, -1, 2] }, scene3d)),
    opts: { strategy: 'all', seed: 77, jitter: true },
  },
  {
    name: '2D random subset',
    fixed: shared(imageFromFunction({ size: [400, 360], spacing: [0.7, 0.8], origin: [1, -2] }, scene2d)),
    opts: { strategy: 'random', percentage: 0.6, seed: 99, jitter: true },
  },
];

for (const c of cases) {
  test(`jittered samples on a team (${c.name}): the same as sampleFixedImage on 1, 2 and 3 threads`, async () => {
    const reference = sampleFixedImage(c.fixed, c.opts);
    assert.ok(reference.count >= 1 << 16, `${reference.count} samples: too few for the team`);
    assertSame(await sampleFixedImageOn(undefined, c.fixed, c.opts, 0), reference, 'no team');
    // (images of any size on the team here; by default only from TEAM_JITTER_MIN_VOXELS on)
    for (const threads of [1, 2, 3]) assertSame(await sampleFixedImageOn(team(threads), c.fixed, c.opts, 0), reference, `${threads} thread(s)`);
  });
}

test('the helpers took part in the draws above (else their equality would prove nothing)', () => {
  for (const threads of [2, 3]) assert.ok(team(threads).helperBlocks > 0, `${threads} threads: the helpers did no block`);
});
