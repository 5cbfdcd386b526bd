// Keypoint detection: invariance to rigid motion (2D, 3D, anisotropic voxels and oblique directions), the mask,
// constant and tiny images, frames are rotations.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CoregError } from '../../src/errors.js';
import { createImage } from '../../src/image/image.js';
import { detectKeypoints, type Keypoints } from '../../src/features/keypoints.js';
import { defaultWorkingSpacing } from '../../src/features/scale-space.js';
import { applyMotion, randomBlobs, render, repeatability, rotation, type RigidMotion } from './synthetic.js';

function checkFrames(k: Keypoints): void {
  const d = k.dimension;
  for (let i = 0; i < k.count; i++) {
    const F = k.frames.subarray(i * d * d, (i + 1) * d * d);
    for (let a = 0; a < d; a++) {
      for (let b = 0; b < d; b++) {
        let s = 0;
        for (let r = 0; r < d; r++) s += F[r * d + a] * F[r * d + b];
        assert.ok(Math.abs(s - (a === b ? 1 : 0)) < 1e-9, `frame ${i} columns ${a},${b}: ${s}`);
      }
    }
    let det: number;
    if (d === 2) det = F[0] * F[3] - F[1] * F[2];
    else det = F[0] * (F[4] * F[8] - F[5] * F[7]) - F[1] * (F[3] * F[8] - F[5] * F[6]) + F[2] * (F[3] * F[7] - F[4] * F[6]);
    assert.ok(Math.abs(det - 1) < 1e-9, `frame ${i} is a rotation (det ${det})`);
    assert.ok(k.scales[i] > 0 && k.responses[i] > 0);
  }
  for (let i = 1; i < k.count; i++) assert.ok(k.responses[i] <= k.responses[i - 1], 'sorted by response');
}

/** Frame agreement: R·F_a's columns against F_b's at the matched keypoints (mean |cos| of axis 0). */
test('2D: keypoints move with a rigid motion (within a voxel), frames rotate with it', () => {
  const blobs = randomBlobs(2, 60, 10, 118, 7);
  const size = [128, 128];
  const motion: RigidMotion = { R: rotation(2, 37), center: [64, 64], shift: [3.3, -2.1] };
  const fixed = render(blobs, size);
  const moving = render(blobs, size, {}, motion);
  const kf = detectKeypoints(fixed);
  const km = detectKeypoints(moving);
  checkFrames(kf);
  checkFrames(km);
  const inside = (q: number[]): boolean => q.every((v) => v > 12 && v < 116);
  const rep = repeatability(kf, km, (p) => applyMotion(motion, p), 1, inside);
  console.log(`2D: ${kf.count}/${km.count} keypoints, repeatability ${(100 * rep.fraction).toFixed(1)}% of ${rep.considered}`);
  assert.ok(rep.considered >= 30, `enough keypoints (${rep.considered})`);
  assert.ok(rep.fraction >= 0.85, `repeatability ${rep.fraction}`);
});

test('3D: keypoints move with a rigid motion about an oblique axis', () => {
  const blobs = randomBlobs(3, 70, 8, 40, 11);
  const size = [48, 48, 48];
  const motion: RigidMotion = { R: rotation(3, 50, [1, -2, 0.5]), center: [24, 24, 24], shift: [1.7, -2.2, 0.9] };
  const fixed = render(blobs, size);
  const moving = render(blobs, size, {}, motion);
  const kf = detectKeypoints(fixed);
  const km = detectKeypoints(moving);
  checkFrames(kf);
  checkFrames(km);
  const inside = (q: number[]): boolean => q.every((v) => v > 8 && v < 40);
  const rep = repeatability(kf, km, (p) => applyMotion(motion, p), 1, inside);
  console.log(`3D: ${kf.count}/${km.count} keypoints, repeatability ${(100 * rep.fraction).toFixed(1)}% of ${rep.considered}`);
  assert.ok(rep.considered >= 20, `enough keypoints (${rep.considered})`);
  assert.ok(rep.fraction >= 0.8, `repeatability ${rep.fraction}`);
});

test('physical space: anisotropic voxels and an oblique direction give the keypoints of an isotropic grid', () => {
  const blobs = randomBlobs(3, 50, 8, 40, 5, 2.5, 5);
  const iso = render(blobs, [48, 48, 48]);
  const R = rotation(3, 20, [0, 1, 1]);
  // A grid with 0.8 × 0.8 × 1.6 mm voxels, rotated axes, covering about the same box.
  const aniso = render(blobs, [60, 60, 30], { spacing: [0.8, 0.8, 1.6], origin: [2, -3, 6], direction: R });
  const ki = detectKeypoints(iso);
  const ka = detectKeypoints(aniso, { workingSpacing: 1 });
  checkFrames(ka);
  const inside = (q: number[]): boolean => q.every((v) => v > 12 && v < 36);
  const rep = repeatability(ka, ki, (p) => p, 1, inside);
  console.log(`anisotropic: ${ka.count}/${ki.count} keypoints, repeatability ${(100 * rep.fraction).toFixed(1)}% of ${rep.considered}`);
  assert.ok(rep.considered >= 10, `enough keypoints (${rep.considered})`);
  assert.ok(rep.fraction >= 0.8, `repeatability ${rep.fraction}`);
});

