/** Fold checking and local repair of a B-spline stage's levels. */
import type { Image } from '../image/image.js';
import type { BSplineTransform } from '../transform/bspline.js';
import { cubicFirstDerivatives, cubicWeights, EDGE_TOLERANCE } from '../transform/bspline-kernels.js';

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
 * Which B-spline cells cannot fold: safe[s] = 1 when no point whose support starts at control point s (x fastest
 * over the (n_a − 3) possible starts per axis) can have det(I + ∂u/∂x) ≤ 0. Along grid axis i, ∂u/∂g_i is a
 * convex combination (quadratic B-spline weights) of the differences c_{k+e_i} − c_k inside the support, so its
 * norm is at most their largest norm L_i; then ‖∂u/∂x‖₂ ≤ ‖∂u/∂g‖_F ‖toGrid‖₂ ≤ √(Σ L_i²) · √(‖toGrid‖₁‖toGrid‖∞),
 * and a bound below 1 keeps every eigenvalue of I + ∂u/∂x off zero (det > 0; below 0.99 it is ≥ 1e-6, far above
 * rounding). Cells above the bound are checked point by point. Returns the number of unsafe cells.
 */
export function safeCells(bs: BSplineTransform, params: ArrayLike<number>, safe: Uint8Array): number {
  const d = bs.dimension;
  const nC = bs.numberOfControlPoints;
  const [nx, nxy] = bs.gridStrides;
  const n = bs.gridSize;
  const m = bs.toGrid;
  // ‖toGrid‖₂ ≤ √(‖toGrid‖₁ ‖toGrid‖∞) (max column sum, max row sum)
  let n1 = 0;
  let nInf = 0;
  for (let r = 0; r < d; r++) {
    let row = 0;
    let col = 0;
    for (let c = 0; c < d; c++) {
      row += Math.abs(m[r * d + c]);
      col += Math.abs(m[c * d + r]);
    }
    nInf = Math.max(nInf, row);
    n1 = Math.max(n1, col);
  }
  const limit = 0.99 / Math.sqrt(n1 * nInf);
  const limit2 = limit * limit;
  // per control point and axis: |c_{k+e_i} − c_k|² (0 at the last point along the axis, never read there)
  const diff = new Float64Array(d * nC);
  const strides = [1, nx, nxy];
  for (let i = 0; i < d; i++) {
    const st = strides[i];
    for (let k = 0; k < nC; k++) {
      const along = i === 0 ? k % nx : i === 1 ? Math.floor(k / nx) % n[1] : Math.floor(k / nxy);
      if (along >= n[i] - 1) continue;
      let s2 = 0;
      for (let a = 0; a < d; a++) {
        const v = params[a * nC + k + st] - params[a * nC + k];
        s2 += v * v;
      }
      diff[i * nC + k] = s2;
    }
  }
  const sx = n[0] - 3;
  const sy = n[1] - 3;
  const sz = d === 3 ? n[2] - 3 : 1;
  let unsafe = 0;
  for (let z = 0; z < sz; z++) {
    for (let y = 0; y < sy; y++) {
      for (let x = 0; x < sx; x++) {
        const s0 = x + y * nx + z * nxy;
        let total = 0;
        for (let i = 0; i < d; i++) {
          let largest = 0;
          const ex = i === 0 ? 3 : 4;
          const ey = i === 1 ? 3 : 4;
          const ez = d === 3 ? (i === 2 ? 3 : 4) : 1;
          const o = i * nC + s0;
          for (let kz = 0; kz < ez; kz++) {
            for (let ky = 0; ky < ey; ky++) {
              const r = o + kz * nxy + ky * nx;
              for (let kx = 0; kx < ex; kx++) if (diff[r + kx] > largest) largest = diff[r + kx];
            }
          }
          total += largest;
        }
        const ok = total < limit2;
        safe[x + sx * (y + sy * z)] = ok ? 1 : 0;
        if (!ok) unsafe++;
      }
    }
  }
  return unsafe;
}

/**
 * Whether lattice point `p` may fold: false when it lies in a safe cell (see safeCells) or outside the domain
 * (det 1 there); otherwise its exact determinant decides. The cell is found as BSplineTransform.locate finds the
 * support (the same arithmetic).
 */
