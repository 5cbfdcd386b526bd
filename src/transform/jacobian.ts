/** The Jacobian determinant of any transform chain on a grid (central differences in physical space), summarised. */
import { CoregError } from '../errors.js';
import { createImage, indexToPhysicalMatrix, type GridLike, type Image } from '../image/image.js';
import { transformChainPoint } from './chain.js';
import { determinant } from '../image/linalg.js';
import { composeLinear } from './linear.js';
import { isLinear, type LinearTransform, type Transform } from './transform.js';
import { BSplineTransform } from './bspline.js';

export interface JacobianSummary {
  min: number;
  max: number;
  mean: number;
  /** Points with det ≤ 0 (the transform folds or flips there). */
  foldedCount: number;
  foldedPercent: number;
  /** Number of grid points evaluated. */
  points: number;
}

/** Statistics of a determinant map (non-finite values are counted as folded and excluded from min/max/mean). */
export function summarizeJacobian(det: ArrayLike<number>): JacobianSummary {
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  let finite = 0;
  let folded = 0;
  for (let i = 0; i < det.length; i++) {
    const v = det[i];
    if (!(v > 0)) folded++;
    if (!Number.isFinite(v)) continue;
    finite++;
    sum += v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return {
    min: finite ? min : 0,
    max: finite ? max : 0,
    mean: finite ? sum / finite : 0,
    foldedCount: folded,
    foldedPercent: det.length ? (100 * folded) / det.length : 0,
    points: det.length,
  };
}

/**
 * det(∂T/∂x) of the chain T (first-first) at every point of `grid`, as a float32 image on that grid. A linear
 * chain gives its constant determinant exactly, a B-spline between linear maps its analytic one; otherwise ∂T/∂x
 * comes from central differences of T along the
 * grid axes (one-sided on the grid's border), converted to physical space: det(∂T/∂x) = det(∂T/∂i)·det(∂i/∂x).
 * For one displacement field this is det(I + ∂u/∂x).
 */
export function jacobianDeterminantImage(chain: readonly Transform[], grid: GridLike): Image<Float32Array> {
  const out = createImage(grid.size, 'float32', { spacing: grid.spacing, origin: grid.origin, direction: grid.direction }) as Image<Float32Array>;
  const constant = linearJacobianDeterminant(chain, grid);
  if (constant !== null) out.data.fill(constant);
  else jacobianRows(chain, grid, out.data)(0, jacobianRowCount(grid));
  return out;
}

/** The constant determinant of an all-linear chain (after the dimension check), or null when it is non-linear. */
export function linearJacobianDeterminant(chain: readonly Transform[], grid: GridLike): number | null {
  const d = grid.dimension;
  for (const t of chain) {
    if (t.dimension !== d) throw new CoregError('--transform', `transform '${t.kind}' is ${t.dimension}D but the reference image is ${d}D`);
  }
  if (!chain.every(isLinear)) return null;
  return chain.length === 0 ? 1 : determinant(composeLinear(chain as LinearTransform[]).matrix(), d);
}

/** Rows of `grid` (a row = one line along x: ny rows in 2D, ny·nz in 3D). */
export function jacobianRowCount(grid: GridLike): number {
  return grid.size[1] * (grid.dimension === 3 ? grid.size[2] : 1);
}

/**
 * jacobianDeterminantImage's work for a non-linear chain, by rows: the returned function fills `det` (the grid's
 * voxels, x fastest) for rows [r0, r1). Each voxel is computed by the same code whatever the rows' split (so the
 * map can be cut into blocks for threads and stay bit-identical); scratch is allocated once per call here.
 */
export function jacobianRows(chain: readonly Transform[], grid: GridLike, det: Float32Array): (r0: number, r1: number) => void {
  const nonLinear = chain.filter((t) => !isLinear(t));
  if (nonLinear.length === 1 && nonLinear[0] instanceof BSplineTransform) return bsplineChainJacobian(chain, nonLinear[0], grid, det);
  return grid.dimension === 2 ? jacobianRows2d(chain, grid, det) : jacobianRows3d(chain, grid, det);
}

/**
 * A chain of linear maps around one B-spline, T = Lpost ∘ B ∘ Lpre (register's affine,bspline result is [B, A]):
 * det ∂T/∂x = det(Lpost)·det(∂B/∂y at y = Lpre(x))·det(Lpre), with ∂B/∂y the B-spline's analytic spatial Jacobian
 * (one evaluation of its 4^d support per voxel instead of 2d chain evaluations; exact, not a difference quotient).
 */
function bsplineChainJacobian(chain: readonly Transform[], bs: BSplineTransform, grid: GridLike, det: Float32Array): (r0: number, r1: number) => void {
  const d = grid.dimension;
  const at = chain.indexOf(bs);
  const pre = chain.slice(0, at) as LinearTransform[];
  const post = chain.slice(at + 1) as LinearTransform[];
  const preMap = pre.length ? composeLinear(pre) : null;
  const scale = (pre.length ? determinant(composeLinear(pre).matrix(), d) : 1) * (post.length ? determinant(composeLinear(post).matrix(), d) : 1);
  const m = indexToPhysicalMatrix(grid);
  const o = grid.origin;
  const nx = grid.size[0];
  const ny = grid.size[1];
  const p = new Float64Array(d);
  const y = new Float64Array(d);
  return (r0, r1) => {
    for (let row = r0; row < r1; row++) {
      const j = row % ny;
      const k = (row - j) / ny;
      for (let i = 0, v = row * nx; i < nx; i++, v++) {
        for (let r = 0; r < d; r++) p[r] = o[r] + m[r * d] * i + m[r * d + 1] * j + (d === 3 ? m[r * d + 2] * k : 0);
        if (preMap) preMap.transformPoint(p, y);
        det[v] = scale * bs.jacobianDeterminant(preMap ? y : p);
      }
    }
  };
}

function jacobianRows2d(chain: readonly Transform[], grid: GridLike, det: Float32Array): (r0: number, r1: number) => void {
  const m = indexToPhysicalMatrix(grid);
  const detIndexToPhysical = determinant(m, 2);
  const o = grid.origin;
  const nx = grid.size[0];
  const ny = grid.size[1];
  const p = new Float64Array(2);
  const tp = new Float64Array(2);
  const tm = new Float64Array(2);
  const scratch = new Float64Array(2);
  const jac = new Float64Array(4);
  return (r0, r1) => {
    for (let j = r0; j < r1; j++) {
      for (let i = 0; i < nx; i++) {
        // Column a of ∂T/∂i: (T(i + e_a) − T(i − e_a)) / (2 or 1 on the border).
        for (let a = 0; a < 2; a++) {
          const lo = a === 0 ? (i > 0 ? i - 1 : i) : j > 0 ? j - 1 : j;
          const hi = a === 0 ? (i < nx - 1 ? i + 1 : i) : j < ny - 1 ? j + 1 : j;
          const span = hi - lo;
          if (span === 0) {
            // A single pixel along this axis: no derivative available; treat as identity along it.
            jac[a] = m[a];
            jac[2 + a] = m[2 + a];
            continue;
          }
          const ia = a === 0 ? hi : i;
          const ja = a === 1 ? hi : j;
          p[0] = o[0] + m[0] * ia + m[1] * ja;
          p[1] = o[1] + m[2] * ia + m[3] * ja;
          transformChainPoint(chain, p, tp, scratch);
          const ib = a === 0 ? lo : i;
          const jb = a === 1 ? lo : j;
          p[0] = o[0] + m[0] * ib + m[1] * jb;
          p[1] = o[1] + m[2] * ib + m[3] * jb;
          transformChainPoint(chain, p, tm, scratch);
          jac[a] = (tp[0] - tm[0]) / span;
          jac[2 + a] = (tp[1] - tm[1]) / span;
        }
        det[i + nx * j] = (jac[0] * jac[3] - jac[1] * jac[2]) / detIndexToPhysical;
      }
    }
  };
}

function jacobianRows3d(chain: readonly Transform[], grid: GridLike, det: Float32Array): (r0: number, r1: number) => void {
  const m = indexToPhysicalMatrix(grid);
  const detIndexToPhysical = determinant(m, 3);
  const o = grid.origin;
  const nx = grid.size[0];
  const ny = grid.size[1];
  const nz = grid.size[2];
  const p = new Float64Array(3);
  const tp = new Float64Array(3);
  const tm = new Float64Array(3);
  const scratch = new Float64Array(3);
  const jac = new Float64Array(9);
  const idx = new Float64Array(3);
  const hiIdx = new Float64Array(3);
  const loIdx = new Float64Array(3);
  return (r0, r1) => {
    for (let row = r0; row < r1; row++) {
      const j = row % ny;
      const k = (row - j) / ny;
      for (let i = 0; i < nx; i++) {
        idx[0] = i;
        idx[1] = j;
        idx[2] = k;
        for (let a = 0; a < 3; a++) {
          const n = a === 0 ? nx : a === 1 ? ny : nz;
          const at = idx[a];
          const lo = at > 0 ? at - 1 : at;
          const hi = at < n - 1 ? at + 1 : at;
          const span = hi - lo;
          if (span === 0) {
            jac[a] = m[a];
            jac[3 + a] = m[3 + a];
            jac[6 + a] = m[6 + a];
            continue;
          }
          hiIdx[0] = i;
          hiIdx[1] = j;
          hiIdx[2] = k;
          loIdx[0] = i;
          loIdx[1] = j;
          loIdx[2] = k;
          hiIdx[a] = hi;
          loIdx[a] = lo;
          for (let r = 0; r < 3; r++) p[r] = o[r] + m[r * 3] * hiIdx[0] + m[r * 3 + 1] * hiIdx[1] + m[r * 3 + 2] * hiIdx[2];
          transformChainPoint(chain, p, tp, scratch);
          for (let r = 0; r < 3; r++) p[r] = o[r] + m[r * 3] * loIdx[0] + m[r * 3 + 1] * loIdx[1] + m[r * 3 + 2] * loIdx[2];
          transformChainPoint(chain, p, tm, scratch);
          for (let r = 0; r < 3; r++) jac[r * 3 + a] = (tp[r] - tm[r]) / span;
        }
        const dj =
          jac[0] * (jac[4] * jac[8] - jac[5] * jac[7]) - jac[1] * (jac[3] * jac[8] - jac[5] * jac[6]) + jac[2] * (jac[3] * jac[7] - jac[4] * jac[6]);
        det[i + nx * (j + ny * k)] = dj / detIndexToPhysical;
      }
    }
  };
}
