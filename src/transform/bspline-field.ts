/**
 * The B-spline's dense evaluator: its displacement at every pixel centre of a grid, separable (per-axis weights
 * computed once per axis, control planes then rows then pixels combined) when the grid's axes are parallel to the
 * control grid's, point by point otherwise.
 */
import { CoregError } from '../errors.js';
import type { GridGeometry } from '../image/image.js';
import type { BSplineTransform } from './bspline.js';
import { cubicWeights, EDGE_TOLERANCE } from './bspline-kernels.js';

/**
 * The displacement u(x) = T(x) − x of B-spline t at every pixel centre of `grid`, d components interleaved (x fastest over
 * pixels), zero outside the transform domain. Separable (per-axis weights precomputed) when the image axes
 * are parallel to the grid axes, which is the usual case (grid built on the fixed image); otherwise point by
 * point. `out` is reused when given (length N·d).
 */
export function bsplineDisplacementField(t: BSplineTransform, grid: GridGeometry, out?: Float32Array): Float32Array {
  const d = t.dimension;
  if (grid.dimension !== d) throw new CoregError('transform', `a ${d}D B-spline cannot be evaluated on a ${grid.dimension}D grid`);
  const sx = grid.size[0];
  const sy = grid.size[1];
  const sz = d === 3 ? grid.size[2] : 1;
  const nPix = sx * sy * sz;
  const field = out ?? new Float32Array(nPix * d);
  if (field.length !== nPix * d) throw new RangeError(`displacement field needs ${nPix * d} values, got ${field.length}`);
  // Pixel index → grid index: g = A·i + b with A = toGrid·direction·diag(spacing), b = toGrid·(origin − gridOrigin).
  const a = new Float64Array(d * d);
  const b = new Float64Array(d);
  for (let r = 0; r < d; r++) {
    let s = 0;
    for (let k = 0; k < d; k++) s += t.toGrid[r * d + k] * (grid.origin[k] - t.gridOrigin[k]);
    b[r] = s;
    for (let c = 0; c < d; c++) {
      let v = 0;
      for (let k = 0; k < d; k++) v += t.toGrid[r * d + k] * grid.direction[k * d + c] * grid.spacing[c];
      a[r * d + c] = v;
    }
  }
  let scale = 0;
  for (let r = 0; r < d; r++) scale = Math.max(scale, Math.abs(a[r * d + r]));
  let separable = true;
  for (let r = 0; r < d; r++) for (let c = 0; c < d; c++) if (r !== c && Math.abs(a[r * d + c]) > 1e-12 * scale) separable = false;
  if (separable) {
    const sizes = [sx, sy, sz];
    const axes: AxisWeights[] = [];
    for (let r = 0; r < 3; r++) {
      axes.push(r < d ? axisWeights(sizes[r], a[r * d + r], b[r], t.gridSize[r]) : singlePlane());
    }
    separableField(t.parameters, d, t.gridSize[0], t.gridSize[1], (d === 3 ? t.gridSize[2] : 1), axes[0], axes[1], axes[2], field);
  } else {
    pointwiseField(t, grid, field);
  }
  return field;
}

/** Per pixel along one image axis: inside flag, first supporting control point and 4 weights. */
interface AxisWeights {
  count: number;
  inside: Uint8Array;
  start: Int32Array;
  weights: Float64Array;
}

function axisWeights(count: number, scale: number, offset: number, gridSize: number): AxisWeights {
  const inside = new Uint8Array(count);
  const start = new Int32Array(count);
  const weights = new Float64Array(4 * count);
  for (let i = 0; i < count; i++) {
    const u = scale * i + offset;
    if (!(u >= 1 - EDGE_TOLERANCE && u <= gridSize - 2 + EDGE_TOLERANCE)) continue;
    let s = Math.floor(u) - 1;
    if (s < 0) s = 0;
    else if (s > gridSize - 4) s = gridSize - 4;
    inside[i] = 1;
    start[i] = s;
    cubicWeights(u - s - 1, weights, 4 * i);
  }
  return { count, inside, start, weights };
}

