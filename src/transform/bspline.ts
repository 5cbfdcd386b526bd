/**
 * Cubic B-spline free-form deformation with ITK v4's exact conventions (itk::BSplineTransform, order 3):
 *
 *   T(x) = x + u(x),   u(x) = Σ_k c_k β³(g(x) − k),   g(x) = diag(1/spacing) · D⁻¹ · (x − gridOrigin)
 *
 * where g is the continuous index of x on the control grid (an image of gridSize control points laid in
 * physical space like any image: origin = control point 0, spacing, direction D with column c = axis c).
 * - FixedParameters = gridSize (d), gridOrigin (d), gridSpacing (d), gridDirection (d×d, row-major), as ITK
 *   writes them.
 * - Parameters = all x-displacements (control points x fastest, then y, then z), then all y, then all z: the
 *   parameter of (control point k, axis a) is a·nControl + k.
 * - Only the "transform domain" is deformed: continuous grid index in [1, gridSize − 2] on every axis (the
 *   region where all 4^d supporting control points exist). Outside it u = 0, as in ITK.
 * - A transform domain of mesh size M per axis has M + 3 control points; its grid origin is
 *   domainOrigin − D·spacing (one grid cell before the domain) and spacing = physical size / M.
 */
import { CoregError } from '../errors.js';
import { invertMatrixOrNull } from './linalg.js';
import type { ItkTransformBlock, ItkTransformData, ItkWritable, ParametricTransform } from './transform.js';

/** The geometry of an image grid (an Image or anything shaped like one). */
export interface GridGeometry {
  dimension: 2 | 3;
  size: readonly number[];
  spacing: readonly number[];
  origin: readonly number[];
  /** d×d row-major; column c is the unit direction of axis c. */
  direction: readonly number[];
}

/** The control grid of a B-spline transform (ITK's FixedParameters, named). */
export interface BSplineGridSpec {
  dimension: 2 | 3;
  /** Control points per axis (mesh size + 3), each ≥ 4. */
  gridSize: ArrayLike<number>;
  /** Physical position of control point (0, 0[, 0]). */
  gridOrigin: ArrayLike<number>;
  /** Distance between control points along each grid axis (mm). */
  gridSpacing: ArrayLike<number>;
  /** d×d row-major grid direction (default identity). */
  gridDirection?: ArrayLike<number>;
}

/** ITK's transform domain: the physical box the B-spline deforms (SetTransformDomain* in ITK). */
export interface BSplineDomain {
  dimension: 2 | 3;
  /** Physical position of the domain's first corner. */
  origin: ArrayLike<number>;
  /** Physical extent along each (directed) axis, mm. */
  physicalDimensions: ArrayLike<number>;
  /** Number of grid cells per axis. */
  meshSize: ArrayLike<number>;
  /** d×d row-major (default identity). */
  direction?: ArrayLike<number>;
}

/** ITK class names a B-spline can be written as. */
export type BSplineItkClassName = 'BSplineTransform' | 'BSplineDeformableTransform';

/**
 * Scratch for BSplineTransform.evaluateBasis: the 4^d control points supporting a point, their weights and the
 * weights' physical first and second derivatives. Allocate once (createBSplineBasis) and reuse.
 */
export interface BSplineBasis {
  /** Control point linear indices (length 4^d). */
  indices: Int32Array;
  /** β weights (length 4^d). */
  weights: Float64Array;
  /** ∂weight/∂x_j at [n·d + j] (length 4^d·d); filled when order ≥ 1. */
  firstDerivatives: Float64Array;
  /** ∂²weight/∂x_i∂x_j at [n·d·d + i·d + j] (length 4^d·d²); filled when order 2. */
  secondDerivatives: Float64Array;
}

export function createBSplineBasis(dimension: 2 | 3): BSplineBasis {
  const n = dimension === 2 ? 16 : 64;
  return {
    indices: new Int32Array(n),
    weights: new Float64Array(n),
    firstDerivatives: new Float64Array(n * dimension),
    secondDerivatives: new Float64Array(n * dimension * dimension),
  };
}

/** Points this far (in grid cells) outside the domain still count as inside: absorbs rounding at the edges. */
const EDGE_TOLERANCE = 1e-9;

function identityArray(d: number): number[] {
  const m = new Array<number>(d * d).fill(0);
  for (let i = 0; i < d; i++) m[i * d + i] = 1;
  return m;
}

/** Fills w[o..o+3] with the cubic B-spline weights of fraction t ∈ [0, 1] (control points start … start+3). */
function cubicWeights(t: number, w: Float64Array, o: number): void {
  const s = 1 - t;
  const t2 = t * t;
  const t3 = t2 * t;
  w[o] = (s * s * s) / 6;
  w[o + 1] = (4 - 6 * t2 + 3 * t3) / 6;
  w[o + 2] = (1 + 3 * t + 3 * t2 - 3 * t3) / 6;
  w[o + 3] = t3 / 6;
}

function cubicFirstDerivatives(t: number, w: Float64Array, o: number): void {
  const s = 1 - t;
  const t2 = t * t;
  w[o] = -0.5 * s * s;
  w[o + 1] = 1.5 * t2 - 2 * t;
  w[o + 2] = 0.5 + t - 1.5 * t2;
  w[o + 3] = 0.5 * t2;
}

function cubicSecondDerivatives(t: number, w: Float64Array, o: number): void {
  w[o] = 1 - t;
  w[o + 1] = 3 * t - 2;
  w[o + 2] = 1 - 3 * t;
  w[o + 3] = t;
}

function checkVector(v: ArrayLike<number>, d: number, what: string, subject: string, positive: boolean): void {
  if (v.length !== d) throw new CoregError(subject, `B-spline ${what} needs ${d} values, got ${v.length}`);
  for (let i = 0; i < d; i++) {
    if (!Number.isFinite(v[i]) || (positive && !(v[i] > 0))) {
      throw new CoregError(subject, `B-spline ${what} must be finite${positive ? ' and > 0' : ''}, got [${Array.from(v).join(', ')}]`);
    }
  }
}

