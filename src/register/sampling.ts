/**
 * Fixed-image sample sets: physical points (n×d, LPS mm) and their fixed values, chosen once per level.
 * 'all' takes every voxel in the fixed mask (in grid order, so dense metrics such as lncc can use it as a grid),
 * 'regular' every k-th voxel along each axis, 'random' a seeded random subset without replacement.
 */
import { CoregError } from '../errors.js';
import { type Image, indexToPhysicalMatrix, numberOfPixels, physicalToIndexMatrix } from '../image/image.js';
import { linear2d, linear3d, nearestIndex2d, nearestIndex3d, type Plane } from '../interpolate/kernels.js';
import { interpolationPlane } from '../interpolate/interpolator.js';
import { createRandom, MULBERRY32_STEP, mulberry32Unit } from '../random.js';
import { sharedFloat64 } from './parallel-for.js';
import type { SamplingStrategy } from './config.js';

export interface SampleSet {
  dimension: 2 | 3;
  /** Number of samples. */
  count: number;
  /** Physical points, n×d row-major. */
  points: Float64Array;
  /** Fixed-image values at the points. */
  values: Float64Array;
  /** Linear voxel index of each sample in the fixed image (grid order for 'all'). */
  voxels: Int32Array;
}

/** Value of a mask (any grid) at a physical point: true when the nearest mask pixel is > 0. */
export function maskAt(mask: Image, N: Float64Array, p: ArrayLike<number>): boolean {
  const d = mask.dimension;
  const o = mask.origin;
  if (d === 2) {
    const dx = p[0] - o[0];
    const dy = p[1] - o[1];
    const k = nearestIndex2d(mask.size[0], mask.size[1], N[0] * dx + N[1] * dy, N[2] * dx + N[3] * dy);
    return k >= 0 && mask.data[k] > 0;
  }
  const dx = p[0] - o[0];
  const dy = p[1] - o[1];
  const dz = p[2] - o[2];
  const k = nearestIndex3d(
    mask.size[0],
    mask.size[1],
    mask.size[2],
    N[0] * dx + N[1] * dy + N[2] * dz,
    N[3] * dx + N[4] * dy + N[5] * dz,
    N[6] * dx + N[7] * dy + N[8] * dz,
  );
  return k >= 0 && mask.data[k] > 0;
}

export interface SamplingOptions {
  strategy: SamplingStrategy;
  /** Fraction of voxels for 'regular' and 'random'. */
  percentage?: number;
  seed: number;
  mask?: Image;
  /**
   * Move each sample to a random position inside its voxel and interpolate the fixed value there (elastix's
   * "RandomCoordinate"): breaks the grid alignment that biases MI with interpolation artefacts.
   */
  jitter?: boolean;
}

/**
 * The voxels of a sparse partial Fisher–Yates shuffle of 0…nc−1: the same `want` indices, in the same order, as
 * shuffling an explicit array of nc indices with the same generator, but in memory proportional to `want` (an
 * open-addressing map of the positions the shuffle has touched) rather than to the image: picking 150 000
 * samples of a 512×512×300 CT took 700 MB of index arrays before.
 */
export function sparseShuffle(nc: number, want: number, rand: () => number): Int32Array {
  const out = new Int32Array(want);
  // at most `want` positions are ever stored: a load factor ≤ 1/2
  let cap = 16;
  while (cap < 2 * want) cap *= 2;
  const keys = new Int32Array(cap).fill(-1);
  const vals = new Int32Array(cap);
  const mask = cap - 1;
  const slot = (k: number): number => {
    let h = Math.imul(k, 0x9e3779b1) & mask;
    while (keys[h] !== -1 && keys[h] !== k) h = (h + 1) & mask;
    return h;
  };
  for (let s = 0; s < want; s++) {
    const r = s + Math.floor(rand() * (nc - s));
    const hs = slot(s);
    const vs = keys[hs] === -1 ? s : vals[hs];
    const hr = slot(r);
    const vr = keys[hr] === -1 ? r : vals[hr];
    // position s is never read again; position r now holds what s held
    keys[hr] = r;
    vals[hr] = vs;
    out[s] = vr;
  }
  return out;
}

