/**
 * Robust fit of a rigid, similarity or affine fixed → moving map to putative point matches (pᵢ in the fixed image,
 * qᵢ in the moving image, LPS mm), most of which may be wrong: RANSAC with an MSAC score and a local refit.
 *
 * - Minimal samples: d pairs for rigid/similarity, d + 1 for affine, drawn by a seeded PRNG (deterministic).
 * - Degenerate samples are skipped: points closer than `minSeparation`, collinear (3D rigid/similarity) or not
 *   spanning the space (affine), in either image. Rigid samples must also keep their pairwise distances (within the
 *   pairs' thresholds), similarity samples their distance ratios: wrong samples are rejected before any fit.
 * - Hypothesis: the closed-form least-squares fit (transform/point-fit.ts) of the sample; similarity/affine maps
 *   whose singular values leave `scaleLimits`, or affine maps more anisotropic than `maxAnisotropy` (or
 *   reflecting), are rejected.
 * - Score (MSAC): Σ min(eᵢ²/τᵢ², 1) with eᵢ = |T(pᵢ) − qᵢ| and τᵢ the pair's inlier threshold (mm); lower is
 *   better. Inliers: eᵢ ≤ τᵢ.
 * - Each new best hypothesis is refitted by least squares on its inliers (up to 10 rounds while the inlier set
 *   changes: "locally optimised" RANSAC); the iteration count adapts to the best inlier ratio w:
 *   N = log(1 − confidence) / log(1 − w^s), between minIterations and maxIterations.
 * - Result: the final least-squares map on the inliers, the inliers and their RMS residual.
 */
import { fitLinearMap } from '../transform/point-fit.js';
import { determinant, svd } from '../image/linalg.js';
import { createRandom } from '../random.js';

export type RobustKind = 'rigid' | 'similarity' | 'affine';

export interface RansacOptions {
  /** Inlier threshold in mm: one for all pairs or one per pair. */
  thresholds: number | Float64Array;
  /** Seed of the sample draws (default 1). */
  seed?: number;
  /** Probability of having drawn one all-inlier sample when stopping (default 0.999). */
  confidence?: number;
  /** Default 200. */
  minIterations?: number;
  /** Default 20 000. */
  maxIterations?: number;
  /** Smallest distance (mm) between the points of a sample (default 4 × the median threshold). */
  minSeparation?: number;
  /** Allowed range of the map's singular values (scale) for similarity and affine (default [0.5, 2]). */
  scaleLimits?: [number, number];
  /** Affine: largest ratio of the largest to the smallest singular value (default 2). */
  maxAnisotropy?: number;
}

export interface LinearMap {
  /** d×d row-major. */
  matrix: Float64Array;
  offset: Float64Array;
  /** Centre of the fit (the inliers' fixed centroid). */
  center: Float64Array;
}

export interface RansacResult {
  /** Null when no hypothesis was found (too few pairs, or every sample degenerate). */
  map: LinearMap | null;
  /** 1 for an inlier pair. */
  inliers: Uint8Array;
  inlierCount: number;
  /** RMS of |T(pᵢ) − qᵢ| over the inliers (mm). */
  rmsMm: number;
  /** Residual |T(pᵢ) − qᵢ| of every pair (mm). */
  residuals: Float64Array;
  iterations: number;
}

/** The fewest pairs that determine a map of `kind` in d dimensions. */
export function minimalSampleSize(kind: RobustKind, d: number): number {
  return kind === 'affine' ? d + 1 : d;
}

function dist(a: Float64Array, i: number, j: number, d: number): number {
  let s = 0;
  for (let k = 0; k < d; k++) s += (a[i * d + k] - a[j * d + k]) ** 2;
  return Math.sqrt(s);
}

