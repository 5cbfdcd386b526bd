/** Fold checking and local repair of a B-spline stage's levels. */
import type { Image } from '../image/image.js';
import { BSplineTransform, type BSplineGridSpec } from '../transform/bspline.js';
import { serialSession, sharedFloat64, sharedInt32, type BlockKernel, type BlockSession, type ParallelFor } from './parallel-for.js';

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

/** What the fold check's blocks read and write (shared memory on a team). */
export interface FoldKernelInit {
  grid: BSplineGridSpec;
  /** The parameters being checked (the round's), and a number that changes with them. */
  params: Float64Array;
  round: Float64Array;
  /** safeCells' output for these parameters. */
  safe: Uint8Array;
  points: FoldCheckGrid;
  pointsPerBlock: number;
  /** Per block: its folded points. */
  folded: Int32Array;
  /** Per control point: 1 when it supports a folded point (set by the blocks, cleared by the caller). */
  hit: Uint8Array;
}

/**
 * One phase: block b checks lattice points [b·pointsPerBlock, …) and marks the 4^d control points around each
 * folded one. Marks are only ever set to 1, so the marked set does not depend on which thread checks which block.
 */
export function foldKernel(init: FoldKernelInit): readonly BlockKernel[] {
  const bs = new BSplineTransform(init.grid);
  const d = bs.dimension;
  const [nx, nxy] = bs.gridStrides;
  const { points: pts, pointsPerBlock, safe, folded, hit } = init;
  const p = new Float64Array(d);
  const lo = new Int32Array(d);
  let round = NaN;
  return [
    (b) => {
      if (init.round[0] !== round) {
        bs.setParameters(init.params);
        round = init.round[0];
      }
      const end = Math.min(pts.count, (b + 1) * pointsPerBlock);
      let n = 0;
      for (let i = b * pointsPerBlock; i < end; i++) {
        foldCheckPoint(pts, i, p);
        if (!folds(bs, p, safe)) continue;
        n++;
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
            for (let kx = 0; kx < 4; kx++) hit[iz * nxy + iy * nx + Math.min(bs.gridSize[0] - 1, Math.max(0, lo[0] + kx))] = 1;
          }
        }
      }
      folded[b] = n;
    },
  ];
}

/** Lattice points per block of the fold check: a function of the count only (the blocks never depend on the thread count). */
function foldBlockSize(count: number): number {
  return Math.max(4096, Math.ceil(count / 64));
}

/** Fewest lattice points whose check runs on a team (below, opening a session costs more than it saves). */
export const TEAM_MIN_FOLD_POINTS = 1 << 16;

/**
 * Undoes folding where it is: while some check point folds (Jacobian determinant ≤ 0), the update (after − before)
 * of the 4^d control points supporting each folded point is halved, and after a few halvings dropped there
 * (those points return to `before`, which did not fold). Only the control points around folds change; the rest
 * of the level's work stays. `pulledBack` counts the control points touched; `repaired` is false only if folds
 * remain after every round (not expected: the support of a point fully returned to `before` cannot fold).
 * Leaves `bs` at the result (its parameters at the last round's).
 */
export function repairFolding(bs: BSplineTransform, before: Float64Array, after: Float64Array, pts: FoldCheckGrid): { repaired: boolean; pulledBack: number } {
  const repair = new FoldRepair(bs, before, after, pts, false);
  let r = repair.step();
  while (!r.done) r = repair.step(serialSession(repair.local));
  return r.result;
}

/**
 * repairFolding with the fold checks' blocks on `team`'s threads (a session opened only when some cell may fold,
 * for TEAM_MIN_FOLD_POINTS points or more): the same parameters and counts, bit for bit, for any thread count.
 */
export async function repairFoldingOn(team: ParallelFor | undefined, bs: BSplineTransform, before: Float64Array, after: Float64Array, pts: FoldCheckGrid): Promise<{ repaired: boolean; pulledBack: number }> {
  const onTeam = team !== undefined && team.threads > 1 && pts.count >= TEAM_MIN_FOLD_POINTS;
  const repair = new FoldRepair(bs, before, after, pts, onTeam);
  let r = repair.step();
  if (r.done) return r.result;
  const session: BlockSession = onTeam ? await team.open('register.folds', repair.init, repair.local) : serialSession(repair.local);
  try {
    while (!r.done) r = repair.step(session);
  } finally {
    session.close();
  }
  return r.result;
}

