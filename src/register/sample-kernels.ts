/**
 * The per-block kernels of the sampled costs (linear-cost.ts, bspline-cost.ts): plain functions over typed arrays
 * that sample the moving image at the mapped sample points, accumulate the metric's partial sums, and after the
 * merge turn ∂cost/∂m into partial gradients (moment matrices for linear transforms, control-point sums for
 * B-splines). Every block [b·size, min(n, (b+1)·size)) packs its valid samples to the front of its own range and
 * writes only its own slots, so blocks run in any thread and in any order; the cost merges the slots in block
 * order (see parallel-for.ts). The same factories build the kernels in the calling thread and in the helpers
 * (src/cli/worker.ts and src/web/worker.ts serve REGISTER_KERNELS).
 */
import type { Image } from '../image/image.js';
import { physicalToIndexMatrix } from '../image/image.js';
import { bspline2d, bspline3d, bsplineCoefficients } from '../interpolate/bspline.js';
import { linear2d, linear3d, linearValues3d, interpolationPlane, type Plane } from '../interpolate/index.js';
import { METRICS, finalizeHistogramMerged, mergeCompensated, mergeHistogramRows, type HistogramState, type MetricOptions, type MetricState, type SampledMetric, type SampledMetricName } from '../metric/index.js';
import { blockSizeFor, shareArray, sharedFloat32, sharedFloat64, sharedInt32, type BlockKernel, type KernelPhases } from './parallel-for.js';
import { maskAt } from './sampling.js';
import { isHistogramMetric } from './preset.js';
import { MULBERRY32_STEP, mulberry32Unit } from '../random.js';
import { bsplineSupportsRange, interleaveCoefficients, type BSplineGridGeometry } from '../transform/bspline-supports.js';
import { wasmLinearKernel } from './wasm-linear.js';
import type { PackedArrays, WasmPlacement } from './wasm-measure.js';
import { wasmBSplineKernel } from './wasm-bspline.js';

/** The moving image prepared for sampling: a float plane (linear) or B-spline coefficients. */
export interface MovingSampler {
  dimension: 2 | 3;
  size: number[];
  origin: number[];
  /** physical → index matrix N (row-major d×d). */
  N: Float64Array;
  kind: 'linear' | 'bspline';
  plane: Plane;
}

/** The moving sampler; `shared`: its plane on shared memory (for a team of threads). */
export function prepareMovingSampler(moving: Image, kind: 'linear' | 'bspline', shared = false, linearPlane?: Plane): MovingSampler {
  let plane = kind === 'bspline' ? bsplineCoefficients(moving.data, moving.size, moving.components, 0) : (linearPlane ?? (shared ? sharedInterpolationPlane(moving) : interpolationPlane(moving, 0)));
  if (shared) plane = shareArray(plane);
  return { dimension: moving.dimension, size: moving.size.slice(), origin: moving.origin.slice(), N: physicalToIndexMatrix(moving), kind, plane };
}

/**
 * interpolationPlane(image, 0) on shared memory (a team's threads read it): a converted plane is written there
 * directly, a float image's pixels copied once.
 */
export function sharedInterpolationPlane(image: Image): Plane {
  return shareArray(interpolationPlane(image, 0, (n, wide) => (wide ? sharedFloat64(n) : sharedFloat32(n))));
}

/**
 * The moving image at physical point (yx, yy) for sample i: when the point is inside the image (and its mask), its
 * value and PHYSICAL gradient (Nᵀ·index gradient) are written at packed position `valid` with index[valid] = i, and
 * valid + 1 is returned; otherwise `valid` (the sample is dropped). `g` is scratch of ≥ 6 numbers. The one
 * "sample → drop → gradient → pack" step of every cost.
 */
export function packMovingSample2d(
  s: MovingSampler,
  yx: number,
  yy: number,
  i: number,
  valid: number,
  values: Float64Array,
  grads: Float64Array,
  index: Int32Array,
  movingMask: Image | null,
  movingMaskN: Float64Array | null,
  g: Float64Array,
): number {
  const N = s.N;
  const dx = yx - s.origin[0];
  const dy = yy - s.origin[1];
  const x = N[0] * dx + N[1] * dy;
  const y = N[2] * dx + N[3] * dy;
  const v = s.kind === 'bspline' ? bspline2d(s.plane as Float64Array, s.size[0], s.size[1], x, y, g) : linear2d(s.plane, s.size[0], s.size[1], x, y, g);
  if (v !== v) return valid;
  if (movingMask) {
    g[3] = yx;
    g[4] = yy;
    if (!maskAt(movingMask, movingMaskN!, g.subarray(3, 5))) return valid;
  }
  values[valid] = v;
  grads[2 * valid] = N[0] * g[0] + N[2] * g[1];
  grads[2 * valid + 1] = N[1] * g[0] + N[3] * g[1];
  index[valid] = i;
  return valid + 1;
}

