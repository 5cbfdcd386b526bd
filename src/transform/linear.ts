/**
 * Linear (matrix + offset) transforms with ITK's exact parameterisations, so that parameter vectors and .tfm
 * files mean the same thing here and in ITK/elastix/ANTs/Slicer.
 *
 * Every transform has the form T(x) = A·(x − c) + c + t, with c the centre (ITK FixedParameters) and t the
 * translation; the affine offset is o = c + t − A·c, so T(x) = A·x + o.
 */
import { CoregError } from '../errors.js';
import type { ItkTransformData, LinearTransform, ParametricTransform } from './transform.js';
import { determinant, identity, invertMatrixOrNull, matMul, nearestRotation, transpose } from './linalg.js';

export type LinearKind = 'translation' | 'rigid' | 'similarity' | 'affine';

/**
 * Base of all centred linear transforms. Subclasses define how parameters build the matrix A (and its
 * derivatives ∂A/∂θ for the jacobian); the centre, translation and offset bookkeeping is shared.
 */
export abstract class MatrixOffsetTransform implements ParametricTransform, LinearTransform {
  abstract readonly kind: string;
  /** ITK class name without the "_double_D_D" suffix, e.g. "Euler3DTransform". */
  abstract readonly itkClassName: string;
  readonly dimension: 2 | 3;
  readonly numberOfParameters: number;
  readonly parameters: Float64Array;
  protected readonly center: Float64Array;
  /** d×d row-major matrix A. */
  protected readonly a: Float64Array;
  /** o = c + t − A·c. */
  protected readonly off: Float64Array;
  /** Index of the first translation parameter (the d translation parameters are contiguous). */
  protected abstract readonly translationIndex: number;
  /** Parameter index of each matrix-building parameter, matching the blocks of `dA`. */
  protected matrixParameterIndex: Int32Array = new Int32Array(0);
  /** ∂A/∂θ_k for each matrix parameter k: consecutive d×d row-major blocks. */
  protected dA: Float64Array = new Float64Array(0);
  /** Scratch for x − c in jacobian (no allocation per call). */
  private readonly rel: Float64Array;

  protected constructor(dimension: 2 | 3, numberOfParameters: number) {
    this.dimension = dimension;
    this.numberOfParameters = numberOfParameters;
    this.parameters = new Float64Array(numberOfParameters);
    this.center = new Float64Array(dimension);
    this.a = identity(dimension);
    this.off = new Float64Array(dimension);
    this.rel = new Float64Array(dimension);
  }

  /** Fills `a` (and `dA`) from `parameters`. */
  protected abstract computeMatrix(): void;
  /** A new transform of the same type and dimension, at identity. */
  protected abstract create(): MatrixOffsetTransform;
  /**
   * Sets the matrix parameters to represent `m` as closely as the type allows (rotation: nearest rotation;
   * similarity: nearest scaled rotation; affine: exactly). Keeps centre and translation parameters.
   */
  abstract setMatrix(m: ArrayLike<number>): void;
  /** The exact inverse (same type when it exists, else AffineTransform). Throws CoregError when singular. */
  abstract inverse(): MatrixOffsetTransform;

  get fixedParameters(): Float64Array {
    return Float64Array.from(this.center);
  }

  /** Sets ITK FixedParameters (the centre; Euler3D also accepts its ComputeZYX flag). */
  setFixedParameters(fp: ArrayLike<number>): void {
    if (fp.length !== this.dimension) throw new RangeError(`${this.itkClassName} needs ${this.dimension} fixed parameters, got ${fp.length}`);
    this.setCenter(fp);
  }

  /** ITK's type name, e.g. "AffineTransform_double_3_3". */
  get itkTypeName(): string {
    return `${this.itkClassName}_double_${this.dimension}_${this.dimension}`;
  }

  toItkTransform(): ItkTransformData {
    return { type: this.itkTypeName, parameters: Float64Array.from(this.parameters), fixedParameters: this.fixedParameters };
  }

  setParameters(p: ArrayLike<number>): void {
    if (p.length !== this.numberOfParameters) {
      throw new RangeError(`${this.itkClassName} has ${this.numberOfParameters} parameters, got ${p.length}`);
    }
    for (let i = 0; i < this.numberOfParameters; i++) this.parameters[i] = p[i];
    this.refresh();
  }

