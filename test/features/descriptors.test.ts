// Descriptors: a rotated copy's descriptors match the original's (nearest neighbour = the true counterpart), 2D and
// 3D; MIND matches across a monotone-inverted and a nonlinearly remapped copy; border keypoints are dropped
// consistently; rows are unit vectors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CoregError } from '../../src/errors.js';
import { createImage } from '../../src/image/image.js';
import { detectKeypoints, type KeypointOptions } from '../../src/features/keypoints.js';
import { describeKeypoints, type DescribedKeypoints, type DescriptorKind } from '../../src/features/descriptors.js';
import { applyMotion, randomBlobs, render, rotation, type RigidMotion } from './synthetic.js';
import type { Image } from '../../src/image/image.js';

/**
 * Fraction of the fixed keypoints that HAVE a true counterpart (a moving keypoint within `radius` of T(p)) whose
 * nearest descriptor is a true counterpart.
 */
function nnTrueFraction(f: DescribedKeypoints, m: DescribedKeypoints, motion: RigidMotion, radius: number): { fraction: number; possible: number } {
  const d = f.keypoints.dimension;
  const L = f.descriptors.length;
  let possible = 0;
  let good = 0;
  for (let i = 0; i < f.keypoints.count; i++) {
    const q = applyMotion(motion, Array.from(f.keypoints.points.subarray(i * d, i * d + d)));
    const near = (j: number): boolean => {
      let s = 0;
      for (let c = 0; c < d; c++) s += (q[c] - m.keypoints.points[j * d + c]) ** 2;
      return Math.sqrt(s) <= radius;
    };
    let any = false;
    for (let j = 0; j < m.keypoints.count && !any; j++) any = near(j);
    if (!any) continue;
    possible++;
    let best = -Infinity;
    let bj = -1;
    for (let j = 0; j < m.keypoints.count; j++) {
      let s = 0;
      for (let t = 0; t < L; t++) s += f.descriptors.data[i * L + t] * m.descriptors.data[j * L + t];
      if (s > best) {
        best = s;
        bj = j;
      }
    }
    if (near(bj)) good++;
  }
  return { fraction: possible ? good / possible : 0, possible };
}

function checkRows(r: DescribedKeypoints): void {
  const { count, length, data } = r.descriptors;
  assert.equal(data.length, count * length);
  assert.equal(r.keypoints.count, count);
  assert.equal(r.indices.length, count);
  for (let i = 0; i < count; i++) {
    let s = 0;
    for (let t = 0; t < length; t++) s += data[i * length + t] ** 2;
    assert.ok(Math.abs(s - 1) < 1e-4, `row ${i} norm² ${s}`);
  }
}

/** Rendered once per dimension (the scale spaces are cached per image object, so detection runs once too). */
const IMAGES = new Map<number, { fixed: Image; moving: Image }>();
const REMAPPED = new Map<number, Image>();

function pair(d: 2 | 3, kind: DescriptorKind, map?: (v: number) => number, detect: KeypointOptions = {}): { f: DescribedKeypoints; m: DescribedKeypoints; motion: RigidMotion } {
  const motion: RigidMotion =
    d === 2 ? { R: rotation(2, 123), center: [64, 64], shift: [4.2, -3.1] } : { R: rotation(3, 110, [2, -1, 1]), center: [28, 28, 28], shift: [2.4, -1.3, 1.1] };
  let images = IMAGES.get(d);
  if (!images) {
    const blobs = d === 2 ? randomBlobs(2, 90, 8, 120, 21) : randomBlobs(3, 110, 6, 50, 23);
    const size = d === 2 ? [128, 128] : [56, 56, 56];
    images = { fixed: render(blobs, size), moving: render(blobs, size, {}, motion) };
    IMAGES.set(d, images);
  }
  const fixed = images.fixed;
  let moving = images.moving;
  if (map) {
    let mapped = REMAPPED.get(d);
    if (!mapped) {
      mapped = { ...moving, data: Float32Array.from(moving.data as Float32Array, map) };
      REMAPPED.set(d, mapped);
    }
    moving = mapped;
  }
  const f = describeKeypoints(fixed, detectKeypoints(fixed, detect), kind);
  const m = describeKeypoints(moving, detectKeypoints(moving, detect), kind);
  checkRows(f);
  checkRows(m);
  return { f, m, motion };
}

for (const d of [2, 3] as const) {
  for (const kind of ['gradient', 'mind'] as const) {
    test(`${d}D ${kind}: descriptors of a rotated copy match the original`, () => {
      const { f, m, motion } = pair(d, kind);
      const r = nnTrueFraction(f, m, motion, 1.5);
      console.log(`${d}D ${kind}: ${f.keypoints.count}/${m.keypoints.count} described (length ${f.descriptors.length}); NN true ${(100 * r.fraction).toFixed(1)}% of ${r.possible}`);
      assert.ok(r.possible >= 15, `enough repeated keypoints (${r.possible})`);
      assert.ok(r.fraction >= 0.8, `NN true fraction ${r.fraction}`);
    });
  }
}

