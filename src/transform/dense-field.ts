/**
 * Dense displacement fields on a grid, for deformable registration.
 *
 * A field u is a Float32Array of n·d values (d components interleaved per voxel, voxels x-fastest) holding a
 * displacement in LPS mm at every voxel centre of `grid`; as a map it is x ↦ x + u(x). Between voxel centres u
 * is (bi/tri)linear; beyond the outermost voxel centres it extends as the nearest edge value (coordinates are
 * clamped onto the grid). That differs from DisplacementFieldTransform only outside the grid's pixel-edge box,
 * where the transform's displacement is 0; registration keeps field borders at 0, so the two agree there too.
 *
 * Every function here works in physical space: displacements are converted to continuous-index offsets with the
 * grid's physical → index matrix, so spacing and direction are honoured. Smoothing sigmas are in VOXELS of the
 * field's grid (ANTs' convention for SyN's update and total fields).
 */
import { CoregError } from '../errors.js';
import { indexToPhysicalMatrix, numberOfPixels, physicalToIndexMatrix, type Image } from '../image/image.js';
import { gaussianKernel } from '../pyramid/index.js';
import { DisplacementFieldTransform } from './displacement-field.js';
import type { GridLike } from '../image/image.js';

/** Checks that `u` has d values per voxel of `grid`; returns the voxel count. */
export function checkField(u: Float32Array, grid: GridLike, subject = 'displacement field'): number {
  const n = numberOfPixels(grid);
  if (u.length !== n * grid.dimension) {
    throw new CoregError(subject, `has ${u.length} values, expected ${n * grid.dimension} (${grid.dimension} per voxel of a [${grid.size}] grid)`);
  }
  return n;
}

/** A zero field (the identity map) on `grid`. */
export function createField(grid: GridLike): Float32Array {
  return new Float32Array(numberOfPixels(grid) * grid.dimension);
}

/** Row-major d×d matrix as an array of 9 numbers (2D matrices padded), for the monomorphic 3D loops. */
function padded3(m: ArrayLike<number>, d: number): Float64Array {
  const out = new Float64Array(9);
  for (let r = 0; r < d; r++) for (let c = 0; c < d; c++) out[r * 3 + c] = m[r * d + c];
  return out;
}

// --- interpolation of interleaved fields (clamped onto the grid) ---------------------------------------

/** out ← u at continuous index (x, y) of an nx×ny grid, 2 components, coordinates clamped to [0, n − 1]. */
export function sampleField2d(u: Float32Array, nx: number, ny: number, x: number, y: number, out: Float64Array): void {
  // `!(x > 0)` also catches NaN, which then reads the edge instead of poisoning the result.
  if (!(x > 0)) x = 0;
  else if (x > nx - 1) x = nx - 1;
  if (!(y > 0)) y = 0;
  else if (y > ny - 1) y = ny - 1;
  const x0 = Math.floor(x);
  const y0 = Math.floor(y);
  const fx = x - x0;
  const fy = y - y0;
  const ox = x0 < nx - 1 ? 2 : 0;
  const oy = y0 < ny - 1 ? 2 * nx : 0;
  const b = 2 * (x0 + nx * y0);
  const w00 = (1 - fx) * (1 - fy);
  const w10 = fx * (1 - fy);
  const w01 = (1 - fx) * fy;
  const w11 = fx * fy;
  out[0] = w00 * u[b] + w10 * u[b + ox] + w01 * u[b + oy] + w11 * u[b + ox + oy];
  out[1] = w00 * u[b + 1] + w10 * u[b + ox + 1] + w01 * u[b + oy + 1] + w11 * u[b + ox + oy + 1];
}