/** packMovingSample2d in 3D, at physical point (yx, yy, yz). */
export function packMovingSample3d(
  s: MovingSampler,
  yx: number,
  yy: number,
  yz: number,
  i: number,
  valid: number,
  values: Float64Array,
  grads: Float64Array,
  index: Int32Array,
  movingMask: Image | null,
  movingMaskN: Float64Array | null,
  g: Float64Array,
): number {
  const N = s.N;
  const dx = yx - s.origin[0];
  const dy = yy - s.origin[1];
  const dz = yz - s.origin[2];
  const x = N[0] * dx + N[1] * dy + N[2] * dz;
  const y = N[3] * dx + N[4] * dy + N[5] * dz;
  const z = N[6] * dx + N[7] * dy + N[8] * dz;
  const v =
    s.kind === 'bspline'
      ? bspline3d(s.plane as Float64Array, s.size[0], s.size[1], s.size[2], x, y, z, g)
      : linear3d(s.plane, s.size[0], s.size[1], s.size[2], x, y, z, g);
  if (v !== v) return valid;
  if (movingMask) {
    g[3] = yx;
    g[4] = yy;
    g[5] = yz;
    if (!maskAt(movingMask, movingMaskN!, g.subarray(3, 6))) return valid;
  }
  values[valid] = v;
  grads[3 * valid] = N[0] * g[0] + N[3] * g[1] + N[6] * g[2];
  grads[3 * valid + 1] = N[1] * g[0] + N[4] * g[1] + N[7] * g[2];
  grads[3 * valid + 2] = N[2] * g[0] + N[5] * g[1] + N[8] * g[2];
  index[valid] = i;
  return valid + 1;
}

/**
 * Samples [start, end) at T(x_i) = A x_i + t, packed from position `start`; returns the end of the packed range.
 */
export function sampleMovingLinearRange(
  s: MovingSampler,
  A: Float64Array,
  t: Float64Array,
  points: Float64Array,
  start: number,
  end: number,
  values: Float64Array,
  grads: Float64Array,
  index: Int32Array,
  movingMask: Image | null,
  movingMaskN: Float64Array | null,
  g: Float64Array,
): number {
  let valid = start;
  if (s.dimension === 2) {
    for (let i = start; i < end; i++) {
      const px = points[2 * i];
      const py = points[2 * i + 1];
      valid = packMovingSample2d(s, A[0] * px + A[1] * py + t[0], A[2] * px + A[3] * py + t[1], i, valid, values, grads, index, movingMask, movingMaskN, g);
    }
    return valid;
  }
  for (let i = start; i < end; i++) {
    const px = points[3 * i];
    const py = points[3 * i + 1];
    const pz = points[3 * i + 2];
    valid = packMovingSample3d(
      s,
      A[0] * px + A[1] * py + A[2] * pz + t[0],
      A[3] * px + A[4] * py + A[5] * pz + t[1],
      A[6] * px + A[7] * py + A[8] * pz + t[2],
      i,
      valid,
      values,
      grads,
      index,
      movingMask,
      movingMaskN,
      g,
    );
  }
  return valid;
}

/**
 * G[o …] (d × (d+1), row-major) = Σ_k w_k g_k [x_k; 1]ᵀ over packed samples k in [start, end), w_k = ∂cost/∂m_k.
 */
export function accumulateMomentsRange(
  d: number,
  start: number,
  end: number,
  dValue: Float64Array,
  grad: Float64Array,
  index: Int32Array,
  points: Float64Array,
  G: Float64Array,
  o: number,
): void {
  const w = d + 1;
  for (let k = 0; k < d * w; k++) G[o + k] = 0;
  for (let k = start; k < end; k++) {
    const s = dValue[k];
    if (s === 0) continue;
    const i = index[k];
    for (let r = 0; r < d; r++) {
      const v = s * grad[k * d + r];
      for (let col = 0; col < d; col++) G[o + r * w + col] += v * points[i * d + col];
      G[o + r * w + d] += v;
    }
  }
}

// --- the metric part shared by both kernels -----------------------------------------------------------------

/** The arrays of a metric state that move between threads: partial sums and the coefficients finalize sets. */
export function stateArrays(state: MetricState): { sums: Float64Array; coefficients: Float64Array } {
  const s = state as MetricState & { sums: Float64Array; table?: Float64Array; coef?: Float64Array };
  return { sums: s.sums, coefficients: s.table ?? s.coef! };
}

/** What both kernels share: samples, moving image, metric, packed outputs and the per-block metric slots. */
export interface SampleBlocksInit {
  dimension: 2 | 3;
  /** Samples and samples per block (blocks: ceil(count / blockSize)). */
  count: number;
  blockSize: number;
  sampler: MovingSampler;
  points: Float64Array;
  fixed: Float64Array;
  mask: Image | null;
  maskN: Float64Array | null;
  metric: SampledMetricName;
  metricOptions: MetricOptions;
  /** Packed per block: moving values, physical gradients (d each), sample index, fixed values, ∂cost/∂m. */
  values: Float64Array;
  grads: Float64Array;
  index: Int32Array;
  fixedPacked: Float64Array;
  dValue: Float64Array;
  /** Per block: valid samples. */
  validCounts: Int32Array;
  /** Per block: the metric's partial sums (sumsLength each). */
  partials: Float64Array;
  /** The merged state's derivative coefficients (written by the calling thread between the phases). */
  coefficients: Float64Array;
  /**
   * Where the creator placed the data for the WebAssembly kernels (a shared arena that also holds the packed
   * samples' arrays above); absent or null: the TypeScript kernels run.
   */
  wasm?: WasmPlacement | null;
}

