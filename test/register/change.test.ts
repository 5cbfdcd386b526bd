import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createImage, type Image } from '../../src/image/image.js';
import { changeNonrigidStage, detectChange, dilateBox, forwardJacobianOnBaseline, halfTransform, matrixSqrt, normalizeIntensities } from '../../src/register/change.js';
import type { Transform } from '../../src/transform/transform.js';
import { defaultConfig, validateConfig } from '../../src/register/config.js';
import { AffineTransform, Euler3DTransform } from '../../src/transform/linear.js';
import { assertClose } from '../helpers.js';

test('matrixSqrt squares back; halfTransform applied twice is the transform', () => {
  const r = new Euler3DTransform();
  r.setCenter([10, -5, 3]);
  r.setParameters([0.1, -0.05, 0.2, 3, -2, 1.5]);
  const h = halfTransform(r);
  const p = new Float64Array([12, 7, -4]);
  const once = new Float64Array(3);
  const twice = new Float64Array(3);
  const direct = new Float64Array(3);
  h.transformPoint(p, once);
  h.transformPoint(once, twice);
  r.transformPoint(p, direct);
  for (let k = 0; k < 3; k++) assertClose(twice[k], direct[k], 1e-9, `H(H(p))[${k}]`);
  const a = [2, 1, 0, 3];
  const s = matrixSqrt(a, 2);
  const sq = [s[0] * s[0] + s[1] * s[2], s[0] * s[1] + s[1] * s[3], s[2] * s[0] + s[3] * s[2], s[2] * s[1] + s[3] * s[3]];
  for (let k = 0; k < 4; k++) assertClose(sq[k], a[k], 1e-12, `sqrt² [${k}]`);
  assert.ok(h instanceof AffineTransform);
});

/** A 2D head-like phantom whose inner disc (the structure) is scaled radially by psi(x) = c + (x − c)·g(r). */
function phantom(a: number, sigma: number, shift: number[]): { img: Image; truth: number; mask: Image } {
  const n = 72;
  const img = createImage([n, n], 'float32');
  const mask = createImage([n, n], 'uint8');
  const c = [n / 2 - 4, n / 2];
  const g = (r2: number) => 1 - a * Math.exp(-r2 / (2 * sigma * sigma));
  const value = (x: number, y: number) => {
    const r = Math.hypot(x - n / 2, y - n / 2);
    const inner = Math.hypot(x - c[0], y - c[1]);
    if (r > 28) return 0;
    return inner < 9 ? 200 : 80 + 20 * Math.sin(x / 4) * Math.cos(y / 5);
  };
  let sum = 0;
  let count = 0;
  for (let y = 0; y < n; y++)
    for (let x = 0; x < n; x++) {
      // Follow-up point y' = psi(x) + shift: pull x = psi⁻¹(y' − shift) by fixed-point iteration.
      const zx = x - shift[0];
      const zy = y - shift[1];
      let px = zx;
      let py = zy;
      for (let k = 0; k < 60; k++) {
        const gg = g((px - c[0]) ** 2 + (py - c[1]) ** 2);
        px = c[0] + (zx - c[0]) / gg;
        py = c[1] + (zy - c[1]) / gg;
      }
      img.data[y * n + x] = value(px, py);
      if (Math.hypot(x - c[0], y - c[1]) < 9) {
        mask.data[y * n + x] = 1;
        const r2 = (x - c[0]) ** 2 + (y - c[1]) ** 2;
        const e = Math.exp(-r2 / (2 * sigma * sigma));
        const gv = 1 - a * e;
        sum += gv * (gv + (a * r2 / (sigma * sigma)) * e); // 2D: det = g (g + r g')
        count++;
      }
    }
  return { img, truth: 100 * (sum / count - 1), mask };
}

