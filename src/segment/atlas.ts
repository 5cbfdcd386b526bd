/**
 * One atlas against the target: its checks, and its registration and warp (`processAtlas`), which segment() runs
 * in this thread or posts to a worker (src/segment/tasks.ts).
 */
import { CoregError, type WarningSink } from '../errors.js';
import { sameGrid, type Image } from '../image/image.js';
import type { RegistrationConfig } from '../register/config.js';
import { register, type ProgressEvent } from '../register/register.js';
import type { ParallelFor } from '../register/parallel-for.js';
import { resampleOn } from '../register/parallel-resample.js';
import type { Transform } from '../transform/transform.js';

export interface Atlas {
  image: Image;
  labels: Image;
  /** Shown in reports and errors (e.g. the image file). */
  name: string;
  /** What errors about the label image name (e.g. the labels file); default "<name> labels". */
  labelsName?: string;
}

export interface SegmentProgress {
  phase: 'select' | 'register' | 'fuse';
  /** Input index of the atlas being processed (−1 while fusing). */
  atlas: number;
  atlasCount: number;
  name: string;
  /** The registration's own progress (select and register phases). */
  registration?: ProgressEvent;
}

export interface WarpedAtlas {
  /** Position in the input list. */
  index: number;
  name: string;
  labels: Image;
  /** float32, when kept. */
  image?: Image;
}

/** How processAtlas runs one atlas. */
export interface AtlasRunOptions {
  config: RegistrationConfig;
  onProgress?: (event: SegmentProgress) => void;
  signal?: AbortSignal;
  warn?: WarningSink;
  /** Also warp the atlas image (linear, float32). */
  warpImage: boolean;
  /** Threads inside the registration and the warps (a team); results do not depend on it. */
  parallel?: ParallelFor;
  /** The registration's hook for an explicit garbage collection (RegisterOptions.collect). */
  collect?: () => void;
}

export function now(): number {
  return typeof performance !== 'undefined' ? performance.now() : Date.now();
}

export function isAbort(err: unknown, signal?: AbortSignal): boolean {
  return Boolean(signal?.aborted) || (err instanceof Error && err.name === 'AbortError');
}

function labelsSubject(atlas: Atlas): string {
  return atlas.labelsName ?? `${atlas.name} labels`;
}

/** Throws CoregError for an atlas that cannot be used with `target`. */
export function validateAtlas(target: Image, atlas: Atlas): void {
  const subject = labelsSubject(atlas);
  if (atlas.image.dimension !== target.dimension) throw new CoregError(atlas.name, `is ${atlas.image.dimension}D but the target is ${target.dimension}D`);
  if (atlas.image.components !== 1) throw new CoregError(atlas.name, `has ${atlas.image.components} components per pixel; atlas images must be scalar`);
  if (atlas.labels.components !== 1) throw new CoregError(subject, `has ${atlas.labels.components} components per pixel; a label image needs 1`);
  if (!sameGrid(atlas.image, atlas.labels)) {
    throw new CoregError(subject, `is not on the same grid as its atlas image ${atlas.name} (size, spacing, origin or direction differ)`);
  }
  const data = atlas.labels.data;
  for (let v = 0; v < data.length; v++) {
    const x = data[v];
    if (x !== Math.floor(x)) throw new CoregError(subject, `labels must be integers (found ${x})`);
  }
}

export interface AtlasOutcome {
  warped?: WarpedAtlas;
  seconds: number;
  error?: string;
}

/**
 * The atlas' labels (label interpolation) and, if asked, its image (linear, float32) on the target grid through
 * `transforms`: rows split over `parallel`'s threads (serial work between two registrations otherwise: 0.2 s of a
 * 2 mm atlas' B-spline chain); the same pixels for any thread count, also without a team.
 */
export async function warpAtlas(
  atlas: Pick<Atlas, 'image' | 'labels'>,
  target: Image,
  transforms: readonly Transform[],
  warpImage: boolean,
  parallel?: ParallelFor,
): Promise<{ labels: Image; image?: Image }> {
  const labels = await resampleOn(parallel, atlas.labels, target, transforms, { interpolation: 'label' });
  const image = warpImage ? await resampleOn(parallel, atlas.image, target, transforms, { interpolation: 'linear', outputType: 'float32' }) : undefined;
  return { labels, ...(image ? { image } : {}) };
}

/** Registers one atlas to the target and warps its labels (label interpolation) and, if asked, its image. */
export async function processAtlas(
  target: Image,
  atlas: Atlas,
  index: number,
  atlasCount: number,
  options: AtlasRunOptions,
): Promise<AtlasOutcome> {
  const t0 = now();
  try {
    const result = await register(target, atlas.image, options.config, {
      parallel: options.parallel,
      collect: options.collect,
      signal: options.signal,
      warn: options.warn ? (m) => options.warn!(`atlas ${atlas.name}: ${m}`) : undefined,
      onProgress: options.onProgress ? (e) => options.onProgress!({ phase: 'register', atlas: index, atlasCount, name: atlas.name, registration: e }) : undefined,
    });
    const { labels, image } = await warpAtlas(atlas, target, result.transforms, options.warpImage, options.parallel);
    return { warped: { index, name: atlas.name, labels, ...(image ? { image } : {}) }, seconds: (now() - t0) / 1000 };
  } catch (err) {
    if (isAbort(err, options.signal)) throw err;
    return { seconds: (now() - t0) / 1000, error: err instanceof Error ? err.message : String(err) };
  }
}
