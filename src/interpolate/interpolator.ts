/**
 * A friendly interpolator over an Image, per component, at continuous indices or physical (LPS mm) points.
 *
 * Outside the image domain (ITK's IsInsideBuffer: −0.5 ≤ ci ≤ size − 0.5 on every axis) every evaluation returns
 * `defaultValue` (0 unless given), sets the `inside` field to false and, when a gradient is asked for, writes 0
 * into it. Inside, `inside` is true. `inside` always describes the most recent call, so callers read it right
 * after the call; nothing is allocated per call.
 *
 * Pixels are converted once to float planes (one per component; uint8…int16 and float32 images as Float32Array,
 * wider types as Float64Array) so that the kernels stay monomorphic; B-spline coefficients (Float64Array) are
 * computed once per component at creation.
 */
import { CoregError } from '../errors.js';
import { physicalToIndexMatrix, type Image } from '../image/image.js';
import { barycentric2d, barycentric3d, linear2d, linear3d, nearest2d, nearest3d, type Plane } from './kernels.js';
import { bspline2d, bspline3d, bsplineCoefficients } from './bspline.js';

export type InterpolationKind = 'nearest' | 'linear' | 'barycentric' | 'bspline';

export const INTERPOLATION_KINDS: readonly InterpolationKind[] = ['nearest', 'linear', 'barycentric', 'bspline'];

export interface InterpolatorOptions {
  /** Value returned outside the image domain (default 0). */
  defaultValue?: number;
}

export interface Interpolator {
  readonly image: Image;
  readonly kind: InterpolationKind;
  readonly defaultValue: number;
  /** Whether the point of the most recent evaluation was inside the image domain. */
  inside: boolean;
  /** Value at continuous index `ci` of component `component` (default 0); defaultValue outside. */
  valueAtIndex(ci: ArrayLike<number>, component?: number): number;
  /** Value at physical point `p` (LPS mm); defaultValue outside. */
  valueAtPoint(p: ArrayLike<number>, component?: number): number;
  /**
   * Value at continuous index `ci`; when `grad` is given it receives the gradient in INDEX units.
   * Sets `inside`; returns defaultValue (grad 0) outside.
   */
  evaluate(ci: ArrayLike<number>, grad: Float64Array | null, component?: number): number;
  /**
   * Value at physical point `p`; `grad` receives the gradient in PHYSICAL units (per mm along x, y, z of LPS),
   * i.e. Nᵀ·(index gradient) with N = physicalToIndexMatrix. Sets `inside`.
   */
  gradientAtPoint(p: ArrayLike<number>, grad: Float64Array, component?: number): number;
  /** Continuous index of physical point `p`, written into `out`. */
  pointToIndex(p: ArrayLike<number>, out: Float64Array): Float64Array;
}

/** One component of `image` as a float plane for the kernels (no copy when it already is one). */
export function interpolationPlane(image: Image, component = 0): Plane {
  const data = image.data;
  const nc = image.components;
  if (nc === 1 && (data instanceof Float32Array || data instanceof Float64Array)) return data;
  const n = data.length / nc;
  const wide = data instanceof Float64Array || data instanceof Int32Array || data instanceof Uint32Array;
  const plane = wide ? new Float64Array(n) : new Float32Array(n);
  for (let i = 0, p = component; i < n; i++, p += nc) plane[i] = data[p];
  return plane;
}

export function isInterpolationKind(kind: string): kind is InterpolationKind {
  return (INTERPOLATION_KINDS as readonly string[]).includes(kind);
}

class ImageInterpolator implements Interpolator {
  readonly image: Image;
  readonly kind: InterpolationKind;
  readonly defaultValue: number;
  inside = false;
  private readonly planes: Plane[];
  private readonly d: number;
  private readonly nx: number;
  private readonly ny: number;
  private readonly nz: number;
  /** physical → index: ci = N·(p − origin). */
  private readonly n: Float64Array;
  private readonly ci = new Float64Array(3);
  private readonly gi = new Float64Array(3);

