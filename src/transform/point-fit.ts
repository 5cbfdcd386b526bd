/**
 * Closed-form fixed → moving maps from corresponding points: pᵢ in the FIXED image (LPS mm) corresponds to qᵢ in
 * the MOVING image, and the fit T minimises Σ|T(pᵢ) − qᵢ|² (so moving(T(x)) ≈ fixed(x), as everywhere in coreg).
 *
 * - rigid: Kabsch — R = the proper rotation nearest to H = Σ q̃ᵢ·p̃ᵢᵀ (centred points), with the reflection guard
 *   of nearestRotation (a det −1 solution is flipped along the weakest singular direction).
 * - similarity: Umeyama — the same R and s = Σ q̃ᵢᵀ·R·p̃ᵢ / Σ|p̃ᵢ|².
 * - affine: linear least squares by Householder QR on the centred fixed points (no squared condition number).
 * - tps: the interpolating thin-plate spline (see tps.ts).
 * Linear results are coreg's ITK-parameterised transforms (Euler2D/3D, Similarity2D/3D, Affine) centred at the
 * fixed points' centroid. Also: the residuals of a fit, and iterative closest point for unpaired point sets.
 */
import { CoregError } from '../errors.js';
import { createTransform, type MatrixOffsetTransform } from './linear.js';
import { nearestRotation } from '../image/linalg.js';
import type { Transform } from './transform.js';
import { flattenPoints, pointRank, ThinPlateSplineTransform, type TpsKernel } from './tps.js';

export type LandmarkLinearKind = 'rigid' | 'similarity' | 'affine';
export type LandmarkKind = LandmarkLinearKind | 'tps';
export const LANDMARK_KINDS: readonly LandmarkKind[] = ['rigid', 'similarity', 'affine', 'tps'];

export interface LandmarkFitOptions {
  /** What errors about the fixed points name (a file or option). Default "fixed points". */
  fixedName?: string;
  /** What errors about the moving points name. Default "moving points". */
  movingName?: string;
  /** tps only: the kernel (default r²·log r in 2D, r in 3D). */
  kernel?: TpsKernel;
}

interface PointPairs {
  d: 2 | 3;
  n: number;
  p: Float64Array;
  q: Float64Array;
}

/** Dimension, finiteness and pairing checks shared by every fit; returns the points flattened. */
function readPairs(fixed: readonly ArrayLike<number>[], moving: readonly ArrayLike<number>[], fixedName: string, movingName: string): PointPairs {
  if (fixed.length === 0) throw new CoregError(fixedName, 'no points');
  if (moving.length === 0) throw new CoregError(movingName, 'no points');
  const d = fixed[0].length;
  if (d !== 2 && d !== 3) throw new CoregError(fixedName, `points must have 2 or 3 coordinates, got ${d}`);
  if (moving[0].length !== d) throw new CoregError(movingName, `holds ${moving[0].length}D points but ${fixedName} holds ${d}D points`);
  if (moving.length !== fixed.length) {
    throw new CoregError(movingName, `has ${moving.length} points but ${fixedName} has ${fixed.length}; landmarks must pair up one to one`);
  }
  return { d, n: fixed.length, p: flattenPoints(fixed, d, fixedName), q: flattenPoints(moving, d, movingName) };
}

/** The fewest pairs that determine a fit: d for rigid/similarity (2 in 2D, 3 in 3D), d+1 for affine and tps. */
export function minimumLandmarks(kind: LandmarkKind, d: 2 | 3): number {
  return kind === 'rigid' || kind === 'similarity' ? d : d + 1;
}

/** Throws when the fixed (and for rigid/similarity the moving) points cannot determine a `kind` map. */
function checkDetermined(kind: LandmarkKind, pairs: PointPairs, fixedName: string, movingName: string): void {
  const { d, n } = pairs;
  const min = minimumLandmarks(kind, d);
  if (n < min) throw new CoregError(fixedName, `a ${kind} fit needs at least ${min} point pairs in ${d}D, got ${n}`);
  const rank = pointRank(pairs.p, n, d);
  if (kind === 'affine' || kind === 'tps') {
    if (rank < d) throw new CoregError(fixedName, `points are ${rank === 0 ? 'all the same point' : d === 2 || rank === 1 ? 'collinear' : 'coplanar'}: ${kind === 'affine' ? 'an affine' : 'a tps'} fit needs them to span the ${d}D space`);
    return;
  }
  // A rotation is fixed once the points span d−1 directions (a line in 2D, a plane in 3D), in both images.
  const describe = (r: number): string => (r === 0 ? `points all coincide: a ${kind} fit needs points that spread out` : 'points are collinear: the rotation about their line is undetermined');
  if (rank < d - 1) throw new CoregError(fixedName, describe(rank));
  const movingRank = pointRank(pairs.q, n, d);
  if (movingRank < d - 1) throw new CoregError(movingName, describe(movingRank));
}

