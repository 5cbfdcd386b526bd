/**
 * A linear stage's per-level inputs made for all its levels at once on a team (parallel-for.ts): each level's random
 * sample set (drawKernel's blocks, in order) with its fixed values' ranges, and each moving level image's
 * winsorised range. These do not depend on the transform, only on the level images, so they need not wait for the
 * level before: made one level at a time they ran in the calling thread alone (a few passes once per level, too
 * short to split), while the helpers waited (3D affine MI, 2 threads: ~90 ms of the registration's ~1 s). Here each
 * is one job (one block) that whichever thread claims it does whole, in the code it would run alone: the same
 * samples and ranges as drawSamplesOn and levelRanges without a team, for any number of threads.
 */
import type { PixelArray } from '../image/image.js';
import { fixedSampleRanges, knownRange, movingLevelRange, type LevelRanges } from './input-stats.js';
import { serialSession, sharedFloat64, sharedInt32, type BlockKernel, type ParallelFor } from './parallel-for.js';
import { drawKernel, type DrawKernelInit } from './parallel-sampling.js';
import type { SampleSet } from './sampling.js';

type Quantiles = [number, number] | null;

/** One level's inputs to make: its draw (drawKernelInit) and fixed quantiles, its moving level image's. */
export interface LevelPrepRequest {
  draw: DrawKernelInit;
  fixedQuantiles: Quantiles;
  /** Null: no job for its range (the caller finds it, e.g. split over the team: movingLevelRangeOn). */
  moving: PixelArray | null;
  movingQuantiles: Quantiles;
  /** cachedQuantiles' answer for `moving` (its quantiles known from the input statistics), or null. */
  movingCached: Quantiles;
}

export interface LevelPrepInit {
  levels: LevelPrepRequest[];
  /** Per job: kind (0: level's draw and fixed ranges, 1: level's moving range) and level. */
  jobs: Int32Array;
  /** Per level: fullFixed, fixedRange, movingRange as min, max pairs (NaN: null). */
  out: Float64Array;
}

const OUT = 6;

function put(out: Float64Array, at: number, r: { min: number; max: number } | null): void {
  out[at] = r ? r.min : NaN;
  out[at + 1] = r ? r.max : NaN;
}

function get(out: Float64Array, at: number): { min: number; max: number } | null {
  return Number.isNaN(out[at]) ? null : { min: out[at], max: out[at + 1] };
}

/** Phase 0: job b whole (a level's draw, every block in order, then its fixed ranges; or a moving level's range). */
export function levelPrepKernel(init: LevelPrepInit): readonly BlockKernel[] {
  return [
    (b) => {
      const k = init.jobs[2 * b + 1];
      const level = init.levels[k];
      if (init.jobs[2 * b] === 0) {
        const draw = level.draw;
        const kernel = drawKernel(draw)[0];
        const blocks = Math.ceil(draw.count / draw.blockSize);
        for (let i = 0; i < blocks; i++) kernel(i);
        const r = fixedSampleRanges(draw.values, level.fixedQuantiles);
        put(init.out, OUT * k, r.fullFixed);
        put(init.out, OUT * k + 2, r.fixedRange);
      } else {
        put(init.out, OUT * k + 4, movingLevelRange(level.moving!, level.movingQuantiles, level.movingCached));
      }
    },
  ];
}

/**
 * Every level's samples and ranges (as drawSamplesOn and levelRanges give them), on `team` when it has helpers
 * (the arrays each request reads on shared memory then), else in this thread. The longest jobs first. A level
 * without `moving` gets a null movingRange (unless known from `movingCached`).
 */
export async function prepareLevelsOn(team: ParallelFor | undefined, levels: LevelPrepRequest[]): Promise<{ samples: SampleSet; ranges: LevelRanges }[]> {
  const work: { kind: number; level: number; size: number }[] = [];
  levels.forEach((l, k) => {
    work.push({ kind: 0, level: k, size: 2 * l.draw.count });
    if (l.moving && !knownRange(l.movingCached)) work.push({ kind: 1, level: k, size: l.moving.length / 4 });
  });
  work.sort((a, b) => b.size - a.size || a.kind - b.kind || a.level - b.level);
  const init: LevelPrepInit = { levels, jobs: sharedInt32(2 * work.length), out: sharedFloat64(OUT * levels.length).fill(NaN) };
  work.forEach((j, i) => {
    init.jobs[2 * i] = j.kind;
    init.jobs[2 * i + 1] = j.level;
  });
  const local = levelPrepKernel(init);
  const session = team && team.threads > 1 ? await team.open('register.levelPrep', init, local, { late: true }) : serialSession(local);
  try {
    session.run(0, work.length);
  } finally {
    session.close();
  }
  return levels.map((l, k) => ({
    samples: { dimension: l.draw.size.length as 2 | 3, count: l.draw.count, points: l.draw.points, values: l.draw.values, voxels: l.draw.voxels },
    ranges: {
      fullFixed: get(init.out, OUT * k),
      fixedRange: get(init.out, OUT * k + 2),
      movingRange: knownRange(l.movingCached) ?? get(init.out, OUT * k + 4),
    },
  }));
}
