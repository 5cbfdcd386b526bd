// A B-spline level's jittered sample set with its positions and values made on a team of threads
// (src/register/parallel-sampling.ts sampleFixedImageOn): the same points, values and voxels, bit for bit, as the
// one-thread sampleFixedImage, for 1, 2 and 3 threads (every voxel, a random subset, a random subset in a mask,
// an oblique int16 image read in place); the helpers made some of the blocks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createImage, type Image } from '../../src/image/image.js';
import { TEAM_MIN_SAMPLES } from '../../src/register/parallel-for.js';
import { sampleFixedImageOn } from '../../src/register/parallel-sampling.js';
import { sampleFixedImage, type SamplingOptions } from '../../src/register/sampling.js';
import { teamCache } from './team-cache.js';

const team = teamCache();

function volume(type: 'float32' | 'int16', size: number[], direction?: number[]): Image {
  const img = createImage(size, type, { spacing: [1, 1.2, 0.9], origin: [3, -4, 5], ...(direction ? { direction } : {}) });
  for (let v = 0; v < img.data.length; v++) img.data[v] = Math.round(100 * Math.sin(v / 37) + 50 * Math.cos(v / 1013));
  return img;
}

test('sampleFixedImageOn: the same jittered sample set as sampleFixedImage on 1, 2 and 3 threads', async () => {
  const big = volume('float32', [64, 56, 48]);
  const mask = createImage([64, 56, 48], 'uint8', { spacing: [1, 1.2, 0.9], origin: [3, -4, 5] });
  for (let v = 0; v < mask.data.length; v++) mask.data[v] = v % 64 < 50 ? 1 : 0;
  const oblique = volume('int16', [60, 50, 40], [0.8, -0.6, 0, 0.6, 0.8, 0, 0, 0, 1]);
  const cases: [string, Image, SamplingOptions][] = [
    ['every voxel', big, { strategy: 'all', seed: 5, jitter: true }],
    ['random subset', big, { strategy: 'random', percentage: 0.6, seed: 9, jitter: true }],
    ['random subset in a mask', big, { strategy: 'random', percentage: 0.5, seed: 2, jitter: true, mask }],
    ['oblique int16, every voxel', oblique, { strategy: 'all', seed: 11, jitter: true }],
  ];
  for (const [name, image, options] of cases) {
    const ref = sampleFixedImage(image, options);
    assert.ok(ref.count >= TEAM_MIN_SAMPLES, `${name}: enough samples for the team (${ref.count})`);
    for (const threads of [1, 2, 3]) {
      const t = team(threads);
      const helperBlocks = t.helperBlocks;
      const got = await sampleFixedImageOn(t, image, options);
      assert.equal(got.count, ref.count, `${name}, ${threads} threads: count`);
      assert.deepEqual(got.voxels, ref.voxels, `${name}, ${threads} threads: voxels`);
      assert.deepEqual(new Float64Array(got.points), new Float64Array(ref.points), `${name}, ${threads} threads: points`);
      assert.deepEqual(new Float64Array(got.values), new Float64Array(ref.values), `${name}, ${threads} threads: values`);
      if (threads > 1) assert.ok(t.helperBlocks > helperBlocks, `${name}, ${threads} threads: the helpers made blocks`);
    }
  }
});
