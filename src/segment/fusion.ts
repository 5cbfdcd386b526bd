/**
 * Label fusion: N atlas label maps already warped onto the target grid → one label map (and optionally a
 * probability map per label).
 *
 * - majorityVote: each atlas votes its label with weight 1.
 * - locallyWeightedVote: each atlas' vote is weighted by the local intensity similarity between its warped image
 *   and the target in a (2r+1)^d window (Artaechevarria, Muñoz-Barrutia & Ortiz-de-Solórzano 2009, IEEE TMI):
 *   inverse local MSE, or local NCC, raised to a power p.
 * - staple: Warfield, Zou & Wells 2004 (IEEE TMI), multi-label form: EM over one confusion matrix per atlas,
 *   label priors from the label frequencies of all votes.
 * - jointLabelFusion: Wang et al. 2013 (IEEE PAMI): per-voxel weights w = M⁻¹1 / 1ᵀM⁻¹1 from the atlases' joint
 *   error correlation M(i,j) = (mean over the patch of |A_i − T|·|A_j − T|)^β + α·δij, with a local search for
 *   the best-matching atlas patch, whose label is the vote.
 *
 * Labels are compacted to indices 0…L−1 in ascending label order first, so "smallest index" is "smallest
 * label" and every tie goes to the smallest label. Images are grids of `size` (2 or 3 axes, x fastest).
 */
import { CoregError } from '../errors.js';

export const FUSION_METHODS = ['majority', 'weighted', 'staple', 'jlf'] as const;
export type FusionMethod = (typeof FUSION_METHODS)[number];

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

interface CompactVotes {
  values: Int32Array;
  index: Uint16Array[];
}

