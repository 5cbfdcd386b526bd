/**
 * Thin-plate spline through landmark pairs, as ITK's kernel transforms define it: with source landmarks pᵢ (the
 * FIXED points) and target landmarks qᵢ (the MOVING points),
 *
 *   T(x) = x + A·(x − c) + b + Σᵢ wᵢ·G(|x − pᵢ|)
 *
 * where (A, b, w) solve the interpolation system T(pᵢ) = qᵢ with Σ wᵢ = 0 and Σ wᵢ·pᵢᵀ = 0, so the spline passes
 * exactly through every landmark and reproduces an affine map exactly. c is the centroid of the pᵢ (the affine
 * part is solved in centred coordinates for conditioning; the mapping does not depend on c).
 *
 * Kernels, as in ITK (Modules/Core/Transform):
 * - 'r2logr': G = r²·log r, the true 2D thin-plate (minimum bending energy) kernel —
 *   ITK's ThinPlateR2LogRSplineKernelTransform.
 * - 'r': G = r, the 3D biharmonic kernel — ITK's ThinPlateSplineKernelTransform, which uses r in every dimension.
 * The default is 'r2logr' in 2D and 'r' in 3D; the ITK type name written to .tfm files follows the kernel, so ITK
 * reads back the same mapping.
 *
 * ITK .tfm layout (KernelTransform::GetParameters/GetFixedParameters): Parameters = the source landmarks
 * (fixed points) x₀ y₀ [z₀] x₁ …, FixedParameters = the target landmarks (moving points) in the same layout.
 * ITK's kernel transforms map source → target, which is coreg's fixed → moving.
 */
import { CoregError } from '../errors.js';
import { symmetricEigen } from './linalg.js';
import type { ItkTransformBlock, ItkTransformData, ItkWritable, Transform } from './transform.js';

export type TpsKernel = 'r' | 'r2logr';

export const TPS_KERNELS: readonly TpsKernel[] = ['r2logr', 'r'];

/** ITK class name for each kernel. */
const ITK_CLASS: Record<TpsKernel, string> = { r: 'ThinPlateSplineKernelTransform', r2logr: 'ThinPlateR2LogRSplineKernelTransform' };

/** The thin-plate kernel ITK uses by default for a dimension: r²·log r in 2D, r in 3D. */
export function defaultTpsKernel(dimension: 2 | 3): TpsKernel {
  return dimension === 2 ? 'r2logr' : 'r';
}

export interface ThinPlateSplineOptions {
  /** Default: defaultTpsKernel(dimension). */
  kernel?: TpsKernel;
  /** What errors about the fixed (source) landmarks name. Default "fixed points". */
  fixedName?: string;
  /** What errors about the moving (target) landmarks name. Default "moving points". */
  movingName?: string;
}

/** ITK's guard: r²·log r is taken as 0 for r ≤ 1e-8 (its limit). Works on r² to avoid a square root. */
function r2logr(r2: number): number {
  return r2 > 1e-16 ? 0.5 * r2 * Math.log(r2) : 0;
}

/** Centroid and scatter-matrix eigenvalues (descending) of n points stored n×d row-major in `flat`. */
export function pointSpread(flat: Float64Array, n: number, d: number): { centroid: Float64Array; eigenvalues: Float64Array } {
  const centroid = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let k = 0; k < d; k++) centroid[k] += flat[i * d + k];
  for (let k = 0; k < d; k++) centroid[k] /= n;
  const s = new Float64Array(d * d);
  for (let i = 0; i < n; i++) {
    for (let r = 0; r < d; r++) {
      const a = flat[i * d + r] - centroid[r];
      for (let c = 0; c < d; c++) s[r * d + c] += a * (flat[i * d + c] - centroid[c]);
    }
  }
  return { centroid, eigenvalues: symmetricEigen(s, d).values };
}

/**
 * Number of independent directions the points span (0 = all coincide). A direction counts when its scatter
 * eigenvalue exceeds 1e-12 of the largest (a spread below 1e-6 of the extent is round-off, not geometry), and the
 * largest counts when the spread exceeds 1e-12 of the coordinates' magnitude.
 */