export class BSplineTransform implements ParametricTransform, ItkWritable {
  readonly kind = 'bspline';
  readonly dimension: 2 | 3;
  /** Control points per axis (length d). */
  readonly gridSize: readonly number[];
  readonly gridOrigin: readonly number[];
  readonly gridSpacing: readonly number[];
  /** d×d row-major. */
  readonly gridDirection: readonly number[];
  /** Number of control points (product of gridSize). */
  readonly numberOfControlPoints: number;
  readonly numberOfParameters: number;
  readonly parameters: Float64Array;
  /** ITK class name used by toItkTransform (ITK v3's BSplineDeformableTransform is read the same way). */
  itkClassName: BSplineItkClassName = 'BSplineTransform';

  /** Physical → continuous grid index: g = toGrid · (x − gridOrigin); d×d row-major. */
  private readonly toGrid: Float64Array;
  /** Typed copies of gridOrigin and gridSize for the per-point paths. */
  private readonly origin: Float64Array;
  private readonly sizes: Int32Array;
  /** Grid sizes padded to 3 axes (2D: nz = 1). */
  private readonly nx: number;
  private readonly ny: number;
  private readonly nz: number;
  /** Per-axis start control index and weights of the last located point (2D: z start 0, weight 1). */
  private readonly start = new Int32Array(3);
  private readonly w = new Float64Array(12);
  private readonly dw = new Float64Array(12);
  private readonly d2w = new Float64Array(12);
  /** Continuous grid index of the last located point. */
  private readonly g = new Float64Array(3);
  /** Scratch for spatialJacobian: ∂u_a/∂g_i. */
  private readonly dg = new Float64Array(9);
  /** Scratch for jacobianDeterminant. */
  private readonly detScratch = new Float64Array(9);

  constructor(spec: BSplineGridSpec, subject = 'transform') {
    const d = spec.dimension;
    if (d !== 2 && d !== 3) throw new CoregError(subject, `B-spline dimension must be 2 or 3, got ${String(d)}`);
    this.dimension = d;
    checkVector(spec.gridSize, d, 'grid size', subject, true);
    for (let i = 0; i < d; i++) {
      if (!Number.isInteger(spec.gridSize[i]) || spec.gridSize[i] < 4) {
        throw new CoregError(subject, `B-spline grid size must be whole numbers ≥ 4 (mesh size + 3), got [${Array.from(spec.gridSize).join(', ')}]`);
      }
    }
    checkVector(spec.gridOrigin, d, 'grid origin', subject, false);
    checkVector(spec.gridSpacing, d, 'grid spacing', subject, true);
    const direction = spec.gridDirection ?? identityArray(d);
    checkVector(direction, d * d, 'grid direction', subject, false);
    const inv = invertMatrixOrNull(direction, d);
    if (!inv) throw new CoregError(subject, 'B-spline grid direction matrix is singular');
    this.gridSize = Array.from(spec.gridSize);
    this.gridOrigin = Array.from(spec.gridOrigin);
    this.gridSpacing = Array.from(spec.gridSpacing);
    this.gridDirection = Array.from(direction);
    this.toGrid = new Float64Array(d * d);
    for (let r = 0; r < d; r++) for (let c = 0; c < d; c++) this.toGrid[r * d + c] = inv[r * d + c] / this.gridSpacing[r];
    this.origin = Float64Array.from(this.gridOrigin);
    this.sizes = Int32Array.from(this.gridSize);
    this.nx = this.gridSize[0];
    this.ny = this.gridSize[1];
    this.nz = d === 3 ? this.gridSize[2] : 1;
    this.numberOfControlPoints = this.nx * this.ny * this.nz;
    this.numberOfParameters = d * this.numberOfControlPoints;
    if (this.numberOfParameters > 2 ** 31 - 1) throw new CoregError(subject, `B-spline grid of ${this.numberOfControlPoints} control points is too large`);
    this.parameters = new Float64Array(this.numberOfParameters);
    // 2D runs the 3D loops with a single z plane of weight 1.
    this.w[8] = 1;
  }

  /** ITK FixedParameters: grid size, grid origin, grid spacing, grid direction (row-major). */
  get fixedParameters(): Float64Array {
    const d = this.dimension;
    const fp = new Float64Array(d * (d + 3));
    for (let i = 0; i < d; i++) {
      fp[i] = this.gridSize[i];
      fp[d + i] = this.gridOrigin[i];
      fp[2 * d + i] = this.gridSpacing[i];
    }
    for (let i = 0; i < d * d; i++) fp[3 * d + i] = this.gridDirection[i];
    return fp;
  }

  /** The transform domain (ITK's TransformDomainOrigin/PhysicalDimensions/MeshSize/Direction). */
  get domain(): BSplineDomain {
    const d = this.dimension;
    const origin = new Array<number>(d);
    for (let r = 0; r < d; r++) {
      let s = this.gridOrigin[r];
      for (let c = 0; c < d; c++) s += this.gridDirection[r * d + c] * this.gridSpacing[c];
      origin[r] = s;
    }
    const meshSize = this.gridSize.map((n) => n - 3);
    return {
      dimension: d,
      origin,
      physicalDimensions: meshSize.map((m, i) => m * this.gridSpacing[i]),
      meshSize,
      direction: this.gridDirection.slice(),
    };
  }

  setParameters(p: ArrayLike<number>): void {
    if (p.length !== this.numberOfParameters) throw new RangeError(`B-spline has ${this.numberOfParameters} parameters, got ${p.length}`);
    this.parameters.set(p);
  }

  updateParameters(step: ArrayLike<number>): void {
    if (step.length !== this.numberOfParameters) throw new RangeError(`step has ${step.length} values, expected ${this.numberOfParameters}`);
    const c = this.parameters;
    for (let i = 0; i < c.length; i++) c[i] += step[i];
  }

  clone(): BSplineTransform {
    const t = new BSplineTransform(this.spec());
    t.parameters.set(this.parameters);
    t.itkClassName = this.itkClassName;
    return t;
  }

