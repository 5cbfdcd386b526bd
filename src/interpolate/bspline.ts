/**
 * Cubic B-spline interpolation (Unser, Aldroubi & Eden 1991; Unser 1999 "Splines: a perfect fit").
 *
 * The samples are first turned into B-spline coefficients by the exact prefilter: per axis, a gain of 6 and one
 * causal and one anticausal first-order recursive filter with pole z = √3 − 2, under mirror (whole-sample
 * symmetric) boundary conditions, s[−k] = s[k] and s[n−1+k] = s[n−1−k]. The causal initial value is the full
 * mirrored sum (not a truncated one), so interpolating the coefficients at integer indices returns the samples
 * to rounding error.
 *
 * Evaluation at a continuous index uses the 4^d neighbourhood floor(ci)−1 … floor(ci)+2, with indices mirrored at
 * the borders. The domain is the same as the other kernels (−0.5 ≤ ci ≤ size − 0.5, else NaN and grad := 0);
 * `grad` receives the analytic gradient in index units.
 */

const POLE = Math.sqrt(3) - 2;
const GAIN = 6;

/** In-place cubic B-spline prefilter of one line c[start + k·stride], k = 0 … n−1. */
function prefilterLine(c: Float64Array, start: number, stride: number, n: number): void {
  if (n < 2) return;
  const z = POLE;
  const last = start + (n - 1) * stride;
  for (let k = 0, p = start; k < n; k++, p += stride) c[p] *= GAIN;

  // Causal initial value with mirror boundaries: c+(0) = Σ_{k=0}^{2n−3} z^k s̃[k] over one mirrored period,
  // summed in closed form over the period (the 1/(1 − z^(2n−2)) factor accounts for all further periods).
  const iz = 1 / z;
  let zn = z;
  let z2n = Math.pow(z, n - 1);
  let sum = c[start] + z2n * c[last];
  z2n *= z2n * iz;
  for (let k = 1, p = start + stride; k <= n - 2; k++, p += stride) {
    sum += (zn + z2n) * c[p];
    zn *= z;
    z2n *= iz;
  }
  c[start] = sum / (1 - zn * zn);

  for (let k = 1, p = start + stride; k < n; k++, p += stride) c[p] += z * c[p - stride];

  // Anticausal initial value with mirror boundaries.
  c[last] = (z / (z * z - 1)) * (z * c[last - stride] + c[last]);
  for (let k = n - 2, p = last - stride; k >= 0; k--, p -= stride) c[p] = z * (c[p + stride] - c[p]);
}

/**
 * Cubic B-spline coefficients of a 2D or 3D scalar plane (x fastest), computed once per image. `size` has 2 or 3
 * entries. `components`/`component` pick one component of an interleaved vector image (default: scalar).
 */
export function bsplineCoefficients(data: ArrayLike<number>, size: readonly number[], components = 1, component = 0): Float64Array {
  let count = 1;
  for (const s of size) count *= s;
  const c = new Float64Array(count);
  for (let i = 0, p = component; i < count; i++, p += components) c[i] = data[p];
  let stride = 1;
  for (let axis = 0; axis < size.length; axis++) {
    const n = size[axis];
    const lines = count / n;
    // Each line along `axis` starts at an index whose `axis` coordinate is 0.
    for (let l = 0; l < lines; l++) {
      const low = l % stride;
      const high = (l - low) / stride;
      prefilterLine(c, low + high * stride * n, stride, n);
    }
    stride *= n;
  }
  return c;
}

/** Mirror an integer index into 0 … n−1 (whole-sample symmetric extension). */
function mirror(k: number, n: number): number {
  if (k >= 0 && k < n) return k;
  if (n === 1) return 0;
  const period = 2 * n - 2;
  let m = k % period;
  if (m < 0) m += period;
  return m < n ? m : period - m;
}

// Per-call scratch (module level so that evaluation never allocates; JS runs one call at a time per realm).
const wx = new Float64Array(4);
const wy = new Float64Array(4);
const wz = new Float64Array(4);
const dx = new Float64Array(4);
const dy = new Float64Array(4);
const dz = new Float64Array(4);
const ix = new Int32Array(4);
const iy = new Int32Array(4);
const iz = new Int32Array(4);

