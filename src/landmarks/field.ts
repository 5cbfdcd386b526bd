/**
 * A transform sampled as a dense displacement field on a grid: u(x) = T(x) − x at every grid point x (LPS mm,
 * fixed → moving), stored as a d-component float32 vector image — the layout ITK/ANTs displacement-field files
 * use, so DisplacementFieldTransform (and ITK) read it back as the same mapping up to interpolation.
 */
import { createImage, indexToPhysicalMatrix, type Image } from '../image/image.js';
import type { Transform } from '../transform/transform.js';
import { CoregError } from '../errors.js';
import type { GridLike } from '../image/image.js';

export function displacementFieldOnGrid(t: Transform, grid: GridLike): Image<Float32Array> {
  const d = grid.dimension;
  if (t.dimension !== d) throw new CoregError('--reference', `is ${d}D but the transform is ${t.dimension}D`);
  const field = createImage(grid.size, 'float32', { spacing: grid.spacing, origin: grid.origin, direction: grid.direction, components: d }) as Image<Float32Array>;
  const data = field.data;
  const m = indexToPhysicalMatrix(grid);
  const o = grid.origin;
  const nx = grid.size[0];
  const ny = grid.size[1];
  const nz = d === 3 ? grid.size[2] : 1;
  const x = new Float64Array(d);
  const y = new Float64Array(d);
  let at = 0;
  for (let k = 0; k < nz; k++) {
    for (let j = 0; j < ny; j++) {
      for (let i = 0; i < nx; i++) {
        if (d === 2) {
          x[0] = o[0] + m[0] * i + m[1] * j;
          x[1] = o[1] + m[2] * i + m[3] * j;
        } else {
          x[0] = o[0] + m[0] * i + m[1] * j + m[2] * k;
          x[1] = o[1] + m[3] * i + m[4] * j + m[5] * k;
          x[2] = o[2] + m[6] * i + m[7] * j + m[8] * k;
        }
        t.transformPoint(x, y);
        for (let c = 0; c < d; c++) data[at++] = y[c] - x[c];
      }
    }
  }
  return field;
}