test('mask: every keypoint falls on the mask; a mask on another grid works', () => {
  const blobs = randomBlobs(2, 60, 10, 118, 3);
  const img = render(blobs, [128, 128]);
  const all = detectKeypoints(img);
  // Mask: left half, on a coarser grid (2 mm).
  const mask = createImage([64, 64], 'uint8', { spacing: [2, 2] });
  for (let y = 0; y < 64; y++) for (let x = 0; x < 32; x++) mask.data[x + 64 * y] = 1;
  const k = detectKeypoints(img, { mask });
  assert.ok(k.count > 5 && k.count < all.count, `${k.count} of ${all.count}`);
  for (let i = 0; i < k.count; i++) assert.ok(Math.round(k.points[2 * i] / 2) < 32, `keypoint ${i} at x = ${k.points[2 * i]}`);
  // An empty mask: no keypoints, no error.
  const none = createImage([64, 64], 'uint8', { spacing: [2, 2] });
  assert.equal(detectKeypoints(img, { mask: none }).count, 0);
});

test('constant and tiny images give zero keypoints (no error); maxKeypoints caps', () => {
  const c2 = createImage([64, 64], 'float32');
  c2.data.fill(7);
  assert.equal(detectKeypoints(c2).count, 0);
  const c3 = createImage([20, 20, 20], 'uint8');
  assert.equal(detectKeypoints(c3).count, 0);
  const tiny = render(randomBlobs(2, 3, 1, 5, 1), [6, 6]); // 11 working pixels after doubling: no octave
  assert.equal(detectKeypoints(tiny).count, 0);
  const img = render(randomBlobs(2, 80, 10, 118, 9), [128, 128]);
  const k = detectKeypoints(img, { maxKeypoints: 10 });
  assert.equal(k.count, 10);
  assert.equal(detectKeypoints(img, { maxKeypoints: 0 }).count, 0);
  // Invalid arguments are CoregErrors naming them.
  const isError = (subject: string, re: RegExp) => (e: unknown) => e instanceof CoregError && e.subject === subject && re.test(e.message);
  assert.throws(() => detectKeypoints({ ...img, data: new Float32Array(5) }), isError('image', /invalid image/));
  assert.throws(() => detectKeypoints(img, { mask: c3 }), isError('mask', /3D but the image is 2D/));
});

test('working spacing: 2D half the finest spacing, 3D the finest spacing made coarser down to maxVoxels', () => {
  assert.equal(defaultWorkingSpacing(createImage([100, 80], 'uint8', { spacing: [0.8, 1.1] })), 0.4);
  assert.equal(defaultWorkingSpacing(createImage([40, 40, 20], 'uint8', { spacing: [1, 1, 2] })), 1);
  const big = createImage([10, 10, 10], 'uint8');
  big.size = [200, 200, 200]; // geometry only: the spacing rule does not read the pixels
  const h = defaultWorkingSpacing(big);
  assert.ok(Math.abs(h - Math.cbrt((200 ** 3) / 2 ** 22)) < 1e-9, `${h}`);
  assert.equal(defaultWorkingSpacing(big, { workingSpacing: 3 }), 3);
});

test("intensity 'rank': a CT-like range (air at −1000, soft tissue contrast ~25) still gives keypoints", () => {
  const blobs = randomBlobs(2, 60, 10, 118, 3);
  // Blobs of ±25 'HU' around 40 inside a disc, air (−1000) outside.
  const img = render(blobs, [128, 128], {}, undefined, (v) => v);
  for (let y = 0; y < 128; y++) {
    for (let x = 0; x < 128; x++) {
      const i = x + 128 * y;
      img.data[i] = (x - 64) ** 2 + (y - 64) ** 2 < 60 ** 2 ? 40 + 0.25 * (img.data[i] - 100) : -1000;
    }
  }
  const inside = (k: Keypoints): number => {
    let n = 0;
    for (let i = 0; i < k.count; i++) if ((k.points[2 * i] - 64) ** 2 + (k.points[2 * i + 1] - 64) ** 2 < 50 ** 2) n++;
    return n;
  };
  const byRange = inside(detectKeypoints(img));
  const byRank = inside(detectKeypoints(img, { intensity: 'rank' }));
  console.log(`CT-like: keypoints inside the disc: range ${byRange}, rank ${byRank}`);
  assert.ok(byRank >= 20 && byRank > 2 * byRange, `rank ${byRank}, range ${byRange}`);
});