/** Cubic B-spline weights (and their derivatives) for the 4 neighbours floor−1 … floor+2 at fraction t. */
function weights(t: number, w: Float64Array, d: Float64Array): void {
  const s = 1 - t;
  const t2 = t * t;
  const t3 = t2 * t;
  w[0] = (s * s * s) / 6;
  w[1] = (4 - 6 * t2 + 3 * t3) / 6;
  w[2] = (1 + 3 * t + 3 * t2 - 3 * t3) / 6;
  w[3] = t3 / 6;
  d[0] = -0.5 * s * s;
  d[1] = -2 * t + 1.5 * t2;
  d[2] = 0.5 + t - 1.5 * t2;
  d[3] = 0.5 * t2;
}

function indices(f: number, n: number, out: Int32Array): void {
  if (f >= 1 && f + 2 < n) {
    out[0] = f - 1;
    out[1] = f;
    out[2] = f + 1;
    out[3] = f + 2;
  } else {
    out[0] = mirror(f - 1, n);
    out[1] = mirror(f, n);
    out[2] = mirror(f + 1, n);
    out[3] = mirror(f + 2, n);
  }
}

/** Cubic B-spline value at continuous index (x, y) from coefficients of an nx×ny image. */
export function bspline2d(coef: Float64Array, nx: number, ny: number, x: number, y: number, grad?: Float64Array): number {
  if (!(x >= -0.5 && x <= nx - 0.5 && y >= -0.5 && y <= ny - 0.5)) {
    if (grad) {
      grad[0] = 0;
      grad[1] = 0;
    }
    return NaN;
  }
  const fx = Math.floor(x);
  const fy = Math.floor(y);
  weights(x - fx, wx, dx);
  weights(y - fy, wy, dy);
  indices(fx, nx, ix);
  indices(fy, ny, iy);
  let v = 0;
  let gx = 0;
  let gy = 0;
  for (let b = 0; b < 4; b++) {
    const row = iy[b] * nx;
    let sv = 0;
    let sd = 0;
    for (let a = 0; a < 4; a++) {
      const c = coef[row + ix[a]];
      sv += wx[a] * c;
      sd += dx[a] * c;
    }
    v += wy[b] * sv;
    gx += wy[b] * sd;
    gy += dy[b] * sv;
  }
  if (grad) {
    grad[0] = gx;
    grad[1] = gy;
  }
  return v;
}

/** Cubic B-spline value at continuous index (x, y, z) from coefficients of an nx×ny×nz image. */
export function bspline3d(coef: Float64Array, nx: number, ny: number, nz: number, x: number, y: number, z: number, grad?: Float64Array): number {
  if (!(x >= -0.5 && x <= nx - 0.5 && y >= -0.5 && y <= ny - 0.5 && z >= -0.5 && z <= nz - 0.5)) {
    if (grad) {
      grad[0] = 0;
      grad[1] = 0;
      grad[2] = 0;
    }
    return NaN;
  }
  const fx = Math.floor(x);
  const fy = Math.floor(y);
  const fz = Math.floor(z);
  weights(x - fx, wx, dx);
  weights(y - fy, wy, dy);
  weights(z - fz, wz, dz);
  indices(fx, nx, ix);
  indices(fy, ny, iy);
  indices(fz, nz, iz);
  const nxy = nx * ny;
  let v = 0;
  let gx = 0;
  let gy = 0;
  let gz = 0;
  for (let c3 = 0; c3 < 4; c3++) {
    const slice = iz[c3] * nxy;
    // Partial sums over x and y for this slice: value, ∂x, ∂y.
    let pv = 0;
    let px = 0;
    let py = 0;
    for (let b = 0; b < 4; b++) {
      const row = slice + iy[b] * nx;
      let sv = 0;
      let sd = 0;
      for (let a = 0; a < 4; a++) {
        const c = coef[row + ix[a]];
        sv += wx[a] * c;
        sd += dx[a] * c;
      }
      pv += wy[b] * sv;
      px += wy[b] * sd;
      py += dy[b] * sv;
    }
    v += wz[c3] * pv;
    gx += wz[c3] * px;
    gy += wz[c3] * py;
    gz += dz[c3] * pv;
  }
  if (grad) {
    grad[0] = gx;
    grad[1] = gy;
    grad[2] = gz;
  }
  return v;
}
