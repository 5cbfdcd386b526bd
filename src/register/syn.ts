/**
 * Dense symmetric diffeomorphic registration: greedy SyN (Avants et al. 2008, as in ANTs' SyNImageRegistrationMethod).
 *
 * Both images are deformed toward a midpoint on the virtual domain (the fixed grid at each pyramid level). Two
 * half fields on that grid sample the images:
 *   F_mid(x) = F(x + s₁(x))            (middle → fixed,  φ₁⁻¹ in Avants et al. 2008's notation)
 *   M_mid(x) = M(A(x + s₂(x)))         (middle → pre-aligned moving, φ₂⁻¹; A = the affine pre-alignment)
 * Each iteration takes the metric's derivative at the midpoint for both halves, δ = −(∂C/∂I_mid)·∇I_mid with the
 * gradient of the warped image by central differences (physical units), smooths δ with `gradientSigma` voxels,
 * zeroes it on the grid border, scales it so its largest displacement is `stepSize` voxels and composes it on the
 * right of the half field: s ← s∘(id + δ), i.e. s(x) ← δ(x) + s(x + δ(x)). The new half fields may then be smoothed
 * with `totalSigma`. The inverse half fields (φ₁ = fixed → middle, φ₂ = moving → middle) follow each step to
 * first order, s⁻¹ ← (id − δ)∘s⁻¹ (one composition, as ANTs composes small steps, instead of a full fixed-point
 * inversion per iteration), and are refined by warm-started fixed-point inversion once at the end of each level.
 *
 * Result, on the full-resolution fixed grid: forward u(x) = φ₂⁻¹∘φ₁ − id (fixed → pre-aligned moving) and
 * inverse v = φ₁⁻¹∘φ₂ − id (pre-aligned moving → fixed), so that x + v(x) undoes y ↦ y + u(y).
 * CHAIN CONVENTION (coreg applies chains first-first): the field comes FIRST and the affine SECOND,
 *   T(x) = A(x + u(x)),  i.e. chain [DisplacementFieldTransform(forward), initial];
 * the inverse map moving → fixed is y ↦ A⁻¹(y) + v(A⁻¹(y)), i.e. chain [A⁻¹, DisplacementFieldTransform(inverse)].
 *
 * Folding guard: a level stops (with a warning, keeping the last good fields) as soon as an update would make
 * either half field's Jacobian determinant ≤ 0 anywhere.
 *
 * Memory per voxel of a level (3D): seven float32 3-component fields (two half fields and their inverses, the
 * update, two candidates: 84 B), the two warped images and their two metric derivatives in float32 and a byte mask (17 B);
 * lncc streams its window sums through rings of slices (a few MB). Cost per iteration is linear in the voxel
 * count (warps, lncc box sums, two update smoothings, two compositions, two Jacobian checks).
 */
import { identity } from '../image/linalg.js';
import { checkImagePair } from './check-images.js';
import { CoregError, type WarningSink } from '../errors.js';
import { finiteRange, indexToPhysicalMatrix, numberOfPixels, physicalToIndexMatrix, type Image, gridOf } from '../image/image.js';
import { linear2d, linear3d } from '../interpolate/kernels.js';
import { DEFAULT_BINS, METRICS, type MetricState, type SampledMetric } from '../metric/index.js';
import { lnccDenseDerivatives, type LnccWorkspace } from '../metric/lncc.js';
import { abortError } from '../optimize/driver.js';
import { gaussianSmooth, scheduleFromLevels, smoothAndShrink, type PyramidSchedule } from '../pyramid/index.js';
import type { LinearTransform } from '../transform/transform.js';
import {
  composeFields,
  createField,
  fieldImage,
  invertField,
  maxDisplacementVoxels,
  minJacobianDeterminant,
  scaleField,
  smoothField,
  upsampleField,
  zeroFieldBorder,
} from '../transform/dense-field.js';
import type { GridLike } from '../image/image.js';

export type SynMetric = 'mse' | 'lncc' | 'mi';
export const SYN_METRICS: readonly SynMetric[] = ['mse', 'lncc', 'mi'];