/** The calling thread's side of the metric protocol: merge the blocks' sums in order, finalize, publish. */
export class BlockedMetric {
  readonly init: SampleBlocksInit;
  readonly blocks: number;
  readonly sumsLength: number;
  private readonly metric: SampledMetric<MetricState>;
  private readonly state: MetricState;
  /** Valid samples over all blocks in the last evaluation. */
  valid = 0;
  /** A histogram measure's bins (B × B joint bins), else 0. */
  readonly histogramBins: number;

  constructor(
    dimension: 2 | 3,
    count: number,
    sampler: MovingSampler,
    points: Float64Array,
    fixed: Float64Array,
    mask: Image | null,
    metric: SampledMetricName,
    metricOptions: MetricOptions,
    /** Samples per block (default blockSizeFor(count)); a function of the work only, never of the thread count. */
    blockSize = blockSizeFor(count),
    /** Where the packed samples go (the WebAssembly kernels' arena: wasm-measure.ts, placeSamples); default: new shared arrays. */
    packed?: PackedArrays,
  ) {
    this.metric = METRICS[metric] as SampledMetric<MetricState>;
    this.state = this.metric.createState(metricOptions);
    this.histogramBins = isHistogramMetric(metric) ? (this.state as HistogramState).bins : 0;
    const { sums, coefficients } = stateArrays(this.state);
    this.sumsLength = sums.length;
    this.blocks = Math.ceil(count / blockSize);
    const sharedMask = mask ? { ...mask, size: [...mask.size], origin: [...mask.origin], spacing: [...mask.spacing], direction: [...mask.direction], data: shareArray(mask.data) } : null;
    this.init = {
      dimension,
      count,
      blockSize,
      sampler,
      points,
      fixed,
      mask: sharedMask,
      maskN: mask ? physicalToIndexMatrix(mask) : null,
      metric,
      metricOptions: { ...metricOptions },
      values: packed?.values ?? sharedFloat64(count),
      grads: packed?.grads ?? sharedFloat64(count * dimension),
      index: packed?.index ?? sharedInt32(count),
      fixedPacked: packed?.fixedPacked ?? sharedFloat64(count),
      dValue: packed?.dValue ?? sharedFloat64(count),
      validCounts: sharedInt32(this.blocks),
      partials: sharedFloat64(this.blocks * sums.length),
      coefficients: sharedFloat64(coefficients.length),
    };
  }

  /** After phase 0: the merged cost; publishes the derivative coefficients. Throws (CoregError) when undefined. */
  finish(): number {
    const { validCounts, partials, coefficients } = this.init;
    const metric = this.metric;
    const state = this.state;
    metric.reset(state);
    const { sums, coefficients: coef } = stateArrays(state);
    const L = this.sumsLength;
    let valid = 0;
    for (let b = 0; b < this.blocks; b++) {
      valid += validCounts[b];
      mergeCompensated(sums, partials.subarray(b * L, (b + 1) * L));
    }
    state.count = valid;
    this.valid = valid;
    const value = metric.finalize(state);
    coefficients.set(coef);
    return value;
  }

  /**
   * finish() (the same cost and coefficients, bit for bit) for a histogram measure whose blocks' sums phase 5 has
   * merged into `merged` with their logs (BSplineKernelInit.histogram): only the finalize runs here.
   */
  finishMerged(merged: Float64Array, logs: Float64Array): number {
    const validCounts = this.init.validCounts;
    let valid = 0;
    for (let b = 0; b < this.blocks; b++) valid += validCounts[b];
    this.valid = valid;
    const value = finalizeHistogramMerged(this.state as HistogramState, merged, logs, valid);
    this.init.coefficients.set(stateArrays(this.state).coefficients);
    return value;
  }
}

/** Per-thread metric workers over a SampleBlocksInit: accumulate a block into its slot; derivative of a block. */
function metricBlocks(init: SampleBlocksInit): { accumulate(b: number, start: number, valid: number): void; derivative(start: number, valid: number): void } {
  const metric = METRICS[init.metric] as SampledMetric<MetricState>;
  const state = metric.createState(init.metricOptions);
  const { sums, coefficients } = stateArrays(state);
  const L = sums.length;
  const { fixed, fixedPacked, index, values, dValue, partials } = init;
  return {
    accumulate(b, start, end) {
      for (let k = start; k < end; k++) fixedPacked[k] = fixed[index[k]];
      metric.reset(state);
      metric.accumulate(state, fixedPacked, values, null, start, end);
      partials.set(sums, b * L);
    },
    derivative(start, end) {
      coefficients.set(init.coefficients);
      metric.derivative(state, fixedPacked, values, null, start, end, dValue);
    },
  };
}

// --- linear transforms ---------------------------------------------------------------------------------------

export interface LinearKernelInit extends SampleBlocksInit {
  /**
   * A (d×d, row-major), t (d), then an evaluation stamp (changes every evaluation): written before phase 0.
   */
  params: Float64Array;
  /** Per block: the moment matrix G (d × (d+1)). */
  moments: Float64Array;
}

