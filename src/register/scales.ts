/**
 * Parameter scales and step sizes from the physical shift a parameter change causes at sample points
 * (the idea of ITK's RegistrationParameterScalesFromPhysicalShift). Registration hands the optimiser these scales;
 * the optimiser itself sees parameter vectors only.
 */
import { CoregError } from '../errors.js';
import { MatrixOffsetTransform } from '../transform/linear.js';
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

/** A transform that maps x to A·x + o exactly as transformPoint computes it (matrix–offset transforms). */
function isMatrixOffset(t: ParametricTransform): t is MatrixOffsetTransform {
  return t instanceof MatrixOffsetTransform && t.transformPoint === MatrixOffsetTransform.prototype.transformPoint;
}

/** out = A·x + o for every point, in MatrixOffsetTransform.transformPoint's order of operations (the same numbers). */
function affinePoints(a: Float64Array, o: Float64Array, points: Float64Array, count: number, d: number, out: Float64Array): void {
  for (let k = 0; k < count; k++) {
    const q = k * d;
    if (d === 2) {
      const x = points[q];
      const y = points[q + 1];
      out[q] = a[0] * x + a[1] * y + o[0];
      out[q + 1] = a[2] * x + a[3] * y + o[1];
    } else {
      const x = points[q];
      const y = points[q + 1];
      const z = points[q + 2];
      out[q] = a[0] * x + a[1] * y + a[2] * z + o[0];
      out[q + 1] = a[3] * x + a[4] * y + a[5] * z + o[1];
      out[q + 2] = a[6] * x + a[7] * y + a[8] * z + o[2];
    }
  }
}

/** Σ over points and axes of (A·x + o − reference)², summed as the generic loop sums it. */
function affineShift(a: Float64Array, o: Float64Array, points: Float64Array, count: number, d: number, reference: Float64Array): number {
  let sum = 0;
  for (let k = 0; k < count; k++) {
    const q = k * d;
    if (d === 2) {
      const x = points[q];
      const y = points[q + 1];
      const s0 = a[0] * x + a[1] * y + o[0] - reference[q];
      sum += s0 * s0;
      const s1 = a[2] * x + a[3] * y + o[1] - reference[q + 1];
      sum += s1 * s1;
    } else {
      const x = points[q];
      const y = points[q + 1];
      const z = points[q + 2];
      const s0 = a[0] * x + a[1] * y + a[2] * z + o[0] - reference[q];
      sum += s0 * s0;
      const s1 = a[3] * x + a[4] * y + a[5] * z + o[1] - reference[q + 1];
      sum += s1 * s1;
      const s2 = a[6] * x + a[7] * y + a[8] * z + o[2] - reference[q + 2];
      sum += s2 * s2;
    }
  }
  return sum;
}

function pointShift(t: ParametricTransform, points: Float64Array, count: number, d: number, reference: Float64Array, x: Float64Array, y: Float64Array): number {
  let sum = 0;
  for (let k = 0; k < count; k++) {
    for (let a = 0; a < d; a++) x[a] = points[k * d + a];
    t.transformPoint(x, y);
    for (let a = 0; a < d; a++) {
      const shift = y[a] - reference[k * d + a];
      sum += shift * shift;
    }
  }
  return sum;
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
  const linear = isMatrixOffset(probe);
  probe.setParameters(base);
  if (linear) affinePoints(probe.matrix(), probe.offset(), points, count, d, reference);
  else {
    for (let k = 0; k < count; k++) {
      for (let a = 0; a < d; a++) x[a] = points[k * d + a];
      probe.transformPoint(x, y);
      for (let a = 0; a < d; a++) reference[k * d + a] = y[a];
    }
  }
  const scales = new Float64Array(np);
  const perturbed = new Float64Array(np);
  for (let i = 0; i < np; i++) {
    perturbed.set(base);
    perturbed[i] += delta;
    probe.setParameters(perturbed);
    scales[i] = (linear ? affineShift(probe.matrix(), probe.offset(), points, count, d, reference) : pointShift(probe, points, count, d, reference, x, y)) / count / (delta * delta);
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
