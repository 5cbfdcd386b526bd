/**
 * Intensity statistics that do not depend on the intensity range: quantiles (for winsorising), an automatic
 * foreground threshold (Otsu) and a guess of the modality (CT in Hounsfield units, PET, MR/other).
 */
import type { Image } from './image.js';

/** Most values looked at for a quantile (an even stride over the data beyond that; deterministic). */
const MAX_QUANTILE_VALUES = 400_000;

/** The stride of quantiles()' subset of n values: indices 0, s, 2s, … (the finite ones). */
export function quantileStride(n: number): number {
  return Math.max(1, Math.floor(n / MAX_QUANTILE_VALUES));
}

/** The nearest ranks quantiles() takes for q ∈ qs among m values. */
export function quantileRank(q: number, m: number): number {
  return Math.min(m - 1, Math.max(0, Math.round(q * (m - 1))));
}

/** The stride of otsuLevels()' histogram over n values. */
export function otsuStride(n: number): number {
  return Math.max(1, Math.floor(n / (4 * MAX_QUANTILE_VALUES)));
}

/** Otsu's 256 bins. */
export const OTSU_BINS = 256;

/** The stride of guessModality()'s integer check over n values. */
export function integralStride(n: number): number {
  return Math.max(1, Math.floor(n / 100_000));
}

/**
 * Quantiles q ∈ [0, 1] of the finite values of `data` (optionally only where `keep(i)`), nearest rank on a
 * deterministic, evenly strided subset of at most 400 000 values. Null when there is no finite value.
 * A few quantiles are found by selection (selectRank: linear time, the values a sort puts at those ranks), many
 * by one sort.
 */
export function quantiles(data: ArrayLike<number>, qs: readonly number[], keep?: (i: number) => boolean): number[] | null {
  const n = data.length;
  const stride = quantileStride(n);
  const buf = new Float64Array(Math.ceil(n / stride));
  let m = 0;
  for (let i = 0; i < n; i += stride) {
    const v = data[i];
    if (!Number.isFinite(v)) continue;
    if (keep && !keep(i)) continue;
    buf[m++] = v;
  }
  if (m === 0) return null;
  const values = buf.subarray(0, m);
  const ranks = qs.map((q) => quantileRank(q, m));
  if (qs.length > 16) {
    values.sort();
    return ranks.map((r) => values[r]);
  }
  // In increasing rank order, each selection searching only above the last one.
  const order = ranks.map((_, i) => i).sort((a, b) => ranks[a] - ranks[b]);
  const out = new Array<number>(qs.length);
  let lo = 0;
  for (const i of order) {
    selectRank(values, ranks[i], lo, m - 1);
    out[i] = values[ranks[i]];
    lo = ranks[i];
  }
  return out;
}

/**
 * Rearranges a[lo..hi] so that a[k] holds the value an ascending sort of that range would put there, with no
 * larger value before it and no smaller one after it (Hoare's FIND with a median-of-three pivot; after
 * 2·log2(n) + 8 rounds the rest is sorted, so the worst case stays n log n).
 */
export function selectRank(a: Float64Array, k: number, lo: number, hi: number): void {
  let rounds = 2 * Math.ceil(Math.log2(hi - lo + 2)) + 8;
  while (lo < hi) {
    if (rounds-- === 0) {
      a.subarray(lo, hi + 1).sort();
      return;
    }
    const x0 = a[lo];
    const x1 = a[lo + ((hi - lo) >> 1)];
    const x2 = a[hi];
    // the median of the three is the pivot: a value of the range, so the scans below stop inside it
    const x = x0 < x1 ? (x1 < x2 ? x1 : x0 < x2 ? x2 : x0) : x0 < x2 ? x0 : x1 < x2 ? x2 : x1;
    let i = lo;
    let j = hi;
    do {
      while (a[i] < x) i++;
      while (x < a[j]) j--;
      if (i <= j) {
        const t = a[i];
        a[i] = a[j];
        a[j] = t;
        i++;
        j--;
      }
    } while (i <= j);
    // a[lo..j] ≤ x ≤ a[i..hi], and a[j+1..i−1] = x
    if (j < k) lo = i;
    if (k < i) hi = j;
  }
}

/**
 * Otsu's threshold of the finite values of `data` over 256 bins between the 0.1 % and 99.9 % quantiles: the
 * value that best splits the histogram into two classes (the background and the object). Null when the values
 * do not split (fewer than two distinct values in that range).
 */
export function otsuThreshold(data: ArrayLike<number>, keep?: (i: number) => boolean): number | null {
  return otsuLevels(data, keep)?.threshold ?? null;
}