  /** The grid as a spec (for building transforms on the same grid). */
  spec(): BSplineGridSpec {
    return {
      dimension: this.dimension,
      gridSize: this.gridSize.slice(),
      gridOrigin: this.gridOrigin.slice(),
      gridSpacing: this.gridSpacing.slice(),
      gridDirection: this.gridDirection.slice(),
    };
  }

  /** Continuous grid index of a physical point (length d). */
  gridIndex(p: ArrayLike<number>, out: Float64Array | number[] = new Float64Array(this.dimension)): Float64Array | number[] {
    const d = this.dimension;
    const m = this.toGrid;
    for (let r = 0; r < d; r++) {
      let s = 0;
      for (let c = 0; c < d; c++) s += m[r * d + c] * (p[c] - this.gridOrigin[c]);
      out[r] = s;
    }
    return out;
  }

  /** True when p lies in the transform domain (where the B-spline deforms). */
  isInside(p: ArrayLike<number>): boolean {
    return this.locate(p, 0);
  }

  /**
   * Finds the supporting control points of p and their per-axis weights (and derivatives up to `order`) into
   * the scratch arrays; false outside the domain.
   */
  private locate(p: ArrayLike<number>, order: 0 | 1 | 2): boolean {
    const d = this.dimension;
    const m = this.toGrid;
    const g = this.g;
    if (d === 2) {
      const x = p[0] - this.origin[0];
      const y = p[1] - this.origin[1];
      g[0] = m[0] * x + m[1] * y;
      g[1] = m[2] * x + m[3] * y;
    } else {
      const x = p[0] - this.origin[0];
      const y = p[1] - this.origin[1];
      const z = p[2] - this.origin[2];
      g[0] = m[0] * x + m[1] * y + m[2] * z;
      g[1] = m[3] * x + m[4] * y + m[5] * z;
      g[2] = m[6] * x + m[7] * y + m[8] * z;
    }
    for (let a = 0; a < d; a++) {
      const u = g[a];
      const n = this.sizes[a];
      // Written so that NaN fails too.
      if (!(u >= 1 - EDGE_TOLERANCE && u <= n - 2 + EDGE_TOLERANCE)) return false;
      let s = Math.floor(u) - 1;
      if (s < 0) s = 0;
      else if (s > n - 4) s = n - 4;
      const t = u - s - 1;
      this.start[a] = s;
      cubicWeights(t, this.w, 4 * a);
      if (order >= 1) cubicFirstDerivatives(t, this.dw, 4 * a);
      if (order >= 2) cubicSecondDerivatives(t, this.d2w, 4 * a);
    }
    return true;
  }

  transformPoint(p: ArrayLike<number>, out: Float64Array | number[]): void {
    const d = this.dimension;
    if (!this.locate(p, 0)) {
      for (let a = 0; a < d; a++) out[a] = p[a];
      return;
    }
    const c = this.parameters;
    const w = this.w;
    const nx = this.nx;
    const nxy = nx * this.ny;
    const nc = this.numberOfControlPoints;
    const kzEnd = d === 3 ? 4 : 1;
    let ux = 0;
    let uy = 0;
    let uz = 0;
    for (let kz = 0; kz < kzEnd; kz++) {
      const wz = w[8 + kz];
      const zBase = (this.start[2] + kz) * nxy;
      for (let ky = 0; ky < 4; ky++) {
        const wyz = wz * w[4 + ky];
        const row = zBase + (this.start[1] + ky) * nx + this.start[0];
        const w0 = wyz * w[0];
        const w1 = wyz * w[1];
        const w2 = wyz * w[2];
        const w3 = wyz * w[3];
        ux += w0 * c[row] + w1 * c[row + 1] + w2 * c[row + 2] + w3 * c[row + 3];
        const ry = row + nc;
        uy += w0 * c[ry] + w1 * c[ry + 1] + w2 * c[ry + 2] + w3 * c[ry + 3];
        if (d === 3) {
          const rz = ry + nc;
          uz += w0 * c[rz] + w1 * c[rz + 1] + w2 * c[rz + 2] + w3 * c[rz + 3];
        }
      }
    }
    out[0] = p[0] + ux;
    out[1] = p[1] + uy;
    if (d === 3) out[2] = p[2] + uz;
  }

  /**
   * The separable support of p: per-axis cubic weights (4 per axis, axis-major, into weightsOut of length 4·d) and
   * the linear index of the first supporting control point (x fastest). Returns −1 outside the domain. The 4^d
   * supporting points are base + kx + nx·(ky + ny·kz) with weight wx[kx]·wy[ky]·wz[kz].
   */
  separableSupport(p: ArrayLike<number>, weightsOut: Float64Array | Float32Array): number {
    if (!this.locate(p, 0)) return -1;
    const d = this.dimension;
    for (let k = 0; k < 4 * d; k++) weightsOut[k] = this.w[k];
    return this.start[0] + this.nx * (this.start[1] + (d === 3 ? this.ny * this.start[2] : 0));
  }

  /**
   * separableSupport for `count` points (n×d, row-major) at once: bases[i] (−1 outside the domain) and 4·d weights
   * per point at weights[4·d·i …]; weights of outside points are left as they were. Same arithmetic as
   * separableSupport, without a call and scratch copy per point (the registration cost's per-iteration path).
   */
  separableSupports(points: Float64Array, count: number, bases: Int32Array, weights: Float32Array | Float64Array): void {
    if (this.dimension === 2) {
      supports2d(points, count, this.toGrid, this.origin[0], this.origin[1], this.nx, this.ny, bases, weights);
    } else {
      supports3d(points, count, this.toGrid, this.origin[0], this.origin[1], this.origin[2], this.nx, this.ny, this.nz, bases, weights);
    }
  }