  /** Plain addition; versor-based transforms override to compose rotations as ITK does. */
  updateParameters(step: ArrayLike<number>): void {
    if (step.length !== this.numberOfParameters) throw new RangeError(`step has ${step.length} values, expected ${this.numberOfParameters}`);
    for (let i = 0; i < this.numberOfParameters; i++) this.parameters[i] += step[i];
    this.refresh();
  }

  protected refresh(): void {
    this.computeMatrix();
    this.computeOffset();
  }

  protected computeOffset(): void {
    const d = this.dimension;
    const ti = this.translationIndex;
    for (let r = 0; r < d; r++) {
      let s = this.center[r] + this.parameters[ti + r];
      for (let c = 0; c < d; c++) s -= this.a[r * d + c] * this.center[c];
      this.off[r] = s;
    }
  }

  transformPoint(p: ArrayLike<number>, out: Float64Array | number[]): void {
    const a = this.a;
    const o = this.off;
    if (this.dimension === 2) {
      const x = p[0];
      const y = p[1];
      out[0] = a[0] * x + a[1] * y + o[0];
      out[1] = a[2] * x + a[3] * y + o[1];
    } else {
      const x = p[0];
      const y = p[1];
      const z = p[2];
      out[0] = a[0] * x + a[1] * y + a[2] * z + o[0];
      out[1] = a[3] * x + a[4] * y + a[5] * z + o[1];
      out[2] = a[6] * x + a[7] * y + a[8] * z + o[2];
    }
  }

  matrix(): Float64Array {
    return Float64Array.from(this.a);
  }

  offset(): Float64Array {
    return Float64Array.from(this.off);
  }

  getCenter(): Float64Array {
    return Float64Array.from(this.center);
  }

  getTranslation(): Float64Array {
    return this.parameters.slice(this.translationIndex, this.translationIndex + this.dimension);
  }

  setTranslation(t: ArrayLike<number>): void {
    for (let i = 0; i < this.dimension; i++) this.parameters[this.translationIndex + i] = t[i];
    this.computeOffset();
  }

  /** ITK's SetCenter: parameters stay, so the mapping changes (rotation now about the new centre). */
  setCenter(c: ArrayLike<number>): void {
    for (let i = 0; i < this.dimension; i++) this.center[i] = c[i];
    this.computeOffset();
  }

  /** Moves the centre and adjusts the translation so that T(x) is unchanged: t' = o − c' + A·c'. */
  setCenterKeepingMapping(c: ArrayLike<number>): void {
    const d = this.dimension;
    for (let r = 0; r < d; r++) {
      let s = this.off[r] - c[r];
      for (let k = 0; k < d; k++) s += this.a[r * d + k] * c[k];
      this.parameters[this.translationIndex + r] = s;
    }
    for (let i = 0; i < d; i++) this.center[i] = c[i];
    this.computeOffset();
  }

  /**
   * Fits this transform (keeping its centre c) to the affine map x ↦ M·x + o: the matrix is projected onto
   * what the type can represent (see setMatrix) and the translation makes T(c) = M·c + o exactly.
   */
  fitMapping(m: ArrayLike<number>, o: ArrayLike<number>): void {
    const d = this.dimension;
    this.setMatrix(m);
    const t = new Float64Array(d);
    for (let r = 0; r < d; r++) {
      let s = o[r] - this.center[r];
      for (let k = 0; k < d; k++) s += m[r * d + k] * this.center[k];
      t[r] = s;
    }
    this.setTranslation(t);
  }

  /** Generic jacobian from the cached ∂A/∂θ blocks: column k = ∂A/∂θ_k·(x − c); translation columns = I. */
  jacobian(p: ArrayLike<number>, out: Float64Array): void {
    const d = this.dimension;
    const n = this.numberOfParameters;
    const rel = this.rel;
    for (let i = 0; i < d; i++) rel[i] = p[i] - this.center[i];
    out.fill(0, 0, d * n);
    const idx = this.matrixParameterIndex;
    const dA = this.dA;
    const dd = d * d;
    for (let k = 0; k < idx.length; k++) {
      const col = idx[k];
      const base = k * dd;
      for (let r = 0; r < d; r++) {
        let s = 0;
        for (let c = 0; c < d; c++) s += dA[base + r * d + c] * rel[c];
        out[r * n + col] = s;
      }
    }
    const ti = this.translationIndex;
    for (let r = 0; r < d; r++) out[r * n + ti + r] = 1;
  }

