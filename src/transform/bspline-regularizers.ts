/**
 * Regularisers of a B-spline deformation, each a plain function (t, points, gradOut) → value with its exact
 * gradient with respect to t.parameters written into gradOut (overwritten; pass null to skip it).
 * `points` are physical points, d coordinates interleaved (N·d values); points outside the transform domain
 * contribute nothing (the deformation is zero there) but still count in the mean.
 */
import { CoregError } from '../errors.js';
import { createBSplineBasis, type BSplineTransform } from './bspline.js';
import { invertMatrixOrNull } from '../image/linalg.js';

function checkGradient(t: BSplineTransform, gradOut: Float64Array | null): void {
  if (gradOut && gradOut.length !== t.numberOfParameters) {
    throw new RangeError(`gradient needs ${t.numberOfParameters} values, got ${gradOut.length}`);
  }
}

function checkPoints(t: BSplineTransform, points: Float64Array): number {
  if (points.length % t.dimension !== 0) throw new RangeError(`points need ${t.dimension} coordinates each, got ${points.length} values`);
  const n = points.length / t.dimension;
  if (n === 0) throw new CoregError('transform', 'a regulariser needs at least one sample point');
  return n;
}

// --- bending energy ---------------------------------------------------------------------------------

/**
 * Thin-plate bending energy: the mean over the transform domain (points = null, computed exactly from the
 * control grid) or over the given points of Σ_a Σ_i Σ_j (∂²u_a/∂x_i∂x_j)², in mm⁻². Zero for any affine u.
 */
export function bendingEnergy(t: BSplineTransform, points: Float64Array | null, gradOut: Float64Array | null): number {
  checkGradient(t, gradOut);
  return points ? sampledBendingEnergy(t, points, gradOut) : exactBendingEnergy(t, gradOut);
}

function sampledBendingEnergy(t: BSplineTransform, points: Float64Array, gradOut: Float64Array | null): number {
  const d = t.dimension;
  const dd = d * d;
  const n = checkPoints(t, points);
  const nc = t.numberOfControlPoints;
  const c = t.parameters;
  const basis = createBSplineBasis(d);
  const hessian = new Float64Array(d * dd);
  const p = new Float64Array(d);
  if (gradOut) gradOut.fill(0);
  let sum = 0;
  for (let s = 0; s < n; s++) {
    for (let a = 0; a < d; a++) p[a] = points[s * d + a];
    const count = t.evaluateBasis(p, 2, basis);
    if (count === 0) continue;
    hessian.fill(0);
    const second = basis.secondDerivatives;
    for (let k = 0; k < count; k++) {
      const idx = basis.indices[k];
      for (let a = 0; a < d; a++) {
        const v = c[a * nc + idx];
        for (let e = 0; e < dd; e++) hessian[a * dd + e] += v * second[k * dd + e];
      }
    }
    for (let e = 0; e < d * dd; e++) sum += hessian[e] * hessian[e];
    if (gradOut) {
      for (let k = 0; k < count; k++) {
        const idx = basis.indices[k];
        for (let a = 0; a < d; a++) {
          let g = 0;
          for (let e = 0; e < dd; e++) g += hessian[a * dd + e] * second[k * dd + e];
          gradOut[a * nc + idx] += (2 * g) / n;
        }
      }
    }
  }
  return sum / n;
}

/** 4-point Gauss–Legendre on [0, 1]: exact for the degree-6 products of cubic pieces. */
const GAUSS_T = [0.5 - 0.4305681557970263, 0.5 - 0.1699905217924281, 0.5 + 0.1699905217924281, 0.5 + 0.4305681557970263];
const GAUSS_W = [0.1739274225687269, 0.3260725774312731, 0.3260725774312731, 0.1739274225687269];

/** Values of the four cubic pieces' r-th derivative at fraction t (pieces for control points start … start+3). */
function pieceDerivatives(r: number, t: number): number[] {
  const s = 1 - t;
  if (r === 0) return [(s * s * s) / 6, (4 - 6 * t * t + 3 * t * t * t) / 6, (1 + 3 * t + 3 * t * t - 3 * t * t * t) / 6, (t * t * t) / 6];
  if (r === 1) return [-0.5 * s * s, 1.5 * t * t - 2 * t, 0.5 + t - 1.5 * t * t, 0.5 * t * t];
  return [1 - t, 3 * t - 2, 1 - 3 * t, t];
}

/**
 * Banded Gram matrix along one grid axis of n control points: G[k][l] = ∫ β^(r)(g − k) β^(s)(g − l) dg over the
 * domain g ∈ [1, n − 2]; stored as n rows of 7 (l − k + 3).
 */
