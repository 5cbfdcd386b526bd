// autoLandmarks end to end on synthetic blob images (rendered analytically, so the moved copy needs no resampler).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { autoLandmarks } from '../../src/features/auto.js';
import { createImage } from '../../src/image/image.js';
import { applyMotion, randomBlobs, render, rotation, type RigidMotion } from './synthetic.js';

function maxError(t: { transformPoint(p: ArrayLike<number>, out: Float64Array): Float64Array | void }, motion: RigidMotion, pts: number[][]): number {
  const d = pts[0].length;
  const out = new Float64Array(d);
  let worst = 0;
  for (const p of pts) {
    t.transformPoint(p, out);
    const q = applyMotion(motion, p);
    worst = Math.max(worst, Math.hypot(...q.map((v, a) => v - out[a])));
  }
  return worst;
}

test('autoLandmarks: 2D rotation by 130° and a shift, rigid and similarity', () => {
  const blobs = randomBlobs(2, 80, 10, 150, 21);
  const motion: RigidMotion = { R: rotation(2, 130), center: [80, 80], shift: [12, -9] };
  const fixed = render(blobs, [160, 160]);
  const moving = render(blobs, [160, 160], {}, motion);
  for (const kind of ['rigid', 'similarity'] as const) {
    const r = autoLandmarks(fixed, moving, { transform: kind });
    assert.ok(r.inliers >= r.rule.minInliers, `${r.inliers} inliers`);
    assert.ok(r.inlierRatio >= 0.5, `inlier ratio ${r.inlierRatio}`);
    const err = maxError(r.transform, motion, [[20, 20], [140, 20], [20, 140], [140, 140], [80, 80]]);
    assert.ok(err < 1, `${kind}: max error ${err} mm`);
    assert.ok(r.residualMm < 1, `residual ${r.residualMm}`);
    // Counts are consistent with the match rows.
    let flagged = 0;
    for (let k = 0; k < r.matches.count; k++) flagged += r.matches.inliers[k];
    assert.equal(flagged, r.inliers);
  }
});

test('autoLandmarks: 3D rotation by 100° about an oblique axis', () => {
  const blobs = randomBlobs(3, 90, 8, 56, 13);
  const motion: RigidMotion = { R: rotation(3, 100, [1, -2, 0.5]), center: [32, 32, 32], shift: [4, -3, 5] };
  const fixed = render(blobs, [64, 64, 64]);
  const moving = render(blobs, [64, 64, 64], {}, motion);
  const r = autoLandmarks(fixed, moving);
  const err = maxError(r.transform, motion, [[16, 16, 16], [48, 16, 48], [16, 48, 48], [48, 48, 16], [32, 32, 32]]);
  assert.ok(err < 1, `max error ${err} mm (${r.inliers} inliers of ${r.matches.count})`);
});

test('autoLandmarks: a constant image or unrelated images fail with the counts, never a transform', () => {
  const blobs = randomBlobs(2, 80, 10, 150, 21);
  const fixed = render(blobs, [160, 160]);
  const flat = createImage([160, 160], 'float32');
  flat.data.fill(7);
  assert.throws(() => autoLandmarks(fixed, flat, { movingName: 'flat.nii' }), (e: Error) => /^too few keypoints to match \(keypoints: fixed \d+, moving 0;/.test(e.message) && (e as { subject?: string }).subject === 'flat.nii');
  const tiny = createImage([6, 6], 'float32');
  tiny.data.forEach((_, i) => (tiny.data[i] = i % 7));
  assert.throws(() => autoLandmarks(fixed, tiny), /too few keypoints/);
  const other = render(randomBlobs(2, 80, 10, 150, 99), [160, 160]);
  assert.throws(() => autoLandmarks(fixed, other), /no consistent match \(gradient: keypoints fixed \d+, moving \d+, \d+ matches, \d+ inliers; mind: keypoints fixed \d+, moving \d+, /);
});

test('autoLandmarks: an inverted, nonlinearly remapped 2D copy matches through the mind fallback', () => {
  const blobs = randomBlobs(2, 80, 10, 150, 21);
  const motion: RigidMotion = { R: rotation(2, 70), center: [80, 80], shift: [-6, 11] };
  const fixed = render(blobs, [160, 160]);
  const moving = render(blobs, [160, 160], {}, motion, (v) => 1000 - 3 * Math.sqrt(v) * v / 10);
  const r = autoLandmarks(fixed, moving);
  assert.equal(r.descriptor, r.attempts[r.attempts.length - 1].descriptor);
  const err = maxError(r.transform, motion, [[20, 20], [140, 20], [20, 140], [140, 140]]);
  assert.ok(err < 1, `max error ${err} mm (${r.descriptor}, ${r.inliers} inliers)`);
});
