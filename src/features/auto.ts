/**
 * Automated landmarks: detect keypoints in both images, describe them, match the descriptors (mutual nearest
 * neighbours + ratio test), fit a rigid / similarity / affine fixed → moving map robustly (RANSAC), then refine.
 *
 * 1. Keypoints (keypoints.ts) in each image, inside its mask when given: for 'gradient' with intensities by range,
 *    for 'mind' with intensities by rank (scale-space option intensity 'rank'), so that CT soft tissue gives
 *    keypoints as MR does; both images on one working voxel size (the larger of their defaults).
 * 2. For each descriptor kind tried (default 'auto': 'gradient', then 'mind' when the gradient attempt fails the
 *    success rule): describe, match (match.ts), RANSAC (ransac.ts) with a per-pair
 *    inlier threshold τᵢ = clamp(0.5·σᵢ, 2h, 10h) mm (σᵢ = the moving keypoint's scale, h = the larger voxel
 *    spacing of the two images).
 * 3. Refinement (a second, guided match): every fixed keypoint is paired with the moving keypoint of most similar
 *    descriptor among those within 2τ of T(p) (one-to-one, best first); T is refitted by least squares on the pairs
 *    within τ, a few rounds. The refined map is the result when it keeps at least as many inliers.
 * 4. Success rule: at least `minInliers` descriptor matches within τ of the final map (default max(8, 3 × the
 *    minimal sample): 8 for 2D rigid, 9 for 3D rigid, 12 for 3D affine) and an inlier ratio (inliers / matches) of at
 *    least `minInlierRatio` (default 0.1). Otherwise a CoregError names the keypoint, match and inlier counts.
 * The result's matches/inliers/residual are those of the descriptor matches (step 2) under the final map: the
 * rows of matches.csv.
 */
import { CoregError } from '../errors.js';
import type { Image } from '../image/image.js';
import { createTransform, type MatrixOffsetTransform } from '../transform/linear.js';
import { fitLinearMap } from '../transform/point-fit.js';
import { describeKeypoints, type DescribedKeypoints, type DescriptorKind } from './descriptors.js';
import { detectKeypoints, type Keypoints } from './keypoints.js';
import { defaultWorkingSpacing, type ScaleSpaceOptions } from './scale-space.js';
import { matchDescriptors, type Matches } from './match.js';
import { minimalSampleSize, ransacFit, type LinearMap, type RobustKind } from './ransac.js';

export type DescriptorChoice = DescriptorKind | 'auto';
export const DESCRIPTOR_CHOICES: readonly DescriptorChoice[] = ['auto', 'gradient', 'mind'];

export interface AutoLandmarkOptions {
  /** Default rigid. */
  transform?: RobustKind;
  /** Default 'auto' (gradient, then mind if that fails). */
  descriptor?: DescriptorChoice;
  fixedMask?: Image | null;
  movingMask?: Image | null;
  /** Most keypoints per image (default: the detector's, 1000 in 2D, 2000 in 3D). */
  maxKeypoints?: number;
  /** Lowe's ratio (default 0.9). */
  ratio?: number;
  /** RANSAC seed (default 1). */
  seed?: number;
  minInliers?: number;
  /** Default 0.1. */
  minInlierRatio?: number;
  /** Singular value range for similarity/affine (default [0.5, 2]). */
  scaleLimits?: [number, number];
  /** Affine: largest singular value ratio (default 2). */
  maxAnisotropy?: number;
  /** What errors name as the fixed and moving image (default "fixed", "moving"; the CLI gives the file names). */
  fixedName?: string;
  movingName?: string;
}

export interface AutoLandmarkAttempt {
  descriptor: DescriptorKind;
  matches: number;
  inliers: number;
  inlierRatio: number;
  residualMm: number;
  ransacIterations: number;
  success: boolean;
}