/** Phase 0: sample and accumulate block b; phase 1: ∂cost/∂m and the block's moment matrix. */
export function linearKernel(init: LinearKernelInit): KernelPhases {
  // the same kernel on WebAssembly SIMD when it applies (bit-identical results; COREG_WASM=0 turns it off)
  const fast = wasmLinearKernel(init);
  if (fast) return fast;
  const d = init.dimension;
  const { sampler, points, values, grads, index, mask, maskN, validCounts, dValue, moments, params, blockSize, count } = init;
  const A = params.subarray(0, d * d);
  const t = params.subarray(d * d, d * d + d);
  const g = new Float64Array(6);
  const m = metricBlocks(init);
  const w = d * (d + 1);
  return [
    (b) => {
      const start = b * blockSize;
      const end = Math.min(count, start + blockSize);
      const valid = sampleMovingLinearRange(sampler, A, t, points, start, end, values, grads, index, mask, maskN, g);
      validCounts[b] = valid - start;
      m.accumulate(b, start, valid);
    },
    (b) => {
      const start = b * blockSize;
      const end = start + validCounts[b];
      m.derivative(start, end);
      accumulateMomentsRange(d, start, end, dValue, grads, index, points, moments, b * w);
    },
  ];
}

// --- B-spline + linear -----------------------------------------------------------------------------------------

export interface BSplineKernelInit extends SampleBlocksInit {
  /** Per sample: first supporting control point (−1 outside the grid) and 4·d separable weights. */
  bases: Int32Array;
  weights: Float32Array;
  /**
   * B-spline coefficients as the transform holds them (component-major: all x, then all y[, then all z]); written
   * before phase 0. Each thread interleaves them per control point into its own copy once per evaluation (stamp).
   */
  c: Float64Array;
  /** The merged gradient (component-major, P numbers): written by phase 3 (see mergeKernel). */
  gradient: Float64Array;
  /**
   * Stochastic gradient descent on the team (BSplineRegistrationCost.stochasticSteps): phase 3 also writes each
   * chunk's [largest |g|, Σ g², ·] into `stats` (3 per chunk) and phase 4 takes a step of `c` by chunks (see
   * descentKernel). Null when the optimiser runs elsewhere.
   */
  descent?: {
    stats: Float64Array;
    /** The running average of the iterates, and the iterate before the last step (restored after a NaN). */
    average: Float64Array;
    last: Float64Array;
    /** [step factor, iterates averaged so far, 1 when this step is averaged (else 0)]: written before phase 4. */
    step: Float64Array;
  } | null;
  A: Float64Array;
  t: Float64Array;
  nx: number;
  nxy: number;
  /** Parameters (d · control points). */
  P: number;
  /** Per block: a partial interleaved gradient (P numbers), valid over [ranges[2b], ranges[2b+1]). */
  gPartials: Float64Array;
  ranges: Int32Array;
  /**
   * Fresh samples (stochastic levels): phase 2 draws them per block. `stratified` (a finite fixed image): the
   * whole draw happens there (see stratifiedDraw); otherwise the caller has drawn and sorted the points and phase 2
   * adds their supports and, with `values`, the fixed values by linear interpolation of `plane` (of `size`) at
   * continuous indices `index`.
   */
  draw?: {
    grid: BSplineGridGeometry;
    plane: Float32Array | Float64Array;
    size: number[];
    index: Float64Array;
    values: boolean;
    stratified: StratifiedDraw | null;
    /** [1 when phase 0 first does the draw's work for its block (phase 2 fused into it: one barrier less), else 0]. */
    pending: Float64Array;
  } | null;
  /** [evaluation stamp (changes every evaluation)]: written before phase 0. */
  stamp?: Float64Array;
  /**
   * Histogram measures on a team: phase 5 merges the blocks' partial histograms by chunks of fixed rows
   * (histogramMergeChunks) into `merged` with each bin's log p in `logs` (mergeHistogramRows), which
   * BlockedMetric.finishMerged then finalizes in the calling thread. Null: the calling thread merges (finish).
   */
  histogram?: { bins: number; merged: Float64Array; logs: Float64Array } | null;
}

/** Fixed rows per chunk of phase 5 (the histogram's merge): 4 chunks, whatever the thread count. */
function histogramMergeRows(bins: number): number {
  return Math.ceil(bins / 4);
}

/** Chunks of phase 5 for a histogram of `bins` × `bins` bins. */
export function histogramMergeChunks(bins: number): number {
  return Math.ceil(bins / histogramMergeRows(bins));
}

/** Shared buffers for phase 5 of a histogram measure of `bins` bins (BSplineKernelInit.histogram). */
export function histogramMergeBuffers(bins: number): NonNullable<BSplineKernelInit['histogram']> {
  return { bins, merged: sharedFloat64(2 * (bins * bins + 1)), logs: sharedFloat64(bins * bins) };
}

/** Phase 5: chunk c of the fixed rows of the blocks' partial histograms, merged (see BSplineKernelInit.histogram). */
function histogramMergeKernel(init: BSplineKernelInit): BlockKernel {
  const blocks = Math.ceil(init.count / init.blockSize);
  return (c) => {
    const { bins, merged, logs } = init.histogram!;
    const rows = histogramMergeRows(bins);
    mergeHistogramRows(bins, blocks, init.partials, c * rows, Math.min(bins, (c + 1) * rows), merged, logs);
  };
}

/**
 * For samples [start, end): y = A (x + u(x)) + t, then the moving value and PHYSICAL gradient at y, packed from
 * `start` (see packMovingSample3d). `cI` is interleaved; `g` is scratch of ≥ 6 numbers. Returns the packed end.
 */
