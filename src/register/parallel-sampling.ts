/**
 * A level's random sample set drawn per block on a team of threads (parallel-for.ts), for the default 3D setting
 * (a random subset at random positions inside their voxels, no fixed mask): a stratified draw, as the stochastic
 * B-spline levels draw theirs (sample-kernels.ts: stratifiedDraw). Sample i of `count` takes a voxel rank uniform
 * in [n·i/count, n·(i+1)/count) (every voxel in order when count = n) and a position uniform inside that voxel;
 * its fixed value is interpolated linearly there (linearValues3d, as the B-spline levels' fresh samples). Each block has its own generator (stratifiedSeed(seed, 0, block)) and blocks depend on `count` only, so
 * the samples are the same for any number of threads.
 */
import { type Image, indexToPhysicalMatrix, numberOfPixels } from '../image/image.js';
import { linear2d, linearValues3d, type Plane } from '../interpolate/kernels.js';
import { blockSizeFor, serialSession, sharedFloat64, sharedInt32, type BlockKernel, type ParallelFor } from './parallel-for.js';
import { stratifiedSeed } from './sample-kernels.js';
import { MULBERRY32_STEP, mulberry32Unit } from '../random.js';
import type { SampleSet } from './sampling.js';

export interface DrawKernelInit {
  seed: number;
  count: number;
  blockSize: number;
  size: number[];
  origin: number[];
  /** Index → physical (d×d row-major). */
  M: Float64Array;
  /** The fixed image's values (its float32-exact pixels or interpolation plane). */
  plane: Plane;
  points: Float64Array;
  values: Float64Array;
  voxels: Int32Array;
}

/**
 * Samples [start, end) of block b: voxel, position (continuous index into `ci`, from 0) and physical point. The
 * generator is createRandom(stratifiedSeed(seed, 0, b)) inlined (its state an int32 here).
 */
function drawBlock(init: DrawKernelInit, b: number, start: number, end: number, ci: Float64Array): void {
  const { seed, count, size, origin: o, M, points, voxels } = init;
  const d = size.length;
  const nx = size[0];
  const ny = size[1];
  const nz = d === 3 ? size[2] : 1;
  const nxy = nx * ny;
  const population = nxy * nz;
  const scale = population / count;
  const all = count === population;
  let a = stratifiedSeed(seed, 0, b) | 0;
  for (let i = start, c = 0; i < end; i++, c += d) {
    let v = i;
    if (!all) {
      a = (a + MULBERRY32_STEP) | 0;
      v = Math.floor(scale * (i + mulberry32Unit(a)));
      if (v >= population) v = population - 1;
    }
    voxels[i] = v;
    a = (a + MULBERRY32_STEP) | 0;
    const cx = (v % nx) + mulberry32Unit(a) - 0.5;
    a = (a + MULBERRY32_STEP) | 0;
    const cy = (Math.floor(v / nx) % ny) + mulberry32Unit(a) - 0.5;
    ci[c] = cx;
    ci[c + 1] = cy;
    if (d === 2) {
      points[2 * i] = o[0] + M[0] * cx + M[1] * cy;
      points[2 * i + 1] = o[1] + M[2] * cx + M[3] * cy;
    } else {
      a = (a + MULBERRY32_STEP) | 0;
      const cz = Math.floor(v / nxy) + mulberry32Unit(a) - 0.5;
      ci[c + 2] = cz;
      points[3 * i] = o[0] + M[0] * cx + M[1] * cy + M[2] * cz;
      points[3 * i + 1] = o[1] + M[3] * cx + M[4] * cy + M[5] * cz;
      points[3 * i + 2] = o[2] + M[6] * cx + M[7] * cy + M[8] * cz;
    }
  }
}

/** Phase 0: block b's samples [b·blockSize, …): drawn, then their fixed values interpolated linearly. */
export function drawKernel(init: DrawKernelInit): readonly BlockKernel[] {
  const { count, blockSize, size, plane, values } = init;
  const d = size.length;
  const ci = new Float64Array(d * blockSize);
  return [
    (b) => {
      const start = b * blockSize;
      const end = Math.min(count, start + blockSize);
      drawBlock(init, b, start, end, ci);
      if (d === 3) {
        linearValues3d(plane, size[0], size[1], size[2], ci, 0, end - start, values.subarray(start, end));
      } else {
        for (let i = start; i < end; i++) values[i] = linear2d(plane, size[0], size[1], ci[2 * (i - start)], ci[2 * (i - start) + 1]);
      }
    },
  ];
}

/**
 * A draw's kernel init: `count` samples of `fixed` (`plane`: its values as linear interpolation reads them), their
 * outputs on shared memory; `voxels` (shared) when they are chosen already (a jittered set's: parallel-jitter.ts).
 */
export function drawKernelInit(fixed: Image, plane: Plane, count: number, seed: number, voxels?: Int32Array): DrawKernelInit {
  if (count < 1 || count > numberOfPixels(fixed)) throw new Error(`cannot draw ${count} samples of ${numberOfPixels(fixed)} voxels`);
  const d = fixed.dimension;
  return {
    seed: seed >>> 0,
    count,
    blockSize: blockSizeFor(count),
    size: fixed.size.slice(),
    origin: fixed.origin.slice(),
    M: indexToPhysicalMatrix(fixed),
    plane,
    points: sharedFloat64(count * d),
    values: sharedFloat64(count),
    voxels: voxels ?? sharedInt32(count),
  };
}

/**
 * Fewest samples drawn on the team. A level's default 150 000 take ~10 ms in one thread once compiled, but a draw
 * runs once per level: split over the team, each thread's copy of the code stays cold (3D affine MI on 2 threads:
 * ~30 ms per level, against 26, 10 and 10 ms for the three levels drawn in the calling thread).
 */
const TEAM_MIN_DRAW = 1 << 19;

/**
 * `count` samples of `fixed` (a scalar image; `plane`: its values as linear interpolation reads them, on shared
 * memory for a team) drawn per block, on `team` when it has helpers.
 */
export async function drawSamplesOn(team: ParallelFor | undefined, fixed: Image, plane: Plane, count: number, seed: number): Promise<SampleSet> {
  const d = fixed.dimension;
  const init = drawKernelInit(fixed, plane, count, seed);
  const blocks = Math.ceil(count / init.blockSize);
  const local = drawKernel(init);
  // (fewer than TEAM_MIN_DRAW: in this thread; the same samples either way)
  const session = team && team.threads > 1 && count >= TEAM_MIN_DRAW ? await team.open('register.draw', init, local, { late: true }) : serialSession(local);
  try {
    session.run(0, blocks);
  } finally {
    session.close();
  }
  return { dimension: d as 2 | 3, count, points: init.points, values: init.values, voxels: init.voxels };
}
