/**
 * Multi-resolution schedules (shrink factors and smoothing sigmas per level, coarsest first) and pyramids.
 */
import { CoregError } from '../errors.js';
import type { Image } from '../image/image.js';
import { shrinkImage } from './shrink.js';
import { gaussianSmooth, perAxis } from './smooth.js';

export interface PyramidSchedule {
  /** shrink[l][a]: integer factor of axis a at level l (level 0 = coarsest). */
  shrink: number[][];
  /** sigmasMm[l][a]: Gaussian sigma in mm along axis a applied before shrinking at level l. */
  sigmasMm: number[][];
}

/** An axis is not shrunk below this many voxels (nor at all when it has fewer than twice as many). */
export const MIN_SHRUNK_SIZE = 16;

/** Largest integer g ≤ factor with ⌊n/g⌋ ≥ MIN_SHRUNK_SIZE, or 1. */
function cappedFactor(n: number, factor: number): number {
  let g = factor;
  while (g > 1 && Math.floor(n / g) < MIN_SHRUNK_SIZE) g--;
  return g;
}

/** Smooths each level with its sigmas, then shrinks it (float32 images, coarsest first). */
export function buildPyramid(img: Image, schedule: PyramidSchedule): Image<Float32Array>[] {
  const levels = schedule.shrink.length;
  if (levels < 1 || schedule.sigmasMm.length !== levels) {
    throw new CoregError('schedule', `need the same number (≥ 1) of shrink and sigma levels, got ${levels} and ${schedule.sigmasMm.length}`);
  }
  const out: Image<Float32Array>[] = [];
  for (let l = 0; l < levels; l++) {
    const smoothed = gaussianSmooth(img, perAxis(schedule.sigmasMm[l], img.dimension, 'sigma'));
    out.push(schedule.shrink[l].every((f) => f === 1) ? smoothed : shrinkImage(smoothed, schedule.shrink[l]));
  }
  return out;
}

/**
 * A schedule that fits the image: level l of L asks for factor 2^(L−1−l), capped per axis so the axis keeps at
 * least MIN_SHRUNK_SIZE voxels (an axis of fewer than 2·MIN_SHRUNK_SIZE voxels is never shrunk). Smoothing follows
 * ANTs' habit of σ ≈ f/2 voxels at coarse levels and none at full resolution: σ_a = 0.5·f_a·spacing_a mm when
 * f_a > 1, else 0 (the same σ = f/2 voxels ITK's MultiResolutionPyramidImageFilter uses).
 */
export function defaultSchedule(img: Image, levels: number): PyramidSchedule {
  if (!(Number.isInteger(levels) && levels >= 1)) throw new CoregError('levels', `must be an integer ≥ 1, got ${levels}`);
  const shrink: number[][] = [];
  const sigmasMm: number[][] = [];
  for (let l = 0; l < levels; l++) {
    const wanted = 2 ** (levels - 1 - l);
    const factors = img.size.map((n) => cappedFactor(n, wanted));
    shrink.push(factors);
    sigmasMm.push(factors.map((f, a) => (f > 1 ? 0.5 * f * img.spacing[a] : 0)));
  }
  return { shrink, sigmasMm };
}

/**
 * The schedule for the command line's per-level lists (`--shrink 4x2x1 --smooth 2x1x0`): smoothing sigmas are in
 * voxels of the ORIGINAL image by default (ANTs' default unit), or mm. Factors are capped per axis as in
 * defaultSchedule; an axis left unshrunk at a shrinking level is not smoothed, and an axis shrunk by f_a < f gets
 * σ·f_a/f, so thin axes (a few slices) keep their detail.
 */
export function scheduleFromLevels(img: Image, shrink: readonly number[], smooth: readonly number[], unit: 'vox' | 'mm' = 'vox'): PyramidSchedule {
  if (shrink.length < 1) throw new CoregError('--shrink', 'needs at least one level', 2);
  if (smooth.length !== shrink.length) {
    throw new CoregError('--smooth', `needs one value per level (${shrink.length}, as --shrink), got ${smooth.length}`, 2);
  }
  const schedule: PyramidSchedule = { shrink: [], sigmasMm: [] };
  for (let l = 0; l < shrink.length; l++) {
    const wanted = shrink[l];
    if (!(Number.isInteger(wanted) && wanted >= 1)) throw new CoregError('--shrink', `factors must be integers ≥ 1, got ${wanted}`, 2);
    const sigma = smooth[l];
    if (!(Number.isFinite(sigma) && sigma >= 0)) throw new CoregError('--smooth', `sigmas must be finite and ≥ 0, got ${sigma}`, 2);
    const factors = img.size.map((n) => cappedFactor(n, wanted));
    schedule.shrink.push(factors);
    schedule.sigmasMm.push(
      factors.map((f, a) => {
        const mm = unit === 'vox' ? sigma * img.spacing[a] : sigma;
        if (wanted === 1) return mm;
        return f === 1 ? 0 : (mm * f) / wanted;
      }),
    );
  }
  return schedule;
}

/**
 * Parses a per-level list such as '4x2x1' (or a single '3'). Values must be finite and ≥ 0 (integers when
 * `integer`); errors are bad usage (exit 2) about `option`.
 */
export function parseLevels(text: string, option = '--levels', integer = false): number[] {
  const parts = text.trim().split('x');
  const values = parts.map((p) => (/^\s*(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$/.test(p) ? Number(p) : NaN));
  if (values.some((v) => !Number.isFinite(v) || (integer && !Number.isInteger(v)))) {
    throw new CoregError(option, `expected numbers separated by "x" (e.g. 4x2x1), got "${text}"`, 2);
  }
  return values;
}

/** Parses `--smooth` values with ANTs' optional unit suffix: '2x1x0' or '2x1x0vox' (voxels), '4x2x0mm' (mm). */
export function parseSmoothing(text: string, option = '--smooth'): { sigmas: number[]; unit: 'vox' | 'mm' } {
  const t = text.trim();
  const unit = t.endsWith('mm') ? 'mm' : 'vox';
  const body = t.endsWith('mm') ? t.slice(0, -2) : t.endsWith('vox') ? t.slice(0, -3) : t;
  return { sigmas: parseLevels(body, option), unit };
}
