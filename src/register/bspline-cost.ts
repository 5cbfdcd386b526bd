/**
 * The cost of a cubic B-spline free-form deformation followed by a fixed linear transform:
 * T(x) = A·(x + u(x)) + t, the chain [B-spline, linear] (first-first). The B-spline grid lies over the fixed
 * image, so each sample's 4^d supporting control points and weights do not change while optimising: they are
 * computed once per level. Chain rule: ∂cost/∂c_{k,a} = Σ_i β_k(x_i) · (Aᵀ ∂cost/∂m_i ∇M(T(x_i)))_a.
 */
import type { Image } from '../image/image.js';
import { physicalToIndexMatrix } from '../image/image.js';
import type { CostFunction } from '../optimize/types.js';
import type { BSplineTransform } from '../transform/bspline.js';
import { bendingEnergy, jacobianDeterminantPenalty } from '../transform/bspline-regularizers.js';
import type { LinearTransform } from '../transform/transform.js';
import { SampleMetricEvaluator, sampleMovingAtPoints, type MovingSampler, type SampledCostOptions } from './linear-cost.js';
import type { SampleSet } from './sampling.js';
import { createRandom } from './random.js';
import { indexToPhysicalMatrix } from '../image/image.js';
import { interpolationPlane } from '../interpolate/interpolator.js';
import { linear2d, linear3d } from '../interpolate/kernels.js';
import { maskAt } from './sampling.js';

export interface BSplineCostOptions extends SampledCostOptions {
  /** Weight of the bending energy (added to the metric's cost). */
  bendingWeight?: number;
  /** Weight of the penalty on Jacobian determinants below 0.1 (keeps the deformation from folding). */
  jacobianWeight?: number;
  /**
   * Draw `count` fresh random samples from `image` (within `mask`) at every evaluation instead of using the given
   * sample set (stochastic optimisation, as elastix's random-coordinate sampler with new samples every iteration):
   * over many iterations the whole image is seen, with no fixed set to over-fit. The draws follow `seed`, so runs
   * repeat exactly.
   */
  fresh?: { image: Image; mask?: Image; count: number; seed: number };
}

export class BSplineRegistrationCost implements CostFunction {
  readonly bspline: BSplineTransform;
  private readonly A: Float64Array;
  private readonly t: Float64Array;
  private readonly samples: SampleSet;
  private readonly sampler: MovingSampler;
  private readonly evaluator: SampleMetricEvaluator;
  /** Per sample: linear index of the first supporting control point, or −1 outside the B-spline domain. */
  private readonly bases: Int32Array;
  /** Per sample: 4 cubic weights per axis (separable), 4·d numbers. */
  private readonly weights: Float32Array;
  private readonly Y: Float64Array;
  private readonly regGrad: Float64Array;
  private readonly opts: BSplineCostOptions;
  private readonly movingMask: Image | null;
  private readonly maskN: Float64Array | null;
  lastValidCount = 0;
  evaluations = 0;
  private readonly fresh: FreshSampler | null;
  /** Redraw the samples at every evaluation (off while estimating scales on one draw). */
  private redrawing: boolean;

  constructor(bspline: BSplineTransform, linear: LinearTransform, samples: SampleSet, sampler: MovingSampler, opts: BSplineCostOptions) {
    this.bspline = bspline;
    this.A = linear.matrix();
    this.t = linear.offset();
    this.fresh = opts.fresh && opts.metric !== 'lncc' ? new FreshSampler(opts.fresh.image, opts.fresh.mask, opts.fresh.count, opts.fresh.seed) : null;
    this.redrawing = this.fresh !== null;
    if (this.fresh) samples = this.fresh.samples;
    this.samples = samples;
    this.sampler = sampler;
    this.opts = opts;
    this.evaluator = new SampleMetricEvaluator(samples, opts);
    const d = samples.dimension;
    const n = samples.count;
    // Separable supports (a base index and 4 weights per axis) take 13 numbers per 3D sample instead of 128.
    this.bases = new Int32Array(n);
    this.weights = new Float32Array(n * 4 * d);
    if (this.fresh) this.fresh.draw(bspline, this.bases, this.weights);
    else computeSupports(bspline, samples, 0, n, this.bases, this.weights);
    this.Y = new Float64Array(n * d);

    this.regGrad = new Float64Array(bspline.numberOfParameters);
    this.movingMask = opts.movingMask ?? null;
    this.maskN = opts.movingMask ? physicalToIndexMatrix(opts.movingMask) : null;
  }

