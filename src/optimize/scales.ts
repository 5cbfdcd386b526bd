/**
 * Parameter scales and step sizes from the physical shift a parameter change causes at sample points
 * (the idea of ITK's RegistrationParameterScalesFromPhysicalShift).
 */
import { CoregError } from '../errors.js';
import { indexToPhysical, type Image } from '../image/image.js';
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

/**
 * The factor η such that the parameter update η·step moves no sample point by more than maxShiftMm:
 * η = maxShiftMm / max over x of ‖J(x)·step‖ (J = ∂T/∂p at the current parameters; exact for transforms linear
 * in their parameters, first-order otherwise — as ITK's learning-rate estimation). Returns 0 when the step
 * moves no point (nothing to scale).
 */
export function estimateStepForMaxShift(transform: ParametricTransform, points: Float64Array, step: ArrayLike<number>, maxShiftMm: number): number {
  if (!(Number.isFinite(maxShiftMm) && maxShiftMm > 0)) throw new CoregError('maxShiftMm', `must be a finite number > 0, got ${maxShiftMm}`);
  const np = transform.numberOfParameters;
  if (step.length !== np) throw new CoregError('step', `need ${np} values, got ${step.length}`);
  const d = transform.dimension;
  const count = pointCount(transform, points);
  const jacobian = new Float64Array(d * np);
  const x = new Float64Array(d);
  let largest = 0;
  for (let k = 0; k < count; k++) {
    for (let a = 0; a < d; a++) x[a] = points[k * d + a];
    transform.jacobian(x, jacobian);
    let squared = 0;
    for (let r = 0; r < d; r++) {
      let shift = 0;
      for (let c = 0; c < np; c++) shift += jacobian[r * np + c] * step[c];
      squared += shift * shift;
    }
    if (squared > largest) largest = squared;
  }
  return largest > 0 ? maxShiftMm / Math.sqrt(largest) : 0;
}

/**
 * Learning rate for gradient descent (update −η·g_i/s_i) so that its first step moves no sample point by more than
 * maxShiftMm, as ITK's GradientDescentOptimizerv4 does with its maximum step size in physical units.
 */
export function estimateLearningRateForMaxShift(
  transform: ParametricTransform,
  points: Float64Array,
  gradient: ArrayLike<number>,
  scales: ArrayLike<number> | undefined,
  maxShiftMm: number,
): number {
  const np = transform.numberOfParameters;
  if (gradient.length !== np) throw new CoregError('gradient', `need ${np} values, got ${gradient.length}`);
  if (scales !== undefined && scales.length !== np) throw new CoregError('scales', `need ${np} values, got ${scales.length}`);
  const step = new Float64Array(np);
  for (let i = 0; i < np; i++) step[i] = gradient[i] / (scales === undefined ? 1 : scales[i]);
  return estimateStepForMaxShift(transform, points, step, maxShiftMm);
}

/** The physical points of the 2^d corner pixel centres of an image: the usual samples for linear transforms. */
export function imageCornerPoints(img: Image): Float64Array {
  const d = img.dimension;
  const corners = 1 << d;
  const out = new Float64Array(corners * d);
  const index = new Array<number>(d);
  const p = new Array<number>(d);
  for (let c = 0; c < corners; c++) {
    for (let a = 0; a < d; a++) index[a] = c & (1 << a) ? img.size[a] - 1 : 0;
    indexToPhysical(img, index, p);
    for (let a = 0; a < d; a++) out[c * d + a] = p[a];
  }
  return out;
}
