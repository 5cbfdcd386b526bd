/**
 * The cost of a cubic B-spline free-form deformation followed by a fixed linear transform:
 * T(x) = A·(x + u(x)) + t, the chain [B-spline, linear] (first-first). The B-spline grid lies over the fixed
 * image, so each sample's 4^d supporting control points and weights do not change while optimising: they are
 * computed once per level. Chain rule: ∂cost/∂c_{k,a} = Σ_i β_k(x_i) · (Aᵀ ∂cost/∂m_i ∇M(T(x_i)))_a.
 */
import type { Image } from '../image/image.js';
import { indexToPhysicalMatrix, physicalToIndexMatrix } from '../image/image.js';
import { interpolationPlane } from '../interpolate/interpolator.js';
import { linear2d, linear3d } from '../interpolate/kernels.js';
import type { CostFunction } from '../optimize/types.js';
import type { BSplineTransform } from '../transform/bspline.js';
import { bsplineSupportBases, bsplineSupports } from '../transform/bspline-supports.js';
import { bendingEnergy, bsplineSamplePoints, jacobianDeterminantPenalty } from '../transform/bspline-regularizers.js';
import type { LinearTransform } from '../transform/transform.js';
import { packMovingSample2d, packMovingSample3d, SampleMetricEvaluator, type MovingSampler, type SampledCostOptions } from './linear-cost.js';
import { createRandom } from './random.js';
import { maskAt, type SampleSet } from './sampling.js';

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
  /** Parameters and gradient with the d components of each control point side by side. */
  private readonly cInterleaved: Float64Array;
  private readonly gInterleaved: Float64Array;
  private readonly scratch = new Float64Array(6);
  private readonly regGrad: Float64Array;
  /** The folding penalty's sample points: fixed by the control grid, so built once, not per evaluation. */
  private readonly jacobianPoints: Float64Array | null;
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
    this.fresh = opts.fresh && opts.metric !== 'lncc' ? new FreshSampler(opts.fresh.image, opts.fresh.mask, opts.fresh.count, opts.fresh.seed, bspline) : null;
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
    else bsplineSupports(bspline, samples.points, n, this.bases, this.weights);
    this.cInterleaved = new Float64Array(bspline.numberOfParameters);
    this.gInterleaved = new Float64Array(bspline.numberOfParameters);

    this.regGrad = new Float64Array(bspline.numberOfParameters);
    this.jacobianPoints = opts.jacobianWeight ? bsplineSamplePoints(bspline) : null;
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
    const m = this.samples.count;
    const bases = this.bases;
    const W = this.weights;
    const [nx, nxy] = bs.gridStrides;
    const fresh = this.fresh;
    if (fresh && this.redrawing && this.evaluations > 1) fresh.draw(bs, bases, W);
    const cI = this.cInterleaved;
    interleave(c, nC, d, cI);
    const e = this.evaluator;
    const s = this.sampler;
    const valid =
      d === 2
        ? mapAndSample2d(m, this.samples.points, bases, W, cI, nx, this.A, this.t, s, e.values, e.grads, e.index, this.movingMask, this.maskN, this.scratch)
        : mapAndSample3d(m, this.samples.points, bases, W, cI, nx, nxy, this.A, this.t, s, e.values, e.grads, e.index, this.movingMask, this.maskN, this.scratch);
    this.lastValidCount = valid;
    let value = e.evaluate(valid, fresh ? fresh.drawn : m);
    const gI = this.gInterleaved;
    gI.fill(0);
    if (d === 2) scatter2d(valid, e.dValue, e.grads, e.index, bases, W, this.A, nx, gI);
    else scatter3d(valid, e.dValue, e.grads, e.index, bases, W, this.A, nx, nxy, gI);
    deinterleave(gI, nC, d, gradient);
    const rg = this.regGrad;
    const P = bs.numberOfParameters;
    if (this.opts.bendingWeight) {
      const wb = this.opts.bendingWeight;
      value += wb * bendingEnergy(bs, null, rg);
      for (let p = 0; p < P; p++) gradient[p] += wb * rg[p];
    }
    if (this.opts.jacobianWeight) {
      const wj = this.opts.jacobianWeight;
      value += wj * jacobianDeterminantPenalty(bs, this.jacobianPoints, rg);
      for (let p = 0; p < P; p++) gradient[p] += wj * rg[p];
    }
    return value;
  }
}

// --- per-evaluation passes (plain functions over typed arrays: the hot path) ---------------------------

/** Coefficients component-interleaved per control point: a support row is then 4·d adjacent numbers. */
function interleave(c: Float64Array, nC: number, d: number, out: Float64Array): void {
  if (d === 2) {
    for (let k = 0; k < nC; k++) {
      out[2 * k] = c[k];
      out[2 * k + 1] = c[nC + k];
    }
  } else {
    const nC2 = 2 * nC;
    for (let k = 0; k < nC; k++) {
      out[3 * k] = c[k];
      out[3 * k + 1] = c[nC + k];
      out[3 * k + 2] = c[nC2 + k];
    }
  }
}