test('2D gradient with SIFT histogram orientations (rank-ordered too): a rotated copy matches', () => {
  for (const rank of [false, true]) {
    const { f, m, motion } = pair(2, 'gradient', undefined, { orientation: 'histogram' });
    const fr = rank ? describeKeypoints(IMAGES.get(2)!.fixed, f.keypoints, 'gradient', { rank }) : f;
    const mr = rank ? describeKeypoints(IMAGES.get(2)!.moving, m.keypoints, 'gradient', { rank }) : m;
    const r = nnTrueFraction(fr, mr, motion, 1.5);
    console.log(`2D histogram orientation${rank ? ', rank' : ''}: NN true ${(100 * r.fraction).toFixed(1)}% of ${r.possible}`);
    assert.ok(r.possible >= 15, `enough repeated keypoints (${r.possible})`);
    assert.ok(r.fraction >= 0.8, `NN true fraction ${r.fraction}`);
  }
});

for (const d of [2, 3] as const) {
  test(`${d}D mind: matches an inverted, nonlinearly remapped rotated copy (gradient does not)`, () => {
    const remap = (v: number): number => 1000 / (1 + Math.exp((v - 100) / 25)); // decreasing, nonlinear
    const { f, m, motion } = pair(d, 'mind', remap);
    const r = nnTrueFraction(f, m, motion, 1.5);
    const g = pair(d, 'gradient', remap);
    const rg = nnTrueFraction(g.f, g.m, g.motion, 1.5);
    console.log(`${d}D inverted: mind NN true ${(100 * r.fraction).toFixed(1)}% of ${r.possible}; gradient ${(100 * rg.fraction).toFixed(1)}% of ${rg.possible}`);
    assert.ok(r.possible >= 15, `enough repeated keypoints (${r.possible})`);
    assert.ok(r.fraction >= 0.7, `NN true fraction ${r.fraction}`);
    assert.ok(rg.fraction < r.fraction, 'the gradient descriptor is contrast-sensitive, mind is not');
  });
}

test('keypoints too near the border are dropped, and only those; a constant image describes nothing', () => {
  const img = render(randomBlobs(2, 90, 2, 126, 4), [128, 128]);
  const k = detectKeypoints(img);
  const r = describeKeypoints(img, k, 'gradient', { radiusFactor: 4 });
  assert.ok(r.keypoints.count > 0 && r.keypoints.count < k.count);
  const kept = new Set(r.indices);
  for (let i = 0; i < k.count; i++) {
    const R = 4 * k.scales[i];
    const x = k.points[2 * i];
    const y = k.points[2 * i + 1];
    const inside = x >= R && y >= R && 127 - x >= R && 127 - y >= R;
    assert.equal(kept.has(i), inside, `keypoint ${i} at (${x}, ${y}), R ${R}`);
    if (inside) {
      const j = r.indices.indexOf(i);
      assert.equal(r.keypoints.points[2 * j], x);
      assert.equal(r.keypoints.scales[j], k.scales[i]);
    }
  }
  const flat = createImage([64, 64], 'float32');
  const none = describeKeypoints(flat, detectKeypoints(flat), 'mind');
  assert.equal(none.descriptors.count, 0);
  assert.equal(none.keypoints.count, 0);
  assert.throws(() => describeKeypoints(img, k, 'sift' as DescriptorKind), (e: unknown) => e instanceof CoregError && e.subject === 'descriptor' && /unknown descriptor kind/.test(e.message));
  const vol = createImage([16, 16, 16], 'float32');
  assert.throws(() => describeKeypoints(vol, k, 'mind'), (e: unknown) => e instanceof CoregError && e.subject === 'keypoints' && /2D but the image is 3D/.test(e.message));
});

test('physical space: the same anatomy on a grid with swapped axes (direction det −1) and other spacing matches', () => {
  const blobs = randomBlobs(2, 90, 8, 120, 21);
  const a = render(blobs, [128, 128]);
  // Axes swapped (x along physical y and vice versa), 0.9 × 1.2 mm pixels, another origin: covers about the same box.
  const b = render(blobs, [110, 142], { spacing: [1.2, 0.9], origin: [-1, 2], direction: [0, 1, 1, 0] });
  const identity: RigidMotion = { R: rotation(2, 0), center: [0, 0], shift: [0, 0] };
  for (const kind of ['gradient', 'mind'] as const) {
    const fa = describeKeypoints(a, detectKeypoints(a), kind);
    const fb = describeKeypoints(b, detectKeypoints(b), kind);
    const r = nnTrueFraction(fa, fb, identity, 1.5);
    console.log(`swapped axes ${kind}: NN true ${(100 * r.fraction).toFixed(1)}% of ${r.possible}`);
    assert.ok(r.possible >= 30, `enough repeated keypoints (${r.possible})`);
    assert.ok(r.fraction >= 0.85, `NN true fraction ${r.fraction}`);
  }
});