/** out ← u at continuous index (x, y, z) of an nx×ny×nz grid, 3 components, coordinates clamped to [0, n − 1]. */
export function sampleField3d(u: Float32Array, nx: number, ny: number, nz: number, x: number, y: number, z: number, out: Float64Array): void {
  if (!(x > 0)) x = 0;
  else if (x > nx - 1) x = nx - 1;
  if (!(y > 0)) y = 0;
  else if (y > ny - 1) y = ny - 1;
  if (!(z > 0)) z = 0;
  else if (z > nz - 1) z = nz - 1;
  const x0 = Math.floor(x);
  const y0 = Math.floor(y);
  const z0 = Math.floor(z);
  const fx = x - x0;
  const fy = y - y0;
  const fz = z - z0;
  const ox = x0 < nx - 1 ? 3 : 0;
  const oy = y0 < ny - 1 ? 3 * nx : 0;
  const oz = z0 < nz - 1 ? 3 * nx * ny : 0;
  const b = 3 * (x0 + nx * (y0 + ny * z0));
  const gx = 1 - fx;
  const gy = 1 - fy;
  const gz = 1 - fz;
  const w000 = gx * gy * gz;
  const w100 = fx * gy * gz;
  const w010 = gx * fy * gz;
  const w110 = fx * fy * gz;
  const w001 = gx * gy * fz;
  const w101 = fx * gy * fz;
  const w011 = gx * fy * fz;
  const w111 = fx * fy * fz;
  for (let c = 0; c < 3; c++) {
    const p = b + c;
    out[c] =
      w000 * u[p] +
      w100 * u[p + ox] +
      w010 * u[p + oy] +
      w110 * u[p + ox + oy] +
      w001 * u[p + oz] +
      w101 * u[p + ox + oz] +
      w011 * u[p + oy + oz] +
      w111 * u[p + ox + oy + oz];
  }
}

// --- composition ---------------------------------------------------------------------------------------

/**
 * The composition of the maps (x ↦ x + v(x)) then (y ↦ y + u(y)) on one grid: w(x) = v(x) + u(x + v(x)),
 * with u interpolated linearly (clamped onto the grid). Writes w into `out` (a new field by default), which may
 * be `v` itself but not `u`.
 */
export function composeFields(u: Float32Array, v: Float32Array, grid: GridLike, out: Float32Array = new Float32Array(v.length)): Float32Array {
  checkField(u, grid, 'composeFields: u');
  checkField(v, grid, 'composeFields: v');
  checkField(out, grid, 'composeFields: out');
  if (out === u) throw new Error('composeFields: out must not be u (u is read at other voxels)');
  const n = padded3(physicalToIndexMatrix(grid), grid.dimension);
  if (grid.dimension === 2) compose2d(u, v, grid.size[0], grid.size[1], n, out);
  else compose3d(u, v, grid.size[0], grid.size[1], grid.size[2], n, out);
  return out;
}

function compose2d(u: Float32Array, v: Float32Array, nx: number, ny: number, n: Float64Array, out: Float32Array): void {
  const n00 = n[0], n01 = n[1], n10 = n[3], n11 = n[4];
  const s = new Float64Array(2);
  let p = 0;
  for (let j = 0; j < ny; j++) {
    for (let i = 0; i < nx; i++, p += 2) {
      const v0 = v[p];
      const v1 = v[p + 1];
      sampleField2d(u, nx, ny, i + n00 * v0 + n01 * v1, j + n10 * v0 + n11 * v1, s);
      out[p] = v0 + s[0];
      out[p + 1] = v1 + s[1];
    }
  }
}

function compose3d(u: Float32Array, v: Float32Array, nx: number, ny: number, nz: number, n: Float64Array, out: Float32Array): void {
  const s = new Float64Array(3);
  let p = 0;
  for (let k = 0; k < nz; k++) {
    for (let j = 0; j < ny; j++) {
      for (let i = 0; i < nx; i++, p += 3) {
        const v0 = v[p];
        const v1 = v[p + 1];
        const v2 = v[p + 2];
        sampleField3d(
          u,
          nx,
          ny,
          nz,
          i + n[0] * v0 + n[1] * v1 + n[2] * v2,
          j + n[3] * v0 + n[4] * v1 + n[5] * v2,
          k + n[6] * v0 + n[7] * v1 + n[8] * v2,
          s,
        );
        out[p] = v0 + s[0];
        out[p + 1] = v1 + s[1];
        out[p + 2] = v2 + s[2];
      }
    }
  }
}

// --- norms, scaling, borders ---------------------------------------------------------------------------