export function pointRank(flat: Float64Array, n: number, d: number): number {
  const { centroid, eigenvalues } = pointSpread(flat, n, d);
  let magnitude = 1;
  for (let k = 0; k < d; k++) magnitude = Math.max(magnitude, Math.abs(centroid[k]));
  const largest = eigenvalues[0];
  if (!(largest > n * (1e-12 * magnitude) ** 2)) return 0;
  let rank = 0;
  for (let k = 0; k < d; k++) if (eigenvalues[k] > 1e-12 * largest) rank++;
  return rank;
}

/** Flattens points (each of length d, finite) into n×d row-major; throws CoregError(name) otherwise. */
export function flattenPoints(points: readonly ArrayLike<number>[], d: number, name: string): Float64Array {
  const flat = new Float64Array(points.length * d);
  for (let i = 0; i < points.length; i++) {
    const p = points[i];
    if (p.length !== d) throw new CoregError(name, `point ${i + 1} has ${p.length} coordinates, expected ${d}`);
    for (let k = 0; k < d; k++) {
      if (!Number.isFinite(p[k])) throw new CoregError(name, `point ${i + 1} has a non-finite coordinate`);
      flat[i * d + k] = p[k];
    }
  }
  return flat;
}

/**
 * Solves the square system M·X = B in place by Gaussian elimination with partial pivoting (M m×m, B m×k, both
 * row-major). Returns false when a pivot is zero or the result is not finite.
 */
function solveInPlace(m: Float64Array, b: Float64Array, size: number, k: number): boolean {
  for (let col = 0; col < size; col++) {
    let piv = col;
    let best = Math.abs(m[col * size + col]);
    for (let r = col + 1; r < size; r++) {
      const v = Math.abs(m[r * size + col]);
      if (v > best) {
        best = v;
        piv = r;
      }
    }
    if (!(best > 0)) return false;
    if (piv !== col) {
      for (let c = 0; c < size; c++) {
        const t = m[col * size + c];
        m[col * size + c] = m[piv * size + c];
        m[piv * size + c] = t;
      }
      for (let c = 0; c < k; c++) {
        const t = b[col * k + c];
        b[col * k + c] = b[piv * k + c];
        b[piv * k + c] = t;
      }
    }
    const p = m[col * size + col];
    for (let r = col + 1; r < size; r++) {
      const f = m[r * size + col] / p;
      if (f === 0) continue;
      for (let c = col; c < size; c++) m[r * size + c] -= f * m[col * size + c];
      for (let c = 0; c < k; c++) b[r * k + c] -= f * b[col * k + c];
    }
  }
  for (let r = size - 1; r >= 0; r--) {
    const p = m[r * size + r];
    for (let c = 0; c < k; c++) {
      let s = b[r * k + c];
      for (let j = r + 1; j < size; j++) s -= m[r * size + j] * b[j * k + c];
      const v = s / p;
      if (!Number.isFinite(v)) return false;
      b[r * k + c] = v;
    }
  }
  return true;
}

export class ThinPlateSplineTransform implements Transform, ItkWritable {
  readonly kind = 'tps';
  readonly dimension: 2 | 3;
  readonly kernel: TpsKernel;
  readonly numberOfLandmarks: number;
  /** Source landmarks (fixed points), n×d row-major. */
  readonly sourceLandmarks: Float64Array;
  /** Target landmarks (moving points), n×d row-major. */
  readonly targetLandmarks: Float64Array;
  /** Kernel weights wᵢ, n×d row-major. */
  private readonly weights: Float64Array;
  /** Affine part of the displacement: A (d×d row-major) about `center`, plus b. */
  private readonly affine: Float64Array;
  private readonly translation: Float64Array;
  private readonly center: Float64Array;
  private readonly logKernel: boolean;