  clone(): MatrixOffsetTransform {
    const t = this.create();
    t.setFixedParameters(this.fixedParameters);
    t.setCenter(this.center); // a translation's centre is not a fixed parameter but is kept too
    t.setParameters(this.parameters);
    return t;
  }

  /** The inverse with the same centre given the inverse matrix parameters already set on `inv`. */
  protected finishInverse(inv: MatrixOffsetTransform): MatrixOffsetTransform {
    // T⁻¹(y) = A⁻¹·(y − o) ⇒ with centre c, t' = −A⁻¹·o − c + A⁻¹·c (A⁻¹ as represented by `inv`).
    const d = this.dimension;
    inv.setCenter(this.center);
    const ai = inv.a;
    const t = new Float64Array(d);
    for (let r = 0; r < d; r++) {
      let s = -this.center[r];
      for (let k = 0; k < d; k++) s += ai[r * d + k] * (this.center[k] - this.off[k]);
      t[r] = s;
    }
    inv.setTranslation(t);
    return inv;
  }
}

// --- translation -----------------------------------------------------------------------------------

/** T(x) = x + t. Parameters (t₀ … t_{d−1}); no fixed parameters. */
export class TranslationTransform extends MatrixOffsetTransform {
  readonly kind = 'translation';
  readonly itkClassName = 'TranslationTransform';
  protected readonly translationIndex = 0;

  constructor(dimension: 2 | 3) {
    super(dimension, dimension);
  }

  override get fixedParameters(): Float64Array {
    return new Float64Array(0);
  }

  override setFixedParameters(fp: ArrayLike<number>): void {
    if (fp.length !== 0) throw new RangeError(`TranslationTransform has no fixed parameters, got ${fp.length}`);
  }

  protected computeMatrix(): void {
    // A stays the identity.
  }

  protected override computeOffset(): void {
    // o = t exactly (c + t − c would round).
    for (let i = 0; i < this.dimension; i++) this.off[i] = this.parameters[i];
  }

  protected create(): TranslationTransform {
    return new TranslationTransform(this.dimension);
  }

  setMatrix(m: ArrayLike<number>): void {
    const d = this.dimension;
    for (let r = 0; r < d; r++) {
      for (let c = 0; c < d; c++) {
        if (Math.abs(m[r * d + c] - (r === c ? 1 : 0)) > 1e-12) throw new CoregError('transform', 'a translation cannot represent a rotation, scaling or shear');
      }
    }
  }

  override fitMapping(m: ArrayLike<number>, o: ArrayLike<number>): void {
    // Best translation at the centre: T(c) = M·c + o ⇒ t = M·c + o − c.
    const d = this.dimension;
    const t = new Float64Array(d);
    for (let r = 0; r < d; r++) {
      let s = o[r] - this.center[r];
      for (let k = 0; k < d; k++) s += m[r * d + k] * this.center[k];
      t[r] = s;
    }
    this.setTranslation(t);
  }

  override jacobian(_p: ArrayLike<number>, out: Float64Array): void {
    const d = this.dimension;
    out.fill(0, 0, d * d);
    for (let r = 0; r < d; r++) out[r * d + r] = 1;
  }

  inverse(): TranslationTransform {
    const inv = new TranslationTransform(this.dimension);
    inv.setParameters(this.parameters.map((v) => -v));
    inv.setCenter(this.center);
    return inv;
  }
}

// --- 2D rigid and similarity -------------------------------------------------------------------------

/** 2D rotation about the centre then translation. Parameters (angle [rad], tx, ty); fixed (cx, cy). */
export class Euler2DTransform extends MatrixOffsetTransform {
  readonly kind = 'euler2d';
  readonly itkClassName = 'Euler2DTransform';
  protected readonly translationIndex = 1;

  constructor() {
    super(2, 3);
    this.matrixParameterIndex = Int32Array.of(0);
    this.dA = new Float64Array(4);
    this.refresh();
  }

  protected computeMatrix(): void {
    const c = Math.cos(this.parameters[0]);
    const s = Math.sin(this.parameters[0]);
    this.a.set([c, -s, s, c]);
    this.dA.set([-s, -c, c, -s]);
  }

  protected create(): Euler2DTransform {
    return new Euler2DTransform();
  }

  setMatrix(m: ArrayLike<number>): void {
    const r = nearestRotation(m, 2);
    this.parameters[0] = Math.atan2(r[2], r[0]);
    this.refresh();
  }

