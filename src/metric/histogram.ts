/**
 * Histogram measures on a Mattes Parzen joint histogram: mi (as −MI), nmi (as −NMI, Studholme's
 * (H(F) + H(M)) / H(F,M)) and jointEntropy (H(F,M)). Costs to minimise; see metric.ts.
 *
 * The joint histogram has B × B bins (fixed row ι, moving column k). A sample adds its weight w to one fixed
 * bin (zero-order, box window: B equal bins over the fixed range) spread over four moving bins by the cubic
 * B-spline β₃(k − u), where u = 1 + (m − min)·(B − 3)/(max − min) ∈ [1, B − 2] keeps the support inside the
 * histogram (Mattes et al. 2003; ITK's MattesMutualInformationImageToImageMetricv4 pads the same way).
 * Moving values outside the given range are clamped (and get zero derivative).
 *
 * Derivative: with p = h / Σw, a sample moves only the four p(ι_i, k) of its own fixed row, by
 * ∂p(ι_i,k)/∂m_i = (w_i / Σw) · β₃'(·) · (B − 3)/(max − min). The B-spline derivatives sum to zero, so the
 * fixed marginal never changes and any term constant along a row (the "+1" of ∂(p log p)) drops out:
 *   ∂MI/∂p(ι,k)  ≅ log p(ι,k) − log p_M(k)
 *   ∂H(F,M)/∂p   ≅ −log p(ι,k)
 *   ∂NMI/∂p      ≅ (NMI · log p(ι,k) − log p_M(k)) / H(F,M).
 * finalize turns these into a B × B table, and the per-sample derivative is a four-term dot product.
 */
import { CoregError } from '../errors.js';
import type { IntensityRange, MetricOptions, MetricState, SampledMetric } from './metric.js';

export type HistogramMetricName = 'mi' | 'nmi' | 'jointEntropy';

export const DEFAULT_BINS = 32;
const MIN_BINS = 5;
const MAX_BINS = 1024;

export interface HistogramState extends MetricState {
  readonly metric: HistogramMetricName;
  readonly bins: number;
  readonly fixedMin: number;
  /** Fixed bins per intensity unit: B / (max − min). */
  readonly fixedScale: number;
  readonly movingMin: number;
  /** Moving bin coordinate per intensity unit: (B − 3) / (max − min). */
  readonly movingScale: number;
  /** Compensated sums [hi…, lo…]: the B² joint bins (fixed-major: ι·B + k), then Σw at index B². */
  readonly sums: Float64Array;
  /** Set by finalize: ∂cost/∂p(ι,k) · movingScale / Σw, so ∂cost/∂m_i = w_i · Σ_j β₃'_j · table[ι_i, k_j]. */
  readonly table: Float64Array;
  /** Parzen entropies (nats) from the last finalize. */
  fixedEntropy: number;
  movingEntropy: number;
  jointEntropy: number;
  /** finalize's scratch: log p of the B² joint bins (0 where p = 0), the moving marginal and its logs. */
  readonly logs: Float64Array;
  readonly pM: Float64Array;
  readonly logPM: Float64Array;
}

function checkedRange(range: IntensityRange | undefined, side: string, metric: HistogramMetricName): IntensityRange {
  if (range === undefined) throw new Error(`${metric} needs the ${side} intensity range`);
  if (!Number.isFinite(range.min) || !Number.isFinite(range.max)) {
    throw new CoregError('metric', `${side} intensity range [${range.min}, ${range.max}] is not finite`);
  }
  // an empty range means the image (or its sampled region) has one value, which no histogram can bin
  if (!(range.max > range.min)) throw new CoregError('metric', `image is constant: ${metric} is undefined`);
  return range;
}

function createHistogramState(metric: HistogramMetricName, options: MetricOptions = {}): HistogramState {
  const bins = options.bins ?? DEFAULT_BINS;
  if (!Number.isInteger(bins) || bins < MIN_BINS || bins > MAX_BINS) {
    throw new CoregError('metric', `histogram bins must be an integer from ${MIN_BINS} to ${MAX_BINS}, got ${bins}`);
  }
  const fr = checkedRange(options.fixedRange, 'fixed', metric);
  const mr = checkedRange(options.movingRange, 'moving', metric);
  return {
    metric,
    count: 0,
    value: NaN,
    bins,
    fixedMin: fr.min,
    fixedScale: bins / (fr.max - fr.min),
    movingMin: mr.min,
    movingScale: (bins - 3) / (mr.max - mr.min),
    sums: new Float64Array(2 * (bins * bins + 1)),
    table: new Float64Array(bins * bins),
    fixedEntropy: NaN,
    movingEntropy: NaN,
    jointEntropy: NaN,
    logs: new Float64Array(bins * bins),
    pM: new Float64Array(bins),
    logPM: new Float64Array(bins),
  };
}

function resetHistogram(s: HistogramState): void {
  s.count = 0;
  s.value = NaN;
  s.sums.fill(0);
  s.table.fill(0);
  s.fixedEntropy = NaN;
  s.movingEntropy = NaN;
  s.jointEntropy = NaN;
}