export interface SynOptions {
  /** Similarity measure (default 'lncc', ANTs' CC). */
  metric?: SynMetric;
  /** lncc window radius in voxels (default 2). */
  radius?: number;
  /** Histogram bins for mi (default 32). */
  bins?: number;
  /** Shrink factor per level, coarsest first (default 4x2x1; capped as in scheduleFromLevels). */
  shrink?: number[];
  /** Smoothing sigma per level in voxels of the original images (default log2(shrink): 2x1x0). */
  smooth?: number[];
  /** Unit of `smooth`: 'vox' (default) or 'mm'. */
  smoothUnit?: 'vox' | 'mm';
  /**
   * Iterations per level (default 100x70x40 in 2D; 50x30x10 in 3D, where a full-resolution iteration of a
   * 181×217×181 brain costs seconds and the coarse levels already recover smooth deformations: see
   * bench/syn-speed.ts).
   */
  iterations?: number[];
  /** σ (voxels) of the Gaussian applied to each update field (default 3). ANTs' SyN[·, 3, 0] passes a variance. */
  gradientSigma?: number;
  /** σ (voxels) of the Gaussian applied to the half fields after each update (default 1: it keeps noise out of the
   *  field; with noisy 3D cases 0.10 mm instead of 0.125 mm mean TRE). */
  totalSigma?: number;
  /** Largest displacement of one update, in voxels of the level (default 0.25). */
  stepSize?: number;
  /** Iterations the convergence test looks back over (default 10). */
  convergenceWindow?: number;
  /** A level stops when the metric's fitted slope over the window decreases by less than this fraction of its
   *  mean per iteration (default 1e-6). */
  convergenceThreshold?: number;
}

export interface SynProgressEvent {
  level: number;
  levelCount: number;
  /** 1-based iteration just finished within the level. */
  iteration: number;
  maxIterations: number;
  /** Metric cost at the midpoint before this iteration's update. */
  value: number;
}

export interface SynRunOptions {
  /** Affine pre-alignment, fixed → moving; the field composes before it (see the file comment). */
  initial?: LinearTransform;
  onProgress?: (event: SynProgressEvent) => void;
  signal?: AbortSignal;
  warn?: WarningSink;
}

export type SynStopReason = 'maximum iterations' | 'converged' | 'folding' | 'no gradient' | 'non-finite value';

export interface SynLevelLog {
  size: number[];
  shrink: number[];
  smoothMm: number[];
  iterations: number;
  /** Midpoint metric cost at the last iteration (NaN when no iteration ran). */
  value: number;
  stopReason: SynStopReason;
  /** Smallest Jacobian determinant of the two half fields at the end of the level. */
  minJacobian: number;
  /** Largest residual (mm) of the two inverse half fields at the end of the level. */
  inverseResidual: number;
  seconds: number;
}

export interface SynResult {
  /** Displacement field u on the fixed grid (LPS mm, d components): T(x) = A(x + u(x)). */
  forward: Image<Float32Array>;
  /** Displacement field v on the fixed grid: x ↦ x + v(x) inverts y ↦ y + u(y) (pre-aligned moving → fixed). */
  inverse: Image<Float32Array>;
  levels: SynLevelLog[];
  /** Smallest Jacobian determinant of the forward field (≤ 0 would mean folding). */
  minJacobian: number;
  seconds: number;
}

interface ResolvedOptions {
  metric: SynMetric;
  radius: number;
  bins: number;
  shrink: number[];
  smooth: number[];
  smoothUnit: 'vox' | 'mm';
  iterations: number[];
  gradientSigma: number;
  totalSigma: number;
  stepSize: number;
  window: number;
  threshold: number;
}

