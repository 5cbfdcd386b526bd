/**
 * What the label fusion methods share: checking and compacting the atlases' votes (labels → indices 0…L−1 in
 * ascending label order, so every tie goes to the smallest label), the weighted vote itself, and the checks of
 * grids, intensities and radii.
 */
import { CoregError } from '../errors.js';

/** One warped label map per atlas, all of the target's length; any integer-valued numeric array. */
export type LabelVotes = readonly ArrayLike<number>[];

export interface FusionResult {
  /** Fused label per voxel. */
  labels: Int32Array;
  /** Every label voted anywhere, ascending; probabilities[k] is the map of labelValues[k]. */
  labelValues: Int32Array;
  /** Per-label probability (or normalised vote share) per voxel, when asked for. */
  probabilities?: Float32Array[];
}

/** Most distinct labels one fusion handles (compact indices are 16-bit). */
const MAX_LABELS = 65535;
/** Largest label span tabulated densely; wider spans go through a Map. */
const MAX_DENSE_SPAN = 1 << 24;

export interface CompactVotes {
  values: Int32Array;
  index: Uint16Array[];
}

export function checkVotes(votes: LabelVotes, expectedLength?: number): number {
  if (votes.length === 0) throw new CoregError('fusion', 'needs at least one atlas');
  const n = votes[0].length;
  if (n === 0) throw new CoregError('fusion', 'label maps are empty');
  for (let i = 1; i < votes.length; i++) {
    if (votes[i].length !== n) throw new CoregError('fusion', `atlas ${i + 1} has ${votes[i].length} voxels but atlas 1 has ${n}`);
  }
  if (expectedLength !== undefined && expectedLength !== n) {
    throw new CoregError('fusion', `label maps have ${n} voxels but the grid has ${expectedLength}`);
  }
  return n;
}

/** Label values → 0…L−1 (ascending), one Uint16 index map per atlas. */
export function compactVotes(votes: LabelVotes): CompactVotes {
  let min = Infinity;
  let max = -Infinity;
  for (const v of votes) {
    for (let k = 0; k < v.length; k++) {
      const x = v[k];
      if (x !== Math.floor(x) || !Number.isFinite(x)) throw new CoregError('fusion', `labels must be integers; found ${x}`);
      if (x < min) min = x;
      if (x > max) max = x;
    }
  }
  if (min < -2147483648 || max > 2147483647) throw new CoregError('fusion', `label values must fit in 32 bits; found ${min < -2147483648 ? min : max}`);
  const span = max - min + 1;
  let values: Int32Array;
  const index: Uint16Array[] = [];
  if (span <= MAX_DENSE_SPAN) {
    const lut = new Int32Array(span).fill(-1);
    for (const v of votes) for (let k = 0; k < v.length; k++) lut[v[k] - min] = 0;
    let count = 0;
    for (let s = 0; s < span; s++) if (lut[s] === 0) lut[s] = count++;
    if (count > MAX_LABELS) throw new CoregError('fusion', `${count} distinct labels; at most ${MAX_LABELS} are supported`);
    values = new Int32Array(count);
    for (let s = 0; s < span; s++) if (lut[s] >= 0) values[lut[s]] = s + min;
    for (const v of votes) {
      const idx = new Uint16Array(v.length);
      for (let k = 0; k < v.length; k++) idx[k] = lut[v[k] - min];
      index.push(idx);
    }
  } else {
    const seen = new Set<number>();
    for (const v of votes) for (let k = 0; k < v.length; k++) seen.add(v[k]);
    if (seen.size > MAX_LABELS) throw new CoregError('fusion', `${seen.size} distinct labels; at most ${MAX_LABELS} are supported`);
    values = Int32Array.from([...seen].sort((a, b) => a - b));
    const map = new Map<number, number>();
    values.forEach((l, i) => map.set(l, i));
    for (const v of votes) {
      const idx = new Uint16Array(v.length);
      for (let k = 0; k < v.length; k++) idx[k] = map.get(v[k])!;
      index.push(idx);
    }
  }
  return { values, index };
}

