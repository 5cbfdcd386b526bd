/**
 * Gaussian smoothing of a pyramid level on a team of threads (parallel-for.ts): each axis pass of
 * pyramid/smooth.ts is cut into independent units (groups of lines or row chunks), so the result is the same
 * float32 image as gaussianSmooth's, for any number of threads.
 */
import type { Image } from '../image/image.js';
import { gaussianSmooth, perAxis, smoothPasses, smoothPassUnits, smoothScratch, type SmoothPass } from '../pyramid/smooth.js';
import { float32Exact, shrinkPasses, shrinkPassUnits, shrinkSlab, slicedPassCount, type SlabScratch, shrunkGeometry, shrunkImage, smoothAndShrinkVoxels, type Float32Exact, type ShrinkPass } from '../pyramid/shrink.js';
import { runLater, shareArray, sharedFloat32, type BlockKernel, type ParallelFor } from './parallel-for.js';

export interface SmoothKernelInit {
  data: Float32Array;
  passes: SmoothPass[];
  /** Units per block, per pass. */
  unitsPerBlock: number[];
}

/** Phase p = pass p; block b = its units [b·u, (b+1)·u). */
export function smoothKernel(init: SmoothKernelInit): readonly BlockKernel[] {
  return init.passes.map((pass, p) => {
    const scratch = smoothScratch(pass);
    const u = init.unitsPerBlock[p];
    return (b: number) => smoothPassUnits(init.data, pass, b * u, Math.min(pass.units, (b + 1) * u), scratch);
  });
}

/** gaussianSmooth(img, sigmaMm), its passes split over `team`'s threads (the same pixels for any thread count). */
export async function gaussianSmoothOn(team: ParallelFor | undefined, img: Image, sigmaMm: number | readonly number[]): Promise<Image<Float32Array>> {
  const d = img.dimension;
  const sigmas = perAxis(sigmaMm, d, 'sigma');
  if (!team || team.threads < 2) return gaussianSmooth(img, sigmas);
  const data = sharedFloat32(img.data.length);
  data.set(img.data as ArrayLike<number>);
  const passes = smoothPasses(img.size, img.components, sigmas.map((s, a) => s / img.spacing[a]));
  const init: SmoothKernelInit = { data, passes, unitsPerBlock: passes.map((p) => Math.max(1, Math.ceil(p.units / 64))) };
  const local = smoothKernel(init);
  const session = await team.open('register.smooth', init, local);
  try {
    passes.forEach((pass, p) => session.run(p, Math.ceil(pass.units / init.unitsPerBlock[p])));
  } finally {
    session.close();
  }
  return { dimension: d, size: img.size.slice(), spacing: img.spacing.slice(), origin: img.origin.slice(), direction: img.direction.slice(), components: img.components, data };
}

/** One image of a level: smoothed by σ (voxels per axis) and shrunk by integer factors (smoothAndShrinkVoxels). */
export interface ShrinkJob {
  img: Image;
  sigmasVoxels: readonly number[];
  factors: readonly number[];
}

/** A pass of one image's job: its input (−1 − k: source k; otherwise a buffer) and output buffer. */
export interface ShrinkKernelPass {
  pass: ShrinkPass;
  input: number;
  output: number;
  unitsPerBlock: number;
}

export interface ShrinkKernelInit {
  sources: Float32Exact[];
  buffers: Float32Array[];
  passes: ShrinkKernelPass[];
}

/** Phase p = pass p (of every job, one after the other); block b = its units [b·u, (b+1)·u). */
export function shrinkKernel(init: ShrinkKernelInit): readonly BlockKernel[] {
  return init.passes.map((p) => {
    const input = p.input < 0 ? init.sources[-1 - p.input] : init.buffers[p.input];
    const output = init.buffers[p.output];
    const u = p.unitsPerBlock;
    return (b: number) => shrinkPassUnits(input, output, p.pass, b * u, Math.min(p.pass.units, (b + 1) * u));
  });
}

/** Below this many input values in all, a level's images are made in the calling thread (a session costs more). */
const TEAM_SHRINK_MIN_VALUES = 1 << 18;

/**
 * The values of `img` where every thread of a team can read them, exactly as float32 holds them: a shared copy of
 * the pixels in their own type when float32 holds it exactly (uint8, int16, …), else a shared float32 copy.
 */
export function sharedSource(img: Image): Float32Exact {
  const exact = float32Exact(img.data);
  if (exact !== img.data) {
    const out = sharedFloat32(exact.length);
    out.set(exact);
    return out;
  }
  return shareArray(exact);
}