/** True when the sample's points (indices idx into flat a) are spread enough to determine the map. */
function spread(a: Float64Array, idx: Int32Array, s: number, d: number, kind: RobustKind, minSep: number): boolean {
  for (let x = 0; x < s; x++) for (let y = x + 1; y < s; y++) if (dist(a, idx[x], idx[y], d) < minSep) return false;
  const needed = kind === 'affine' ? d : d - 1;
  if (needed < 2) return true;
  // Edge vectors from the first point: their wedge must not vanish (area ≥ minSep²/2, volume ≥ minSep³/6).
  const e = new Float64Array(9);
  for (let r = 1; r < s; r++) for (let k = 0; k < d; k++) e[(r - 1) * 3 + k] = a[idx[r] * d + k] - a[idx[0] * d + k];
  if (d === 2) {
    const area = Math.abs(e[0] * e[4] - e[1] * e[3]) / 2;
    return area >= (minSep * minSep) / 4;
  }
  const cx = e[1] * e[5] - e[2] * e[4];
  const cy = e[2] * e[3] - e[0] * e[5];
  const cz = e[0] * e[4] - e[1] * e[3];
  if (needed === 2) return Math.hypot(cx, cy, cz) / 2 >= (minSep * minSep) / 4;
  const vol = Math.abs(cx * e[6] + cy * e[7] + cz * e[8]) / 6;
  return vol >= (minSep * minSep * minSep) / 12;
}

/** Checks the map's scale and shape limits. */
function plausible(kind: RobustKind, m: Float64Array, d: number, limits: [number, number], maxAnisotropy: number): boolean {
  for (let i = 0; i < d * d; i++) if (!Number.isFinite(m[i])) return false;
  if (kind === 'rigid') return true;
  if (kind === 'similarity') {
    const s = Math.pow(Math.abs(determinant(m, d)), 1 / d);
    return s >= limits[0] && s <= limits[1];
  }
  if (determinant(m, d) <= 0) return false;
  const sv = svd(m, d).s;
  let lo = Infinity;
  let hi = 0;
  for (let k = 0; k < d; k++) {
    lo = Math.min(lo, sv[k]);
    hi = Math.max(hi, sv[k]);
  }
  return lo >= limits[0] && hi <= limits[1] && hi <= maxAnisotropy * lo;
}

interface Scored {
  cost: number;
  count: number;
}

function score(map: LinearMap, p: Float64Array, q: Float64Array, n: number, d: number, tau2: Float64Array, inliers: Uint8Array | null, residuals: Float64Array | null): Scored {
  const m = map.matrix;
  const o = map.offset;
  let cost = 0;
  let count = 0;
  for (let i = 0; i < n; i++) {
    let e2 = 0;
    for (let r = 0; r < d; r++) {
      let y = o[r];
      for (let c = 0; c < d; c++) y += m[r * d + c] * p[i * d + c];
      e2 += (y - q[i * d + r]) ** 2;
    }
    const rel = e2 / tau2[i];
    const inl = rel <= 1;
    if (inl) count++;
    cost += inl ? rel : 1;
    if (inliers) inliers[i] = inl ? 1 : 0;
    if (residuals) residuals[i] = Math.sqrt(e2);
  }
  return { cost, count };
}

function gather(a: Float64Array, mask: Uint8Array, n: number, d: number, count: number): Float64Array {
  const out = new Float64Array(count * d);
  let w = 0;
  for (let i = 0; i < n; i++) if (mask[i]) for (let k = 0; k < d; k++) out[w++] = a[i * d + k];
  return out;
}

/**
 * RANSAC fit of `kind` to n pairs (flat p, q of n×d values; see the file's header). Returns the best map refitted on
 * its inliers, or map null when no sample gave a hypothesis.
 */