type FoldStep = { done: true; result: { repaired: boolean; pulledBack: number } } | { done: false };

/**
 * The repair's rounds. step() begins a round (the parameters set, the cells that may fold found): when none may
 * fold, done. Otherwise the next step(session) checks the points on the session's threads, updates the
 * control points around the folds and begins the next round.
 */
class FoldRepair {
  readonly init: FoldKernelInit;
  readonly local: readonly BlockKernel[];
  private readonly bs: BSplineTransform;
  private readonly before: Float64Array;
  private readonly after: Float64Array;
  private readonly params: Float64Array;
  private readonly share: Float64Array;
  private readonly blocks: number;
  private touched = 0;
  private round = 0;
  private static readonly HALVINGS = 6;
  private static readonly ROUNDS = 40;

  constructor(bs: BSplineTransform, before: Float64Array, after: Float64Array, pts: FoldCheckGrid, shared: boolean) {
    const d = bs.dimension;
    this.bs = bs;
    this.before = before;
    this.after = after;
    this.params = shared ? sharedFloat64(after.length) : new Float64Array(after.length);
    this.params.set(after);
    this.share = new Float64Array(bs.numberOfControlPoints).fill(1);
    const cells = (bs.gridSize[0] - 3) * (bs.gridSize[1] - 3) * (d === 3 ? bs.gridSize[2] - 3 : 1);
    const bytes = (n: number): Uint8Array => (shared ? new Uint8Array(new SharedArrayBuffer(n)) : new Uint8Array(n));
    const pointsPerBlock = foldBlockSize(pts.count);
    this.blocks = Math.ceil(pts.count / pointsPerBlock);
    this.init = {
      grid: bs.spec(),
      params: this.params,
      round: shared ? sharedFloat64(1) : new Float64Array(1),
      safe: bytes(cells),
      points: { ...pts, counts: pts.counts.slice(), origin: Float64Array.from(pts.origin), step: Float64Array.from(pts.step) },
      pointsPerBlock,
      folded: shared ? sharedInt32(this.blocks) : new Int32Array(this.blocks),
      hit: bytes(bs.numberOfControlPoints),
    };
    this.local = foldKernel(this.init);
  }

  step(session?: BlockSession): FoldStep {
    const { bs, params, init } = this;
    if (session) {
      init.round[0] = this.round;
      session.run(0, this.blocks);
      let folded = 0;
      for (let b = 0; b < this.blocks; b++) folded += init.folded[b];
      if (folded === 0) return { done: true, result: { repaired: true, pulledBack: this.touched } };
      if (this.round === FoldRepair.ROUNDS) return { done: true, result: { repaired: false, pulledBack: this.touched } };
      // the marked control points (in index order: each one's update depends on it alone)
      const d = bs.dimension;
      const nC = bs.numberOfControlPoints;
      const { share, before, after } = this;
      const hit = init.hit;
      let changed = false;
      for (let c = 0; c < nC; c++) {
        if (hit[c] === 0) continue;
        hit[c] = 0;
        if (share[c] === 0) continue;
        if (share[c] === 1) this.touched++;
        share[c] = share[c] > 2 ** -FoldRepair.HALVINGS ? share[c] * 0.5 : 0;
        changed = true;
        for (let a = 0; a < d; a++) params[a * nC + c] = before[a * nC + c] + share[c] * (after[a * nC + c] - before[a * nC + c]);
      }
      if (!changed) return { done: true, result: { repaired: false, pulledBack: this.touched } };
      this.round++;
    }
    bs.setParameters(params);
    // only the points of cells that might fold are checked exactly (the same folded points as checking all)
    const unsafe = safeCells(bs, params, init.safe);
    if (unsafe === 0) return { done: true, result: { repaired: true, pulledBack: this.touched } };
    return { done: false };
  }
}