  /**
   * Only the bases of separableSupports (first supporting control point, −1 outside the domain) of `count`
   * points: a cheap cell index, e.g. to sort points spatially.
   */
  supportBases(points: Float64Array, count: number, bases: Int32Array): void {
    const d = this.dimension;
    const m = this.toGrid;
    for (let i = 0; i < count; i++) {
      if (d === 2) {
        const x = points[2 * i] - this.origin[0];
        const y = points[2 * i + 1] - this.origin[1];
        const sx = axisStart(m[0] * x + m[1] * y, this.nx);
        const sy = sx < 0 ? -1 : axisStart(m[2] * x + m[3] * y, this.ny);
        bases[i] = sy < 0 ? -1 : sx + this.nx * sy;
      } else {
        const x = points[3 * i] - this.origin[0];
        const y = points[3 * i + 1] - this.origin[1];
        const z = points[3 * i + 2] - this.origin[2];
        const sx = axisStart(m[0] * x + m[1] * y + m[2] * z, this.nx);
        const sy = sx < 0 ? -1 : axisStart(m[3] * x + m[4] * y + m[5] * z, this.ny);
        const sz = sy < 0 ? -1 : axisStart(m[6] * x + m[7] * y + m[8] * z, this.nz);
        bases[i] = sz < 0 ? -1 : sx + this.nx * (sy + this.ny * sz);
      }
    }
  }

  /** Control points per grid row and per grid slice (for walking a separable support). */
  get gridStrides(): [number, number] {
    return [this.nx, this.nx * this.ny];
  }

  /**
   * ∂T/∂parameters at p in sparse form: the 4^d supporting control points' linear indices and weights. The
   * jacobian row of axis a holds weightsOut[n] at column a·numberOfControlPoints + indicesOut[n]. Returns the
   * count (4^d), or 0 outside the domain (where the jacobian is zero).
   */
  sparseJacobian(p: ArrayLike<number>, weightsOut: Float64Array, indicesOut: Int32Array): number {
    if (!this.locate(p, 0)) return 0;
    const w = this.w;
    const nx = this.nx;
    const nxy = nx * this.ny;
    const kzEnd = this.dimension === 3 ? 4 : 1;
    let n = 0;
    for (let kz = 0; kz < kzEnd; kz++) {
      const wz = w[8 + kz];
      const zBase = (this.start[2] + kz) * nxy;
      for (let ky = 0; ky < 4; ky++) {
        const wyz = wz * w[4 + ky];
        const row = zBase + (this.start[1] + ky) * nx + this.start[0];
        for (let kx = 0; kx < 4; kx++) {
          weightsOut[n] = wyz * w[kx];
          indicesOut[n] = row + kx;
          n++;
        }
      }
    }
    return n;
  }

  /** Dense ∂T/∂parameters: d rows × numberOfParameters columns, row-major (mostly zeros: prefer sparseJacobian). */
  jacobian(p: ArrayLike<number>, out: Float64Array): void {
    const d = this.dimension;
    const np = this.numberOfParameters;
    const nc = this.numberOfControlPoints;
    out.fill(0, 0, d * np);
    if (!this.locate(p, 0)) return;
    const w = this.w;
    const nx = this.nx;
    const nxy = nx * this.ny;
    const kzEnd = d === 3 ? 4 : 1;
    for (let kz = 0; kz < kzEnd; kz++) {
      for (let ky = 0; ky < 4; ky++) {
        const wyz = w[8 + kz] * w[4 + ky];
        const row = (this.start[2] + kz) * nxy + (this.start[1] + ky) * nx + this.start[0];
        for (let kx = 0; kx < 4; kx++) {
          const v = wyz * w[kx];
          for (let a = 0; a < d; a++) out[a * np + a * nc + row + kx] = v;
        }
      }
    }
  }

  /** Spatial Jacobian ∂T/∂x at p (d×d row-major, J[a·d + j] = ∂T_a/∂x_j); the identity outside the domain. */
  spatialJacobian(p: ArrayLike<number>, out: Float64Array | number[]): void {
    const d = this.dimension;
    for (let i = 0; i < d * d; i++) out[i] = 0;
    for (let i = 0; i < d; i++) out[i * d + i] = 1;
    if (!this.locate(p, 1)) return;
    const c = this.parameters;
    const w = this.w;
    const dw = this.dw;
    const nx = this.nx;
    const nxy = nx * this.ny;
    const nc = this.numberOfControlPoints;
    const kzEnd = d === 3 ? 4 : 1;
    const dg = this.dg;
    dg.fill(0);
    // dg[a·3 + i] = ∂u_a/∂g_i.
    for (let kz = 0; kz < kzEnd; kz++) {
      const wz = w[8 + kz];
      const dwz = d === 3 ? dw[8 + kz] : 0;
      for (let ky = 0; ky < 4; ky++) {
        const wy = w[4 + ky];
        const dwy = dw[4 + ky];
        const row = (this.start[2] + kz) * nxy + (this.start[1] + ky) * nx + this.start[0];
        for (let kx = 0; kx < 4; kx++) {
          const bx = dw[kx] * wy * wz;
          const by = w[kx] * dwy * wz;
          const bz = w[kx] * wy * dwz;
          for (let a = 0; a < d; a++) {
            const v = c[a * nc + row + kx];
            dg[a * 3] += bx * v;
            dg[a * 3 + 1] += by * v;
            dg[a * 3 + 2] += bz * v;
          }
        }
      }
    }
    const m = this.toGrid;
    for (let a = 0; a < d; a++) {
      for (let j = 0; j < d; j++) {
        let s = 0;
        for (let i = 0; i < d; i++) s += dg[a * 3 + i] * m[i * d + j];
        out[a * d + j] += s;
      }
    }
  }

  /** det(∂T/∂x) at p (1 outside the domain). */
  jacobianDeterminant(p: ArrayLike<number>): number {
    const out = this.detScratch;
    this.spatialJacobian(p, out);
    if (this.dimension === 2) return out[0] * out[3] - out[1] * out[2];
    return (
      out[0] * (out[4] * out[8] - out[5] * out[7]) - out[1] * (out[3] * out[8] - out[5] * out[6]) + out[2] * (out[3] * out[7] - out[4] * out[6])
    );
  }

