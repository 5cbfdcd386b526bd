/**
 * Gaussian scale space for keypoints, in physical space.
 *
 * The image is first brought onto a WORKING GRID with cubic (equal) voxels h along the image's own axes (same
 * origin and direction; anisotropic voxels are resampled by linear interpolation after an anti-aliasing blur), so
 * that every Gaussian is isotropic in millimetres. Intensities are scaled so that the range [min, 99.5 % quantile]
 * becomes [0, 1] (thresholds are then relative). Octave o holds the working grid subsampled by 2^o (voxel h·2^o,
 * the same origin: octave index i sits at origin + D·(h·2^o)·i); level l of an octave has the absolute blur
 * σ0·2^(l/s) octave voxels (s = scalesPerOctave, s + 3 levels per octave as SIFT needs for s DoG scales).
 * The keypoint detector and both descriptors read the same scale space (cached per image object).
 */
import type { Image } from '../image/image.js';
import { invertMatrix, numberOfPixels } from '../image/image.js';
import { quantiles } from '../image/intensity.js';
import { smoothInPlace } from '../pyramid/smooth.js';

export interface ScaleSpaceOptions {
  /**
   * Working voxel size in mm; default: the finest spacing (2D: half of it, as SIFT doubles the image), made coarser
   * until the grid has at most maxVoxels.
   */
  workingSpacing?: number;
  /** Most voxels of the working grid (default 2^20 in 2D, 2^22 in 3D): bounds the time on large volumes. */
  maxVoxels?: number;
  /** DoG scales per octave (SIFT's s, default 3). */
  scalesPerOctave?: number;
  /** Blur of each octave's first level in octave voxels (default 1.6, as SIFT). */
  sigma0?: number;
  /** Most octaves (default 4); fewer when the grid gets smaller than 12 voxels along an axis. */
  octaves?: number;
  /**
   * Intensities to [0, 1] by 'rank' (the cumulative distribution: contrasts are population fractions, so CT's
   * −1000…3000 HU range does not squash soft tissue; but it depends on the field of view) or 'range' ([min,
   * 99.5 % quantile] linearly; the default).
   */
  intensity?: 'rank' | 'range';
}

export interface Octave {
  /** Grid size of this octave. */
  size: number[];
  /** Voxel size in mm (h·2^o). */
  spacing: number;
  /** s + 3 Gaussian levels, float32, x fastest. */
  levels: Float32Array[];
}

export interface ScaleSpace {
  dimension: 2 | 3;
  /** Physical position of working index 0 (= the image's origin). */
  origin: number[];
  /** The image's direction (row-major, columns = axes). */
  direction: Float64Array;
  /** Inverse of the direction matrix (physical offset → axis units). */
  inverseDirection: Float64Array;
  /** Working voxel size (mm) of octave 0. */
  baseSpacing: number;
  scalesPerOctave: number;
  sigma0: number;
  octaves: Octave[];
  /** False when the image is constant (no octave is built). */
  hasContrast: boolean;
  /** The options this was built with (resolved). */
  key: string;
}

/** Nominal blur of the working image (voxels), as SIFT assumes for a sampled image. */
const NOMINAL_BLUR = 0.5;
/** Octaves stop before an axis gets shorter than this. */
const MIN_OCTAVE_SIZE = 12;

function resolve(image: Image, options: ScaleSpaceOptions): Required<ScaleSpaceOptions> {
  const d = image.dimension;
  const maxVoxels = options.maxVoxels ?? (d === 2 ? 2 ** 20 : 2 ** 22);
  let h = options.workingSpacing ?? 0;
  if (!(h > 0)) {
    // 2D: half the finest spacing (SIFT doubles the image: many more stable keypoints on small slices).
    h = Math.min(...image.spacing) / (d === 2 ? 2 : 1);
    let voxels = 1;
    for (let a = 0; a < d; a++) voxels *= ((image.size[a] - 1) * image.spacing[a]) / h + 1;
    if (voxels > maxVoxels) h *= Math.pow(voxels / maxVoxels, 1 / d);
  }
  return {
    workingSpacing: h,
    maxVoxels,
    scalesPerOctave: Math.max(1, Math.round(options.scalesPerOctave ?? 3)),
    sigma0: options.sigma0 ?? 1.6,
    octaves: Math.max(1, Math.round(options.octaves ?? 4)),
    intensity: options.intensity === 'rank' ? 'rank' : 'range',
  };
}

