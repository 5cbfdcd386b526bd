// Non-rigid ground truths and errors: the 2D ITK B-spline warp (BSplineWarping1's set-up) and the 3D maps
// T(x) = A·(x + u(x)) + b with Gaussian bumps u (d2 and the random nr_<seed> cases), all fixed → moving in LPS mm;
// TRE of any point map against them.
import { createBSplineTransformFromDomain } from '../../src/transform/bspline.js';
import type { Transform } from '../../src/transform/transform.js';
import { type Affine, affineFromRows, type Tre } from './affine.js';
import { readBSplineCoefficientsText } from './bspline-coefficients.js';

/** out = T(p) for a d-vector p; `out` never aliases `p`. */
export type PointMap = (p: Float64Array, out: Float64Array) => void;

/**
 * The forward B-spline of ITK's BSplineWarping1 example: a cubic BSplineTransform whose transform domain is the
 * fixed image (origin 0, physical size (size − 1)·spacing = 220×256 for Border20, mesh 4×4), its 7×7
 * coefficients read from BSplineDisplacements1.txt.
 */
export function itkBSpline2d(coefficientsText: string, fileName: string, physicalDimensions: [number, number] = [220, 256]): PointMap {
  const { parameters, gridSize } = readBSplineCoefficientsText(coefficientsText, 2, fileName);
  const t = createBSplineTransformFromDomain({ dimension: 2, origin: [0, 0], physicalDimensions, meshSize: [gridSize[0] - 3, gridSize[1] - 3] }, fileName);
  t.setParameters(parameters);
  return (p, out) => t.transformPoint(p, out);
}

/** One Gaussian bump of d2's non-rigid part: a·exp(−|x − c|² / 2σ²). */
export interface GaussianBump {
  centre: [number, number, number];
  amplitude: [number, number, number];
  sigma: number;
}

/**
 * Bumps stored as [[centre, amplitude, sigma], …]: make_cases.py's "bumps_3d" in cases_gt.json (the default
 * `what`) and make-nonrigid-cases.py's "bumps" in nr_<seed>.json.
 */
export function bumpsFromJson(raw: unknown, what = 'cases_gt.json: bumps_3d'): GaussianBump[] {
  if (!Array.isArray(raw) || raw.length === 0) throw new Error(`${what} is missing or empty`);
  return raw.map((b: unknown, i) => {
    const ok = Array.isArray(b) && b.length === 3 && Array.isArray(b[0]) && b[0].length === 3 && Array.isArray(b[1]) && b[1].length === 3 && typeof b[2] === 'number' && b[2] > 0;
    if (!ok) throw new Error(`${what}[${i}] is not [centre, amplitude, sigma]`);
    const [c, a, s] = b as [number[], number[], number];
    return { centre: [c[0], c[1], c[2]], amplitude: [a[0], a[1], a[2]], sigma: s };
  });
}

/** d2's ground truth T(x) = A·(x + u(x)) + b, u = the sum of the bumps (make_cases.py's t_gt with nonrigid). */
export function affineWithBumps(affine: Affine, bumps: GaussianBump[]): PointMap {
  if (affine.dimension !== 3) throw new Error('the bump ground truth is 3D');
  const { A, b } = affine;
  const n = bumps.length;
  const c = new Float64Array(n * 3);
  const a = new Float64Array(n * 3);
  const inv2s2 = new Float64Array(n);
  bumps.forEach((k, i) => {
    c.set(k.centre, i * 3);
    a.set(k.amplitude, i * 3);
    inv2s2[i] = 1 / (2 * k.sigma * k.sigma);
  });
  return (p, out) => {
    let y0 = p[0];
    let y1 = p[1];
    let y2 = p[2];
    for (let i = 0; i < n; i++) {
      const d0 = p[0] - c[i * 3];
      const d1 = p[1] - c[i * 3 + 1];
      const d2 = p[2] - c[i * 3 + 2];
      const w = Math.exp(-(d0 * d0 + d1 * d1 + d2 * d2) * inv2s2[i]);
      y0 += w * a[i * 3];
      y1 += w * a[i * 3 + 1];
      y2 += w * a[i * 3 + 2];
    }
    out[0] = A[0] * y0 + A[1] * y1 + A[2] * y2 + b[0];
    out[1] = A[3] * y0 + A[4] * y1 + A[5] * y2 + b[1];
    out[2] = A[6] * y0 + A[7] * y1 + A[8] * y2 + b[2];
  };
}

/** What make-nonrigid-cases.py records about one random case (nr_<seed>.json), as the bench uses it. */
export interface RandomNonrigidTruth {
  seed: number;
  /** T(x) = A·(x + u(x)) + b, fixed → moving, LPS mm. */
  gt: PointMap;
  bumps: GaussianBump[];
  /** Mean / max |u| over the brain (mm). */
  nonrigidMean: number;
  nonrigidMax: number;
  /** Largest |x + u(x) − A⁻¹(y − b)| of the generator's per-voxel inverse (mm). */
  inverseResidual: number;
  noiseSigma: number;
}