function centroidOf(flat: Float64Array, n: number, d: number): Float64Array {
  const c = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let k = 0; k < d; k++) c[k] += flat[i * d + k];
  for (let k = 0; k < d; k++) c[k] /= n;
  return c;
}

/** H = Σ (qᵢ − q̄)(pᵢ − p̄)ᵀ, d×d row-major (moving × fixed). */
function crossCovariance(p: Float64Array, q: Float64Array, n: number, d: number, pc: Float64Array, qc: Float64Array): Float64Array {
  const h = new Float64Array(d * d);
  for (let i = 0; i < n; i++) {
    for (let r = 0; r < d; r++) {
      const a = q[i * d + r] - qc[r];
      for (let c = 0; c < d; c++) h[r * d + c] += a * (p[i * d + c] - pc[c]);
    }
  }
  return h;
}

/**
 * Least-squares X (d×d) of A·X ≈ B with A, B n×d row-major (copies are made), by Householder QR.
 * The caller guarantees A has full column rank.
 */
function leastSquares(aIn: Float64Array, bIn: Float64Array, n: number, d: number): Float64Array {
  const a = Float64Array.from(aIn);
  const b = Float64Array.from(bIn);
  const v = new Float64Array(n);
  const rdiag = new Float64Array(d);
  for (let k = 0; k < d; k++) {
    let norm = 0;
    for (let i = k; i < n; i++) norm += a[i * d + k] * a[i * d + k];
    norm = Math.sqrt(norm);
    const alpha = a[k * d + k] > 0 ? -norm : norm;
    let vv = 0;
    for (let i = k; i < n; i++) {
      v[i] = a[i * d + k] - (i === k ? alpha : 0);
      vv += v[i] * v[i];
    }
    rdiag[k] = alpha;
    if (vv === 0) continue;
    // Reflect the remaining columns of A and every column of B: x ← x − 2·v·(vᵀx)/(vᵀv).
    for (let j = k + 1; j < d; j++) {
      let s = 0;
      for (let i = k; i < n; i++) s += v[i] * a[i * d + j];
      const f = (2 * s) / vv;
      for (let i = k; i < n; i++) a[i * d + j] -= f * v[i];
    }
    for (let j = 0; j < d; j++) {
      let s = 0;
      for (let i = k; i < n; i++) s += v[i] * b[i * d + j];
      const f = (2 * s) / vv;
      for (let i = k; i < n; i++) b[i * d + j] -= f * v[i];
    }
  }
  const x = new Float64Array(d * d);
  for (let j = 0; j < d; j++) {
    for (let r = d - 1; r >= 0; r--) {
      let s = b[r * d + j];
      for (let c = r + 1; c < d; c++) s -= a[r * d + c] * x[c * d + j];
      x[r * d + j] = s / rdiag[r];
    }
  }
  return x;
}

/**
 * The fitted map x ↦ M·x + o of `kind` from n pairs of flat d-vectors p (fixed) and q (moving), no checks (ICP and
 * RANSAC call this with whatever matches they have; degenerate point sets give non-finite or arbitrary maps).
 */
export function fitLinearMap(kind: LandmarkLinearKind, p: Float64Array, q: Float64Array, n: number, d: number): { matrix: Float64Array; offset: Float64Array; center: Float64Array } {
  const pc = centroidOf(p, n, d);
  const qc = centroidOf(q, n, d);
  let matrix: Float64Array;
  if (kind === 'affine') {
    const pt = new Float64Array(n * d);
    const qt = new Float64Array(n * d);
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < d; k++) {
        pt[i * d + k] = p[i * d + k] - pc[k];
        qt[i * d + k] = q[i * d + k] - qc[k];
      }
    }
    // p̃ᵢᵀ·X ≈ q̃ᵢᵀ ⇒ M = Xᵀ.
    const x = leastSquares(pt, qt, n, d);
    matrix = new Float64Array(d * d);
    for (let r = 0; r < d; r++) for (let c = 0; c < d; c++) matrix[r * d + c] = x[c * d + r];
  } else {
    const h = crossCovariance(p, q, n, d, pc, qc);
    matrix = nearestRotation(h, d);
    if (kind === 'similarity') {
      let num = 0;
      for (let i = 0; i < d * d; i++) num += matrix[i] * h[i];
      let den = 0;
      for (let i = 0; i < n; i++) for (let k = 0; k < d; k++) den += (p[i * d + k] - pc[k]) ** 2;
      const s = num / den;
      for (let i = 0; i < d * d; i++) matrix[i] *= s;
    }
  }
  const offset = new Float64Array(d);
  for (let r = 0; r < d; r++) {
    let s = qc[r];
    for (let c = 0; c < d; c++) s -= matrix[r * d + c] * pc[c];
    offset[r] = s;
  }
  return { matrix, offset, center: pc };
}