export interface AutoLandmarkResult {
  /** Fixed → moving, centred at the inliers' fixed centroid. */
  transform: MatrixOffsetTransform;
  kind: RobustKind;
  dimension: 2 | 3;
  descriptor: DescriptorKind;
  keypoints: { fixed: number; moving: number };
  /** The descriptor matches of the kept attempt: count×d points, scores (1 − d₁/d₂), inlier flags, residuals. */
  matches: { count: number; fixed: Float64Array; moving: Float64Array; scores: Float64Array; inliers: Uint8Array; residualsMm: Float64Array; thresholdsMm: Float64Array };
  inliers: number;
  inlierRatio: number;
  /** RMS of |T(p) − q| over the inlier matches (mm). */
  residualMm: number;
  /** The guided second match: pairs and inliers the final map was fitted on. */
  refined: { matches: number; inliers: number; residualMm: number };
  attempts: AutoLandmarkAttempt[];
  /** Wall-clock seconds: detection (both images), description + matching + fitting. */
  seconds: { detect: number; match: number; total: number };
  /** The rule the result passed: minimum inliers and inlier ratio. */
  rule: { minInliers: number; minInlierRatio: number };
}

function now(): number {
  return typeof performance !== 'undefined' ? performance.now() : Date.now();
}

function maxSpacing(image: Image): number {
  return Math.max(...image.spacing);
}

interface Attempt {
  summary: AutoLandmarkAttempt;
  keypoints: { fixed: number; moving: number };
  map: LinearMap;
  fixedDesc: DescribedKeypoints;
  movingDesc: DescribedKeypoints;
  matches: Matches;
  p: Float64Array;
  q: Float64Array;
  tau: Float64Array;
  refined: { matches: number; inliers: number; residualMm: number };
}

function applyMap(map: LinearMap, x: Float64Array, at: number, d: number, out: Float64Array): void {
  for (let r = 0; r < d; r++) {
    let y = map.offset[r];
    for (let c = 0; c < d; c++) y += map.matrix[r * d + c] * x[at + c];
    out[r] = y;
  }
}

/** Residuals of the pairs under map, inlier flags by τ, and the inliers' RMS. */
function evaluate(map: LinearMap, p: Float64Array, q: Float64Array, tau: Float64Array, d: number) {
  const n = tau.length;
  const residuals = new Float64Array(n);
  const inliers = new Uint8Array(n);
  const y = new Float64Array(d);
  let count = 0;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    applyMap(map, p, i * d, d, y);
    let e2 = 0;
    for (let k = 0; k < d; k++) e2 += (y[k] - q[i * d + k]) ** 2;
    residuals[i] = Math.sqrt(e2);
    if (residuals[i] <= tau[i]) {
      inliers[i] = 1;
      count++;
      sum += e2;
    }
  }
  return { residuals, inliers, count, rms: count ? Math.sqrt(sum / count) : NaN };
}

function threshold(scaleMm: number, h: number): number {
  return Math.min(Math.max(0.5 * scaleMm, 2 * h), 10 * h);
}

/** Least-squares refits on the pairs within τ, while the inlier set grows (at most `rounds`). */
function refit(kind: RobustKind, map: LinearMap, p: Float64Array, q: Float64Array, tau: Float64Array, d: number, rounds: number): LinearMap {
  const s = minimalSampleSize(kind, d);
  let current = map;
  let last = evaluate(current, p, q, tau, d);
  for (let r = 0; r < rounds; r++) {
    if (last.count < s) break;
    const ps = new Float64Array(last.count * d);
    const qs = new Float64Array(last.count * d);
    let w = 0;
    for (let i = 0; i < tau.length; i++) {
      if (!last.inliers[i]) continue;
      for (let k = 0; k < d; k++) {
        ps[w * d + k] = p[i * d + k];
        qs[w * d + k] = q[i * d + k];
      }
      w++;
    }
    const next = fitLinearMap(kind, ps, qs, last.count, d);
    if (!next.matrix.every(Number.isFinite)) break;
    const e = evaluate(next, p, q, tau, d);
    if (e.count < last.count) break;
    const same = e.count === last.count && e.inliers.every((v, i) => v === last.inliers[i]);
    current = next;
    last = e;
    if (same) break;
  }
  return current;
}

/**
 * The guided second match: each fixed keypoint with the most similar moving descriptor within 2τ of T(p), one to
 * one (best similarity first). Returns the pair coordinates and thresholds.
 */
