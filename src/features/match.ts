/**
 * Descriptor matching: mutual nearest neighbours with Lowe's ratio test.
 *
 * Rows are L2-normalised, so the Euclidean distance is √(2 − 2·a·b): the nearest neighbour is the largest dot
 * product. One pass over all fixed × moving pairs (plain loops over the Float32Array rows) keeps, for each fixed row,
 * its best and second-best moving row, and for each moving row its best fixed row. A pair (i, j) is kept when
 *   - j is i's nearest neighbour and i is j's (mutual), and
 *   - d(i, j) ≤ ratio · d(i, j₂) with j₂ i's second nearest (the match is distinctive).
 * Cost O(n·m·L): about 1 s for 2 000 × 2 000 rows of 324 floats.
 */
import type { Descriptors } from './descriptors.js';

export interface MatchOptions {
  /** Lowe's ratio: keep a match when its distance ≤ ratio × the second-nearest distance (default 0.9). */
  ratio?: number;
  /** Require the match to be the nearest both ways (default true). */
  mutual?: boolean;
}

export interface Matches {
  count: number;
  /** Index of the fixed descriptor row of each match. */
  fixed: Int32Array;
  /** Index of the moving descriptor row of each match. */
  moving: Int32Array;
  /** Descriptor distance of each match (0 … 2). */
  distances: Float64Array;
  /**
   * Distinctiveness: 1 − distance / second-nearest distance (0 … 1, higher is better). Matches are sorted by it,
   * best first.
   */
  scores: Float64Array;
}

function distanceOfDot(dot: number): number {
  return Math.sqrt(Math.max(0, 2 - 2 * dot));
}

/** Mutual nearest neighbours of the fixed and moving descriptor rows that pass the ratio test, best first. */
export function matchDescriptors(fixed: Descriptors, moving: Descriptors, options: MatchOptions = {}): Matches {
  if (fixed.length !== moving.length) throw new RangeError(`descriptor lengths differ: ${fixed.length} and ${moving.length}`);
  const ratio = options.ratio ?? 0.9;
  const mutual = options.mutual ?? true;
  const n = fixed.count;
  const m = moving.count;
  const L = fixed.length;
  const a = fixed.data;
  const b = moving.data;
  const best1 = new Float64Array(n).fill(-Infinity);
  const best2 = new Float64Array(n).fill(-Infinity);
  const arg1 = new Int32Array(n).fill(-1);
  const colBest = new Float64Array(m).fill(-Infinity);
  const colArg = new Int32Array(m).fill(-1);
  for (let i = 0; i < n; i++) {
    const ai = i * L;
    let b1 = -Infinity;
    let b2 = -Infinity;
    let j1 = -1;
    for (let j = 0; j < m; j++) {
      const bj = j * L;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      let k = 0;
      for (; k + 3 < L; k += 4) {
        s0 += a[ai + k] * b[bj + k];
        s1 += a[ai + k + 1] * b[bj + k + 1];
        s2 += a[ai + k + 2] * b[bj + k + 2];
        s3 += a[ai + k + 3] * b[bj + k + 3];
      }
      for (; k < L; k++) s0 += a[ai + k] * b[bj + k];
      const s = s0 + s1 + s2 + s3;
      if (s > b1) {
        b2 = b1;
        b1 = s;
        j1 = j;
      } else if (s > b2) {
        b2 = s;
      }
      if (s > colBest[j]) {
        colBest[j] = s;
        colArg[j] = i;
      }
    }
    best1[i] = b1;
    best2[i] = b2;
    arg1[i] = j1;
  }
  const order: number[] = [];
  const dist = new Float64Array(n);
  const score = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const j = arg1[i];
    if (j < 0) continue;
    if (mutual && colArg[j] !== i) continue;
    const d1 = distanceOfDot(best1[i]);
    const d2 = best2[i] === -Infinity ? Infinity : distanceOfDot(best2[i]);
    if (d1 > ratio * d2) continue;
    dist[i] = d1;
    score[i] = d2 === Infinity ? 1 : d2 > 0 ? 1 - d1 / d2 : 0;
    order.push(i);
  }
  order.sort((x, y) => score[y] - score[x] || x - y);
  const count = order.length;
  const out: Matches = { count, fixed: new Int32Array(count), moving: new Int32Array(count), distances: new Float64Array(count), scores: new Float64Array(count) };
  for (let k = 0; k < count; k++) {
    const i = order[k];
    out.fixed[k] = i;
    out.moving[k] = arg1[i];
    out.distances[k] = dist[i];
    out.scores[k] = score[i];
  }
  return out;
}