  inverse(): Euler2DTransform {
    const inv = new Euler2DTransform();
    inv.setParameters([-this.parameters[0], 0, 0]);
    return this.finishInverse(inv) as Euler2DTransform;
  }
}

/** 2D isotropic scaling and rotation. Parameters (scale, angle [rad], tx, ty); fixed (cx, cy). */
export class Similarity2DTransform extends MatrixOffsetTransform {
  readonly kind = 'similarity2d';
  readonly itkClassName = 'Similarity2DTransform';
  protected readonly translationIndex = 2;

  constructor() {
    super(2, 4);
    this.parameters[0] = 1;
    this.matrixParameterIndex = Int32Array.of(0, 1);
    this.dA = new Float64Array(8);
    this.refresh();
  }

  protected computeMatrix(): void {
    const k = this.parameters[0];
    const c = Math.cos(this.parameters[1]);
    const s = Math.sin(this.parameters[1]);
    this.a.set([k * c, -k * s, k * s, k * c]);
    this.dA.set([c, -s, s, c, -k * s, -k * c, k * c, -k * s]);
  }

  protected create(): Similarity2DTransform {
    return new Similarity2DTransform();
  }

  setMatrix(m: ArrayLike<number>): void {
    const r = nearestRotation(m, 2);
    // Least-squares scale for that rotation: argmin_s ‖s·R − M‖ = trace(Rᵀ·M)/d.
    this.parameters[0] = (r[0] * m[0] + r[2] * m[2] + r[1] * m[1] + r[3] * m[3]) / 2;
    this.parameters[1] = Math.atan2(r[2], r[0]);
    this.refresh();
  }

  inverse(): Similarity2DTransform {
    if (this.parameters[0] === 0) throw new CoregError('transform', 'similarity transform with scale 0 cannot be inverted');
    const inv = new Similarity2DTransform();
    inv.setParameters([1 / this.parameters[0], -this.parameters[1], 0, 0]);
    return this.finishInverse(inv) as Similarity2DTransform;
  }
}

// --- 3D Euler ----------------------------------------------------------------------------------------

function rotX(a: number): Float64Array {
  const c = Math.cos(a);
  const s = Math.sin(a);
  return Float64Array.of(1, 0, 0, 0, c, -s, 0, s, c);
}
function rotY(a: number): Float64Array {
  const c = Math.cos(a);
  const s = Math.sin(a);
  return Float64Array.of(c, 0, s, 0, 1, 0, -s, 0, c);
}
function rotZ(a: number): Float64Array {
  const c = Math.cos(a);
  const s = Math.sin(a);
  return Float64Array.of(c, -s, 0, s, c, 0, 0, 0, 1);
}
function dRotX(a: number): Float64Array {
  const c = Math.cos(a);
  const s = Math.sin(a);
  return Float64Array.of(0, 0, 0, 0, -s, -c, 0, c, -s);
}
function dRotY(a: number): Float64Array {
  const c = Math.cos(a);
  const s = Math.sin(a);
  return Float64Array.of(-s, 0, c, 0, 0, 0, -c, 0, -s);
}
function dRotZ(a: number): Float64Array {
  const c = Math.cos(a);
  const s = Math.sin(a);
  return Float64Array.of(-s, -c, 0, c, -s, 0, 0, 0, 0);
}
function mul3(a: Float64Array, b: Float64Array, c: Float64Array): Float64Array {
  return matMul(matMul(a, b, 3, 3, 3), c, 3, 3, 3);
}

/**
 * Euler angles from a rotation matrix, as the inverse of R = Rz·Rx·Ry (ITK default) or R = Rz·Ry·Rx
 * (computeZYX). The middle angle is kept in [−π/2, π/2]; at gimbal lock the last free angle is set to 0.
 */
export function eulerAnglesFromMatrix(m: ArrayLike<number>, computeZYX = false): [number, number, number] {
  if (!computeZYX) {
    const cx = Math.hypot(m[1], m[4]);
    const ax = Math.atan2(m[7], cx);
    if (cx > 1e-10) return [ax, Math.atan2(-m[6], m[8]), Math.atan2(-m[1], m[4])];
    // cos(ax) = 0: only ay ± az is determined; put it all in ay.
    const sx = m[7] >= 0 ? 1 : -1;
    return [ax, Math.atan2(sx * m[3], m[0]), 0];
  }
  const cy = Math.hypot(m[0], m[3]);
  const ay = Math.atan2(-m[6], cy);
  if (cy > 1e-10) return [Math.atan2(m[7], m[8]), ay, Math.atan2(m[3], m[0])];
  return [0, ay, Math.atan2(-m[1], m[4])];
}