/**
 * smoothAndShrinkVoxels of each job (bit-identical: the same passes, cut into units that any thread may do), on
 * `team`'s threads when the images are large enough to pay for a session. A job with nothing to do (σ = 0, factors 1)
 * gives its image back. `sources(img)` gives an image's values on shared memory (sharedSource, cached by the caller).
 */
export async function smoothAndShrinkOn(team: ParallelFor | undefined, jobs: readonly ShrinkJob[], sources: (img: Image) => Float32Exact = sharedSource): Promise<Image[]> {
  const plans = jobs.map((job) => {
    const geometry = shrunkGeometry(job.img, job.factors);
    return { job, geometry, passes: shrinkPasses(job.img.size, job.img.components, job.sigmasVoxels, geometry, job.factors) };
  });
  const work = plans.reduce((s, p) => s + (p.passes.length > 0 ? p.passes[0].inputLength : 0), 0);
  if (!team || team.threads < 2 || work < TEAM_SHRINK_MIN_VALUES) {
    return plans.map((p) => (p.passes.length === 0 ? p.job.img : smoothAndShrinkVoxels(p.job.img, p.job.sigmasVoxels, p.job.factors)));
  }
  const init: ShrinkKernelInit = { sources: [], buffers: [], passes: [] };
  const outputs: (number | null)[] = plans.map((p) => {
    if (p.passes.length === 0) return null;
    init.sources.push(sources(p.job.img));
    let input = -init.sources.length;
    for (const pass of p.passes) {
      init.buffers.push(sharedFloat32(pass.outputLength));
      init.passes.push({ pass, input, output: init.buffers.length - 1, unitsPerBlock: Math.max(1, Math.ceil(pass.units / 64)) });
      input = init.buffers.length - 1;
    }
    return input;
  });
  const local = shrinkKernel(init);
  const session = await team.open('register.shrink', init, local, { late: true });
  try {
    init.passes.forEach((p, i) => session.run(i, Math.ceil(p.pass.units / p.unitsPerBlock)));
  } finally {
    session.close();
  }
  return plans.map((p, k) => (outputs[k] === null ? p.job.img : shrunkImage(p.job.img, p.geometry, init.buffers[outputs[k]!])));
}

const EMPTY = new Float32Array(0);

/** Slices per image in the first phase of a prefetch (its blocks: few enough to be worth a block, enough to balance). */
const PREFETCH_SLABS = 16;
/**
 * Most bytes of shared buffers a prefetch holds at once (all its levels' passes; 1 mm heads: ~70 MB). Larger images
 * go level by level (smoothAndShrinkOn), so that their peak memory stays what it was (a 256³ pair would hold ~170 MB).
 */
const PREFETCH_MAX_BYTES = 2 ** 27;

/**
 * One image's passes in a prefetch: the first `sliced` (along axes before the last) slab by slab along the last
 * axis, then the rest (the last axis' pass, if any) by units; outputs[p] holds pass p's output (empty for the sliced
 * passes before the last one: they go through the threads' slab scratch).
 */
export interface PrefetchJob {
  source: number;
  passes: ShrinkPass[];
  sliced: number;
  slices: number;
  outputs: Float32Array[];
}

export interface PrefetchKernelInit {
  sources: Float32Exact[];
  jobs: PrefetchJob[];
  /** Phase 0's blocks: job, first and end slice. */
  slabs: Int32Array;
  /** Phase 1's blocks: job, pass, first and end unit. */
  pieces: Int32Array;
}

/**
 * Phase 0 block b: slabs[b]'s slices through its job's sliced passes (shrinkSlab: the ones before the last in this
 * thread's slab scratch); phase 1 block b: pieces[b]'s units.
 */
export function prefetchKernel(init: PrefetchKernelInit): readonly BlockKernel[] {
  const { sources, jobs, slabs, pieces } = init;
  const input = (job: PrefetchJob, p: number): Float32Exact => (p === 0 ? sources[job.source] : job.outputs[p - 1]);
  const scratch: SlabScratch = [];
  return [
    (b) => {
      const job = jobs[slabs[3 * b]];
      if (job.sliced > 0) shrinkSlab(sources[job.source], job.passes, job.sliced, job.slices, slabs[3 * b + 1], slabs[3 * b + 2], job.outputs[job.sliced - 1], scratch);
    },
    (b) => {
      const j = pieces[4 * b];
      const p = pieces[4 * b + 1];
      shrinkPassUnits(input(jobs[j], p), jobs[j].outputs[p], jobs[j].passes[p], pieces[4 * b + 2], pieces[4 * b + 3]);
    },
  ];
}