  /**
   * The spline with T(sourceᵢ) = targetᵢ. Needs at least d+1 source landmarks that are not collinear (2D) /
   * coplanar (3D), and no two equal source landmarks; throws CoregError otherwise.
   */
  constructor(source: readonly ArrayLike<number>[], target: readonly ArrayLike<number>[], opts: ThinPlateSplineOptions = {}) {
    const fixedName = opts.fixedName ?? 'fixed points';
    const movingName = opts.movingName ?? 'moving points';
    if (source.length === 0) throw new CoregError(fixedName, 'no points');
    const d = source[0].length;
    if (d !== 2 && d !== 3) throw new CoregError(fixedName, `points must have 2 or 3 coordinates, got ${d}`);
    if (target.length > 0 && target[0].length !== d) throw new CoregError(movingName, `holds ${target[0].length}D points but ${fixedName} holds ${d}D points`);
    if (target.length !== source.length) {
      throw new CoregError(movingName, `has ${target.length} points but ${fixedName} has ${source.length}; landmarks must pair up one to one`);
    }
    const n = source.length;
    if (n < d + 1) throw new CoregError(fixedName, `a thin-plate spline needs at least ${d + 1} point pairs in ${d}D, got ${n}`);
    this.dimension = d;
    this.kernel = opts.kernel ?? defaultTpsKernel(d);
    if (!TPS_KERNELS.includes(this.kernel)) throw new CoregError('kernel', `unknown thin-plate kernel "${String(this.kernel)}" (expected ${TPS_KERNELS.join(' or ')})`);
    this.logKernel = this.kernel === 'r2logr';
    this.numberOfLandmarks = n;
    this.sourceLandmarks = flattenPoints(source, d, fixedName);
    this.targetLandmarks = flattenPoints(target, d, movingName);
    const p = this.sourceLandmarks;
    if (pointRank(p, n, d) < d) throw new CoregError(fixedName, `points are ${d === 2 ? 'collinear' : 'coplanar'}: a thin-plate spline needs them to span the ${d}D space`);
    for (let i = 0; i < n; i++) {
      for (let j = i + 1; j < n; j++) {
        let r2 = 0;
        for (let k = 0; k < d; k++) r2 += (p[i * d + k] - p[j * d + k]) ** 2;
        if (r2 === 0) throw new CoregError(fixedName, `points ${i + 1} and ${j + 1} coincide: each landmark must be distinct`);
      }
    }
    this.center = pointSpread(p, n, d).centroid;
    this.weights = new Float64Array(n * d);
    this.affine = new Float64Array(d * d);
    this.translation = new Float64Array(d);
    this.solve(fixedName);
  }

  private kernelValue(r2: number): number {
    return this.logKernel ? r2logr(r2) : Math.sqrt(r2);
  }

  /** Builds and solves [K P; Pᵀ 0]·[w; a] = [q − p; 0] with P rows (1, pᵢ − c), one right-hand side per axis. */
  private solve(fixedName: string): void {
    const d = this.dimension;
    const n = this.numberOfLandmarks;
    const p = this.sourceLandmarks;
    const q = this.targetLandmarks;
    const c = this.center;
    const size = n + d + 1;
    const m = new Float64Array(size * size);
    const rhs = new Float64Array(size * d);
    for (let i = 0; i < n; i++) {
      for (let j = i + 1; j < n; j++) {
        let r2 = 0;
        for (let k = 0; k < d; k++) r2 += (p[i * d + k] - p[j * d + k]) ** 2;
        const g = this.kernelValue(r2);
        m[i * size + j] = g;
        m[j * size + i] = g;
      }
      m[i * size + n] = 1;
      m[n * size + i] = 1;
      for (let k = 0; k < d; k++) {
        const v = p[i * d + k] - c[k];
        m[i * size + n + 1 + k] = v;
        m[(n + 1 + k) * size + i] = v;
        rhs[i * d + k] = q[i * d + k] - p[i * d + k];
      }
    }
    if (!solveInPlace(m, rhs, size, d)) {
      throw new CoregError(fixedName, 'the thin-plate spline system is singular for these landmarks');
    }
    this.weights.set(rhs.subarray(0, n * d));
    for (let k = 0; k < d; k++) {
      this.translation[k] = rhs[n * d + k];
      for (let j = 0; j < d; j++) this.affine[k * d + j] = rhs[(n + 1 + j) * d + k];
    }
  }