/**
 * 3D rotation by Euler angles about the centre then translation. Parameters (angleX, angleY, angleZ, tx, ty, tz);
 * fixed (cx, cy, cz, computeZYX). R = Rz·Rx·Ry (ITK default), or Rz·Ry·Rx when computeZYX.
 */
export class Euler3DTransform extends MatrixOffsetTransform {
  readonly kind = 'euler3d';
  readonly itkClassName = 'Euler3DTransform';
  protected readonly translationIndex = 3;
  private zyx = false;

  constructor() {
    super(3, 6);
    this.matrixParameterIndex = Int32Array.of(0, 1, 2);
    this.dA = new Float64Array(27);
    this.refresh();
  }

  get computeZYX(): boolean {
    return this.zyx;
  }

  /** Changes the angle convention; like ITK, the parameters stay and the mapping changes. */
  setComputeZYX(flag: boolean): void {
    this.zyx = flag;
    this.refresh();
  }

  override get fixedParameters(): Float64Array {
    return Float64Array.of(this.center[0], this.center[1], this.center[2], this.zyx ? 1 : 0);
  }

  override setFixedParameters(fp: ArrayLike<number>): void {
    // ITK writes 4 values (centre + ComputeZYX); older files have only the centre.
    if (fp.length !== 3 && fp.length !== 4) throw new RangeError(`Euler3DTransform needs 3 or 4 fixed parameters, got ${fp.length}`);
    if (fp.length === 4) this.zyx = fp[3] !== 0;
    this.computeMatrix();
    this.setCenter([fp[0], fp[1], fp[2]]);
  }

  protected computeMatrix(): void {
    const [ax, ay, az] = this.parameters;
    const x = rotX(ax);
    const y = rotY(ay);
    const z = rotZ(az);
    if (this.zyx) {
      this.a.set(mul3(z, y, x));
      this.dA.set(mul3(z, y, dRotX(ax)), 0);
      this.dA.set(mul3(z, dRotY(ay), x), 9);
      this.dA.set(mul3(dRotZ(az), y, x), 18);
    } else {
      this.a.set(mul3(z, x, y));
      this.dA.set(mul3(z, dRotX(ax), y), 0);
      this.dA.set(mul3(z, x, dRotY(ay)), 9);
      this.dA.set(mul3(dRotZ(az), x, y), 18);
    }
  }

  protected create(): Euler3DTransform {
    return new Euler3DTransform();
  }

  setMatrix(m: ArrayLike<number>): void {
    const angles = eulerAnglesFromMatrix(nearestRotation(m, 3), this.zyx);
    this.parameters.set(angles, 0);
    this.refresh();
  }

  inverse(): Euler3DTransform {
    const inv = new Euler3DTransform();
    inv.zyx = this.zyx;
    inv.setParameters([...eulerAnglesFromMatrix(transpose(this.a, 3), this.zyx), 0, 0, 0]);
    return this.finishInverse(inv) as Euler3DTransform;
  }
}

// --- versors -----------------------------------------------------------------------------------------

/** w of the unit quaternion whose vector part is v (w ≥ 0); v is rescaled in place when |v| > 1. */
function versorW(v: Float64Array, i0: number): number {
  const n2 = v[i0] * v[i0] + v[i0 + 1] * v[i0 + 1] + v[i0 + 2] * v[i0 + 2];
  if (n2 > 1) {
    const n = Math.sqrt(n2);
    v[i0] /= n;
    v[i0 + 1] /= n;
    v[i0 + 2] /= n;
    return 0;
  }
  return Math.sqrt(1 - n2);
}

/**
 * Rotation matrix of the versor (x, y, z, w) scaled by k, into a (9), and k·∂R/∂v for the three vector
 * components with w = √(1 − |v|²) dependent, into dA (27).
 */