/** Quantiles in the rank table (the cumulative distribution is interpolated linearly between them). */
const RANK_TABLE = 1024;

/**
 * Replaces each finite value by its rank in [0, 1] (the empirical cumulative distribution, from RANK_TABLE + 1
 * quantiles, linear between them; a value equal to a run of quantiles, e.g. CT's air, takes the middle of the run);
 * non-finite values become 0. Monotone, so extrema stay extrema; contrasts become population fractions, whatever
 * the unit (HU, arbitrary MR units).
 */
function rankIntensities(data: Float32Array): void {
  const qs: number[] = [];
  for (let k = 0; k <= RANK_TABLE; k++) qs.push(k / RANK_TABLE);
  const q = quantiles(data, qs);
  if (!q) return;
  const K = RANK_TABLE;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (!Number.isFinite(v)) {
      data[i] = 0;
      continue;
    }
    // lower = first q ≥ v, upper = first q > v.
    let lo = 0;
    let hi = K + 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (q[mid] < v) lo = mid + 1;
      else hi = mid;
    }
    const lower = lo;
    hi = K + 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (q[mid] <= v) lo = mid + 1;
      else hi = mid;
    }
    const upper = lo;
    let r: number;
    if (upper > lower) r = (lower + upper - 1) / 2;
    else if (lower === 0) r = 0;
    else if (lower > K) r = K;
    else r = lower - 1 + (v - q[lower - 1]) / (q[lower] - q[lower - 1]);
    data[i] = r / K;
  }
}

/** Resamples one axis of a float32 volume by linear interpolation at positions j·step (clamped at the end). */
function resampleAxis(src: Float32Array, size: number[], axis: number, outLength: number, step: number): Float32Array {
  const n = size[axis];
  let stride = 1;
  for (let b = 0; b < axis; b++) stride *= size[b];
  const blocks = src.length / (stride * n);
  const out = new Float32Array(blocks * stride * outLength);
  const lo = new Int32Array(outLength);
  const wt = new Float64Array(outLength);
  for (let j = 0; j < outLength; j++) {
    const x = Math.min(j * step, n - 1);
    const i0 = Math.min(Math.floor(x), n - 2 < 0 ? 0 : n - 2);
    lo[j] = i0;
    wt[j] = n > 1 ? x - i0 : 0;
  }
  for (let b = 0; b < blocks; b++) {
    const inBase = b * stride * n;
    const outBase = b * stride * outLength;
    for (let j = 0; j < outLength; j++) {
      const a0 = inBase + lo[j] * stride;
      const a1 = n > 1 ? a0 + stride : a0;
      const w = wt[j];
      const o = outBase + j * stride;
      for (let t = 0; t < stride; t++) out[o + t] = src[a0 + t] * (1 - w) + src[a1 + t] * w;
    }
  }
  return out;
}

/** Every second voxel along each axis (index 0 kept, so the origin stays). */
function subsample(src: Float32Array, size: number[]): { data: Float32Array; size: number[] } {
  const d = size.length;
  const out = size.map((n) => (n + 1) >> 1);
  const data = new Float32Array(numberOfPixels({ size: out }));
  const nx = size[0];
  const ny = size[1];
  const nz = d === 3 ? size[2] : 1;
  const ox = out[0];
  const oy = out[1];
  const oz = d === 3 ? out[2] : 1;
  let q = 0;
  for (let z = 0; z < oz; z++) {
    for (let y = 0; y < oy; y++) {
      const row = (2 * z * ny + 2 * y) * nx;
      for (let x = 0; x < ox; x++) data[q++] = src[row + 2 * x];
    }
  }
  void nz;
  return { data, size: out };
}

/**
 * The working voxel size (mm) the scale space of `image` uses with these options. For a pair of images on grids of
 * different extents, pass the larger of the two to both (`workingSpacing`) so that both detect on the same scales.
 */
