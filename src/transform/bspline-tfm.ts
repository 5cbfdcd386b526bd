/**
 * The .tfm reader of ITK's BSplineTransform (and ITK 3's BSplineDeformableTransform): FixedParameters = grid size,
 * origin, spacing, direction; Parameters = the coefficients (see src/transform/bspline.ts).
 */
import { CoregError } from '../errors.js';
import { BSplineTransform } from './bspline.js';
import type { ItkTransformBlock } from './transform.js';

export function readItkBSpline(block: ItkTransformBlock, fileName: string): BSplineTransform {
  const d = block.dimension;
  const label = `transform ${block.index} (${block.type})`;
  const fp = block.fixedParameters;
  if (fp.length !== d * (d + 3)) throw new CoregError(fileName, `${label}: expected ${d * (d + 3)} fixed parameters, got ${fp.length}`);
  let t: BSplineTransform;
  try {
    t = new BSplineTransform(
      {
        dimension: d,
        gridSize: fp.subarray(0, d),
        gridOrigin: fp.subarray(d, 2 * d),
        gridSpacing: fp.subarray(2 * d, 3 * d),
        gridDirection: fp.subarray(3 * d),
      },
      fileName,
    );
  } catch (e) {
    if (e instanceof CoregError) throw new CoregError(fileName, `${label}: ${e.message}`);
    throw e;
  }
  if (block.parameters.length !== t.numberOfParameters) {
    throw new CoregError(fileName, `${label}: expected ${t.numberOfParameters} parameters for a ${t.gridSize.join('×')} grid, got ${block.parameters.length}`);
  }
  t.setParameters(block.parameters);
  return t;
}