function prefetchPlans(jobs: readonly ShrinkJob[]) {
  return jobs.map((job) => {
    const geometry = shrunkGeometry(job.img, job.factors);
    return { job, geometry, passes: shrinkPasses(job.img.size, job.img.components, job.sigmasVoxels, geometry, job.factors) };
  });
}

/**
 * Whether prefetchShrinkOn takes these jobs: 3D single-component images, enough work for a session, and all their
 * passes' outputs within PREFETCH_MAX_BYTES (counted whole, though the sliced passes before the last one only fill
 * slab scratch: a bound on what a prefetch holds, kept as it was).
 */
export function prefetchFits(jobs: readonly ShrinkJob[]): boolean {
  if (jobs.some((job) => job.img.dimension !== 3 || job.img.components !== 1)) return false;
  const plans = prefetchPlans(jobs);
  const work = plans.reduce((s, p) => s + (p.passes.length > 0 ? p.passes[0].inputLength : 0), 0);
  const bytes = plans.reduce((s, p) => s + p.passes.reduce((t, pass) => t + 4 * pass.outputLength, 0), 0);
  return work >= TEAM_SHRINK_MIN_VALUES && bytes <= PREFETCH_MAX_BYTES;
}

/**
 * smoothAndShrinkVoxels of each job (the same images: the same passes, split into slices and units that any thread
 * may do), started in the background on `team`'s helpers while this thread does other work (no other session of the
 * team meanwhile): join() does what is left with them and returns the images in job order; cancel() ends the
 * session without them. Null (nothing started) without helpers, for 2D or multi-component images, or when the images
 * are too small for a session or too large to hold all their passes at once; a job with nothing to do gives its
 * image back.
 */
export async function prefetchShrinkOn(team: ParallelFor | undefined, jobs: readonly ShrinkJob[], sources: (img: Image) => Float32Exact = sharedSource): Promise<{ join(): Image[]; cancel(): void } | null> {
  if (!team || team.threads < 2 || !prefetchFits(jobs)) return null;
  const plans = prefetchPlans(jobs);
  const init: PrefetchKernelInit = { sources: [], jobs: [], slabs: new Int32Array(0), pieces: new Int32Array(0) };
  const sourceOf = new Map<Image, number>();
  const slabs: number[] = [];
  const pieces: number[] = [];
  const outputs = plans.map((p) => {
    if (p.passes.length === 0) return -1;
    let k = sourceOf.get(p.job.img);
    if (k === undefined) {
      sourceOf.set(p.job.img, (k = init.sources.length));
      init.sources.push(sources(p.job.img));
    }
    // the passes along x and y run slab by slab along z (each slice's lines and rows are its own); the z pass after
    const slices = p.job.img.size[2];
    const sliced = slicedPassCount(p.passes, slices);
    const j = init.jobs.length;
    // (the sliced passes before the last one write to the threads' slab scratch: no buffer here)
    init.jobs.push({ source: k, passes: p.passes, sliced, slices, outputs: p.passes.map((pass, q) => (q < sliced - 1 ? EMPTY : sharedFloat32(pass.outputLength))) });
    if (sliced > 0) {
      const per = Math.ceil(slices / PREFETCH_SLABS);
      for (let z = 0; z < slices; z += per) slabs.push(j, z, Math.min(slices, z + per));
    }
    for (let q = sliced; q < p.passes.length; q++) {
      const u = Math.max(1, Math.ceil(p.passes[q].units / 64));
      for (let from = 0; from < p.passes[q].units; from += u) pieces.push(j, q, from, Math.min(p.passes[q].units, from + u));
    }
    return j;
  });
  init.slabs = Int32Array.from(slabs);
  init.pieces = Int32Array.from(pieces);
  const session = await team.open('register.prefetch', init, prefetchKernel(init), { late: true });
  let finish: () => void;
  try {
    finish = runLater(session, 0, slabs.length / 3);
  } catch (err) {
    session.close();
    throw err;
  }
  return {
    join(): Image[] {
      try {
        finish();
        session.run(1, pieces.length / 4);
      } finally {
        session.close();
      }
      const images = plans.map((p, k) => {
        if (outputs[k] < 0) return p.job.img;
        const job = init.jobs[outputs[k]];
        return shrunkImage(p.job.img, p.geometry, job.outputs[job.outputs.length - 1]);
      });
      // the passes' intermediate buffers go (the kernel and the session would keep them while this is held)
      init.jobs = [];
      init.sources = [];
      return images;
    },
    cancel: () => session.close(),
  };
}
