/**
 * Downsampling by integer factors with ITK ShrinkImageFilter's geometry: new size max(⌊n/f⌋, 1), spacing s·f,
 * and the origin moved so the physical centre of the image (of its pixel-edge box, equivalently of its pixel-centre
 * grid) stays where it was.
 */
import { CoregError } from '../errors.js';
import { allocatePixels, pixelTypeOf, type Image, type PixelArray } from '../image/image.js';
import { gaussianKernel, mirrorTable, perAxis } from './smooth.js';

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
 * One axis of smoothAndShrinkVoxels, from one buffer into another: smooth the axis (σ in voxels, over the mirrored
 * line of smoothInPlace), then resample it linearly at start + f·j, computed only where the resampling reads it.
 * Output position j along the axis reads input positions lower[j] and lower[j] + 1 (the latter only when
 * weight[j] > 0). shrunkGeometry centres the new grid, so start + f·j falls on an input pixel for every j (weight 0)
 * or halfway between two for every j (weight ½); with smoothing every output is then one sum (`pairs`):
 * - weight 0: the Gaussian sum at lower[j] in the order smoothInPlace sums it, rounded to float32: bit-identical to
 *   smoothing everything first (the old two-step code), at about 1/f of its cost;
 * - weight ½: the blend of the sums at lower[j] and lower[j] + 1 folded into the taps, one sum instead of two: the
 *   same value but for the float32 rounding of the two sums before the blend.
 * Those sums run four or eight outputs at a time. Without smoothing the input is interpolated linearly.
 * `units` independent pieces (groups of lines along x; one output row of one block along y and z) may run in any
 * order and any thread.
 */
export interface ShrinkPass {
  /** Pixels between neighbours along the axis (product of the current sizes of the faster axes). */
  stride: number;
  /** Product of the sizes of the slower axes. */
  blocks: number;
  length: number;
  outLength: number;
  components: number;
  /**
   * With smoothing (null: none along this axis): output j (i0 = lower[j]) is [centre·x[i0] +] Σ_k pairs[k]·(x[i0 − r
   * + k] + x[i0 + reach − k]), summed in that order (x mirrored about the line's ends: `mirror`). Weight 0: the
   * Gaussian kernel's taps 0…r − 1, its centre tap and reach r; weight ½: the blended taps (g[k] + g[k − 1]) / 2 for
   * k = 0…r (g[−1] = 0; taps k and 2r + 1 − k of the blend are equal, g being symmetric), no centre and reach r + 1.
   */
  pairs: Float64Array | null;
  centre: number;
  withCentre: boolean;
  reach: number;
  mirror: Int32Array | null;
  lower: Int32Array;
  weight: Float64Array;
  /** Values in the input and output buffers. */
  inputLength: number;
  outputLength: number;
  units: number;
}

/** Lines per unit along x. */
const SHRINK_LINES = 32;

/** The passes of smoothAndShrinkVoxels(size, components, σ voxels, factors), in order; axes with nothing to do are left out. */
export function shrinkPasses(size: readonly number[], components: number, sigmasVoxels: readonly number[], geometry: ShrunkGeometry, factors: readonly number[]): ShrinkPass[] {
  const d = size.length;
  const current = size.slice();
  const passes: ShrinkPass[] = [];
  for (let a = 0; a < d; a++) {
    const length = current[a];
    const smooth = sigmasVoxels[a] > 0 && length > 1;
    const outLength = geometry.size[a];
    if (!smooth && outLength === length) continue; // factor 1 and no smoothing: positions are exactly the input pixels
    let stride = 1;
    for (let b = 0; b < a; b++) stride *= current[b];
    let total = 1;
    for (const s of current) total *= s;
    const blocks = total / (stride * length);
    const lower = new Int32Array(outLength);
    const weight = new Float64Array(outLength);
    for (let j = 0; j < outLength; j++) {
      if (outLength === length) {
        lower[j] = j;
        continue;
      }
      const x = geometry.start[a] + factors[a] * j;
      const i0 = Math.min(Math.floor(x), length - 1);
      lower[j] = i0;
      weight[j] = x - i0;
    }
    const units = stride === 1 ? Math.ceil(blocks / SHRINK_LINES) : blocks * outLength;
    current[a] = outLength;
    const sums = { pairs: null as Float64Array | null, centre: 0, withCentre: false, reach: 0, mirror: null as Int32Array | null };
    if (smooth) {
      const kernel = gaussianKernel(sigmasVoxels[a]);
      const r = (kernel.length - 1) >> 1;
      sums.mirror = mirrorTable(length, r);
      if (weight.every((w) => w === 0)) Object.assign(sums, { pairs: kernel.slice(0, r), centre: kernel[r], withCentre: true, reach: r });
      else if (weight.every((w) => w === 0.5)) Object.assign(sums, { pairs: halfTaps(kernel), reach: r + 1 });
      else throw new Error(`shrinkPasses: the new centres along axis ${a} are neither on nor halfway between input pixels`);
    }
    passes.push({ stride, blocks, length, outLength, components, ...sums, lower, weight, inputLength: total * components, outputLength: (total / length) * outLength * components, units });
  }
  return passes;
}