export interface ForegroundLevels {
  /** Otsu's threshold. */
  threshold: number;
  /** Mean of the values below it (the background: air, empty space). */
  background: number;
  /** Mean of the values above it (the object). */
  foreground: number;
}

/** Otsu's threshold with the two class means (see otsuThreshold). */
export function otsuLevels(data: ArrayLike<number>, keep?: (i: number) => boolean): ForegroundLevels | null {
  const q = quantiles(data, [0.001, 0.999], keep);
  if (!q || !(q[1] > q[0])) return null;
  const [lo, hi] = q;
  const hist = new Float64Array(OTSU_BINS);
  const scale = OTSU_BINS / (hi - lo);
  const stride = otsuStride(data.length);
  for (let i = 0; i < data.length; i += stride) {
    const v = data[i];
    if (!Number.isFinite(v)) continue;
    if (keep && !keep(i)) continue;
    hist[Math.min(OTSU_BINS - 1, Math.max(0, Math.floor((v - lo) * scale)))]++;
  }
  return otsuFromHistogram(hist, lo, hi);
}

/**
 * Otsu's split of a histogram of OTSU_BINS bins over [lo, hi) (bin of v: ⌊(v − lo)·OTSU_BINS/(hi − lo)⌋, clamped),
 * as otsuLevels computes it. Null when it does not split.
 */
export function otsuFromHistogram(hist: Float64Array, lo: number, hi: number): ForegroundLevels | null {
  const bins = OTSU_BINS;
  const scale = bins / (hi - lo);
  let total = 0;
  let sumAll = 0;
  for (let b = 0; b < bins; b++) {
    total += hist[b];
    sumAll += b * hist[b];
  }
  let w0 = 0;
  let sum0 = 0;
  let best = -1;
  let bestBin = -1;
  for (let b = 0; b < bins - 1; b++) {
    w0 += hist[b];
    sum0 += b * hist[b];
    const w1 = total - w0;
    if (w0 === 0 || w1 === 0) continue;
    const m0 = sum0 / w0;
    const m1 = (sumAll - sum0) / w1;
    const between = w0 * w1 * (m0 - m1) * (m0 - m1);
    if (between > best) {
      best = between;
      bestBin = b;
    }
  }
  if (bestBin < 0) return null;
  let w = 0;
  let sum = 0;
  for (let b = 0; b <= bestBin; b++) {
    w += hist[b];
    sum += (b + 0.5) * hist[b];
  }
  const background = lo + sum / w / scale;
  const foreground = lo + (sumAll + 0.5 * total - sum) / (total - w) / scale;
  return { threshold: lo + (bestBin + 1) / scale, background, foreground };
}

export type Modality = 'ct' | 'pet' | 'mr';

export interface ModalityGuess {
  modality: Modality;
  /** Why, in words (recorded in result.json). */
  reason: string;
}

/**
 * What an image probably is, from its values and voxel size alone:
 * - 'ct': integer values (Hounsfield units) whose 1 % quantile is at or below −800 (air) and whose 99 % quantile
 *   is above 0 (tissue);
 * - 'pet': no negative values and coarse voxels (the smallest spacing ≥ 3 mm), 3D only;
 * - 'mr': anything else (MR, and the default for other images).
 */
export function guessModality(img: Image): ModalityGuess {
  const q = quantiles(img.data, [0, 0.01, 0.99]);
  let integral = true;
  const stride = integralStride(img.data.length);
  for (let i = 0; i < img.data.length && integral; i += stride) {
    const v = img.data[i];
    if (Number.isFinite(v) && v !== Math.round(v)) integral = false;
  }
  return modalityFrom(img, q, integral);
}

/**
 * guessModality's decision from its statistics: `q` = quantiles(img.data, [0, 0.01, 0.99]) and whether every finite
 * value at the integralStride is an integer.
 */
export function modalityFrom(img: Image, q: readonly number[] | null, integral: boolean): ModalityGuess {
  if (!q) return { modality: 'mr', reason: 'no finite value' };
  const [min, q01, q99] = q;
  if (integral && q01 <= -800 && q99 > 0) return { modality: 'ct', reason: `integer values, 1 % quantile ${q01} ≤ −800 (air in HU)` };
  const smallest = Math.min(...img.spacing);
  if (img.dimension === 3 && min >= 0 && smallest >= 3) return { modality: 'pet', reason: `no negative values, voxels ≥ ${smallest.toFixed(2)} mm` };
  return { modality: 'mr', reason: integral && q01 <= -800 ? 'values below −800 but no tissue' : 'not CT-like (no air at −1000) nor PET-like (coarse, non-negative)' };
}
