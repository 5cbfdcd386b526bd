/**
 * The finest level of `coreg change`'s B-spline registration: mse of the residual smoothed in the FIXED frame,
 *   C(c) = (1/N) Σ_x ((G_σ ∗ e)(x))²,   e(x) = m(T_c(x)) − f(x) on the region's voxels, 0 elsewhere,
 * instead of the mse of two images smoothed before warping, (G_σ∗m)(T(x)) − (G_σ∗f)(x). Gaussian smoothing does not
 * commute with a deformation that is not a translation: (G_σ∗m)∘T is m∘T smoothed by about σ/J^(1/d) in the fixed
 * frame, so where the follow-up shrank the two sides are blurred differently, and the mse is smallest at a shrunk
 * copy of the true deformation (the bench's −10 % case read −9.66 % at σ = 1 voxel). Smoothing the residual keeps
 * what the σ was there for, no pull of the noise towards sub-voxel shifts (G_σ removes the frequencies at which
 * interpolating noise at a fraction of a voxel lowers its variance), and is zero at the true deformation whatever
 * σ is.
 * Gradient (G_σ is symmetric): ∂C/∂c = (2/N) Σ_{x∈region} (G_σ∗G_σ∗e)(x) · ∂m(T(x))/∂c: the plain mse gradient with
 * the residual replaced by G_σ applied twice. The smoothing runs on the region's bounding box (padded by the kernel
 * twice, clipped to the image) with zero outside it, the same operator both times, so the gradient is exact.
 * Chain: [B-spline, linear], T(x) = A(x + u(x)) + t, as register's B-spline stage; both images on any grids.
 */
import { CoregError } from '../errors.js';
import { indexToPhysicalMatrix, physicalToIndexMatrix, type Image } from '../image/image.js';
import { bsplineCoefficients, bspline3d } from '../interpolate/bspline.js';
import { optimizeLbfgs } from '../optimize/lbfgs.js';
import type { CostFunction, OptimizerResult } from '../optimize/types.js';
import { gaussianKernel } from '../pyramid/smooth.js';
import type { BSplineTransform } from '../transform/bspline.js';
import { bsplineSupports } from '../transform/bspline-supports.js';
import { axisStart, cubicWeights } from '../transform/bspline-kernels.js';
import type { LinearTransform } from '../transform/transform.js';

/** Separable convolution of a box (x fastest) with a symmetric kernel, zero outside the box; in place via tmp. */
export function convolveBoxZero(data: Float64Array, size: readonly [number, number, number], kernel: Float64Array, tmp: Float64Array): void {
  const r = (kernel.length - 1) / 2;
  const [nx, ny, nz] = size;
  const strides = [1, nx, nx * ny];
  for (let axis = 0; axis < 3; axis++) {
    const len = size[axis];
    if (len === 1) continue;
    const stride = strides[axis];
    tmp.set(data);
    // every line along `axis`: start offsets over the other two axes
    const [na, nb, sa, sb] = axis === 0 ? [ny, nz, nx, nx * ny] : axis === 1 ? [nx, nz, 1, nx * ny] : [nx, ny, 1, nx];
    for (let b = 0; b < nb; b++) {
      for (let a = 0; a < na; a++) {
        const start = a * sa + b * sb;
        for (let j = 0; j < len; j++) {
          const k0 = Math.max(0, j - r);
          const k1 = Math.min(len - 1, j + r);
          let s = 0;
          for (let k = k0; k <= k1; k++) s += kernel[k - j + r] * tmp[start + k * stride];
          data[start + j * stride] = s;
        }
      }
    }
  }
}

export interface SmoothedResidualOptions {
  /** Standard deviation of the Gaussian on the residual, in voxels of the fixed image (0: the plain mse). */
  sigmaVoxels: number;
  maxIterations: number;
  signal?: AbortSignal;
}

/**
 * The cost above for a 3D B-spline (`bspline`, followed by `linear`) over the voxels of `fixed` where `region` ≠ 0.
 * Its parameters are the B-spline's; evaluating sets them.
 */
