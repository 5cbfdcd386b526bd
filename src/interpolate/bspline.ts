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
 * The same filter as `prefilterLine`, run on all lines along one axis of a block at once: line x of the block is
 * c[base + x + k·stride], k = 0 … n−1, x = 0 … stride−1. Sweeping whole rows keeps memory access contiguous for
 * the y and z axes (a line-by-line sweep would touch one cache line per sample). `sum` has ≥ stride entries.
 */
function prefilterBlock(c: Float64Array, base: number, stride: number, n: number, sum: Float64Array): void {
  if (n < 2) return;
  const z = POLE;
  const end = base + n * stride;
  for (let p = base; p < end; p++) c[p] *= GAIN;

  const last = base + (n - 1) * stride;
  const iz = 1 / z;
  let zn = z;
  let z2n = Math.pow(z, n - 1);
  for (let x = 0; x < stride; x++) sum[x] = c[base + x] + z2n * c[last + x];
  z2n *= z2n * iz;
  for (let k = 1; k <= n - 2; k++) {
    const w = zn + z2n;
    const row = base + k * stride;
    for (let x = 0; x < stride; x++) sum[x] += w * c[row + x];
    zn *= z;
    z2n *= iz;
  }
  const norm = 1 / (1 - zn * zn);
  for (let x = 0; x < stride; x++) c[base + x] = sum[x] * norm;

  for (let row = base + stride; row < end; row += stride) {
    for (let x = 0; x < stride; x++) c[row + x] += z * c[row - stride + x];
  }
  const f = z / (z * z - 1);
  for (let x = 0; x < stride; x++) c[last + x] = f * (z * c[last - stride + x] + c[last + x]);
  for (let row = last - stride; row >= base; row -= stride) {
    for (let x = 0; x < stride; x++) c[row + x] = z * (c[row + stride + x] - c[row + x]);
  }
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
  const nx = size[0];
  for (let start = 0; start < count; start += nx) prefilterLine(c, start, 1, nx);
  let stride = nx;
  for (let axis = 1; axis < size.length; axis++) {
    const n = size[axis];
    const sum = new Float64Array(stride);
    for (let base = 0; base < count; base += stride * n) prefilterBlock(c, base, stride, n, sum);
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

// The evaluators below keep weights and indices in local variables: V8 keeps those in registers, whereas
// module-level scratch arrays made evaluation about three times slower.

/** Σ_a w_a·coef[r + i_a] over the 4 x-neighbours of one row. */
function dot4(coef: Float64Array, r: number, i0: number, i1: number, i2: number, i3: number, w0: number, w1: number, w2: number, w3: number): number {
  return w0 * coef[r + i0] + w1 * coef[r + i1] + w2 * coef[r + i2] + w3 * coef[r + i3];
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
  // Weights of neighbours floor−1 … floor+2: (1−t)³/6, (4 − 6t² + 3t³)/6, (1 + 3t + 3t² − 3t³)/6, t³/6.
  let t = x - fx;
  let s = 1 - t;
  let t2 = t * t;
  let t3 = t2 * t;
  const wx0 = (s * s * s) / 6;
  const wx1 = (4 - 6 * t2 + 3 * t3) / 6;
  const wx2 = (1 + 3 * t + 3 * t2 - 3 * t3) / 6;
  const wx3 = t3 / 6;
  const dx0 = -0.5 * s * s;
  const dx1 = -2 * t + 1.5 * t2;
  const dx2 = 0.5 + t - 1.5 * t2;
  const dx3 = 0.5 * t2;
  t = y - fy;
  s = 1 - t;
  t2 = t * t;
  t3 = t2 * t;
  const wy0 = (s * s * s) / 6;
  const wy1 = (4 - 6 * t2 + 3 * t3) / 6;
  const wy2 = (1 + 3 * t + 3 * t2 - 3 * t3) / 6;
  const wy3 = t3 / 6;
  let i0 = fx - 1;
  let i1 = fx;
  let i2 = fx + 1;
  let i3 = fx + 2;
  if (i0 < 0 || i3 >= nx) {
    i0 = mirror(i0, nx);
    i1 = mirror(i1, nx);
    i2 = mirror(i2, nx);
    i3 = mirror(i3, nx);
  }
  let j0 = fy - 1;
  let j1 = fy;
  let j2 = fy + 1;
  let j3 = fy + 2;
  if (j0 < 0 || j3 >= ny) {
    j0 = mirror(j0, ny);
    j1 = mirror(j1, ny);
    j2 = mirror(j2, ny);
    j3 = mirror(j3, ny);
  }
  const r0 = j0 * nx;
  const r1 = j1 * nx;
  const r2 = j2 * nx;
  const r3 = j3 * nx;
  const v0 = dot4(coef, r0, i0, i1, i2, i3, wx0, wx1, wx2, wx3);
  const v1 = dot4(coef, r1, i0, i1, i2, i3, wx0, wx1, wx2, wx3);
  const v2 = dot4(coef, r2, i0, i1, i2, i3, wx0, wx1, wx2, wx3);
  const v3 = dot4(coef, r3, i0, i1, i2, i3, wx0, wx1, wx2, wx3);
  if (grad) {
    const d0 = dot4(coef, r0, i0, i1, i2, i3, dx0, dx1, dx2, dx3);
    const d1 = dot4(coef, r1, i0, i1, i2, i3, dx0, dx1, dx2, dx3);
    const d2 = dot4(coef, r2, i0, i1, i2, i3, dx0, dx1, dx2, dx3);
    const d3 = dot4(coef, r3, i0, i1, i2, i3, dx0, dx1, dx2, dx3);
    t = y - fy;
    s = 1 - t;
    t2 = t * t;
    grad[0] = wy0 * d0 + wy1 * d1 + wy2 * d2 + wy3 * d3;
    grad[1] = -0.5 * s * s * v0 + (-2 * t + 1.5 * t2) * v1 + (0.5 + t - 1.5 * t2) * v2 + 0.5 * t2 * v3;
  }
  return wy0 * v0 + wy1 * v1 + wy2 * v2 + wy3 * v3;
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
  let t = x - fx;
  let s = 1 - t;
  let t2 = t * t;
  let t3 = t2 * t;
  const wx0 = (s * s * s) / 6;
  const wx1 = (4 - 6 * t2 + 3 * t3) / 6;
  const wx2 = (1 + 3 * t + 3 * t2 - 3 * t3) / 6;
  const wx3 = t3 / 6;
  const dx0 = -0.5 * s * s;
  const dx1 = -2 * t + 1.5 * t2;
  const dx2 = 0.5 + t - 1.5 * t2;
  const dx3 = 0.5 * t2;
  t = y - fy;
  s = 1 - t;
  t2 = t * t;
  t3 = t2 * t;
  const wy0 = (s * s * s) / 6;
  const wy1 = (4 - 6 * t2 + 3 * t3) / 6;
  const wy2 = (1 + 3 * t + 3 * t2 - 3 * t3) / 6;
  const wy3 = t3 / 6;
  const dy0 = -0.5 * s * s;
  const dy1 = -2 * t + 1.5 * t2;
  const dy2 = 0.5 + t - 1.5 * t2;
  const dy3 = 0.5 * t2;
  t = z - fz;
  s = 1 - t;
  t2 = t * t;
  t3 = t2 * t;
  const wz0 = (s * s * s) / 6;
  const wz1 = (4 - 6 * t2 + 3 * t3) / 6;
  const wz2 = (1 + 3 * t + 3 * t2 - 3 * t3) / 6;
  const wz3 = t3 / 6;
  const dz0 = -0.5 * s * s;
  const dz1 = -2 * t + 1.5 * t2;
  const dz2 = 0.5 + t - 1.5 * t2;
  const dz3 = 0.5 * t2;
  let i0 = fx - 1;
  let i1 = fx;
  let i2 = fx + 1;
  let i3 = fx + 2;
  if (i0 < 0 || i3 >= nx) {
    i0 = mirror(i0, nx);
    i1 = mirror(i1, nx);
    i2 = mirror(i2, nx);
    i3 = mirror(i3, nx);
  }
  let j0 = fy - 1;
  let j1 = fy;
  let j2 = fy + 1;
  let j3 = fy + 2;
  if (j0 < 0 || j3 >= ny) {
    j0 = mirror(j0, ny);
    j1 = mirror(j1, ny);
    j2 = mirror(j2, ny);
    j3 = mirror(j3, ny);
  }
  let k0 = fz - 1;
  let k1 = fz;
  let k2 = fz + 1;
  let k3 = fz + 2;
  if (k0 < 0 || k3 >= nz) {
    k0 = mirror(k0, nz);
    k1 = mirror(k1, nz);
    k2 = mirror(k2, nz);
    k3 = mirror(k3, nz);
  }
  const nxy = nx * ny;
  j0 *= nx;
  j1 *= nx;
  j2 *= nx;
  j3 *= nx;
  let v = 0;
  if (!grad) {
    for (let c = 0; c < 4; c++) {
      const slice = (c === 0 ? k0 : c === 1 ? k1 : c === 2 ? k2 : k3) * nxy;
      const wz = c === 0 ? wz0 : c === 1 ? wz1 : c === 2 ? wz2 : wz3;
      v +=
        wz *
        (wy0 * dot4(coef, slice + j0, i0, i1, i2, i3, wx0, wx1, wx2, wx3) +
          wy1 * dot4(coef, slice + j1, i0, i1, i2, i3, wx0, wx1, wx2, wx3) +
          wy2 * dot4(coef, slice + j2, i0, i1, i2, i3, wx0, wx1, wx2, wx3) +
          wy3 * dot4(coef, slice + j3, i0, i1, i2, i3, wx0, wx1, wx2, wx3));
    }
    return v;
  }
  let gx = 0;
  let gy = 0;
  let gz = 0;
  for (let c = 0; c < 4; c++) {
    const slice = (c === 0 ? k0 : c === 1 ? k1 : c === 2 ? k2 : k3) * nxy;
    const wz = c === 0 ? wz0 : c === 1 ? wz1 : c === 2 ? wz2 : wz3;
    // Each row's 4 coefficients are read once for both its value and its x derivative (same sums as dot4).
    let r = slice + j0;
    let a0 = coef[r + i0];
    let a1 = coef[r + i1];
    let a2 = coef[r + i2];
    let a3 = coef[r + i3];
    const v0 = wx0 * a0 + wx1 * a1 + wx2 * a2 + wx3 * a3;
    const d0 = dx0 * a0 + dx1 * a1 + dx2 * a2 + dx3 * a3;
    r = slice + j1;
    a0 = coef[r + i0];
    a1 = coef[r + i1];
    a2 = coef[r + i2];
    a3 = coef[r + i3];
    const v1 = wx0 * a0 + wx1 * a1 + wx2 * a2 + wx3 * a3;
    const d1 = dx0 * a0 + dx1 * a1 + dx2 * a2 + dx3 * a3;
    r = slice + j2;
    a0 = coef[r + i0];
    a1 = coef[r + i1];
    a2 = coef[r + i2];
    a3 = coef[r + i3];
    const v2 = wx0 * a0 + wx1 * a1 + wx2 * a2 + wx3 * a3;
    const d2 = dx0 * a0 + dx1 * a1 + dx2 * a2 + dx3 * a3;
    r = slice + j3;
    a0 = coef[r + i0];
    a1 = coef[r + i1];
    a2 = coef[r + i2];
    a3 = coef[r + i3];
    const v3 = wx0 * a0 + wx1 * a1 + wx2 * a2 + wx3 * a3;
    const d3 = dx0 * a0 + dx1 * a1 + dx2 * a2 + dx3 * a3;
    const pv = wy0 * v0 + wy1 * v1 + wy2 * v2 + wy3 * v3;
    v += wz * pv;
    gx += wz * (wy0 * d0 + wy1 * d1 + wy2 * d2 + wy3 * d3);
    gy += wz * (dy0 * v0 + dy1 * v1 + dy2 * v2 + dy3 * v3);
    gz += (c === 0 ? dz0 : c === 1 ? dz1 : c === 2 ? dz2 : dz3) * pv;
  }
  grad[0] = gx;
  grad[1] = gy;
  grad[2] = gz;
  return v;
}
