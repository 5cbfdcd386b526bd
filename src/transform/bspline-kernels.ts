/**
 * The cubic B-spline's per-axis arithmetic shared by the B-spline transform, its batched supports and its dense
 * evaluator: the four weights of a fraction and their derivatives, and where a point's support starts.
 */

/** Points this far (in grid cells) outside the domain still count as inside: absorbs rounding at the edges. */
export const EDGE_TOLERANCE = 1e-9;

/** Fills w[o..o+3] with the cubic B-spline weights of fraction t ∈ [0, 1] (control points start … start+3). */
export function cubicWeights(t: number, w: Float64Array | Float32Array, o: number): void {
  const s = 1 - t;
  const t2 = t * t;
  const t3 = t2 * t;
  w[o] = (s * s * s) / 6;
  w[o + 1] = (4 - 6 * t2 + 3 * t3) / 6;
  w[o + 2] = (1 + 3 * t + 3 * t2 - 3 * t3) / 6;
  w[o + 3] = t3 / 6;
}

/** Fills w[o..o+3] with the derivatives of the cubic weights with respect to t. */
export function cubicFirstDerivatives(t: number, w: Float64Array, o: number): void {
  const s = 1 - t;
  const t2 = t * t;
  w[o] = -0.5 * s * s;
  w[o + 1] = 1.5 * t2 - 2 * t;
  w[o + 2] = 0.5 + t - 1.5 * t2;
  w[o + 3] = 0.5 * t2;
}

/** Fills w[o..o+3] with the second derivatives of the cubic weights with respect to t. */
export function cubicSecondDerivatives(t: number, w: Float64Array, o: number): void {
  w[o] = 1 - t;
  w[o + 1] = 3 * t - 2;
  w[o + 2] = 1 - 3 * t;
  w[o + 3] = t;
}


/**
 * Start control index along one axis of continuous grid index u (inside the domain), as locate computes it;
 * −1 outside (NaN included).
 */
export function axisStart(u: number, n: number): number {
  if (!(u >= 1 - EDGE_TOLERANCE && u <= n - 2 + EDGE_TOLERANCE)) return -1;
  let s = Math.floor(u) - 1;
  if (s < 0) s = 0;
  else if (s > n - 4) s = n - 4;
  return s;
}
