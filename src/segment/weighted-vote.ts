/**
 * Locally weighted voting (Artaechevarria, Muñoz-Barrutia & Ortiz-de-Solórzano 2009, IEEE TMI): each atlas' vote
 * is weighted by the local intensity similarity between its warped image and the target in a (2r+1)^d window —
 * inverse local MSE, or local NCC, raised to a power p.
 */
import { CoregError } from '../errors.js';
import { allocateProbabilities, checkIntensities, checkRadius, checkVotes, compactVotes, fusionGrid, toLabels, voteAll, type Grid, type FusionResult, type LabelVotes } from './votes.js';

/** Running sum along one line of `len` samples (stride apart), window [k − r, k + r] cut at the ends. */
function boxSumLine(src: Float64Array, dst: Float64Array, start: number, stride: number, len: number, r: number): void {
  let s = 0;
  const first = Math.min(r, len - 1);
  for (let k = 0; k <= first; k++) s += src[start + k * stride];
  for (let k = 0; k < len; k++) {
    dst[start + k * stride] = s;
    const add = k + r + 1;
    const drop = k - r;
    if (add < len) s += src[start + add * stride];
    if (drop >= 0) s -= src[start + drop * stride];
  }
}

/** Window counts along an axis of `len` samples for radius r. */
function windowCounts(len: number, r: number): Float64Array {
  const c = new Float64Array(len);
  for (let k = 0; k < len; k++) c[k] = Math.min(k + r, len - 1) - Math.max(k - r, 0) + 1;
  return c;
}

/**
 * Mean over the (2r+1)^d window around each voxel (cut at the image border) of `src`, written to `out`;
 * `tmp` is scratch of the same length. Separable: one running sum per axis.
 */
function boxMean(src: Float64Array, out: Float64Array, tmp: Float64Array, g: Grid, r: number, cx: Float64Array, cy: Float64Array, cz: Float64Array): void {
  const { nx, ny, nz } = g;
  const nxy = nx * ny;
  for (let z = 0; z < nz; z++) for (let y = 0; y < ny; y++) boxSumLine(src, tmp, y * nx + z * nxy, 1, nx, r);
  for (let z = 0; z < nz; z++) for (let x = 0; x < nx; x++) boxSumLine(tmp, out, x + z * nxy, nx, ny, r);
  let last = out;
  if (nz > 1) {
    for (let y = 0; y < ny; y++) for (let x = 0; x < nx; x++) boxSumLine(out, tmp, x + y * nx, nxy, nz, r);
    last = tmp;
  }
  for (let z = 0, v = 0; z < nz; z++) {
    for (let y = 0; y < ny; y++) {
      const czy = cz[z] * cy[y];
      for (let x = 0; x < nx; x++, v++) out[v] = last[v] / (czy * cx[x]);
    }
  }
}

export interface WeightedVoteOptions {
  /** Window radius in voxels (default 2). */
  radius?: number;
  /** Exponent p of the similarity (default 1). */
  power?: number;
  /** 'mse': w = (local MSE + ε)^−p (default); 'ncc': w = max(local NCC, 0)^p. */
  measure?: 'mse' | 'ncc';
  probabilities?: boolean;
}

export function localWeights(images: readonly Float32Array[], target: Float32Array, size: readonly number[], options: WeightedVoteOptions = {}): Float32Array[] {
  const n = target.length;
  const g = fusionGrid(size, n);
  const r = checkRadius(options.radius ?? 2, 'radius', 0);
  const p = options.power ?? 1;
  if (!(Number.isFinite(p) && p > 0)) throw new CoregError('power', `must be a positive number, got ${p}`);
  const measure = options.measure ?? 'mse';
  const cx = windowCounts(g.nx, r);
  const cy = windowCounts(g.ny, r);
  const cz = windowCounts(g.nz, g.nz > 1 ? r : 0);
  const box = (src: Float64Array, out: Float64Array, tmp: Float64Array): void => boxMean(src, out, tmp, g, r, cx, cy, cz);
  const work = new Float64Array(n);
  const tmp = new Float64Array(n);
  const weights: Float32Array[] = [];
  // ε keeps the weight of a locally identical atlas finite; relative to the target's variance.
  let mean = 0;
  for (let v = 0; v < n; v++) mean += target[v];
  mean /= n;
  let variance = 0;
  for (let v = 0; v < n; v++) variance += (target[v] - mean) * (target[v] - mean);
  variance /= n;
  const eps = 1e-6 * variance + 1e-12;

  if (measure === 'mse') {
    const mse = new Float64Array(n);
    for (const a of images) {
      for (let v = 0; v < n; v++) {
        const d = a[v] - target[v];
        work[v] = d * d;
      }
      box(work, mse, tmp);
      const w = new Float32Array(n);
      for (let v = 0; v < n; v++) w[v] = Math.pow(mse[v] + eps, -p);
      weights.push(w);
    }
    return weights;
  }
  if (measure !== 'ncc') throw new CoregError('measure', `unknown local similarity "${String(measure)}" (expected mse or ncc)`);
  const mt = new Float64Array(n);
  const vt = new Float64Array(n);
  for (let v = 0; v < n; v++) work[v] = target[v];
  box(work, mt, tmp);
  for (let v = 0; v < n; v++) work[v] = target[v] * target[v];
  box(work, vt, tmp);
  for (let v = 0; v < n; v++) vt[v] = Math.max(0, vt[v] - mt[v] * mt[v]);
  const ma = new Float64Array(n);
  const va = new Float64Array(n);
  const cov = new Float64Array(n);
  for (const a of images) {
    for (let v = 0; v < n; v++) work[v] = a[v];
    box(work, ma, tmp);
    for (let v = 0; v < n; v++) work[v] = a[v] * a[v];
    box(work, va, tmp);
    for (let v = 0; v < n; v++) work[v] = a[v] * target[v];
    box(work, cov, tmp);
    const w = new Float32Array(n);
    for (let v = 0; v < n; v++) {
      const varA = va[v] - ma[v] * ma[v];
      const den = varA * vt[v];
      // A flat window in either image carries no structure to compare: no weight (the vote falls back).
      const ncc = varA > eps && vt[v] > eps ? (cov[v] - ma[v] * mt[v]) / Math.sqrt(den) : 0;
      w[v] = ncc > 0 ? Math.pow(Math.min(ncc, 1), p) : 0;
    }
    weights.push(w);
  }
  return weights;
}

/**
 * Locally weighted voting: votes weighted by local similarity of each warped atlas image to the target.
 * `images[i]` is atlas i's image warped to the target grid; `size` is the grid.
 */
export function locallyWeightedVote(
  votes: LabelVotes,
  images: readonly Float32Array[],
  target: Float32Array,
  size: readonly number[],
  options: WeightedVoteOptions = {},
): FusionResult {
  const n = checkVotes(votes, target.length);
  checkIntensities(images, target, votes.length, n);
  fusionGrid(size, n);
  const weights = localWeights(images, target, size, options);
  const { values, index } = compactVotes(votes);
  const probs = allocateProbabilities(values.length, n, options.probabilities);
  const winner = voteAll(index, weights, values.length, n, probs);
  return { labels: toLabels(winner, values), labelValues: values, ...(probs ? { probabilities: probs } : {}) };
}

// --- STAPLE --------------------------------------------------------------------------------------------------
