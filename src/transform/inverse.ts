/**
 * Inverting whole chains (moving → fixed): T⁻¹ = T1⁻¹∘…∘Tn⁻¹. Runs of linear transforms are composed and
 * inverted exactly; a dense field that comes with a stored inverse (a syn result's inverse-warp.nii.gz) uses
 * it; any other non-linear element (B-spline, displacement field without a stored inverse, thin-plate spline)
 * is inverted numerically into a displacement field on a grid: at each grid point y the x with T(x) = y is
 * found by iteration, and the field stores x − y. The residual |T(x) − y| at the grid points is reported.
 */
import { createImage, indexToPhysicalMatrix, type Image } from '../image/image.js';
import { selectRank } from '../image/intensity.js';
import type { GridGeometry } from '../image/image.js';
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
  /**
   * Largest and mean |T(T⁻¹(y)) − y| over the field's grid points and cell centres that have a preimage (mm).
   * Points without one (where the forward map leaves a gap, typically at a B-spline domain's border where the
   * displacement jumps to 0) are counted in `unconverged`.
   */
  maxResidual: number;
  meanResidual: number;
  /** 99th percentile of the same residuals (mm): large maxima sit where the forward map is discontinuous. */
  p99Residual: number;
  /** Grid points without a preimage to the tolerance (their closest estimate is kept). */
  unconverged: number;
}

export interface ChainInversion {
  /** The inverse chain, first applies first (maps moving → fixed points). */
  transforms: Transform[];
  /** One entry per element inverted numerically. */
  numeric: NumericInverseReport[];
}

export interface ChainInvertOptions {
  /**
   * Grid for numerically inverted elements (in the space where the inverse is evaluated). Default: the
   * element's own grid (a field's grid; a B-spline's domain sampled at up to 8 points per control spacing).
   */
  grid?: GridGeometry;
  /** Stop when an iteration moves less than this (mm). Default 1e-5. */
  tolerance?: number;
  maxIterations?: number;
  /** Most grid points of a default grid (default 1 million; a B-spline's grid is 2 to 8 points per control spacing). */
  maxPoints?: number;
}

/** One step of a chain's inverse: a closed-form inverse, or an element to invert numerically. */
export type InversionStep = { inverse: Transform } | { numeric: Transform };

/**
 * The steps of a chain's inverse, from its last element to its first: each run of linear elements composed and
 * inverted in closed form, each other element as it is (for a numeric inverse).
 */
export function inversionSteps(chain: readonly Transform[]): InversionStep[] {
  const steps: InversionStep[] = [];
  let i = chain.length - 1;
  while (i >= 0) {
    if (isLinear(chain[i])) {
      let first = i;
      while (first - 1 >= 0 && isLinear(chain[first - 1])) first--;
      const run = chain.slice(first, i + 1) as LinearTransform[];
      steps.push({ inverse: run.length === 1 ? invertLinear(run[0]) : invertLinear(composeLinear(run)) });
      i = first - 1;
    } else {
      steps.push({ numeric: chain[i] });
      i--;
    }
  }
  return steps;
}

/** The inverse of a chain (see the module comment). */
export function invertChain(chain: readonly Transform[], opts: ChainInvertOptions = {}): ChainInversion {
  const transforms: Transform[] = [];
  const numeric: NumericInverseReport[] = [];
  for (const step of inversionSteps(chain)) {
    if ('inverse' in step) {
      transforms.push(step.inverse);
      continue;
    }
    const t = step.numeric;
    const stored = storedInverses.get(t);
    if (stored) {
      transforms.push(stored);
    } else {
      const grid = opts.grid ?? defaultInverseGrid(t, opts.maxPoints ?? 1e6);
      const { transform, report } = invertToField(t, grid, opts);
      transforms.push(transform);
      numeric.push(report);
    }
  }
  return { transforms, numeric };
}

