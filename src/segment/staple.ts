/**
 * STAPLE (Warfield, Zou & Wells 2004, IEEE TMI), multi-label form: EM over one confusion matrix per atlas, label
 * priors from the label frequencies of all votes.
 */
import { CoregError } from '../errors.js';
import { allocateProbabilities, checkVotes, compactVotes, toLabels, type FusionResult, type LabelVotes } from './votes.js';

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