/** Largest displacement in voxels of the grid: max over voxels of |N·u(x)| (N = physical → index matrix). */
export function maxDisplacementVoxels(u: Float32Array, grid: GridLike): number {
  const total = checkField(u, grid);
  const d = grid.dimension;
  const n = padded3(physicalToIndexMatrix(grid), d);
  let max2 = 0;
  if (d === 2) {
    for (let p = 0; p < 2 * total; p += 2) {
      const a = n[0] * u[p] + n[1] * u[p + 1];
      const b = n[3] * u[p] + n[4] * u[p + 1];
      const s = a * a + b * b;
      if (s > max2) max2 = s;
    }
  } else {
    for (let p = 0; p < 3 * total; p += 3) {
      const a = n[0] * u[p] + n[1] * u[p + 1] + n[2] * u[p + 2];
      const b = n[3] * u[p] + n[4] * u[p + 1] + n[5] * u[p + 2];
      const c = n[6] * u[p] + n[7] * u[p + 1] + n[8] * u[p + 2];
      const s = a * a + b * b + c * c;
      if (s > max2) max2 = s;
    }
  }
  return Math.sqrt(max2);
}

/** u ← factor·u, in place. */
export function scaleField(u: Float32Array, factor: number): void {
  for (let i = 0; i < u.length; i++) u[i] *= factor;
}

/** Sets the displacement of every voxel on the grid's outer faces to 0, in place (the domain border stays put). */
export function zeroFieldBorder(u: Float32Array, grid: GridLike): void {
  checkField(u, grid);
  const d = grid.dimension;
  const nx = grid.size[0];
  const ny = grid.size[1];
  const nz = d === 3 ? grid.size[2] : 1;
  let p = 0;
  for (let k = 0; k < nz; k++) {
    const kEdge = d === 3 && (k === 0 || k === nz - 1);
    for (let j = 0; j < ny; j++) {
      const jEdge = kEdge || j === 0 || j === ny - 1;
      for (let i = 0; i < nx; i++, p += d) {
        if (jEdge || i === 0 || i === nx - 1) for (let c = 0; c < d; c++) u[p + c] = 0;
      }
    }
  }
}

// --- Gaussian smoothing --------------------------------------------------------------------------------

/** Index along a line of `length` for each extended position e − radius, mirrored about the pixel edges. */
function mirrorTable(length: number, radius: number): Int32Array {
  const table = new Int32Array(length + 2 * radius);
  const period = 2 * length;
  for (let e = 0; e < table.length; e++) {
    let m = (e - radius) % period;
    if (m < 0) m += period;
    table[e] = m >= length ? period - 1 - m : m;
  }
  return table;
}

/** Lines gathered and filtered together along x, so that each line's components sit in contiguous runs. */
const SMOOTH_LINES = 32;
/** Values per row chunk along the strided axes (y, z): the chunk's extended column stays in L2 cache. */
const SMOOTH_CHUNK = 256;

/**
 * Gaussian smoothing of every component of the field, in place: σ in VOXELS of the grid (one number for all
 * axes or one per axis; 0 leaves an axis alone). Normalised sampled kernel truncated at ⌈4σ⌉, edges mirrored.
 * Allocates only line buffers (a few hundred kB), never a second field.
 */
export function smoothField(u: Float32Array, grid: GridLike, sigmaVoxels: number | readonly number[]): void {
  const total = checkField(u, grid);
  const d = grid.dimension;
  const sigmas = typeof sigmaVoxels === 'number' ? new Array<number>(d).fill(sigmaVoxels) : Array.from(sigmaVoxels);
  if (sigmas.length !== d || sigmas.some((s) => !(Number.isFinite(s) && s >= 0))) {
    throw new CoregError('sigma', `field smoothing needs 1 or ${d} finite sigmas ≥ 0 (voxels), got [${sigmas}]`);
  }
  let stride = 1;
  for (let a = 0; a < d; a++) {
    const length = grid.size[a];
    if (sigmas[a] > 0 && length > 1) {
      const kernel = gaussianKernel(sigmas[a]);
      const mirror = mirrorTable(length, (kernel.length - 1) >> 1);
      if (stride === 1) {
        const extended = new Float64Array(mirror.length * SMOOTH_LINES * d);
        const starts = new Int32Array(SMOOTH_LINES);
        convolveFieldAxis(u, total, length, stride, d, kernel, mirror, extended, starts);
      } else {
        const extended = new Float32Array(mirror.length * SMOOTH_CHUNK);
        const sums = new Float64Array(SMOOTH_CHUNK);
        convolveFieldRows(u, total * d, length, stride * d, kernel, mirror, extended, sums);
      }
    }
    stride *= length;
  }
}

