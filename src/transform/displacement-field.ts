/**
 * Dense displacement fields (ITK/ANTs DisplacementFieldTransform): a vector image with d components, in LPS mm,
 * on its own grid. T(x) = x + u(x), u interpolated (bi/tri)linearly at x, 0 outside the field's domain
 * (−0.5 ≤ index ≤ size − 0.5, as the interpolation kernels define it).
 */
import { CoregError } from '../errors.js';
import { physicalToIndexMatrix, type Image } from '../image/image.js';
import { interpolationPlane } from '../interpolate/interpolator.js';
import { linear2d, linearVector3d, linearVectorValues3d, type Plane } from '../interpolate/kernels.js';
import type { Transform } from './transform.js';

export class DisplacementFieldTransform implements Transform {
  readonly kind = 'displacement-field';
  readonly dimension: 2 | 3;
  /** The field image (components = dimension, LPS mm). */
  readonly field: Image;
  private readonly planes: Plane[];
  private readonly toIndex: Float64Array;
  private readonly nx: number;
  private readonly ny: number;
  private readonly nz: number;
  private readonly ci: Float64Array;
  private readonly u: Float64Array;
  private readonly u3 = new Float64Array(3);
  /** addDisplacementRow3d's continuous indices (3 per point) and displacement rows, grown to the longest row. */
  private rowIndex = new Float64Array(0);
  private rowU = [new Float64Array(0), new Float64Array(0), new Float64Array(0)];

  /** `name` is what errors about the field name (its file). */
  constructor(field: Image, name = 'displacement field') {
    if (field.components !== field.dimension) {
      throw new CoregError(name, `a displacement field needs ${field.dimension} components per pixel (one per axis), got ${field.components}`);
    }
    // NaN would silently act as 0 inside the interpolation: a damaged field is an error, not an identity.
    const data = field.data;
    for (let i = 0; i < data.length; i++) {
      if (!Number.isFinite(data[i])) {
        throw new CoregError(name, `holds a NaN or infinite displacement (voxel ${Math.floor(i / field.components)}); a displacement field must be finite everywhere`);
      }
    }
    this.dimension = field.dimension;
    this.field = field;
    this.planes = [];
    for (let c = 0; c < field.components; c++) this.planes.push(interpolationPlane(field, c));
    this.toIndex = physicalToIndexMatrix(field);
    this.nx = field.size[0];
    this.ny = field.size[1];
    this.nz = field.dimension === 3 ? field.size[2] : 1;
    this.ci = new Float64Array(field.dimension);
    this.u = new Float64Array(field.dimension);
  }

  /** out = u(p) (0 outside the field's domain). */
  displacement(p: ArrayLike<number>, out: Float64Array | number[]): void {
    const d = this.dimension;
    const n = this.toIndex;
    const o = this.field.origin;
    const ci = this.ci;
    for (let r = 0; r < d; r++) {
      let s = 0;
      for (let c = 0; c < d; c++) s += n[r * d + c] * (p[c] - o[c]);
      ci[r] = s;
    }
    if (d === 3) {
      // the three planes with one set of weights (linear3d's arithmetic; the values are finite, checked above);
      // outside the domain the field is 0
      const u = this.u3;
      if (!linearVector3d(this.planes[0], this.planes[1], this.planes[2], this.nx, this.ny, this.nz, ci, u)) u.fill(0);
      for (let c = 0; c < 3; c++) out[c] = u[c];
      return;
    }
    for (let c = 0; c < d; c++) {
      const v = linear2d(this.planes[c], this.nx, this.ny, ci[0], ci[1]);
      // NaN = outside the domain, where the field is 0.
      out[c] = v === v ? v : 0;
    }
  }

  /**
   * 3D: adds u to points [0, n) given as coordinate rows (x[i], y[i], z[i]) in place, each as transformPoint maps
   * one point (the same operations: u(p) by displacement()'s arithmetic, then u + p), without a call per point.
   */
  addDisplacementRow3d(x: Float64Array, y: Float64Array, z: Float64Array, n: number): void {
    if (this.dimension !== 3) throw new Error('addDisplacementRow3d needs a 3D field');
    const m = this.toIndex;
    const [o0, o1, o2] = this.field.origin;
    const [p0, p1, p2] = this.planes;
    if (this.rowIndex.length < 3 * n) {
      this.rowIndex = new Float64Array(3 * n);
      this.rowU = [new Float64Array(n), new Float64Array(n), new Float64Array(n)];
    }
    const ci = this.rowIndex;
    const [u0, u1, u2] = this.rowU;
    for (let i = 0; i < n; i++) {
      const d0 = x[i] - o0;
      const d1 = y[i] - o1;
      const d2 = z[i] - o2;
      // (displacement()'s sums: 0 + each term in turn)
      ci[3 * i] = 0 + m[0] * d0 + m[1] * d1 + m[2] * d2;
      ci[3 * i + 1] = 0 + m[3] * d0 + m[4] * d1 + m[5] * d2;
      ci[3 * i + 2] = 0 + m[6] * d0 + m[7] * d1 + m[8] * d2;
    }
    // the row's u in one call (a call per point that V8 does not inline boxes the numbers it is passed)
    linearVectorValues3d(p0, p1, p2, this.nx, this.ny, this.nz, ci, n, u0, u1, u2);
    for (let i = 0; i < n; i++) {
      // (outside the domain u is 0 (NaN here): 0 + p, as transformPoint adds it)
      const inside = u0[i] === u0[i];
      x[i] = (inside ? u0[i] : 0) + x[i];
      y[i] = (inside ? u1[i] : 0) + y[i];
      z[i] = (inside ? u2[i] : 0) + z[i];
    }
  }

  transformPoint(p: ArrayLike<number>, out: Float64Array | number[]): void {
    this.displacement(p, out);
    for (let c = 0; c < this.dimension; c++) out[c] += p[c];
  }

  /**
   * x with T(x) = y by the fixed-point iteration x ← y − u(x) (from x = y), until a step moves less than
   * `tolerance` mm or `maxIterations` pass. Returns whether it converged; `out` holds the last iterate either way.
   */
  inverseTransformPoint(y: ArrayLike<number>, out: Float64Array | number[], tolerance = 1e-6, maxIterations = 100): boolean {
    const d = this.dimension;
    const u = this.u;
    for (let c = 0; c < d; c++) out[c] = y[c];
    for (let it = 0; it < maxIterations; it++) {
      this.displacement(out, u);
      let step2 = 0;
      for (let c = 0; c < d; c++) {
        const next = y[c] - u[c];
        const s = next - out[c];
        step2 += s * s;
        out[c] = next;
      }
      if (step2 <= tolerance * tolerance) return true;
    }
    return false;
  }
}