function gram1d(n: number, r: number, s: number): Float64Array {
  const cell = new Float64Array(16);
  for (let q = 0; q < 4; q++) {
    const br = pieceDerivatives(r, GAUSS_T[q]);
    const bs = pieceDerivatives(s, GAUSS_T[q]);
    for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) cell[i * 4 + j] += GAUSS_W[q] * br[i] * bs[j];
  }
  const band = new Float64Array(n * 7);
  // Cell [c, c + 1] is supported by control points c − 1 … c + 2.
  for (let c = 1; c <= n - 3; c++) {
    for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) band[(c - 1 + i) * 7 + (j - i + 3)] += cell[i * 4 + j];
  }
  return band;
}

/** y += scale · (G_z ⊗ G_y ⊗ G_x) · x for banded per-axis matrices (x fastest), using two scratch buffers. */
function applyKronecker(
  x: Float64Array,
  xOffset: number,
  sizes: readonly number[],
  mats: Float64Array[],
  scale: number,
  y: Float64Array,
  yOffset: number,
  tmpA: Float64Array,
  tmpB: Float64Array,
): void {
  const d = sizes.length;
  const total = tmpA.length;
  tmpA.set(x.subarray(xOffset, xOffset + total));
  let src = tmpA;
  let dst = tmpB;
  let inner = 1;
  for (let axis = 0; axis < d; axis++) {
    const n = sizes[axis];
    const outer = total / (inner * n);
    const g = mats[axis];
    for (let o = 0; o < outer; o++) {
      for (let k = 0; k < n; k++) {
        const outBase = (o * n + k) * inner;
        const lo = Math.max(0, k - 3);
        const hi = Math.min(n - 1, k + 3);
        for (let i = 0; i < inner; i++) {
          let v = 0;
          for (let l = lo; l <= hi; l++) v += g[k * 7 + (l - k + 3)] * src[(o * n + l) * inner + i];
          dst[outBase + i] = v;
        }
      }
    }
    const swap = src;
    src = dst;
    dst = swap;
    inner *= n;
  }
  for (let i = 0; i < total; i++) y[yOffset + i] += scale * src[i];
}

function exactBendingEnergy(t: BSplineTransform, gradOut: Float64Array | null): number {
  const d = t.dimension;
  const sizes = t.gridSize;
  const nc = t.numberOfControlPoints;
  // ∂/∂x_i = Σ_m M[m][i] ∂/∂g_m with M = diag(1/spacing)·D⁻¹, so Σ_ij (H_x)_ij² = Σ_{m,n,p,q} K_mp K_nq H_mn H_pq
  // with K = M·Mᵀ (diagonal 1/spacing² for an orthonormal direction).
  const inv = invertMatrixOrNull(t.gridDirection, d);
  if (!inv) throw new CoregError('transform', 'B-spline grid direction matrix is singular');
  const m = new Float64Array(d * d);
  for (let r = 0; r < d; r++) for (let c = 0; c < d; c++) m[r * d + c] = inv[r * d + c] / t.gridSpacing[r];
  const k = new Float64Array(d * d);
  let kMax = 0;
  for (let r = 0; r < d; r++) {
    for (let c = 0; c < d; c++) {
      let s = 0;
      for (let i = 0; i < d; i++) s += m[r * d + i] * m[c * d + i];
      k[r * d + c] = s;
      kMax = Math.max(kMax, Math.abs(s));
    }
  }
  const gramCache = new Map<string, Float64Array>();
  const gram = (axis: number, r: number, s: number): Float64Array => {
    const key = `${axis}:${r}:${s}`;
    let g = gramCache.get(key);
    if (!g) {
      g = gram1d(sizes[axis], r, s);
      gramCache.set(key, g);
    }
    return g;
  };
  const y = new Float64Array(d * nc);
  const tmpA = new Float64Array(nc);
  const tmpB = new Float64Array(nc);
  const mats: Float64Array[] = new Array<Float64Array>(d);
  const orders1 = new Int32Array(d);
  const orders2 = new Int32Array(d);
  for (let mi = 0; mi < d; mi++) {
    for (let ni = 0; ni < d; ni++) {
      for (let pi = 0; pi < d; pi++) {
        for (let qi = 0; qi < d; qi++) {
          const coeff = k[mi * d + pi] * k[ni * d + qi];
          // Cross terms vanish exactly for orthonormal directions; skip their rounding noise.
          if (Math.abs(coeff) <= 1e-14 * kMax * kMax) continue;
          orders1.fill(0);
          orders2.fill(0);
          orders1[mi]++;
          orders1[ni]++;
          orders2[pi]++;
          orders2[qi]++;
          for (let axis = 0; axis < d; axis++) mats[axis] = gram(axis, orders1[axis], orders2[axis]);
          for (let a = 0; a < d; a++) applyKronecker(t.parameters, a * nc, sizes, mats, coeff, y, a * nc, tmpA, tmpB);
        }
      }
    }
  }
  let cells = 1;
  for (let i = 0; i < d; i++) cells *= sizes[i] - 3;
  let sum = 0;
  for (let i = 0; i < d * nc; i++) sum += t.parameters[i] * y[i];
  if (gradOut) for (let i = 0; i < d * nc; i++) gradOut[i] = (2 * y[i]) / cells;
  return sum / cells;
}