/**
 * Convolves every line along one axis in place. Line q (of total/length) starts at pixel
 * ⌊q/stride⌋·stride·length + q mod stride and steps by `stride` pixels. SMOOTH_LINES lines at a time are gathered
 * (consecutive lines are neighbours in memory along strided axes), each component of each line into its own
 * contiguous run of `extended`, then every output sample is one register sum over the symmetric kernel.
 */
function convolveFieldAxis(
  u: Float32Array,
  total: number,
  length: number,
  stride: number,
  d: number,
  kernel: Float64Array,
  mirror: Int32Array,
  extended: Float64Array,
  starts: Int32Array,
): void {
  const radius = (kernel.length - 1) >> 1;
  const centre = kernel[radius];
  const extendedLength = mirror.length;
  const lineCount = total / length;
  for (let q0 = 0; q0 < lineCount; q0 += SMOOTH_LINES) {
    const lines = Math.min(SMOOTH_LINES, lineCount - q0);
    for (let l = 0; l < lines; l++) {
      const q = q0 + l;
      const block = Math.floor(q / stride);
      starts[l] = block * stride * length + (q - block * stride);
    }
    for (let e = 0; e < extendedLength; e++) {
      const offset = mirror[e] * stride;
      for (let l = 0; l < lines; l++) {
        const src = (starts[l] + offset) * d;
        for (let c = 0; c < d; c++) extended[(l * d + c) * extendedLength + e] = u[src + c];
      }
    }
    for (let l = 0; l < lines; l++) {
      for (let c = 0; c < d; c++) {
        const run = (l * d + c) * extendedLength;
        let dst = starts[l] * d + c;
        const step = stride * d;
        for (let t = 0; t < length; t++, dst += step) {
          // extended position t + radius is sample t; taps k and 2r − k share a weight
          const at = run + t;
          let sum = centre * extended[at + radius];
          for (let k = 0; k < radius; k++) sum += kernel[k] * (extended[at + k] + extended[at + 2 * radius - k]);
          u[dst] = sum;
        }
      }
    }
  }
}

/**
 * Convolves along a strided axis in place, treating the `rowLength` contiguous values between two steps along
 * the axis as one row: for each block of `length` rows and each chunk of SMOOTH_CHUNK columns, the chunk's
 * mirrored column is gathered into `extended` (row e at e·SMOOTH_CHUNK), and each output row is a weighted sum of
 * extended rows, accumulated column-wise in `sums` so that every inner loop runs over contiguous memory.
 */
function convolveFieldRows(
  u: Float32Array,
  values: number,
  length: number,
  rowLength: number,
  kernel: Float64Array,
  mirror: Int32Array,
  extended: Float32Array,
  sums: Float64Array,
): void {
  const radius = (kernel.length - 1) >> 1;
  const centre = kernel[radius];
  const extendedLength = mirror.length;
  const blockLength = length * rowLength;
  for (let block = 0; block < values; block += blockLength) {
    for (let col = 0; col < rowLength; col += SMOOTH_CHUNK) {
      const width = Math.min(SMOOTH_CHUNK, rowLength - col);
      const first = block + col;
      for (let e = 0; e < extendedLength; e++) {
        const src = first + mirror[e] * rowLength;
        const dst = e * SMOOTH_CHUNK;
        for (let j = 0; j < width; j++) extended[dst + j] = u[src + j];
      }
      for (let t = 0; t < length; t++) {
        const mid = (t + radius) * SMOOTH_CHUNK;
        for (let j = 0; j < width; j++) sums[j] = centre * extended[mid + j];
        for (let k = 0; k < radius; k++) {
          const w = kernel[k];
          const lo = (t + k) * SMOOTH_CHUNK;
          const hi = (t + 2 * radius - k) * SMOOTH_CHUNK;
          for (let j = 0; j < width; j++) sums[j] += w * (extended[lo + j] + extended[hi + j]);
        }
        const out = first + t * rowLength;
        for (let j = 0; j < width; j++) u[out + j] = sums[j];
      }
    }
  }
}

// --- exponentiation of a stationary velocity -----------------------------------------------------------