function accumulateHistogram(s: HistogramState, f: Float64Array, m: Float64Array, w: Float64Array | null, start: number, end: number): void {
  const B = s.bins;
  const lastBin = B - 1;
  const uMax = B - 2;
  const baseMax = B - 3;
  const fMin = s.fixedMin;
  const fScale = s.fixedScale;
  const mMin = s.movingMin;
  const mScale = s.movingScale;
  const sums = s.sums;
  s.count += end - start; // before the loop (as moments.ts's accumulates: see the note there)
  const lo = B * B + 1;
  let sw = sums[B * B];
  let cw = sums[lo + B * B];
  for (let i = start; i < end; i++) {
    const wi = w === null ? 1 : w[i];
    let row = Math.floor((f[i] - fMin) * fScale);
    if (row < 0) row = 0;
    else if (row > lastBin) row = lastBin;
    let u = 1 + (m[i] - mMin) * mScale;
    if (u < 1) u = 1;
    else if (u > uMax) u = uMax;
    let base = Math.floor(u);
    // u = B − 2 exactly: use the last full support (t = 1) so bin B is never touched
    if (base > baseMax) base = baseMax;
    const t = u - base;
    const t2 = t * t;
    const t3 = t2 * t;
    const r = 1 - t;
    const k0 = row * B + base - 1;
    // cubic B-spline weights of bins base−1 … base+2 (they sum to 1)
    let x = (wi * (r * r * r)) / 6;
    let k = k0;
    let a = sums[k];
    let sum = a + x;
    let z = sum - a;
    sums[lo + k] += a - (sum - z) + (x - z);
    sums[k] = sum;
    x = (wi * (3 * t3 - 6 * t2 + 4)) / 6;
    k = k0 + 1;
    a = sums[k];
    sum = a + x;
    z = sum - a;
    sums[lo + k] += a - (sum - z) + (x - z);
    sums[k] = sum;
    x = (wi * (-3 * t3 + 3 * t2 + 3 * t + 1)) / 6;
    k = k0 + 2;
    a = sums[k];
    sum = a + x;
    z = sum - a;
    sums[lo + k] += a - (sum - z) + (x - z);
    sums[k] = sum;
    x = (wi * t3) / 6;
    k = k0 + 3;
    a = sums[k];
    sum = a + x;
    z = sum - a;
    sums[lo + k] += a - (sum - z) + (x - z);
    sums[k] = sum;
    sum = sw + wi;
    z = sum - sw;
    cw += sw - (sum - z) + (wi - z);
    sw = sum;
  }
  sums[B * B] = sw;
  sums[lo + B * B] = cw;
}

function mergeHistogram(into: HistogramState, from: HistogramState): void {
  if (into.metric !== from.metric || into.bins !== from.bins) {
    throw new Error(`cannot merge a ${from.metric} state of ${from.bins} bins into a ${into.metric} state of ${into.bins} bins`);
  }
  into.count += from.count;
  const a = into.sums;
  const b = from.sums;
  const h = a.length >> 1;
  for (let k = 0; k < h; k++) {
    const x = a[k];
    const y = b[k];
    const t = x + y;
    const z = t - x;
    a[k + h] += x - (t - z) + (y - z) + b[k + h];
    a[k] = t;
  }
}

function finalizeHistogram(s: HistogramState): number {
  return finalizeWith(s, null);
}

/**
 * The merged sums of `blocks` blocks' partial sums (`partials`: L = 2(B² + 1) numbers per block, compensated pairs
 * as in `sums`) for the joint bins of fixed rows [rowStart, rowEnd), added in block order from 0 into `merged` (the
 * same numbers, bit for bit, as mergeCompensated over whole blocks: every bin is merged on its own), and log p of
 * those bins into `logs` (0 where p = 0), p = bin / Σw. Σw (slot B²) is merged too; rowStart 0 writes it. For
 * threads that share a histogram's merge by rows; then finalizeHistogramMerged.
 */
export function mergeHistogramRows(bins: number, blocks: number, partials: Float64Array, rowStart: number, rowEnd: number, merged: Float64Array, logs: Float64Array): void {
  const BB = bins * bins;
  const h = BB + 1;
  const L = 2 * h;
  // Σw, merged as every bin is
  let wHi = 0;
  let wLo = 0;
  for (let b = 0; b < blocks; b++) {
    const o = b * L;
    const x = partials[o + BB];
    const t = wHi + x;
    const z = t - wHi;
    wLo += wHi - (t - z) + (x - z) + partials[o + h + BB];
    wHi = t;
  }
  if (rowStart === 0) {
    merged[BB] = wHi;
    merged[h + BB] = wLo;
  }
  const W = wHi + wLo;
  // bin by bin, the blocks in order (the same operations per bin as merging block after block)
  for (let k = rowStart * bins, k1 = rowEnd * bins; k < k1; k++) {
    let hi = 0;
    let lo = 0;
    for (let o = k; o < blocks * L; o += L) {
      const x = partials[o];
      const t = hi + x;
      const z = t - hi;
      lo += hi - (t - z) + (x - z) + partials[o + h];
      hi = t;
    }
    merged[k] = hi;
    merged[h + k] = lo;
    const p = (hi + lo) / W;
    logs[k] = p > 0 ? Math.log(p) : 0;
  }
}