export function defaultWorkingSpacing(image: Image, options: ScaleSpaceOptions = {}): number {
  return resolve(image, options).workingSpacing;
}

const CACHE = new WeakMap<Image, ScaleSpace>();

/**
 * The scale space of an image (cached per image object and options: detection and description share it).
 */
export function scaleSpace(image: Image, options: ScaleSpaceOptions = {}): ScaleSpace {
  const r = resolve(image, options);
  const key = JSON.stringify(r);
  const cached = CACHE.get(image);
  if (cached && cached.key === key) return cached;
  const built = buildScaleSpace(image, r, key);
  CACHE.set(image, built);
  return built;
}

function buildScaleSpace(image: Image, r: Required<ScaleSpaceOptions>, key: string): ScaleSpace {
  const d = image.dimension;
  const direction = Float64Array.from(image.direction);
  const base: ScaleSpace = {
    dimension: d,
    origin: image.origin.slice(),
    direction,
    inverseDirection: invertMatrix(direction, d),
    baseSpacing: r.workingSpacing,
    scalesPerOctave: r.scalesPerOctave,
    sigma0: r.sigma0,
    octaves: [],
    hasContrast: false,
    key,
  };
  // Intensities: first component, to [0, 1] by rank or by the range [min, q99.5].
  const n = numberOfPixels(image);
  const comps = image.components;
  const src = image.data;
  let data: Float32Array = new Float32Array(n);
  let min = Infinity;
  for (let i = 0; i < n; i++) {
    const v = src[i * comps];
    if (Number.isFinite(v)) {
      data[i] = v;
      if (v < min) min = v;
    } else data[i] = NaN;
  }
  const q = quantiles(data, [0.995, 1]);
  if (!q || !(min < Infinity)) return base;
  let hi = q[0];
  if (!(hi > min)) hi = q[1];
  if (!(hi > min)) return base;
  if (r.intensity === 'rank') rankIntensities(data);
  else {
    const scale = 1 / (hi - min);
    for (let i = 0; i < n; i++) {
      const v = data[i];
      data[i] = Number.isFinite(v) ? (v - min) * scale : 0;
    }
  }
  // Working grid: equal voxels h along the image's axes.
  const h = r.workingSpacing;
  let size = image.size.slice();
  const blur = image.spacing.map((s) => (h > s * 1.0001 ? 0.5 * Math.sqrt((h / s) ** 2 - 1) : 0));
  if (blur.some((b) => b > 0)) smoothInPlace(data, size, 1, blur);
  for (let a = 0; a < d; a++) {
    const step = h / image.spacing[a];
    if (Math.abs(step - 1) < 1e-9) continue;
    const outLength = Math.max(1, Math.floor(((size[a] - 1) * image.spacing[a]) / h + 1e-9) + 1);
    data = resampleAxis(data, size, a, outLength, step);
    size = size.slice();
    size[a] = outLength;
  }
  // Octaves.
  const s = r.scalesPerOctave;
  const k = Math.pow(2, 1 / s);
  const sigmas: number[] = [];
  for (let l = 0; l < s + 3; l++) sigmas.push(r.sigma0 * Math.pow(k, l));
  // The sampled image's own blur, in working voxels (more when the working grid is finer than the image's).
  const nominal = NOMINAL_BLUR * Math.max(1, Math.min(...image.spacing) / h);
  const first = Math.sqrt(Math.max(0, r.sigma0 ** 2 - nominal ** 2));
  smoothInPlace(data, size, 1, new Array<number>(d).fill(first));
  let current = data;
  for (let o = 0; o < r.octaves; o++) {
    if (Math.min(...size) < MIN_OCTAVE_SIZE) break;
    const levels: Float32Array[] = [current];
    for (let l = 1; l < s + 3; l++) {
      const next = Float32Array.from(levels[l - 1]);
      const inc = Math.sqrt(sigmas[l] ** 2 - sigmas[l - 1] ** 2);
      smoothInPlace(next, size, 1, new Array<number>(d).fill(inc));
      levels.push(next);
    }
    base.octaves.push({ size: size.slice(), spacing: h * 2 ** o, levels });
    const sub = subsample(levels[s], size);
    current = sub.data;
    size = sub.size;
  }
  base.hasContrast = base.octaves.length > 0;
  return base;
}