export function allocateProbabilities(L: number, n: number, wanted: boolean | undefined): Float32Array[] | null {
  if (!wanted) return null;
  const out: Float32Array[] = [];
  for (let l = 0; l < L; l++) out.push(new Float32Array(n));
  return out;
}

export function toLabels(winner: Int32Array, values: Int32Array): Int32Array {
  const out = new Int32Array(winner.length);
  for (let k = 0; k < winner.length; k++) out[k] = values[winner[k]];
  return out;
}

/**
 * Weighted vote at every voxel: score(l) = Σ_{i: label_i = l} w_i, winner = argmax (ties: smallest label).
 * weights === null means 1 for every atlas; a voxel whose weights sum to 0 falls back to equal weights.
 * Only the labels actually voted at a voxel are touched, so the cost is O(N) per voxel whatever L is.
 */
export function voteAll(index: Uint16Array[], weights: Float32Array[] | null, L: number, n: number, probs: Float32Array[] | null): Int32Array {
  const N = index.length;
  const score = new Float64Array(L);
  const touched = new Int32Array(N);
  const winner = new Int32Array(n);
  for (let v = 0; v < n; v++) {
    let nt = 0;
    let total = 0;
    for (let i = 0; i < N; i++) {
      const c = index[i][v];
      const w = weights === null ? 1 : weights[i][v];
      if (score[c] === 0) {
        let seen = false;
        for (let t = 0; t < nt; t++) if (touched[t] === c) seen = true;
        if (!seen) touched[nt++] = c;
      }
      score[c] += w;
      total += w;
    }
    if (!(total > 0)) {
      // Every weight vanished (e.g. no local similarity anywhere): count votes instead.
      for (let t = 0; t < nt; t++) score[touched[t]] = 0;
      for (let i = 0; i < N; i++) score[index[i][v]] += 1;
      total = N;
    }
    let best = touched[0];
    let bestScore = score[best];
    for (let t = 1; t < nt; t++) {
      const c = touched[t];
      const s = score[c];
      if (s > bestScore || (s === bestScore && c < best)) {
        best = c;
        bestScore = s;
      }
    }
    winner[v] = best;
    for (let t = 0; t < nt; t++) {
      const c = touched[t];
      if (probs !== null) probs[c][v] = score[c] / total;
      score[c] = 0;
    }
  }
  return winner;
}

export interface Grid {
  nx: number;
  ny: number;
  nz: number;
}

/** The grid of `size` (2 or 3 axes, x fastest) holding n voxels; CoregError('fusion', …) otherwise. */
export function fusionGrid(size: readonly number[], n: number): Grid {
  if (size.length !== 2 && size.length !== 3) throw new CoregError('fusion', `grid size must have 2 or 3 axes, got ${size.length}`);
  for (const s of size) if (!(Number.isInteger(s) && s > 0)) throw new CoregError('fusion', `grid size must be positive integers, got [${size.join(', ')}]`);
  const g = { nx: size[0], ny: size[1], nz: size.length === 3 ? size[2] : 1 };
  if (g.nx * g.ny * g.nz !== n) throw new CoregError('fusion', `grid [${size.join(', ')}] has ${g.nx * g.ny * g.nz} voxels but the label maps have ${n}`);
  return g;
}

export function checkIntensities(images: readonly Float32Array[], target: Float32Array, N: number, n: number): void {
  if (images.length !== N) throw new CoregError('fusion', `${N} label maps but ${images.length} atlas images`);
  if (target.length !== n) throw new CoregError('fusion', `target has ${target.length} voxels but the label maps have ${n}`);
  for (let i = 0; i < N; i++) if (images[i].length !== n) throw new CoregError('fusion', `atlas image ${i + 1} has ${images[i].length} voxels, expected ${n}`);
}

export function checkRadius(value: number, name: string, min: number): number {
  if (!(Number.isInteger(value) && value >= min)) throw new CoregError(name, `must be an integer ≥ ${min}, got ${value}`);
  return value;
}

/**
 * Per-atlas, per-voxel weights of locally weighted voting (Artaechevarria et al. 2009): the similarity of the
 * warped atlas image and the target in the window around each voxel, raised to `power`.
 */
