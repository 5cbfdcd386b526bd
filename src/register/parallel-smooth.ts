/**
 * Gaussian smoothing of a pyramid level on a team of threads (parallel-for.ts): each axis pass of
 * pyramid/smooth.ts is cut into independent units (groups of lines or row chunks), so the result is the same
 * float32 image as gaussianSmooth's, for any number of threads.
 */
import type { Image } from '../image/image.js';
import { gaussianSmooth, perAxis, smoothPasses, smoothPassUnits, smoothScratch, type SmoothPass } from '../pyramid/smooth.js';
import { sharedFloat32, type BlockKernel, type ParallelFor } from './parallel-for.js';

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
