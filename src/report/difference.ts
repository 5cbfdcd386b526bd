/**
 * Difference images and intensity agreement before/after registration: the moving image is resampled onto the
 * fixed grid (through the chain, or in plain physical space for "before") and compared voxel by voxel over the
 * voxels where both images are defined.
 */
import { CoregError } from '../errors.js';
import { createImageLike, type Image } from '../image/image.js';
import { nccSimilarity } from '../metric/index.js';
import { resample } from '../resample/resample.js';
import type { Transform } from '../transform/transform.js';
import { TranslationTransform } from '../transform/linear.js';

export interface DifferenceStats {
  /** Root mean square of fixed − warped moving over the overlap. */
  rms: number;
  meanAbs: number;
  /** Normalised cross-correlation of the two over the overlap. */
  ncc: number;
  /** Voxels compared (inside the moving image after mapping). */
  voxels: number;
}

export interface DifferenceResult {
  /** fixed − moving(T(x)) on the fixed grid (float32), 0 where the moving image is undefined. */
  difference: Image;
  stats: DifferenceStats;
}

/** fixed − moving∘T on the fixed grid; `chain` empty = no transform (physical-space overlay, "before"). */
export function differenceImage(fixed: Image, moving: Image, chain: readonly Transform[]): DifferenceResult {
  if (fixed.components !== 1 || moving.components !== 1) throw new CoregError('difference', 'needs scalar images');
  if (fixed.dimension !== moving.dimension) throw new CoregError('difference', `the fixed image is ${fixed.dimension}D but the moving image is ${moving.dimension}D`);
  // A zero translation is the identity: "before" overlays the images in physical space.
  const transforms = chain.length > 0 ? chain : [new TranslationTransform(fixed.dimension)];
  // NaN outside marks the voxels the moving image does not cover.
  const warped = resample(moving, fixed, transforms, { interpolation: 'linear', defaultValue: NaN, outputType: 'float32' });
  const out = createImageLike(fixed, 'float32');
  const a = new Float64Array(out.data.length);
  const b = new Float64Array(out.data.length);
  let n = 0;
  let sumSq = 0;
  let sumAbs = 0;
  for (let i = 0; i < out.data.length; i++) {
    const m = warped.data[i];
    if (m !== m) continue;
    const diff = fixed.data[i] - m;
    out.data[i] = diff;
    sumSq += diff * diff;
    sumAbs += Math.abs(diff);
    a[n] = fixed.data[i];
    b[n] = m;
    n++;
  }
  if (n === 0) throw new CoregError('difference', 'the images do not overlap');
  let ncc: number;
  try {
    ncc = nccSimilarity(a.subarray(0, n), b.subarray(0, n));
  } catch {
    // A constant overlap has no correlation.
    ncc = 0;
  }
  return { difference: out, stats: { rms: Math.sqrt(sumSq / n), meanAbs: sumAbs / n, ncc: Number.isFinite(ncc) ? ncc : 0, voxels: n } };
}
