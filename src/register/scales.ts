/**
 * Parameter scales and step sizes from the physical shift a parameter change causes at sample points
 * (the idea of ITK's RegistrationParameterScalesFromPhysicalShift). Registration hands the optimiser these scales;
 * the optimiser itself sees parameter vectors only.
 */
import { CoregError } from '../errors.js';
import type { ParametricTransform } from '../transform/transform.js';

function pointCount(transform: ParametricTransform, points: Float64Array): number {
  const d = transform.dimension;
  if (points.length === 0 || points.length % d !== 0) {
    throw new CoregError('points', `need a non-empty list of ${d}D points (length a multiple of ${d}), got length ${points.length}`);
  }
  for (let i = 0; i < points.length; i++) {
    if (!Number.isFinite(points[i])) throw new CoregError('points', 'sample points must be finite');
  }
  return points.length / d;
}

/**
 * scale_i = mean over the points x of ‖T(x; p + δ·e_i) − T(x; p)‖² / δ², at the transform's current parameters
 * (the transform itself is left unchanged; a clone is perturbed). These are squared shifts per unit parameter,
 * the units ITK's optimisers expect (they divide the gradient by the scales). A parameter that moves no point
 * gets the smallest non-zero scale (all ones when nothing moves), so the optimiser never divides by zero.
 */
export function estimateScalesFromPhysicalShift(transform: ParametricTransform, points: Float64Array, delta = 0.01): Float64Array {
  if (!(Number.isFinite(delta) && delta > 0)) throw new CoregError('delta', `must be a finite number > 0, got ${delta}`);
  const d = transform.dimension;
  const count = pointCount(transform, points);
  const np = transform.numberOfParameters;
  const probe = transform.clone();
  const base = Float64Array.from(transform.parameters);
  const reference = new Float64Array(count * d);
  const x = new Float64Array(d);
  const y = new Float64Array(d);
  probe.setParameters(base);
  for (let k = 0; k < count; k++) {
    for (let a = 0; a < d; a++) x[a] = points[k * d + a];
    probe.transformPoint(x, y);
    for (let a = 0; a < d; a++) reference[k * d + a] = y[a];
  }
  const scales = new Float64Array(np);
  const perturbed = new Float64Array(np);
  for (let i = 0; i < np; i++) {
    perturbed.set(base);
    perturbed[i] += delta;
    probe.setParameters(perturbed);
    let sum = 0;
    for (let k = 0; k < count; k++) {
      for (let a = 0; a < d; a++) x[a] = points[k * d + a];
      probe.transformPoint(x, y);
      for (let a = 0; a < d; a++) {
        const shift = y[a] - reference[k * d + a];
        sum += shift * shift;
      }
    }
    scales[i] = sum / count / (delta * delta);
  }
  let smallest = Infinity;
  let largest = 0;
  for (let i = 0; i < np; i++) if (scales[i] > largest) largest = scales[i];
  // Shifts below round-off of the largest are numerically zero.
  const floor = largest * 1e-12;
  for (let i = 0; i < np; i++) if (scales[i] > floor && scales[i] < smallest) smallest = scales[i];
  for (let i = 0; i < np; i++) if (!(scales[i] > floor)) scales[i] = smallest === Infinity ? 1 : smallest;
  return scales;
}