  /**
   * The supporting control points of p with their weights and, up to `order`, the weights' physical first and
   * second derivatives (for regularisers). Returns the count (4^d), or 0 outside the domain.
   */
  evaluateBasis(p: ArrayLike<number>, order: 0 | 1 | 2, out: BSplineBasis): number {
    const d = this.dimension;
    if (!this.locate(p, order)) return 0;
    const w = this.w;
    const dw = this.dw;
    const d2w = this.d2w;
    const m = this.toGrid;
    const nx = this.nx;
    const nxy = nx * this.ny;
    const kzEnd = d === 3 ? 4 : 1;
    // Derivatives with respect to the grid index g, converted to x by ∂g_i/∂x_j = m[i·d + j].
    let n = 0;
    for (let kz = 0; kz < kzEnd; kz++) {
      for (let ky = 0; ky < 4; ky++) {
        const row = (this.start[2] + kz) * nxy + (this.start[1] + ky) * nx + this.start[0];
        for (let kx = 0; kx < 4; kx++) {
          const wx = w[kx];
          const wy = w[4 + ky];
          const wz = w[8 + kz];
          out.indices[n] = row + kx;
          out.weights[n] = wx * wy * wz;
          if (order >= 1) {
            const gx = dw[kx] * wy * wz;
            const gy = wx * dw[4 + ky] * wz;
            const gz = d === 3 ? wx * wy * dw[8 + kz] : 0;
            for (let j = 0; j < d; j++) {
              out.firstDerivatives[n * d + j] = gx * m[j] + gy * m[d + j] + (d === 3 ? gz * m[2 * d + j] : 0);
            }
          }
          if (order >= 2) {
            // Hessian in g (symmetric): h_ab.
            const hxx = d2w[kx] * wy * wz;
            const hyy = wx * d2w[4 + ky] * wz;
            const hxy = dw[kx] * dw[4 + ky] * wz;
            const hzz = d === 3 ? wx * wy * d2w[8 + kz] : 0;
            const hxz = d === 3 ? dw[kx] * wy * dw[8 + kz] : 0;
            const hyz = d === 3 ? wx * dw[4 + ky] * dw[8 + kz] : 0;
            const base = n * d * d;
            for (let i = 0; i < d; i++) {
              const mxi = m[i];
              const myi = m[d + i];
              const mzi = d === 3 ? m[2 * d + i] : 0;
              for (let j = i; j < d; j++) {
                const mxj = m[j];
                const myj = m[d + j];
                const mzj = d === 3 ? m[2 * d + j] : 0;
                const v =
                  hxx * mxi * mxj +
                  hyy * myi * myj +
                  hzz * mzi * mzj +
                  hxy * (mxi * myj + myi * mxj) +
                  hxz * (mxi * mzj + mzi * mxj) +
                  hyz * (myi * mzj + mzi * myj);
                out.secondDerivatives[base + i * d + j] = v;
                out.secondDerivatives[base + j * d + i] = v;
              }
            }
          }
          n++;
        }
      }
    }
    return n;
  }

  /**
   * The displacement u(x) = T(x) − x at every pixel centre of `grid`, d components interleaved (x fastest over
   * pixels), zero outside the transform domain. Separable (per-axis weights precomputed) when the image axes
   * are parallel to the grid axes, which is the usual case (grid built on the fixed image); otherwise point by
   * point. `out` is reused when given (length N·d).
   */
  displacementField(grid: GridGeometry, out?: Float32Array): Float32Array {
    const d = this.dimension;
    if (grid.dimension !== d) throw new CoregError('transform', `a ${d}D B-spline cannot be evaluated on a ${grid.dimension}D grid`);
    const sx = grid.size[0];
    const sy = grid.size[1];
    const sz = d === 3 ? grid.size[2] : 1;
    const nPix = sx * sy * sz;
    const field = out ?? new Float32Array(nPix * d);
    if (field.length !== nPix * d) throw new RangeError(`displacement field needs ${nPix * d} values, got ${field.length}`);
    // Pixel index → grid index: g = A·i + b with A = toGrid·direction·diag(spacing), b = toGrid·(origin − gridOrigin).
    const a = new Float64Array(d * d);
    const b = new Float64Array(d);
    for (let r = 0; r < d; r++) {
      let s = 0;
      for (let k = 0; k < d; k++) s += this.toGrid[r * d + k] * (grid.origin[k] - this.gridOrigin[k]);
      b[r] = s;
      for (let c = 0; c < d; c++) {
        let v = 0;
        for (let k = 0; k < d; k++) v += this.toGrid[r * d + k] * grid.direction[k * d + c] * grid.spacing[c];
        a[r * d + c] = v;
      }
    }
    let scale = 0;
    for (let r = 0; r < d; r++) scale = Math.max(scale, Math.abs(a[r * d + r]));
    let separable = true;
    for (let r = 0; r < d; r++) for (let c = 0; c < d; c++) if (r !== c && Math.abs(a[r * d + c]) > 1e-12 * scale) separable = false;
    if (separable) {
      const sizes = [sx, sy, sz];
      const axes: AxisWeights[] = [];
      for (let r = 0; r < 3; r++) {
        axes.push(r < d ? axisWeights(sizes[r], a[r * d + r], b[r], this.gridSize[r]) : singlePlane());
      }
      separableField(this.parameters, d, this.nx, this.ny, this.nz, axes[0], axes[1], axes[2], field);
    } else {
      pointwiseField(this, grid, field);
    }
    return field;
  }

  /** Writes this transform as ITK does (BSplineTransform_double_D_D unless formatAs/itkClassName say otherwise). */
  toItkTransform(options: { formatAs?: BSplineItkClassName } = {}): ItkTransformData {
    const name = options.formatAs ?? this.itkClassName;
    return { type: `${name}_double_${this.dimension}_${this.dimension}`, parameters: Float64Array.from(this.parameters), fixedParameters: this.fixedParameters };
  }
}

// --- batched supports -------------------------------------------------------------------------------

/**
 * Start control index along one axis of continuous grid index u (inside the domain), as locate computes it;
 * −1 outside (NaN included).
 */
function axisStart(u: number, n: number): number {
  if (!(u >= 1 - EDGE_TOLERANCE && u <= n - 2 + EDGE_TOLERANCE)) return -1;
  let s = Math.floor(u) - 1;
  if (s < 0) s = 0;
  else if (s > n - 4) s = n - 4;
  return s;
}

