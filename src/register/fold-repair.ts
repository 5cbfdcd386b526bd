/** Fold checking and local repair of a B-spline stage's levels. */
import type { Image } from '../image/image.js';
import type { BSplineTransform } from '../transform/bspline.js';

/**
 * Where folding is checked: the centres of every `stride`-th voxel of the full-resolution fixed image (LPS mm).
 * The same points at every level, so a level's start (checked at the level before; refinement is exact) never
 * folds there. A lattice, not a list: the points are generated as they are checked (a list of every second voxel
 * of a 512×512×300 CT held 236 MB).
 */
export interface FoldCheckGrid {
  dimension: 2 | 3;
  /** Points along each axis. */
  counts: number[];
  /** Number of points. */
  count: number;
  /** The first point (the fixed origin) and the step along each lattice axis: column c of a d×d row-major matrix. */
  origin: Float64Array;
  step: Float64Array;
}

export function foldCheckPoints(fixed: Image, stride = 2): FoldCheckGrid {
  const d = fixed.dimension;
  const counts = fixed.size.map((n) => Math.ceil(n / stride));
  const step = new Float64Array(d * d);
  for (let r = 0; r < d; r++) for (let c = 0; c < d; c++) step[r * d + c] = fixed.direction[r * d + c] * fixed.spacing[c] * stride;
  return { dimension: d, counts, count: counts.reduce((a, b) => a * b, 1), origin: Float64Array.from(fixed.origin), step };
}

/** Writes lattice point `n` of `g` into `out`. */
export function foldCheckPoint(g: FoldCheckGrid, n: number, out: Float64Array): void {
  const d = g.dimension;
  const i = n % g.counts[0];
  const rest = Math.floor(n / g.counts[0]);
  const j = rest % g.counts[1];
  const k = d === 3 ? Math.floor(rest / g.counts[1]) : 0;
  for (let r = 0; r < d; r++) out[r] = g.origin[r] + g.step[r * d] * i + g.step[r * d + 1] * j + (d === 3 ? g.step[r * d + 2] * k : 0);
}

/**
 * Undoes folding where it is: while some check point folds (Jacobian determinant ≤ 0), the update (after − before)
 * of the 4^d control points supporting each folded point is halved, and after a few halvings dropped there
 * (those points return to `before`, which did not fold). Only the control points around folds change; the rest
 * of the level's work stays. `pulledBack` counts the control points touched; `repaired` is false only if folds
 * remain after every round (not expected: the support of a point fully returned to `before` cannot fold).
 */
export function repairFolding(bs: BSplineTransform, before: Float64Array, after: Float64Array, pts: FoldCheckGrid): { repaired: boolean; pulledBack: number } {
  const d = bs.dimension;
  const nC = bs.numberOfControlPoints;
  const [nx, nxy] = bs.gridStrides;
  const params = Float64Array.from(after);
  const share = new Float64Array(nC).fill(1);
  const lo = new Int32Array(d);
  const p = new Float64Array(d);
  const HALVINGS = 6;
  const ROUNDS = 40;
  let touched = 0;
  for (let round = 0; round <= ROUNDS; round++) {
    bs.setParameters(params);
    let folded = 0;
    const hit = new Set<number>();
    for (let i = 0; i < pts.count; i++) {
      foldCheckPoint(pts, i, p);
      if (bs.jacobianDeterminant(p) > 0) continue;
      folded++;
      // The 4^d control points around the point's continuous grid index u (cubic support: ⌊u⌋−1 … ⌊u⌋+2),
      // clamped to the grid: the folded points may lie outside the image but never outside the grid.
      // u = diag(1/spacing)·D⁻¹·(p − gridOrigin), the transform's own physical → grid-index map (D⁻¹, not Dᵀ:
      // the two differ for a grid direction that is not orthonormal).
      for (let a = 0; a < d; a++) {
        let u = 0;
        for (let r = 0; r < d; r++) u += bs.toGrid[a * d + r] * (p[r] - bs.gridOrigin[r]);
        lo[a] = Math.floor(u) - 1;
      }
      const zEnd = d === 3 ? 4 : 1;
      for (let kz = 0; kz < zEnd; kz++) {
        const iz = d === 3 ? Math.min(bs.gridSize[2] - 1, Math.max(0, lo[2] + kz)) : 0;
        for (let ky = 0; ky < 4; ky++) {
          const iy = Math.min(bs.gridSize[1] - 1, Math.max(0, lo[1] + ky));
          for (let kx = 0; kx < 4; kx++) hit.add(iz * nxy + iy * nx + Math.min(bs.gridSize[0] - 1, Math.max(0, lo[0] + kx)));
        }
      }
    }
    if (folded === 0) return { repaired: true, pulledBack: touched };
    if (round === ROUNDS) break;
    let changed = false;
    for (const c of hit) {
      if (share[c] === 0) continue;
      if (share[c] === 1) touched++;
      share[c] = share[c] > 2 ** -HALVINGS ? share[c] * 0.5 : 0;
      changed = true;
      for (let a = 0; a < d; a++) params[a * nC + c] = before[a * nC + c] + share[c] * (after[a * nC + c] - before[a * nC + c]);
    }
    if (!changed) break;
  }
  return { repaired: false, pulledBack: touched };
}
