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

export interface BSplineCostOptions extends SampledCostOptions {
  /** Weight of the bending energy (added to the metric's cost). */
  bendingWeight?: number;
  /** Weight of the penalty on Jacobian determinants below 0.1 (keeps the deformation from folding). */
  jacobianWeight?: number;
}

export class BSplineRegistrationCost implements CostFunction {
  readonly bspline: BSplineTransform;
  private readonly A: Float64Array;
  private readonly t: Float64Array;
  private readonly samples: SampleSet;
  private readonly sampler: MovingSampler;
  private readonly evaluator: SampleMetricEvaluator;
  private readonly support: number;
  private readonly counts: Uint8Array;
  private readonly indices: Int32Array;
  private readonly weights: Float32Array;
  private readonly Y: Float64Array;
  private readonly regGrad: Float64Array;
  private readonly opts: BSplineCostOptions;
  private readonly movingMask: Image | null;
  private readonly maskN: Float64Array | null;
  lastValidCount = 0;
  evaluations = 0;

  constructor(bspline: BSplineTransform, linear: LinearTransform, samples: SampleSet, sampler: MovingSampler, opts: BSplineCostOptions) {
    this.bspline = bspline;
    this.A = linear.matrix();
    this.t = linear.offset();
    this.samples = samples;
    this.sampler = sampler;
    this.opts = opts;
    this.evaluator = new SampleMetricEvaluator(samples, opts);
    const d = samples.dimension;
    const n = samples.count;
    const S = d === 2 ? 16 : 64;
    this.support = S;
    this.counts = new Uint8Array(n);
    this.indices = new Int32Array(n * S);
    this.weights = new Float32Array(n * S);
    const w = new Float64Array(S);
    const idx = new Int32Array(S);
    const p = new Float64Array(d);
    for (let i = 0; i < n; i++) {
      for (let a = 0; a < d; a++) p[a] = samples.points[i * d + a];
      const c = bspline.sparseJacobian(p, w, idx);
      this.counts[i] = c;
      for (let j = 0; j < c; j++) {
        this.indices[i * S + j] = idx[j];
        this.weights[i * S + j] = w[j];
      }
    }
    this.Y = new Float64Array(n * d);
    this.regGrad = new Float64Array(bspline.numberOfParameters);
    this.movingMask = opts.movingMask ?? null;
    this.maskN = opts.movingMask ? physicalToIndexMatrix(opts.movingMask) : null;
  }

  evaluate(params: Float64Array, gradient: Float64Array): number {
    this.evaluations++;
    const bs = this.bspline;
    bs.setParameters(params);
    const c = bs.parameters;
    const nC = bs.numberOfControlPoints;
    const d = this.samples.dimension;
    const n = this.samples.count;
    const S = this.support;
    const A = this.A;
    const t = this.t;
    const X = this.samples.points;
    const Y = this.Y;
    const counts = this.counts;
    const indices = this.indices;
    const weights = this.weights;
    // Y_i = A (x_i + u(x_i)) + t
    for (let i = 0; i < n; i++) {
      let ux = 0;
      let uy = 0;
      let uz = 0;
      const base = i * S;
      const m = counts[i];
      if (d === 2) {
        for (let j = 0; j < m; j++) {
          const k = indices[base + j];
          const wj = weights[base + j];
          ux += wj * c[k];
          uy += wj * c[nC + k];
        }
        const x = X[2 * i] + ux;
        const y = X[2 * i + 1] + uy;
        Y[2 * i] = A[0] * x + A[1] * y + t[0];
        Y[2 * i + 1] = A[2] * x + A[3] * y + t[1];
      } else {
        for (let j = 0; j < m; j++) {
          const k = indices[base + j];
          const wj = weights[base + j];
          ux += wj * c[k];
          uy += wj * c[nC + k];
          uz += wj * c[2 * nC + k];
        }
        const x = X[3 * i] + ux;
        const y = X[3 * i + 1] + uy;
        const z = X[3 * i + 2] + uz;
        Y[3 * i] = A[0] * x + A[1] * y + A[2] * z + t[0];
        Y[3 * i + 1] = A[3] * x + A[4] * y + A[5] * z + t[1];
        Y[3 * i + 2] = A[6] * x + A[7] * y + A[8] * z + t[2];
      }
    }
    const e = this.evaluator;
    const valid = sampleMovingAtPoints(this.sampler, Y, n, e.values, e.grads, e.index, this.movingMask, this.maskN);
    this.lastValidCount = valid;
    let value = e.evaluate(valid);
    gradient.fill(0);
    const dv = e.dValue;
    const G = e.grads;
    for (let k = 0; k < valid; k++) {
      const s = dv[k];
      if (s === 0) continue;
      const i = e.index[k];
      const m = counts[i];
      if (m === 0) continue;
      const base = i * S;
      if (d === 2) {
        const gx = s * G[2 * k];
        const gy = s * G[2 * k + 1];
        // v = Aᵀ (s g)
        const vx = A[0] * gx + A[2] * gy;
        const vy = A[1] * gx + A[3] * gy;
        for (let j = 0; j < m; j++) {
          const kk = indices[base + j];
          const wj = weights[base + j];
          gradient[kk] += wj * vx;
          gradient[nC + kk] += wj * vy;
        }
      } else {
        const gx = s * G[3 * k];
        const gy = s * G[3 * k + 1];
        const gz = s * G[3 * k + 2];
        const vx = A[0] * gx + A[3] * gy + A[6] * gz;
        const vy = A[1] * gx + A[4] * gy + A[7] * gz;
        const vz = A[2] * gx + A[5] * gy + A[8] * gz;
        for (let j = 0; j < m; j++) {
          const kk = indices[base + j];
          const wj = weights[base + j];
          gradient[kk] += wj * vx;
          gradient[nC + kk] += wj * vy;
          gradient[2 * nC + kk] += wj * vz;
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