function versorMatrix(x: number, y: number, z: number, w: number, k: number, a: Float64Array, dA: Float64Array): void {
  a[0] = k * (1 - 2 * (y * y + z * z));
  a[1] = k * 2 * (x * y - z * w);
  a[2] = k * 2 * (x * z + y * w);
  a[3] = k * 2 * (x * y + z * w);
  a[4] = k * (1 - 2 * (x * x + z * z));
  a[5] = k * 2 * (y * z - x * w);
  a[6] = k * 2 * (x * z - y * w);
  a[7] = k * 2 * (y * z + x * w);
  a[8] = k * (1 - 2 * (x * x + y * y));
  // ∂R/∂w, then ∂R/∂vᵢ = (∂R/∂vᵢ)|_w − (vᵢ/w)·∂R/∂w (ITK's parameterisation: w follows from v).
  const rw = [0, -2 * z, 2 * y, 2 * z, 0, -2 * x, -2 * y, 2 * x, 0];
  const rx = [0, 2 * y, 2 * z, 2 * y, -4 * x, -2 * w, 2 * z, 2 * w, -4 * x];
  const ry = [-4 * y, 2 * x, 2 * w, 2 * x, 0, 2 * z, -2 * w, 2 * z, -4 * y];
  const rz = [-4 * z, -2 * w, 2 * x, 2 * w, -4 * z, 2 * y, 2 * x, 2 * y, 0];
  const fx = x / w;
  const fy = y / w;
  const fz = z / w;
  for (let i = 0; i < 9; i++) {
    dA[i] = k * (rx[i] - fx * rw[i]);
    dA[9 + i] = k * (ry[i] - fy * rw[i]);
    dA[18 + i] = k * (rz[i] - fz * rw[i]);
  }
}

/** Unit quaternion (x, y, z, w), w ≥ 0, of a proper rotation matrix (Shepperd's method). */
export function versorFromMatrix(m: ArrayLike<number>): [number, number, number, number] {
  const tr = m[0] + m[4] + m[8];
  let x: number, y: number, z: number, w: number;
  if (tr >= m[0] && tr >= m[4] && tr >= m[8]) {
    const s = 2 * Math.sqrt(1 + tr);
    w = s / 4;
    x = (m[7] - m[5]) / s;
    y = (m[2] - m[6]) / s;
    z = (m[3] - m[1]) / s;
  } else if (m[0] >= m[4] && m[0] >= m[8]) {
    const s = 2 * Math.sqrt(1 + m[0] - m[4] - m[8]);
    x = s / 4;
    w = (m[7] - m[5]) / s;
    y = (m[1] + m[3]) / s;
    z = (m[2] + m[6]) / s;
  } else if (m[4] >= m[8]) {
    const s = 2 * Math.sqrt(1 - m[0] + m[4] - m[8]);
    y = s / 4;
    w = (m[2] - m[6]) / s;
    x = (m[1] + m[3]) / s;
    z = (m[5] + m[7]) / s;
  } else {
    const s = 2 * Math.sqrt(1 - m[0] - m[4] + m[8]);
    z = s / 4;
    w = (m[3] - m[1]) / s;
    x = (m[2] + m[6]) / s;
    y = (m[5] + m[7]) / s;
  }
  const n = Math.hypot(x, y, z, w);
  const sign = w < 0 ? -1 : 1;
  return [(sign * x) / n, (sign * y) / n, (sign * z) / n, (sign * w) / n];
}

/**
 * ITK's versor step: the update's first three components u define a rotation about u by |u| radians, composed
 * as current ⊗ step (Hamilton product, so the step rotation applies first). Writes the new vector part into
 * p[i0..i0+2], with the quaternion's sign chosen so that w ≥ 0 (same rotation).
 */
function composeVersorStep(p: Float64Array, i0: number, step: ArrayLike<number>): void {
  const x1 = p[i0];
  const y1 = p[i0 + 1];
  const z1 = p[i0 + 2];
  const w1 = Math.sqrt(Math.max(0, 1 - x1 * x1 - y1 * y1 - z1 * z1));
  const angle = Math.hypot(step[0], step[1], step[2]);
  if (angle === 0) return;
  const s = Math.sin(angle / 2) / angle;
  const x2 = step[0] * s;
  const y2 = step[1] * s;
  const z2 = step[2] * s;
  const w2 = Math.cos(angle / 2);
  const w = w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2;
  const x = w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2;
  const y = w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2;
  const z = w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2;
  // Renormalise against drift and pick the sign with w ≥ 0 (q and −q are the same rotation).
  const n = Math.hypot(x, y, z, w) * (w < 0 ? -1 : 1);
  p[i0] = x / n;
  p[i0 + 1] = y / n;
  p[i0 + 2] = z / n;
}