/** Cubic weights of fraction t into w[o … o+3] (cubicWeights for either float array type). */
function storeCubicWeights(t: number, w: Float32Array | Float64Array, o: number): void {
  const s = 1 - t;
  const t2 = t * t;
  const t3 = t2 * t;
  w[o] = (s * s * s) / 6;
  w[o + 1] = (4 - 6 * t2 + 3 * t3) / 6;
  w[o + 2] = (1 + 3 * t + 3 * t2 - 3 * t3) / 6;
  w[o + 3] = t3 / 6;
}

function supports2d(P: Float64Array, count: number, m: Float64Array, ox: number, oy: number, nx: number, ny: number, bases: Int32Array, W: Float32Array | Float64Array): void {
  for (let i = 0; i < count; i++) {
    const x = P[2 * i] - ox;
    const y = P[2 * i + 1] - oy;
    const gx = m[0] * x + m[1] * y;
    const gy = m[2] * x + m[3] * y;
    const sx = axisStart(gx, nx);
    const sy = sx < 0 ? -1 : axisStart(gy, ny);
    if (sy < 0) {
      bases[i] = -1;
      continue;
    }
    storeCubicWeights(gx - sx - 1, W, 8 * i);
    storeCubicWeights(gy - sy - 1, W, 8 * i + 4);
    bases[i] = sx + nx * sy;
  }
}

function supports3d(
  P: Float64Array,
  count: number,
  m: Float64Array,
  ox: number,
  oy: number,
  oz: number,
  nx: number,
  ny: number,
  nz: number,
  bases: Int32Array,
  W: Float32Array | Float64Array,
): void {
  for (let i = 0; i < count; i++) {
    const x = P[3 * i] - ox;
    const y = P[3 * i + 1] - oy;
    const z = P[3 * i + 2] - oz;
    const gx = m[0] * x + m[1] * y + m[2] * z;
    const gy = m[3] * x + m[4] * y + m[5] * z;
    const gz = m[6] * x + m[7] * y + m[8] * z;
    const sx = axisStart(gx, nx);
    const sy = sx < 0 ? -1 : axisStart(gy, ny);
    const sz = sy < 0 ? -1 : axisStart(gz, nz);
    if (sz < 0) {
      bases[i] = -1;
      continue;
    }
    storeCubicWeights(gx - sx - 1, W, 12 * i);
    storeCubicWeights(gy - sy - 1, W, 12 * i + 4);
    storeCubicWeights(gz - sz - 1, W, 12 * i + 8);
    bases[i] = sx + nx * (sy + ny * sz);
  }
}

// --- dense evaluation -------------------------------------------------------------------------------

/** Per pixel along one image axis: inside flag, first supporting control point and 4 weights. */
interface AxisWeights {
  count: number;
  inside: Uint8Array;
  start: Int32Array;
  weights: Float64Array;
}

function axisWeights(count: number, scale: number, offset: number, gridSize: number): AxisWeights {
  const inside = new Uint8Array(count);
  const start = new Int32Array(count);
  const weights = new Float64Array(4 * count);
  for (let i = 0; i < count; i++) {
    const u = scale * i + offset;
    if (!(u >= 1 - EDGE_TOLERANCE && u <= gridSize - 2 + EDGE_TOLERANCE)) continue;
    let s = Math.floor(u) - 1;
    if (s < 0) s = 0;
    else if (s > gridSize - 4) s = gridSize - 4;
    inside[i] = 1;
    start[i] = s;
    cubicWeights(u - s - 1, weights, 4 * i);
  }
  return { count, inside, start, weights };
}

/** The z "axis" of a 2D field: one pixel on the single control plane with weight 1. */
function singlePlane(): AxisWeights {
  return { count: 1, inside: Uint8Array.of(1), start: Int32Array.of(0), weights: Float64Array.of(1, 0, 0, 0) };
}

/**
 * Tensor-product evaluation: per z plane, combine the 4 control planes (zPlane, nx·ny per component); per row,
 * combine 4 control rows (row, nx per component); per pixel, 4 coefficients per component.
 */
function separableField(
  c: Float64Array,
  d: number,
  nx: number,
  ny: number,
  nz: number,
  ax: AxisWeights,
  ay: AxisWeights,
  az: AxisWeights,
  out: Float32Array,
): void {
  const nxy = nx * ny;
  const nc = nxy * nz;
  const zPlane = new Float64Array(d * nxy);
  const row = new Float64Array(d * nx);
  const zTaps = d === 3 ? 4 : 1;
  const sx = ax.count;
  const sy = ay.count;
  for (let k = 0; k < az.count; k++) {
    const sliceBase = k * sy * sx;
    if (!az.inside[k]) {
      out.fill(0, sliceBase * d, (sliceBase + sy * sx) * d);
      continue;
    }
    zPlane.fill(0);
    for (let m = 0; m < zTaps; m++) {
      const wz = az.weights[4 * k + m];
      const src = (az.start[k] + m) * nxy;
      for (let a = 0; a < d; a++) {
        const from = a * nc + src;
        const to = a * nxy;
        for (let i = 0; i < nxy; i++) zPlane[to + i] += wz * c[from + i];
      }
    }
    for (let j = 0; j < sy; j++) {
      const rowBase = sliceBase + j * sx;
      if (!ay.inside[j]) {
        out.fill(0, rowBase * d, (rowBase + sx) * d);
        continue;
      }
      const sj = ay.start[j];
      const w0 = ay.weights[4 * j];
      const w1 = ay.weights[4 * j + 1];
      const w2 = ay.weights[4 * j + 2];
      const w3 = ay.weights[4 * j + 3];
      for (let a = 0; a < d; a++) {
        const p0 = a * nxy + sj * nx;
        const to = a * nx;
        for (let i = 0; i < nx; i++) {
          row[to + i] = w0 * zPlane[p0 + i] + w1 * zPlane[p0 + nx + i] + w2 * zPlane[p0 + 2 * nx + i] + w3 * zPlane[p0 + 3 * nx + i];
        }
      }
      for (let i = 0; i < sx; i++) {
        const o = (rowBase + i) * d;
        if (!ax.inside[i]) {
          for (let a = 0; a < d; a++) out[o + a] = 0;
          continue;
        }
        const si = ax.start[i];
        const v0 = ax.weights[4 * i];
        const v1 = ax.weights[4 * i + 1];
        const v2 = ax.weights[4 * i + 2];
        const v3 = ax.weights[4 * i + 3];
        for (let a = 0; a < d; a++) {
          const r = a * nx + si;
          out[o + a] = v0 * row[r] + v1 * row[r + 1] + v2 * row[r + 2] + v3 * row[r + 3];
        }
      }
    }
  }
}

