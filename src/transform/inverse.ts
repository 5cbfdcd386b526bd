/**
 * Inverting whole chains (moving → fixed): T⁻¹ = T1⁻¹∘…∘Tn⁻¹. Runs of linear transforms are composed and
 * inverted exactly; a dense field that comes with a stored inverse (a syn result's inverse-warp.nii.gz) uses
 * it; any other non-linear element (B-spline, displacement field without a stored inverse, thin-plate spline)
 * is inverted numerically into a displacement field on a grid: at each grid point y the x with T(x) = y is
 * found by iteration, and the field stores x − y. The residual |T(x) − y| at the grid points is reported.
 */
import { createImage, indexToPhysicalMatrix, type Image } from '../image/image.js';
import type { GridGeometry } from './bspline.js';
import { BSplineTransform } from './bspline.js';
import { DisplacementFieldTransform } from './displacement-field.js';
import { composeLinear, invertLinear } from './linear.js';
import { isLinear, type LinearTransform, type Transform } from './transform.js';

/** Inverses known exactly for a transform object (e.g. a syn forward field → its inverse field transform). */
export const storedInverses = new WeakMap<Transform, Transform>();

export interface NumericInverseReport {
  /** What was inverted (a transform kind, or its file). */
  name: string;
  /** Grid size of the inverse field. */
  size: number[];
  /** Largest and mean |T(x) − y| over the field's grid points (mm). */
  maxResidual: number;
  meanResidual: number;
  /** Grid points whose iteration did not converge (their last estimate is kept). */
  unconverged: number;
}

export interface ChainInversion {
  /** The inverse chain, first applies first (maps moving → fixed points). */
  transforms: Transform[];
  /** One entry per element inverted numerically. */
  numeric: NumericInverseReport[];
}

export interface InvertOptions {
  /**
   * Grid for numerically inverted elements (in the space where the inverse is evaluated). Default: the
   * element's own grid (a field's grid; a B-spline's domain sampled at a quarter of its control spacing).
   */
  grid?: GridGeometry;
  /** Stop when an iteration moves less than this (mm). Default 1e-5. */
  tolerance?: number;
  maxIterations?: number;
  /** Most grid points of a default grid (default 8 million). */
  maxPoints?: number;
}

/** The inverse of a chain (see the module comment). */
export function invertChain(chain: readonly Transform[], opts: InvertOptions = {}): ChainInversion {
  const transforms: Transform[] = [];
  const numeric: NumericInverseReport[] = [];
  let i = chain.length - 1;
  while (i >= 0) {
    if (isLinear(chain[i])) {
      let first = i;
      while (first - 1 >= 0 && isLinear(chain[first - 1])) first--;
      const run = chain.slice(first, i + 1) as LinearTransform[];
      transforms.push(run.length === 1 ? invertLinear(run[0]) : invertLinear(composeLinear(run)));
      i = first - 1;
      continue;
    }
    const t = chain[i];
    const stored = storedInverses.get(t);
    if (stored) {
      transforms.push(stored);
    } else {
      const grid = opts.grid ?? defaultInverseGrid(t, opts.maxPoints ?? 8e6);
      const { transform, report } = invertToField(t, grid, opts);
      transforms.push(transform);
      numeric.push(report);
    }
    i--;
  }
  return { transforms, numeric };
}

/** A grid for the inverse of a non-linear transform: its own field grid, or its B-spline domain. */
export function defaultInverseGrid(t: Transform, maxPoints = 8e6): GridGeometry {
  if (t instanceof DisplacementFieldTransform) {
    const f = t.field;
    return { dimension: f.dimension, size: f.size.slice(), spacing: f.spacing.slice(), origin: f.origin.slice(), direction: f.direction.slice() };
  }
  if (t instanceof BSplineTransform) {
    const dom = t.domain;
    const d = t.dimension;
    const mesh = Array.from(dom.meshSize);
    let k = 4;
    const count = (kk: number): number => mesh.reduce((p, m) => p * (m * kk + 1), 1);
    while (k > 1 && count(k) > maxPoints) k--;
    return {
      dimension: d,
      size: mesh.map((m) => m * k + 1),
      spacing: t.gridSpacing.map((s) => s / k),
      origin: Array.from(dom.origin),
      direction: Array.from(dom.direction ?? t.gridDirection),
    };
  }
  throw new RangeError(`no default grid to invert a "${t.kind}" transform on; give one`);
}