export interface ExponentiateOptions {
  /** Halve the velocity until its largest displacement is at most this many voxels (default 0.125). */
  maxScaledVoxels?: number;
}

/**
 * exp(v) of a stationary velocity field by scaling and squaring: u₀ = v / 2^K with K the smallest integer making
 * max|u₀| ≤ maxScaledVoxels voxels, then K times u ← u∘u (composeFields). Returns the displacement of the
 * flow's time-1 map and K. The first-order start u₀ ≈ exp(v/2^K) − id costs an error of about |∇v|²·|x|/2^(K+1).
 */
export function exponentiateVelocity(v: Float32Array, grid: GridLike, options: ExponentiateOptions = {}): { field: Float32Array; squarings: number } {
  checkField(v, grid, 'velocity field');
  const target = options.maxScaledVoxels ?? 0.125;
  if (!(Number.isFinite(target) && target > 0)) throw new CoregError('maxScaledVoxels', `must be finite and > 0, got ${target}`);
  const max = maxDisplacementVoxels(v, grid);
  let squarings = 0;
  while (max / 2 ** squarings > target && squarings < 40) squarings++;
  let a = Float32Array.from(v);
  scaleField(a, 1 / 2 ** squarings);
  let b = new Float32Array(v.length);
  for (let s = 0; s < squarings; s++) {
    composeFields(a, a, grid, b);
    const t = a;
    a = b;
    b = t;
  }
  return { field: a, squarings };
}

// --- inversion -----------------------------------------------------------------------------------------

export interface InvertOptions {
  /** Most fixed-point steps per voxel (default 50). */
  maxIterations?: number;
  /** A voxel is done when its residual |v(x) + u(x + v(x))| ≤ tolerance mm (default 0.001 × smallest spacing). */
  tolerance?: number;
  /** Starting guess for v (default −u); may be the output array itself (warm start). */
  initial?: Float32Array;
}

export interface InversionResult {
  /** The inverse displacement v, on the same grid: (x ↦ x + v(x)) undoes (y ↦ y + u(y)). */
  field: Float32Array;
  /** Largest and mean residual |v(x) + u(x + v(x))| (mm) of the returned field over all voxels. */
  maxResidual: number;
  meanResidual: number;
  /** Most fixed-point steps any voxel needed. */
  iterations: number;
  /** Voxels that did not reach the tolerance. */
  unconverged: number;
}

/**
 * Inverse of the map y ↦ y + u(y) on the same grid, by the fixed-point iteration of Chen et al. (2008):
 * v(x) ← −u(x + v(x)), i.e. v ← v − r with the residual r = v + u(x + v). Each voxel's equation involves only its
 * own v(x), so voxels iterate independently until their residual is within tolerance. A step that does not
 * lower the residual (|∇u| near or above 1, where the plain iteration oscillates or diverges) is retried from
 * the best iterate with half the length, so a voxel's residual never grows. The residuals reported are those of
 * the returned field, measured exactly.
 */
export function invertField(u: Float32Array, grid: GridLike, options: InvertOptions = {}, out: Float32Array = new Float32Array(u.length)): InversionResult {
  const total = checkField(u, grid, 'invertField: u');
  checkField(out, grid, 'invertField: out');
  if (out === u) throw new Error('invertField: out must not be u');
  const maxIterations = options.maxIterations ?? 50;
  const tolerance = options.tolerance ?? 1e-3 * Math.min(...grid.spacing);
  if (!(Number.isInteger(maxIterations) && maxIterations >= 0)) throw new CoregError('maxIterations', `must be an integer ≥ 0, got ${maxIterations}`);
  if (!(Number.isFinite(tolerance) && tolerance >= 0)) throw new CoregError('tolerance', `must be finite and ≥ 0, got ${tolerance}`);
  if (options.initial) {
    checkField(options.initial, grid, 'invertField: initial');
    if (options.initial !== out) out.set(options.initial);
  } else {
    for (let i = 0; i < u.length; i++) out[i] = -u[i];
  }
  const n = padded3(physicalToIndexMatrix(grid), grid.dimension);
  const stats = new Float64Array(3); // max residual, sum of residuals, most iterations
  const unconverged =
    grid.dimension === 2
      ? invert2d(u, out, grid.size[0], grid.size[1], n, maxIterations, tolerance, stats)
      : invert3d(u, out, grid.size[0], grid.size[1], grid.size[2], n, maxIterations, tolerance, stats);
  return { field: out, maxResidual: stats[0], meanResidual: stats[1] / total, iterations: stats[2], unconverged };
}

