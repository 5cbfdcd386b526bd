/**
 * Separable Gaussian smoothing with sigmas in physical millimetres.
 */
import { CoregError } from '../errors.js';
import { numberOfPixels, type Image } from '../image/image.js';

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

/** Lines processed side by side along a strided axis, so memory is read in contiguous runs. */
const LINES_PER_CHUNK = 32;

/**
 * Convolves every line of `data` along one axis, in place. Lines start at base = block·stride·length + s and step
 * by `stride` (pixels); `components` interleaved values per pixel are filtered independently. Outside the line the
 * signal is mirrored about the pixel edges (… x1 x0 | x0 x1 …), which keeps constants and — because the resulting
 * operator is symmetric with unit row sums — the total sum exactly. Up to LINES_PER_CHUNK neighbouring lines
 * (consecutive s) are copied into `extended` (position-major) and filtered together.
 */
function convolveAxis(
  data: Float32Array,
  total: number,
  length: number,
  stride: number,
  components: number,
  kernel: Float64Array,
  mirror: Int32Array,
  extended: Float64Array,
  acc: Float64Array,
): void {
  const taps = kernel.length;
  const extendedLength = mirror.length;
  const blocks = total / (stride * length);
  if (stride === 1) {
    // Contiguous lines: one at a time.
    for (let block = 0; block < blocks; block++) {
      const base = block * length;
      for (let c = 0; c < components; c++) {
        for (let e = 0; e < extendedLength; e++) extended[e] = data[(base + mirror[e]) * components + c];
        for (let t = 0; t < length; t++) {
          let sum = 0;
          for (let k = 0; k < taps; k++) sum += kernel[k] * extended[t + k];
          data[(base + t) * components + c] = sum;
        }
      }
    }
    return;
  }
  for (let block = 0; block < blocks; block++) {
    const base = block * stride * length;
    for (let s0 = 0; s0 < stride; s0 += LINES_PER_CHUNK) {
      const lines = Math.min(LINES_PER_CHUNK, stride - s0);
      for (let c = 0; c < components; c++) {
        for (let e = 0; e < extendedLength; e++) {
          const src = (base + mirror[e] * stride + s0) * components + c;
          const row = e * lines;
          for (let u = 0; u < lines; u++) extended[row + u] = data[src + u * components];
        }
        for (let t = 0; t < length; t++) {
          for (let u = 0; u < lines; u++) acc[u] = 0;
          for (let k = 0; k < taps; k++) {
            const w = kernel[k];
            const row = (t + k) * lines;
            for (let u = 0; u < lines; u++) acc[u] += w * extended[row + u];
          }
          const dst = (base + t * stride + s0) * components + c;
          for (let u = 0; u < lines; u++) data[dst + u * components] = acc[u];
        }
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
  const total = numberOfPixels(img);
  let stride = 1;
  for (let a = 0; a < d; a++) {
    const length = img.size[a];
    const sigmaVoxels = sigmas[a] / img.spacing[a];
    if (sigmaVoxels > 0 && length > 1) {
      const kernel = gaussianKernel(sigmaVoxels);
      const mirror = mirrorTable(length, (kernel.length - 1) >> 1);
      const extended = new Float64Array(mirror.length * LINES_PER_CHUNK);
      const acc = new Float64Array(LINES_PER_CHUNK);
      convolveAxis(data, total, length, stride, img.components, kernel, mirror, extended, acc);
    }
    stride *= length;
  }
  return out;
}
