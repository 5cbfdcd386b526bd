// New grids over the same field of view (for `coreg resample --spacing`).
import { CoregError } from '../errors.js';
import type { GridLike } from '../image/image.js';

/**
 * The grid with the given spacing over the same field of view as `grid`: same direction, size
 * max(1, round(size·spacing / newSpacing)) per axis, and the centre of the field of view (pixel edges included)
 * unchanged. The header codes are kept.
 */
export function gridWithSpacing(grid: GridLike, spacing: number[]): GridLike {
  const d = grid.dimension;
  if (spacing.length !== d) throw new CoregError('--spacing', `needs 1 or ${d} values for a ${d}D image, got ${spacing.length}`, 2);
  for (const s of spacing) if (!(Number.isFinite(s) && s > 0)) throw new CoregError('--spacing', `every spacing must be a positive number (got ${s})`, 2);
  const size = grid.size.map((n, a) => Math.max(1, Math.round((n * grid.spacing[a]) / spacing[a])));
  // Shift along each axis (in mm) from the old first voxel centre to the new one: centres of both boxes agree.
  const shift = grid.size.map((n, a) => ((n - 1) * grid.spacing[a] - (size[a] - 1) * spacing[a]) / 2);
  const origin = grid.origin.map((o, r) => {
    let v = o;
    for (let a = 0; a < d; a++) v += grid.direction[r * d + a] * shift[a];
    return v;
  });
  const out: GridLike = { dimension: d, size, spacing: spacing.slice(), origin, direction: grid.direction.slice() };
  if (grid.header) out.header = { ...grid.header };
  return out;
}
