/**
 * Measures built from sums over samples: sad, mse, ncc (as −NCC) and nssd. Costs to minimise; see metric.ts.
 * Weighted samples (weight w_i) use weighted means: mean(x) = Σ w x / Σ w.
 */
import { CoregError } from '../errors.js';
import { compensatedValue, mergeCompensated, type MetricState, type SampledMetric, type SampledMetricName } from './metric.js';

export interface MomentState extends MetricState {
  /** Compensated sums: [hi…, lo…]; sad/mse hold (Σw, Σw·d), ncc/nssd hold (Σw, Σwf, Σwm, Σwf², Σwm², Σwfm). */
  readonly sums: Float64Array;
  /** Derivative coefficients set by finalize: sad/mse [1/Σw]; ncc/nssd [mean f, mean m, 1/√(cf·cm), cfm/cm]. */
  readonly coef: Float64Array;
}

// Below this fraction of Σwx², a centred sum of squares is rounding noise: the samples are constant.
const CONSTANT_RELATIVE = 1e-12;

function newState(metric: SampledMetricName, sums: number): MomentState {
  return { metric, count: 0, value: NaN, sums: new Float64Array(2 * sums), coef: new Float64Array(4) };
}

function resetState(s: MomentState): void {
  s.count = 0;
  s.value = NaN;
  s.sums.fill(0);
  s.coef.fill(0);
}

function mergeStates(into: MomentState, from: MomentState): void {
  if (into.metric !== from.metric) throw new Error(`cannot merge a ${from.metric} state into a ${into.metric} state`);
  into.count += from.count;
  mergeCompensated(into.sums, from.sums);
}

function totalWeight(s: MomentState): number {
  const w = compensatedValue(s.sums, 0);
  if (!(w > 0)) throw new CoregError('metric', `no samples: ${s.metric} is undefined (the images may not overlap)`);
  return w;
}

// --- sad and mse: Σ w·|f − m| / Σ w and Σ w·(f − m)² / Σ w ------------------------------------------------

// Each accumulate counts its samples before its loop, not after: V8 compiles a long loop during its first call (on-
// stack replacement) before the code after it has ever run, and such code without type feedback bails out of the
// compiled loop, which the next calls can enter again (accumulateSquared: 1222 bail-outs in one 2-thread B-spline run).
// Two copies of one loop, so each stays monomorphic: sums[0] += w (Σw), sums[1] += w·|f − m| or w·(f − m)².
function accumulateAbsolute(s: MomentState, f: Float64Array, m: Float64Array, w: Float64Array | null, start: number, end: number): void {
  const sums = s.sums;
  s.count += end - start; // before the loop (see the note above accumulateAbsolute)
  let sw = sums[0], cw = sums[2];
  let sd = sums[1], cd = sums[3];
  for (let i = start; i < end; i++) {
    const wi = w === null ? 1 : w[i];
    const x = wi * Math.abs(f[i] - m[i]);
    // exact two-sums: the rounding error of each addition goes to the low part
    let t = sw + wi;
    let z = t - sw;
    cw += sw - (t - z) + (wi - z);
    sw = t;
    t = sd + x;
    z = t - sd;
    cd += sd - (t - z) + (x - z);
    sd = t;
  }
  sums[0] = sw;
  sums[2] = cw;
  sums[1] = sd;
  sums[3] = cd;
}

function accumulateSquared(s: MomentState, f: Float64Array, m: Float64Array, w: Float64Array | null, start: number, end: number): void {
  const sums = s.sums;
  s.count += end - start; // before the loop (see the note above accumulateAbsolute)
  let sw = sums[0], cw = sums[2];
  let sd = sums[1], cd = sums[3];
  for (let i = start; i < end; i++) {
    const wi = w === null ? 1 : w[i];
    const d = f[i] - m[i];
    const x = wi * d * d;
    let t = sw + wi;
    let z = t - sw;
    cw += sw - (t - z) + (wi - z);
    sw = t;
    t = sd + x;
    z = t - sd;
    cd += sd - (t - z) + (x - z);
    sd = t;
  }
  sums[0] = sw;
  sums[2] = cw;
  sums[1] = sd;
  sums[3] = cd;
}