/** Chooses the sample set of one level from the (smoothed, shrunk) fixed image. */
export function sampleFixedImage(fixed: Image, opts: SamplingOptions): SampleSet {
  const d = fixed.dimension;
  const nx = fixed.size[0];
  const ny = fixed.size[1];
  const M = indexToPhysicalMatrix(fixed);
  const o = fixed.origin;
  const p = new Float64Array(d);
  const voxels = sampleVoxels(fixed, opts);
  const count = voxels.length;
  // On shared memory: the costs hand them to a team's threads as they are, without a shared copy of their own.
  const points = sharedFloat64(count * d);
  const values = sharedFloat64(count);
  if (opts.jitter) {
    // Pixel types that float32 holds exactly are read in place (the same values as interpolationPlane's float32
    // copy, without copying a whole volume for 150 000 samples).
    jitteredSamples(jitterPlane(fixed), fixed.size, o, M, voxels, jitterSeed(opts.seed), 0, count, points, values, p, new Float64Array(3));
  } else {
    const data = fixed.data;
    for (let s = 0; s < count; s++) {
      const v = voxels[s];
      voxelToPhysical(v, nx, ny, d, M, o, p);
      values[s] = data[v * fixed.components];
      for (let a = 0; a < d; a++) points[s * d + a] = p[a];
    }
  }
  return { dimension: d, count, points, values, voxels };
}

/**
 * Jittered samples [start, end) of a sample set: a random position inside each voxel voxels[s] (index → physical
 * `M`, `origin`), the plane's value interpolated linearly there. The generator is mulberry32 seeded `seed`, d draws
 * per sample; its state before sample `start`'s first draw is seed + d·start·MULBERRY32_STEP, so any split of the
 * samples into ranges gives the same samples. `p` (d) and `ci` (3) are scratch.
 */
export function jitteredSamples(plane: Plane, size: readonly number[], origin: readonly number[], M: Float64Array, voxels: Int32Array, seed: number, start: number, end: number, points: Float64Array, values: Float64Array, p: Float64Array, ci: Float64Array): void {
  const d = size.length;
  const nx = size[0];
  const ny = size[1];
  const nz = d === 3 ? size[2] : 1;
  let a = (seed + Math.imul(d * start, MULBERRY32_STEP)) | 0;
  for (let s = start; s < end; s++) {
    const v = voxels[s];
    a = (a + MULBERRY32_STEP) | 0;
    ci[0] = (v % nx) + mulberry32Unit(a) - 0.5;
    a = (a + MULBERRY32_STEP) | 0;
    ci[1] = (Math.floor(v / nx) % ny) + mulberry32Unit(a) - 0.5;
    if (d === 3) {
      a = (a + MULBERRY32_STEP) | 0;
      ci[2] = Math.floor(v / (nx * ny)) + mulberry32Unit(a) - 0.5;
    }
    for (let r = 0; r < d; r++) {
      let acc = origin[r];
      for (let c = 0; c < d; c++) acc += M[r * d + c] * ci[c];
      p[r] = acc;
    }
    values[s] = d === 2 ? linear2d(plane, nx, ny, ci[0], ci[1]) : linear3d(plane, nx, ny, nz, ci[0], ci[1], ci[2]);
    for (let r = 0; r < d; r++) points[s * d + r] = p[r];
  }
}

/** The seed of sampleFixedImage's jitter generator (createRandom) for sampling seed `seed`. */
export function jitterSeed(seed: number): number {
  return (seed ^ 0x5bd1e995) >>> 0;
}

/**
 * The values a jittered or drawn sample interpolates: pixel types that float32 holds exactly in place, else a float
 * plane (interpolationPlane's, in `allocate`'s array when given).
 */
export function jitterPlane(fixed: Image, allocate?: (n: number, wide: boolean) => Plane): Plane {
  const data = fixed.data;
  const inPlace = fixed.components === 1 && (data instanceof Uint8Array || data instanceof Int8Array || data instanceof Int16Array || data instanceof Uint16Array);
  return inPlace ? (data as unknown as Plane) : interpolationPlane(fixed, 0, allocate);
}