/**
 * Linear interpolation in a 2D/3D float32 volume at a continuous index, clamped to the edge voxels (the
 * descriptors' patches may reach a little past the border).
 */
export function sampleClamped(data: Float32Array, size: readonly number[], x: number, y: number, z: number): number {
  const nx = size[0];
  const ny = size[1];
  if (x < 0) x = 0;
  else if (x > nx - 1) x = nx - 1;
  if (y < 0) y = 0;
  else if (y > ny - 1) y = ny - 1;
  let x0 = Math.floor(x);
  let y0 = Math.floor(y);
  if (x0 >= nx - 1) x0 = nx > 1 ? nx - 2 : 0;
  if (y0 >= ny - 1) y0 = ny > 1 ? ny - 2 : 0;
  const fx = x - x0;
  const fy = y - y0;
  const x1 = nx > 1 ? 1 : 0;
  const y1 = ny > 1 ? nx : 0;
  if (size.length === 2) {
    const i = x0 + nx * y0;
    return (data[i] * (1 - fx) + data[i + x1] * fx) * (1 - fy) + (data[i + y1] * (1 - fx) + data[i + y1 + x1] * fx) * fy;
  }
  const nz = size[2];
  if (z < 0) z = 0;
  else if (z > nz - 1) z = nz - 1;
  let z0 = Math.floor(z);
  if (z0 >= nz - 1) z0 = nz > 1 ? nz - 2 : 0;
  const fz = z - z0;
  const z1 = nz > 1 ? nx * ny : 0;
  const i = x0 + nx * (y0 + ny * z0);
  const a = (data[i] * (1 - fx) + data[i + x1] * fx) * (1 - fy) + (data[i + y1] * (1 - fx) + data[i + y1 + x1] * fx) * fy;
  const j = i + z1;
  const b = (data[j] * (1 - fx) + data[j + x1] * fx) * (1 - fy) + (data[j + y1] * (1 - fx) + data[j + y1 + x1] * fx) * fy;
  return a * (1 - fz) + b * fz;
}

/** Octave-o continuous index of a physical point (written into out). */
export function physicalToOctaveIndex(space: ScaleSpace, o: number, p: ArrayLike<number>, out: Float64Array): Float64Array {
  const d = space.dimension;
  const h = space.octaves[o].spacing;
  const inv = space.inverseDirection;
  for (let r = 0; r < d; r++) {
    let v = 0;
    for (let c = 0; c < d; c++) v += inv[r * d + c] * (p[c] - space.origin[c]);
    out[r] = v / h;
  }
  return out;
}

/** Physical point of an octave-o continuous index (written into out at offset). */
export function octaveIndexToPhysical(space: ScaleSpace, o: number, idx: ArrayLike<number>, out: Float64Array, offset = 0): void {
  const d = space.dimension;
  const h = space.octaves[o].spacing;
  const D = space.direction;
  for (let r = 0; r < d; r++) {
    let v = space.origin[r];
    for (let c = 0; c < d; c++) v += D[r * d + c] * h * idx[c];
    out[offset + r] = v;
  }
}

/**
 * The octave and level (0 … s + 2) whose blur is nearest (in log scale) to a physical σ: the level a keypoint
 * of that scale is described at. Null when the scale space has no octave.
 */
export function levelForScale(space: ScaleSpace, sigmaMm: number): { octave: number; level: number } | null {
  const O = space.octaves.length;
  if (O === 0) return null;
  const s = space.scalesPerOctave;
  const t = s * Math.log2(sigmaMm / (space.sigma0 * space.baseSpacing));
  let o = Math.floor(t / s);
  if (o < 0) o = 0;
  if (o > O - 1) o = O - 1;
  let l = Math.round(t - o * s);
  if (l < 0) l = 0;
  if (l > s + 2) l = s + 2;
  return { octave: o, level: l };
}
