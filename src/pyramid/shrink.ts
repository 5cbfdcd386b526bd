/**
 * Downsampling by integer factors with ITK ShrinkImageFilter's geometry: new size max(⌊n/f⌋, 1), spacing s·f,
 * and the origin moved so the physical centre of the image (of its pixel-edge box, equivalently of its pixel-centre
 * grid) stays where it was.
 */
import { CoregError } from '../errors.js';
import { allocatePixels, numberOfPixels, pixelTypeOf, type Image, type PixelArray } from '../image/image.js';
import { perAxis, smoothInPlace } from './smooth.js';

export interface ShrunkGeometry {
  size: number[];
  spacing: number[];
  origin: number[];
  /** Per axis: continuous input index of output index 0 (output index j sits at start + f·j). */
  start: number[];
}

/** Validates integer factors ≥ 1, one per axis. */
function checkFactors(img: Image, factors: readonly number[]): void {
  if (factors.length !== img.dimension) throw new CoregError('shrink', `need ${img.dimension} factors, got ${factors.length}`);
  for (const f of factors) {
    if (!(Number.isInteger(f) && f >= 1)) throw new CoregError('shrink', `factors must be integers ≥ 1, got [${factors.join(', ')}]`);
  }
}

/** Output geometry of shrinking `img` by `factors` (direction unchanged). */
export function shrunkGeometry(img: Image, factors: readonly number[]): ShrunkGeometry {
  checkFactors(img, factors);
  const d = img.dimension;
  const size = new Array<number>(d);
  const spacing = new Array<number>(d);
  const start = new Array<number>(d);
  for (let a = 0; a < d; a++) {
    const n = img.size[a];
    const f = factors[a];
    size[a] = Math.max(1, Math.floor(n / f));
    spacing[a] = img.spacing[a] * f;
    // Centres agree: start + f·(n' − 1)/2 = (n − 1)/2.
    start[a] = (n - 1 - f * (size[a] - 1)) / 2;
  }
  const origin = new Array<number>(d);
  for (let r = 0; r < d; r++) {
    let o = img.origin[r];
    for (let c = 0; c < d; c++) o += img.direction[r * d + c] * img.spacing[c] * start[c];
    origin[r] = o;
  }
  return { size, spacing, origin, start };
}

/**
 * Linear resampling along one axis at positions start + f·j (always inside [0, n − 1]). `input` has `length`
 * pixels along the axis, `output` has `outLength`; stride is the product of the sizes of the faster axes.
 */
function resampleAxis(
  input: Float32Array,
  output: Float32Array,
  blocks: number,
  stride: number,
  length: number,
  outLength: number,
  components: number,
  lower: Int32Array,
  weight: Float64Array,
): void {
  for (let block = 0; block < blocks; block++) {
    const inBase = block * stride * length;
    const outBase = block * stride * outLength;
    for (let j = 0; j < outLength; j++) {
      const i0 = lower[j];
      const w = weight[j];
      const i1 = w > 0 ? i0 + 1 : i0;
      for (let s = 0; s < stride; s++) {
        const a = (inBase + i0 * stride + s) * components;
        const b = (inBase + i1 * stride + s) * components;
        const o = (outBase + j * stride + s) * components;
        for (let c = 0; c < components; c++) output[o + c] = (1 - w) * input[a + c] + w * input[b + c];
      }
    }
  }
}

/**
 * Shrinks by integer factors per axis (ITK ShrinkImageFilter geometry), sampling the input at the new pixel
 * centres by linear interpolation. It does not smooth: smooth first (gaussianSmooth, or buildPyramid does both).
 * Output float32.
 */
export function shrinkImage(img: Image, factors: readonly number[]): Image<Float32Array> {
  return smoothAndShrinkVoxels(img, new Array<number>(img.dimension).fill(0), factors);
}

/**
 * Gaussian smoothing (σ in voxels per axis, as smoothInPlace) followed by shrinkImage, done axis by axis: smooth
 * along x, shrink x, then smooth along y on the x-shrunk data, and so on. Smoothing along one axis and resampling
 * along another commute, so this is gaussianSmooth then shrinkImage (to float32 rounding) at a fraction of the
 * cost: a shrink-by-4 level of a 512×512×300 CT smooths 1 + 1/4 + 1/16 volumes' worth of lines instead of 3, and
 * holds one float32 copy instead of two.
 */
