/**
 * Separable Gaussian smoothing: one engine (smoothInPlace, σ in voxels, interleaved components) for images (σ in mm,
 * gaussianSmooth) and displacement fields (transform/dense-field.ts).
 */
import { CoregError } from '../errors.js';
import type { Image } from '../image/image.js';

/** Per-axis values from a number (same on every axis) or an array of length d, each finite and ≥ 0. */
export function perAxis(value: number | readonly number[], d: number, subject: string): number[] {
  const values = typeof value === 'number' ? new Array<number>(d).fill(value) : value.slice();
  if (values.length !== d) throw new CoregError(subject, `need 1 or ${d} values, got ${values.length}`);
  for (const v of values) {
    if (!(Number.isFinite(v) && v >= 0)) throw new CoregError(subject, `must be finite and ≥ 0, got [${values.join(', ')}]`);
  }
  return values;
}

/** Normalised sampled Gaussian of standard deviation sigma (voxels), truncated at ⌈4σ⌉: weights for −r…r. */
export function gaussianKernel(sigma: number): Float64Array {
  const radius = Math.max(1, Math.ceil(4 * sigma));
  const w = new Float64Array(2 * radius + 1);
  let sum = 0;
  for (let k = -radius; k <= radius; k++) {
    const v = Math.exp((-0.5 * k * k) / (sigma * sigma));
    w[k + radius] = v;
    sum += v;
  }
  for (let k = 0; k < w.length; k++) w[k] /= sum;
  return w;
}