function folds(bs: BSplineTransform, p: Float64Array, safe: Uint8Array): boolean {
  const m = bs.toGrid;
  const o = bs.gridOrigin;
  const n = bs.gridSize;
  if (bs.dimension === 2) {
    const x = p[0] - o[0];
    const y = p[1] - o[1];
    const g0 = m[0] * x + m[1] * y;
    const g1 = m[2] * x + m[3] * y;
    if (g0 >= 1 && g0 <= n[0] - 2 && g1 >= 1 && g1 <= n[1] - 2) {
      const s0 = Math.min(n[0] - 4, Math.floor(g0) - 1);
      const s1 = Math.min(n[1] - 4, Math.floor(g1) - 1);
      if (safe[s0 + (n[0] - 3) * s1]) return false;
    }
  } else {
    const x = p[0] - o[0];
    const y = p[1] - o[1];
    const z = p[2] - o[2];
    const g0 = m[0] * x + m[1] * y + m[2] * z;
    const g1 = m[3] * x + m[4] * y + m[5] * z;
    const g2 = m[6] * x + m[7] * y + m[8] * z;
    if (g0 >= 1 && g0 <= n[0] - 2 && g1 >= 1 && g1 <= n[1] - 2 && g2 >= 1 && g2 <= n[2] - 2) {
      const s0 = Math.min(n[0] - 4, Math.floor(g0) - 1);
      const s1 = Math.min(n[1] - 4, Math.floor(g1) - 1);
      const s2 = Math.min(n[2] - 4, Math.floor(g2) - 1);
      if (safe[s0 + (n[0] - 3) * (s1 + (n[1] - 3) * s2)]) return false;
    }
  }
  return !(bs.jacobianDeterminant(p) > 0);
}

/**
 * flags[i] = 1 when lattice point i of `pts` folds (see folds; `safe` from safeCells at bs's parameters), else 0,
 * for i in [from, to); returns how many fold. `p`: scratch of d numbers.
 */
export function foldFlags(bs: BSplineTransform, pts: FoldCheckGrid, safe: Uint8Array, from: number, to: number, flags: Uint8Array, p: Float64Array): number {
  let folded = 0;
  for (let i = from; i < to; i++) {
    foldCheckPoint(pts, i, p);
    const f = folds(bs, p, safe);
    flags[i] = f ? 1 : 0;
    if (f) folded++;
  }
  return folded;
}

/**
 * Where the lattice's indices along one axis fall on the B-spline grid, when each grid coordinate depends on one
 * lattice index only (3D, grid and lattice maps both diagonal): per index, the support start as BSplineTransform
 * locates it (−1 outside the domain: no fold there) with its cubic weights and their derivatives (4 each), and
 * the cell that folds() looks up in the safe table (−1 outside: never safe).
 */
interface AxisTable {
  start: Int32Array;
  cell: Int32Array;
  w: Float64Array;
  dw: Float64Array;
}

/**
 * What the separable checks need for one B-spline geometry and lattice (the tables, and scratch for the contracted
 * coefficients), or null when the check goes point by point (2D, or maps with off-diagonal terms: oblique grids).
 */
export interface FoldScratch {
  axes: AxisTable[];
  z0: Float64Array;
  z1: Float64Array;
  a: Float64Array;
  b: Float64Array;
  c: Float64Array;
}

/** Whether foldFlagsSlices contracts axis by axis for this geometry (3D, grid and lattice maps both diagonal). */
export function foldCheckSeparable(bs: BSplineTransform, pts: FoldCheckGrid): boolean {
  if (bs.dimension !== 3 || pts.dimension !== 3) return false;
  const m = bs.toGrid;
  for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) if (r !== c && (m[r * 3 + c] !== 0 || pts.step[r * 3 + c] !== 0)) return false;
  return true;
}