/** Fallback for grids whose axes are not parallel to the control grid's. */
function pointwiseField(t: BSplineTransform, grid: GridGeometry, out: Float32Array): void {
  const d = t.dimension;
  const sx = grid.size[0];
  const sy = grid.size[1];
  const sz = d === 3 ? grid.size[2] : 1;
  const step = new Float64Array(d * d);
  for (let r = 0; r < d; r++) for (let c = 0; c < d; c++) step[r * d + c] = grid.direction[r * d + c] * grid.spacing[c];
  const p = new Float64Array(d);
  const q = new Float64Array(d);
  let o = 0;
  for (let k = 0; k < sz; k++) {
    for (let j = 0; j < sy; j++) {
      for (let i = 0; i < sx; i++) {
        for (let r = 0; r < d; r++) {
          let s = grid.origin[r] + step[r * d] * i + step[r * d + 1] * j;
          if (d === 3) s += step[r * d + 2] * k;
          p[r] = s;
        }
        t.transformPoint(p, q);
        for (let r = 0; r < d; r++) out[o++] = q[r] - p[r];
      }
    }
  }
}

// --- construction -----------------------------------------------------------------------------------

/** ITK's grid for a transform domain: size M + 3, spacing = extent / M, origin one cell before the domain. */
export function createBSplineTransformFromDomain(domain: BSplineDomain, subject = 'transform'): BSplineTransform {
  const d = domain.dimension;
  if (d !== 2 && d !== 3) throw new CoregError(subject, `B-spline dimension must be 2 or 3, got ${String(d)}`);
  checkVector(domain.origin, d, 'domain origin', subject, false);
  checkVector(domain.physicalDimensions, d, 'domain size', subject, true);
  checkVector(domain.meshSize, d, 'mesh size', subject, true);
  for (let i = 0; i < d; i++) {
    if (!Number.isInteger(domain.meshSize[i])) throw new CoregError(subject, `B-spline mesh size must be whole numbers, got [${Array.from(domain.meshSize).join(', ')}]`);
  }
  const direction = domain.direction ?? identityArray(d);
  const spacing = new Array<number>(d);
  const shift = new Array<number>(d);
  for (let i = 0; i < d; i++) {
    spacing[i] = domain.physicalDimensions[i] / domain.meshSize[i];
    // ITK: −0.5·spacing·(order − 1) along each grid axis, then rotated by the direction.
    shift[i] = -0.5 * spacing[i] * 2;
  }
  const origin = new Array<number>(d);
  for (let r = 0; r < d; r++) {
    let s = 0;
    for (let c = 0; c < d; c++) s += direction[r * d + c] * shift[c];
    origin[r] = s + domain.origin[r];
  }
  return new BSplineTransform(
    { dimension: d, gridSize: Array.from(domain.meshSize, (m) => m + 3), gridOrigin: origin, gridSpacing: spacing, gridDirection: direction },
    subject,
  );
}

/**
 * A zero B-spline over an image with a grid spacing in mm, laid out as elastix does for
 * FinalGridSpacingInPhysicalUnits: the spacing is kept exactly, mesh size = ceil(size·imageSpacing / gridSpacing)
 * per axis (grid size mesh + 3), and the grid is centred on the image along its own axes (its direction).
 */
export function createBSplineTransformForImage(image: GridGeometry, gridSpacingMm: number | readonly number[], subject = '--grid-spacing'): BSplineTransform {
  const d = image.dimension;
  const gs = typeof gridSpacingMm === 'number' ? new Array<number>(d).fill(gridSpacingMm) : Array.from(gridSpacingMm);
  if (gs.length !== d) throw new CoregError(subject, `B-spline grid spacing needs 1 or ${d} values, got ${gs.length}`);
  for (const v of gs) if (!Number.isFinite(v) || !(v > 0)) throw new CoregError(subject, `B-spline grid spacing must be a positive number of mm, got ${v}`);
  const gridSize = new Array<number>(d);
  const local = new Array<number>(d);
  for (let i = 0; i < d; i++) {
    if (gs[i] < image.spacing[i]) {
      throw new CoregError(subject, `B-spline grid spacing ${gs[i]} mm is finer than the image spacing (${image.spacing[i]} mm along axis ${i})`);
    }
    const mesh = Math.ceil((image.size[i] * image.spacing[i]) / gs[i]);
    gridSize[i] = mesh + 3;
    // Offset of control point 0 from the image origin along grid axis i (centring the grid on the pixel centres).
    local[i] = -((gridSize[i] - 1) * gs[i] - (image.size[i] - 1) * image.spacing[i]) / 2;
  }
  const origin = new Array<number>(d);
  for (let r = 0; r < d; r++) {
    let s = image.origin[r];
    for (let c = 0; c < d; c++) s += image.direction[r * d + c] * local[c];
    origin[r] = s;
  }
  return new BSplineTransform({ dimension: d, gridSize, gridOrigin: origin, gridSpacing: gs, gridDirection: Array.from(image.direction) }, subject);
}

// --- refinement -------------------------------------------------------------------------------------

/**
 * The same deformation on a grid `factor` times finer (spacing / factor, same transform domain), exactly:
 * the coefficients follow from the B-spline's refinement (two-scale) relation
 * β³(x) = Σ_j h_j β³(f·x − j + 2(f − 1)) with h = (box_f ∗ box_f ∗ box_f ∗ box_f) / f³, box_f = f ones.
 */