function checkVotes(votes: LabelVotes, expectedLength?: number): number {
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
function compactVotes(votes: LabelVotes): CompactVotes {
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

function allocateProbabilities(L: number, n: number, wanted: boolean | undefined): Float32Array[] | null {
  if (!wanted) return null;
  const out: Float32Array[] = [];
  for (let l = 0; l < L; l++) out.push(new Float32Array(n));
  return out;
}

function toLabels(winner: Int32Array, values: Int32Array): Int32Array {
  const out = new Int32Array(winner.length);
  for (let k = 0; k < winner.length; k++) out[k] = values[winner[k]];
  return out;
}

/**
 * Weighted vote at every voxel: score(l) = Σ_{i: label_i = l} w_i, winner = argmax (ties: smallest label).
 * weights === null means 1 for every atlas; a voxel whose weights sum to 0 falls back to equal weights.
 * Only the labels actually voted at a voxel are touched, so the cost is O(N) per voxel whatever L is.
 */
function voteAll(index: Uint16Array[], weights: Float32Array[] | null, L: number, n: number, probs: Float32Array[] | null): Int32Array {
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

export interface MajorityOptions {
  probabilities?: boolean;
}

/** Plain majority vote; ties go to the smallest label. Probabilities are vote fractions. */
export function majorityVote(votes: LabelVotes, options: MajorityOptions = {}): FusionResult {
  const n = checkVotes(votes);
  const { values, index } = compactVotes(votes);
  const probs = allocateProbabilities(values.length, n, options.probabilities);
  const winner = voteAll(index, null, values.length, n, probs);
  return { labels: toLabels(winner, values), labelValues: values, ...(probs ? { probabilities: probs } : {}) };
}

// --- local windows ------------------------------------------------------------------------------------------

interface Grid {
  nx: number;
  ny: number;
  nz: number;
}

function gridOf(size: readonly number[], n: number): Grid {
  if (size.length !== 2 && size.length !== 3) throw new CoregError('fusion', `grid size must have 2 or 3 axes, got ${size.length}`);
  for (const s of size) if (!(Number.isInteger(s) && s > 0)) throw new CoregError('fusion', `grid size must be positive integers, got [${size.join(', ')}]`);
  const g = { nx: size[0], ny: size[1], nz: size.length === 3 ? size[2] : 1 };
  if (g.nx * g.ny * g.nz !== n) throw new CoregError('fusion', `grid [${size.join(', ')}] has ${g.nx * g.ny * g.nz} voxels but the label maps have ${n}`);
  return g;
}

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

function checkIntensities(images: readonly Float32Array[], target: Float32Array, N: number, n: number): void {
  if (images.length !== N) throw new CoregError('fusion', `${N} label maps but ${images.length} atlas images`);
  if (target.length !== n) throw new CoregError('fusion', `target has ${target.length} voxels but the label maps have ${n}`);
  for (let i = 0; i < N; i++) if (images[i].length !== n) throw new CoregError('fusion', `atlas image ${i + 1} has ${images[i].length} voxels, expected ${n}`);
}

function checkRadius(value: number, name: string, min: number): number {
  if (!(Number.isInteger(value) && value >= min)) throw new CoregError(name, `must be an integer ≥ ${min}, got ${value}`);
  return value;
}

/**
 * Per-atlas, per-voxel weights of locally weighted voting (Artaechevarria et al. 2009): the similarity of the
 * warped atlas image and the target in the window around each voxel, raised to `power`.
 */
export function localWeights(images: readonly Float32Array[], target: Float32Array, size: readonly number[], options: WeightedVoteOptions = {}): Float32Array[] {
  const n = target.length;
  const g = gridOf(size, n);
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
  gridOf(size, n);
  const weights = localWeights(images, target, size, options);
  const { values, index } = compactVotes(votes);
  const probs = allocateProbabilities(values.length, n, options.probabilities);
  const winner = voteAll(index, weights, values.length, n, probs);
  return { labels: toLabels(winner, values), labelValues: values, ...(probs ? { probabilities: probs } : {}) };
}

// --- STAPLE --------------------------------------------------------------------------------------------------

export interface StapleOptions {
  /** Most EM iterations (default 100). */
  maxIterations?: number;
  /** Stop when no confusion-matrix entry changes by more than this (default 1e-6). */
  tolerance?: number;
  /** Initial P(atlas says s | truth s) (default 0.99). */
  initialAgreement?: number;
  probabilities?: boolean;
}

export interface StapleResult extends FusionResult {
  /** Per atlas, L×L row-major: [truth s][decision s'] = P(atlas says s' | true label s); rows sum to 1. */
  confusion: Float64Array[];
  /** Label priors (fraction of all votes per label). */
  priors: Float64Array;
  iterations: number;
  converged: boolean;
}

/** Smallest probability used inside logarithms (a confusion entry of 0 would veto a label outright). */
const MIN_PROBABILITY = 1e-12;

interface VoteGroups {
  /** Distinct vote tuples, N compact labels each. */
  tuples: Uint16Array;
  /** Voxels per tuple. */
  counts: Float64Array;
  /** Tuple of each voxel. */
  groupOf: Int32Array;
  count: number;
}

/**
 * Groups voxels by their tuple of votes (open-addressing hash table over the tuples). A voxel's STAPLE posterior
 * depends only on its tuple, and there are usually far fewer tuples than voxels (most voxels are unanimous).
 */
function groupVoteTuples(index: Uint16Array[], n: number): VoteGroups {
  const N = index.length;
  let capacity = 1024;
  let table = new Int32Array(capacity).fill(-1);
  let tuples = new Uint16Array(256 * N);
  let counts = new Float64Array(256);
  const groupOf = new Int32Array(n);
  let count = 0;
  const hashAt = (src: Uint16Array, at: number): number => {
    let h = 2166136261;
    for (let j = 0; j < N; j++) h = Math.imul(h ^ src[at + j], 16777619);
    return h >>> 0;
  };
  const current = new Uint16Array(N);
  for (let v = 0; v < n; v++) {
    for (let j = 0; j < N; j++) current[j] = index[j][v];
    let slot = hashAt(current, 0) & (capacity - 1);
    let g = -1;
    for (;;) {
      const e = table[slot];
      if (e < 0) break;
      let same = true;
      for (let j = 0; j < N && same; j++) same = tuples[e * N + j] === current[j];
      if (same) {
        g = e;
        break;
      }
      slot = (slot + 1) & (capacity - 1);
    }
    if (g < 0) {
      g = count++;
      if (count * N > tuples.length) {
        const grown = new Uint16Array(tuples.length * 2);
        grown.set(tuples);
        tuples = grown;
        const c2 = new Float64Array(counts.length * 2);
        c2.set(counts);
        counts = c2;
      }
      tuples.set(current, g * N);
      table[slot] = g;
      if (count * 2 > capacity) {
        // Rehash at half load.
        capacity *= 2;
        table = new Int32Array(capacity).fill(-1);
        for (let e = 0; e < count; e++) {
          let sl = hashAt(tuples, e * N) & (capacity - 1);
          while (table[sl] >= 0) sl = (sl + 1) & (capacity - 1);
          table[sl] = e;
        }
      }
    }
    counts[g] += 1;
    groupOf[v] = g;
  }
  return { tuples, counts, groupOf, count };
}

/** w[s] = log prior + Σ_j log θ_j(s, tuple_j), normalised in place to the posterior P(truth s | tuple). */
function tuplePosterior(tuples: Uint16Array, at: number, N: number, L: number, logPrior: Float64Array, logT: Float64Array, w: Float64Array): void {
  for (let s = 0; s < L; s++) w[s] = logPrior[s];
  for (let j = 0; j < N; j++) {
    const row = j * L * L + tuples[at + j] * L;
    for (let s = 0; s < L; s++) w[s] += logT[row + s];
  }
  let max = -Infinity;
  for (let s = 0; s < L; s++) if (w[s] > max) max = w[s];
  let sum = 0;
  for (let s = 0; s < L; s++) {
    w[s] = Math.exp(w[s] - max);
    sum += w[s];
  }
  for (let s = 0; s < L; s++) w[s] /= sum;
}

/**
 * Multi-label STAPLE. Each EM iteration costs O(N·L) per distinct tuple of votes (voxels with the same votes share
 * one posterior), plus O(N·L²) for the M-step.
 */
export function staple(votes: LabelVotes, options: StapleOptions = {}): StapleResult {
  const n = checkVotes(votes);
  const { values, index } = compactVotes(votes);
  const N = index.length;
  const L = values.length;
  const maxIterations = options.maxIterations ?? 100;
  const tolerance = options.tolerance ?? 1e-6;
  const agree = options.initialAgreement ?? 0.99;
  if (!(Number.isInteger(maxIterations) && maxIterations >= 1)) throw new CoregError('maxIterations', `must be an integer ≥ 1, got ${maxIterations}`);
  if (!(tolerance > 0)) throw new CoregError('tolerance', `must be > 0, got ${tolerance}`);
  if (!(agree > 0 && agree < 1)) throw new CoregError('initialAgreement', `must be in (0, 1), got ${agree}`);

  const priors = new Float64Array(L);
  for (const idx of index) for (let v = 0; v < n; v++) priors[idx[v]] += 1;
  for (let s = 0; s < L; s++) priors[s] /= N * n;
  const logPrior = new Float64Array(L);
  for (let s = 0; s < L; s++) logPrior[s] = Math.log(Math.max(priors[s], MIN_PROBABILITY));

  // theta[j·L² + s·L + d] = P(atlas j says d | truth s).
  const theta = new Float64Array(N * L * L);
  for (let j = 0; j < N; j++) {
    for (let s = 0; s < L; s++) for (let d = 0; d < L; d++) theta[j * L * L + s * L + d] = L === 1 ? 1 : s === d ? agree : (1 - agree) / (L - 1);
  }
  const groups = groupVoteTuples(index, n);
  const G = groups.count;
  const tuples = groups.tuples;

  // logT[j·L² + d·L + s] = log P(atlas j says d | truth s): contiguous over s for one decision d.
  const logT = new Float64Array(N * L * L);
  const num = new Float64Array(N * L * L);
  const den = new Float64Array(L);
  const w = new Float64Array(L);
  let iterations = 0;
  let converged = L === 1;
  const fillLogT = (): void => {
    for (let j = 0; j < N; j++) {
      const base = j * L * L;
      for (let s = 0; s < L; s++) for (let d = 0; d < L; d++) logT[base + d * L + s] = Math.log(Math.max(theta[base + s * L + d], MIN_PROBABILITY));
    }
  };

  while (!converged && iterations < maxIterations) {
    iterations++;
    fillLogT();
    num.fill(0);
    den.fill(0);
    // E-step per tuple, accumulated straight into the M-step sums.
    for (let g = 0; g < G; g++) {
      tuplePosterior(tuples, g * N, N, L, logPrior, logT, w);
      const count = groups.counts[g];
      for (let s = 0; s < L; s++) den[s] += count * w[s];
      for (let j = 0; j < N; j++) {
        const row = j * L * L + tuples[g * N + j] * L;
        for (let s = 0; s < L; s++) num[row + s] += count * w[s];
      }
    }
    // M-step: θ_j(s, d) = Σ_{x: D_j(x)=d} W(x,s) / Σ_x W(x,s).
    let change = 0;
    for (let j = 0; j < N; j++) {
      const base = j * L * L;
      for (let s = 0; s < L; s++) {
        if (!(den[s] > 0)) continue; // a label no voxel supports keeps its previous row
        for (let d = 0; d < L; d++) {
          const t = num[base + d * L + s] / den[s];
          const diff = Math.abs(t - theta[base + s * L + d]);
          if (diff > change) change = diff;
          theta[base + s * L + d] = t;
        }
      }
    }
    converged = change < tolerance;
  }

  // Final posteriors with the last θ, per tuple.
  fillLogT();
  const groupWinner = new Int32Array(G);
  const groupPosterior = options.probabilities ? new Float32Array(G * L) : null;
  for (let g = 0; g < G; g++) {
    tuplePosterior(tuples, g * N, N, L, logPrior, logT, w);
    groupWinner[g] = argmaxSmallest(w, L);
    if (groupPosterior !== null) for (let s = 0; s < L; s++) groupPosterior[g * L + s] = w[s];
  }
  const probs = allocateProbabilities(L, n, options.probabilities);
  const winner = new Int32Array(n);
  for (let v = 0; v < n; v++) {
    const g = groups.groupOf[v];
    winner[v] = groupWinner[g];
    if (probs !== null) for (let s = 0; s < L; s++) probs[s][v] = groupPosterior![g * L + s];
  }
  const confusion: Float64Array[] = [];
  for (let j = 0; j < N; j++) confusion.push(theta.slice(j * L * L, (j + 1) * L * L));
  return {
    labels: toLabels(winner, values),
    labelValues: values,
    ...(probs ? { probabilities: probs } : {}),
    confusion,
    priors,
    iterations,
    converged,
  };
}

function argmaxSmallest(w: Float64Array, L: number): number {
  let best = 0;
  for (let s = 1; s < L; s++) if (w[s] > w[best]) best = s;
  return best;
}

// --- joint label fusion --------------------------------------------------------------------------------------

export interface JointFusionOptions {
  /** Patch radius in voxels (default 2). */
  patchRadius?: number;
  /** Local search radius in voxels (default 1; 0 = no search). */
  searchRadius?: number;
  /** Exponent β of the pairwise error products (default 2). */
  beta?: number;
  /** α added to M's diagonal (default 0.1). */
  alpha?: number;
  /** Compare patches after subtracting their mean and dividing by their standard deviation (default true). */
  normalize?: boolean;
  probabilities?: boolean;
}

/**
 * Joint-fusion weights from N difference patches: diffs[i·P + k] = |A_i(k) − T(k)|.
 * M(i,j) = (Σ_k diffs_i(k)·diffs_j(k) / P)^β + α·δij, w = M⁻¹1 / 1ᵀM⁻¹1, written to `out` (length N).
 * `scratch` needs N·(N+1) values. Falls back to equal weights when M cannot be solved.
 */
export function jointFusionWeights(diffs: Float64Array, N: number, P: number, beta: number, alpha: number, out: Float64Array, scratch: Float64Array): void {
  const W = N + 1;
  // Augmented system [M | 1], row-major N × (N+1).
  for (let i = 0; i < N; i++) {
    for (let j = i; j < N; j++) {
      let s = 0;
      const a = i * P;
      const b = j * P;
      for (let k = 0; k < P; k++) s += diffs[a + k] * diffs[b + k];
      let m = Math.pow(s / P, beta);
      if (i === j) m += alpha;
      scratch[i * W + j] = m;
      scratch[j * W + i] = m;
    }
    scratch[i * W + N] = 1;
  }
  // Gaussian elimination with partial pivoting.
  let ok = true;
  for (let col = 0; col < N && ok; col++) {
    let piv = col;
    let best = Math.abs(scratch[col * W + col]);
    for (let r = col + 1; r < N; r++) {
      const v = Math.abs(scratch[r * W + col]);
      if (v > best) {
        best = v;
        piv = r;
      }
    }
    if (!(best > 1e-300)) {
      ok = false;
      break;
    }
    if (piv !== col) {
      for (let c = col; c < W; c++) {
        const t = scratch[col * W + c];
        scratch[col * W + c] = scratch[piv * W + c];
        scratch[piv * W + c] = t;
      }
    }
    const p = scratch[col * W + col];
    for (let r = col + 1; r < N; r++) {
      const f = scratch[r * W + col] / p;
      if (f === 0) continue;
      for (let c = col; c < W; c++) scratch[r * W + c] -= f * scratch[col * W + c];
    }
  }
  let sum = 0;
  if (ok) {
    for (let r = N - 1; r >= 0; r--) {
      let s = scratch[r * W + N];
      for (let c = r + 1; c < N; c++) s -= scratch[r * W + c] * out[c];
      out[r] = s / scratch[r * W + r];
    }
    for (let i = 0; i < N; i++) sum += out[i];
  }
  if (!ok || !Number.isFinite(sum) || Math.abs(sum) < 1e-300) {
    for (let i = 0; i < N; i++) out[i] = 1 / N;
    return;
  }
  for (let i = 0; i < N; i++) out[i] /= sum;
}

interface Offsets {
  dx: Int32Array;
  dy: Int32Array;
  dz: Int32Array;
  /** dx + nx·dy + nx·ny·dz. */
  linear: Int32Array;
}

/**
 * Offsets of a cube of radius r (z radius rz), centre first so that ties keep the unshifted position (search),
 * with their linear offsets in an nx × ny grid.
 */
function cubeOffsets(r: number, rz: number, nx: number, ny: number): Offsets {
  const list: number[][] = [[0, 0, 0]];
  for (let z = -rz; z <= rz; z++) for (let y = -r; y <= r; y++) for (let x = -r; x <= r; x++) if (x !== 0 || y !== 0 || z !== 0) list.push([x, y, z]);
  return {
    dx: Int32Array.from(list, (o) => o[0]),
    dy: Int32Array.from(list, (o) => o[1]),
    dz: Int32Array.from(list, (o) => o[2]),
    linear: Int32Array.from(list, (o) => o[0] + nx * o[1] + nx * ny * o[2]),
  };
}

/**
 * Squared distance between the (normalised, when asked) patch of `img` at (x, y, z) and the prepared target patch
 * `tp` (Σ tp² = tSumSq), in one pass without storing the candidate: with tp of zero mean,
 * Σ(â − tp)² = Σâ² + Σtp² − 2·Σ a·tp / σa, where Σâ² is P (0 for a flat patch, which normalises to zeros).
 */
function patchDistance(
  img: Float32Array,
  nx: number,
  ny: number,
  nz: number,
  x: number,
  y: number,
  z: number,
  patch: Offsets,
  interior: boolean,
  tp: Float64Array,
  tSumSq: number,
  normalize: boolean,
): number {
  const P = tp.length;
  let sa = 0;
  let saa = 0;
  let sat = 0;
  if (interior) {
    const lin = patch.linear;
    const c = x + nx * (y + ny * z);
    for (let k = 0; k < P; k++) {
      const a = img[c + lin[k]];
      sa += a;
      saa += a * a;
      sat += a * tp[k];
    }
  } else {
    const nxy = nx * ny;
    for (let k = 0; k < P; k++) {
      let xx = x + patch.dx[k];
      let yy = y + patch.dy[k];
      let zz = z + patch.dz[k];
      if (xx < 0) xx = 0;
      else if (xx >= nx) xx = nx - 1;
      if (yy < 0) yy = 0;
      else if (yy >= ny) yy = ny - 1;
      if (zz < 0) zz = 0;
      else if (zz >= nz) zz = nz - 1;
      const a = img[xx + nx * yy + nxy * zz];
      sa += a;
      saa += a * a;
      sat += a * tp[k];
    }
  }
  if (!normalize) return saa - 2 * sat + tSumSq;
  const mean = sa / P;
  const sd = Math.sqrt(Math.max(0, saa / P - mean * mean));
  // Same flatness test as gatherPatch.
  if (!(sd > 1e-6 * (Math.abs(mean) + 1))) return tSumSq;
  return P + tSumSq - (2 * sat) / sd;
}

/**
 * Copies the patch centred at (x, y, z) of `img` into out[at…at+P) with border replication, and (when
 * `normalize`) standardises it (zero mean, unit variance; a flat patch becomes all zeros).
 */
function gatherPatch(
  img: Float32Array,
  nx: number,
  ny: number,
  nz: number,
  x: number,
  y: number,
  z: number,
  px: Int32Array,
  py: Int32Array,
  pz: Int32Array,
  out: Float64Array,
  at: number,
  normalize: boolean,
): void {
  const P = px.length;
  const nxy = nx * ny;
  let sum = 0;
  for (let k = 0; k < P; k++) {
    let xx = x + px[k];
    let yy = y + py[k];
    let zz = z + pz[k];
    if (xx < 0) xx = 0;
    else if (xx >= nx) xx = nx - 1;
    if (yy < 0) yy = 0;
    else if (yy >= ny) yy = ny - 1;
    if (zz < 0) zz = 0;
    else if (zz >= nz) zz = nz - 1;
    const v = img[xx + nx * yy + nxy * zz];
    out[at + k] = v;
    sum += v;
  }
  if (!normalize) return;
  const mean = sum / P;
  let ss = 0;
  for (let k = 0; k < P; k++) {
    const d = out[at + k] - mean;
    out[at + k] = d;
    ss += d * d;
  }
  const sd = Math.sqrt(ss / P);
  const scale = sd > 1e-6 * (Math.abs(mean) + 1) ? 1 / sd : 0;
  for (let k = 0; k < P; k++) out[at + k] *= scale;
}

/**
 * Joint label fusion (Wang et al. 2013) with local patch search. Voxels where all atlases agree keep that label
 * without patch work, as JLF is usually run only where atlases disagree: that is a small part of a volume, and
 * the patch work is O(N·S·P + N²·P) per voxel (S search positions, P patch voxels).
 */
export function jointLabelFusion(
  votes: LabelVotes,
  images: readonly Float32Array[],
  target: Float32Array,
  size: readonly number[],
  options: JointFusionOptions = {},
): FusionResult {
  const n = checkVotes(votes, target.length);
  const N = votes.length;
  checkIntensities(images, target, N, n);
  const { nx, ny, nz } = gridOf(size, n);
  const pr = checkRadius(options.patchRadius ?? 2, 'patchRadius', 0);
  const sr = checkRadius(options.searchRadius ?? 1, 'searchRadius', 0);
  const beta = options.beta ?? 2;
  const alpha = options.alpha ?? 0.1;
  if (!(Number.isFinite(beta) && beta > 0)) throw new CoregError('beta', `must be a positive number, got ${beta}`);
  if (!(Number.isFinite(alpha) && alpha > 0)) throw new CoregError('alpha', `must be a positive number, got ${alpha}`);
  const normalize = options.normalize ?? true;
  const { values, index } = compactVotes(votes);
  const L = values.length;
  const probs = allocateProbabilities(L, n, options.probabilities);

  const prz = nz > 1 ? pr : 0;
  const patch = cubeOffsets(pr, prz, nx, ny);
  const search = cubeOffsets(sr, nz > 1 ? sr : 0, nx, ny);
  const P = patch.dx.length;
  const S = search.dx.length;
  const targetPatch = new Float64Array(P);
  const candidate = new Float64Array(P);
  const diffs = new Float64Array(N * P);
  const weights = new Float64Array(N);
  const scratch = new Float64Array(N * (N + 1));
  const voted = new Int32Array(N);
  const score = new Float64Array(L);
  const touched = new Int32Array(N);
  const winner = new Int32Array(n);
  const nxy = nx * ny;

  for (let z = 0, v = 0; z < nz; z++) {
    for (let y = 0; y < ny; y++) {
      for (let x = 0; x < nx; x++, v++) {
        const c0 = index[0][v];
        let same = true;
        for (let i = 1; i < N && same; i++) same = index[i][v] === c0;
        if (same) {
          winner[v] = c0;
          if (probs !== null) probs[c0][v] = 1;
          continue;
        }
        gatherPatch(target, nx, ny, nz, x, y, z, patch.dx, patch.dy, patch.dz, targetPatch, 0, normalize);
        let targetSumSq = 0;
        for (let k = 0; k < P; k++) targetSumSq += targetPatch[k] * targetPatch[k];
        for (let i = 0; i < N; i++) {
          const img = images[i];
          let bestCost = Infinity;
          let bestS = 0;
          for (let s = 0; s < S; s++) {
            const xs = x + search.dx[s];
            const ys = y + search.dy[s];
            const zs = z + search.dz[s];
            if (xs < 0 || xs >= nx || ys < 0 || ys >= ny || zs < 0 || zs >= nz) continue;
            const interior = xs >= pr && xs < nx - pr && ys >= pr && ys < ny - pr && zs >= prz && zs < nz - prz;
            const cost = patchDistance(img, nx, ny, nz, xs, ys, zs, patch, interior, targetPatch, targetSumSq, normalize);
            if (cost < bestCost) {
              bestCost = cost;
              bestS = s;
            }
          }
          const xs = x + search.dx[bestS];
          const ys = y + search.dy[bestS];
          const zs = z + search.dz[bestS];
          gatherPatch(img, nx, ny, nz, xs, ys, zs, patch.dx, patch.dy, patch.dz, candidate, 0, normalize);
          const row = i * P;
          for (let k = 0; k < P; k++) diffs[row + k] = Math.abs(candidate[k] - targetPatch[k]);
          voted[i] = index[i][xs + nx * ys + nxy * zs];
        }
        jointFusionWeights(diffs, N, P, beta, alpha, weights, scratch);
        let nt = 0;
        for (let i = 0; i < N; i++) {
          const c = voted[i];
          let seen = false;
          for (let t = 0; t < nt; t++) if (touched[t] === c) seen = true;
          if (!seen) {
            touched[nt++] = c;
            score[c] = 0;
          }
          score[c] += weights[i];
        }
        let best = touched[0];
        let bestScore = score[best];
        for (let t = 1; t < nt; t++) {
          const c = touched[t];
          if (score[c] > bestScore || (score[c] === bestScore && c < best)) {
            best = c;
            bestScore = score[c];
          }
        }
        winner[v] = best;
        // JLF weights sum to 1 but may be negative: report the vote shares clipped to [0, 1].
        if (probs !== null) for (let t = 0; t < nt; t++) probs[touched[t]][v] = Math.min(1, Math.max(0, score[touched[t]]));
      }
    }
  }
  return { labels: toLabels(winner, values), labelValues: values, ...(probs ? { probabilities: probs } : {}) };
}