const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** Parses nr_<seed>.json; `file` names it in errors. */
export function randomNonrigidTruth(text: string, file: string): RandomNonrigidTruth {
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`${file}: not JSON (${(e as Error).message})`, { cause: e });
  }
  const A = j.A;
  const b = j.b;
  const rows = Array.isArray(A) && A.length === 3 && A.every((r: unknown) => Array.isArray(r) && r.length === 3 && r.every(finite));
  if (!rows || !Array.isArray(b) || b.length !== 3 || !b.every(finite)) throw new Error(`${file}: "A" (3×3) or "b" (3) is missing or malformed`);
  const nr = j.nonrigid_over_brain_mm as { mean?: unknown; max?: unknown } | undefined;
  if (!finite(j.seed) || !finite(nr?.mean) || !finite(nr?.max) || !finite(j.inverse_residual_mm) || !finite(j.noise_sigma)) {
    throw new Error(`${file}: "seed", "nonrigid_over_brain_mm", "inverse_residual_mm" or "noise_sigma" is missing`);
  }
  const bumps = bumpsFromJson(j.bumps, `${file}: bumps`);
  return {
    seed: j.seed,
    gt: affineWithBumps(affineFromRows(A as number[][], b as number[]), bumps),
    bumps,
    nonrigidMean: nr.mean as number,
    nonrigidMax: nr.max as number,
    inverseResidual: j.inverse_residual_mm,
    noiseSigma: j.noise_sigma,
  };
}

/** A transform chain applied first-first (as result.json lists it): T(x) = Tn(…T1(x)). */
export function chainMap(chain: readonly Transform[]): PointMap {
  if (chain.length === 0) throw new Error('an empty transform chain');
  const d = chain[0].dimension;
  const a = new Float64Array(d);
  const b = new Float64Array(d);
  return (p, out) => {
    let src: Float64Array = p;
    for (let i = 0; i < chain.length; i++) {
      const dst = i === chain.length - 1 ? out : i % 2 === 0 ? a : b;
      chain[i].transformPoint(src, dst);
      src = dst;
    }
  };
}

/** Mean and max of |est(x) − gt(x)| over interleaved d-vectors `points`. */
export function mapTre(points: Float64Array, dimension: 2 | 3, est: PointMap, gt: PointMap): Tre {
  const d = dimension;
  const n = points.length / d;
  if (n === 0) throw new Error('no foreground points to measure the error on');
  const p = new Float64Array(d);
  const q = new Float64Array(d);
  const g = new Float64Array(d);
  let sum = 0;
  let max = 0;
  for (let i = 0; i < n; i++) {
    for (let r = 0; r < d; r++) p[r] = points[i * d + r];
    est(p, q);
    gt(p, g);
    let e2 = 0;
    for (let r = 0; r < d; r++) e2 += (q[r] - g[r]) ** 2;
    const e = Math.sqrt(e2);
    sum += e;
    if (e > max) max = e;
  }
  return { mean: sum / n, max, points: n };
}

/** Mean and max |gt(x) − x|: how far the ground truth moves the points (the error of doing nothing). */
export function displacementStats(points: Float64Array, dimension: 2 | 3, gt: PointMap): Tre {
  return mapTre(points, dimension, (p, out) => out.set(p), gt);
}

/** What a coreg result must reach: an absolute mean TRE, peers' mean TRE + margin, no folding, a memory cap. */
export interface NonrigidRule {
  /** Mean TRE (mm) at most this, when set. */
  target?: number;
  /** Peers (name, mean TRE) it must not be worse than by more than `margin`. */
  peers: { name: string; mean: number }[];
  margin: number;
  /** Folded voxels (det ∂T/∂x ≤ 0) allowed, when checked. */
  maxFolded?: number;
  /** Peak RSS (MB) at most this, when set and measured. */
  maxRssMB?: number;
}

/** The pass rule of one coreg result; null when coreg did not run (nothing to judge). */
export function judgeNonrigid(r: { tre?: Tre; folded?: number; peakRssMB?: number }, rule: NonrigidRule, failed: boolean): { pass: boolean | null; verdict: string } {
  if (!r.tre) return failed ? { pass: false, verdict: '**FAIL** (coreg error)' } : { pass: null, verdict: 'not run' };
  const misses: string[] = [];
  const mean = r.tre.mean;
  if (rule.target !== undefined && !(mean <= rule.target)) misses.push(`> ${rule.target} mm`);
  for (const p of rule.peers) if (!(mean <= p.mean + rule.margin)) misses.push(`> ${p.name} + ${rule.margin} mm`);
  if (rule.maxFolded !== undefined && r.folded !== undefined && r.folded > rule.maxFolded) misses.push(`${r.folded} folded voxels`);
  if (rule.maxRssMB !== undefined && r.peakRssMB !== undefined && r.peakRssMB > rule.maxRssMB) misses.push(`peak RSS > ${rule.maxRssMB} MB`);
  return misses.length ? { pass: false, verdict: `**FAIL** (${misses.join('; ')})` } : { pass: true, verdict: 'pass' };
}