  /**
   * Per-parameter scales for the optimiser: the diagonal of a Gauss–Newton approximation of the Hessian,
   * Σ_i (β_k(x_i) (Aᵀ∇M)_a)², normalised to mean 1 over the parameters that samples reach, with a floor for the
   * others. Control points over flat or empty regions then take no huge steps, and the many-parameter problem is
   * much better conditioned.
   */
  parameterScales(params: Float64Array): Float64Array {
    const grad = new Float64Array(params.length);
    const redrawing = this.redrawing;
    this.redrawing = false;
    try {
      this.evaluate(params, grad);
    } finally {
      this.redrawing = redrawing;
    }
    const e = this.evaluator;
    const d = this.samples.dimension;
    const A = this.A;
    const W = this.weights;
    const [nx, nxy] = this.bspline.gridStrides;
    const nC = this.bspline.numberOfControlPoints;
    const diag = new Float64Array(params.length);
    for (let k = 0; k < this.lastValidCount; k++) {
      const i = e.index[k];
      const base = this.bases[i];
      if (base < 0) continue;
      let v0: number;
      let v1: number;
      let v2 = 0;
      if (d === 2) {
        const gx = e.grads[2 * k];
        const gy = e.grads[2 * k + 1];
        v0 = A[0] * gx + A[2] * gy;
        v1 = A[1] * gx + A[3] * gy;
      } else {
        const gx = e.grads[3 * k];
        const gy = e.grads[3 * k + 1];
        const gz = e.grads[3 * k + 2];
        v0 = A[0] * gx + A[3] * gy + A[6] * gz;
        v1 = A[1] * gx + A[4] * gy + A[7] * gz;
        v2 = A[2] * gx + A[5] * gy + A[8] * gz;
      }
      v0 *= v0;
      v1 *= v1;
      v2 *= v2;
      const o = 4 * d * i;
      const kzEnd = d === 3 ? 4 : 1;
      for (let kz = 0; kz < kzEnd; kz++) {
        const wz = d === 3 ? W[o + 8 + kz] : 1;
        for (let ky = 0; ky < 4; ky++) {
          const wyz = wz * W[o + 4 + ky];
          const row = base + kz * nxy + ky * nx;
          for (let kx = 0; kx < 4; kx++) {
            const w = wyz * W[o + kx];
            const w2 = w * w;
            diag[row + kx] += w2 * v0;
            diag[nC + row + kx] += w2 * v1;
            if (d === 3) diag[2 * nC + row + kx] += w2 * v2;
          }
        }
      }
    }
    let sum = 0;
    let count = 0;
    for (const v of diag) if (v > 0) {
      sum += v;
      count++;
    }
    const mean = count > 0 ? sum / count : 1;
    // Never amplify steps (a control point with no information must not wander off): scales ≥ 1.
    const floor = 1;
    for (let p = 0; p < diag.length; p++) diag[p] = Math.max(floor, diag[p] / mean);
    return diag;
  }