export function mapAndSample3d(
  start: number,
  end: number,
  X: Float64Array,
  bases: Int32Array,
  W: Float32Array,
  cI: Float64Array,
  nx: number,
  nxy: number,
  A: Float64Array,
  t: Float64Array,
  s: MovingSampler,
  values: Float64Array,
  grads: Float64Array,
  index: Int32Array,
  movingMask: Image | null,
  maskN: Float64Array | null,
  g: Float64Array,
): number {
  let valid = start;
  for (let i = start; i < end; i++) {
    let ux = 0;
    let uy = 0;
    let uz = 0;
    const base = bases[i];
    if (base >= 0) {
      const o = 12 * i;
      const wx0 = W[o];
      const wx1 = W[o + 1];
      const wx2 = W[o + 2];
      const wx3 = W[o + 3];
      for (let kz = 0; kz < 4; kz++) {
        const wz = W[o + 8 + kz];
        for (let ky = 0; ky < 4; ky++) {
          const wyz = wz * W[o + 4 + ky];
          const r = 3 * (base + kz * nxy + ky * nx);
          const w0 = wyz * wx0;
          const w1 = wyz * wx1;
          const w2 = wyz * wx2;
          const w3 = wyz * wx3;
          ux += w0 * cI[r] + w1 * cI[r + 3] + w2 * cI[r + 6] + w3 * cI[r + 9];
          uy += w0 * cI[r + 1] + w1 * cI[r + 4] + w2 * cI[r + 7] + w3 * cI[r + 10];
          uz += w0 * cI[r + 2] + w1 * cI[r + 5] + w2 * cI[r + 8] + w3 * cI[r + 11];
        }
      }
    }
    const px = X[3 * i] + ux;
    const py = X[3 * i + 1] + uy;
    const pz = X[3 * i + 2] + uz;
    const yx = A[0] * px + A[1] * py + A[2] * pz + t[0];
    const yy = A[3] * px + A[4] * py + A[5] * pz + t[1];
    const yz = A[6] * px + A[7] * py + A[8] * pz + t[2];
    valid = packMovingSample3d(s, yx, yy, yz, i, valid, values, grads, index, movingMask, maskN, g);
  }
  return valid;
}

export function mapAndSample2d(
  start: number,
  end: number,
  X: Float64Array,
  bases: Int32Array,
  W: Float32Array,
  cI: Float64Array,
  nx: number,
  A: Float64Array,
  t: Float64Array,
  s: MovingSampler,
  values: Float64Array,
  grads: Float64Array,
  index: Int32Array,
  movingMask: Image | null,
  maskN: Float64Array | null,
  g: Float64Array,
): number {
  let valid = start;
  for (let i = start; i < end; i++) {
    let ux = 0;
    let uy = 0;
    const base = bases[i];
    if (base >= 0) {
      const o = 8 * i;
      const wx0 = W[o];
      const wx1 = W[o + 1];
      const wx2 = W[o + 2];
      const wx3 = W[o + 3];
      for (let ky = 0; ky < 4; ky++) {
        const wy = W[o + 4 + ky];
        const r = 2 * (base + ky * nx);
        const w0 = wy * wx0;
        const w1 = wy * wx1;
        const w2 = wy * wx2;
        const w3 = wy * wx3;
        ux += w0 * cI[r] + w1 * cI[r + 2] + w2 * cI[r + 4] + w3 * cI[r + 6];
        uy += w0 * cI[r + 1] + w1 * cI[r + 3] + w2 * cI[r + 5] + w3 * cI[r + 7];
      }
    }
    const px = X[2 * i] + ux;
    const py = X[2 * i + 1] + uy;
    const yx = A[0] * px + A[1] * py + t[0];
    const yy = A[2] * px + A[3] * py + t[1];
    valid = packMovingSample2d(s, yx, yy, i, valid, values, grads, index, movingMask, maskN, g);
  }
  return valid;
}

/**
 * gI[o + …] (interleaved) += Σ_k β(x_k) Aᵀ (∂cost/∂m_k ∇M_k) over packed samples k in [start, end), in sample
 * order.
 */
export function scatter3d(start: number, end: number, dv: Float64Array, G: Float64Array, index: Int32Array, bases: Int32Array, W: Float32Array, A: Float64Array, nx: number, nxy: number, gI: Float64Array, o0: number): void {
  for (let k = start; k < end; k++) {
    const s = dv[k];
    if (s === 0) continue;
    const i = index[k];
    const base = bases[i];
    if (base < 0) continue;
    const gx = s * G[3 * k];
    const gy = s * G[3 * k + 1];
    const gz = s * G[3 * k + 2];
    const vx = A[0] * gx + A[3] * gy + A[6] * gz;
    const vy = A[1] * gx + A[4] * gy + A[7] * gz;
    const vz = A[2] * gx + A[5] * gy + A[8] * gz;
    const o = 12 * i;
    const wx0 = W[o];
    const wx1 = W[o + 1];
    const wx2 = W[o + 2];
    const wx3 = W[o + 3];
    for (let kz = 0; kz < 4; kz++) {
      const wz = W[o + 8 + kz];
      for (let ky = 0; ky < 4; ky++) {
        const wyz = wz * W[o + 4 + ky];
        const r = o0 + 3 * (base + kz * nxy + ky * nx);
        let w = wyz * wx0;
        gI[r] += w * vx;
        gI[r + 1] += w * vy;
        gI[r + 2] += w * vz;
        w = wyz * wx1;
        gI[r + 3] += w * vx;
        gI[r + 4] += w * vy;
        gI[r + 5] += w * vz;
        w = wyz * wx2;
        gI[r + 6] += w * vx;
        gI[r + 7] += w * vy;
        gI[r + 8] += w * vz;
        w = wyz * wx3;
        gI[r + 9] += w * vx;
        gI[r + 10] += w * vy;
        gI[r + 11] += w * vz;
      }
    }
  }
}

