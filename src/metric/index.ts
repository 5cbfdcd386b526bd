/**
 * Similarity measures as costs to minimise (sad, mse, nssd, −NCC, −MI, −NMI, H(F,M), −mean local ncc²):
 * the registry of sampled metrics and a checked one-call evaluation. See metric.ts for the block protocol.
 */
import { CoregError } from '../errors.js';
import { JOINT_ENTROPY, MI, NMI } from './histogram.js';
import { MSE, NCC, NSSD, SAD } from './moments.js';
import { SAMPLED_METRIC_NAMES, type IntensityRange, type MetricOptions, type MetricState, type SampledMetric, type SampledMetricName } from './metric.js';

export * from './metric.js';
export { nccSimilarity, type MomentState } from './moments.js';
export { DEFAULT_BINS, finalizeHistogramMerged, mergeHistogramRows, type HistogramMetricName, type HistogramState } from './histogram.js';
export { lnccDense, type LnccWorkspace } from './lncc.js';

/** Every sampled measure behind one interface (states are specific to the metric that created them). */
export const METRICS: Readonly<Record<SampledMetricName, SampledMetric<MetricState>>> = {
  sad: SAD,
  mse: MSE,
  nssd: NSSD,
  ncc: NCC,
  mi: MI,
  nmi: NMI,
  jointEntropy: JOINT_ENTROPY,
};

export function isSampledMetricName(name: string): name is SampledMetricName {
  return (SAMPLED_METRIC_NAMES as readonly string[]).includes(name);
}

export interface EvaluateOptions extends MetricOptions {
  /** Per-sample weights (e.g. a soft mask); null or absent = all 1. */
  weights?: Float64Array | null;
}

function sampleRange(values: Float64Array, n: number): IntensityRange {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return { min, max };
}

/**
 * The cost over samples 0 … n−1 and ∂cost/∂m_i for each, in one call (a single block). Histogram metrics
 * take their intensity ranges from `options` or, when absent, from the samples themselves.
 * Throws CoregError for an unknown name, too few samples, short arrays or constant images.
 */
export function evaluateMetric(
  name: string,
  f: Float64Array,
  m: Float64Array,
  n: number,
  options: EvaluateOptions = {},
): { value: number; dValue: Float64Array } {
  if (!isSampledMetricName(name)) {
    throw new CoregError('metric', `unknown metric "${name}" (expected one of ${SAMPLED_METRIC_NAMES.join(', ')})`);
  }
  if (!Number.isInteger(n) || n < 0) throw new CoregError('metric', `sample count must be a whole number, got ${n}`);
  if (n === 0) throw new CoregError('metric', `no samples: ${name} is undefined (the images may not overlap)`);
  if (n < 2) throw new CoregError('metric', `${name} needs at least 2 samples, got ${n}`);
  if (f.length < n || m.length < n) {
    throw new CoregError('metric', `${name} of ${n} samples got ${f.length} fixed and ${m.length} moving values`);
  }
  const weights = options.weights ?? null;
  if (weights !== null && weights.length < n) throw new CoregError('metric', `${name} of ${n} samples got ${weights.length} weights`);
  const metric = METRICS[name];
  const histogram = name === 'mi' || name === 'nmi' || name === 'jointEntropy';
  const state = metric.createState(
    histogram
      ? {
          bins: options.bins,
          fixedRange: options.fixedRange ?? sampleRange(f, n),
          movingRange: options.movingRange ?? sampleRange(m, n),
        }
      : options,
  );
  metric.accumulate(state, f, m, weights, 0, n);
  const value = metric.finalize(state);
  const dValue = new Float64Array(n);
  metric.derivative(state, f, m, weights, 0, n, dValue);
  return { value, dValue };
}
