/**
 * sampleFixedImage's jittered samples (sampling.ts: a random position inside each chosen voxel, the fixed value
 * interpolated linearly there; no mask, one component) with the per-sample loop split into blocks on a team of
 * threads: the B-spline levels' 150 000-sample sets. The voxels are chosen as sampleFixedImage chooses them (one
 * generator stream: in this thread); the jitter generator is mulberry32, whose state after k draws is
 * seed + k·MULBERRY32_STEP, so every block starts its part of the one stream where it is: the same points and
 * values as sampleFixedImage, bit for bit, for any number of threads.
 */
import { type Image, numberOfPixels } from '../image/image.js';
import { shareArray, TEAM_MIN_SAMPLES, type BlockKernel, type ParallelFor } from './parallel-for.js';
import { drawKernelInit, type DrawKernelInit } from './parallel-sampling.js';
import { jitteredSamples, jitterPlane, jitterSeed, sampleFixedImage, sampleVoxels, type SampleSet, type SamplingOptions } from './sampling.js';

/**
 * Fewest voxels of a level image whose jittered draw runs on the team: a full-resolution 1 mm head (7 M voxels,
 * ~30 ms of serial loop) and larger. Below (a 2 mm head's 0.9 M voxels) the loop is short, and one more team session
 * per level holds the level's samples in the helper until its next collection (a 5-atlas segmentation's peak RSS
 * rose by ~10 MB with it). A function of the image only (the samples are the same either way).
 */
export const TEAM_JITTER_MIN_VOXELS = 1 << 22;

/**
 * The draw kernel's fields (parallel-sampling.ts), read differently: `seed` is the jitter generator's (jitterSeed) and
 * `voxels` are an input here, the chosen voxels (sampleVoxels) in grid order.
 */
export type JitterKernelInit = DrawKernelInit;

/** Phase 0: samples [b·blockSize, …) at their jittered positions (jitteredSamples, as sampleFixedImage draws them). */
export function jitterKernel(init: JitterKernelInit): readonly BlockKernel[] {
  const { seed, count, blockSize, size, origin, M, plane, voxels, points, values } = init;
  const p = new Float64Array(size.length);
  const ci = new Float64Array(3);
  return [(b) => jitteredSamples(plane, size, origin, M, voxels, seed, b * blockSize, Math.min(count, (b + 1) * blockSize), points, values, p, ci)];
}

/**
 * sampleFixedImage(fixed, opts), the same samples bit for bit, with a jittered set's per-sample loop on `team`
 * when it has helpers, the image is large (`minVoxels`), the set too and the image's values are on
 * shared memory (else, and with a mask, without jitter or for a vector image: in this thread, by sampleFixedImage
 * itself).
 */
export async function sampleFixedImageOn(team: ParallelFor | undefined, fixed: Image, opts: SamplingOptions, minVoxels = TEAM_JITTER_MIN_VOXELS): Promise<SampleSet> {
  if (!team || team.threads < 2 || !opts.jitter || opts.mask || fixed.components !== 1 || numberOfPixels(fixed) < minVoxels) return sampleFixedImage(fixed, opts);
  // only a plane the team's threads already share (a team's pyramid levels, the shared full-resolution copy): a copy
  // of the image would cost more memory than the loop's split saves time
  const plane = jitterPlane(fixed);
  if (!(plane.buffer instanceof SharedArrayBuffer)) return sampleFixedImage(fixed, opts);
  const voxels = sampleVoxels(fixed, opts);
  const count = voxels.length;
  if (count < TEAM_MIN_SAMPLES) return sampleFixedImage(fixed, opts);
  const d = fixed.dimension;
  const init: JitterKernelInit = drawKernelInit(fixed, plane, count, jitterSeed(opts.seed), shareArray(voxels));
  const local = jitterKernel(init);
  const session = await team.open('register.jitter', init, local);
  try {
    session.run(0, Math.ceil(count / init.blockSize));
  } finally {
    session.close();
  }
  return { dimension: d as 2 | 3, count, points: init.points, values: init.values, voxels };
}