/** Source position along a line of `length` for each extended position e − radius, mirrored about the pixel edges. */
export function mirrorTable(length: number, radius: number): Int32Array {
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
 * Separable Gaussian smoothing in place of interleaved pixels (`components` values per pixel, x fastest) on a grid
 * of `size`, σ in VOXELS per axis (0 leaves an axis alone). Normalised sampled kernel truncated at ⌈4σ⌉; outside
 * a line the signal is mirrored about the pixel edges (… x1 x0 | x0 x1 …), which keeps constants and — the operator
 * being symmetric with unit row sums — the total sum. The one engine behind image and displacement-field smoothing.
 */
export function smoothInPlace(data: Float32Array, size: readonly number[], components: number, sigmasVoxels: readonly number[]): void {
  for (const pass of smoothPasses(size, components, sigmasVoxels)) smoothPassUnits(data, pass, 0, pass.units, smoothScratch(pass));
}

/**
 * One axis of a separable smoothing, cut into `units` independent pieces (groups of lines along x, or row chunks
 * along y and z) that may run in any order and any thread with the same result: smoothPassUnits(data, pass, a, b)
 * filters units [a, b). Passes (axes) must run one after the other.
 */
export interface SmoothPass {
  total: number;
  components: number;
  length: number;
  stride: number;
  kernel: Float64Array;
  mirror: Int32Array;
  units: number;
}

/** The passes of smoothInPlace(data, size, components, sigmasVoxels), in order. */
export function smoothPasses(size: readonly number[], components: number, sigmasVoxels: readonly number[]): SmoothPass[] {
  let total = 1;
  for (const s of size) total *= s;
  const passes: SmoothPass[] = [];
  let stride = 1;
  for (let a = 0; a < size.length; a++) {
    const length = size[a];
    if (sigmasVoxels[a] > 0 && length > 1) {
      const kernel = gaussianKernel(sigmasVoxels[a]);
      const mirror = mirrorTable(length, (kernel.length - 1) >> 1);
      const units = stride === 1 ? Math.ceil(total / length / SMOOTH_LINES) : (total / (length * stride)) * Math.ceil((stride * components) / SMOOTH_CHUNK);
      passes.push({ total, components, length, stride, kernel, mirror, units });
    }
    stride *= length;
  }
  return passes;
}

/** Scratch for smoothPassUnits (one per thread). */
export function smoothScratch(pass: SmoothPass): { extended: Float64Array | Float32Array; starts: Int32Array; sums: Float64Array } {
  return pass.stride === 1
    ? { extended: new Float64Array(pass.mirror.length * SMOOTH_LINES * pass.components), starts: new Int32Array(SMOOTH_LINES), sums: new Float64Array(0) }
    : { extended: new Float32Array(pass.mirror.length * SMOOTH_CHUNK), starts: new Int32Array(0), sums: new Float64Array(SMOOTH_CHUNK) };
}

/** Filters units [from, to) of `pass` in place. */
export function smoothPassUnits(data: Float32Array, pass: SmoothPass, from: number, to: number, scratch: ReturnType<typeof smoothScratch>): void {
  const { total, components, length, stride, kernel, mirror } = pass;
  if (stride === 1) {
    convolveLines(data, total, length, stride, components, kernel, mirror, scratch.extended as Float64Array, scratch.starts, from * SMOOTH_LINES, Math.min(total / length, to * SMOOTH_LINES));
  } else {
    const rowLength = stride * components;
    const chunks = Math.ceil(rowLength / SMOOTH_CHUNK);
    convolveRows(data, length, rowLength, kernel, mirror, scratch.extended as Float32Array, scratch.sums, from, to, chunks);
  }
}

/**
 * Convolves every line along one axis in place. Line q (of total/length) starts at pixel
 * ⌊q/stride⌋·stride·length + q mod stride and steps by `stride` pixels. SMOOTH_LINES lines at a time are gathered
 * (consecutive lines are neighbours in memory along strided axes), each component of each line into its own
 * contiguous run of `extended`, then every output sample is one register sum over the symmetric kernel.
 */
function convolveLines(
  u: Float32Array,
  total: number,
  length: number,
  stride: number,
  d: number,
  kernel: Float64Array,
  mirror: Int32Array,
  extended: Float64Array,
  starts: Int32Array,
  qFrom: number,
  lineCount: number,
): void {
  const radius = (kernel.length - 1) >> 1;
  const centre = kernel[radius];
  const extendedLength = mirror.length;
  for (let q0 = qFrom; q0 < lineCount; q0 += SMOOTH_LINES) {
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
        // four outputs at a time: four independent sums (one sum's chain of additions waits on each addition)
        let t = 0;
        for (; t + 3 < length; t += 4, dst += 4 * step) {
          // extended position t + radius is sample t; taps k and 2r − k share a weight
          const at = run + t;
          let s0 = centre * extended[at + radius];
          let s1 = centre * extended[at + radius + 1];
          let s2 = centre * extended[at + radius + 2];
          let s3 = centre * extended[at + radius + 3];
          for (let k = 0, lo = at, hi = at + 2 * radius; k < radius; k++, lo++, hi--) {
            const w = kernel[k];
            s0 += w * (extended[lo] + extended[hi]);
            s1 += w * (extended[lo + 1] + extended[hi + 1]);
            s2 += w * (extended[lo + 2] + extended[hi + 2]);
            s3 += w * (extended[lo + 3] + extended[hi + 3]);
          }
          u[dst] = s0;
          u[dst + step] = s1;
          u[dst + 2 * step] = s2;
          u[dst + 3 * step] = s3;
        }
        for (; t < length; t++, dst += step) {
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
function convolveRows(
  u: Float32Array,
  length: number,
  rowLength: number,
  kernel: Float64Array,
  mirror: Int32Array,
  extended: Float32Array,
  sums: Float64Array,
  unitFrom: number,
  unitTo: number,
  chunks: number,
): void {
  const radius = (kernel.length - 1) >> 1;
  const centre = kernel[radius];
  const extendedLength = mirror.length;
  const blockLength = length * rowLength;
  // unit = block · chunks + chunk
  for (let unit = unitFrom; unit < unitTo; unit++) {
    const block = Math.floor(unit / chunks) * blockLength;
    const col = (unit % chunks) * SMOOTH_CHUNK;
    const width = Math.min(SMOOTH_CHUNK, rowLength - col);
    const first = block + col;
    for (let e = 0; e < extendedLength; e++) {
      const src = first + mirror[e] * rowLength;
      const dst = e * SMOOTH_CHUNK;
      for (let j = 0; j < width; j++) extended[dst + j] = u[src + j];
    }
    for (let t = 0; t < length; t++) {
      const mid = (t + radius) * SMOOTH_CHUNK;
      const out = first + t * rowLength;
      // eight columns at a time summed in registers (the same sums, in the same order, as one column at a time)
      let j = 0;
      for (; j + 7 < width; j += 8) {
        const m = mid + j;
        let s0 = centre * extended[m];
        let s1 = centre * extended[m + 1];
        let s2 = centre * extended[m + 2];
        let s3 = centre * extended[m + 3];
        let s4 = centre * extended[m + 4];
        let s5 = centre * extended[m + 5];
        let s6 = centre * extended[m + 6];
        let s7 = centre * extended[m + 7];
        for (let k = 0; k < radius; k++) {
          const w = kernel[k];
          const lo = (t + k) * SMOOTH_CHUNK + j;
          const hi = (t + 2 * radius - k) * SMOOTH_CHUNK + j;
          s0 += w * (extended[lo] + extended[hi]);
          s1 += w * (extended[lo + 1] + extended[hi + 1]);
          s2 += w * (extended[lo + 2] + extended[hi + 2]);
          s3 += w * (extended[lo + 3] + extended[hi + 3]);
          s4 += w * (extended[lo + 4] + extended[hi + 4]);
          s5 += w * (extended[lo + 5] + extended[hi + 5]);
          s6 += w * (extended[lo + 6] + extended[hi + 6]);
          s7 += w * (extended[lo + 7] + extended[hi + 7]);
        }
        const o = out + j;
        u[o] = s0;
        u[o + 1] = s1;
        u[o + 2] = s2;
        u[o + 3] = s3;
        u[o + 4] = s4;
        u[o + 5] = s5;
        u[o + 6] = s6;
        u[o + 7] = s7;
      }
      if (j < width) {
        for (let i = j; i < width; i++) sums[i] = centre * extended[mid + i];
        for (let k = 0; k < radius; k++) {
          const w = kernel[k];
          const lo = (t + k) * SMOOTH_CHUNK;
          const hi = (t + 2 * radius - k) * SMOOTH_CHUNK;
          for (let i = j; i < width; i++) sums[i] += w * (extended[lo + i] + extended[hi + i]);
        }
        for (let i = j; i < width; i++) u[out + i] = sums[i];
      }
    }
  }
}

/**
 * Gaussian smoothing with standard deviation sigmaMm (physical mm; one number for all axes or one per axis).
 * The kernel is a normalised sampled Gaussian truncated at ⌈4σ⌉ voxels; edges are mirrored. Output float32 on the
 * same grid; an axis with σ = 0 is left alone (σ = 0 everywhere gives a float32 copy).
 */
export function gaussianSmooth(img: Image, sigmaMm: number | readonly number[]): Image<Float32Array> {
  const d = img.dimension;
  const sigmas = perAxis(sigmaMm, d, 'sigma');
  const data = Float32Array.from(img.data as ArrayLike<number>);
  const out: Image<Float32Array> = {
    dimension: d,
    size: img.size.slice(),
    spacing: img.spacing.slice(),
    origin: img.origin.slice(),
    direction: img.direction.slice(),
    components: img.components,
    data,
  };
  smoothInPlace(data, img.size, img.components, sigmas.map((s, a) => s / img.spacing[a]));
  return out;
}