function deinterleave(g: Float64Array, nC: number, d: number, out: Float64Array): void {
  if (d === 2) {
    for (let k = 0; k < nC; k++) {
      out[k] = g[2 * k];
      out[nC + k] = g[2 * k + 1];
    }
  } else {
    const nC2 = 2 * nC;
    for (let k = 0; k < nC; k++) {
      out[k] = g[3 * k];
      out[nC + k] = g[3 * k + 1];
      out[nC2 + k] = g[3 * k + 2];
    }
  }
}

/**
 * For every sample: y = A (x + u(x)) + t, then the moving value and PHYSICAL gradient at y, packed to the front
 * over the valid samples (outside the moving image or its mask: dropped), with `index` mapping packed → sample,
 * with packMovingSample2d/3d. `cI` is interleaved (see interleave); `g` is scratch of ≥ 6 numbers. Returns the
 * number of valid samples.
 */
function mapAndSample3d(
  m: number,
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
  let valid = 0;
  for (let i = 0; i < m; i++) {
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

function mapAndSample2d(
  m: number,
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
  let valid = 0;
  for (let i = 0; i < m; i++) {
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
 * gI (interleaved) += Σ_k β(x_k) Aᵀ (∂cost/∂m_k ∇M_k) over the packed valid samples, in sample order (so each
 * parameter's sum adds the same terms in the same order as a plain per-parameter loop).
 */
function scatter3d(valid: number, dv: Float64Array, G: Float64Array, index: Int32Array, bases: Int32Array, W: Float32Array, A: Float64Array, nx: number, nxy: number, gI: Float64Array): void {
  for (let k = 0; k < valid; k++) {
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
        const r = 3 * (base + kz * nxy + ky * nx);
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

function scatter2d(valid: number, dv: Float64Array, G: Float64Array, index: Int32Array, bases: Int32Array, W: Float32Array, A: Float64Array, nx: number, gI: Float64Array): void {
  for (let k = 0; k < valid; k++) {
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
      const r = 2 * (base + ky * nx);
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
 * Uniform random positions in the fixed image (optionally within a mask), fixed values by linear interpolation.
 * Each draw is then stored grouped by B-spline cell (a stable counting sort on the first supporting control
 * point; points outside the grid first): every per-sample pass then walks the control grid and both images in
 * spatial order, where random order missed the cache on most samples of the finest level. The set of samples is
 * the same as in drawing order; only the order of the sums over them changes (by rounding).
 */
/** Linear indices of the voxels of `image` whose centres lie inside `mask` (any grid). */
function voxelsInMask(image: Image, mask: Image, maskN: Float64Array, M: Float64Array): Int32Array {
  const d = image.dimension;
  const [nx, ny] = image.size;
  const n = image.size.reduce((a, b) => a * b, 1);
  const o = image.origin;
  const p = new Float64Array(d);
  const out = new Int32Array(n);
  let count = 0;
  for (let v = 0; v < n; v++) {
    const i = v % nx;
    const j = Math.floor(v / nx) % ny;
    const k = d === 3 ? Math.floor(v / (nx * ny)) : 0;
    for (let r = 0; r < d; r++) p[r] = o[r] + M[r * d] * i + M[r * d + 1] * j + (d === 3 ? M[r * d + 2] * k : 0);
    if (maskAt(mask, maskN, p)) out[count++] = v;
  }
  return out.slice(0, count);
}

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
  /** Continuous fixed index of each sample (d per sample), in drawing order and sorted. */
  private readonly drawnIndex: Float64Array;
  private readonly index: Float64Array;
  /** Points and (when not deferred) values in drawing order. */
  private readonly drawnPoints: Float64Array;
  private readonly drawnValues: Float64Array;
  /** Per drawn sample: its cell (first supporting control point, −1 outside); bucket starts of the sort. */
  private readonly cells: Int32Array;
  private readonly cellStarts: Int32Array;
  /**
   * With a finite fixed image no draw (always inside the image) can give NaN, so the values are interpolated
   * after sorting, in spatial order; otherwise during the draw, to reject NaN.
   */
  private readonly deferValues: boolean;
  private readonly point = new Float64Array(3);
  /** With a mask: the voxels whose centre lies inside it (samples are drawn from these, as elastix does). */
  private readonly maskVoxels: Int32Array | null;

  constructor(image: Image, mask: Image | undefined, count: number, seed: number, bspline: BSplineTransform) {
    const d = image.dimension;
    this.image = image;
    this.mask = mask ?? null;
    this.maskN = mask ? physicalToIndexMatrix(mask) : null;
    this.plane = interpolationPlane(image, 0);
    this.M = indexToPhysicalMatrix(image);
    this.random = createRandom(seed);
    this.samples = { dimension: d, count, points: new Float64Array(count * d), values: new Float64Array(count), voxels: new Int32Array(count) };
    this.drawnIndex = new Float64Array(count * d);
    this.index = new Float64Array(count * d);
    this.drawnPoints = new Float64Array(count * d);
    this.drawnValues = new Float64Array(count);
    this.cells = new Int32Array(count);
    this.cellStarts = new Int32Array(bspline.numberOfControlPoints + 1);
    this.deferValues = allFinite(this.plane);
    this.maskVoxels = mask ? voxelsInMask(image, mask, this.maskN!, this.M) : null;
  }

  /** Draws the next samples (sorted by cell) and their B-spline supports into bases and weights. */
  draw(bspline: BSplineTransform, bases: Int32Array, weights: Float32Array): void {
    const { image, plane, M, random } = this;
    const d = image.dimension;
    const [nx, ny] = image.size;
    const nz = d === 3 ? image.size[2] : 1;
    const o = image.origin;
    const pts = this.drawnPoints;
    const vals = this.drawnValues;
    const ci = this.drawnIndex;
    const m = this.samples.count;
    const p = this.point;
    const mask = this.mask;
    const defer = this.deferValues;
    const inMask = this.maskVoxels;
    const nInMask = inMask ? inMask.length : 0;
    let j = 0;
    for (let tries = 0; j < m && tries < 50 * m && (inMask === null || nInMask > 0); tries++) {
      let cx: number;
      let cy: number;
      let cz = 0;
      if (inMask) {
        // A random voxel of the mask, then a random position inside it.
        const v = inMask[Math.min(nInMask - 1, Math.floor(random() * nInMask))];
        cx = (v % nx) + random() - 0.5;
        cy = (Math.floor(v / nx) % ny) + random() - 0.5;
        if (d === 3) cz = Math.floor(v / (nx * ny)) + random() - 0.5;
      } else {
        cx = random() * nx - 0.5;
        cy = random() * ny - 0.5;
        if (d === 3) cz = random() * nz - 0.5;
      }
      if (d === 2) {
        p[0] = o[0] + M[0] * cx + M[1] * cy;
        p[1] = o[1] + M[2] * cx + M[3] * cy;
      } else {
        p[0] = o[0] + M[0] * cx + M[1] * cy + M[2] * cz;
        p[1] = o[1] + M[3] * cx + M[4] * cy + M[5] * cz;
        p[2] = o[2] + M[6] * cx + M[7] * cy + M[8] * cz;
      }
      if (mask && !maskAt(mask, this.maskN!, p)) continue;
      if (!defer) {
        const v = d === 2 ? linear2d(plane, nx, ny, cx, cy) : linear3d(plane, nx, ny, nz, cx, cy, cz);
        if (v !== v) continue;
        vals[j] = v;
      }
      ci[d * j] = cx;
      ci[d * j + 1] = cy;
      pts[d * j] = p[0];
      pts[d * j + 1] = p[1];
      if (d === 3) {
        ci[3 * j + 2] = cz;
        pts[3 * j + 2] = p[2];
      }
      j++;
    }
    // Too few found (a nearly empty mask): repeat the found ones so every array entry is valid.
    for (let k = j; k < m && j > 0; k++) {
      for (let a = 0; a < d; a++) {
        pts[k * d + a] = pts[(k % j) * d + a];
        ci[k * d + a] = ci[(k % j) * d + a];
      }
      vals[k] = vals[k % j];
    }
    this.drawn = j;
    bsplineSupportBases(bspline, pts, m, this.cells);
    sortByCell(d, m, this.cells, this.cellStarts, pts, ci, defer ? null : vals, this.samples.points, this.index, this.samples.values);
    bsplineSupports(bspline, this.samples.points, m, bases, weights);
    if (defer) this.interpolateValues();
  }

  /** Fixed values at the (sorted) samples. */
  private interpolateValues(): void {
    const image = this.image;
    const [nx, ny] = image.size;
    const plane = this.plane;
    const ci = this.index;
    const vals = this.samples.values;
    const m = this.samples.count;
    if (image.dimension === 2) {
      for (let i = 0; i < m; i++) vals[i] = linear2d(plane, nx, ny, ci[2 * i], ci[2 * i + 1]);
    } else {
      const nz = image.size[2];
      for (let i = 0; i < m; i++) vals[i] = linear3d(plane, nx, ny, nz, ci[3 * i], ci[3 * i + 1], ci[3 * i + 2]);
    }
  }
}

/**
 * Stable counting sort of m samples by cell (−1 first): points and continuous indices (d per sample) and values
 * (when given) from the drawn arrays into the sorted ones.
 */
function sortByCell(
  d: number,
  m: number,
  cells: Int32Array,
  starts: Int32Array,
  points: Float64Array,
  ci: Float64Array,
  values: Float64Array | null,
  pointsOut: Float64Array,
  ciOut: Float64Array,
  valuesOut: Float64Array,
): void {
  starts.fill(0);
  for (let i = 0; i < m; i++) starts[cells[i] + 1]++;
  let sum = 0;
  for (let b = 0; b < starts.length; b++) {
    const n = starts[b];
    starts[b] = sum;
    sum += n;
  }
  for (let i = 0; i < m; i++) {
    const q = starts[cells[i] + 1]++;
    for (let a = 0; a < d; a++) {
      pointsOut[q * d + a] = points[i * d + a];
      ciOut[q * d + a] = ci[i * d + a];
    }
    if (values) valuesOut[q] = values[i];
  }
}

function allFinite(a: Float32Array | Float64Array): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) return false;
  return true;
}