function guidedPairs(map: LinearMap, fixed: DescribedKeypoints, moving: DescribedKeypoints, d: number, h: number) {
  const nf = fixed.keypoints.count;
  const nm = moving.keypoints.count;
  const L = fixed.descriptors.length;
  const a = fixed.descriptors.data;
  const b = moving.descriptors.data;
  const fp = fixed.keypoints.points;
  const mp = moving.keypoints.points;
  const y = new Float64Array(d);
  const cand: { i: number; j: number; sim: number }[] = [];
  for (let i = 0; i < nf; i++) {
    applyMap(map, fp, i * d, d, y);
    let best = -1;
    let bestSim = -Infinity;
    for (let j = 0; j < nm; j++) {
      const r = 2 * threshold(moving.keypoints.scales[j], h);
      let e2 = 0;
      for (let k = 0; k < d; k++) e2 += (y[k] - mp[j * d + k]) ** 2;
      if (e2 > r * r) continue;
      let s = 0;
      for (let k = 0; k < L; k++) s += a[i * L + k] * b[j * L + k];
      if (s > bestSim) {
        bestSim = s;
        best = j;
      }
    }
    if (best >= 0) cand.push({ i, j: best, sim: bestSim });
  }
  cand.sort((u, v) => v.sim - u.sim || u.i - v.i);
  const used = new Uint8Array(nm);
  const pairs = cand.filter((c) => (used[c.j] ? false : (used[c.j] = 1)));
  const p = new Float64Array(pairs.length * d);
  const q = new Float64Array(pairs.length * d);
  const tau = new Float64Array(pairs.length);
  pairs.forEach((c, k) => {
    for (let t = 0; t < d; t++) {
      p[k * d + t] = fp[c.i * d + t];
      q[k * d + t] = mp[c.j * d + t];
    }
    tau[k] = threshold(moving.keypoints.scales[c.j], h);
  });
  return { p, q, tau };
}

function attempt(kind: RobustKind, descriptor: DescriptorKind, fixed: Image, moving: Image, fk: Keypoints, mk: Keypoints, ss: ScaleSpaceOptions, opts: AutoLandmarkOptions, rule: { minInliers: number; minInlierRatio: number }): Attempt | null {
  const d = fixed.dimension as 2 | 3;
  const h = Math.max(maxSpacing(fixed), maxSpacing(moving));
  const fixedDesc = describeKeypoints(fixed, fk, descriptor, ss);
  const movingDesc = describeKeypoints(moving, mk, descriptor, ss);
  const matches = matchDescriptors(fixedDesc.descriptors, movingDesc.descriptors, { ratio: opts.ratio ?? 0.9 });
  const n = matches.count;
  const p = new Float64Array(n * d);
  const q = new Float64Array(n * d);
  const tau = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    const i = matches.fixed[k];
    const j = matches.moving[k];
    for (let t = 0; t < d; t++) {
      p[k * d + t] = fixedDesc.keypoints.points[i * d + t];
      q[k * d + t] = movingDesc.keypoints.points[j * d + t];
    }
    tau[k] = threshold(movingDesc.keypoints.scales[j], h);
  }
  const ransac = ransacFit(kind, p, q, d, { thresholds: tau, seed: opts.seed ?? 1, scaleLimits: opts.scaleLimits, maxAnisotropy: opts.maxAnisotropy });
  if (!ransac.map) return null;
  let map = ransac.map;
  let refined = { matches: 0, inliers: 0, residualMm: NaN };
  // The guided second match, kept when it does not lose any of the descriptor matches' inliers.
  const before = evaluate(map, p, q, tau, d);
  if (before.count >= minimalSampleSize(kind, d)) {
    const g = guidedPairs(map, fixedDesc, movingDesc, d, h);
    const guided = refit(kind, map, g.p, g.q, g.tau, d, 10);
    const after = evaluate(guided, p, q, tau, d);
    if (after.count >= before.count) {
      map = guided;
      const e = evaluate(guided, g.p, g.q, g.tau, d);
      refined = { matches: g.tau.length, inliers: e.count, residualMm: e.rms };
    }
  }
  const final = evaluate(map, p, q, tau, d);
  const ratio = n > 0 ? final.count / n : 0;
  return {
    keypoints: { fixed: fk.count, moving: mk.count },
    summary: {
      descriptor,
      matches: n,
      inliers: final.count,
      inlierRatio: ratio,
      residualMm: final.rms,
      ransacIterations: ransac.iterations,
      success: final.count >= rule.minInliers && ratio >= rule.minInlierRatio,
    },
    map,
    fixedDesc,
    movingDesc,
    matches,
    p,
    q,
    tau,
    refined,
  };
}