export class SmoothedResidualCost implements CostFunction {
  readonly count: number;
  evaluations = 0;
  private readonly bspline: BSplineTransform;
  private readonly coef: Float64Array;
  private readonly msize: [number, number, number];
  /** Physical → moving continuous index, composed with A: i = PA·(x + u) + q. */
  private readonly PA: Float64Array;
  private readonly q: Float64Array;
  private readonly points: Float64Array;
  private readonly values: Float64Array;
  private readonly boxIndex: Int32Array;
  private readonly bases: Int32Array;
  private readonly weights: Float64Array;
  private readonly box: [number, number, number];
  private readonly kernel: Float64Array | null;
  private readonly residual: Float64Array;
  private readonly tmp: Float64Array;
  /** Per sample: ∂m/∂(moving index) at T(x) of the last evaluation; NaN-free (0 outside the moving image). */
  readonly indexGradients: Float64Array;
  private readonly grad = new Float64Array(3);
  /**
   * When the control grid's axes are the fixed image's (a grid made for that image), the displacements of the whole
   * box and the gradient's sums over it run as three 1D passes (4 taps per voxel and axis instead of 64 per voxel):
   * per axis and box position, the first control index (−1 outside the B-spline domain: no displacement there, as
   * in the general path) and the 4 weights.
   */
  private readonly separable: { starts: Int32Array[]; w: Float64Array[]; U: Float64Array; T1: Float64Array; T2: Float64Array } | null;