function invert2d(u: Float32Array, v: Float32Array, nx: number, ny: number, n: Float64Array, maxIterations: number, tolerance: number, stats: Float64Array): number {
  const n00 = n[0], n01 = n[1], n10 = n[3], n11 = n[4];
  const s = new Float64Array(2);
  let unconverged = 0;
  let p = 0;
  for (let j = 0; j < ny; j++) {
    for (let i = 0; i < nx; i++, p += 2) {
      // best iterate so far (b) and its residual (br); a step that does not improve on it is retried halved
      let b0 = v[p];
      let b1 = v[p + 1];
      let br0 = 0;
      let br1 = 0;
      let r = Infinity;
      let v0 = b0;
      let v1 = b1;
      let step = 1;
      let it = 0;
      for (;;) {
        sampleField2d(u, nx, ny, i + n00 * v0 + n01 * v1, j + n10 * v0 + n11 * v1, s);
        const r0 = v0 + s[0];
        const r1 = v1 + s[1];
        const rn = Math.sqrt(r0 * r0 + r1 * r1);
        if (rn < r) {
          r = rn;
          b0 = v0;
          b1 = v1;
          br0 = r0;
          br1 = r1;
        } else {
          step *= 0.5;
        }
        if (r <= tolerance || it === maxIterations) break;
        v0 = b0 - step * br0;
        v1 = b1 - step * br1;
        it++;
      }
      if (r > tolerance) unconverged++;
      v[p] = b0;
      v[p + 1] = b1;
      if (r > stats[0]) stats[0] = r;
      stats[1] += r;
      if (it > stats[2]) stats[2] = it;
    }
  }
  return unconverged;
}

function invert3d(
  u: Float32Array,
  v: Float32Array,
  nx: number,
  ny: number,
  nz: number,
  n: Float64Array,
  maxIterations: number,
  tolerance: number,
  stats: Float64Array,
): number {
  const s = new Float64Array(3);
  let unconverged = 0;
  let p = 0;
  for (let k = 0; k < nz; k++) {
    for (let j = 0; j < ny; j++) {
      for (let i = 0; i < nx; i++, p += 3) {
        let b0 = v[p];
        let b1 = v[p + 1];
        let b2 = v[p + 2];
        let br0 = 0;
        let br1 = 0;
        let br2 = 0;
        let r = Infinity;
        let v0 = b0;
        let v1 = b1;
        let v2 = b2;
        let step = 1;
        let it = 0;
        for (;;) {
          sampleField3d(
            u,
            nx,
            ny,
            nz,
            i + n[0] * v0 + n[1] * v1 + n[2] * v2,
            j + n[3] * v0 + n[4] * v1 + n[5] * v2,
            k + n[6] * v0 + n[7] * v1 + n[8] * v2,
            s,
          );
          const r0 = v0 + s[0];
          const r1 = v1 + s[1];
          const r2 = v2 + s[2];
          const rn = Math.sqrt(r0 * r0 + r1 * r1 + r2 * r2);
          if (rn < r) {
            r = rn;
            b0 = v0;
            b1 = v1;
            b2 = v2;
            br0 = r0;
            br1 = r1;
            br2 = r2;
          } else {
            step *= 0.5;
          }
          if (r <= tolerance || it === maxIterations) break;
          v0 = b0 - step * br0;
          v1 = b1 - step * br1;
          v2 = b2 - step * br2;
          it++;
        }
        if (r > tolerance) unconverged++;
        v[p] = b0;
        v[p + 1] = b1;
        v[p + 2] = b2;
        if (r > stats[0]) stats[0] = r;
        stats[1] += r;
        if (it > stats[2]) stats[2] = it;
      }
    }
  }
  return unconverged;
}

// --- Jacobian determinant ------------------------------------------------------------------------------

/**
 * det(I + ∂u/∂x) at every voxel, ∂u/∂x = (∂u/∂i)·N from central differences along the grid axes (one-sided on
 * the border, none along an axis of one voxel), N = physical → index matrix. Written into `out` when given;
 * returns the minimum.
 */