export function scatter2d(start: number, end: number, dv: Float64Array, G: Float64Array, index: Int32Array, bases: Int32Array, W: Float32Array, A: Float64Array, nx: number, gI: Float64Array, o0: number): void {
  for (let k = start; k < end; k++) {
    const s = dv[k];
    if (s === 0) continue;
    const i = index[k];
    const base = bases[i];
    if (base < 0) continue;
    const gx = s * G[2 * k];
    const gy = s * G[2 * k + 1];
    const vx = A[0] * gx + A[2] * gy;
    const vy = A[1] * gx + A[3] * gy;
    const o = 8 * i;
    const wx0 = W[o];
    const wx1 = W[o + 1];
    const wx2 = W[o + 2];
    const wx3 = W[o + 3];
    for (let ky = 0; ky < 4; ky++) {
      const wy = W[o + 4 + ky];
      const r = o0 + 2 * (base + ky * nx);
      let w = wy * wx0;
      gI[r] += w * vx;
      gI[r + 1] += w * vy;
      w = wy * wx1;
      gI[r + 2] += w * vx;
      gI[r + 3] += w * vy;
      w = wy * wx2;
      gI[r + 4] += w * vx;
      gI[r + 5] += w * vy;
      w = wy * wx3;
      gI[r + 6] += w * vx;
      gI[r + 7] += w * vy;
    }
  }
}

/**
 * Phase 0: map, sample and accumulate block b; phase 1: ∂cost/∂m and the block's partial gradient; phase 2 (fresh
 * samples): the block's supports and fixed values after a draw; phase 3: chunk j of the merged gradient (over
 * mergeChunks(P, d) chunks, after phase 1).
 */
export function bsplineKernel(init: BSplineKernelInit): KernelPhases {
  // the same kernel on WebAssembly SIMD when it applies (3D; bit-identical results; COREG_WASM=0 turns it off)
  const fast = wasmBSplineKernel(init);
  if (fast) return withDraw(init, fast);
  const d = init.dimension;
  const { sampler, points, values, grads, index, mask, maskN, validCounts, dValue, blockSize, count, bases, weights, A, t, nx, nxy, gPartials, ranges, P } = init;
  const g = new Float64Array(6);
  const m = metricBlocks(init);
  // the control points a sample's support reaches, past its base
  const reach = d === 3 ? 3 * nxy + 3 * nx + 4 : 3 * nx + 4;
  // this thread's interleaved copy of the coefficients, refreshed once per evaluation (per block without a stamp)
  const cI = new Float64Array(P);
  let cStamp = NaN;
  return withDraw(init, [
    (b) => {
      const start = b * blockSize;
      const end = Math.min(count, start + blockSize);
      const stamp = init.stamp ? init.stamp[0] : NaN;
      if (!(cStamp === stamp)) interleaveCoefficients(init.c, P / d, d, cI);
      cStamp = stamp;
      const valid =
        d === 2
          ? mapAndSample2d(start, end, points, bases, weights, cI, nx, A, t, sampler, values, grads, index, mask, maskN, g)
          : mapAndSample3d(start, end, points, bases, weights, cI, nx, nxy, A, t, sampler, values, grads, index, mask, maskN, g);
      validCounts[b] = valid - start;
      m.accumulate(b, start, valid);
    },
    (b) => {
      const start = b * blockSize;
      const end = start + validCounts[b];
      m.derivative(start, end);
      // The block's samples reach control points [lo, hi): zero and fill only that range of its slot.
      let lo = 0x7fffffff;
      let hi = -1;
      for (let k = start; k < end; k++) {
        const base = bases[index[k]];
        if (base < 0) continue;
        if (base < lo) lo = base;
        if (base > hi) hi = base;
      }
      const o = b * P;
      if (hi < 0) {
        ranges[2 * b] = 0;
        ranges[2 * b + 1] = 0;
        return;
      }
      const from = d * lo;
      const to = Math.min(P, d * (hi + reach));
      for (let r = from; r < to; r++) gPartials[o + r] = 0;
      ranges[2 * b] = from;
      ranges[2 * b + 1] = to;
      if (d === 2) scatter2d(start, end, dValue, grads, index, bases, weights, A, nx, gPartials, o);
      else scatter3d(start, end, dValue, grads, index, bases, weights, A, nx, nxy, gPartials, o);
    },
  ]);
}

/**
 * Phases 0 and 1 with the draw: phase 0 first does the block's draw work when `pending`; phase 2 does it alone;
 * phase 3 merges the blocks' partial gradients (mergeKernel); phase 4 is a descent step (descentKernel); phase 5
 * merges the blocks' histograms (histogramMergeKernel).
 */