export function foldScratch(bs: BSplineTransform, pts: FoldCheckGrid): FoldScratch | null {
  if (!foldCheckSeparable(bs, pts)) return null;
  const m = bs.toGrid;
  const axes: AxisTable[] = [];
  for (let a = 0; a < 3; a++) {
    const n = bs.gridSize[a];
    const count = pts.counts[a];
    const t: AxisTable = { start: new Int32Array(count), cell: new Int32Array(count), w: new Float64Array(4 * count), dw: new Float64Array(4 * count) };
    for (let i = 0; i < count; i++) {
      // the point's coordinate and grid index as foldCheckPoint and folds()/locate compute them (the other axes'
      // terms are exact zeros)
      const g = m[a * 4] * (pts.origin[a] + pts.step[a * 4] * i - bs.gridOrigin[a]);
      t.cell[i] = g >= 1 && g <= n - 2 ? Math.min(n - 4, Math.floor(g) - 1) : -1;
      if (!(g >= 1 - EDGE_TOLERANCE && g <= n - 2 + EDGE_TOLERANCE)) {
        t.start[i] = -1;
        continue;
      }
      let st = Math.floor(g) - 1;
      if (st < 0) st = 0;
      else if (st > n - 4) st = n - 4;
      t.start[i] = st;
      cubicWeights(g - st - 1, t.w, 4 * i);
      cubicFirstDerivatives(g - st - 1, t.dw, 4 * i);
    }
    axes.push(t);
  }
  const [nx, ny] = bs.gridSize;
  return { axes, z0: new Float64Array(3 * nx * ny), z1: new Float64Array(3 * nx * ny), a: new Float64Array(3 * nx), b: new Float64Array(3 * nx), c: new Float64Array(3 * nx) };
}

/**
 * foldFlags for the lattice's slices [k0, k1) along its last axis (rows in 2D). With `scratch` (foldScratch) the
 * Jacobian is contracted axis by axis — the slice's z weights once per slice, the row's y weights once per row, then
 * 3 × 4 terms per point instead of 64 — a few times faster; its sums run in another order than the point-by-point
 * determinant's, so a determinant within rounding of 0 may get the other verdict (both are exact to rounding).
 */
export function foldFlagsSlices(bs: BSplineTransform, pts: FoldCheckGrid, safe: Uint8Array, k0: number, k1: number, flags: Uint8Array, scratch: FoldScratch | null, p: Float64Array): number {
  const per = pts.dimension === 3 ? pts.counts[0] * pts.counts[1] : pts.counts[0];
  if (!scratch) return foldFlags(bs, pts, safe, k0 * per, Math.min(pts.count, k1 * per), flags, p);
  const [tx, ty, tz] = scratch.axes;
  const { z0, z1, a: A, b: B, c: C } = scratch;
  const [cx, cy] = pts.counts;
  const [nx, ny] = bs.gridSize;
  const nxy = nx * ny;
  const nc = bs.numberOfControlPoints;
  const q = bs.parameters;
  const m = bs.toGrid;
  const m0 = m[0];
  const m1 = m[4];
  const m2 = m[8];
  const sx3 = nx - 3;
  const sy3 = ny - 3;
  let folded = 0;
  for (let k = k0; k < k1; k++) {
    const base = k * per;
    const sz = tz.start[k];
    if (sz < 0) {
      flags.fill(0, base, base + per);
      continue;
    }
    const cz = tz.cell[k];
    let slice = false;
    for (let j = 0; j < cy; j++) {
      const row = base + j * cx;
      const sy = ty.start[j];
      if (sy < 0) {
        flags.fill(0, row, row + cx);
        continue;
      }
      const cyy = ty.cell[j];
      let rowDone = false;
      for (let i = 0; i < cx; i++) {
        const sx = tx.start[i];
        const cxx = tx.cell[i];
        if (sx < 0 || (cxx >= 0 && cyy >= 0 && cz >= 0 && safe[cxx + sx3 * (cyy + sy3 * cz)] === 1)) {
          flags[row + i] = 0;
          continue;
        }
        if (!slice) {
          // Z0 = Σ_kz wz c, Z1 = Σ_kz wz' c over the slice's four control planes, for every control row
          slice = true;
          for (let a = 0; a < 3; a++) {
            for (let e = 0; e < nxy; e++) {
              let s0 = 0;
              let s1 = 0;
              for (let kz = 0; kz < 4; kz++) {
                const v = q[a * nc + (sz + kz) * nxy + e];
                s0 += tz.w[4 * k + kz] * v;
                s1 += tz.dw[4 * k + kz] * v;
              }
              z0[a * nxy + e] = s0;
              z1[a * nxy + e] = s1;
            }
          }
        }
        if (!rowDone) {
          // A = Σ_ky wy Z0, B = Σ_ky wy' Z0, C = Σ_ky wy Z1 along the row's four control rows
          rowDone = true;
          for (let a = 0; a < 3; a++) {
            for (let x = 0; x < nx; x++) {
              let sa = 0;
              let sb = 0;
              let sc = 0;
              for (let ky = 0; ky < 4; ky++) {
                const e = a * nxy + (sy + ky) * nx + x;
                const wy = ty.w[4 * j + ky];
                sa += wy * z0[e];
                sb += ty.dw[4 * j + ky] * z0[e];
                sc += wy * z1[e];
              }
              A[a * nx + x] = sa;
              B[a * nx + x] = sb;
              C[a * nx + x] = sc;
            }
          }
        }
        // ∂u_a/∂g along x, y, z, then det(I + ∂u/∂g · toGrid) with a diagonal toGrid
        let j00 = 1;
        let j01 = 0;
        let j02 = 0;
        let j10 = 0;
        let j11 = 1;
        let j12 = 0;
        let j20 = 0;
        let j21 = 0;
        let j22 = 1;
        for (let a = 0; a < 3; a++) {
          let gx = 0;
          let gy = 0;
          let gz = 0;
          for (let kx = 0; kx < 4; kx++) {
            const e = a * nx + sx + kx;
            const wx = tx.w[4 * i + kx];
            gx += tx.dw[4 * i + kx] * A[e];
            gy += wx * B[e];
            gz += wx * C[e];
          }
          if (a === 0) {
            j00 += gx * m0;
            j01 += gy * m1;
            j02 += gz * m2;
          } else if (a === 1) {
            j10 += gx * m0;
            j11 += gy * m1;
            j12 += gz * m2;
          } else {
            j20 += gx * m0;
            j21 += gy * m1;
            j22 += gz * m2;
          }
        }
        const det = j00 * (j11 * j22 - j12 * j21) - j01 * (j10 * j22 - j12 * j20) + j02 * (j10 * j21 - j11 * j20);
        const f = !(det > 0);
        flags[row + i] = f ? 1 : 0;
        if (f) folded++;
      }
    }
  }
  return folded;
}

