/** Exact refinement of a B-spline's control grid (the registration's coarse-to-fine levels). */
import { CoregError } from '../errors.js';
import { createBSplineTransformFromDomain, type BSplineTransform } from './bspline.js';

/**
 * The same deformation on a grid `factor` times finer (spacing / factor, same transform domain), exactly:
 * the coefficients follow from the B-spline's refinement (two-scale) relation
 * β³(x) = Σ_j h_j β³(f·x − j + 2(f − 1)) with h = (box_f ∗ box_f ∗ box_f ∗ box_f) / f³, box_f = f ones.
 */
export function refineBSpline(t: BSplineTransform, factor = 2): BSplineTransform {
  if (!Number.isInteger(factor) || factor < 1) throw new CoregError('transform', `B-spline refinement factor must be a whole number ≥ 1, got ${factor}`);
  const d = t.dimension;
  const dom = t.domain;
  const mesh = Array.from(dom.meshSize, (m) => m * factor);
  const fine = createBSplineTransformFromDomain({ ...dom, meshSize: mesh });
  // Refinement filter taps (length 4f − 3).
  let h = [1];
  for (let pass = 0; pass < 4; pass++) {
    const next = new Array<number>(h.length + factor - 1).fill(0);
    for (let i = 0; i < h.length; i++) for (let j = 0; j < factor; j++) next[i + j] += h[i];
    h = next;
  }
  const norm = factor ** 3;
  const taps = Float64Array.from(h, (v) => v / norm);
  // Along one axis, coarse control k feeds fine control m' = f·k + j − 2(f − 1) − (f − 1) for tap j (the fine
  // grid starts one fine cell, not one coarse cell, before the domain).
  const shift = 3 * (factor - 1);
  let src = Float64Array.from(t.parameters);
  const coarse = t.gridSize.slice();
  const sizes = coarse.slice();
  for (let axis = 0; axis < d; axis++) {
    const nIn = sizes[axis];
    const nOut = fine.gridSize[axis];
    let inner = 1;
    for (let i = 0; i < axis; i++) inner *= sizes[i];
    let outer = 1;
    for (let i = axis + 1; i < d; i++) outer *= sizes[i];
    const perComponentIn = inner * nIn * outer;
    const perComponentOut = inner * nOut * outer;
    const dst = new Float64Array(d * perComponentOut);
    for (let a = 0; a < d; a++) {
      for (let o = 0; o < outer; o++) {
        for (let k = 0; k < nIn; k++) {
          const inBase = a * perComponentIn + (o * nIn + k) * inner;
          for (let j = 0; j < taps.length; j++) {
            const m = factor * k + j - shift;
            if (m < 0 || m >= nOut) continue;
            const tap = taps[j];
            const outBase = a * perComponentOut + (o * nOut + m) * inner;
            for (let i = 0; i < inner; i++) dst[outBase + i] += tap * src[inBase + i];
          }
        }
      }
    }
    src = dst;
    sizes[axis] = nOut;
  }
  fine.setParameters(src);
  fine.itkClassName = t.itkClassName;
  return fine;
}
