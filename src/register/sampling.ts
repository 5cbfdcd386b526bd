/**
 * Fixed-image sample sets: physical points (n×d, LPS mm) and their fixed values, chosen once per level.
 * 'all' takes every voxel in the fixed mask (in grid order, so dense metrics such as lncc can use it as a grid),
 * 'regular' every k-th voxel along each axis, 'random' a seeded random subset without replacement.
 */
import { CoregError } from '../errors.js';
import { type Image, indexToPhysicalMatrix, numberOfPixels, physicalToIndexMatrix } from '../image/image.js';
import { linear2d, linear3d, nearestIndex2d, nearestIndex3d } from '../interpolate/kernels.js';
import { interpolationPlane } from '../interpolate/interpolator.js';
import { createRandom } from './random.js';
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

/** Chooses the sample set of one level from the (smoothed, shrunk) fixed image. */
export function sampleFixedImage(fixed: Image, opts: SamplingOptions): SampleSet {
  const d = fixed.dimension;
  const n = numberOfPixels(fixed);
  const nx = fixed.size[0];
  const ny = fixed.size[1];
  const M = indexToPhysicalMatrix(fixed);
  const o = fixed.origin;
  const maskN = opts.mask ? physicalToIndexMatrix(opts.mask) : null;
  const p = new Float64Array(d);
  const pick = new Uint8Array(n);
  const fraction = Math.min(1, Math.max(0, opts.percentage ?? 1));

  if (opts.strategy === 'all' || fraction >= 1) {
    pick.fill(1);
  } else if (opts.strategy === 'regular') {
    const stride = Math.max(1, Math.round(Math.pow(1 / fraction, 1 / d)));
    for (let v = 0; v < n; v++) {
      const i = v % nx;
      const j = Math.floor(v / nx) % ny;
      const k = Math.floor(v / (nx * ny));
      if (i % stride === 0 && j % stride === 0 && (d === 2 || k % stride === 0)) pick[v] = 1;
    }
  } else {
    // Random subset: a partial Fisher–Yates shuffle of voxel indices with a seeded generator. With a mask, the
    // candidates are the mask's voxels (as elastix draws), so a small mask still gets the samples asked for.
    let candidates: Int32Array;
    if (maskN) {
      const inside = new Int32Array(n);
      let c = 0;
      for (let v = 0; v < n; v++) {
        voxelToPhysical(v, nx, ny, d, M, o, p);
        if (maskAt(opts.mask!, maskN, p)) inside[c++] = v;
      }
      candidates = inside.subarray(0, c);
    } else {
      candidates = new Int32Array(n);
      for (let v = 0; v < n; v++) candidates[v] = v;
    }
    const nc = candidates.length;
    const want = Math.min(nc, Math.max(1, Math.round(fraction * n)));
    const rand = createRandom(opts.seed);
    for (let s = 0; s < want; s++) {
      const r = s + Math.floor(rand() * (nc - s));
      const t = candidates[s];
      candidates[s] = candidates[r];
      candidates[r] = t;
      pick[candidates[s]] = 1;
    }
  }

  let count = 0;
  const voxels = new Int32Array(n);
  for (let v = 0; v < n; v++) {
    if (!pick[v]) continue;
    if (maskN) {
      voxelToPhysical(v, nx, ny, d, M, o, p);
      if (!maskAt(opts.mask!, maskN, p)) continue;
    }
    voxels[count++] = v;
  }
  if (count === 0) {
    throw new CoregError(opts.mask ? '--fixed-mask' : 'fixed image', opts.mask ? 'the fixed mask selects no voxel of the fixed image' : 'no samples could be taken');
  }
  const points = new Float64Array(count * d);
  const values = new Float64Array(count);
  const data = fixed.data;
  const jitterRandom = opts.jitter ? createRandom(opts.seed ^ 0x5bd1e995) : null;
  const plane = opts.jitter ? interpolationPlane(fixed, 0) : null;
  const ci = new Float64Array(3);
  for (let s = 0; s < count; s++) {
    const v = voxels[s];
    if (jitterRandom) {
      ci[0] = (v % nx) + jitterRandom() - 0.5;
      ci[1] = (Math.floor(v / nx) % ny) + jitterRandom() - 0.5;
      if (d === 3) ci[2] = Math.floor(v / (nx * ny)) + jitterRandom() - 0.5;
      for (let r = 0; r < d; r++) {
        let acc = o[r];
        for (let c = 0; c < d; c++) acc += M[r * d + c] * ci[c];
        p[r] = acc;
      }
      values[s] = d === 2 ? linear2d(plane!, nx, ny, ci[0], ci[1]) : linear3d(plane!, nx, ny, fixed.size[2], ci[0], ci[1], ci[2]);
    } else {
      voxelToPhysical(v, nx, ny, d, M, o, p);
      values[s] = data[v * fixed.components];
    }
    for (let a = 0; a < d; a++) points[s * d + a] = p[a];
  }
  return { dimension: d, count, points, values, voxels: voxels.slice(0, count) };
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