/** The blended taps of a symmetric kernel g (2r + 1 taps) for half-voxel positions (ShrinkPass.pairs). */
function halfTaps(g: Float64Array): Float64Array {
  const r = (g.length - 1) >> 1;
  const h = new Float64Array(r + 1);
  for (let k = 0; k <= r; k++) h[k] = 0.5 * (g[k] + (k > 0 ? g[k - 1] : 0));
  return h;
}

/** Pixel arrays whose every value float32 holds exactly: read as they are (no float32 copy needed). */
export type Float32Exact = Float32Array | Uint8Array | Int8Array | Int16Array | Uint16Array;

/** The values as float32 would hold them: `data` itself when that is exact, else a float32 copy. */
export function float32Exact(data: PixelArray | Float32Array): Float32Exact {
  if (data instanceof Float32Array || data instanceof Uint8Array || data instanceof Int8Array || data instanceof Int16Array || data instanceof Uint16Array) return data;
  return Float32Array.from(data as ArrayLike<number>);
}

/** Computes units [from, to) of `pass` from `input` into `output` (distinct buffers). */
export function shrinkPassUnits(input: Float32Exact, output: Float32Array, pass: ShrinkPass, from: number, to: number): void {
  if (pass.stride === 1) linesOf(input, output, pass, from * SHRINK_LINES, Math.min(pass.blocks, to * SHRINK_LINES));
  else rowsOf(input, output, pass, from, to);
}

function linesOf(input: Float32Exact, output: Float32Array, pass: ShrinkPass, lineFrom: number, lineTo: number): void {
  if (pass.pairs) singleLines(input, output, pass, lineFrom, lineTo);
  else interpolateLines(input, output, pass, lineFrom, lineTo);
}

function rowsOf(input: Float32Exact, output: Float32Array, pass: ShrinkPass, from: number, to: number): void {
  if (pass.pairs) singleRows(input, output, pass, from, to);
  else interpolateRows(input, output, pass, from, to);
}

/**
 * Slices [z0, z1) of the slowest of `slices` slices (the last axis, along which `pass` does not run): the lines
 * (along x) or rows of the pass that belong to them. Each is computed as shrinkPassUnits computes it, so any split
 * into slices gives the same output.
 */
export function shrinkPassSlices(input: Float32Exact, output: Float32Array, pass: ShrinkPass, slices: number, z0: number, z1: number): void {
  const per = pass.blocks / slices;
  if (pass.stride === 1) linesOf(input, output, pass, z0 * per, z1 * per);
  else rowsOf(input, output, pass, z0 * per * pass.outLength, z1 * per * pass.outLength);
}

/** How many of `passes`, from the first, run within slices of the slowest of `slices` slices (all but a last pass along it). */
export function slicedPassCount(passes: readonly ShrinkPass[], slices: number): number {
  const last = passes[passes.length - 1];
  return passes.length - (last !== undefined && last.blocks === 1 && last.length === slices ? 1 : 0);
}

