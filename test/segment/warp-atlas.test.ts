// segment's label (and image) warp after each atlas registration (warpAtlas, src/segment/atlas.ts): on a team its
// rows are split over the threads; the labels and the warped image are bit-identical for no team and 1, 2, 3 threads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createImage, type Image } from '../../src/image/image.js';
import { MIN_PARALLEL_VOXELS } from '../../src/register/parallel-resample.js';
import { warpAtlas } from '../../src/segment/atlas.js';
import { resample } from '../../src/resample/resample.js';
import { createBSplineTransformForImage } from '../../src/transform/bspline.js';
import { AffineTransform } from '../../src/transform/linear.js';
import { teamCache } from '../register/team-cache.js';

const team = teamCache();

/** Nested boxes and a ball (labels 1–4) on a 66 × 64 × 64 grid of 1.1 mm voxels, and a smooth image. */
function atlas(): { image: Image; labels: Image } {
  const size = [66, 64, 64];
  const grid = { spacing: [1.1, 1.1, 1.1], origin: [-3, 2, 1] };
  const labels = { ...createImage(size, 'uint8'), ...grid };
  const image = { ...createImage(size, 'float32'), ...grid };
  for (let z = 0; z < 64; z++) {
    for (let y = 0; y < 64; y++) {
      for (let x = 0; x < 66; x++) {
        const v = x + 66 * (y + 64 * z);
        let l = 0;
        if (x > 8 && x < 58 && y > 6 && y < 58 && z > 5 && z < 60) l = 1;
        if (x > 20 && x < 40 && y > 15 && y < 45 && z > 12 && z < 50) l = 2;
        if ((x - 44) ** 2 + (y - 30) ** 2 + (z - 30) ** 2 < 64) l = 3;
        if (x > 25 && x < 33 && y > 40 && y < 52 && z > 20 && z < 28) l = 4;
        labels.data[v] = l;
        image.data[v] = 40 * l + 5 * Math.sin(x / 4) * Math.cos(y / 5) + z / 8;
      }
    }
  }
  return { image, labels };
}

test('warpAtlas: labels and image bit-identical without a team and on 1, 2, 3 threads (a B-spline chain), close to resample()', async () => {
  const a = atlas();
  const target = { ...createImage([64, 66, 64], 'float32'), spacing: [1.15, 1.05, 1.1], origin: [-2, 1, 2] };
  assert.ok(target.data.length >= MIN_PARALLEL_VOXELS, 'large enough to run on the team');
  const affine = new AffineTransform(3);
  affine.fitMapping([1.02, 0.05, 0, -0.03, 0.98, 0.02, 0.01, 0, 1.01], [1.5, -0.7, 0.4]);
  const bs = createBSplineTransformForImage(target, 12);
  const p = new Float64Array(bs.numberOfParameters);
  for (let i = 0; i < p.length; i++) p[i] = 1.2 * Math.sin(0.7 * i + 0.3);
  bs.setParameters(p);
  const chain = [bs, affine];
  const serial = await warpAtlas(a, target, chain, true);
  for (const threads of [1, 2, 3]) {
    const t = await warpAtlas(a, target, chain, true, team(threads));
    assert.deepEqual([...t.labels.data], [...serial.labels.data], `labels on ${threads} threads`);
    assert.deepEqual([...t.image!.data], [...serial.image!.data], `image on ${threads} threads`);
    assert.equal(t.labels.data.constructor, Uint8Array);
  }
  assert.ok(team(2).helperBlocks > 0, 'the helper did part of the rows');
  // the same warp as resample() (its pixels may differ in the last bits of the mapped point: a label only at ties)
  const plain = resample(a.labels, target, chain, { interpolation: 'label' });
  let same = 0;
  const counts = [0, 0, 0, 0, 0];
  for (let v = 0; v < plain.data.length; v++) {
    if (plain.data[v] === serial.labels.data[v]) same++;
    counts[serial.labels.data[v]]++;
  }
  assert.ok(same >= plain.data.length - 10, `${plain.data.length - same} voxels differ from resample()`);
  assert.ok(counts.every((c) => c > 0), 'every label is in the warped labels');
});