  evaluate(params: Float64Array, gradient: Float64Array): number {
    this.evaluations++;
    const bs = this.bspline;
    bs.setParameters(params);
    const c = bs.parameters;
    const nC = bs.numberOfControlPoints;
    const d = this.samples.dimension;
    const n = this.samples.count;
    const A = this.A;
    const t = this.t;
    const X = this.samples.points;
    const Y = this.Y;
    const bases = this.bases;
    const W = this.weights;
    const [nx, nxy] = bs.gridStrides;
    if (this.redrawing && this.evaluations > 1) this.fresh!.draw(bs, this.bases, this.weights);
    const m = n;
    // Y_i = A (x_i + u(x_i)) + t
    if (d === 2) {
      for (let i = 0; i < m; i++) {
        const j = i;
        let ux = 0;
        let uy = 0;
        const base = bases[i];
        if (base >= 0) {
          const o = 8 * i;
          for (let ky = 0; ky < 4; ky++) {
            const wy = W[o + 4 + ky];
            const row = base + ky * nx;
            const w0 = wy * W[o];
            const w1 = wy * W[o + 1];
            const w2 = wy * W[o + 2];
            const w3 = wy * W[o + 3];
            ux += w0 * c[row] + w1 * c[row + 1] + w2 * c[row + 2] + w3 * c[row + 3];
            const r = row + nC;
            uy += w0 * c[r] + w1 * c[r + 1] + w2 * c[r + 2] + w3 * c[r + 3];
          }
        }
        const x = X[2 * i] + ux;
        const y = X[2 * i + 1] + uy;
        Y[2 * j] = A[0] * x + A[1] * y + t[0];
        Y[2 * j + 1] = A[2] * x + A[3] * y + t[1];
      }
    } else {
      const nC2 = 2 * nC;
      for (let i = 0; i < m; i++) {
        const j = i;
        let ux = 0;
        let uy = 0;
        let uz = 0;
        const base = bases[i];
        if (base >= 0) {
          const o = 12 * i;
          for (let kz = 0; kz < 4; kz++) {
            const wz = W[o + 8 + kz];
            for (let ky = 0; ky < 4; ky++) {
              const wyz = wz * W[o + 4 + ky];
              const row = base + kz * nxy + ky * nx;
              const w0 = wyz * W[o];
              const w1 = wyz * W[o + 1];
              const w2 = wyz * W[o + 2];
              const w3 = wyz * W[o + 3];
              ux += w0 * c[row] + w1 * c[row + 1] + w2 * c[row + 2] + w3 * c[row + 3];
              const r1 = row + nC;
              uy += w0 * c[r1] + w1 * c[r1 + 1] + w2 * c[r1 + 2] + w3 * c[r1 + 3];
              const r2 = row + nC2;
              uz += w0 * c[r2] + w1 * c[r2 + 1] + w2 * c[r2 + 2] + w3 * c[r2 + 3];
            }
          }
        }
        const x = X[3 * i] + ux;
        const y = X[3 * i + 1] + uy;
        const z = X[3 * i + 2] + uz;
        Y[3 * j] = A[0] * x + A[1] * y + A[2] * z + t[0];
        Y[3 * j + 1] = A[3] * x + A[4] * y + A[5] * z + t[1];
        Y[3 * j + 2] = A[6] * x + A[7] * y + A[8] * z + t[2];
      }
    }
    const e = this.evaluator;
    const valid = sampleMovingAtPoints(this.sampler, Y, m, e.values, e.grads, e.index, this.movingMask, this.maskN);
    this.lastValidCount = valid;
    let value = e.evaluate(valid, this.fresh ? this.fresh.drawn : m);
    gradient.fill(0);
    const dv = e.dValue;
    const G = e.grads;
    for (let k = 0; k < valid; k++) {
      const s = dv[k];
      if (s === 0) continue;
      const i = e.index[k];
      const base = bases[i];
      if (base < 0) continue;
      if (d === 2) {
        const gx = s * G[2 * k];
        const gy = s * G[2 * k + 1];
        // v = Aᵀ (s g), spread over the support with the sample's weights
        const vx = A[0] * gx + A[2] * gy;
        const vy = A[1] * gx + A[3] * gy;
        const o = 8 * i;
        for (let ky = 0; ky < 4; ky++) {
          const wy = W[o + 4 + ky];
          const row = base + ky * nx;
          for (let kx = 0; kx < 4; kx++) {
            const wj = wy * W[o + kx];
            gradient[row + kx] += wj * vx;
            gradient[nC + row + kx] += wj * vy;
          }
        }
      } else {
        const gx = s * G[3 * k];
        const gy = s * G[3 * k + 1];
        const gz = s * G[3 * k + 2];
        const vx = A[0] * gx + A[3] * gy + A[6] * gz;
        const vy = A[1] * gx + A[4] * gy + A[7] * gz;
        const vz = A[2] * gx + A[5] * gy + A[8] * gz;
        const o = 12 * i;
        for (let kz = 0; kz < 4; kz++) {
          const wz = W[o + 8 + kz];
          for (let ky = 0; ky < 4; ky++) {
            const wyz = wz * W[o + 4 + ky];
            const row = base + kz * nxy + ky * nx;
            for (let kx = 0; kx < 4; kx++) {
              const wj = wyz * W[o + kx];
              gradient[row + kx] += wj * vx;
              gradient[nC + row + kx] += wj * vy;
              gradient[2 * nC + row + kx] += wj * vz;
            }
          }
        }
      }
    }
    const rg = this.regGrad;
    const P = bs.numberOfParameters;
    if (this.opts.bendingWeight) {
      const wb = this.opts.bendingWeight;
      value += wb * bendingEnergy(bs, null, rg);
      for (let p = 0; p < P; p++) gradient[p] += wb * rg[p];
    }
    if (this.opts.jacobianWeight) {
      const wj = this.opts.jacobianWeight;
      value += wj * jacobianDeterminantPenalty(bs, null, rg);
      for (let p = 0; p < P; p++) gradient[p] += wj * rg[p];
    }
    return value;
  }
}