/** A thread's slab-sized buffers for shrinkSlab, one per pass, grown as needed. */
export type SlabScratch = Float32Array[];

/**
 * Slices [z0, z1) of the slowest of `slices` slices of `source` through passes [0, sliced) (slicedPassCount), each
 * output computed as shrinkPassUnits computes it (a pass never reads across slices of an axis it does not run along):
 * the last pass writes its values at those slices of `output` (its whole output), the ones before write slab-sized
 * `scratch`, so that no whole-image buffer holds them (a 1 mm head's x pass at shrink 2: 14 MB of fresh pages).
 */
export function shrinkSlab(source: Float32Exact, passes: readonly ShrinkPass[], sliced: number, slices: number, z0: number, z1: number, output: Float32Array, scratch: SlabScratch): void {
  const first = passes[0].inputLength / slices;
  let from: Float32Exact = (source as Float32Array).subarray(z0 * first, z1 * first);
  for (let p = 0; p < sliced; p++) {
    const pass = passes[p];
    const per = pass.outputLength / slices;
    let to: Float32Array;
    if (p === sliced - 1) to = output.subarray(z0 * per, z1 * per);
    else {
      const n = (z1 - z0) * per;
      if (scratch[p] === undefined || scratch[p].length < n) scratch[p] = new Float32Array(n);
      to = scratch[p].subarray(0, n);
    }
    shrinkPassSlices(from, to, pass, slices, 0, z1 - z0);
    from = to;
  }
}

/** Along x without smoothing: lines [lineFrom, lineTo), each interpolated linearly at the new centres. */
function interpolateLines(input: Float32Exact, output: Float32Array, pass: ShrinkPass, lineFrom: number, lineTo: number): void {
  const { length, outLength, components: nc, lower, weight } = pass;
  for (let line = lineFrom; line < lineTo; line++) {
    const base = line * length * nc;
    const outBase = line * outLength * nc;
    for (let c = 0; c < nc; c++) {
      for (let j = 0; j < outLength; j++) {
        const i0 = lower[j];
        const w = weight[j];
        const i1 = w > 0 ? i0 + 1 : i0;
        output[outBase + j * nc + c] = (1 - w) * input[base + i0 * nc + c] + w * input[base + i1 * nc + c];
      }
    }
  }
}

/**
 * Along x when every output is one sum (ShrinkPass.pairs): lines [lineFrom, lineTo). Outputs whose window lies
 * inside the line read the input directly, four at a time (four independent sums: a single sum's chain of
 * additions makes the loop wait on each addition's latency); those near the ends read it through the mirror
 * table. Every output is the same sum in the same order either way.
 */
