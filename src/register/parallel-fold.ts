/**
 * A B-spline level's fold check and repair (fold-repair.ts) with its exact point checks split over a team of
 * threads (parallel-for.ts), by slices of the check lattice. Between two atlases of a segmentation most cells can
 * fold by the bound of safeCells, and every voxel of a 2 mm head is checked (point by point: ~0.45 s per level in
 * one thread; foldFlagsSlices' separable determinant: a few times less). Each point's verdict is the same function
 * of the same numbers in any thread, and the repair reads them in point order, so the result is the one
 * repairFolding gives alone, for any thread count.
 */
import { BSplineTransform, type BSplineGridSpec } from '../transform/bspline.js';
import { foldCheckSeparable, foldFlagsSlices, foldScratch, foldSlices, repairFolding, safeCellCount, safeCells, type FoldCheckGrid, type FoldChecker } from './fold-repair.js';
import { sharedFloat64, type BlockKernel, type BlockSession, type ParallelFor } from './parallel-for.js';

export interface FoldKernelInit {
  grid: BSplineGridSpec;
  /** The round's parameters and its number (a kernel takes the parameters when the number changes). */
  params: Float64Array;
  round: Float64Array;
  safe: Uint8Array;
  points: FoldCheckGrid;
  flags: Uint8Array;
  slicesPerBlock: number;
}

/** One phase: block b = the lattice's slices [b·slicesPerBlock, (b+1)·slicesPerBlock) (foldFlagsSlices): their fold flags. */
export function foldKernel(init: FoldKernelInit): readonly BlockKernel[] {
  const bs = new BSplineTransform(init.grid);
  const p = new Float64Array(init.points.dimension);
  const scratch = foldScratch(bs, init.points);
  let round = NaN;
  const n = init.slicesPerBlock;
  const slices = foldSlices(init.points);
  return [
    (b: number) => {
      if (init.round[0] !== round) {
        round = init.round[0];
        bs.setParameters(init.params);
      }
      foldFlagsSlices(bs, init.points, init.safe, b * n, Math.min(slices, (b + 1) * n), init.flags, scratch, p);
    },
  ];
}

/**
 * Lattice points in unsafe cells (roughly) from which the checks go to the team: below, a session costs more.
 * Checked point by point (~0.5 µs each) from 2^16; contracted axis by axis (~50 ns each: a 2 mm head's every voxel
 * in ~50 ms, where a session and the helper's set-up took as long) from 2^21.
 */
const TEAM_FOLD_MIN_POINTS = 1 << 16;
const TEAM_FOLD_MIN_SEPARABLE_POINTS = 1 << 21;

function sharedUint8(n: number): Uint8Array {
  return typeof SharedArrayBuffer === 'function' ? new Uint8Array(new SharedArrayBuffer(n)) : new Uint8Array(n);
}

/**
 * repairFolding(bs, before, after, pts) with the point checks on `team` when some cells can fold and their points
 * are many enough (`minPoints`: that many, instead of the defaults above): the same result for any thread count.
 */
export async function repairFoldingOn(
  team: ParallelFor | undefined,
  bs: BSplineTransform,
  before: Float64Array,
  after: Float64Array,
  pts: FoldCheckGrid,
  minPoints?: number,
): Promise<{ repaired: boolean; pulledBack: number }> {
  if (!team || team.threads < 2 || pts.count < TEAM_FOLD_MIN_POINTS) return repairFolding(bs, before, after, pts);
  // (the first round's safe cells decide whether the checks are worth a session; repairFolding finds them again)
  const cells = safeCellCount(bs);
  const safe = sharedUint8(cells);
  const unsafe = safeCells(bs, after, safe);
  const least = minPoints ?? (foldCheckSeparable(bs, pts) ? TEAM_FOLD_MIN_SEPARABLE_POINTS : TEAM_FOLD_MIN_POINTS);
  if (unsafe * (pts.count / cells) < least) return repairFolding(bs, before, after, pts);
  const slicesPerBlock = Math.max(1, Math.ceil(foldSlices(pts) / 64));
  const init: FoldKernelInit = {
    grid: { dimension: bs.dimension, gridSize: [...bs.gridSize], gridOrigin: [...bs.gridOrigin], gridSpacing: [...bs.gridSpacing], gridDirection: [...bs.gridDirection] },
    params: sharedFloat64(bs.numberOfParameters),
    round: sharedFloat64(1),
    safe,
    points: { dimension: pts.dimension, counts: [...pts.counts], count: pts.count, origin: Float64Array.from(pts.origin), step: Float64Array.from(pts.step) },
    flags: sharedUint8(pts.count),
    slicesPerBlock,
  };
  const session: BlockSession = await team.open('register.fold', init, foldKernel(init));
  const blocks = Math.ceil(foldSlices(pts) / slicesPerBlock);
  const checker: FoldChecker = {
    safe,
    flags: init.flags,
    check(params: Float64Array): void {
      init.params.set(params);
      init.round[0]++;
      session.run(0, blocks);
    },
  };
  try {
    return repairFolding(bs, before, after, pts, checker);
  } finally {
    session.close();
  }
}
