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
import type { GridGeometry } from '../image/image.js';
import { axisStart, cubicFirstDerivatives, cubicSecondDerivatives, cubicWeights } from './bspline-kernels.js';
import { identity, invertMatrixOrNull } from '../image/linalg.js';
import type { ItkTransformData, ItkWritable, ParametricTransform } from './transform.js';

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

  /** Physical → continuous grid index: g = toGrid · (x − gridOrigin); d×d row-major (read only). */
  readonly toGrid: Float64Array;
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
    const direction = spec.gridDirection ?? Array.from(identity(d));
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
      const s = axisStart(u, this.sizes[a]);
      if (s < 0) return false;
      const t = u - s - 1;
      this.start[a] = s;
      cubicWeights(t, this.w, 4 * a);
      if (order >= 1) cubicFirstDerivatives(t, this.dw, 4 * a);
      if (order >= 2) cubicSecondDerivatives(t, this.d2w, 4 * a);
    }
    return true;
  }

  transformPoint(p: ArrayLike<number>, out: Float64Array | number[]): void {
    if (this.dimension === 3) {
      bsplinePoint3d(this.parameters, this.toGrid, this.origin, this.sizes, this.numberOfControlPoints, p, out);
      return;
    }
    if (!this.locate(p, 0)) {
      out[0] = p[0];
      out[1] = p[1];
      return;
    }
    const c = this.parameters;
    const w = this.w;
    const nx = this.nx;
    const nc = this.numberOfControlPoints;
    let ux = 0;
    let uy = 0;
    for (let ky = 0; ky < 4; ky++) {
      const wy = w[4 + ky];
      const row = (this.start[1] + ky) * nx + this.start[0];
      const w0 = wy * w[0];
      const w1 = wy * w[1];
      const w2 = wy * w[2];
      const w3 = wy * w[3];
      ux += w0 * c[row] + w1 * c[row + 1] + w2 * c[row + 2] + w3 * c[row + 3];
      const ry = row + nc;
      uy += w0 * c[ry] + w1 * c[ry + 1] + w2 * c[ry + 2] + w3 * c[ry + 3];
    }
    out[0] = p[0] + ux;
    out[1] = p[1] + uy;
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

  /** Writes this transform as ITK does (BSplineTransform_double_D_D unless formatAs/itkClassName say otherwise). */
  toItkTransform(options: { formatAs?: BSplineItkClassName } = {}): ItkTransformData {
    const name = options.formatAs ?? this.itkClassName;
    return { type: `${name}_double_${this.dimension}_${this.dimension}`, parameters: Float64Array.from(this.parameters), fixedParameters: this.fixedParameters };
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
  const direction = domain.direction ?? Array.from(identity(d));
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

/** bsplinePoint3d's support: the first control point and the cubic weights per axis (x, y, z). */
const POINT_START = new Int32Array(3);
const POINT_WEIGHTS = new Float64Array(12);

/**
 * A 3D B-spline transform's T(p) into out: BSplineTransform.transformPoint's operations (locate's grid index,
 * axis starts and cubic weights, then the separable sum), in a plain function over typed arrays. As a method with
 * its loop over d it took ~0.29 µs a point against ~0.22 here, and the numeric inverse evaluates T ~6 times per
 * grid point (~6 M times after a 1 mm head's registration).
 */
function bsplinePoint3d(c: Float64Array, m: Float64Array, o: Float64Array, sizes: Int32Array, nc: number, p: ArrayLike<number>, out: Float64Array | number[]): void {
  const x = p[0] - o[0];
  const y = p[1] - o[1];
  const z = p[2] - o[2];
  const g0 = m[0] * x + m[1] * y + m[2] * z;
  const g1 = m[3] * x + m[4] * y + m[5] * z;
  const g2 = m[6] * x + m[7] * y + m[8] * z;
  const start = POINT_START;
  const w = POINT_WEIGHTS;
  for (let a = 0; a < 3; a++) {
    const u = a === 0 ? g0 : a === 1 ? g1 : g2;
    const s = axisStart(u, sizes[a]);
    // (outside the domain: the identity)
    if (s < 0) {
      out[0] = p[0];
      out[1] = p[1];
      out[2] = p[2];
      return;
    }
    start[a] = s;
    cubicWeights(u - s - 1, w, 4 * a);
  }
  const nx = sizes[0];
  const nxy = nx * sizes[1];
  const wx0 = w[0];
  const wx1 = w[1];
  const wx2 = w[2];
  const wx3 = w[3];
  let ux = 0;
  let uy = 0;
  let uz = 0;
  for (let kz = 0; kz < 4; kz++) {
    const wz = w[8 + kz];
    const zBase = (start[2] + kz) * nxy;
    for (let ky = 0; ky < 4; ky++) {
      const wyz = wz * w[4 + ky];
      const row = zBase + (start[1] + ky) * nx + start[0];
      const w0 = wyz * wx0;
      const w1 = wyz * wx1;
      const w2 = wyz * wx2;
      const w3 = wyz * wx3;
      ux += w0 * c[row] + w1 * c[row + 1] + w2 * c[row + 2] + w3 * c[row + 3];
      const ry = row + nc;
      uy += w0 * c[ry] + w1 * c[ry + 1] + w2 * c[ry + 2] + w3 * c[ry + 3];
      const rz = ry + nc;
      uz += w0 * c[rz] + w1 * c[rz + 1] + w2 * c[rz + 2] + w3 * c[rz + 3];
    }
  }
  out[0] = p[0] + ux;
  out[1] = p[1] + uy;
  out[2] = p[2] + uz;
}
