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

/**
 * Convolves every line of `data` along one axis, in place. Lines start at base = block·stride·length + s and step
 * by `stride` (pixels); `components` interleaved values per pixel are filtered independently. Outside the line the
 * signal is mirrored about the pixel edges (… x1 x0 | x0 x1 …), which keeps constants and — because the resulting
 * operator is symmetric with unit row sums — the total sum exactly.
 */
function convolveAxis(
  data: Float32Array,
  total: number,
  length: number,
  stride: number,
  components: number,
  kernel: Float64Array,
  extended: Float64Array,
): void {
  const radius = (kernel.length - 1) >> 1;
  const period = 2 * length;
  const blocks = total / (stride * length);
  for (let block = 0; block < blocks; block++) {
    for (let s = 0; s < stride; s++) {
      const base = block * stride * length + s;
      for (let c = 0; c < components; c++) {
        for (let e = 0; e < length + 2 * radius; e++) {
          let m = (e - radius) % period;
          if (m < 0) m += period;
          if (m >= length) m = period - 1 - m;
          extended[e] = data[(base + m * stride) * components + c];
        }
        for (let t = 0; t < length; t++) {
          let acc = 0;
          for (let k = 0; k < kernel.length; k++) acc += kernel[k] * extended[t + k];
          data[(base + t * stride) * components + c] = acc;
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
      const extended = new Float64Array(length + kernel.length - 1);
      convolveAxis(data, total, length, stride, img.components, kernel, extended);
    }
    stride *= length;
  }
  return out;
}