/** A grid for the inverse of a non-linear transform: its own field grid, or its B-spline domain. */
export function defaultInverseGrid(t: Transform, maxPoints = 1e6): GridGeometry {
  if (t instanceof DisplacementFieldTransform) {
    const f = t.field;
    return { dimension: f.dimension, size: f.size.slice(), spacing: f.spacing.slice(), origin: f.origin.slice(), direction: f.direction.slice() };
  }
  if (t instanceof BSplineTransform) {
    const dom = t.domain;
    const d = t.dimension;
    const mesh = Array.from(dom.meshSize);
    let k = 8;
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

interface WithSpatialJacobian {
  spatialJacobian(p: ArrayLike<number>, out: Float64Array): void;
}

function hasSpatialJacobian(t: Transform): t is Transform & WithSpatialJacobian {
  return typeof (t as Partial<WithSpatialJacobian>).spatialJacobian === 'function';
}

/** Scratch for solvePoint (no allocation per point). */
interface SolveScratch {
  tx: Float64Array;
  r: Float64Array;
  j: Float64Array;
  dx: Float64Array;
  trial: Float64Array;
  /** Whether j holds a Jacobian of this row (solvePoint's chord steps may start with it). */
  jacobianValid: boolean;
}

function makeScratch(d: number): SolveScratch {
  return { tx: new Float64Array(d), r: new Float64Array(d), j: new Float64Array(d * d), dx: new Float64Array(d), trial: new Float64Array(d), jacobianValid: false };
}

/** Solves J·dx = r for d = 2 or 3 (Cramer); false when J is singular. */
function solveSmall(j: Float64Array, r: Float64Array, dx: Float64Array, d: number): boolean {
  if (d === 2) {
    const det = j[0] * j[3] - j[1] * j[2];
    if (!(Math.abs(det) > 1e-12)) return false;
    dx[0] = (j[3] * r[0] - j[1] * r[1]) / det;
    dx[1] = (-j[2] * r[0] + j[0] * r[1]) / det;
    return true;
  }
  const c00 = j[4] * j[8] - j[5] * j[7];
  const c01 = j[5] * j[6] - j[3] * j[8];
  const c02 = j[3] * j[7] - j[4] * j[6];
  const det = j[0] * c00 + j[1] * c01 + j[2] * c02;
  if (!(Math.abs(det) > 1e-12)) return false;
  const inv = 1 / det;
  dx[0] = (c00 * r[0] + (j[2] * j[7] - j[1] * j[8]) * r[1] + (j[1] * j[5] - j[2] * j[4]) * r[2]) * inv;
  dx[1] = (c01 * r[0] + (j[0] * j[8] - j[2] * j[6]) * r[1] + (j[2] * j[3] - j[0] * j[5]) * r[2]) * inv;
  dx[2] = (c02 * r[0] + (j[1] * j[6] - j[0] * j[7]) * r[1] + (j[0] * j[4] - j[1] * j[3]) * r[2]) * inv;
  return true;
}

function residualNorm(t: Transform, x: Float64Array, y: Float64Array, tx: Float64Array, r: Float64Array): number {
  t.transformPoint(x, tx);
  return residualOf(tx, y, r);
}

/** r = T(x) − y from tx = T(x), and its norm. */
function residualOf(tx: Float64Array, y: Float64Array, r: Float64Array): number {
  let s = 0;
  for (let c = 0; c < r.length; c++) {
    r[c] = tx[c] - y[c];
    s += r[c] * r[c];
  }
  return Math.sqrt(s);
}

/**
 * x with T(x) = y, starting from x = y. Transforms with a spatial Jacobian (B-splines) use damped Newton steps
 * (a step is halved until the residual |T(x) − y| drops); fields their own fixed-point iteration; others
 * x ← x + (y − T(x)). Returns whether the residual reached `tolerance`. B-splines first try chord steps with the
 * Jacobian left in `s` by the row's last point (one evaluation of T per step instead of T and its Jacobian), and
 * fall back to plain Newton steps when those do not converge. (Starting from the neighbour's solution instead
 * of y was faster still, but it picked other preimages where the map leaves the domain's border doubly covered:
 * residual p99 0.14 → 0.17 mm on the bench's head.)
 */
function solvePoint(t: Transform, y: Float64Array, x: Float64Array, s: SolveScratch, tolerance: number, maxIterations: number): boolean {
  if (t instanceof DisplacementFieldTransform) return t.inverseTransformPoint(y, x, tolerance, maxIterations);
  // (without a neighbour's Jacobian to start from, the first solve is already the plain one)
  const chord = s.jacobianValid && hasSpatialJacobian(t);
  return newtonFrom(t, y, x, s, tolerance, maxIterations, chord) || (chord && newtonFrom(t, y, x, s, tolerance, maxIterations, false));
}

/**
 * solvePoint's damped Newton from x = y. `reuse`: the steps may use the Jacobian in s.j (a neighbour's: chord
 * steps); a step that does not lower the residual with it is taken again with the Jacobian at x.
 */
function newtonFrom(t: Transform, y: Float64Array, x: Float64Array, s: SolveScratch, tolerance: number, maxIterations: number, reuse: boolean): boolean {
  const d = t.dimension;
  for (let c = 0; c < d; c++) x[c] = y[c];
  let res = residualNorm(t, x, y, s.tx, s.r);
  const newton = hasSpatialJacobian(t);
  let stale = newton && reuse;
  for (let it = 0; it < maxIterations && res > tolerance; it++) {
    if (newton && !stale) {
      t.spatialJacobian(x, s.j);
      s.jacobianValid = true;
    }
    if (!newton || !solveSmall(s.j, s.r, s.dx, d)) for (let c = 0; c < d; c++) s.dx[c] = s.r[c];
    let step = 1;
    let improved = false;
    for (let k = 0; k < 12; k++, step /= 2) {
      for (let c = 0; c < d; c++) s.trial[c] = x[c] - step * s.dx[c];
      t.transformPoint(s.trial, s.tx);
      let r2 = 0;
      for (let c = 0; c < d; c++) r2 += (s.tx[c] - y[c]) ** 2;
      if (Math.sqrt(r2) < res) {
        improved = true;
        break;
      }
    }
    if (!improved) {
      if (!stale) break;
      // (the neighbour's Jacobian did not lead down here: the step again with this point's)
      stale = false;
      continue;
    }
    // the accepted trial's T(x) is in s.tx: its residual without evaluating T again (the same numbers)
    for (let c = 0; c < d; c++) x[c] = s.trial[c];
    res = residualOf(s.tx, y, s.r);
  }
  return res <= tolerance;
}

/** The inverse of one non-linear transform as a displacement field on `grid`, with its residual. */
export function invertToField(t: Transform, grid: GridGeometry, opts: ChainInvertOptions = {}): { transform: DisplacementFieldTransform; field: Image; report: NumericInverseReport } {
  const inv = createFieldInversion(t.dimension, grid);
  const tolerance = opts.tolerance ?? 1e-5;
  const maxIterations = opts.maxIterations ?? 100;
  invertFieldSlices(t, inv, 0, inv.field.dimension === 3 ? inv.field.size[2] : 1, tolerance, maxIterations);
  const transform = new DisplacementFieldTransform(inv.field, `inverse of ${t.kind}`);
  checkFieldCells(t, transform, inv, 0, fieldCellSlices(inv));
  return { transform, field: inv.field, report: fieldInversionReport(t.kind, inv) };
}

/**
 * A numeric inversion in progress, as arrays indexed by position (so that slices can be done in any order, by
 * any thread, and reduced in one fixed order): the field, which grid points converged, the residual at each
 * converged grid point and at each checked cell centre (NaN elsewhere).
 */
export interface FieldInversion {
  field: Image;
  ok: Uint8Array;
  pointResidual: Float64Array;
  cellResidual: Float64Array;
}

/** The arrays of a numeric inversion on `grid` (`alloc` may put them on shared memory). */
export function createFieldInversion(
  d: 2 | 3,
  grid: GridGeometry,
  alloc: { f32?: (n: number) => Float32Array; f64?: (n: number) => Float64Array; u8?: (n: number) => Uint8Array } = {},
): FieldInversion {
  const field = createImage(Array.from(grid.size), 'float32', {
    spacing: Array.from(grid.spacing),
    origin: Array.from(grid.origin),
    direction: Array.from(grid.direction),
    components: d,
  });
  if (alloc.f32) field.data = alloc.f32(field.data.length);
  const n = field.data.length / d;
  const [nx, ny] = field.size;
  const cells = Math.max(0, nx - 1) * Math.max(0, ny - 1) * (d === 3 ? Math.max(1, field.size[2] - 1) : 1);
  const f64 = alloc.f64 ?? ((k: number) => new Float64Array(k));
  return { field, ok: alloc.u8 ? alloc.u8(n) : new Uint8Array(n), pointResidual: f64(n), cellResidual: f64(cells) };
}

/** Slices of cells checked by checkFieldCells (2D: one). */
export function fieldCellSlices(inv: FieldInversion): number {
  return inv.field.dimension === 3 ? Math.max(1, inv.field.size[2] - 1) : 1;
}

/** Solves the grid points of slices [k0, k1) (2D: k = 0): field, ok and pointResidual there. */
export function invertFieldSlices(t: Transform, inv: FieldInversion, k0: number, k1: number, tolerance: number, maxIterations: number): void {
  const { field, ok, pointResidual } = inv;
  const d = t.dimension;
  const data = field.data as Float32Array;
  const m = indexToPhysicalMatrix(field);
  const [nx, ny] = field.size;
  const y = new Float64Array(d);
  const x = new Float64Array(d);
  const scratch = makeScratch(d);
  const tx = scratch.tx;
  for (let k = k0; k < k1; k++) {
    let p = nx * ny * k;
    for (let j = 0; j < ny; j++) {
      // (a row's chord steps start with its own points' Jacobians: rows are never split between calls, so the
      // solutions do not depend on how slices are shared out)
      scratch.jacobianValid = false;
      for (let i = 0; i < nx; i++, p++) {
        for (let r = 0; r < d; r++) y[r] = field.origin[r] + m[r * d] * i + m[r * d + 1] * j + (d === 3 ? m[r * d + 2] * k : 0);
        const converged = solvePoint(t, y, x, scratch, tolerance, maxIterations);
        ok[p] = converged ? 1 : 0;
        for (let c = 0; c < d; c++) {
          const v = Math.fround(x[c] - y[c]);
          data[p * d + c] = Number.isFinite(v) ? v : 0;
          x[c] = y[c] + data[p * d + c];
        }
        // Residual of what is stored (float32), at the grid point.
        t.transformPoint(x, tx);
        let r2 = 0;
        for (let c = 0; c < d; c++) r2 += (tx[c] - y[c]) ** 2;
        pointResidual[p] = converged ? Math.sqrt(r2) : NaN;
      }
    }
  }
}

/**
 * Between grid points the stored inverse is interpolated linearly: the residual at the cell centres of cell
 * slices [k0, k1) (see fieldCellSlices), through `inverse` (the field made of the solved points), so that the
 * reported residual is what a user of the field gets. Cells with a corner without preimage are left out (NaN).
 */
export function checkFieldCells(t: Transform, inverse: DisplacementFieldTransform, inv: FieldInversion, k0: number, k1: number): void {
  const { field, ok, cellResidual } = inv;
  const d = t.dimension;
  const m = indexToPhysicalMatrix(field);
  const [nx, ny] = field.size;
  const y = new Float64Array(d);
  const x = new Float64Array(d);
  const tx = new Float64Array(d);
  const sx = 1;
  const sy = nx;
  const sz = nx * ny;
  for (let k = k0; k < k1; k++) {
    let q = (nx - 1) * (ny - 1) * k;
    for (let j = 0; j < ny - 1; j++) {
      for (let i = 0; i < nx - 1; i++, q++) {
        cellResidual[q] = NaN;
        const base = i + nx * j + sz * k;
        let corners = ok[base] & ok[base + sx] & ok[base + sy] & ok[base + sx + sy];
        if (d === 3) corners &= ok[base + sz] & ok[base + sz + sx] & ok[base + sz + sy] & ok[base + sz + sx + sy];
        if (!corners) continue;
        const kk = d === 3 ? k + 0.5 : 0;
        for (let r = 0; r < d; r++) y[r] = field.origin[r] + m[r * d] * (i + 0.5) + m[r * d + 1] * (j + 0.5) + (d === 3 ? m[r * d + 2] * kk : 0);
        inverse.transformPoint(y, x);
        t.transformPoint(x, tx);
        let r2 = 0;
        for (let c = 0; c < d; c++) r2 += (tx[c] - y[c]) ** 2;
        cellResidual[q] = Math.sqrt(r2);
      }
    }
  }
}

/** The report of a finished inversion: its residuals reduced in one order (grid points, then cells). */
export function fieldInversionReport(name: string, inv: FieldInversion): NumericInverseReport {
  const n = inv.pointResidual.length;
  // (rounded to float32, as the report has always taken its percentile of them)
  const residuals = new Float64Array(n + inv.cellResidual.length);
  let unconverged = 0;
  let maxResidual = 0;
  let sumResidual = 0;
  let count = 0;
  for (let p = 0; p < n; p++) if (!inv.ok[p]) unconverged++;
  for (const list of [inv.pointResidual, inv.cellResidual]) {
    for (let q = 0; q < list.length; q++) {
      const r = list[q];
      if (r !== r) continue;
      if (r > maxResidual) maxResidual = r;
      sumResidual += r;
      residuals[count++] = Math.fround(r);
    }
  }
  // the value a sort would put at the 99th percentile's rank, found without sorting (~2 M values: 0.17 s sorted)
  const rank = Math.min(count - 1, Math.floor(0.99 * count));
  if (count) selectRank(residuals, rank, 0, count - 1);
  const p99Residual = count ? residuals[rank] : 0;
  return { name, size: inv.field.size.slice(), maxResidual, meanResidual: sumResidual / Math.max(1, count), p99Residual, unconverged };
}

/** One line describing a numeric inverse, for logs. */
export function describeNumericInverse(r: NumericInverseReport): string {
  return `inverse of the ${r.name} transform: a displacement field on a ${r.size.join('×')} grid, residual |T(T⁻¹(y)) − y| at its points and cell centres: max ${r.maxResidual.toPrecision(3)} mm, 99th percentile ${r.p99Residual.toPrecision(3)} mm, mean ${r.meanResidual.toPrecision(3)} mm${r.unconverged ? `; ${r.unconverged} of ${r.size.reduce((a, b) => a * b, 1)} points have no preimage (the forward map leaves a gap there, e.g. at the B-spline domain's border): their closest estimate is kept` : ''}`;
}
