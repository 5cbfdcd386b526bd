/**
 * The B-spline's supports for many points at once (the registration cost's per-iteration path): per point the first
 * supporting control point and the 4·d per-axis weights, with the same arithmetic as
 * BSplineTransform.separableSupport.
 */
import type { BSplineTransform } from './bspline.js';
import { axisStart, cubicWeights } from './bspline-kernels.js';

/**
 * BSplineTransform.separableSupport for `count` points (n×d, row-major) at once: bases[i] (−1 outside the domain) and 4·d weights
 * per point at weights[4·d·i …]; weights of outside points are left as they were. Same arithmetic as
 * separableSupport, without a call and scratch copy per point (the registration cost's per-iteration path).
 */
export function bsplineSupports(t: BSplineTransform, points: Float64Array, count: number, bases: Int32Array, weights: Float32Array | Float64Array): void {
  bsplineSupportsRange(t, points, 0, count, bases, weights);
}

/** What bsplineSupportsRange needs of a B-spline transform (plain data: it can be posted to a worker). */
export interface BSplineGridGeometry {
  dimension: 2 | 3;
  toGrid: Float64Array;
  gridOrigin: readonly number[];
  gridSize: readonly number[];
}

/** bsplineSupports for points [start, end) only (blocks of samples in several threads). */
export function bsplineSupportsRange(t: BSplineGridGeometry, points: Float64Array, start: number, end: number, bases: Int32Array, weights: Float32Array | Float64Array): void {
  if (t.dimension === 2) {
    supports2d(points, start, end, t.toGrid, t.gridOrigin[0], t.gridOrigin[1], t.gridSize[0], t.gridSize[1], bases, weights);
  } else {
    supports3d(points, start, end, t.toGrid, t.gridOrigin[0], t.gridOrigin[1], t.gridOrigin[2], t.gridSize[0], t.gridSize[1], t.gridSize[2], bases, weights);
  }
}

/**
 * Only the bases of separableSupports (first supporting control point, −1 outside the domain) of `count`
 * points: a cheap cell index, e.g. to sort points spatially.
 */
export function bsplineSupportBases(t: BSplineTransform, points: Float64Array, count: number, bases: Int32Array): void {
  const d = t.dimension;
  const m = t.toGrid;
  const o = t.gridOrigin;
  const nx = t.gridSize[0];
  const ny = t.gridSize[1];
  const nz = d === 3 ? t.gridSize[2] : 1;
  for (let i = 0; i < count; i++) {
    if (d === 2) {
      const x = points[2 * i] - o[0];
      const y = points[2 * i + 1] - o[1];
      const sx = axisStart(m[0] * x + m[1] * y, nx);
      const sy = sx < 0 ? -1 : axisStart(m[2] * x + m[3] * y, ny);
      bases[i] = sy < 0 ? -1 : sx + nx * sy;
    } else {
      const x = points[3 * i] - o[0];
      const y = points[3 * i + 1] - o[1];
      const z = points[3 * i + 2] - o[2];
      const sx = axisStart(m[0] * x + m[1] * y + m[2] * z, nx);
      const sy = sx < 0 ? -1 : axisStart(m[3] * x + m[4] * y + m[5] * z, ny);
      const sz = sy < 0 ? -1 : axisStart(m[6] * x + m[7] * y + m[8] * z, nz);
      bases[i] = sz < 0 ? -1 : sx + nx * (sy + ny * sz);
    }
  }
}

function supports2d(P: Float64Array, start: number, end: number, m: Float64Array, ox: number, oy: number, nx: number, ny: number, bases: Int32Array, W: Float32Array | Float64Array): void {
  for (let i = start; i < end; i++) {
    const x = P[2 * i] - ox;
    const y = P[2 * i + 1] - oy;
    const gx = m[0] * x + m[1] * y;
    const gy = m[2] * x + m[3] * y;
    const sx = axisStart(gx, nx);
    const sy = sx < 0 ? -1 : axisStart(gy, ny);
    if (sy < 0) {
      bases[i] = -1;
      continue;
    }
    cubicWeights(gx - sx - 1, W, 8 * i);
    cubicWeights(gy - sy - 1, W, 8 * i + 4);
    bases[i] = sx + nx * sy;
  }
}

function supports3d(
  P: Float64Array,
  start: number,
  end: number,
  m: Float64Array,
  ox: number,
  oy: number,
  oz: number,
  nx: number,
  ny: number,
  nz: number,
  bases: Int32Array,
  W: Float32Array | Float64Array,
): void {
  for (let i = start; i < end; i++) {
    const x = P[3 * i] - ox;
    const y = P[3 * i + 1] - oy;
    const z = P[3 * i + 2] - oz;
    const gx = m[0] * x + m[1] * y + m[2] * z;
    const gy = m[3] * x + m[4] * y + m[5] * z;
    const gz = m[6] * x + m[7] * y + m[8] * z;
    const sx = axisStart(gx, nx);
    const sy = sx < 0 ? -1 : axisStart(gy, ny);
    const sz = sy < 0 ? -1 : axisStart(gz, nz);
    if (sz < 0) {
      bases[i] = -1;
      continue;
    }
    cubicWeights(gx - sx - 1, W, 12 * i);
    cubicWeights(gy - sy - 1, W, 12 * i + 4);
    cubicWeights(gz - sz - 1, W, 12 * i + 8);
    bases[i] = sx + nx * (sy + ny * sz);
  }
}

/** Coefficients component-major (c[a·nC + k]), as BSplineTransform holds them, to interleaved per control point (out[d·k + a]). */
export function interleaveCoefficients(c: Float64Array, nC: number, d: number, out: Float64Array): void {
  if (d === 2) {
    for (let k = 0; k < nC; k++) {
      out[2 * k] = c[k];
      out[2 * k + 1] = c[nC + k];
    }
  } else {
    const nC2 = 2 * nC;
    for (let k = 0; k < nC; k++) {
      out[3 * k] = c[k];
      out[3 * k + 1] = c[nC + k];
      out[3 * k + 2] = c[nC2 + k];
    }
  }
}

// --- dense evaluation -------------------------------------------------------------------------------