/** 3D rotation by a versor about the centre then translation. Parameters (vx, vy, vz, tx, ty, tz); fixed (cx, cy, cz). */
export class VersorRigid3DTransform extends MatrixOffsetTransform {
  readonly kind = 'versor-rigid3d';
  readonly itkClassName = 'VersorRigid3DTransform';
  protected readonly translationIndex = 3;

  constructor() {
    super(3, 6);
    this.matrixParameterIndex = Int32Array.of(0, 1, 2);
    this.dA = new Float64Array(27);
    this.refresh();
  }

  protected computeMatrix(): void {
    const w = versorW(this.parameters, 0);
    versorMatrix(this.parameters[0], this.parameters[1], this.parameters[2], w, 1, this.a, this.dA);
  }

  override updateParameters(step: ArrayLike<number>): void {
    if (step.length !== 6) throw new RangeError(`step has ${step.length} values, expected 6`);
    composeVersorStep(this.parameters, 0, step);
    for (let i = 3; i < 6; i++) this.parameters[i] += step[i];
    this.refresh();
  }

  protected create(): VersorRigid3DTransform {
    return new VersorRigid3DTransform();
  }

  setMatrix(m: ArrayLike<number>): void {
    const q = versorFromMatrix(nearestRotation(m, 3));
    this.parameters.set(q.slice(0, 3), 0);
    this.refresh();
  }

  inverse(): VersorRigid3DTransform {
    const inv = new VersorRigid3DTransform();
    const p = this.parameters;
    inv.setParameters([-p[0], -p[1], -p[2], 0, 0, 0]);
    return this.finishInverse(inv) as VersorRigid3DTransform;
  }
}

/**
 * 3D similarity: isotropic scale times versor rotation about the centre, then translation.
 * Parameters (vx, vy, vz, tx, ty, tz, scale); fixed (cx, cy, cz).
 */
export class Similarity3DTransform extends MatrixOffsetTransform {
  readonly kind = 'similarity3d';
  readonly itkClassName = 'Similarity3DTransform';
  protected readonly translationIndex = 3;
  private readonly rotation = new Float64Array(9);
  private readonly unscaledDerivatives = new Float64Array(27);

  constructor() {
    super(3, 7);
    this.parameters[6] = 1;
    this.matrixParameterIndex = Int32Array.of(0, 1, 2, 6);
    this.dA = new Float64Array(36);
    this.refresh();
  }

  protected computeMatrix(): void {
    const p = this.parameters;
    const w = versorW(p, 0);
    versorMatrix(p[0], p[1], p[2], w, p[6], this.a, this.dA);
    // ∂A/∂scale = R (the unscaled rotation).
    versorMatrix(p[0], p[1], p[2], w, 1, this.rotation, this.unscaledDerivatives);
    this.dA.set(this.rotation, 27);
  }

  override updateParameters(step: ArrayLike<number>): void {
    if (step.length !== 7) throw new RangeError(`step has ${step.length} values, expected 7`);
    composeVersorStep(this.parameters, 0, step);
    for (let i = 3; i < 7; i++) this.parameters[i] += step[i];
    this.refresh();
  }

  protected create(): Similarity3DTransform {
    return new Similarity3DTransform();
  }

  setMatrix(m: ArrayLike<number>): void {
    const r = nearestRotation(m, 3);
    let tr = 0;
    for (let i = 0; i < 9; i++) tr += r[i] * m[i];
    const q = versorFromMatrix(r);
    this.parameters.set(q.slice(0, 3), 0);
    this.parameters[6] = tr / 3;
    this.refresh();
  }

  inverse(): Similarity3DTransform {
    const p = this.parameters;
    if (p[6] === 0) throw new CoregError('transform', 'similarity transform with scale 0 cannot be inverted');
    const inv = new Similarity3DTransform();
    inv.setParameters([-p[0], -p[1], -p[2], 0, 0, 0, 1 / p[6]]);
    return this.finishInverse(inv) as Similarity3DTransform;
  }
}

// --- affine ------------------------------------------------------------------------------------------

/** General affine. Parameters: A row-major (d×d) then translation (d); fixed: centre (d). */
export class AffineTransform extends MatrixOffsetTransform {
  readonly kind = 'affine';
  readonly itkClassName = 'AffineTransform';
  protected readonly translationIndex: number;

  constructor(dimension: 2 | 3) {
    super(dimension, dimension * dimension + dimension);
    this.translationIndex = dimension * dimension;
    this.parameters.set(identity(dimension), 0);
    this.refresh();
  }

  protected computeMatrix(): void {
    this.a.set(this.parameters.subarray(0, this.dimension * this.dimension));
  }

