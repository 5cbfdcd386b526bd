/**
 * The cost of a linear (matrix–offset) transform over a fixed sample set: the chain rule
 * ∂cost/∂p = Σ_i ∂cost/∂m_i · ∇M(T(x_i)) · ∂T(x_i)/∂p, evaluated in one pass that returns value and gradient.
 *
 * Every transform here has a Jacobian that is affine in the point, J(x) = J(0) + Σ_j x_j (J(e_j) − J(0)), so the
 * per-sample work is d·(d+1) multiply–adds into a small moment matrix G = Σ_i v_i [x_i; 1]ᵀ (v_i = ∂cost/∂m_i ∇M),
 * contracted with the transform's Jacobian at d+1 points once per evaluation.
 *
 * The hot loops (`sampleMovingLinear*`) are plain functions over typed arrays with no allocation per sample.
 */
import type { Image } from '../image/image.js';
import { physicalToIndexMatrix } from '../image/image.js';
import { bspline2d, bspline3d, bsplineCoefficients } from '../interpolate/bspline.js';
import { linear2d, linear3d, interpolationPlane, type Plane } from '../interpolate/index.js';
import { METRICS, type MetricOptions, type MetricState, type SampledMetric } from '../metric/index.js';
import { lnccDense, type LnccWorkspace } from '../metric/lncc.js';
import type { CostFunction } from '../optimize/types.js';
import type { LinearTransform, ParametricTransform } from '../transform/transform.js';
import { maskAt, type SampleSet } from './sampling.js';
import type { MetricName } from './config.js';
import { CoregError } from '../errors.js';

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

export function prepareMovingSampler(moving: Image, kind: 'linear' | 'bspline'): MovingSampler {
  const plane = kind === 'bspline' ? bsplineCoefficients(moving.data, moving.size, moving.components, 0) : interpolationPlane(moving, 0);
  return { dimension: moving.dimension, size: moving.size.slice(), origin: moving.origin.slice(), N: physicalToIndexMatrix(moving), kind, plane };
}

/**
 * The moving image at physical point (yx, yy) for sample i: when the point is inside the image (and its mask), its
 * value and PHYSICAL gradient (Nᵀ·index gradient) are written at packed position `valid` with index[valid] = i, and
 * valid + 1 is returned; otherwise `valid` (the sample is dropped). `g` is scratch of ≥ 6 numbers. The one
 * "sample → drop → gradient → pack" step of every cost (linear here, B-spline in bspline-cost.ts).
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
 * Samples the moving image at T(x_i) = A x_i + t for all samples: writes values m_i and PHYSICAL gradients g_i
 * (n×d) and returns the number of valid samples; invalid samples (outside the moving image or its mask) are
 * dropped by packing the valid ones to the front (`index` maps packed → original sample).
 */
export function sampleMovingLinear(
  s: MovingSampler,
  A: Float64Array,
  t: Float64Array,
  points: Float64Array,
  count: number,
  outValues: Float64Array,
  outGrad: Float64Array,
  outIndex: Int32Array,
  movingMask: Image | null,
  movingMaskN: Float64Array | null,
): number {
  const g = new Float64Array(6);
  let valid = 0;
  if (s.dimension === 2) {
    for (let i = 0; i < count; i++) {
      const px = points[2 * i];
      const py = points[2 * i + 1];
      valid = packMovingSample2d(s, A[0] * px + A[1] * py + t[0], A[2] * px + A[3] * py + t[1], i, valid, outValues, outGrad, outIndex, movingMask, movingMaskN, g);
    }
    return valid;
  }
  for (let i = 0; i < count; i++) {
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
      outValues,
      outGrad,
      outIndex,
      movingMask,
      movingMaskN,
      g,
    );
  }
  return valid;
}

/**
 * G (d × (d+1), row-major) += Σ_k w_k g_k [x_k; 1]ᵀ over packed samples k in [0, n), with w_k = ∂cost/∂m_k.
 */