/**
 * x with T(x) = y. Fields use their own iteration; others x ← x + (y − T(x)) (converges while |∂u/∂x| < 1, as
 * for any invertible registration result).
 */
function solvePoint(t: Transform, y: Float64Array, x: Float64Array, tx: Float64Array, tolerance: number, maxIterations: number): boolean {
  if (t instanceof DisplacementFieldTransform) return t.inverseTransformPoint(y, x, tolerance, maxIterations);
  const d = t.dimension;
  for (let c = 0; c < d; c++) x[c] = y[c];
  for (let it = 0; it < maxIterations; it++) {
    t.transformPoint(x, tx);
    let step2 = 0;
    for (let c = 0; c < d; c++) {
      const s = y[c] - tx[c];
      x[c] += s;
      step2 += s * s;
    }
    if (!Number.isFinite(step2)) return false;
    if (step2 <= tolerance * tolerance) return true;
  }
  return false;
}

/** The inverse of one non-linear transform as a displacement field on `grid`, with its residual. */
export function invertToField(t: Transform, grid: GridGeometry, opts: InvertOptions = {}): { transform: DisplacementFieldTransform; field: Image; report: NumericInverseReport } {
  const d = t.dimension;
  const tolerance = opts.tolerance ?? 1e-5;
  const maxIterations = opts.maxIterations ?? 200;
  const field = createImage(Array.from(grid.size), 'float32', {
    spacing: Array.from(grid.spacing),
    origin: Array.from(grid.origin),
    direction: Array.from(grid.direction),
    components: d,
  });
  const data = field.data as Float32Array;
  const m = indexToPhysicalMatrix(field);
  const [nx, ny] = field.size;
  const nz = d === 3 ? field.size[2] : 1;
  const y = new Float64Array(d);
  const x = new Float64Array(d);
  const tx = new Float64Array(d);
  let unconverged = 0;
  let maxResidual = 0;
  let sumResidual = 0;
  let p = 0;
  for (let k = 0; k < nz; k++) {
    for (let j = 0; j < ny; j++) {
      for (let i = 0; i < nx; i++, p++) {
        for (let r = 0; r < d; r++) y[r] = field.origin[r] + m[r * d] * i + m[r * d + 1] * j + (d === 3 ? m[r * d + 2] * k : 0);
        if (!solvePoint(t, y, x, tx, tolerance, maxIterations)) unconverged++;
        for (let c = 0; c < d; c++) {
          const v = Math.fround(x[c] - y[c]);
          data[p * d + c] = Number.isFinite(v) ? v : 0;
          x[c] = y[c] + data[p * d + c];
        }
        // Residual of what is stored (float32), at the grid point.
        t.transformPoint(x, tx);
        let r2 = 0;
        for (let c = 0; c < d; c++) r2 += (tx[c] - y[c]) ** 2;
        const r = Math.sqrt(r2);
        if (r > maxResidual) maxResidual = r;
        sumResidual += r;
      }
    }
  }
  const name = t.kind;
  return {
    transform: new DisplacementFieldTransform(field, `inverse of ${name}`),
    field,
    report: { name, size: field.size.slice(), maxResidual, meanResidual: sumResidual / Math.max(1, p), unconverged },
  };
}

/** One line describing a numeric inverse, for logs. */
export function describeNumericInverse(r: NumericInverseReport): string {
  return `inverse of the ${r.name} transform: a displacement field on a ${r.size.join('×')} grid, residual |T(T⁻¹(y)) − y| max ${r.maxResidual.toPrecision(3)} mm, mean ${r.meanResidual.toPrecision(3)} mm${r.unconverged ? ` (${r.unconverged} points did not converge)` : ''}`;
}