/** The voxels of sampleFixedImage's sample set (linear indices, in grid order). Throws when it is empty. */
export function sampleVoxels(fixed: Image, opts: SamplingOptions): Int32Array {
  const d = fixed.dimension;
  const n = numberOfPixels(fixed);
  const nx = fixed.size[0];
  const ny = fixed.size[1];
  const M = indexToPhysicalMatrix(fixed);
  const o = fixed.origin;
  const maskN = opts.mask ? physicalToIndexMatrix(opts.mask) : null;
  const p = new Float64Array(d);
  const fraction = Math.min(1, Math.max(0, opts.percentage ?? 1));
  const inMask = (v: number): boolean => {
    voxelToPhysical(v, nx, ny, d, M, o, p);
    return maskAt(opts.mask!, maskN!, p);
  };

  // The chosen voxels in grid order, sized by the samples taken (never a byte or an index per voxel).
  let voxels: Int32Array;
  if (opts.strategy === 'all' || fraction >= 1 || opts.strategy === 'regular') {
    const stride = opts.strategy === 'regular' && fraction < 1 ? Math.max(1, Math.round(Math.pow(1 / fraction, 1 / d))) : 1;
    const sx = Math.ceil(nx / stride);
    const sy = Math.ceil(ny / stride);
    const sz = d === 3 ? Math.ceil(fixed.size[2] / stride) : 1;
    const nz = d === 3 ? fixed.size[2] : 1;
    // Two passes with a mask (count, then fill), so that the array holds exactly the samples.
    const visit = (emit: ((v: number) => void) | null): number => {
      let c = 0;
      for (let k = 0; k < nz; k += stride) {
        for (let j = 0; j < ny; j += stride) {
          for (let i = 0; i < nx; i += stride) {
            const v = (k * ny + j) * nx + i;
            if (maskN && !inMask(v)) continue;
            if (emit) emit(v);
            c++;
          }
        }
      }
      return c;
    };
    const total = maskN ? visit(null) : sx * sy * sz;
    voxels = new Int32Array(total);
    let c = 0;
    visit((v) => {
      voxels[c++] = v;
    });
  } else {
    // Random subset: a partial Fisher–Yates shuffle of candidate ranks with a seeded generator. With a mask, the
    // candidates are the mask's voxels (as elastix draws), so a small mask still gets the samples asked for; the
    // chosen ranks are turned back into voxels by one more pass over the mask.
    const nc = maskN ? countWhere(n, inMask) : n;
    const want = Math.min(nc, Math.max(1, Math.round(fraction * n)));
    const ranks = nc > 0 ? sparseShuffle(nc, want, createRandom(opts.seed)).sort() : new Int32Array(0);
    if (maskN) {
      let rank = 0;
      let next = 0;
      for (let v = 0; v < n && next < ranks.length; v++) {
        if (!inMask(v)) continue;
        if (rank === ranks[next]) ranks[next++] = v;
        rank++;
      }
    }
    voxels = ranks;
  }

  if (voxels.length === 0) {
    throw new CoregError(opts.mask ? 'fixedMask' : 'fixed image', opts.mask ? 'the fixed mask selects no voxel of the fixed image' : 'no samples could be taken');
  }
  return voxels;
}

function countWhere(n: number, test: (v: number) => boolean): number {
  let c = 0;
  for (let v = 0; v < n; v++) if (test(v)) c++;
  return c;
}

function voxelToPhysical(v: number, nx: number, ny: number, d: number, M: Float64Array, o: readonly number[], out: Float64Array): void {
  const i = v % nx;
  const j = Math.floor(v / nx) % ny;
  if (d === 2) {
    out[0] = o[0] + M[0] * i + M[1] * j;
    out[1] = o[1] + M[2] * i + M[3] * j;
    return;
  }
  const k = Math.floor(v / (nx * ny));
  out[0] = o[0] + M[0] * i + M[1] * j + M[2] * k;
  out[1] = o[1] + M[3] * i + M[4] * j + M[5] * k;
  out[2] = o[2] + M[6] * i + M[7] * j + M[8] * k;
}