  constructor(image: Image, kind: InterpolationKind, defaultValue: number) {
    this.image = image;
    this.kind = kind;
    this.defaultValue = defaultValue;
    this.d = image.dimension;
    this.nx = image.size[0];
    this.ny = image.size[1];
    this.nz = image.dimension === 3 ? image.size[2] : 1;
    this.n = physicalToIndexMatrix(image);
    this.planes = [];
    for (let c = 0; c < image.components; c++) {
      this.planes.push(kind === 'bspline' ? bsplineCoefficients(image.data, image.size, image.components, c) : interpolationPlane(image, c));
    }
  }

  evaluate(ci: ArrayLike<number>, grad: Float64Array | null, component = 0): number {
    const plane = this.planes[component];
    if (plane === undefined) throw new RangeError(`component ${component} out of range 0…${this.planes.length - 1}`);
    const g = grad ?? undefined;
    let v: number;
    if (this.d === 2) {
      const x = ci[0];
      const y = ci[1];
      switch (this.kind) {
        case 'nearest':
          v = nearest2d(plane, this.nx, this.ny, x, y, g);
          break;
        case 'linear':
          v = linear2d(plane, this.nx, this.ny, x, y, g);
          break;
        case 'barycentric':
          v = barycentric2d(plane, this.nx, this.ny, x, y, g);
          break;
        case 'bspline':
          v = bspline2d(plane as Float64Array, this.nx, this.ny, x, y, g);
          break;
      }
    } else {
      const x = ci[0];
      const y = ci[1];
      const z = ci[2];
      switch (this.kind) {
        case 'nearest':
          v = nearest3d(plane, this.nx, this.ny, this.nz, x, y, z, g);
          break;
        case 'linear':
          v = linear3d(plane, this.nx, this.ny, this.nz, x, y, z, g);
          break;
        case 'barycentric':
          v = barycentric3d(plane, this.nx, this.ny, this.nz, x, y, z, g);
          break;
        case 'bspline':
          v = bspline3d(plane as Float64Array, this.nx, this.ny, this.nz, x, y, z, g);
          break;
      }
    }
    // NaN also comes from a NaN index (e.g. a transform that failed); both count as outside.
    if (v !== v) {
      this.inside = false;
      return this.defaultValue;
    }
    this.inside = true;
    return v;
  }

  valueAtIndex(ci: ArrayLike<number>, component = 0): number {
    return this.evaluate(ci, null, component);
  }

  pointToIndex(p: ArrayLike<number>, out: Float64Array): Float64Array {
    const d = this.d;
    const n = this.n;
    const o = this.image.origin;
    for (let r = 0; r < d; r++) {
      let s = 0;
      for (let c = 0; c < d; c++) s += n[r * d + c] * (p[c] - o[c]);
      out[r] = s;
    }
    return out;
  }

  valueAtPoint(p: ArrayLike<number>, component = 0): number {
    return this.evaluate(this.pointToIndex(p, this.ci), null, component);
  }

  gradientAtPoint(p: ArrayLike<number>, grad: Float64Array, component = 0): number {
    const d = this.d;
    const gi = this.gi;
    const v = this.evaluate(this.pointToIndex(p, this.ci), gi, component);
    // ci_r = Σ_c N[r,c]·(p_c − o_c)  ⇒  ∂f/∂p_c = Σ_r N[r,c]·∂f/∂ci_r.
    const n = this.n;
    for (let c = 0; c < d; c++) {
      let s = 0;
      for (let r = 0; r < d; r++) s += n[r * d + c] * gi[r];
      grad[c] = s;
    }
    return v;
  }
}

/** An interpolator of `kind` over `image` (all components); see the module comment for the outside rule. */
export function createInterpolator(image: Image, kind: InterpolationKind, opts: InterpolatorOptions = {}): Interpolator {
  if (!isInterpolationKind(kind)) {
    throw new CoregError('--interpolation', `unknown interpolation '${String(kind)}' (expected ${INTERPOLATION_KINDS.join(', ')})`, 2);
  }
  const defaultValue = opts.defaultValue ?? 0;
  return new ImageInterpolator(image, kind, defaultValue);
}