function finalizeDifferences(s: MomentState): number {
  const invW = 1 / totalWeight(s);
  s.coef[0] = invW;
  s.value = compensatedValue(s.sums, 1) * invW;
  return s.value;
}

function sadDerivative(s: MomentState, f: Float64Array, m: Float64Array, w: Float64Array | null, start: number, end: number, out: Float64Array): void {
  const invW = s.coef[0];
  for (let i = start; i < end; i++) {
    const d = m[i] - f[i];
    // the kink at f = m gets the zero subgradient
    const sign = d > 0 ? 1 : d < 0 ? -1 : 0;
    out[i] = (w === null ? 1 : w[i]) * sign * invW;
  }
}

function mseDerivative(s: MomentState, f: Float64Array, m: Float64Array, w: Float64Array | null, start: number, end: number, out: Float64Array): void {
  const twoInvW = 2 * s.coef[0];
  for (let i = start; i < end; i++) out[i] = (w === null ? 1 : w[i]) * (m[i] - f[i]) * twoInvW;
}

export const SAD: SampledMetric<MomentState> = {
  name: 'sad',
  createState: () => newState('sad', 2),
  reset: resetState,
  accumulate: accumulateAbsolute,
  merge: mergeStates,
  finalize: finalizeDifferences,
  derivative: sadDerivative,
};

export const MSE: SampledMetric<MomentState> = {
  name: 'mse',
  createState: () => newState('mse', 2),
  reset: resetState,
  accumulate: accumulateSquared,
  merge: mergeStates,
  finalize: finalizeDifferences,
  derivative: mseDerivative,
};

// --- ncc and nssd ---------------------------------------------------------------------------------------
// With centred sums cf = Σw(f−f̄)², cm = Σw(m−m̄)², cfm = Σw(f−f̄)(m−m̄): NCC = cfm / √(cf·cm) and
// ∂NCC/∂m_i = w_i/√(cf·cm) · ((f_i − f̄) − (cfm/cm)(m_i − m̄)) — the mean terms cancel exactly because
// Σ w(f − f̄) = 0. NSSD, the weighted mean of (z_f − z_m)² with weighted z-scores, equals 2·(1 − NCC)
// identically, so it shares the sums and its exact derivative is −2·∂NCC/∂m_i.

function accumulateMoments(s: MomentState, f: Float64Array, m: Float64Array, w: Float64Array | null, start: number, end: number): void {
  const sums = s.sums;
  s.count += end - start; // before the loop (see the note above accumulateAbsolute)
  let s0 = sums[0], c0 = sums[6];
  let s1 = sums[1], c1 = sums[7];
  let s2 = sums[2], c2 = sums[8];
  let s3 = sums[3], c3 = sums[9];
  let s4 = sums[4], c4 = sums[10];
  let s5 = sums[5], c5 = sums[11];
  for (let i = start; i < end; i++) {
    const wi = w === null ? 1 : w[i];
    const fi = f[i];
    const mi = m[i];
    const wf = wi * fi;
    const wm = wi * mi;
    const wff = wf * fi;
    const wmm = wm * mi;
    const wfm = wf * mi;
    let t = s0 + wi;
    let z = t - s0;
    c0 += s0 - (t - z) + (wi - z);
    s0 = t;
    t = s1 + wf;
    z = t - s1;
    c1 += s1 - (t - z) + (wf - z);
    s1 = t;
    t = s2 + wm;
    z = t - s2;
    c2 += s2 - (t - z) + (wm - z);
    s2 = t;
    t = s3 + wff;
    z = t - s3;
    c3 += s3 - (t - z) + (wff - z);
    s3 = t;
    t = s4 + wmm;
    z = t - s4;
    c4 += s4 - (t - z) + (wmm - z);
    s4 = t;
    t = s5 + wfm;
    z = t - s5;
    c5 += s5 - (t - z) + (wfm - z);
    s5 = t;
  }
  sums[0] = s0;
  sums[6] = c0;
  sums[1] = s1;
  sums[7] = c1;
  sums[2] = s2;
  sums[8] = c2;
  sums[3] = s3;
  sums[9] = c3;
  sums[4] = s4;
  sums[10] = c4;
  sums[5] = s5;
  sums[11] = c5;
}