test('forwardJacobianOnBaseline: with F = Ψ∘H⁻¹ it is det ∂Ψ at every baseline voxel (the region is never resampled)', () => {
  const grid = createImage([40, 36], 'float32', { spacing: [1.2, 0.9], origin: [-3, 5] });
  const h = new AffineTransform(2);
  const t = (4 * Math.PI) / 180;
  h.fitMapping([Math.cos(t), -Math.sin(t), Math.sin(t), Math.cos(t)], [0.7, -1.3]);
  const hi = h.inverse();
  const c = [20, 21];
  const a = 0.2;
  const s = 9;
  const psi = (x: ArrayLike<number>, out: Float64Array | number[]) => {
    const g = 1 - a * Math.exp(-((x[0] - c[0]) ** 2 + (x[1] - c[1]) ** 2) / (2 * s * s));
    for (let k = 0; k < 2; k++) out[k] = c[k] + (x[k] - c[k]) * g;
  };
  const tmp = new Float64Array(2);
  const f: Transform = { kind: 'test-psi-after-inverse-half', dimension: 2, transformPoint: (p, out) => (hi.transformPoint(p, tmp), psi(tmp, out)) };
  const det = forwardJacobianOnBaseline(h, [f], grid);
  let worst = 0;
  for (let j = 1; j < 35; j++)
    for (let i = 1; i < 39; i++) {
      const x = [-3 + 1.2 * i, 5 + 0.9 * j];
      const r2 = (x[0] - c[0]) ** 2 + (x[1] - c[1]) ** 2;
      const e = Math.exp(-r2 / (2 * s * s));
      const g = 1 - a * e;
      const want = g * (g + (a * r2 / (s * s)) * e); // 2D: det ∂Ψ = g (g + r g')
      worst = Math.max(worst, Math.abs(det.data[j * 40 + i] - want));
    }
  // central differences of one voxel: ≈ 2e-3 here; the chain in the wrong order ([F, H]) is off by 0.03
  assert.ok(worst < 4e-3, `largest |det − det ∂Ψ| ${worst}`);
  // Restricted to a region's bounding box (and one voxel around it): the same values there, 1 outside.
  const region = new Uint8Array(40 * 36);
  for (let j = 10; j < 25; j++) for (let i = 7; i < 30; i++) if ((i - 18) ** 2 + (j - 17) ** 2 < 60) region[j * 40 + i] = 1;
  const boxed = forwardJacobianOnBaseline(h, [f], grid, region);
  let inBox = 0;
  for (let j = 0; j < 36; j++)
    for (let i = 0; i < 40; i++) {
      const inside = i >= 11 && i <= 25 && j >= 10 && j <= 24;
      const padded = i >= 10 && i <= 26 && j >= 9 && j <= 25;
      if (inside) inBox++;
      if (inside) assertClose(boxed.data[j * 40 + i], det.data[j * 40 + i], 1e-6, `box voxel ${i},${j}`);
      else if (!padded) assert.equal(boxed.data[j * 40 + i], 1, `outside voxel ${i},${j}`);
    }
  assert.ok(inBox > 100);
});

test('dilateBox equals a brute-force box dilation (anisotropic spacing, 2D and 3D)', () => {
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  for (const [size, spacing, margin] of [
    [[9, 7, 6], [1, 2, 0.7], 2.1],
    [[11, 5], [1.5, 1], 3],
    [[4, 3, 5], [1, 1, 1], 10],
  ] as [number[], number[], number][]) {
    const n = size.reduce((a, b) => a * b, 1);
    const seeds = new Uint8Array(n);
    for (let i = 0; i < n; i++) seeds[i] = rnd() < 0.04 ? 1 : 0;
    seeds[n - 1] = 1;
    const got = dilateBox(seeds, size, spacing, margin);
    const idx = (i: number) => size.map((_, a) => Math.floor(i / size.slice(0, a).reduce((p, q) => p * q, 1)) % size[a]);
    for (let i = 0; i < n; i++) {
      const p = idx(i);
      let want = 0;
      for (let j = 0; j < n && !want; j++) if (seeds[j] && idx(j).every((q, a) => Math.abs(q - p[a]) * spacing[a] <= margin + 1e-9)) want = 1;
      assert.equal(got[i], want, `voxel ${p.join(',')} of ${size.join('x')}`);
    }
  }
});

test('normalizeIntensities: a gain between the scans is removed (robust to a changed structure), symmetric', () => {
  const a = createImage([40, 40], 'float32');
  const b = createImage([40, 40], 'float32');
  for (let y = 0; y < 40; y++)
    for (let x = 0; x < 40; x++) {
      const r = Math.hypot(x - 20, y - 20);
      const v = r > 17 ? 0 : 100 + 30 * Math.sin(x / 3) * Math.cos(y / 4);
      a.data[y * 40 + x] = v + (Math.hypot(x - 15, y - 18) < 6 ? 150 : 0);
      // The follow-up: 2.5 × brighter, its bright structure smaller.
      b.data[y * 40 + x] = 2.5 * (v + (Math.hypot(x - 15, y - 18) < 4.5 ? 150 : 0));
    }
  const [na, nb] = normalizeIntensities(a, b);
  const [sb, sa] = normalizeIntensities(b, a);
  for (let i = 0; i < a.data.length; i++) {
    assertClose(sa.data[i], na.data[i], 1e-5, `swapped a[${i}]`);
    assertClose(sb.data[i], nb.data[i], 1e-5, `swapped b[${i}]`);
    const x = i % 40;
    const y = Math.floor(i / 40);
    if (Math.hypot(x - 15, y - 18) >= 6.5 && a.data[i] > 0) assertClose(nb.data[i], na.data[i], 1e-5 * Math.abs(na.data[i]), `unchanged voxel ${x},${y}`);
  }
});

