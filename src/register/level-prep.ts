/**
 * A linear stage's per-level inputs made for all its levels at once on a team (parallel-for.ts): each level's random
 * sample set (drawKernel's blocks, in order) with its fixed values' ranges, and each moving level image's
 * winsorised range. These do not depend on the transform, only on the level images, so they need not wait for the
 * level before: made one level at a time they ran in the calling thread alone (a few passes once per level, too
 * short to split), while the helpers waited (3D affine MI, 2 threads: ~90 ms of the registration's ~1 s). Here each
 * is one job that one thread does whole, in the code it would run alone: the same samples and ranges as
 * drawSamplesOn and levelRanges without a team, for any number of threads. The draws stay in the calling thread
 * (levelPrepKernel), the helpers take the moving ranges.
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
  /** Per job: 0 while nobody took it, then 1 + the taker (0: the calling thread, 1: a helper). */
  taken: Int32Array;
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

/** Job j whole: a level's draw (every block in order) then its fixed ranges; or a moving level's range. */
function runJob(init: LevelPrepInit, j: number): void {
  const k = init.jobs[2 * j + 1];
  const level = init.levels[k];
  if (init.jobs[2 * j] === 0) {
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
}

/** Takes the first job not taken yet (a helper: of kind 1 only) for `taker`; −1: none. */
function takeJob(init: LevelPrepInit, taker: number): number {
  const n = init.taken.length;
  for (let j = 0; j < n; j++) {
    if (taker > 0 && init.jobs[2 * j] === 0) continue;
    if (Atomics.load(init.taken, j) === 0 && Atomics.compareExchange(init.taken, j, 0, 1 + taker) === 0) return j;
  }
  return -1;
}

/**
 * Phase 0, one block per job: the thread running a block takes the first job left (jobs are in order, longest
 * first) and does it whole; a helper takes only moving ranges (a level's draw runs in the calling thread, which has
 * drawn before and so runs it compiled: a helper's first draw ran 5–10× slower). A block that finds no job for its
 * thread does nothing; the caller then does what is left (prepareLevelsOn). `caller`: the calling thread's kernel.
 */
export function levelPrepKernel(init: LevelPrepInit, caller = false): readonly BlockKernel[] {
  return [
    () => {
      const j = takeJob(init, caller ? 0 : 1);
      if (j >= 0) runJob(init, j);
    },
  ];
}

/**
 * Every level's samples and ranges (as drawSamplesOn and levelRanges give them), on `team` when it has helpers
 * (the arrays each request reads on shared memory then), else in this thread. The longest jobs first. A level
 * without `moving` gets a null movingRange (unless known from `movingCached`). `taken` hears which thread did each
 * job (kind 0: a level's draw, 1: its moving range).
 */
export async function prepareLevelsOn(team: ParallelFor | undefined, levels: LevelPrepRequest[], taken?: (kind: number, level: number, taker: 'caller' | 'helper') => void): Promise<{ samples: SampleSet; ranges: LevelRanges }[]> {
  const work: { kind: number; level: number; size: number }[] = [];
  levels.forEach((l, k) => {
    work.push({ kind: 0, level: k, size: 2 * l.draw.count });
    if (l.moving && !knownRange(l.movingCached)) work.push({ kind: 1, level: k, size: l.moving.length / 4 });
  });
  work.sort((a, b) => b.size - a.size || a.kind - b.kind || a.level - b.level);
  const init: LevelPrepInit = { levels, jobs: sharedInt32(2 * work.length), taken: sharedInt32(work.length), out: sharedFloat64(OUT * levels.length).fill(NaN) };
  work.forEach((j, i) => {
    init.jobs[2 * i] = j.kind;
    init.jobs[2 * i + 1] = j.level;
  });
  const local = levelPrepKernel(init, true);
  const session = team && team.threads > 1 ? await team.open('register.levelPrep', init, local, { late: true }) : serialSession(local);
  try {
    session.run(0, work.length);
  } finally {
    session.close();
  }
  // the draws whose blocks a helper ran (it leaves them to this thread)
  for (let j = takeJob(init, 0); j >= 0; j = takeJob(init, 0)) runJob(init, j);
  if (taken) for (let j = 0; j < work.length; j++) taken(init.jobs[2 * j], init.jobs[2 * j + 1], init.taken[j] === 1 ? 'caller' : 'helper');
  return levels.map((l, k) => ({
    samples: { dimension: l.draw.size.length as 2 | 3, count: l.draw.count, points: l.draw.points, values: l.draw.values, voxels: l.draw.voxels },
    ranges: {
      fullFixed: get(init.out, OUT * k),
      fixedRange: get(init.out, OUT * k + 2),
      movingRange: knownRange(l.movingCached) ?? get(init.out, OUT * k + 4),
    },
  }));
}