function now(): number {
  return typeof performance !== 'undefined' ? performance.now() : Date.now();
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

function numberIn(value: number | undefined, fallback: number, name: string, ok: (v: number) => boolean, what: string): number {
  const v = value ?? fallback;
  if (!ok(v)) throw new CoregError(name, `must be ${what}, got ${v}`, 2);
  return v;
}

function resolveOptions(options: SynOptions, d: number): ResolvedOptions {
  const metric = options.metric ?? 'lncc';
  if (!SYN_METRICS.includes(metric)) throw new CoregError('--metric', `syn supports ${SYN_METRICS.join(', ')}, got "${String(metric)}"`, 2);
  const defaultIterations = d === 3 ? [50, 30, 10] : [100, 70, 40];
  const levelCount = options.iterations?.length ?? options.shrink?.length ?? options.smooth?.length ?? defaultIterations.length;
  const shrink = options.shrink ?? Array.from({ length: levelCount }, (_, l) => 2 ** (levelCount - 1 - l));
  const smooth = options.smooth ?? shrink.map((f) => Math.log2(f));
  const iterations = options.iterations ?? (levelCount === defaultIterations.length ? defaultIterations : new Array<number>(levelCount).fill(50));
  for (const [list, name] of [
    [shrink, '--shrink'],
    [smooth, '--smooth'],
    [iterations, '--iterations'],
  ] as const) {
    if (list.length !== levelCount) throw new CoregError(name, `needs one value per level (${levelCount}), got ${list.length}`, 2);
  }
  for (const it of iterations) {
    if (!(Number.isInteger(it) && it >= 0)) throw new CoregError('--iterations', `must be integers ≥ 0, got ${it}`, 2);
  }
  return {
    metric,
    radius: numberIn(options.radius, 2, 'radius', (v) => Number.isInteger(v) && v >= 1, 'a whole number of voxels ≥ 1'),
    bins: numberIn(options.bins, DEFAULT_BINS, 'bins', (v) => Number.isInteger(v) && v >= 5, 'an integer ≥ 5'),
    shrink,
    smooth,
    smoothUnit: options.smoothUnit === 'mm' ? 'mm' : 'vox',
    iterations,
    gradientSigma: numberIn(options.gradientSigma, 3, 'gradientSigma', (v) => Number.isFinite(v) && v >= 0, 'finite and ≥ 0 (voxels)'),
    totalSigma: numberIn(options.totalSigma, 1, 'totalSigma', (v) => Number.isFinite(v) && v >= 0, 'finite and ≥ 0 (voxels)'),
    stepSize: numberIn(options.stepSize, 0.25, 'stepSize', (v) => Number.isFinite(v) && v > 0, 'finite and > 0 (voxels)'),
    window: numberIn(options.convergenceWindow, 10, 'convergenceWindow', (v) => Number.isInteger(v) && v >= 2, 'an integer ≥ 2'),
    threshold: numberIn(options.convergenceThreshold, 1e-6, 'convergenceThreshold', (v) => Number.isFinite(v) && v >= 0, 'finite and ≥ 0'),
  };
}

function checkImages(fixed: Image, moving: Image, initial: LinearTransform | undefined): void {
  checkImagePair(fixed, moving);
  if (initial && initial.dimension !== fixed.dimension) {
    throw new CoregError('initial', `transform is ${initial.dimension}D but the images are ${fixed.dimension}D`);
  }
}

function levelImage(img: Image, schedule: PyramidSchedule, level: number): Image<Float32Array> {
  if (schedule.shrink[level].every((f) => f === 1)) return gaussianSmooth(img, schedule.sigmasMm[level]);
  return smoothAndShrink(img, schedule.sigmasMm[level], schedule.shrink[level]);
}

/**
 * Continuous index in `image` of the point A(x + s(x)) for grid voxel i, as ci = G·i + H·s + c (row-major 3×3
 * padded): G = Nᵢ·A·M_g, H = Nᵢ·A, c = Nᵢ·(A·o_g + t − oᵢ).
 */
function samplingMap(grid: GridLike, image: GridLike, matrix: ArrayLike<number>, offset: ArrayLike<number>): { g: Float64Array; h: Float64Array; c: Float64Array } {
  const d = grid.dimension;
  const ni = physicalToIndexMatrix(image);
  const mg = indexToPhysicalMatrix(grid);
  const h = new Float64Array(9);
  const g = new Float64Array(9);
  const c = new Float64Array(3);
  const na = new Float64Array(d * d);
  for (let r = 0; r < d; r++) {
    for (let col = 0; col < d; col++) {
      let s = 0;
      for (let k = 0; k < d; k++) s += ni[r * d + k] * matrix[k * d + col];
      na[r * d + col] = s;
      h[r * 3 + col] = s;
    }
  }
  for (let r = 0; r < d; r++) {
    for (let col = 0; col < d; col++) {
      let s = 0;
      for (let k = 0; k < d; k++) s += na[r * d + k] * mg[k * d + col];
      g[r * 3 + col] = s;
    }
  }
  const q = new Float64Array(d);
  for (let r = 0; r < d; r++) {
    let s = offset[r] - image.origin[r];
    for (let k = 0; k < d; k++) s += matrix[r * d + k] * grid.origin[k];
    q[r] = s;
  }
  for (let r = 0; r < d; r++) {
    let s = 0;
    for (let k = 0; k < d; k++) s += ni[r * d + k] * q[k];
    c[r] = s;
  }
  return { g, h, c };
}

/**
 * out[i] ← image at G·i + H·s(i) + c (linear, the value extended beyond the outer pixel centres); the mask keeps
 * voxels whose point lies in the image domain (−0.5 ≤ ci ≤ n − 0.5): set when `first`, and-ed otherwise.
 */
function warp2d(
  image: Float32Array,
  inx: number,
  iny: number,
  s: Float32Array,
  nx: number,
  ny: number,
  g: Float64Array,
  h: Float64Array,
  c: Float64Array,
  out: Float32Array,
  mask: Uint8Array,
  first: boolean,
): void {
  const xmax = inx - 1;
  const ymax = iny - 1;
  let p = 0;
  for (let j = 0; j < ny; j++) {
    for (let i = 0; i < nx; i++, p++) {
      const s0 = s[2 * p];
      const s1 = s[2 * p + 1];
      let x = c[0] + g[0] * i + g[1] * j + h[0] * s0 + h[1] * s1;
      let y = c[1] + g[3] * i + g[4] * j + h[3] * s0 + h[4] * s1;
      const inside = x >= -0.5 && x <= inx - 0.5 && y >= -0.5 && y <= iny - 0.5 ? 1 : 0;
      mask[p] = first ? inside : mask[p] & inside;
      if (!(x > 0)) x = 0;
      else if (x > xmax) x = xmax;
      if (!(y > 0)) y = 0;
      else if (y > ymax) y = ymax;
      out[p] = linear2d(image, inx, iny, x, y);
    }
  }
}

function warp3d(
  image: Float32Array,
  inx: number,
  iny: number,
  inz: number,
  s: Float32Array,
  nx: number,
  ny: number,
  nz: number,
  g: Float64Array,
  h: Float64Array,
  c: Float64Array,
  out: Float32Array,
  mask: Uint8Array,
  first: boolean,
): void {
  const xmax = inx - 1;
  const ymax = iny - 1;
  const zmax = inz - 1;
  let p = 0;
  for (let k = 0; k < nz; k++) {
    for (let j = 0; j < ny; j++) {
      for (let i = 0; i < nx; i++, p++) {
        const s0 = s[3 * p];
        const s1 = s[3 * p + 1];
        const s2 = s[3 * p + 2];
        let x = c[0] + g[0] * i + g[1] * j + g[2] * k + h[0] * s0 + h[1] * s1 + h[2] * s2;
        let y = c[1] + g[3] * i + g[4] * j + g[5] * k + h[3] * s0 + h[4] * s1 + h[5] * s2;
        let z = c[2] + g[6] * i + g[7] * j + g[8] * k + h[6] * s0 + h[7] * s1 + h[8] * s2;
        const inside = x >= -0.5 && x <= inx - 0.5 && y >= -0.5 && y <= iny - 0.5 && z >= -0.5 && z <= inz - 0.5 ? 1 : 0;
        mask[p] = first ? inside : mask[p] & inside;
        if (!(x > 0)) x = 0;
        else if (x > xmax) x = xmax;
        if (!(y > 0)) y = 0;
        else if (y > ymax) y = ymax;
        if (!(z > 0)) z = 0;
        else if (z > zmax) z = zmax;
        out[p] = linear3d(image, inx, iny, inz, x, y, z);
      }
    }
  }
}

/**
 * out ← −dC(x)·∇I(x) in mm: ∇I by central differences along the grid (one-sided on the border), converted to
 * physical units with Nᵀ (N = physical → index, padded 3×3).
 */
function descent2d(warped: Float32Array, dC: Float32Array, nx: number, ny: number, n: Float64Array, out: Float32Array): void {
  let p = 0;
  for (let j = 0; j < ny; j++) {
    const jm = j > 0 ? j - 1 : j;
    const jp = j < ny - 1 ? j + 1 : j;
    const sy = jp > jm ? 1 / (jp - jm) : 0;
    for (let i = 0; i < nx; i++, p++) {
      const w = dC[p];
      if (w === 0) {
        out[2 * p] = 0;
        out[2 * p + 1] = 0;
        continue;
      }
      const im = i > 0 ? i - 1 : i;
      const ip = i < nx - 1 ? i + 1 : i;
      const sx = ip > im ? 1 / (ip - im) : 0;
      const gi = (warped[ip + nx * j] - warped[im + nx * j]) * sx;
      const gj = (warped[i + nx * jp] - warped[i + nx * jm]) * sy;
      out[2 * p] = -w * (gi * n[0] + gj * n[3]);
      out[2 * p + 1] = -w * (gi * n[1] + gj * n[4]);
    }
  }
}

function descent3d(warped: Float32Array, dC: Float32Array, nx: number, ny: number, nz: number, n: Float64Array, out: Float32Array): void {
  const nxy = nx * ny;
  let p = 0;
  for (let k = 0; k < nz; k++) {
    const km = k > 0 ? k - 1 : k;
    const kp = k < nz - 1 ? k + 1 : k;
    const sz = kp > km ? 1 / (kp - km) : 0;
    for (let j = 0; j < ny; j++) {
      const jm = j > 0 ? j - 1 : j;
      const jp = j < ny - 1 ? j + 1 : j;
      const sy = jp > jm ? 1 / (jp - jm) : 0;
      for (let i = 0; i < nx; i++, p++) {
        const w = dC[p];
        if (w === 0) {
          out[3 * p] = 0;
          out[3 * p + 1] = 0;
          out[3 * p + 2] = 0;
          continue;
        }
        const im = i > 0 ? i - 1 : i;
        const ip = i < nx - 1 ? i + 1 : i;
        const sx = ip > im ? 1 / (ip - im) : 0;
        const row = nx * j + nxy * k;
        const gi = (warped[ip + row] - warped[im + row]) * sx;
        const gj = (warped[i + nx * jp + nxy * k] - warped[i + nx * jm + nxy * k]) * sy;
        const gk = (warped[i + nx * j + nxy * kp] - warped[i + nx * j + nxy * km]) * sz;
        out[3 * p] = -w * (gi * n[0] + gj * n[3] + gk * n[6]);
        out[3 * p + 1] = -w * (gi * n[1] + gj * n[4] + gk * n[7]);
        out[3 * p + 2] = -w * (gi * n[2] + gj * n[5] + gk * n[8]);
      }
    }
  }
}

/** Voxels per block when a sampled metric (mse, mi) runs over the dense images through float64 scratch. */
const METRIC_BLOCK = 65536;

/**
 * Evaluates the level's metric on the dense warped images at the midpoint: the cost and its derivative with
 * respect to each of the two images. lncc gets both from one set of window sums; mse and mi run twice (the
 * second time with the roles of the images swapped) over float64 blocks of METRIC_BLOCK voxels.
 */
class DenseMetric {
  private readonly lnccWorkspace: LnccWorkspace = { buffers: [] };
  private readonly sampled: SampledMetric<MetricState> | null;
  private readonly forwardState: MetricState | null;
  private readonly swappedState: MetricState | null;
  private readonly blockA = new Float64Array(0);
  private readonly blockB = new Float64Array(0);
  private readonly blockW = new Float64Array(0);
  private readonly blockOut = new Float64Array(0);

  constructor(
    private readonly opts: ResolvedOptions,
    private readonly size: number[],
    fixedRange: { min: number; max: number },
    movingRange: { min: number; max: number },
  ) {
    if (opts.metric === 'lncc') {
      this.sampled = this.forwardState = this.swappedState = null;
    } else {
      this.sampled = METRICS[opts.metric];
      const bins = opts.bins;
      this.forwardState = this.sampled.createState({ bins, fixedRange, movingRange });
      // ∂C/∂F_mid: the same measure with the roles of the images swapped
      this.swappedState = this.sampled.createState({ bins, fixedRange: movingRange, movingRange: fixedRange });
      const block = Math.min(METRIC_BLOCK, numberOfPixels({ size }));
      this.blockA = new Float64Array(block);
      this.blockB = new Float64Array(block);
      this.blockW = new Float64Array(block);
      this.blockOut = new Float64Array(block);
    }
  }

  /** cost(fixedMid, movingMid); ∂cost/∂fixedMid into `dFixed` and ∂cost/∂movingMid into `dMoving`. */
  evaluate(fixedMid: Float32Array, movingMid: Float32Array, mask: Uint8Array, dFixed: Float32Array, dMoving: Float32Array): number {
    if (this.sampled === null) {
      return lnccDenseDerivatives(fixedMid, movingMid, mask, this.size, this.opts.radius, dFixed, dMoving, this.lnccWorkspace);
    }
    const value = this.sampledDerivative(this.forwardState!, fixedMid, movingMid, mask, dMoving);
    this.sampledDerivative(this.swappedState!, movingMid, fixedMid, mask, dFixed);
    return value;
  }

  private sampledDerivative(state: MetricState, a: Float32Array, b: Float32Array, mask: Uint8Array, out: Float32Array): number {
    const metric = this.sampled!;
    const n = a.length;
    const block = this.blockA.length;
    metric.reset(state);
    for (let start = 0; start < n; start += block) {
      const count = this.fillBlock(a, b, mask, start, Math.min(n, start + block));
      metric.accumulate(state, this.blockA, this.blockB, this.blockW, 0, count);
    }
    const value = metric.finalize(state);
    for (let start = 0; start < n; start += block) {
      const count = this.fillBlock(a, b, mask, start, Math.min(n, start + block));
      metric.derivative(state, this.blockA, this.blockB, this.blockW, 0, count, this.blockOut);
      for (let i = 0; i < count; i++) out[start + i] = this.blockOut[i];
    }
    return value;
  }

  private fillBlock(a: Float32Array, b: Float32Array, mask: Uint8Array, start: number, end: number): number {
    const ba = this.blockA;
    const bb = this.blockB;
    const bw = this.blockW;
    for (let i = start; i < end; i++) {
      ba[i - start] = a[i];
      bb[i - start] = b[i];
      bw[i - start] = mask[i];
    }
    return end - start;
  }
}

/** Least-squares slope of values[0…count) (oldest first) against their position. */
function fittedSlope(values: Float64Array, count: number): { slope: number; mean: number } {
  const tMean = (count - 1) / 2;
  let mean = 0;
  for (let i = 0; i < count; i++) mean += values[i];
  mean /= count;
  let num = 0;
  let den = 0;
  for (let i = 0; i < count; i++) {
    num += (i - tMean) * (values[i] - mean);
    den += (i - tMean) * (i - tMean);
  }
  return { slope: num / den, mean };
}

/** What one level hands on: the half fields (possibly the same arrays as given) and its log entry. */
interface LevelOutcome {
  s1: Float32Array;
  s2: Float32Array;
  stopReason: SynStopReason;
  iterations: number;
  value: number;
}

/** Mutable clock shared by the levels, so the event loop gets a turn every ~100 ms across level boundaries. */
interface YieldClock {
  last: number;
}

/**
 * Runs one level's iterations on `grid` from the half fields s1, s2 (middle → fixed, middle → pre-aligned
 * moving). Everything full-size it allocates is dropped when it returns, before the caller inverts the fields.
 */
async function runLevel(
  level: number,
  levelCount: number,
  opts: ResolvedOptions,
  grid: GridLike,
  fixedLevel: Image<Float32Array>,
  movingLevel: Image<Float32Array>,
  affineMatrix: Float64Array,
  affineOffset: Float64Array,
  s1: Float32Array,
  s2: Float32Array,
  s1inv: Float32Array,
  s2inv: Float32Array,
  run: SynRunOptions,
  clock: YieldClock,
): Promise<LevelOutcome> {
  const d = grid.dimension;
  const n = numberOfPixels(grid);
  const [nx, ny] = grid.size;
  const nz = d === 3 ? grid.size[2] : 1;
  const update = createField(grid);
  let next1: Float32Array = createField(grid);
  let next2: Float32Array = createField(grid);
  const fixedMid = new Float32Array(n);
  const movingMid = new Float32Array(n);
  const dFixed = new Float32Array(n);
  const dMoving = new Float32Array(n);
  const mask = new Uint8Array(n);
  const metric = new DenseMetric(opts, grid.size, finiteRange(fixedLevel.data)!, finiteRange(movingLevel.data)!);
  const toIndex = physicalToIndexMatrix(grid);
  const nPad = new Float64Array(9);
  for (let r = 0; r < d; r++) for (let c = 0; c < d; c++) nPad[r * 3 + c] = toIndex[r * d + c];
  const fixedMap = samplingMap(grid, fixedLevel, identity(d), new Float64Array(d));
  const movingMap = samplingMap(grid, movingLevel, affineMatrix, affineOffset);
  const maxIterations = opts.iterations[level];
  const history = new Float64Array(opts.window);
  let stopReason: SynStopReason = 'maximum iterations';
  let value = NaN;
  let iterations = 0;

  // update ← the smoothed descent direction of one half, scaled to `stepSize` voxels; false when it is zero.
  const descend = (warped: Float32Array, dC: Float32Array): boolean => {
    if (d === 2) descent2d(warped, dC, nx, ny, nPad, update);
    else descent3d(warped, dC, nx, ny, nz, nPad, update);
    if (opts.gradientSigma > 0) smoothField(update, grid, opts.gradientSigma);
    zeroFieldBorder(update, grid);
    const max = maxDisplacementVoxels(update, grid);
    if (!(max > 0)) return false;
    scaleField(update, opts.stepSize / max);
    return true;
  };

  for (let it = 0; it < maxIterations; it++) {
    if (run.signal?.aborted) throw abortError();
    if (d === 2) {
      warp2d(fixedLevel.data, fixedLevel.size[0], fixedLevel.size[1], s1, nx, ny, fixedMap.g, fixedMap.h, fixedMap.c, fixedMid, mask, true);
      warp2d(movingLevel.data, movingLevel.size[0], movingLevel.size[1], s2, nx, ny, movingMap.g, movingMap.h, movingMap.c, movingMid, mask, false);
    } else {
      const [fx, fy, fz] = fixedLevel.size;
      const [mx, my, mz] = movingLevel.size;
      warp3d(fixedLevel.data, fx, fy, fz, s1, nx, ny, nz, fixedMap.g, fixedMap.h, fixedMap.c, fixedMid, mask, true);
      warp3d(movingLevel.data, mx, my, mz, s2, nx, ny, nz, movingMap.g, movingMap.h, movingMap.c, movingMid, mask, false);
    }
    value = metric.evaluate(fixedMid, movingMid, mask, dFixed, dMoving);
    if (!Number.isFinite(value)) {
      stopReason = 'non-finite value';
      run.warn?.(`syn level ${level + 1}: the metric became undefined; keeping the last good fields`);
      break;
    }
    // Each inverse follows its half field by composing the small step's first-order inverse id − δ on the left:
    // s⁻¹ ← (id − δ)∘s⁻¹. It only has to stay a good warm start for the inversion at the end of the level.
    const movingMoves = descend(movingMid, dMoving);
    if (movingMoves) {
      composeFields(s2, update, grid, next2);
      scaleField(update, -1);
      composeFields(update, s2inv, grid, s2inv);
    }
    const fixedMoves = descend(fixedMid, dFixed);
    if (fixedMoves) {
      composeFields(s1, update, grid, next1);
      scaleField(update, -1);
      composeFields(update, s1inv, grid, s1inv);
    }
    if (!movingMoves && !fixedMoves) {
      stopReason = 'no gradient';
      break;
    }
    if (!movingMoves) next2.set(s2);
    if (!fixedMoves) next1.set(s1);
    if (opts.totalSigma > 0) {
      smoothField(next1, grid, opts.totalSigma);
      zeroFieldBorder(next1, grid);
      smoothField(next2, grid, opts.totalSigma);
      zeroFieldBorder(next2, grid);
    }
    const minJ = Math.min(minJacobianDeterminant(next1, grid), minJacobianDeterminant(next2, grid));
    if (!(minJ > 0)) {
      stopReason = 'folding';
      run.warn?.(
        `syn level ${level + 1}, iteration ${it + 1}: the update would fold the deformation (Jacobian determinant ${minJ.toPrecision(3)}); ` +
          'stopping this level with the last good fields',
      );
      break;
    }
    [s1, next1] = [next1, s1];
    [s2, next2] = [next2, s2];
    iterations = it + 1;

    run.onProgress?.({ level, levelCount, iteration: iterations, maxIterations, value });
    history.copyWithin(0, 1);
    history[opts.window - 1] = value;
    if (iterations >= opts.window) {
      const { slope, mean } = fittedSlope(history, opts.window);
      if (-slope <= opts.threshold * Math.abs(mean)) {
        stopReason = 'converged';
        break;
      }
    }
    if (now() - clock.last > 100) {
      // Let timers, aborts and progress output run (the browser worker and the CLI's progress bar).
      await yieldToEventLoop();
      clock.last = now();
    }
  }
  return { s1, s2, stopReason, iterations, value };
}

/**
 * Registers `moving` to `fixed` with greedy SyN after the affine pre-alignment `run.initial` (fixed → moving).
 * Resolves with the forward and inverse displacement fields on the fixed grid and a per-level log; the chain
 * fixed → moving is [field(forward), initial] (see the file comment). Cancel with `run.signal` (rejects with an
 * Error named 'AbortError').
 */
export async function synRegister(fixed: Image, moving: Image, options: SynOptions = {}, run: SynRunOptions = {}): Promise<SynResult> {
  const t0 = now();
  const d = fixed.dimension;
  checkImages(fixed, moving, run.initial);
  const opts = resolveOptions(options, d);
  const levelCount = opts.shrink.length;
  const fixedSchedule = scheduleFromLevels(fixed, opts.shrink, opts.smooth, opts.smoothUnit);
  const movingSchedule = scheduleFromLevels(moving, opts.shrink, opts.smooth, opts.smoothUnit);
  const affineMatrix = run.initial ? run.initial.matrix() : identity(d);
  const affineOffset = run.initial ? run.initial.offset() : new Float64Array(d);
  const fullGrid = gridOf(fixed);

  let grid: GridLike | null = null;
  // s1: middle → fixed, s2: middle → pre-aligned moving; s1inv, s2inv their inverses (fixed/moving → middle),
  // followed cheaply during a level and inverted accurately at its end.
  let s1: Float32Array = new Float32Array(0);
  let s2: Float32Array = new Float32Array(0);
  let s1inv: Float32Array = new Float32Array(0);
  let s2inv: Float32Array = new Float32Array(0);
  const levels: SynLevelLog[] = [];
  const clock: YieldClock = { last: now() };

  for (let level = 0; level < levelCount; level++) {
    const tl = now();
    const fixedLevel = levelImage(fixed, fixedSchedule, level);
    const levelGrid = gridOf(fixedLevel);
    const fromGrid: GridLike | null = grid;
    if (fromGrid === null) {
      s1 = createField(levelGrid);
      s2 = createField(levelGrid);
      s1inv = createField(levelGrid);
      s2inv = createField(levelGrid);
    } else {
      s1 = upsampleField(s1, fromGrid, levelGrid);
      s2 = upsampleField(s2, fromGrid, levelGrid);
      s1inv = upsampleField(s1inv, fromGrid, levelGrid);
      s2inv = upsampleField(s2inv, fromGrid, levelGrid);
    }
    grid = levelGrid;
    const outcome = await runLevel(
      level,
      levelCount,
      opts,
      grid,
      fixedLevel,
      levelImage(moving, movingSchedule, level),
      affineMatrix,
      affineOffset,
      s1,
      s2,
      s1inv,
      s2inv,
      run,
      clock,
    );
    s1 = outcome.s1;
    s2 = outcome.s2;
    // The last level's inverses are the final ones, so they are exact; coarser levels only warm-start the next.
    const last = level === levelCount - 1;
    const inversion = last ? { maxIterations: 50 } : { maxIterations: 20, tolerance: 0.01 * Math.min(...grid.spacing) };
    const r1 = invertField(s1, grid, { ...inversion, initial: s1inv }, s1inv);
    const r2 = invertField(s2, grid, { ...inversion, initial: s2inv }, s2inv);
    levels.push({
      size: grid.size.slice(),
      shrink: fixedSchedule.shrink[level].slice(),
      smoothMm: fixedSchedule.sigmasMm[level].slice(),
      iterations: outcome.iterations,
      value: outcome.value,
      stopReason: outcome.stopReason,
      minJacobian: Math.min(minJacobianDeterminant(s1, grid), minJacobianDeterminant(s2, grid)),
      inverseResidual: Math.max(r1.maxResidual, r2.maxResidual),
      seconds: (now() - tl) / 1000,
    });
  }

  // forward(x) = s1inv(x) + s2(x + s1inv(x)): fixed → middle → moving; inverse mirrors it.
  const g = grid!;
  let forward = composeFields(s2, s1inv, g, s1inv);
  let inverse = composeFields(s1, s2inv, g, s2inv);
  if (!sameGridShape(g, fullGrid)) {
    forward = upsampleField(forward, g, fullGrid);
    inverse = upsampleField(inverse, g, fullGrid);
  }
  // The composition of two invertible half fields can still fold in a few voxels where an inverse is least
  // accurate (seen in empty background); a light smoothing of the composed field removes such isolated folds.
  let minJacobian = minJacobianDeterminant(forward, fullGrid);
  for (let k = 0; k < 5 && minJacobian <= 0; k++) {
    smoothField(forward, fullGrid, 0.5);
    smoothField(inverse, fullGrid, 0.5);
    minJacobian = minJacobianDeterminant(forward, fullGrid);
  }
  if (minJacobian <= 0) run.warn?.(`syn: the final field folds (smallest Jacobian determinant ${minJacobian.toFixed(3)})`);
  return {
    forward: fieldImage(forward, fullGrid),
    inverse: fieldImage(inverse, fullGrid),
    levels,
    minJacobian,
    seconds: (now() - t0) / 1000,
  };
}

function sameGridShape(a: GridLike, b: GridLike): boolean {
  for (let i = 0; i < a.dimension; i++) {
    if (a.size[i] !== b.size[i] || a.spacing[i] !== b.spacing[i] || a.origin[i] !== b.origin[i]) return false;
  }
  return true;
}