/** The z "axis" of a 2D field: one pixel on the single control plane with weight 1. */
function singlePlane(): AxisWeights {
  return { count: 1, inside: Uint8Array.of(1), start: Int32Array.of(0), weights: Float64Array.of(1, 0, 0, 0) };
}

/**
 * Tensor-product evaluation: per z plane, combine the 4 control planes (zPlane, nx·ny per component); per row,
 * combine 4 control rows (row, nx per component); per pixel, 4 coefficients per component.
 */
function separableField(
  c: Float64Array,
  d: number,
  nx: number,
  ny: number,
  nz: number,
  ax: AxisWeights,
  ay: AxisWeights,
  az: AxisWeights,
  out: Float32Array,
): void {
  const nxy = nx * ny;
  const nc = nxy * nz;
  const zPlane = new Float64Array(d * nxy);
  const row = new Float64Array(d * nx);
  const zTaps = d === 3 ? 4 : 1;
  const sx = ax.count;
  const sy = ay.count;
  for (let k = 0; k < az.count; k++) {
    const sliceBase = k * sy * sx;
    if (!az.inside[k]) {
      out.fill(0, sliceBase * d, (sliceBase + sy * sx) * d);
      continue;
    }
    zPlane.fill(0);
    for (let m = 0; m < zTaps; m++) {
      const wz = az.weights[4 * k + m];
      const src = (az.start[k] + m) * nxy;
      for (let a = 0; a < d; a++) {
        const from = a * nc + src;
        const to = a * nxy;
        for (let i = 0; i < nxy; i++) zPlane[to + i] += wz * c[from + i];
      }
    }
    for (let j = 0; j < sy; j++) {
      const rowBase = sliceBase + j * sx;
      if (!ay.inside[j]) {
        out.fill(0, rowBase * d, (rowBase + sx) * d);
        continue;
      }
      const sj = ay.start[j];
      const w0 = ay.weights[4 * j];
      const w1 = ay.weights[4 * j + 1];
      const w2 = ay.weights[4 * j + 2];
      const w3 = ay.weights[4 * j + 3];
      for (let a = 0; a < d; a++) {
        const p0 = a * nxy + sj * nx;
        const to = a * nx;
        for (let i = 0; i < nx; i++) {
          row[to + i] = w0 * zPlane[p0 + i] + w1 * zPlane[p0 + nx + i] + w2 * zPlane[p0 + 2 * nx + i] + w3 * zPlane[p0 + 3 * nx + i];
        }
      }
      for (let i = 0; i < sx; i++) {
        const o = (rowBase + i) * d;
        if (!ax.inside[i]) {
          for (let a = 0; a < d; a++) out[o + a] = 0;
          continue;
        }
        const si = ax.start[i];
        const v0 = ax.weights[4 * i];
        const v1 = ax.weights[4 * i + 1];
        const v2 = ax.weights[4 * i + 2];
        const v3 = ax.weights[4 * i + 3];
        for (let a = 0; a < d; a++) {
          const r = a * nx + si;
          out[o + a] = v0 * row[r] + v1 * row[r + 1] + v2 * row[r + 2] + v3 * row[r + 3];
        }
      }
    }
  }
}

/** Fallback for grids whose axes are not parallel to the control grid's. */
function pointwiseField(t: BSplineTransform, grid: GridGeometry, out: Float32Array): void {
  const d = t.dimension;
  const sx = grid.size[0];
  const sy = grid.size[1];
  const sz = d === 3 ? grid.size[2] : 1;
  const step = new Float64Array(d * d);
  for (let r = 0; r < d; r++) for (let c = 0; c < d; c++) step[r * d + c] = grid.direction[r * d + c] * grid.spacing[c];
  const p = new Float64Array(d);
  const q = new Float64Array(d);
  let o = 0;
  for (let k = 0; k < sz; k++) {
    for (let j = 0; j < sy; j++) {
      for (let i = 0; i < sx; i++) {
        for (let r = 0; r < d; r++) {
          let s = grid.origin[r] + step[r * d] * i + step[r * d + 1] * j;
          if (d === 3) s += step[r * d + 2] * k;
          p[r] = s;
        }
        t.transformPoint(p, q);
        for (let r = 0; r < d; r++) out[o++] = q[r] - p[r];
      }
    }
  }
}