function singleLines(input: Float32Exact, output: Float32Array, pass: ShrinkPass, lineFrom: number, lineTo: number): void {
  const { length, outLength, components: nc, lower, centre, withCentre, reach } = pass;
  const pairs = pass.pairs!;
  const mirror = pass.mirror!;
  const m = pairs.length;
  const radius = (mirror.length - length) >> 1;
  // pair k of output j: input positions i0 − r + k and i0 + reach − k, (r + reach)·nc apart for k = 0
  const span = (radius + reach) * nc;
  // outputs [inFrom, inTo) have their windows [i0 − r, i0 + reach] inside the line (lower[] increases)
  let inFrom = 0;
  while (inFrom < outLength && lower[inFrom] < radius) inFrom++;
  let inTo = outLength;
  while (inTo > inFrom && lower[inTo - 1] + reach >= length) inTo--;
  for (let line = lineFrom; line < lineTo; line++) {
    for (let c = 0; c < nc; c++) {
      const base = line * length * nc + c;
      const outBase = line * outLength * nc + c;
      // (mirror[e]: the input position of extended position e, input position e − r or its mirror image)
      for (let j = inFrom > 0 ? 0 : inTo; j < outLength; j = j + 1 === inFrom ? inTo : j + 1) {
        const i0 = lower[j];
        let sum = withCentre ? centre * input[base + i0 * nc] : 0;
        for (let k = 0; k < m; k++) sum += pairs[k] * (input[base + mirror[i0 + k] * nc] + input[base + mirror[i0 + radius + reach - k] * nc]);
        output[outBase + j * nc] = sum;
      }
      let j = inFrom;
      for (; j + 3 < inTo; j += 4) {
        const p0 = base + lower[j] * nc;
        const p1 = base + lower[j + 1] * nc;
        const p2 = base + lower[j + 2] * nc;
        const p3 = base + lower[j + 3] * nc;
        let s0 = 0;
        let s1 = 0;
        let s2 = 0;
        let s3 = 0;
        if (withCentre) {
          s0 = centre * input[p0];
          s1 = centre * input[p1];
          s2 = centre * input[p2];
          s3 = centre * input[p3];
        }
        let a0 = p0 - radius * nc;
        let a1 = p1 - radius * nc;
        let a2 = p2 - radius * nc;
        let a3 = p3 - radius * nc;
        for (let k = 0, hi = span; k < m; k++, hi -= 2 * nc, a0 += nc, a1 += nc, a2 += nc, a3 += nc) {
          const w = pairs[k];
          s0 += w * (input[a0] + input[a0 + hi]);
          s1 += w * (input[a1] + input[a1 + hi]);
          s2 += w * (input[a2] + input[a2 + hi]);
          s3 += w * (input[a3] + input[a3 + hi]);
        }
        const o = outBase + j * nc;
        output[o] = s0;
        output[o + nc] = s1;
        output[o + 2 * nc] = s2;
        output[o + 3 * nc] = s3;
      }
      for (; j < inTo; j++) {
        const p = base + lower[j] * nc;
        let sum = withCentre ? centre * input[p] : 0;
        for (let k = 0, lo = -radius * nc, hi = lo + span; k < m; k++, lo += nc, hi -= nc) sum += pairs[k] * (input[p + lo] + input[p + hi]);
        output[outBase + j * nc] = sum;
      }
    }
  }
}

/**
 * Along a strided axis when every output is one sum (ShrinkPass.pairs): units = (block, output row j). Four values
 * of the row at a time, each summed in registers in smoothInPlace's order (the rows of extended positions from the
 * mirror table).
 */
function singleRows(input: Float32Exact, output: Float32Array, pass: ShrinkPass, from: number, to: number): void {
  const { length, outLength, lower, centre, withCentre, reach } = pass;
  const pairs = pass.pairs!;
  const mirror = pass.mirror!;
  const m = pairs.length;
  const radius = (mirror.length - length) >> 1;
  const row = pass.stride * pass.components;
  for (let unit = from; unit < to; unit++) {
    const block = Math.floor(unit / outLength);
    const j = unit - block * outLength;
    const base = block * length * row;
    const out = block * outLength * row + j * row;
    const t = lower[j];
    const mid = base + t * row;
    let x = 0;
    for (; x + 7 < row; x += 8) {
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      let s4 = 0;
      let s5 = 0;
      let s6 = 0;
      let s7 = 0;
      if (withCentre) {
        const c0 = mid + x;
        s0 = centre * input[c0];
        s1 = centre * input[c0 + 1];
        s2 = centre * input[c0 + 2];
        s3 = centre * input[c0 + 3];
        s4 = centre * input[c0 + 4];
        s5 = centre * input[c0 + 5];
        s6 = centre * input[c0 + 6];
        s7 = centre * input[c0 + 7];
      }
      for (let k = 0; k < m; k++) {
        const w = pairs[k];
        const lo = base + mirror[t + k] * row + x;
        const hi = base + mirror[t + radius + reach - k] * row + x;
        s0 += w * (input[lo] + input[hi]);
        s1 += w * (input[lo + 1] + input[hi + 1]);
        s2 += w * (input[lo + 2] + input[hi + 2]);
        s3 += w * (input[lo + 3] + input[hi + 3]);
        s4 += w * (input[lo + 4] + input[hi + 4]);
        s5 += w * (input[lo + 5] + input[hi + 5]);
        s6 += w * (input[lo + 6] + input[hi + 6]);
        s7 += w * (input[lo + 7] + input[hi + 7]);
      }
      const o = out + x;
      output[o] = s0;
      output[o + 1] = s1;
      output[o + 2] = s2;
      output[o + 3] = s3;
      output[o + 4] = s4;
      output[o + 5] = s5;
      output[o + 6] = s6;
      output[o + 7] = s7;
    }
    for (; x < row; x++) {
      let sum = withCentre ? centre * input[mid + x] : 0;
      for (let k = 0; k < m; k++) sum += pairs[k] * (input[base + mirror[t + k] * row + x] + input[base + mirror[t + radius + reach - k] * row + x]);
      output[out + x] = sum;
    }
  }
}

