/**
 * Similarity-measure kernels: the metric value over samples and its derivative with respect to each moving sample.
 *
 * EVERY measure is returned as a COST TO MINIMISE (as ITK v4 and elastix do): sad and mse as they are,
 * nssd as it is, ncc → −NCC, mi → −MI, nmi → −NMI, jointEntropy → H(F,M), lncc → −mean(local ncc²).
 *
 * A registration evaluates, at sample points x_i of the fixed image, fixed values f_i and interpolated moving
 * values m_i = M(T(x_i)); these kernels give the cost and ∂cost/∂m_i. The chain rule through ∇M and ∂T/∂p is
 * the caller's.
 *
 * Threads and determinism: a sampled metric works as accumulate over blocks [start, end) → merge the partial
 * states in a fixed order → finalize (value and derivative coefficients) → derivative over blocks [start, end).
 * Partial sums are kept as compensated (sum, error) pairs, so the merged result does not depend on how the
 * samples were split into blocks (to far below one rounding of the final double).
 */

/** Names of the measures over scattered samples (lncc works on dense grids, see lnccDense). */
export type SampledMetricName = 'sad' | 'mse' | 'nssd' | 'ncc' | 'mi' | 'nmi' | 'jointEntropy';

export const SAMPLED_METRIC_NAMES: readonly SampledMetricName[] = ['sad', 'mse', 'nssd', 'ncc', 'mi', 'nmi', 'jointEntropy'];

export interface IntensityRange {
  min: number;
  max: number;
}

export interface MetricOptions {
  /** Histogram bins per axis for mi, nmi and jointEntropy (default 32, at least 5). */
  bins?: number;
  /** Fixed intensity range binned by the histogram metrics (required by them; computed once per level). */
  fixedRange?: IntensityRange;
  /** Moving intensity range binned by the histogram metrics (required by them). Values outside are clamped. */
  movingRange?: IntensityRange;
}

/** What every metric state carries: which metric made it and how many samples it has seen. */
export interface MetricState {
  readonly metric: SampledMetricName;
  /** Samples accumulated (including zero-weight ones). */
  count: number;
  /** Cost from the last finalize (NaN before). */
  value: number;
}

/**
 * One uniform interface for all sampled measures. `w` is an optional per-sample weight (null = all 1);
 * arrays are indexed by sample number, and only [start, end) is read or written.
 */
export interface SampledMetric<S extends MetricState = MetricState> {
  readonly name: SampledMetricName;
  /** A fresh, empty partial state (throws CoregError on bad options). */
  createState(options?: MetricOptions): S;
  /** Empties a state so it can be reused for the next evaluation (keeps its options). */
  reset(state: S): void;
  /** Adds samples [start, end) to the state's partial sums. */
  accumulate(state: S, f: Float64Array, m: Float64Array, w: Float64Array | null, start: number, end: number): void;
  /** Adds `from`'s partial sums into `into`. Merge blocks in a fixed order for reproducible results. */
  merge(into: S, from: S): void;
  /** Computes the cost (returned and stored in state.value) and the derivative coefficients. */
  finalize(state: S): number;
  /** Writes ∂cost/∂m_i into out[i] for i in [start, end). Call after finalize, with the same samples. */
  derivative(state: S, f: Float64Array, m: Float64Array, w: Float64Array | null, start: number, end: number, out: Float64Array): void;
}

// --- compensated sums ---------------------------------------------------------------------------------
// A sum is held as (hi, lo) at s[k] and s[k + half]; merging adds both parts with an exact two-sum, so the
// total carries about twice double precision and is independent of the order blocks are merged in.

/** into[k] += from[k] as compensated pairs stored as [hi_0..hi_{h−1}, lo_0..lo_{h−1}] (h = length / 2). */
export function mergeCompensated(into: Float64Array, from: Float64Array): void {
  const h = into.length >> 1;
  for (let k = 0; k < h; k++) {
    const a = into[k];
    const b = from[k];
    const t = a + b;
    const z = t - a;
    into[k + h] += a - (t - z) + (b - z) + from[k + h];
    into[k] = t;
  }
}

/** The rounded value of compensated pair k. */
export function compensatedValue(s: Float64Array, k: number): number {
  return s[k] + s[k + (s.length >> 1)];
}