function withDraw(init: BSplineKernelInit, phases: KernelPhases): KernelPhases {
  const release = { release: phases.release };
  const merge = mergeKernel(init);
  const descend = descentKernel(init);
  const histogram = histogramMergeKernel(init);
  if (!init.draw) return Object.assign([...phases, finishDrawKernel(init), merge, descend, histogram], release);
  const draw = finishDrawKernel(init);
  const pending = init.draw.pending;
  const [map, scatter] = phases;
  return Object.assign(
    [
      (b: number) => {
        if (pending[0] === 1) draw(b);
        map(b);
      },
      scatter,
      draw,
      merge,
      descend,
      histogram,
    ],
    release,
  );
}

/** Control points per chunk of the merge (phase 3) on large grids; the merged gradient does not depend on it. */
export const MERGE_CHUNK = 1024;

/**
 * Control points per chunk of phases 3 and 4 for P parameters in d dimensions: MERGE_CHUNK, or on grids of fewer
 * than 4 such chunks a quarter of the grid (at least 64 control points), so that a coarse level's merge and steps
 * split over threads too. A function of the grid only (never of the thread count).
 */
export function mergeChunkSize(P: number, d: number): number {
  const nC = P / d;
  return nC >= 4 * MERGE_CHUNK ? MERGE_CHUNK : Math.max(64, Math.ceil(nC / 4));
}

/** Chunks of phase 3 for P parameters in d dimensions. */
export function mergeChunks(P: number, d: number): number {
  return Math.ceil(P / d / mergeChunkSize(P, d));
}

/**
 * Phase 3: chunk j of control points [j·mergeChunkSize, …): the sum of the blocks' partial gradients over that range,
 * added in block order from 0 (the same sums, bit for bit, whichever thread merges which chunk), written
 * component-major into `gradient`.
 */
function mergeKernel(init: BSplineKernelInit): BlockKernel {
  const d = init.dimension;
  const { gPartials, ranges, P, gradient, blockSize, count } = init;
  const blocks = Math.ceil(count / blockSize);
  const nC = P / d;
  const chunk = mergeChunkSize(P, d);
  const acc = new Float64Array(d * chunk);
  const stats = init.descent?.stats;
  return (j) => {
    const k0 = j * chunk;
    const k1 = Math.min(nC, k0 + chunk);
    const r0 = d * k0;
    const r1 = d * k1;
    acc.fill(0, 0, r1 - r0);
    for (let b = 0; b < blocks; b++) {
      const from = Math.max(ranges[2 * b], r0);
      const to = Math.min(ranges[2 * b + 1], r1);
      const o = b * P;
      for (let r = from; r < to; r++) acc[r - r0] += gPartials[o + r];
    }
    let largest = 0;
    let squares = 0;
    if (d === 2) {
      for (let k = k0; k < k1; k++) {
        const q = 2 * (k - k0);
        const g0 = acc[q];
        const g1 = acc[q + 1];
        gradient[k] = g0;
        gradient[nC + k] = g1;
        largest = Math.max(largest, Math.abs(g0), Math.abs(g1));
        squares += g0 * g0 + g1 * g1;
      }
    } else {
      const nC2 = 2 * nC;
      for (let k = k0; k < k1; k++) {
        const q = 3 * (k - k0);
        const g0 = acc[q];
        const g1 = acc[q + 1];
        const g2 = acc[q + 2];
        gradient[k] = g0;
        gradient[nC + k] = g1;
        gradient[nC2 + k] = g2;
        largest = Math.max(largest, Math.abs(g0), Math.abs(g1), Math.abs(g2));
        squares += g0 * g0 + g1 * g1 + g2 * g2;
      }
    }
    if (stats) {
      stats[3 * j] = largest;
      stats[3 * j + 1] = squares;
    }
  };
}

/**
 * Phase 4: chunk j's part of one stochastic gradient descent step (optimize/stochastic.ts, with the same
 * arithmetic per parameter): last ← c; c ← c − factor·g; when averaged, average += (c − average) / n; the chunk's
 * Σ step² into stats[3j + 2].
 */
function descentKernel(init: BSplineKernelInit): BlockKernel {
  const d = init.dimension;
  const { P, gradient: g, c } = init;
  const nC = P / d;
  const chunk = mergeChunkSize(P, d);
  return (j) => {
    const { stats, average, last, step } = init.descent!;
    const factor = step[0];
    const averaged = step[1];
    const averaging = step[2] === 1;
    const k0 = j * chunk;
    const k1 = Math.min(nC, k0 + chunk);
    let length = 0;
    for (let a = 0; a < d; a++) {
      const from = a * nC + k0;
      const to = a * nC + k1;
      if (averaging) {
        for (let i = from; i < to; i++) {
          const qi0 = c[i];
          last[i] = qi0;
          const s = factor * g[i];
          const qi = qi0 - s;
          c[i] = qi;
          length += s * s;
          average[i] += (qi - average[i]) / averaged;
        }
      } else {
        for (let i = from; i < to; i++) {
          const qi0 = c[i];
          last[i] = qi0;
          const s = factor * g[i];
          c[i] = qi0 - s;
          length += s * s;
        }
      }
    }
    stats[3 * j + 2] = length;
  };
}