export function refineBSpline(t: BSplineTransform, factor = 2): BSplineTransform {
  if (!Number.isInteger(factor) || factor < 1) throw new CoregError('transform', `B-spline refinement factor must be a whole number ≥ 1, got ${factor}`);
  const d = t.dimension;
  const dom = t.domain;
  const mesh = Array.from(dom.meshSize, (m) => m * factor);
  const fine = createBSplineTransformFromDomain({ ...dom, meshSize: mesh });
  // Refinement filter taps (length 4f − 3).
  let h = [1];
  for (let pass = 0; pass < 4; pass++) {
    const next = new Array<number>(h.length + factor - 1).fill(0);
    for (let i = 0; i < h.length; i++) for (let j = 0; j < factor; j++) next[i + j] += h[i];
    h = next;
  }
  const norm = factor ** 3;
  const taps = Float64Array.from(h, (v) => v / norm);
  // Along one axis, coarse control k feeds fine control m' = f·k + j − 2(f − 1) − (f − 1) for tap j (the fine
  // grid starts one fine cell, not one coarse cell, before the domain).
  const shift = 3 * (factor - 1);
  let src = Float64Array.from(t.parameters);
  const coarse = t.gridSize.slice();
  const sizes = coarse.slice();
  for (let axis = 0; axis < d; axis++) {
    const nIn = sizes[axis];
    const nOut = fine.gridSize[axis];
    let inner = 1;
    for (let i = 0; i < axis; i++) inner *= sizes[i];
    let outer = 1;
    for (let i = axis + 1; i < d; i++) outer *= sizes[i];
    const perComponentIn = inner * nIn * outer;
    const perComponentOut = inner * nOut * outer;
    const dst = new Float64Array(d * perComponentOut);
    for (let a = 0; a < d; a++) {
      for (let o = 0; o < outer; o++) {
        for (let k = 0; k < nIn; k++) {
          const inBase = a * perComponentIn + (o * nIn + k) * inner;
          for (let j = 0; j < taps.length; j++) {
            const m = factor * k + j - shift;
            if (m < 0 || m >= nOut) continue;
            const tap = taps[j];
            const outBase = a * perComponentOut + (o * nOut + m) * inner;
            for (let i = 0; i < inner; i++) dst[outBase + i] += tap * src[inBase + i];
          }
        }
      }
    }
    src = dst;
    sizes[axis] = nOut;
  }
  fine.setParameters(src);
  fine.itkClassName = t.itkClassName;
  return fine;
}

// --- ITK files --------------------------------------------------------------------------------------

export function readItkBSpline(block: ItkTransformBlock, fileName: string): BSplineTransform {
  const d = block.dimension;
  const label = `transform ${block.index} (${block.type})`;
  const fp = block.fixedParameters;
  if (fp.length !== d * (d + 3)) throw new CoregError(fileName, `${label}: expected ${d * (d + 3)} fixed parameters, got ${fp.length}`);
  let t: BSplineTransform;
  try {
    t = new BSplineTransform(
      {
        dimension: d,
        gridSize: fp.subarray(0, d),
        gridOrigin: fp.subarray(d, 2 * d),
        gridSpacing: fp.subarray(2 * d, 3 * d),
        gridDirection: fp.subarray(3 * d),
      },
      fileName,
    );
  } catch (e) {
    if (e instanceof CoregError) throw new CoregError(fileName, `${label}: ${e.message}`);
    throw e;
  }
  if (block.parameters.length !== t.numberOfParameters) {
    throw new CoregError(fileName, `${label}: expected ${t.numberOfParameters} parameters for a ${t.gridSize.join('×')} grid, got ${block.parameters.length}`);
  }
  t.setParameters(block.parameters);
  return t;
}


/**
 * Reads ITK's example coefficient files (BSplineDisplacements*.txt): one line per grid row, each node's
 * displacement components side by side, x fastest, then rows (y), then planes (z). Returns the parameters in
 * ITK order (all x, then all y[, then all z]) and the grid size: 2D = [nodes per line, lines]; 3D =
 * `gridSize` when given, else a grid with as many rows as nodes per line (ITK's examples use cubic grids).
 */
export function readBSplineCoefficientsText(
  text: string,
  dimension: 2 | 3,
  fileName: string,
  gridSize?: ArrayLike<number>,
): { parameters: Float64Array; gridSize: number[] } {
  const d = dimension;
  const values: number[] = [];
  let perLine = -1;
  let lines = 0;
  const rows = text.split(/\r\n|\r|\n/);
  for (let i = 0; i < rows.length; i++) {
    const tokens = rows[i].trim().split(/\s+/).filter((s) => s.length > 0);
    if (tokens.length === 0) continue;
    if (tokens.length % d !== 0) throw new CoregError(fileName, `line ${i + 1}: ${tokens.length} numbers is not a whole number of ${d}D displacements`);
    if (perLine < 0) perLine = tokens.length / d;
    else if (tokens.length / d !== perLine) throw new CoregError(fileName, `line ${i + 1}: ${tokens.length / d} nodes, expected ${perLine} as on the first line`);
    for (const tok of tokens) {
      const v = /^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/.test(tok) ? Number(tok) : NaN;
      if (!Number.isFinite(v)) throw new CoregError(fileName, `line ${i + 1}: "${tok}" is not a finite number`);
      values.push(v);
    }
    lines++;
  }
  if (lines === 0) throw new CoregError(fileName, 'no coefficients in the file');
  const nodes = values.length / d;
  let size: number[];
  if (gridSize) {
    size = Array.from(gridSize);
    if (size.length !== d) throw new CoregError(fileName, `grid size needs ${d} values, got ${size.length}`);
  } else if (d === 2) {
    size = [perLine, lines];
  } else {
    size = [perLine, perLine, lines / perLine];
  }
  if (size.reduce((p, v) => p * v, 1) !== nodes || size[0] !== perLine) {
    throw new CoregError(fileName, `${nodes} nodes in ${lines} lines of ${perLine} do not form a ${size.join('×')} grid`);
  }
  const parameters = new Float64Array(values.length);
  for (let n = 0; n < nodes; n++) for (let a = 0; a < d; a++) parameters[a * nodes + n] = values[n * d + a];
  return { parameters, gridSize: size };
}