/** Separable B-spline supports of samples [start, end) (base index, or −1 outside the domain; 4·d weights). */
function computeSupports(bspline: BSplineTransform, samples: SampleSet, start: number, end: number, bases: Int32Array, weights: Float32Array): void {
  const d = samples.dimension;
  const W = 4 * d;
  const w = new Float64Array(W);
  const p = new Float64Array(d);
  for (let i = start; i < end; i++) {
    for (let a = 0; a < d; a++) p[a] = samples.points[i * d + a];
    const base = bspline.separableSupport(p, w);
    bases[i] = base;
    if (base >= 0) for (let k = 0; k < W; k++) weights[i * W + k] = w[k];
  }
}

/** Uniform random positions in the fixed image (optionally within a mask), fixed values by linear interpolation. */
class FreshSampler {
  readonly samples: SampleSet;
  /** Samples actually drawn by the last draw (fewer than asked only when the mask is nearly empty). */
  drawn = 0;
  private readonly image: Image;
  private readonly mask: Image | null;
  private readonly maskN: Float64Array | null;
  private readonly plane: Float32Array | Float64Array;
  private readonly M: Float64Array;
  private readonly random: () => number;

  constructor(image: Image, mask: Image | undefined, count: number, seed: number) {
    const d = image.dimension;
    this.image = image;
    this.mask = mask ?? null;
    this.maskN = mask ? physicalToIndexMatrix(mask) : null;
    this.plane = interpolationPlane(image, 0);
    this.M = indexToPhysicalMatrix(image);
    this.random = createRandom(seed);
    this.samples = { dimension: d, count, points: new Float64Array(count * d), values: new Float64Array(count), voxels: new Int32Array(count) };
  }

  draw(bspline: BSplineTransform, bases: Int32Array, weights: Float32Array): void {
    const { image, plane, M, random } = this;
    const d = image.dimension;
    const [nx, ny] = image.size;
    const nz = d === 3 ? image.size[2] : 1;
    const o = image.origin;
    const pts = this.samples.points;
    const vals = this.samples.values;
    const m = this.samples.count;
    const ci = new Float64Array(3);
    const p = new Float64Array(d);
    let j = 0;
    for (let tries = 0; j < m && tries < 50 * m; tries++) {
      ci[0] = random() * nx - 0.5;
      ci[1] = random() * ny - 0.5;
      ci[2] = d === 3 ? random() * nz - 0.5 : 0;
      for (let r = 0; r < d; r++) {
        let acc = o[r];
        for (let c = 0; c < d; c++) acc += M[r * d + c] * ci[c];
        p[r] = acc;
      }
      if (this.mask && !maskAt(this.mask, this.maskN!, p)) continue;
      const v = d === 2 ? linear2d(plane, nx, ny, ci[0], ci[1]) : linear3d(plane, nx, ny, nz, ci[0], ci[1], ci[2]);
      if (v !== v) continue;
      for (let a = 0; a < d; a++) pts[j * d + a] = p[a];
      vals[j] = v;
      j++;
    }
    // Too few found (a nearly empty mask): repeat the found ones so every array entry is valid.
    for (let k = j; k < m && j > 0; k++) {
      for (let a = 0; a < d; a++) pts[k * d + a] = pts[(k % j) * d + a];
      vals[k] = vals[k % j];
    }
    this.drawn = j;
    computeSupports(bspline, this.samples, 0, m, bases, weights);
  }
}