/** Slices of foldFlagsSlices in the lattice (along its last axis). */
export function foldSlices(pts: FoldCheckGrid): number {
  return pts.dimension === 3 ? pts.counts[2] : pts.counts[1];
}

/** Cells of safeCells' table for `bs` (the possible support starts). */
export function safeCellCount(bs: BSplineTransform): number {
  return (bs.gridSize[0] - 3) * (bs.gridSize[1] - 3) * (bs.dimension === 3 ? bs.gridSize[2] - 3 : 1);
}

/**
 * The exact point checks of a repair round done elsewhere (e.g. split over a team's threads, parallel-fold.ts):
 * safeCells writes into `safe`; check(params) then sets flags (as foldFlags) for every lattice point at those
 * parameters.
 */
export interface FoldChecker {
  safe: Uint8Array;
  flags: Uint8Array;
  check(params: Float64Array): void;
}

/** The point checks in this thread (bs holds the round's parameters when check() runs). */
function serialChecker(bs: BSplineTransform, pts: FoldCheckGrid, safe: Uint8Array): FoldChecker {
  const flags = new Uint8Array(pts.count);
  const scratch = foldScratch(bs, pts);
  const p = new Float64Array(pts.dimension);
  return { safe, flags, check: () => void foldFlagsSlices(bs, pts, safe, 0, foldSlices(pts), flags, scratch, p) };
}

/**
 * Undoes folding where it is: while some check point folds (Jacobian determinant ≤ 0), the update (after − before)
 * of the 4^d control points supporting each folded point is halved, and after a few halvings dropped there
 * (those points return to `before`, which did not fold). Only the control points around folds change; the rest
 * of the level's work stays. `pulledBack` counts the control points touched; `repaired` is false only if folds
 * remain after every round (not expected: the support of a point fully returned to `before` cannot fold).
 * `checker`: the point checks made by it (the same folded points, so the same result), else here.
 */
export function repairFolding(bs: BSplineTransform, before: Float64Array, after: Float64Array, pts: FoldCheckGrid, checker?: FoldChecker): { repaired: boolean; pulledBack: number } {
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
  const safe = checker?.safe ?? new Uint8Array(safeCellCount(bs));
  let check = checker;
  for (let round = 0; round <= ROUNDS; round++) {
    bs.setParameters(params);
    let folded = 0;
    const hit = new Set<number>();
    // only the points of cells that might fold are checked exactly (the same folded points as checking all)
    const unsafe = safeCells(bs, params, safe);
    if (unsafe > 0) (check ??= serialChecker(bs, pts, safe)).check(params);
    for (let i = 0; i < pts.count && unsafe > 0; i++) {
      if (check!.flags[i] === 0) continue;
      foldCheckPoint(pts, i, p);
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