function jacobianDeterminants(u: Float32Array, grid: GridLike, out: Float32Array | null): number {
  checkField(u, grid);
  const d = grid.dimension;
  const n = padded3(physicalToIndexMatrix(grid), d);
  const nx = grid.size[0];
  const ny = grid.size[1];
  const nz = d === 3 ? grid.size[2] : 1;
  let min = Infinity;
  if (d === 2) {
    for (let j = 0; j < ny; j++) {
      const jm = j > 0 ? j - 1 : j;
      const jp = j < ny - 1 ? j + 1 : j;
      const sy = jp > jm ? 1 / (jp - jm) : 0;
      for (let i = 0; i < nx; i++) {
        const im = i > 0 ? i - 1 : i;
        const ip = i < nx - 1 ? i + 1 : i;
        const sx = ip > im ? 1 / (ip - im) : 0;
        const ax = 2 * (ip + nx * j);
        const bx = 2 * (im + nx * j);
        const ay = 2 * (i + nx * jp);
        const by = 2 * (i + nx * jm);
        // ∂u_r/∂i_a
        const g00 = (u[ax] - u[bx]) * sx;
        const g10 = (u[ax + 1] - u[bx + 1]) * sx;
        const g01 = (u[ay] - u[by]) * sy;
        const g11 = (u[ay + 1] - u[by + 1]) * sy;
        const j00 = 1 + g00 * n[0] + g01 * n[3];
        const j01 = g00 * n[1] + g01 * n[4];
        const j10 = g10 * n[0] + g11 * n[3];
        const j11 = 1 + g10 * n[1] + g11 * n[4];
        const det = j00 * j11 - j01 * j10;
        if (out !== null) out[i + nx * j] = det;
        if (!(det >= min)) min = det; // NaN propagates as the minimum
      }
    }
    return min;
  }
  const g = new Float64Array(9);
  const nxy = nx * ny;
  for (let k = 0; k < nz; k++) {
    const km = k > 0 ? k - 1 : k;
    const kp = k < nz - 1 ? k + 1 : k;
    const sz = kp > km ? 1 / (kp - km) : 0;
    for (let j = 0; j < ny; j++) {
      const jm = j > 0 ? j - 1 : j;
      const jp = j < ny - 1 ? j + 1 : j;
      const sy = jp > jm ? 1 / (jp - jm) : 0;
      for (let i = 0; i < nx; i++) {
        const im = i > 0 ? i - 1 : i;
        const ip = i < nx - 1 ? i + 1 : i;
        const sx = ip > im ? 1 / (ip - im) : 0;
        const ax = 3 * (ip + nx * j + nxy * k);
        const bx = 3 * (im + nx * j + nxy * k);
        const ay = 3 * (i + nx * jp + nxy * k);
        const by = 3 * (i + nx * jm + nxy * k);
        const az = 3 * (i + nx * j + nxy * kp);
        const bz = 3 * (i + nx * j + nxy * km);
        for (let r = 0; r < 3; r++) {
          g[r * 3] = (u[ax + r] - u[bx + r]) * sx;
          g[r * 3 + 1] = (u[ay + r] - u[by + r]) * sy;
          g[r * 3 + 2] = (u[az + r] - u[bz + r]) * sz;
        }
        // J = I + g·N
        const j00 = 1 + g[0] * n[0] + g[1] * n[3] + g[2] * n[6];
        const j01 = g[0] * n[1] + g[1] * n[4] + g[2] * n[7];
        const j02 = g[0] * n[2] + g[1] * n[5] + g[2] * n[8];
        const j10 = g[3] * n[0] + g[4] * n[3] + g[5] * n[6];
        const j11 = 1 + g[3] * n[1] + g[4] * n[4] + g[5] * n[7];
        const j12 = g[3] * n[2] + g[4] * n[5] + g[5] * n[8];
        const j20 = g[6] * n[0] + g[7] * n[3] + g[8] * n[6];
        const j21 = g[6] * n[1] + g[7] * n[4] + g[8] * n[7];
        const j22 = 1 + g[6] * n[2] + g[7] * n[5] + g[8] * n[8];
        const det = j00 * (j11 * j22 - j12 * j21) - j01 * (j10 * j22 - j12 * j20) + j02 * (j10 * j21 - j11 * j20);
        if (out !== null) out[i + nx * j + nxy * k] = det;
        if (!(det >= min)) min = det;
      }
    }
  }
  return min;
}