/**
 * finalize (the same value, entropies and table, bit for bit) from sums merged by mergeHistogramRows, whose
 * `logs` it takes instead of computing them: `merged` is copied into the state's sums, `count` samples.
 */
export function finalizeHistogramMerged(s: HistogramState, merged: Float64Array, logs: Float64Array, count: number): number {
  s.sums.set(merged);
  s.count = count;
  return finalizeWith(s, logs);
}

/** finalize, with the joint bins' log p from `given` (mergeHistogramRows) or computed here. */
function finalizeWith(s: HistogramState, given: Float64Array | null): number {
  const B = s.bins;
  const BB = B * B;
  const sums = s.sums;
  const lo = BB + 1;
  const W = sums[BB] + sums[lo + BB];
  if (!(W > 0)) throw new CoregError('metric', `no samples: ${s.metric} is undefined (the images may not overlap)`);
  const table = s.table;
  // table first holds p, then is overwritten with the derivative coefficients; each log p is computed once
  const logs = given ?? s.logs;
  const pM = s.pM.fill(0);
  let hF = 0;
  let hJ = 0;
  for (let row = 0; row < B; row++) {
    let pF = 0;
    for (let k = 0; k < B; k++) {
      const j = row * B + k;
      const p = (sums[j] + sums[lo + j]) / W;
      table[j] = p;
      pF += p;
      pM[k] += p;
      if (p > 0) {
        const lp = given ? logs[j] : (logs[j] = Math.log(p));
        hJ -= p * lp;
      }
    }
    if (pF > 0) hF -= pF * Math.log(pF);
  }
  let hM = 0;
  const logPM = s.logPM.fill(0);
  for (let k = 0; k < B; k++) {
    if (pM[k] > 0) {
      logPM[k] = Math.log(pM[k]);
      hM -= pM[k] * logPM[k];
    }
  }
  s.fixedEntropy = hF;
  s.movingEntropy = hM;
  s.jointEntropy = hJ;
  const scale = s.movingScale / W;
  let value: number;
  if (s.metric === 'mi') {
    value = -(hF + hM - hJ);
    for (let j = 0; j < BB; j++) {
      const p = table[j];
      table[j] = p > 0 ? -(logs[j] - logPM[j % B]) * scale : 0;
    }
  } else if (s.metric === 'nmi') {
    const nmi = (hF + hM) / hJ;
    value = -nmi;
    for (let j = 0; j < BB; j++) {
      const p = table[j];
      table[j] = p > 0 ? (-(nmi * logs[j] - logPM[j % B]) / hJ) * scale : 0;
    }
  } else {
    value = hJ;
    for (let j = 0; j < BB; j++) {
      const p = table[j];
      table[j] = p > 0 ? -logs[j] * scale : 0;
    }
  }
  s.value = value;
  return value;
}

function histogramDerivative(s: HistogramState, f: Float64Array, m: Float64Array, w: Float64Array | null, start: number, end: number, out: Float64Array): void {
  const B = s.bins;
  const lastBin = B - 1;
  const uMax = B - 2;
  const baseMax = B - 3;
  const fMin = s.fixedMin;
  const fScale = s.fixedScale;
  const mMin = s.movingMin;
  const mScale = s.movingScale;
  const table = s.table;
  for (let i = start; i < end; i++) {
    const u = 1 + (m[i] - mMin) * mScale;
    // clamped samples do not move with m
    if (!(u >= 1 && u <= uMax)) {
      out[i] = 0;
      continue;
    }
    let row = Math.floor((f[i] - fMin) * fScale);
    if (row < 0) row = 0;
    else if (row > lastBin) row = lastBin;
    let base = Math.floor(u);
    if (base > baseMax) base = baseMax;
    const t = u - base;
    const t2 = t * t;
    const r = 1 - t;
    const k0 = row * B + base - 1;
    // d/du of the four cubic B-spline weights (they sum to 0)
    const d =
      -0.5 * r * r * table[k0] +
      (1.5 * t2 - 2 * t) * table[k0 + 1] +
      (-1.5 * t2 + t + 0.5) * table[k0 + 2] +
      0.5 * t2 * table[k0 + 3];
    out[i] = (w === null ? 1 : w[i]) * d;
  }
}

function histogramMetric(name: HistogramMetricName): SampledMetric<HistogramState> {
  return {
    name,
    createState: (options?: MetricOptions) => createHistogramState(name, options),
    reset: resetHistogram,
    accumulate: accumulateHistogram,
    merge: mergeHistogram,
    finalize: finalizeHistogram,
    derivative: histogramDerivative,
  };
}

export const MI = histogramMetric('mi');
export const NMI = histogramMetric('nmi');
export const JOINT_ENTROPY = histogramMetric('jointEntropy');