// --- Jacobian determinant ---------------------------------------------------------------------------

/**
 * Control-point positions and cell centres inside the transform domain (a lattice at half the grid spacing):
 * the default sample points of jacobianDeterminantPenalty.
 */
export function bsplineSamplePoints(t: BSplineTransform): Float64Array {
  const d = t.dimension;
  const counts = t.gridSize.map((n) => 2 * (n - 3) + 1);
  const total = counts.reduce((p, v) => p * v, 1);
  const out = new Float64Array(total * d);
  const idx = new Array<number>(d).fill(0);
  for (let n = 0; n < total; n++) {
    let rest = n;
    for (let a = 0; a < d; a++) {
      idx[a] = 1 + (rest % counts[a]) / 2;
      rest = Math.floor(rest / counts[a]);
    }
    for (let r = 0; r < d; r++) {
      let s = t.gridOrigin[r];
      for (let c = 0; c < d; c++) s += t.gridDirection[r * d + c] * t.gridSpacing[c] * idx[c];
      out[n * d + r] = s;
    }
  }
  return out;
}

/**
 * Folding penalty: mean over the points (default: bsplineSamplePoints) of max(0, ε − det ∂T/∂x)², which is zero
 * while det J ≥ ε everywhere sampled and grows smoothly as the map approaches folding (det ≤ 0).
 */
export function jacobianDeterminantPenalty(
  t: BSplineTransform,
  points: Float64Array | null,
  gradOut: Float64Array | null,
  epsilon = 0.1,
): number {
  checkGradient(t, gradOut);
  const pts = points ?? bsplineSamplePoints(t);
  const d = t.dimension;
  const n = checkPoints(t, pts);
  const nc = t.numberOfControlPoints;
  const c = t.parameters;
  const basis = createBSplineBasis(d);
  const jac = new Float64Array(d * d);
  const cof = new Float64Array(d * d);
  const p = new Float64Array(d);
  if (gradOut) gradOut.fill(0);
  let sum = 0;
  for (let s = 0; s < n; s++) {
    for (let a = 0; a < d; a++) p[a] = pts[s * d + a];
    const count = t.evaluateBasis(p, 1, basis);
    if (count === 0) {
      // Identity outside the domain: det 1.
      if (epsilon > 1) sum += (epsilon - 1) * (epsilon - 1);
      continue;
    }
    jac.fill(0);
    for (let a = 0; a < d; a++) jac[a * d + a] = 1;
    const first = basis.firstDerivatives;
    for (let k = 0; k < count; k++) {
      const idx = basis.indices[k];
      for (let a = 0; a < d; a++) {
        const v = c[a * nc + idx];
        for (let j = 0; j < d; j++) jac[a * d + j] += v * first[k * d + j];
      }
    }
    // cof[a·d + j] = ∂det/∂J[a][j].
    let det: number;
    if (d === 2) {
      det = jac[0] * jac[3] - jac[1] * jac[2];
      cof[0] = jac[3];
      cof[1] = -jac[2];
      cof[2] = -jac[1];
      cof[3] = jac[0];
    } else {
      cof[0] = jac[4] * jac[8] - jac[5] * jac[7];
      cof[1] = jac[5] * jac[6] - jac[3] * jac[8];
      cof[2] = jac[3] * jac[7] - jac[4] * jac[6];
      cof[3] = jac[2] * jac[7] - jac[1] * jac[8];
      cof[4] = jac[0] * jac[8] - jac[2] * jac[6];
      cof[5] = jac[1] * jac[6] - jac[0] * jac[7];
      cof[6] = jac[1] * jac[5] - jac[2] * jac[4];
      cof[7] = jac[2] * jac[3] - jac[0] * jac[5];
      cof[8] = jac[0] * jac[4] - jac[1] * jac[3];
      det = jac[0] * cof[0] + jac[1] * cof[1] + jac[2] * cof[2];
    }
    const gap = epsilon - det;
    if (gap <= 0) continue;
    sum += gap * gap;
    if (gradOut) {
      const f = (-2 * gap) / n;
      for (let k = 0; k < count; k++) {
        const idx = basis.indices[k];
        for (let a = 0; a < d; a++) {
          let g = 0;
          for (let j = 0; j < d; j++) g += cof[a * d + j] * first[k * d + j];
          gradOut[a * nc + idx] += f * g;
        }
      }
    }
  }
  return sum / n;
}