export function ransacFit(kind: RobustKind, p: Float64Array, q: Float64Array, d: 2 | 3, options: RansacOptions): RansacResult {
  const n = Math.floor(p.length / d);
  if (q.length !== p.length) throw new RangeError(`ransacFit: ${p.length / d} fixed points but ${q.length / d} moving points`);
  const s = minimalSampleSize(kind, d);
  const tau2 = new Float64Array(n);
  const tau = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const t = typeof options.thresholds === 'number' ? options.thresholds : options.thresholds[i];
    if (!(t > 0)) throw new RangeError('ransacFit: inlier thresholds must be > 0');
    tau[i] = t;
    tau2[i] = t * t;
  }
  const empty: RansacResult = { map: null, inliers: new Uint8Array(n), inlierCount: 0, rmsMm: NaN, residuals: new Float64Array(n).fill(NaN), iterations: 0 };
  if (n < s) return empty;
  const sorted = Float64Array.from(tau).sort();
  const minSep = options.minSeparation ?? 4 * sorted[Math.floor(n / 2)];
  const limits = options.scaleLimits ?? [0.5, 2];
  const maxAniso = options.maxAnisotropy ?? 2;
  const confidence = options.confidence ?? 0.999;
  const minIt = options.minIterations ?? 200;
  const maxIt = options.maxIterations ?? 20000;
  const random = createRandom(options.seed ?? 1);

  const idx = new Int32Array(s);
  const ps = new Float64Array(s * d);
  const qs = new Float64Array(s * d);
  const work = new Uint8Array(n);
  let best: { map: LinearMap; cost: number; count: number } | null = null;
  let needed = maxIt;
  let it = 0;
  // Each draw counts, degenerate or not, so that a hopeless set of pairs ends after maxIterations draws.
  for (; it < Math.max(minIt, Math.min(needed, maxIt)) && it < maxIt; it++) {
    for (let x = 0; x < s; x++) {
      let v: number;
      let dup: boolean;
      do {
        v = Math.floor(random() * n);
        dup = false;
        for (let y = 0; y < x; y++) if (idx[y] === v) dup = true;
      } while (dup);
      idx[x] = v;
    }
    if (!spread(p, idx, s, d, kind, minSep) || !spread(q, idx, s, d, kind, minSep * (kind === 'rigid' ? 1 : limits[0]))) continue;
    if (kind !== 'affine') {
      // Distances (rigid) or their ratios (similarity) must agree between the two images.
      let ok = true;
      let ratio = 0;
      for (let x = 0; x < s && ok; x++) {
        for (let y = x + 1; y < s && ok; y++) {
          const a = dist(p, idx[x], idx[y], d);
          const b = dist(q, idx[x], idx[y], d);
          const slack = 2 * (tau[idx[x]] + tau[idx[y]]);
          if (kind === 'rigid') ok = Math.abs(a - b) <= slack;
          else if (ratio === 0) {
            ratio = b / a;
            ok = ratio >= limits[0] && ratio <= limits[1];
          } else ok = Math.abs(b - ratio * a) <= slack * Math.max(1, ratio);
        }
      }
      if (!ok) continue;
    }
    for (let x = 0; x < s; x++) {
      for (let k = 0; k < d; k++) {
        ps[x * d + k] = p[idx[x] * d + k];
        qs[x * d + k] = q[idx[x] * d + k];
      }
    }
    const map = fitLinearMap(kind, ps, qs, s, d);
    if (!plausible(kind, map.matrix, d, limits, maxAniso)) continue;
    const sc = score(map, p, q, n, d, tau2, null, null);
    if (best && sc.cost >= best.cost) continue;
    let current = { map, cost: sc.cost, count: sc.count };
    // Local optimisation: refit on the inliers while that lowers the cost.
    for (let round = 0; round < 10; round++) {
      const r = score(current.map, p, q, n, d, tau2, work, null);
      if (r.count < s) break;
      const refit = fitLinearMap(kind, gather(p, work, n, d, r.count), gather(q, work, n, d, r.count), r.count, d);
      if (!plausible(kind, refit.matrix, d, limits, maxAniso)) break;
      const r2 = score(refit, p, q, n, d, tau2, null, null);
      if (r2.cost >= current.cost - 1e-12) break;
      current = { map: refit, cost: r2.cost, count: r2.count };
    }
    best = current;
    const w = best.count / n;
    const pw = Math.pow(w, s);
    needed = pw >= 1 ? 0 : pw <= 0 ? maxIt : Math.ceil(Math.log(1 - confidence) / Math.log(1 - pw));
  }
  if (!best) return { ...empty, iterations: it };
  const inliers = new Uint8Array(n);
  const residuals = new Float64Array(n);
  const final = score(best.map, p, q, n, d, tau2, inliers, residuals);
  let sum = 0;
  for (let i = 0; i < n; i++) if (inliers[i]) sum += residuals[i] ** 2;
  return { map: best.map, inliers, inlierCount: final.count, rmsMm: final.count > 0 ? Math.sqrt(sum / final.count) : NaN, residuals, iterations: it };
}