function toTransform(kind: LandmarkLinearKind, d: 2 | 3, map: { matrix: Float64Array; offset: Float64Array; center: Float64Array }): MatrixOffsetTransform {
  const t = createTransform(kind, d);
  t.setCenter(map.center);
  t.fitMapping(map.matrix, map.offset);
  return t;
}

/**
 * The rigid (Euler2D/Euler3D), similarity (Similarity2D/3D) or affine transform mapping fixed points onto
 * moving points in the least-squares sense, centred at the fixed points' centroid.
 */
export function fitLinearLandmarks(kind: LandmarkLinearKind, fixed: readonly ArrayLike<number>[], moving: readonly ArrayLike<number>[], opts: LandmarkFitOptions = {}): MatrixOffsetTransform {
  if (kind !== 'rigid' && kind !== 'similarity' && kind !== 'affine') throw new CoregError('--transform', `unknown landmark fit "${String(kind)}" (expected rigid, similarity or affine)`);
  const fixedName = opts.fixedName ?? 'fixed points';
  const movingName = opts.movingName ?? 'moving points';
  const pairs = readPairs(fixed, moving, fixedName, movingName);
  checkDetermined(kind, pairs, fixedName, movingName);
  return toTransform(kind, pairs.d, fitLinearMap(kind, pairs.p, pairs.q, pairs.n, pairs.d));
}

/** Kabsch: the least-squares rigid fixed → moving map (a proper rotation, never a reflection). */
export function fitRigid(fixed: readonly ArrayLike<number>[], moving: readonly ArrayLike<number>[], opts?: LandmarkFitOptions): MatrixOffsetTransform {
  return fitLinearLandmarks('rigid', fixed, moving, opts);
}

/** Umeyama: the least-squares rotation + isotropic scale + translation. */
export function fitSimilarity(fixed: readonly ArrayLike<number>[], moving: readonly ArrayLike<number>[], opts?: LandmarkFitOptions): MatrixOffsetTransform {
  return fitLinearLandmarks('similarity', fixed, moving, opts);
}

/** The least-squares affine map. */
export function fitAffine(fixed: readonly ArrayLike<number>[], moving: readonly ArrayLike<number>[], opts?: LandmarkFitOptions): MatrixOffsetTransform {
  return fitLinearLandmarks('affine', fixed, moving, opts);
}

/** The thin-plate spline through every pair: T(pᵢ) = qᵢ exactly. */
export function fitThinPlateSpline(fixed: readonly ArrayLike<number>[], moving: readonly ArrayLike<number>[], opts: LandmarkFitOptions = {}): ThinPlateSplineTransform {
  const fixedName = opts.fixedName ?? 'fixed points';
  const movingName = opts.movingName ?? 'moving points';
  const pairs = readPairs(fixed, moving, fixedName, movingName);
  checkDetermined('tps', pairs, fixedName, movingName);
  return new ThinPlateSplineTransform(fixed, moving, { kernel: opts.kernel, fixedName, movingName });
}

/** Any landmark fit by name. */
export function fitLandmarks(kind: LandmarkKind, fixed: readonly ArrayLike<number>[], moving: readonly ArrayLike<number>[], opts: LandmarkFitOptions = {}): Transform {
  return kind === 'tps' ? fitThinPlateSpline(fixed, moving, opts) : fitLinearLandmarks(kind, fixed, moving, opts);
}

export interface LandmarkResiduals {
  /** |T(pᵢ) − qᵢ| in mm, one per pair. */
  distances: number[];
  mean: number;
  max: number;
  rms: number;
}

/** How far T(pᵢ) lands from qᵢ (mm). */
export function landmarkResiduals(t: Transform, fixed: readonly ArrayLike<number>[], moving: readonly ArrayLike<number>[]): LandmarkResiduals {
  if (fixed.length !== moving.length) throw new CoregError('moving points', `has ${moving.length} points but the fixed points are ${fixed.length}`);
  const d = t.dimension;
  const out = new Float64Array(d);
  const distances: number[] = [];
  let sum = 0;
  let sum2 = 0;
  let max = 0;
  for (let i = 0; i < fixed.length; i++) {
    t.transformPoint(fixed[i], out);
    let e2 = 0;
    for (let k = 0; k < d; k++) e2 += (out[k] - moving[i][k]) ** 2;
    const e = Math.sqrt(e2);
    distances.push(e);
    sum += e;
    sum2 += e2;
    if (e > max) max = e;
  }
  const n = Math.max(fixed.length, 1);
  return { distances, mean: sum / n, max, rms: Math.sqrt(sum2 / n) };
}

