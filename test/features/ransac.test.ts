import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ransacFit, type RobustKind } from '../../src/features/ransac.js';

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a * 1664525 + 1013904223) >>> 0;
    return a / 4294967296;
  };
}

function rotation(d: 2 | 3, r: () => number): Float64Array {
  if (d === 2) {
    const t = (r() * 2 - 1) * Math.PI;
    return Float64Array.from([Math.cos(t), -Math.sin(t), Math.sin(t), Math.cos(t)]);
  }
  // Random unit quaternion.
  const [a, b, c, w] = [r() * 2 - 1, r() * 2 - 1, r() * 2 - 1, r() * 2 - 1];
  const n = Math.hypot(a, b, c, w);
  const [x, y, z, s] = [a / n, b / n, c / n, w / n];
  return Float64Array.from([
    1 - 2 * (y * y + z * z), 2 * (x * y - z * s), 2 * (x * z + y * s),
    2 * (x * y + z * s), 1 - 2 * (x * x + z * z), 2 * (y * z - x * s),
    2 * (x * z - y * s), 2 * (y * z + x * s), 1 - 2 * (x * x + y * y),
  ]);
}

/** A known map of `kind`, n pairs of which 30 % follow it (with noise) and 70 % are random. */
function makeCase(kind: RobustKind, d: 2 | 3, seed: number) {
  const r = rng(seed);
  const m = rotation(d, r);
  if (kind === 'similarity') for (let i = 0; i < d * d; i++) m[i] *= 1.3;
  if (kind === 'affine') {
    // R · diag(1.2, 0.9, 1.1) with a shear.
    const s = Float64Array.from(d === 2 ? [1.2, 0.15, 0, 0.9] : [1.2, 0.15, 0, 0, 0.9, 0.1, 0, 0, 1.1]);
    const out = new Float64Array(d * d);
    for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) for (let k = 0; k < d; k++) out[a * d + b] += m[a * d + k] * s[k * d + b];
    m.set(out);
  }
  const o = Array.from({ length: d }, () => (r() * 2 - 1) * 50);
  const n = 200;
  const p = new Float64Array(n * d);
  const q = new Float64Array(n * d);
  const truth = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < d; k++) p[i * d + k] = (r() * 2 - 1) * 80;
    const inlier = i % 10 < 3;
    truth[i] = inlier ? 1 : 0;
    for (let a = 0; a < d; a++) {
      let y = o[a];
      for (let b = 0; b < d; b++) y += m[a * d + b] * p[i * d + b];
      q[i * d + a] = inlier ? y + (r() - 0.5) * 0.4 : (r() * 2 - 1) * 120;
    }
  }
  return { m, o, p, q, truth, n };
}

for (const d of [2, 3] as const) {
  for (const kind of ['rigid', 'similarity', 'affine'] as const) {
    test(`ransacFit recovers a ${d}D ${kind} map from matches with 70 % outliers`, () => {
      const c = makeCase(kind, d, 17 + d * 7 + kind.length);
      const res = ransacFit(kind, c.p, c.q, d, { thresholds: 2, seed: 3 });
      assert.ok(res.map, 'a map');
      // Every true inlier found, and (almost) no random pair (a random pair lands within 2 mm by chance rarely).
      let found = 0;
      let wrong = 0;
      for (let i = 0; i < c.n; i++) {
        if (res.inliers[i] && c.truth[i]) found++;
        if (res.inliers[i] && !c.truth[i]) wrong++;
      }
      assert.equal(found, 60);
      assert.ok(wrong <= 2, `${wrong} outliers accepted`);
      // The map: points of the 160 mm box move within 0.3 mm of the true map (noise ±0.2 mm per pair).
      let maxErr = 0;
      for (const corner of [[-80, -80, -80], [80, -80, 80], [-80, 80, 80], [80, 80, -80], [0, 0, 0]]) {
        let e2 = 0;
        for (let a = 0; a < d; a++) {
          let y = c.o[a] - res.map!.offset[a];
          for (let b = 0; b < d; b++) y += (c.m[a * d + b] - res.map!.matrix[a * d + b]) * corner[b];
          e2 += y * y;
        }
        maxErr = Math.max(maxErr, Math.sqrt(e2));
      }
      assert.ok(maxErr < 0.3, `max error ${maxErr} mm`);
      assert.ok(res.rmsMm < 0.3, `rms ${res.rmsMm}`);
      // Deterministic: same seed, same answer.
      const again = ransacFit(kind, c.p, c.q, d, { thresholds: 2, seed: 3 });
      assert.deepEqual(Array.from(again.map!.matrix), Array.from(res.map!.matrix));
    });
  }
}

test('ransacFit: no consistent map among random pairs gives few inliers; too few pairs give no map', () => {
  const r = rng(5);
  const n = 100;
  const p = Float64Array.from({ length: n * 3 }, () => (r() * 2 - 1) * 80);
  const q = Float64Array.from({ length: n * 3 }, () => (r() * 2 - 1) * 80);
  const res = ransacFit('rigid', p, q, 3, { thresholds: 2, seed: 1 });
  assert.ok(res.inlierCount <= 5, `${res.inlierCount} inliers among random pairs`);
  const none = ransacFit('affine', p.subarray(0, 9), q.subarray(0, 9), 3, { thresholds: 2 });
  assert.equal(none.map, null);
  assert.equal(none.inlierCount, 0);
});

test('ransacFit: similarity scale limits reject a map scaling ×3', () => {
  const c = makeCase('similarity', 2, 99);
  for (let i = 0; i < c.q.length; i++) c.q[i] *= 3 / 1.3;
  const res = ransacFit('similarity', c.p, c.q, 2, { thresholds: 2, seed: 1, scaleLimits: [0.5, 2] });
  assert.ok(res.inlierCount < 10, `${res.inlierCount} inliers`);
  const wide = ransacFit('similarity', c.p, c.q, 2, { thresholds: 2, seed: 1, scaleLimits: [0.2, 5] });
  assert.ok(wide.inlierCount >= 55, `${wide.inlierCount} inliers with wide limits`);
});