/**
 * Along a strided axis without smoothing: units = (block, output row j), rows of stride·components contiguous
 * values, each interpolated linearly between input rows lower[j] and lower[j] + 1.
 */
function interpolateRows(input: Float32Exact, output: Float32Array, pass: ShrinkPass, from: number, to: number): void {
  const { length, outLength, lower, weight } = pass;
  const row = pass.stride * pass.components;
  for (let unit = from; unit < to; unit++) {
    const block = Math.floor(unit / outLength);
    const j = unit - block * outLength;
    const base = block * length * row;
    const out = block * outLength * row + j * row;
    const w = weight[j];
    const a = base + lower[j] * row;
    const b = w > 0 ? a + row : a;
    for (let x = 0; x < row; x++) output[out + x] = (1 - w) * input[a + x] + w * input[b + x];
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

/** Slices per slab of smoothAndShrinkVoxels' passes within slices (a 1 mm head's x-pass output at shrink 2: 0.3 MB). */
const SERIAL_SLAB = 4;

/**
 * Gaussian smoothing (σ in voxels per axis, as smoothInPlace) followed by shrinkImage, done axis by axis: smooth
 * along x, shrink x, then smooth along y on the x-shrunk data, and so on. Smoothing along one axis and resampling
 * along another commute, so this is gaussianSmooth then shrinkImage (to float32 rounding); and each axis's
 * smoothed values are computed only where the resampling reads them (ShrinkPass): a shrink-by-4 level of a
 * 512×512×300 CT smooths about half a volume's worth of lines instead of 3, and holds no full-size float32 copy.
 */
export function smoothAndShrinkVoxels(img: Image, sigmasVoxels: readonly number[], factors: readonly number[]): Image<Float32Array> {
  const geometry = shrunkGeometry(img, factors);
  const passes = shrinkPasses(img.size, img.components, sigmasVoxels, geometry, factors);
  let current: Float32Exact = float32Exact(img.data);
  let start = 0;
  if (img.dimension === 3 && img.components === 1) {
    // the passes within slices slab by slab (their intermediate outputs in slab scratch), then the one along z
    const slices = img.size[2];
    const sliced = slicedPassCount(passes, slices);
    if (sliced >= 2) {
      const out = new Float32Array(passes[sliced - 1].outputLength);
      const scratch: SlabScratch = [];
      for (let z = 0; z < slices; z += SERIAL_SLAB) shrinkSlab(current, passes, sliced, slices, z, Math.min(slices, z + SERIAL_SLAB), out, scratch);
      current = out;
      start = sliced;
    }
  }
  for (const pass of passes.slice(start)) {
    const next = new Float32Array(pass.outputLength);
    shrinkPassUnits(current, next, pass, 0, pass.units);
    current = next;
  }
  return shrunkImage(img, geometry, current instanceof Float32Array && current !== img.data ? current : Float32Array.from(current));
}

/** The image of `geometry` holding `data`. */
export function shrunkImage(img: Image, geometry: ShrunkGeometry, data: Float32Array): Image<Float32Array> {
  return {
    dimension: img.dimension,
    size: geometry.size,
    spacing: geometry.spacing,
    origin: geometry.origin,
    direction: img.direction.slice(),
    components: img.components,
    data,
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
