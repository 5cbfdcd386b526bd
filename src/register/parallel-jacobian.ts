/**
 * The Jacobian determinant map of a chain (transform/jacobian.ts) on a team of threads (parallel-for.ts): the
 * browser app's Jacobian view. The chain travels as data (parallel-resample.ts' chainData), the map's rows are cut
 * into blocks that do not depend on the thread count (one slice in 3D, about 64 blocks in 2D), and every voxel is
 * computed by jacobianRows' code from the same numbers, so the map is bit-identical to jacobianDeterminantImage's
 * for any number of threads.
 */
import { createImage, type GridLike, type Image } from '../image/image.js';
import { jacobianDeterminantImage, jacobianRowCount, jacobianRows, linearJacobianDeterminant } from '../transform/jacobian.js';
import type { Transform } from '../transform/transform.js';
import { sharedFloat32, type BlockKernel, type ParallelFor } from './parallel-for.js';
import { chainData, chainFromData, type TransformData } from './parallel-resample.js';

export interface JacobianKernelInit {
  chain: TransformData[];
  grid: GridLike;
  out: Float32Array;
  rowsPerBlock: number;
}

/** One phase: block b = the map's rows [b·rowsPerBlock, (b+1)·rowsPerBlock). */
export function jacobianKernel(init: JacobianKernelInit): readonly BlockKernel[] {
  const rows = jacobianRows(chainFromData(init.chain), init.grid, init.out);
  const total = jacobianRowCount(init.grid);
  const n = init.rowsPerBlock;
  return [(b: number) => rows(b * n, Math.min(total, (b + 1) * n))];
}

/** Voxels from which the map is made on the team (below, a session costs more than it saves). */
export const MIN_PARALLEL_JACOBIAN_VOXELS = 1 << 15;

/** jacobianDeterminantImage(chain, grid) with its rows split over `team`'s threads (the same map for any count). */
export async function jacobianOn(team: ParallelFor | undefined, chain: readonly Transform[], grid: GridLike): Promise<Image<Float32Array>> {
  const voxels = grid.size.reduce((a, b) => a * b, 1);
  const data = team && team.threads > 1 && voxels >= MIN_PARALLEL_JACOBIAN_VOXELS && linearJacobianDeterminant(chain, grid) === null ? chainData(chain) : null;
  if (!data) return jacobianDeterminantImage(chain, grid);
  const plain: GridLike = { dimension: grid.dimension, size: [...grid.size], spacing: [...grid.spacing], origin: [...grid.origin], direction: [...grid.direction] };
  const rowsPerBlock = grid.dimension === 3 ? grid.size[1] : Math.max(1, Math.ceil(grid.size[1] / 64));
  const init: JacobianKernelInit = { chain: data, grid: plain, out: sharedFloat32(voxels), rowsPerBlock };
  const session = await team!.open('register.jacobian', init, jacobianKernel(init));
  try {
    session.run(0, Math.ceil(jacobianRowCount(plain) / rowsPerBlock));
  } finally {
    session.close();
  }
  const out = createImage(grid.size, 'float32', { spacing: grid.spacing, origin: grid.origin, direction: grid.direction }) as Image<Float32Array>;
  return { ...out, data: init.out };
}