  transformPoint(x: ArrayLike<number>, out: Float64Array | number[]): void {
    const w = this.weights;
    const p = this.sourceLandmarks;
    const a = this.affine;
    const b = this.translation;
    const c = this.center;
    const n = this.numberOfLandmarks;
    const log = this.logKernel;
    if (this.dimension === 2) {
      const x0 = x[0];
      const x1 = x[1];
      const u0 = x0 - c[0];
      const u1 = x1 - c[1];
      let o0 = x0 + b[0] + a[0] * u0 + a[1] * u1;
      let o1 = x1 + b[1] + a[2] * u0 + a[3] * u1;
      for (let i = 0; i < n; i++) {
        const dx = x0 - p[2 * i];
        const dy = x1 - p[2 * i + 1];
        const r2 = dx * dx + dy * dy;
        const g = log ? (r2 > 1e-16 ? 0.5 * r2 * Math.log(r2) : 0) : Math.sqrt(r2);
        o0 += g * w[2 * i];
        o1 += g * w[2 * i + 1];
      }
      out[0] = o0;
      out[1] = o1;
    } else {
      const x0 = x[0];
      const x1 = x[1];
      const x2 = x[2];
      const u0 = x0 - c[0];
      const u1 = x1 - c[1];
      const u2 = x2 - c[2];
      let o0 = x0 + b[0] + a[0] * u0 + a[1] * u1 + a[2] * u2;
      let o1 = x1 + b[1] + a[3] * u0 + a[4] * u1 + a[5] * u2;
      let o2 = x2 + b[2] + a[6] * u0 + a[7] * u1 + a[8] * u2;
      for (let i = 0; i < n; i++) {
        const dx = x0 - p[3 * i];
        const dy = x1 - p[3 * i + 1];
        const dz = x2 - p[3 * i + 2];
        const r2 = dx * dx + dy * dy + dz * dz;
        const g = log ? (r2 > 1e-16 ? 0.5 * r2 * Math.log(r2) : 0) : Math.sqrt(r2);
        o0 += g * w[3 * i];
        o1 += g * w[3 * i + 1];
        o2 += g * w[3 * i + 2];
      }
      out[0] = o0;
      out[1] = o1;
      out[2] = o2;
    }
  }

  /** The affine part of the mapping, x ↦ M·x + o (the spline minus its kernel terms). */
  affinePart(): { matrix: Float64Array; offset: Float64Array } {
    const d = this.dimension;
    const matrix = new Float64Array(d * d);
    const offset = new Float64Array(d);
    for (let r = 0; r < d; r++) {
      let s = this.translation[r];
      for (let k = 0; k < d; k++) {
        matrix[r * d + k] = this.affine[r * d + k] + (r === k ? 1 : 0);
        s -= this.affine[r * d + k] * this.center[k];
      }
      offset[r] = s;
    }
    return { matrix, offset };
  }

  /** ITK's type name for this kernel, e.g. "ThinPlateSplineKernelTransform_double_3_3". */
  get itkTypeName(): string {
    return `${ITK_CLASS[this.kernel]}_double_${this.dimension}_${this.dimension}`;
  }

  toItkTransform(): ItkTransformData {
    return { type: this.itkTypeName, parameters: Float64Array.from(this.sourceLandmarks), fixedParameters: Float64Array.from(this.targetLandmarks) };
  }
}

function unflatten(flat: Float64Array, d: number): Float64Array[] {
  const out: Float64Array[] = [];
  for (let i = 0; i < flat.length; i += d) out.push(flat.subarray(i, i + d));
  return out;
}

/** The .tfm reader of ITK's thin-plate spline kernel transform with this kernel. */
export function readItkThinPlateSpline(kernel: TpsKernel): (block: ItkTransformBlock, fileName: string) => ThinPlateSplineTransform {
  return (block, fileName) => {
    const d = block.dimension;
    const label = `transform ${block.index} (${block.type})`;
    if (block.parameters.length % d !== 0 || block.parameters.length === 0) {
      throw new CoregError(fileName, `${label}: ${block.parameters.length} parameters are not whole ${d}D source landmarks`);
    }
    if (block.fixedParameters.length !== block.parameters.length) {
      throw new CoregError(fileName, `${label}: ${block.fixedParameters.length / d} target landmarks (fixed parameters) for ${block.parameters.length / d} source landmarks`);
    }
    return new ThinPlateSplineTransform(unflatten(block.parameters, d), unflatten(block.fixedParameters, d), {
      kernel,
      fixedName: `${fileName}: ${label} source landmarks`,
      movingName: `${fileName}: ${label} target landmarks`,
    });
  };
}

