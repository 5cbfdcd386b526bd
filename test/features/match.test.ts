import { test } from 'node:test';
import assert from 'node:assert/strict';
import { matchDescriptors } from '../../src/features/match.js';
import type { Descriptors } from '../../src/features/descriptors.js';

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a * 1664525 + 1013904223) >>> 0;
    return a / 4294967296;
  };
}

function normalised(rows: number[][]): Descriptors {
  const length = rows[0].length;
  const data = new Float32Array(rows.length * length);
  rows.forEach((r, i) => {
    const n = Math.hypot(...r);
    r.forEach((v, k) => (data[i * length + k] = v / n));
  });
  return { count: rows.length, length, data };
}

test('matchDescriptors pairs noisy copies of shuffled rows, best first, and drops the unmatched ones', () => {
  const r = rng(3);
  const L = 64;
  const base = Array.from({ length: 300 }, () => Array.from({ length: L }, () => r()));
  // Moving: the first 200 rows, shuffled, with noise; plus 150 unrelated rows.
  const perm = Array.from({ length: 200 }, (_, i) => i);
  for (let i = perm.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [perm[i], perm[j]] = [perm[j], perm[i]];
  }
  const moving = perm.map((i) => base[i].map((v) => v + (r() - 0.5) * 0.05));
  for (let i = 0; i < 150; i++) moving.push(Array.from({ length: L }, () => r()));
  const m = matchDescriptors(normalised(base), normalised(moving), { ratio: 0.8 });
  let right = 0;
  for (let k = 0; k < m.count; k++) {
    if (m.moving[k] < 200 && perm[m.moving[k]] === m.fixed[k]) right++;
    if (k > 0) assert.ok(m.scores[k] <= m.scores[k - 1], 'sorted by score');
    assert.ok(m.scores[k] >= 0.2 - 1e-9 && m.scores[k] <= 1, 'ratio test: score ≥ 1 − 0.8');
  }
  assert.ok(right >= 190, `${right} right matches of 200`);
  assert.ok(m.count - right <= 3, `${m.count - right} wrong matches`);
  // Mutual: no moving row twice.
  assert.equal(new Set(m.moving).size, m.count);
});

test('matchDescriptors: the ratio test drops ambiguous matches; mutual drops one-sided ones', () => {
  // Fixed row 0 is equally close to moving rows 0 and 1: ambiguous, dropped. Fixed row 1 matches moving row 2.
  const f = normalised([
    [1, 0, 0, 0],
    [0, 0, 1, 0],
  ]);
  const mv = normalised([
    [1, 0.1, 0, 0],
    [1, -0.1, 0, 0],
    [0, 0, 1, 0.05],
  ]);
  const m = matchDescriptors(f, mv, { ratio: 0.9 });
  assert.equal(m.count, 1);
  assert.deepEqual([m.fixed[0], m.moving[0]], [1, 2]);
  // Two fixed rows whose nearest is the same moving row: only the closer one is mutual.
  const f2 = normalised([
    [1, 0, 0, 0],
    [1, 0.3, 0, 0],
  ]);
  const mv2 = normalised([
    [1, 0.05, 0, 0],
    [0, 0, 0, 1],
  ]);
  const m2 = matchDescriptors(f2, mv2, { ratio: 0.95 });
  assert.equal(m2.count, 1);
  assert.equal(m2.fixed[0], 0);
  const m3 = matchDescriptors(f2, mv2, { ratio: 0.95, mutual: false });
  assert.equal(m3.count, 2);
});

test('matchDescriptors rejects descriptors of different lengths', () => {
  assert.throws(() => matchDescriptors(normalised([[1, 0]]), normalised([[1, 0, 0]])), /lengths differ/);
});
