import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createImage } from '../../src/image/image.js';
import { differenceImage } from '../../src/report/difference.js';
import { TranslationTransform } from '../../src/transform/linear.js';
import { assertClose } from '../helpers.js';

function ramp(shift: number) {
  const img = createImage([16, 12], 'float32');
  for (let j = 0; j < 12; j++) for (let i = 0; i < 16; i++) img.data[i + 16 * j] = (i + shift) * 2 + j;
  return img;
}

test('difference before/after: a known shift leaves no difference where the images overlap', () => {
  const fixed = ramp(0);
  const moving = ramp(-3); // moving(x + 3) = fixed(x)
  const before = differenceImage(fixed, moving, []);
  assertClose(before.stats.rms, 6, 1e-5, 'rms before');
  assertClose(before.stats.meanAbs, 6, 1e-5, 'mean |d| before');
  assert.equal(before.stats.voxels, 16 * 12);
  const t = new TranslationTransform(2);
  t.setParameters([3, 0]);
  const after = differenceImage(fixed, moving, [t]);
  assertClose(after.stats.rms, 0, 1e-5, 'rms after');
  assertClose(after.stats.ncc, 1, 1e-9, 'ncc after');
  // x + 3 leaves the moving image for the last 3 columns (beyond its half-pixel border): not compared, 0 in the image.
  assert.equal(after.stats.voxels, 13 * 12);
  assert.equal(after.difference.data[15], 0);
});

test('difference: dimension mismatch and no overlap are clear errors', () => {
  assert.throws(() => differenceImage(ramp(0), createImage([4, 4, 4]), []), /2D but the moving image is 3D/);
  const far = ramp(0);
  far.origin = [1000, 1000];
  assert.throws(() => differenceImage(ramp(0), far, []), /do not overlap/);
});