export function smoothAndShrinkVoxels(img: Image, sigmasVoxels: readonly number[], factors: readonly number[]): Image<Float32Array> {
  const geometry = shrunkGeometry(img, factors);
  const d = img.dimension;
  const components = img.components;
  let current = Float32Array.from(img.data as ArrayLike<number>);
  const size = img.size.slice();
  const only = new Array<number>(d).fill(0);
  for (let a = 0; a < d; a++) {
    if (sigmasVoxels[a] > 0 && size[a] > 1) {
      only[a] = sigmasVoxels[a];
      smoothInPlace(current, size, components, only);
      only[a] = 0;
    }
    const outLength = geometry.size[a];
    if (outLength === size[a]) continue; // factor 1: positions are exactly the input pixels
    const lower = new Int32Array(outLength);
    const weight = new Float64Array(outLength);
    for (let j = 0; j < outLength; j++) {
      const x = geometry.start[a] + factors[a] * j;
      const i0 = Math.min(Math.floor(x), size[a] - 1);
      lower[j] = i0;
      weight[j] = x - i0;
    }
    let stride = 1;
    for (let b = 0; b < a; b++) stride *= size[b];
    const blocks = numberOfPixels({ size }) / (stride * size[a]);
    const length = size[a];
    size[a] = outLength;
    const next = new Float32Array(numberOfPixels({ size }) * components);
    resampleAxis(current, next, blocks, stride, length, outLength, components, lower, weight);
    current = next;
  }
  return {
    dimension: d,
    size: geometry.size,
    spacing: geometry.spacing,
    origin: geometry.origin,
    direction: img.direction.slice(),
    components,
    data: current,
  };
}

/** smoothAndShrinkVoxels with σ in mm (one value or one per axis), as gaussianSmooth takes it. */
export function smoothAndShrink(img: Image, sigmaMm: number | readonly number[], factors: readonly number[]): Image<Float32Array> {
  const sigmas = perAxis(sigmaMm, img.dimension, 'sigma');
  return smoothAndShrinkVoxels(img, sigmas.map((s, a) => s / img.spacing[a]), factors);
}

/**
 * Shrinks a mask or label image with the same geometry as shrinkImage, by majority vote over the block of f_0×…
 * input pixels around each new pixel centre (ties go to the larger value, so a binary mask keeps a voxel that is
 * half inside). Values are never blended; the pixel type is kept. Scalar images only.
 */
export function shrinkMask(mask: Image, factors: readonly number[]): Image {
  if (mask.components !== 1) throw new CoregError('mask', `must have one component, got ${mask.components}`);
  const geometry = shrunkGeometry(mask, factors);
  const d = mask.dimension;
  const n = [1, 1, 1];
  const f = [1, 1, 1];
  const m = [1, 1, 1];
  const first = [0, 0, 0];
  // Factors padded to 3 axes (a 2D mask has no z factor).
  const step = [1, 1, 1];
  for (let a = 0; a < d; a++) {
    step[a] = factors[a];
    n[a] = mask.size[a];
    m[a] = geometry.size[a];
    // Whole blocks of f input pixels centred on the output pixel (rounded down when the margin is odd).
    f[a] = Math.min(factors[a], n[a]);
    first[a] = Math.max(0, Math.floor((n[a] - factors[a] * m[a]) / 2));
  }
  const input = mask.data;
  const output: PixelArray = allocatePixels(pixelTypeOf(input), m[0] * m[1] * m[2]);
  const block = new Float64Array(f[0] * f[1] * f[2]);
  const blockSize = block.length;
  const sliceSize = n[0] * n[1];
  let o = 0;
  for (let k = 0; k < m[2]; k++) {
    const z0 = first[2] + k * step[2];
    for (let j = 0; j < m[1]; j++) {
      const y0 = first[1] + j * step[1];
      for (let i = 0; i < m[0]; i++) {
        const x0 = first[0] + i * step[0];
        let b = 0;
        for (let z = z0; z < z0 + f[2]; z++) {
          for (let y = y0; y < y0 + f[1]; y++) {
            const row = z * sliceSize + y * n[0];
            for (let x = x0; x < x0 + f[0]; x++) block[b++] = input[row + x];
          }
        }
        block.sort(); // native numeric sort of the whole block: no allocation
        let best = block[0];
        let bestCount = 0;
        let run = 0;
        for (let t = 0; t < blockSize; t++) {
          run = t > 0 && block[t] === block[t - 1] ? run + 1 : 1;
          if (run >= bestCount) {
            bestCount = run;
            best = block[t];
          }
        }
        output[o++] = best;
      }
    }
  }
  return {
    dimension: d,
    size: geometry.size,
    spacing: geometry.spacing,
    origin: geometry.origin,
    direction: mask.direction.slice(),
    components: 1,
    data: output,
  };
}