export interface IcpOptions {
  /** Default 100. */
  maxIterations?: number;
  /** Stop when the mean squared distance improves by less than this (mm²). Default 1e-12. */
  tolerance?: number;
  /** Start by matching the centroids (default) or from the identity. */
  initialization?: 'centroids' | 'identity';
  fixedName?: string;
  movingName?: string;
}

export interface IcpResult {
  transform: MatrixOffsetTransform;
  iterations: number;
  /** Root mean square distance from T(pᵢ) to its closest moving point (mm). */
  rms: number;
  converged: boolean;
  /** For each fixed point, the index of its closest moving point under the final transform. */
  matches: Int32Array;
}

/** Index of the closest of the m points `q` to (y0, y1, y2) and the squared distance (brute force). */
function closest(q: Float64Array, m: number, d: number, y: Float64Array): number {
  let best = 0;
  let bestD2 = Infinity;
  for (let j = 0; j < m; j++) {
    let d2 = 0;
    for (let k = 0; k < d; k++) {
      const t = q[j * d + k] - y[k];
      d2 += t * t;
    }
    if (d2 < bestD2) {
      bestD2 = d2;
      best = j;
    }
  }
  return best;
}

/**
 * Iterative closest point for UNPAIRED point sets: alternately match every fixed point to the moving point
 * closest to its current image, and refit a `kind` map to those matches, until the matches stop changing or the
 * mean squared distance stops improving. A local method: the start (centroids or identity) must be near enough.
 * Matching is brute force, O(fixed × moving) per iteration.
 */
export function iterativeClosestPoint(fixedPts: readonly ArrayLike<number>[], movingPts: readonly ArrayLike<number>[], kind: LandmarkLinearKind, opts: IcpOptions = {}): IcpResult {
  const fixedName = opts.fixedName ?? 'fixed points';
  const movingName = opts.movingName ?? 'moving points';
  if (fixedPts.length === 0) throw new CoregError(fixedName, 'no points');
  if (movingPts.length === 0) throw new CoregError(movingName, 'no points');
  const d = fixedPts[0].length;
  if (d !== 2 && d !== 3) throw new CoregError(fixedName, `points must have 2 or 3 coordinates, got ${d}`);
  if (movingPts[0].length !== d) throw new CoregError(movingName, `holds ${movingPts[0].length}D points but ${fixedName} holds ${d}D points`);
  const n = fixedPts.length;
  const m = movingPts.length;
  const p = flattenPoints(fixedPts, d, fixedName);
  const q = flattenPoints(movingPts, d, movingName);
  const min = minimumLandmarks(kind, d);
  if (n < min) throw new CoregError(fixedName, `${kind} ICP needs at least ${min} points in ${d}D, got ${n}`);
  const rank = pointRank(p, n, d);
  if (rank < (kind === 'affine' ? d : d - 1)) throw new CoregError(fixedName, `points are too degenerate (${rank === 0 ? 'coincident' : rank === 1 ? 'collinear' : 'coplanar'}) for a ${kind} fit`);
  const maxIterations = opts.maxIterations ?? 100;
  const tolerance = opts.tolerance ?? 1e-12;

  let matrix: Float64Array = new Float64Array(d * d);
  for (let k = 0; k < d; k++) matrix[k * d + k] = 1;
  let offset: Float64Array = new Float64Array(d);
  if ((opts.initialization ?? 'centroids') === 'centroids') {
    const pc = centroidOf(p, n, d);
    const qc = centroidOf(q, m, d);
    for (let k = 0; k < d; k++) offset[k] = qc[k] - pc[k];
  }
  const matched = new Float64Array(n * d);
  const matches = new Int32Array(n).fill(-1);
  const y = new Float64Array(d);
  let mse = Infinity;
  let iterations = 0;
  let converged = false;
  const match = (): boolean => {
    let changed = false;
    let sum = 0;
    for (let i = 0; i < n; i++) {
      for (let r = 0; r < d; r++) {
        let s = offset[r];
        for (let c = 0; c < d; c++) s += matrix[r * d + c] * p[i * d + c];
        y[r] = s;
      }
      const j = closest(q, m, d, y);
      if (j !== matches[i]) changed = true;
      matches[i] = j;
      for (let k = 0; k < d; k++) {
        const v = q[j * d + k];
        matched[i * d + k] = v;
        sum += (v - y[k]) ** 2;
      }
    }
    mse = sum / n;
    return changed;
  };
  match();
  while (iterations < maxIterations) {
    const fit = fitLinearMap(kind, p, matched, n, d);
    matrix = fit.matrix;
    offset = fit.offset;
    iterations++;
    const previousMse = mse;
    const changed = match();
    if (!changed || previousMse - mse <= tolerance) {
      converged = true;
      break;
    }
  }
  const transform = createTransform(kind, d);
  transform.setCenter(centroidOf(p, n, d));
  transform.fitMapping(matrix, offset);
  return { transform, iterations, rms: Math.sqrt(mse), converged, matches };
}