/**
 * Automated landmark registration of `moving` to `fixed` (see the file's header). Throws a CoregError (naming the
 * keypoint, match and inlier counts) when the images give too few keypoints or no consistent match.
 */
export function autoLandmarks(fixed: Image, moving: Image, opts: AutoLandmarkOptions = {}): AutoLandmarkResult {
  const t0 = now();
  const kind = opts.transform ?? 'rigid';
  if (kind !== 'rigid' && kind !== 'similarity' && kind !== 'affine') throw new CoregError('--transform', `expected rigid, similarity or affine; got "${String(kind)}"`);
  const choice = opts.descriptor ?? 'auto';
  if (!DESCRIPTOR_CHOICES.includes(choice)) throw new CoregError('--descriptor', `expected ${DESCRIPTOR_CHOICES.join(', ')}; got "${String(choice)}"`);
  if (fixed.dimension !== moving.dimension) throw new CoregError(opts.movingName ?? 'moving', `is ${moving.dimension}D but the fixed image is ${fixed.dimension}D`);
  const d = fixed.dimension as 2 | 3;
  const s = minimalSampleSize(kind, d);
  const rule = { minInliers: opts.minInliers ?? Math.max(8, 3 * s), minInlierRatio: opts.minInlierRatio ?? 0.1 };
  const fewest = Math.max(rule.minInliers, s);
  // Keypoints per intensity mode: 'gradient' on the images as they are, 'mind' on their rank-equalised copies (the
  // detector's contrast thresholds then see CT soft tissue and MR alike).
  let detectMs = 0;
  // One working voxel size for both images, so that both detect on the same scales.
  const workingSpacing = Math.max(defaultWorkingSpacing(fixed), defaultWorkingSpacing(moving));
  const prepared = new Map<string, { ss: ScaleSpaceOptions; fk: Keypoints; mk: Keypoints }>();
  const prepare = (mode: 'raw' | 'rank') => {
    let p = prepared.get(mode);
    if (!p) {
      const t = now();
      const ss: ScaleSpaceOptions = { workingSpacing, intensity: mode === 'rank' ? 'rank' : 'range' };
      p = {
        ss,
        fk: detectKeypoints(fixed, { ...ss, mask: opts.fixedMask ?? null, maxKeypoints: opts.maxKeypoints }),
        mk: detectKeypoints(moving, { ...ss, mask: opts.movingMask ?? null, maxKeypoints: opts.maxKeypoints }),
      };
      prepared.set(mode, p);
      detectMs += now() - t;
    }
    return p;
  };
  const kinds: DescriptorKind[] = choice === 'auto' ? ['gradient', 'mind'] : [choice];
  const attempts: Attempt[] = [];
  const tried: string[] = [];
  let tooFew: { which: string; counts: string } | null = null;
  for (const k of kinds) {
    const p = prepare(k === 'mind' ? 'rank' : 'raw');
    const counts = `fixed ${p.fk.count}, moving ${p.mk.count}`;
    if (p.fk.count < fewest || p.mk.count < fewest) {
      tried.push(`${k}: keypoints ${counts}, too few`);
      if (!tooFew) tooFew = { which: p.fk.count < fewest ? (opts.fixedName ?? 'fixed') : (opts.movingName ?? 'moving'), counts };
      continue;
    }
    const a = attempt(kind, k, fixed, moving, p.fk, p.mk, p.ss, opts, rule);
    tried.push(a ? `${k}: keypoints ${counts}, ${a.summary.matches} matches, ${a.summary.inliers} inliers` : `${k}: keypoints ${counts}, no fit`);
    if (a) {
      a.keypoints = { fixed: p.fk.count, moving: p.mk.count };
      attempts.push(a);
    }
    if (a?.summary.success) break;
  }
  const summaries: AutoLandmarkAttempt[] = attempts.map((a) => a.summary);
  const best = attempts.filter((a) => a.summary.success).sort((x, y) => y.summary.inliers - x.summary.inliers)[0];
  if (!best) {
    if (tooFew && attempts.length === 0) {
      throw new CoregError(tooFew.which, `too few keypoints to match (keypoints: ${tooFew.counts}; at least ${fewest} needed for a ${kind} fit): is the image constant, tiny or masked out?`);
    }
    throw new CoregError(opts.movingName ?? 'moving', `no consistent match (${tried.join('; ')}; needed ≥ ${rule.minInliers} inliers and an inlier ratio ≥ ${rule.minInlierRatio})`);
  }
  const keypointsOf = best.keypoints;
  const t1 = t0 + detectMs;
  const transform = createTransform(kind, d);
  transform.setCenter(best.map.center);
  transform.fitMapping(best.map.matrix, best.map.offset);
  const final = evaluate(best.map, best.p, best.q, best.tau, d);
  const scores = Float64Array.from(best.matches.scores);
  const t2 = now();
  return {
    transform,
    kind,
    dimension: d,
    descriptor: best.summary.descriptor,
    keypoints: keypointsOf,
    matches: { count: best.matches.count, fixed: best.p, moving: best.q, scores, inliers: final.inliers, residualsMm: final.residuals, thresholdsMm: best.tau },
    inliers: final.count,
    inlierRatio: best.summary.inlierRatio,
    residualMm: final.rms,
    refined: best.refined,
    attempts: summaries,
    seconds: { detect: (t1 - t0) / 1000, match: (t2 - t1) / 1000, total: (t2 - t0) / 1000 },
    rule,
  };
}