export function accumulateMoments(
  d: number,
  n: number,
  dValue: Float64Array,
  grad: Float64Array,
  index: Int32Array,
  points: Float64Array,
  G: Float64Array,
): void {
  const w = d + 1;
  G.fill(0);
  for (let k = 0; k < n; k++) {
    const s = dValue[k];
    if (s === 0) continue;
    const i = index[k];
    for (let r = 0; r < d; r++) {
      const v = s * grad[k * d + r];
      for (let col = 0; col < d; col++) G[r * w + col] += v * points[i * d + col];
      G[r * w + d] += v;
    }
  }
}

/** Minimum fraction of samples that must map inside the moving image before the cost is declared undefined. */
const MIN_VALID_FRACTION = 0.01;

export interface SampledCostOptions {
  metric: MetricName;
  metricOptions: MetricOptions;
  /** lncc window radius in voxels. */
  radius?: number;
  /** For lncc: the fixed grid's size (the samples' `voxels` index into it). */
  gridSize?: number[];
  movingMask?: Image;
}

/**
 * The metric part shared by every transform model: given the packed valid samples (moving values and the index
 * of each in the sample set), the cost and ∂cost/∂m_k. lncc scatters the samples back onto the fixed grid.
 */
export class SampleMetricEvaluator {
  readonly values: Float64Array;
  readonly grads: Float64Array;
  readonly index: Int32Array;
  readonly dValue: Float64Array;
  private readonly fixedPacked: Float64Array;
  private readonly metric: SampledMetric<MetricState> | null;
  private readonly state: MetricState | null;
  private readonly samples: SampleSet;
  private readonly opts: SampledCostOptions;
  private lnccFixed: Float32Array | null = null;
  private lnccMoving: Float32Array | null = null;
  private lnccMask: Uint8Array | null = null;
  private lnccDerivative: Float64Array | null = null;
  private readonly lnccWorkspace: LnccWorkspace = { buffers: [] };

  constructor(samples: SampleSet, opts: SampledCostOptions) {
    this.samples = samples;
    this.opts = opts;
    const n = samples.count;
    if (opts.metric === 'lncc') {
      if (!opts.gridSize) throw new Error('lncc needs the fixed grid size');
      this.metric = null;
      this.state = null;
    } else {
      this.metric = METRICS[opts.metric] as SampledMetric<MetricState>;
      this.state = this.metric.createState(opts.metricOptions);
    }
    this.values = new Float64Array(n);
    this.fixedPacked = new Float64Array(n);
    this.grads = new Float64Array(n * samples.dimension);
    this.index = new Int32Array(n);
    this.dValue = new Float64Array(n);
  }

  /** Cost over the first `valid` packed samples (of `tried`); fills dValue. Throws when too few samples overlap. */
  evaluate(valid: number, tried = this.samples.count): number {
    const n = tried;
    if (valid < Math.max(2, MIN_VALID_FRACTION * n)) {
      throw new CoregError('registration', `only ${valid} of ${n} samples map inside the moving image: the images do not overlap (try --initial or another initializer)`);
    }
    if (this.opts.metric === 'lncc') return this.evaluateLncc(valid);
    const f = this.fixedPacked;
    const fixedValues = this.samples.values;
    for (let k = 0; k < valid; k++) f[k] = fixedValues[this.index[k]];
    const metric = this.metric!;
    const state = this.state!;
    metric.reset(state);
    metric.accumulate(state, f, this.values, null, 0, valid);
    const value = metric.finalize(state);
    metric.derivative(state, f, this.values, null, 0, valid, this.dValue);
    return value;
  }