/** Sets the derivative coefficients and returns NCC ∈ [−1, 1]. */
function finalizeCorrelation(s: MomentState): number {
  const sums = s.sums;
  const W = totalWeight(s);
  const sf = compensatedValue(sums, 1);
  const sm = compensatedValue(sums, 2);
  const sff = compensatedValue(sums, 3);
  const smm = compensatedValue(sums, 4);
  const sfm = compensatedValue(sums, 5);
  const meanF = sf / W;
  const meanM = sm / W;
  const cf = sff - sf * meanF;
  const cm = smm - sm * meanM;
  const cfm = sfm - sf * meanM;
  if (!(cf > CONSTANT_RELATIVE * sff) || !(cm > CONSTANT_RELATIVE * smm)) {
    throw new CoregError('metric', `image is constant: ${s.metric} is undefined`);
  }
  const a = 1 / Math.sqrt(cf * cm);
  s.coef[0] = meanF;
  s.coef[1] = meanM;
  s.coef[2] = a;
  s.coef[3] = cfm / cm;
  return Math.max(-1, Math.min(1, cfm * a));
}

/** out[i] = scale · ∂NCC/∂m_i. */
function correlationDerivative(s: MomentState, f: Float64Array, m: Float64Array, w: Float64Array | null, start: number, end: number, out: Float64Array, scale: number): void {
  const meanF = s.coef[0];
  const meanM = s.coef[1];
  const a = scale * s.coef[2];
  const b = s.coef[3];
  for (let i = start; i < end; i++) {
    out[i] = (w === null ? 1 : w[i]) * a * (f[i] - meanF - b * (m[i] - meanM));
  }
}

export const NCC: SampledMetric<MomentState> = {
  name: 'ncc',
  createState: () => newState('ncc', 6),
  reset: resetState,
  accumulate: accumulateMoments,
  merge: mergeStates,
  finalize(s) {
    s.value = -finalizeCorrelation(s);
    return s.value;
  },
  derivative: (s, f, m, w, start, end, out) => correlationDerivative(s, f, m, w, start, end, out, -1),
};

export const NSSD: SampledMetric<MomentState> = {
  name: 'nssd',
  createState: () => newState('nssd', 6),
  reset: resetState,
  accumulate: accumulateMoments,
  merge: mergeStates,
  finalize(s) {
    s.value = 2 * (1 - finalizeCorrelation(s));
    return s.value;
  },
  derivative: (s, f, m, w, start, end, out) => correlationDerivative(s, f, m, w, start, end, out, -2),
};

/**
 * Plain normalised cross-correlation of two equally long patches, in [−1, 1] (1 for identical patches):
 * Σ(a − ā)(b − b̄) / √(Σ(a − ā)² · Σ(b − b̄)²). Throws CoregError when a patch is constant.
 */
export function nccSimilarity(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  if (b.length !== n) throw new CoregError('metric', `ncc needs equally long inputs, got ${n} and ${b.length} values`);
  if (n < 2) throw new CoregError('metric', `ncc needs at least 2 values, got ${n}`);
  let meanA = 0;
  let meanB = 0;
  let rawA = 0;
  let rawB = 0;
  for (let i = 0; i < n; i++) {
    meanA += a[i];
    meanB += b[i];
    rawA += a[i] * a[i];
    rawB += b[i] * b[i];
  }
  meanA /= n;
  meanB /= n;
  // two passes: centring first keeps the sums free of cancellation
  let saa = 0;
  let sbb = 0;
  let sab = 0;
  for (let i = 0; i < n; i++) {
    const da = a[i] - meanA;
    const db = b[i] - meanB;
    saa += da * da;
    sbb += db * db;
    sab += da * db;
  }
  // after centring, a constant patch leaves only rounding noise of relative size ~1e-32
  if (!(saa > 1e-24 * rawA) || !(sbb > 1e-24 * rawB)) throw new CoregError('metric', 'image is constant: ncc is undefined');
  return Math.max(-1, Math.min(1, sab / Math.sqrt(saa * sbb)));
}