/** det(I + ∂u/∂x) at every voxel (central differences in physical space), as a float32 image on the grid. */
export function jacobianDeterminantField(u: Float32Array, grid: GridLike): Image<Float32Array> {
  const det = new Float32Array(numberOfPixels(grid));
  jacobianDeterminants(u, grid, det);
  return {
    dimension: grid.dimension,
    size: grid.size.slice(),
    spacing: grid.spacing.slice(),
    origin: grid.origin.slice(),
    direction: grid.direction.slice(),
    components: 1,
    data: det,
  };
}

/** The smallest det(I + ∂u/∂x) over the grid (≤ 0 means the map folds somewhere); NaN if any is NaN. */
export function minJacobianDeterminant(u: Float32Array, grid: GridLike): number {
  return jacobianDeterminants(u, grid, null);
}

// --- resampling between grids --------------------------------------------------------------------------

/**
 * The field sampled at the voxel centres of another grid (typically the next, finer pyramid level): linear
 * interpolation in physical space, clamped onto the source grid. Displacements stay in mm (no rescaling).
 */
export function upsampleField(u: Float32Array, from: GridLike, to: GridLike, out: Float32Array = createField(to)): Float32Array {
  checkField(u, from, 'upsampleField: u');
  checkField(out, to, 'upsampleField: out');
  const d = from.dimension;
  if (to.dimension !== d) throw new CoregError('upsampleField', `cannot resample a ${d}D field onto a ${to.dimension}D grid`);
  // Target index → source continuous index: ci = Ns·(Mt·i + ot − os).
  const ns = physicalToIndexMatrix(from);
  const mt = indexToPhysicalMatrix(to);
  const a = new Float64Array(9);
  const c = new Float64Array(3);
  for (let r = 0; r < d; r++) {
    let s = 0;
    for (let k = 0; k < d; k++) s += ns[r * d + k] * (to.origin[k] - from.origin[k]);
    c[r] = s;
    for (let col = 0; col < d; col++) {
      let m = 0;
      for (let k = 0; k < d; k++) m += ns[r * d + k] * mt[k * d + col];
      a[r * 3 + col] = m;
    }
  }
  const s = new Float64Array(3);
  const [fx, fy] = from.size;
  const [tx, ty] = to.size;
  if (d === 2) {
    let p = 0;
    for (let j = 0; j < ty; j++) {
      for (let i = 0; i < tx; i++, p += 2) {
        sampleField2d(u, fx, fy, c[0] + a[0] * i + a[1] * j, c[1] + a[3] * i + a[4] * j, s);
        out[p] = s[0];
        out[p + 1] = s[1];
      }
    }
    return out;
  }
  const fz = from.size[2];
  const tz = to.size[2];
  let p = 0;
  for (let k = 0; k < tz; k++) {
    for (let j = 0; j < ty; j++) {
      for (let i = 0; i < tx; i++, p += 3) {
        sampleField3d(
          u,
          fx,
          fy,
          fz,
          c[0] + a[0] * i + a[1] * j + a[2] * k,
          c[1] + a[3] * i + a[4] * j + a[5] * k,
          c[2] + a[6] * i + a[7] * j + a[8] * k,
          s,
        );
        out[p] = s[0];
        out[p + 1] = s[1];
        out[p + 2] = s[2];
      }
    }
  }
  return out;
}

// --- conversions ---------------------------------------------------------------------------------------

/** The field as a d-component float32 vector image on `grid` (shares `u`; geometry copied). */
export function fieldImage(u: Float32Array, grid: GridLike): Image<Float32Array> {
  checkField(u, grid);
  return {
    dimension: grid.dimension,
    size: grid.size.slice(),
    spacing: grid.spacing.slice(),
    origin: grid.origin.slice(),
    direction: grid.direction.slice(),
    components: grid.dimension,
    data: u,
  };
}

/** The field as a transform x ↦ x + u(x) (shares `u`); `name` is what its errors are about. */
export function fieldTransform(u: Float32Array, grid: GridLike, name?: string): DisplacementFieldTransform {
  return new DisplacementFieldTransform(fieldImage(u, grid), name);
}