test('changeNonrigidStage: valid settings', () => {
  for (const kind of ['bspline', 'syn'] as const) validateConfig({ stages: [changeNonrigidStage(kind)], initializer: 'none' });
  assert.equal(changeNonrigidStage('bspline').metric, 'mse');
  assert.equal(changeNonrigidStage('syn').metric, 'lncc');
});

test('change: a structure shrunk by a known smooth deformation, symmetric under swapping', { timeout: 300_000 }, async () => {
  const base = phantom(0, 8, [0, 0]);
  const follow = phantom(0.06, 8, [1.5, -1]);
  // A different scanner gain at the follow-up: the mse of the non-rigid step compares normalised intensities.
  for (let i = 0; i < follow.img.data.length; i++) follow.img.data[i] *= 1.6;
  const configs = {
    rigidConfig: { ...defaultConfig(['rigid'], ['mi']), seed: 1 },
    nonrigidConfig: { stages: [changeNonrigidStage('bspline', 'mse', 8)], initializer: 'none' as const, seed: 1 },
  };
  const r = await detectChange(base.img, follow.img, { mask: base.mask, ...configs });
  assert.ok(follow.truth < -5, `truth ${follow.truth}`);
  console.log(`change: truth ${follow.truth.toFixed(3)} %, measured ${r.percentChange.toFixed(3)} % (forward ${r.percentChangeForward.toFixed(3)}, backward ${r.percentChangeBackward.toFixed(3)}, label count ${r.percentChangeLabelCount.toFixed(3)})`);
  assertClose(r.percentChange, follow.truth, 0.5, 'percent change vs truth');
  const followMask = createImage([72, 72], 'uint8');
  // The structure in the follow-up: where the follow-up shows the structure's intensity.
  for (let i = 0; i < followMask.data.length; i++) followMask.data[i] = follow.img.data[i] > 140 * 1.6 ? 1 : 0;
  const s = await detectChange(follow.img, base.img, { mask: followMask, ...configs });
  console.log(`swapped: ${s.percentChange.toFixed(3)} %`);
  const product = (1 + r.percentChange / 100) * (1 + s.percentChange / 100);
  assertClose(product, 1, 0.005, '(1 + p)(1 + p′)');
  assert.ok(r.percentChangeLabelCount < 0);
  // The baseline volume is the mask's own voxels (1 mm² each), not a resampled copy's weights.
  assert.equal(r.baselineVolumeMm3, Array.from(base.mask.data).filter((v) => v > 0).length);
  // --labels: the same structure as label 5 (binary, not partial-volume weights) also finds the true change.
  const labels = createImage([72, 72], 'uint8');
  for (let i = 0; i < labels.data.length; i++) labels.data[i] = base.mask.data[i] ? 5 : base.img.data[i] > 0 ? 2 : 0;
  const l = await detectChange(base.img, follow.img, { labels, ...configs });
  assert.deepEqual(Object.keys(l.labels), ['2', '5']);
  assertClose(l.labels['5'].percentChange, follow.truth, 0.5, 'label 5 vs the truth');
  // The non-rigid samples: every voxel within 2.5 grid spacings (20 px) of the disc (carried by half the rigid
  // motion into the midpoint, so between its dilations by 19 and 21 px); a regular grid beyond maxSamples.
  const area = (mm: number) => dilateBox(Uint8Array.from(base.mask.data), [72, 72], [1, 1], mm).reduce((a, b) => a + b, 0);
  assert.ok(r.nonrigidSamples > area(19) && r.nonrigidSamples < area(21), `${r.nonrigidSamples} samples, ${area(19)}–${area(21)} expected`);
  const capped = await detectChange(base.img, follow.img, { mask: base.mask, ...configs, maxSamples: 1000 });
  assert.ok(capped.nonrigidSamples < r.nonrigidSamples / 3 && capped.nonrigidSamples > 500, `${capped.nonrigidSamples} samples`);
});