/** matches.csv: fx,fy[,fz],mx,my[,mz],score,inlier — one row per descriptor match, best score first. */
export function matchesCsv(r: Pick<AutoLandmarkResult, 'dimension' | 'matches'>): string {
  const d = r.dimension;
  const axes = ['x', 'y', 'z'].slice(0, d);
  const lines = [[...axes.map((a) => `f${a}`), ...axes.map((a) => `m${a}`), 'score', 'inlier'].join(',')];
  const m = r.matches;
  for (let k = 0; k < m.count; k++) {
    const row: string[] = [];
    for (let a = 0; a < d; a++) row.push(String(m.fixed[k * d + a]));
    for (let a = 0; a < d; a++) row.push(String(m.moving[k * d + a]));
    row.push(String(m.scores[k]), m.inliers[k] ? '1' : '0');
    lines.push(row.join(','));
  }
  return lines.join('\n') + '\n';
}

/** Reads matches.csv back (as written by matchesCsv): the pairs and their inlier flags. */
export function parseMatchesCsv(text: string, fileName: string): { dimension: 2 | 3; count: number; fixed: Float64Array; moving: Float64Array; scores: Float64Array; inliers: Uint8Array } {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  const header = (lines[0] ?? '').split(',').map((h) => h.trim());
  const d = header.length === 8 ? 3 : header.length === 6 ? 2 : 0;
  if (d === 0 || header[0] !== 'fx' || header[header.length - 1] !== 'inlier') throw new CoregError(fileName, 'is not a matches.csv file (header fx,fy[,fz],mx,my[,mz],score,inlier)');
  const n = lines.length - 1;
  const out = { dimension: d as 2 | 3, count: n, fixed: new Float64Array(n * d), moving: new Float64Array(n * d), scores: new Float64Array(n), inliers: new Uint8Array(n) };
  for (let k = 0; k < n; k++) {
    const v = lines[k + 1].split(',').map(Number);
    if (v.length !== 2 * d + 2 || !v.every(Number.isFinite)) throw new CoregError(fileName, `line ${k + 2}: expected ${2 * d + 2} numbers`);
    for (let a = 0; a < d; a++) {
      out.fixed[k * d + a] = v[a];
      out.moving[k * d + a] = v[d + a];
    }
    out.scores[k] = v[2 * d];
    out.inliers[k] = v[2 * d + 1] ? 1 : 0;
  }
  return out;
}