  constructor(fixed: Image, moving: Image, region: ArrayLike<number>, bspline: BSplineTransform, linear: LinearTransform | undefined, sigmaVoxels: number, allowSeparable = true) {
    if (fixed.dimension !== 3 || moving.dimension !== 3 || bspline.dimension !== 3) throw new CoregError('change', 'the smoothed-residual level is 3D only');
    if (region.length !== fixed.data.length) throw new CoregError('change', 'region and fixed image differ in size');
    this.bspline = bspline;
    const [nx, ny, nz] = fixed.size;
    const r = sigmaVoxels > 0 ? (gaussianKernel(sigmaVoxels).length - 1) / 2 : 0;
    const lo = [nx, ny, nz];
    const hi = [-1, -1, -1];
    let n = 0;
    for (let z = 0, i = 0; z < nz; z++)
      for (let y = 0; y < ny; y++)
        for (let x = 0; x < nx; x++, i++) {
          if (region[i] === 0) continue;
          n++;
          if (x < lo[0]) lo[0] = x;
          if (x > hi[0]) hi[0] = x;
          if (y < lo[1]) lo[1] = y;
          if (y > hi[1]) hi[1] = y;
          if (z < lo[2]) lo[2] = z;
          if (z > hi[2]) hi[2] = z;
        }
    if (n === 0) throw new CoregError('change', 'the sampled region is empty');
    this.count = n;
    for (let a = 0; a < 3; a++) {
      lo[a] = Math.max(0, lo[a] - 2 * r);
      hi[a] = Math.min(fixed.size[a] - 1, hi[a] + 2 * r);
    }
    this.box = [hi[0] - lo[0] + 1, hi[1] - lo[1] + 1, hi[2] - lo[2] + 1];
    const boxVoxels = this.box[0] * this.box[1] * this.box[2];
    this.residual = new Float64Array(boxVoxels);
    this.tmp = new Float64Array(boxVoxels);
    this.kernel = sigmaVoxels > 0 ? gaussianKernel(sigmaVoxels) : null;
    this.points = new Float64Array(3 * n);
    this.values = new Float64Array(n);
    this.boxIndex = new Int32Array(n);
    const m = indexToPhysicalMatrix(fixed);
    const o = fixed.origin;
    for (let z = 0, i = 0, k = 0; z < nz; z++)
      for (let y = 0; y < ny; y++)
        for (let x = 0; x < nx; x++, i++) {
          if (region[i] === 0) continue;
          for (let a = 0; a < 3; a++) this.points[3 * k + a] = o[a] + m[3 * a] * x + m[3 * a + 1] * y + m[3 * a + 2] * z;
          this.values[k] = fixed.data[i];
          this.boxIndex[k] = x - lo[0] + this.box[0] * (y - lo[1] + this.box[1] * (z - lo[2]));
          k++;
        }
    this.bases = new Int32Array(n);
    this.weights = new Float64Array(12 * n);
    bsplineSupports(bspline, this.points, n, this.bases, this.weights);
    this.separable = null;
    {
      // toGrid · (index → physical): diagonal when the grid's axes are the image's
      const G = new Float64Array(9);
      for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) for (let k = 0; k < 3; k++) G[3 * i + j] += bspline.toGrid[3 * i + k] * m[3 * k + j];
      const off = Math.max(Math.abs(G[1]), Math.abs(G[2]), Math.abs(G[3]), Math.abs(G[5]), Math.abs(G[6]), Math.abs(G[7]));
      if (allowSeparable && off <= 1e-12 * Math.max(Math.abs(G[0]), Math.abs(G[4]), Math.abs(G[8]))) {
        const starts: Int32Array[] = [];
        const w: Float64Array[] = [];
        for (let a = 0; a < 3; a++) {
          let b = 0;
          for (let k = 0; k < 3; k++) b += bspline.toGrid[3 * a + k] * (o[k] - bspline.gridOrigin[k]);
          const len = this.box[a];
          const st = new Int32Array(len);
          const wa = new Float64Array(4 * len);
          for (let j = 0; j < len; j++) {
            const g = G[4 * a] * (lo[a] + j) + b;
            st[j] = axisStart(g, bspline.gridSize[a]);
            if (st[j] >= 0) cubicWeights(g - st[j] - 1, wa, 4 * j);
          }
          starts.push(st);
          w.push(wa);
        }
        const [gx, gy] = bspline.gridSize;
        const [bx, by, bz] = this.box;
        this.separable = { starts, w, U: new Float64Array(3 * bx * by * bz), T1: new Float64Array(3 * gx * gy * bz), T2: new Float64Array(3 * gx * by * bz) };
      }
    }
    this.coef = bsplineCoefficients(moving.data, moving.size);
    this.msize = [moving.size[0], moving.size[1], moving.size[2]];
    const P = physicalToIndexMatrix(moving);
    const A = linear ? linear.matrix() : Float64Array.of(1, 0, 0, 0, 1, 0, 0, 0, 1);
    const t = linear ? linear.offset() : new Float64Array(3);
    this.PA = new Float64Array(9);
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) for (let k = 0; k < 3; k++) this.PA[3 * i + j] += P[3 * i + k] * A[3 * k + j];
    this.q = new Float64Array(3);
    for (let i = 0; i < 3; i++) for (let k = 0; k < 3; k++) this.q[i] += P[3 * i + k] * (t[k] - moving.origin[k]);
    this.indexGradients = new Float64Array(3 * n);
  }

  evaluate(params: Float64Array, gradient: Float64Array): number {
    this.evaluations++;
    const bs = this.bspline;
    bs.setParameters(params);
    const c = bs.parameters;
    const [gx, gxy] = bs.gridStrides;
    const nc = bs.numberOfControlPoints;
    const { points: X, bases, weights: W, PA, q, coef, values, boxIndex, residual, indexGradients: IG, grad } = this;
    const [mx, my, mz] = this.msize;
    const n = this.count;
    residual.fill(0);
    const sep = this.separable;
    if (sep) this.displacements(c);
    for (let i = 0; i < n; i++) {
      const base = bases[i];
      let ux = 0;
      let uy = 0;
      let uz = 0;
      const o = 12 * i;
      if (sep) {
        const b = 3 * boxIndex[i];
        ux = sep.U[b];
        uy = sep.U[b + 1];
        uz = sep.U[b + 2];
      } else if (base >= 0) {
        for (let kz = 0; kz < 4; kz++) {
          const wz = W[o + 8 + kz];
          for (let ky = 0; ky < 4; ky++) {
            const wyz = wz * W[o + 4 + ky];
            const row = base + kz * gxy + ky * gx;
            const w0 = wyz * W[o];
            const w1 = wyz * W[o + 1];
            const w2 = wyz * W[o + 2];
            const w3 = wyz * W[o + 3];
            ux += w0 * c[row] + w1 * c[row + 1] + w2 * c[row + 2] + w3 * c[row + 3];
            const ry = row + nc;
            uy += w0 * c[ry] + w1 * c[ry + 1] + w2 * c[ry + 2] + w3 * c[ry + 3];
            const rz = ry + nc;
            uz += w0 * c[rz] + w1 * c[rz + 1] + w2 * c[rz + 2] + w3 * c[rz + 3];
          }
        }
      }
      const px = X[3 * i] + ux;
      const py = X[3 * i + 1] + uy;
      const pz = X[3 * i + 2] + uz;
      const ix = PA[0] * px + PA[1] * py + PA[2] * pz + q[0];
      const iy = PA[3] * px + PA[4] * py + PA[5] * pz + q[1];
      const iz = PA[6] * px + PA[7] * py + PA[8] * pz + q[2];
      const v = bspline3d(coef, mx, my, mz, ix, iy, iz, grad);
      if (v === v) {
        residual[boxIndex[i]] = v - values[i];
        IG[3 * i] = grad[0];
        IG[3 * i + 1] = grad[1];
        IG[3 * i + 2] = grad[2];
      } else {
        // outside the moving image: no residual, no gradient (the region lies well inside in practice)
        IG[3 * i] = 0;
        IG[3 * i + 1] = 0;
        IG[3 * i + 2] = 0;
      }
    }
    let value = 0;
    if (this.kernel) {
      convolveBoxZero(residual, this.box, this.kernel, this.tmp);
      for (let k = 0; k < residual.length; k++) value += residual[k] * residual[k];
      convolveBoxZero(residual, this.box, this.kernel, this.tmp);
    } else for (let k = 0; k < residual.length; k++) value += residual[k] * residual[k];
    value /= n;
    gradient.fill(0);
    const scale = 2 / n;
    if (sep) sep.U.fill(0);
    for (let i = 0; i < n; i++) {
      const base = bases[i];
      if (base < 0) continue;
      const e = scale * residual[boxIndex[i]];
      if (e === 0) continue;
      const g0 = e * IG[3 * i];
      const g1 = e * IG[3 * i + 1];
      const g2 = e * IG[3 * i + 2];
      // ∂/∂(x + u) = (PA)ᵀ ∂m/∂i
      const v0 = PA[0] * g0 + PA[3] * g1 + PA[6] * g2;
      const v1 = PA[1] * g0 + PA[4] * g1 + PA[7] * g2;
      const v2 = PA[2] * g0 + PA[5] * g1 + PA[8] * g2;
      if (sep) {
        // gathered on the box, summed onto the control points by the adjoint passes below
        const b = 3 * boxIndex[i];
        sep.U[b] = v0;
        sep.U[b + 1] = v1;
        sep.U[b + 2] = v2;
        continue;
      }
      const o = 12 * i;
      for (let kz = 0; kz < 4; kz++) {
        const wz = W[o + 8 + kz];
        for (let ky = 0; ky < 4; ky++) {
          const wyz = wz * W[o + 4 + ky];
          const row = base + kz * gxy + ky * gx;
          for (let kx = 0; kx < 4; kx++) {
            const w = wyz * W[o + kx];
            gradient[row + kx] += w * v0;
            gradient[nc + row + kx] += w * v1;
            gradient[2 * nc + row + kx] += w * v2;
          }
        }
      }
    }
    if (sep) this.scatterGradient(gradient);
    return value;
  }

  /** Separable path: the displacement (3 interleaved components) of every box voxel into U. */
  private displacements(c: Float64Array): void {
    const { starts, w, U, T1, T2 } = this.separable!;
    const [gx, gy] = this.bspline.gridSize;
    const nc = this.bspline.numberOfControlPoints;
    const [bx, by, bz] = this.box;
    // z: T1[cx, cy, zb] = Σ_kz wz c[cx, cy, sz + kz]
    for (let zb = 0; zb < bz; zb++) {
      const sz = starts[2][zb];
      const out = 3 * gx * gy * zb;
      if (sz < 0) {
        T1.fill(0, out, out + 3 * gx * gy);
        continue;
      }
      const w0 = w[2][4 * zb];
      const w1 = w[2][4 * zb + 1];
      const w2 = w[2][4 * zb + 2];
      const w3 = w[2][4 * zb + 3];
      const p0 = sz * gx * gy;
      const plane = gx * gy;
      for (let q = 0; q < plane; q++) {
        for (let comp = 0; comp < 3; comp++) {
          const r = comp * nc + p0 + q;
          T1[out + 3 * q + comp] = w0 * c[r] + w1 * c[r + plane] + w2 * c[r + 2 * plane] + w3 * c[r + 3 * plane];
        }
      }
    }
    // y: T2[cx, yb, zb] = Σ_ky wy T1[cx, sy + ky, zb]
    for (let zb = 0; zb < bz; zb++) {
      for (let yb = 0; yb < by; yb++) {
        const sy = starts[1][yb];
        const out = 3 * gx * (yb + by * zb);
        if (sy < 0) {
          T2.fill(0, out, out + 3 * gx);
          continue;
        }
        const w0 = w[1][4 * yb];
        const w1 = w[1][4 * yb + 1];
        const w2 = w[1][4 * yb + 2];
        const w3 = w[1][4 * yb + 3];
        const src = 3 * gx * (sy + gy * zb);
        const row = 3 * gx;
        for (let q = 0; q < 3 * gx; q++) T2[out + q] = w0 * T1[src + q] + w1 * T1[src + row + q] + w2 * T1[src + 2 * row + q] + w3 * T1[src + 3 * row + q];
      }
    }
    // x: U[xb, yb, zb] = Σ_kx wx T2[sx + kx, yb, zb]
    for (let line = 0; line < by * bz; line++) {
      const src = 3 * gx * line;
      const out = 3 * bx * line;
      for (let xb = 0; xb < bx; xb++) {
        const sx = starts[0][xb];
        const o = out + 3 * xb;
        if (sx < 0) {
          U[o] = 0;
          U[o + 1] = 0;
          U[o + 2] = 0;
          continue;
        }
        const w0 = w[0][4 * xb];
        const w1 = w[0][4 * xb + 1];
        const w2 = w[0][4 * xb + 2];
        const w3 = w[0][4 * xb + 3];
        const b = src + 3 * sx;
        for (let comp = 0; comp < 3; comp++) U[o + comp] = w0 * T2[b + comp] + w1 * T2[b + 3 + comp] + w2 * T2[b + 6 + comp] + w3 * T2[b + 9 + comp];
      }
    }
  }

  /** Separable path: the adjoint of displacements(): the per-voxel vectors in U summed onto the control points. */
  private scatterGradient(gradient: Float64Array): void {
    const { starts, w, U, T1, T2 } = this.separable!;
    const [gx, gy] = this.bspline.gridSize;
    const nc = this.bspline.numberOfControlPoints;
    const [bx, by, bz] = this.box;
    T2.fill(0);
    for (let line = 0; line < by * bz; line++) {
      const dst = 3 * gx * line;
      const src = 3 * bx * line;
      for (let xb = 0; xb < bx; xb++) {
        const sx = starts[0][xb];
        if (sx < 0) continue;
        const o = src + 3 * xb;
        const b = dst + 3 * sx;
        for (let k = 0; k < 4; k++) {
          const wk = w[0][4 * xb + k];
          T2[b + 3 * k] += wk * U[o];
          T2[b + 3 * k + 1] += wk * U[o + 1];
          T2[b + 3 * k + 2] += wk * U[o + 2];
        }
      }
    }
    T1.fill(0);
    for (let zb = 0; zb < bz; zb++) {
      for (let yb = 0; yb < by; yb++) {
        const sy = starts[1][yb];
        if (sy < 0) continue;
        const src = 3 * gx * (yb + by * zb);
        const dst = 3 * gx * (sy + gy * zb);
        const row = 3 * gx;
        for (let k = 0; k < 4; k++) {
          const wk = w[1][4 * yb + k];
          const d = dst + k * row;
          for (let q = 0; q < 3 * gx; q++) T1[d + q] += wk * T2[src + q];
        }
      }
    }
    const plane = gx * gy;
    for (let zb = 0; zb < bz; zb++) {
      const sz = starts[2][zb];
      if (sz < 0) continue;
      const src = 3 * plane * zb;
      for (let k = 0; k < 4; k++) {
        const wk = w[2][4 * zb + k];
        const p0 = (sz + k) * plane;
        for (let q = 0; q < plane; q++) {
          gradient[p0 + q] += wk * T1[src + 3 * q];
          gradient[nc + p0 + q] += wk * T1[src + 3 * q + 1];
          gradient[2 * nc + p0 + q] += wk * T1[src + 3 * q + 2];
        }
      }
    }
  }

  /**
   * Gauss–Newton diagonal as ITK-style scales (register's B-spline preconditioner: Σ β² (∂m/∂x_a)², over its mean,
   * never below 1), from the gradients of the last evaluation.
   */
  parameterScales(params: Float64Array): Float64Array {
    this.evaluate(params, new Float64Array(params.length));
    const bs = this.bspline;
    const [gx, gxy] = bs.gridStrides;
    const nc = bs.numberOfControlPoints;
    const { bases, weights: W, PA, indexGradients: IG } = this;
    const diag = new Float64Array(params.length);
    for (let i = 0; i < this.count; i++) {
      const base = bases[i];
      if (base < 0) continue;
      const g0 = IG[3 * i];
      const g1 = IG[3 * i + 1];
      const g2 = IG[3 * i + 2];
      const v0 = (PA[0] * g0 + PA[3] * g1 + PA[6] * g2) ** 2;
      const v1 = (PA[1] * g0 + PA[4] * g1 + PA[7] * g2) ** 2;
      const v2 = (PA[2] * g0 + PA[5] * g1 + PA[8] * g2) ** 2;
      const o = 12 * i;
      for (let kz = 0; kz < 4; kz++)
        for (let ky = 0; ky < 4; ky++) {
          const wyz = W[o + 8 + kz] * W[o + 4 + ky];
          const row = base + kz * gxy + ky * gx;
          for (let kx = 0; kx < 4; kx++) {
            const w2 = (wyz * W[o + kx]) ** 2;
            diag[row + kx] += w2 * v0;
            diag[nc + row + kx] += w2 * v1;
            diag[2 * nc + row + kx] += w2 * v2;
          }
        }
    }
    let sum = 0;
    let cnt = 0;
    for (const v of diag)
      if (v > 0) {
        sum += v;
        cnt++;
      }
    const mean = cnt > 0 ? sum / cnt : 1;
    for (let p = 0; p < diag.length; p++) diag[p] = Math.max(1, diag[p] / mean);
    return diag;
  }
}

/**
 * Minimises the smoothed-residual mse over the B-spline's parameters by L-BFGS (register's settings: the
 * Gauss–Newton preconditioner, a convergence window of 10 iterations, the best iterate) and leaves the result in
 * `bspline`.
 */
export function refineSmoothedResidual(fixed: Image, moving: Image, region: ArrayLike<number>, bspline: BSplineTransform, linear: LinearTransform | undefined, opts: SmoothedResidualOptions): OptimizerResult & { samples: number } {
  const cost = new SmoothedResidualCost(fixed, moving, region, bspline, linear, opts.sigmaVoxels);
  const start = Float64Array.from(bspline.parameters);
  const scales = cost.parameterScales(start);
  const result = optimizeLbfgs(cost, start, {
    maxIterations: opts.maxIterations,
    scales,
    relativeGradientTolerance: 1e-6,
    convergenceWindow: 10,
    convergenceTolerance: 1e-6,
    returnBest: true,
    maximumStepLength: 2 * Math.sqrt(bspline.numberOfParameters),
    signal: opts.signal,
  });
  if (result.parameters.every(Number.isFinite)) bspline.setParameters(result.parameters);
  else bspline.setParameters(start);
  return { ...result, samples: cost.count };
}