/**
 * A stratified fresh draw, done per block (by any thread: the samples depend only on the seed, the draw number
 * and the block). The candidates are the fixed image's voxels (or, with a fixed mask, those whose centres lie in
 * it: `voxels`), P of them in index order; sample i of `count` takes rank r uniform in [P·i/count, P·(i+1)/count),
 * the voxel of rank ⌊r⌋, and a position uniform inside that voxel (with a mask: drawn again, up to 8 times, while
 * it falls outside; then the voxel's centre, which lies inside). Every position is uniform over the candidates'
 * voxels, as independent draws are, but each stretch of 1/count of the image gets exactly one sample (less
 * gradient noise than independent draws, whose counts per region fluctuate), and the samples come in index order
 * (the per-sample passes walk both images and the control grid in order).
 */
export interface StratifiedDraw {
  seed: number;
  /** [draw number]: written before phase 2. */
  number: Float64Array;
  /** Index → physical: origin + M·index (M d×d row-major). */
  origin: number[];
  M: Float64Array;
  /** Candidate voxels with a fixed mask (linear indices, ascending), or null: every voxel. */
  voxels: Int32Array | null;
  mask: Image | null;
  maskN: Float64Array | null;
}

/** A 32-bit seed for draw `n`, block `b` (murmur3's finaliser over the combined words). */
export function stratifiedSeed(seed: number, n: number, b: number): number {
  const mix = (a: number): number => {
    a ^= a >>> 16;
    a = Math.imul(a, 0x85ebca6b);
    a ^= a >>> 13;
    a = Math.imul(a, 0xc2b2ae35);
    a ^= a >>> 16;
    return a >>> 0;
  };
  return mix((seed >>> 0) ^ mix(Math.imul(n >>> 0, 0x9e3779b1) ^ mix(b + 0x632be5ab)));
}

/** Samples [start, end) of a stratified draw into continuous indices `ci` and physical points `points`. */
export function stratifiedDraw(draw: StratifiedDraw, size: number[], count: number, start: number, end: number, b: number, ci: Float64Array, points: Float64Array): void {
  const d = size.length;
  const [nx, ny] = size;
  const nxy = nx * ny;
  // createRandom(stratifiedSeed(…)) inlined: its state an int32 here (a closure's state lives in its context)
  let a = stratifiedSeed(draw.seed, draw.number[0], b) | 0;
  const { voxels, mask, maskN, M, origin } = draw;
  const population = voxels ? voxels.length : size.reduce((a, v) => a * v, 1);
  const scale = population / count;
  const p = new Float64Array(d);
  for (let i = start; i < end; i++) {
    a = (a + MULBERRY32_STEP) | 0;
    let k = Math.floor(scale * (i + mulberry32Unit(a)));
    if (k >= population) k = population - 1;
    const v = voxels ? voxels[k] : k;
    const vx = v % nx;
    const vy = Math.floor(v / nx) % ny;
    const vz = d === 3 ? Math.floor(v / nxy) : 0;
    for (let tries = 0; ; tries++) {
      const centre = tries === 8;
      let cx = vx;
      let cy = vy;
      let cz = d === 3 ? vz : 0;
      if (!centre) {
        a = (a + MULBERRY32_STEP) | 0;
        cx = vx + mulberry32Unit(a) - 0.5;
        a = (a + MULBERRY32_STEP) | 0;
        cy = vy + mulberry32Unit(a) - 0.5;
        if (d === 3) {
          a = (a + MULBERRY32_STEP) | 0;
          cz = vz + mulberry32Unit(a) - 0.5;
        }
      }
      if (d === 2) {
        p[0] = origin[0] + M[0] * cx + M[1] * cy;
        p[1] = origin[1] + M[2] * cx + M[3] * cy;
      } else {
        p[0] = origin[0] + M[0] * cx + M[1] * cy + M[2] * cz;
        p[1] = origin[1] + M[3] * cx + M[4] * cy + M[5] * cz;
        p[2] = origin[2] + M[6] * cx + M[7] * cy + M[8] * cz;
      }
      if (!centre && mask && !maskAt(mask, maskN!, p)) continue;
      ci[d * i] = cx;
      ci[d * i + 1] = cy;
      points[d * i] = p[0];
      points[d * i + 1] = p[1];
      if (d === 3) {
        ci[d * i + 2] = cz;
        points[d * i + 2] = p[2];
      }
      break;
    }
  }
}

/**
 * Phase 2 of bsplineKernel, after the cost asked for fresh samples: block b's samples (stratified: drawn here),
 * their supports and (when deferred) fixed values.
 */
function finishDrawKernel(init: BSplineKernelInit): BlockKernel {
  const d = init.dimension;
  const { points, bases, weights, blockSize, count } = init;
  return (b) => {
    const draw = init.draw!;
    const start = b * blockSize;
    const end = Math.min(count, start + blockSize);
    if (draw.stratified) stratifiedDraw(draw.stratified, draw.size, count, start, end, b, draw.index, points);
    bsplineSupportsRange(draw.grid, points, start, end, bases, weights);
    if (!draw.values) return;
    const { plane, size, index: ci } = draw;
    const fixed = init.fixed;
    if (d === 2) {
      for (let i = start; i < end; i++) fixed[i] = linear2d(plane, size[0], size[1], ci[2 * i], ci[2 * i + 1]);
    } else {
      linearValues3d(plane, size[0], size[1], size[2], ci, start, end, fixed);
    }
  };
}