  protected create(): AffineTransform {
    return new AffineTransform(this.dimension);
  }

  setMatrix(m: ArrayLike<number>): void {
    for (let i = 0; i < this.dimension * this.dimension; i++) this.parameters[i] = m[i];
    this.refresh();
  }

  override jacobian(p: ArrayLike<number>, out: Float64Array): void {
    const d = this.dimension;
    const n = this.numberOfParameters;
    out.fill(0, 0, d * n);
    for (let r = 0; r < d; r++) {
      for (let c = 0; c < d; c++) out[r * n + r * d + c] = p[c] - this.center[c];
      out[r * n + d * d + r] = 1;
    }
  }

  inverse(): AffineTransform {
    const ai = invertMatrixOrNull(this.a, this.dimension);
    if (!ai) throw new CoregError('transform', 'affine matrix is singular and cannot be inverted');
    const inv = new AffineTransform(this.dimension);
    inv.setMatrix(ai);
    return this.finishInverse(inv) as AffineTransform;
  }
}

// --- helpers over any linear transform ---------------------------------------------------------------

/** A new transform of the requested kind at identity: rigid = Euler2D/Euler3D, similarity = Similarity2D/3D. */
export function createTransform(kind: LinearKind, d: 2 | 3): MatrixOffsetTransform {
  switch (kind) {
    case 'translation':
      return new TranslationTransform(d);
    case 'rigid':
      return d === 2 ? new Euler2DTransform() : new Euler3DTransform();
    case 'similarity':
      return d === 2 ? new Similarity2DTransform() : new Similarity3DTransform();
    case 'affine':
      return new AffineTransform(d);
    default:
      throw new CoregError('--transform', `unknown linear transform kind "${String(kind)}"`);
  }
}

function centerOf(t: LinearTransform): Float64Array {
  return t instanceof MatrixOffsetTransform ? t.getCenter() : new Float64Array(t.dimension);
}

/** The same mapping as an AffineTransform (keeping the centre of a centred transform, else centre 0). */
export function toAffine(t: LinearTransform): AffineTransform {
  const out = new AffineTransform(t.dimension);
  out.setCenter(centerOf(t));
  out.fitMapping(t.matrix(), t.offset());
  return out;
}

/** The chain T(x) = Tn(…T2(T1(x))) (first element applies first) as one AffineTransform with centre 0. */
export function composeLinear(chain: LinearTransform[]): AffineTransform {
  if (chain.length === 0) throw new RangeError('composeLinear needs at least one transform');
  const d = chain[0].dimension;
  let a = identity(d);
  let o = new Float64Array(d);
  for (const t of chain) {
    if (t.dimension !== d) throw new CoregError('transform', `cannot compose ${d}D and ${t.dimension}D transforms`);
    const m = t.matrix();
    const ot = t.offset();
    // Tₖ(A·x + o) = Mₖ·A·x + (Mₖ·o + oₖ)
    const no = new Float64Array(d);
    for (let r = 0; r < d; r++) {
      let s = ot[r];
      for (let k = 0; k < d; k++) s += m[r * d + k] * o[k];
      no[r] = s;
    }
    a = matMul(m, a, d, d, d);
    o = no;
  }
  const out = new AffineTransform(d);
  out.fitMapping(a, o);
  return out;
}

/** The exact inverse: same type for coreg's transforms (see each inverse()), else an AffineTransform. */
export function invertLinear(t: LinearTransform): MatrixOffsetTransform {
  if (t instanceof MatrixOffsetTransform) return t.inverse();
  return toAffine(t).inverse();
}

/**
 * A transform of `kind` approximating `linear`, centred at `center` (default: linear's centre, else 0):
 * translation = T(c) − c; rigid = nearest rotation (polar decomposition with det +1); similarity = that
 * rotation with the least-squares scale; affine = exact. All of them map the centre exactly as `linear` does.
 */
export function fitTransformFrom(kind: LinearKind, linear: LinearTransform, center?: ArrayLike<number>): MatrixOffsetTransform {
  const t = createTransform(kind, linear.dimension);
  t.setCenter(center ?? centerOf(linear));
  t.fitMapping(linear.matrix(), linear.offset());
  return t;
}

/** Determinant of a linear transform's matrix (< 0 means it flips orientation). */
export function linearDeterminant(t: LinearTransform): number {
  return determinant(t.matrix(), t.dimension);
}