  private evaluateLncc(valid: number): number {
    const size = this.opts.gridSize!;
    const total = size.reduce((a, b) => a * b, 1);
    const voxels = this.samples.voxels;
    if (!this.lnccFixed) {
      this.lnccFixed = new Float32Array(total);
      for (let s = 0; s < this.samples.count; s++) this.lnccFixed[voxels[s]] = this.samples.values[s];
      this.lnccMoving = new Float32Array(total);
      this.lnccMask = new Uint8Array(total);
      this.lnccDerivative = new Float64Array(total);
    }
    const m = this.lnccMoving!;
    const mask = this.lnccMask!;
    mask.fill(0);
    m.fill(0);
    for (let k = 0; k < valid; k++) {
      const v = voxels[this.index[k]];
      m[v] = this.values[k];
      mask[v] = 1;
    }
    const value = lnccDense(this.lnccFixed, m, mask, size, this.opts.radius ?? 2, this.lnccDerivative, this.lnccWorkspace);
    for (let k = 0; k < valid; k++) this.dValue[k] = this.lnccDerivative![voxels[this.index[k]]];
    return value;
  }
}

/** CostFunction (ITK v4 style: the optimiser only sees parameter vectors) for a linear transform. */
export class LinearRegistrationCost implements CostFunction {
  readonly transform: ParametricTransform & LinearTransform;
  private readonly samples: SampleSet;
  private readonly sampler: MovingSampler;
  private readonly evaluator: SampleMetricEvaluator;
  private readonly G: Float64Array;
  private readonly jacobianBasis: Float64Array[];
  private readonly movingMask: Image | null;
  private readonly maskN: Float64Array | null;
  /** Valid samples in the last evaluation. */
  lastValidCount = 0;
  evaluations = 0;

  constructor(transform: ParametricTransform & LinearTransform, samples: SampleSet, sampler: MovingSampler, opts: SampledCostOptions) {
    this.transform = transform;
    this.samples = samples;
    this.sampler = sampler;
    this.evaluator = new SampleMetricEvaluator(samples, opts);
    const d = samples.dimension;
    const P = transform.numberOfParameters;
    this.G = new Float64Array(d * (d + 1));
    this.jacobianBasis = [];
    for (let j = 0; j <= d; j++) this.jacobianBasis.push(new Float64Array(d * P));
    this.movingMask = opts.movingMask ?? null;
    this.maskN = opts.movingMask ? physicalToIndexMatrix(opts.movingMask) : null;
  }

  /** J(0) and J(e_j) − J(0) at the current parameters (rotation Jacobians depend on the angles). */
  private refreshJacobianBasis(): void {
    const d = this.samples.dimension;
    const x = new Float64Array(d);
    const J0 = this.jacobianBasis[0];
    this.transform.jacobian(x, J0);
    for (let j = 0; j < d; j++) {
      x.fill(0);
      x[j] = 1;
      const Jj = this.jacobianBasis[j + 1];
      this.transform.jacobian(x, Jj);
      for (let k = 0; k < Jj.length; k++) Jj[k] -= J0[k];
    }
  }

  evaluate(params: Float64Array, gradient: Float64Array): number {
    this.evaluations++;
    const t = this.transform;
    t.setParameters(params);
    const d = this.samples.dimension;
    const e = this.evaluator;
    const valid = sampleMovingLinear(this.sampler, t.matrix(), t.offset(), this.samples.points, this.samples.count, e.values, e.grads, e.index, this.movingMask, this.maskN);
    this.lastValidCount = valid;
    const value = e.evaluate(valid);
    accumulateMoments(d, valid, e.dValue, e.grads, e.index, this.samples.points, this.G);
    this.refreshJacobianBasis();
    const P = t.numberOfParameters;
    gradient.fill(0);
    const G = this.G;
    const w = d + 1;
    // Σ_k v_kᵀ J(x_k) = (Σ v_k)ᵀ J(0) + Σ_j (Σ_k x_kj v_k)ᵀ (J(e_j) − J(0))
    for (let r = 0; r < d; r++) {
      const J0 = this.jacobianBasis[0];
      const vsum = G[r * w + d];
      for (let p = 0; p < P; p++) gradient[p] += vsum * J0[r * P + p];
      for (let j = 0; j < d; j++) {
        const Jj = this.jacobianBasis[j + 1];
        const gx = G[r * w + j];
        if (gx === 0) continue;
        for (let p = 0; p < P; p++) gradient[p] += gx * Jj[r * P + p];
      }
    }
    return value;
  }
}
