/**
 * Resampling a moving image onto a reference grid through a chain of fixed → moving transforms.
 *
 * For each reference voxel x (physical point of its index), the moving image is sampled at T(x) with
 * T(x) = Tn(…T2(T1(x))) — the list applies first-first, as in result.json and `coreg apply`. Points outside the
 * moving image's domain (−0.5 ≤ ci ≤ size − 0.5, see src/interpolate/kernels.ts) get `defaultValue` (0).
 *
 * Work is done one output row at a time: first the row's moving continuous indices are computed (one affine
 * index map when every transform is linear; else transformPoint per voxel), then each component is sampled
 * from them. Integer outputs are rounded half up and clamped to the type's range.
 */
import { CoregError } from '../errors.js';
import {
  createImage,
  indexToPhysicalMatrix,
  physicalToIndexMatrix,
  pixelTypeOf,
  type GridLike,
  type Image,
  type PixelArray,
  type PixelType,
} from '../image/image.js';
import { isLinear, type LinearTransform, type Transform } from '../transform/transform.js';
import { barycentric2d, barycentric3d, linear2d, linear3d, nearestIndex2d, nearestIndex3d, type Plane } from '../interpolate/kernels.js';
import { bspline2d, bspline3d, bsplineCoefficients } from '../interpolate/bspline.js';
import { interpolationPlane } from '../interpolate/interpolator.js';

export type ResampleInterpolation = 'nearest' | 'linear' | 'barycentric' | 'bspline' | 'label';

export const RESAMPLE_INTERPOLATIONS: readonly ResampleInterpolation[] = ['nearest', 'linear', 'barycentric', 'bspline', 'label'];

export interface ResampleOptions {
  /** Default 'linear'. 'label' = per voxel the label with the largest summed (bi/tri)linear weight. */
  interpolation?: ResampleInterpolation;
  /** Value outside the moving image (default 0). */
  defaultValue?: number;
  /** Default: float32 for linear/barycentric/bspline, the moving pixel type for nearest/label. */
  outputType?: PixelType;
}

/** `image` itself when its pixels are float32, else a float32 copy (all components, geometry copied). */
export function ensureFloat32(image: Image): Image<Float32Array> {
  if (image.data instanceof Float32Array) return image as Image<Float32Array>;
  return {
    dimension: image.dimension,
    size: image.size.slice(),
    spacing: image.spacing.slice(),
    origin: image.origin.slice(),
    direction: image.direction.slice(),
    components: image.components,
    data: Float32Array.from(image.data as ArrayLike<number>),
  };
}

/** Resample `image` onto `grid` with no transform (identity in physical space). */
export function resampleToGrid(image: Image, grid: GridLike, opts: ResampleOptions = {}): Image {
  return resample(image, grid, [], opts);
}

/**
 * The single affine x ↦ A·x + t equal to applying `chain` first-first: T(x) = Tn(…T1(x)).
 * `matrix` is d×d row-major.
 */
export function composeLinearChain(chain: readonly LinearTransform[], d: number): { matrix: Float64Array; offset: Float64Array } {
  let a = new Float64Array(d * d);
  for (let i = 0; i < d; i++) a[i * d + i] = 1;
  let t = new Float64Array(d);
  for (const tr of chain) {
    const m = tr.matrix();
    const o = tr.offset();
    const na = new Float64Array(d * d);
    const nt = new Float64Array(d);
    for (let r = 0; r < d; r++) {
      let s = o[r];
      for (let k = 0; k < d; k++) s += m[r * d + k] * t[k];
      nt[r] = s;
      for (let c = 0; c < d; c++) {
        let u = 0;
        for (let k = 0; k < d; k++) u += m[r * d + k] * a[k * d + c];
        na[r * d + c] = u;
      }
    }
    a = na;
    t = nt;
  }
  return { matrix: a, offset: t };
}

function integerRange(type: PixelType): [number, number] | null {
  switch (type) {
    case 'uint8':
      return [0, 255];
    case 'int8':
      return [-128, 127];
    case 'uint16':
      return [0, 65535];
    case 'int16':
      return [-32768, 32767];
    case 'uint32':
      return [0, 4294967295];
    case 'int32':
      return [-2147483648, 2147483647];
    default:
      return null;
  }
}

/** Moving image resampled on the reference grid through `transforms` (fixed → moving, first-first). */
export function resample(moving: Image, reference: GridLike, transforms: Transform | readonly Transform[], opts: ResampleOptions = {}): Image {
  const kind = opts.interpolation ?? 'linear';
  if (!(RESAMPLE_INTERPOLATIONS as readonly string[]).includes(kind)) {
    throw new CoregError('--interpolation', `unknown interpolation '${String(kind)}' (expected ${RESAMPLE_INTERPOLATIONS.join(', ')})`, 2);
  }
  const d = moving.dimension;
  if (reference.dimension !== d) throw new CoregError('--reference', `reference grid is ${reference.dimension}D but the moving image is ${d}D`);
  const chain: readonly Transform[] = Array.isArray(transforms) ? transforms : [transforms as Transform];
  for (const t of chain) {
    if (t.dimension !== d) throw new CoregError('--transform', `transform '${t.kind}' is ${t.dimension}D but the images are ${d}D`);
  }
  const defaultValue = opts.defaultValue ?? 0;
  const outputType: PixelType = opts.outputType ?? (kind === 'nearest' || kind === 'label' ? pixelTypeOf(moving.data) : 'float32');
  const nc = moving.components;
  const out = createImage(reference.size, outputType, {
    spacing: reference.spacing,
    origin: reference.origin,
    direction: reference.direction,
    components: nc,
  });
  if (reference.header) out.header = { ...reference.header };

  // What each component is sampled from: original interleaved pixels (nearest, label), float planes, or
  // B-spline coefficients.
  const sources: (Plane | PixelArray)[] = [];
  for (let c = 0; c < nc; c++) {
    if (kind === 'nearest' || kind === 'label') sources.push(moving.data);
    else if (kind === 'bspline') sources.push(bsplineCoefficients(moving.data, moving.size, nc, c));
    else sources.push(interpolationPlane(moving, c));
  }

  const ox = reference.size[0];
  const oy = reference.size[1];
  const oz = d === 3 ? reference.size[2] : 1;
  const xs = new Float64Array(ox);
  const ys = new Float64Array(ox);
  const zs = new Float64Array(ox);
  const values = new Float64Array(ox);
  const mapper = createRowMapper(moving, reference, chain, xs, ys, zs);
  const range = integerRange(outputType);
  const outData = out.data;
  const mx = moving.size[0];
  const my = moving.size[1];
  const mz = d === 3 ? moving.size[2] : 1;

  for (let k = 0; k < oz; k++) {
    for (let j = 0; j < oy; j++) {
      mapper(j, k);
      const rowStart = ox * (j + oy * k);
      for (let c = 0; c < nc; c++) {
        if (d === 2) sampleRow2d(kind, sources[c], nc, c, mx, my, xs, ys, ox, values, defaultValue);
        else sampleRow3d(kind, sources[c], nc, c, mx, my, mz, xs, ys, zs, ox, values, defaultValue);
        if (range) storeRowInteger(outData, rowStart * nc + c, nc, values, ox, range[0], range[1]);
        else storeRowFloat(outData, rowStart * nc + c, nc, values, ox);
      }
    }
  }
  return out;
}

/**
 * A function filling xs/ys/zs with the moving continuous indices of reference row (j, k). With a linear chain it
 * evaluates one index-space affine (reference index → moving index) along the row; otherwise it maps each voxel's
 * physical point through the transforms with reused buffers.
 */
function createRowMapper(
  moving: Image,
  reference: GridLike,
  chain: readonly Transform[],
  xs: Float64Array,
  ys: Float64Array,
  zs: Float64Array,
): (j: number, k: number) => void {
  const d = moving.dimension;
  const n = xs.length;
  const mRef = indexToPhysicalMatrix(reference);
  const nMov = physicalToIndexMatrix(moving);
  const oRef = reference.origin;
  const oMov = moving.origin;

  if (chain.every(isLinear)) {
    const { matrix: a, offset: t } = composeLinearChain(chain as readonly LinearTransform[], d);
    // K = N_mov·A·M_ref, k0 = N_mov·(A·o_ref + t − o_mov): moving index = K·(reference index) + k0.
    const na = mul(nMov, a, d);
    const kMat = mul(na, mRef, d);
    const shift = new Float64Array(d);
    for (let r = 0; r < d; r++) {
      let s = t[r] - oMov[r];
      for (let c = 0; c < d; c++) s += a[r * d + c] * oRef[c];
      shift[r] = s;
    }
    const k0 = new Float64Array(d);
    for (let r = 0; r < d; r++) {
      let s = 0;
      for (let c = 0; c < d; c++) s += nMov[r * d + c] * shift[c];
      k0[r] = s;
    }
    if (d === 2) {
      const [k00, k01, k10, k11] = kMat;
      return (j: number) => {
        const sx = k0[0] + k01 * j;
        const sy = k0[1] + k11 * j;
        // Start + i·step rather than repeated addition, so long rows do not accumulate rounding drift.
        for (let i = 0; i < n; i++) {
          xs[i] = sx + k00 * i;
          ys[i] = sy + k10 * i;
        }
      };
    }
    return (j: number, k: number) => {
      const sx = k0[0] + kMat[1] * j + kMat[2] * k;
      const sy = k0[1] + kMat[4] * j + kMat[5] * k;
      const sz = k0[2] + kMat[7] * j + kMat[8] * k;
      const dx = kMat[0];
      const dy = kMat[3];
      const dz = kMat[6];
      for (let i = 0; i < n; i++) {
        xs[i] = sx + dx * i;
        ys[i] = sy + dy * i;
        zs[i] = sz + dz * i;
      }
    };
  }

  const start = new Float64Array(d);
  let p = new Float64Array(d);
  let q = new Float64Array(d);
  const p0 = p;
  const q0 = q;
  return (j: number, k: number) => {
    for (let r = 0; r < d; r++) start[r] = oRef[r] + mRef[r * d + 1] * j + (d === 3 ? mRef[r * d + 2] * k : 0);
    for (let i = 0; i < n; i++) {
      p = p0;
      q = q0;
      for (let r = 0; r < d; r++) p[r] = start[r] + mRef[r * d] * i;
      for (let s = 0; s < chain.length; s++) {
        chain[s].transformPoint(p, q);
        const tmp = p;
        p = q;
        q = tmp;
      }
      // p holds the moving physical point.
      if (d === 2) {
        const ux = p[0] - oMov[0];
        const uy = p[1] - oMov[1];
        xs[i] = nMov[0] * ux + nMov[1] * uy;
        ys[i] = nMov[2] * ux + nMov[3] * uy;
      } else {
        const ux = p[0] - oMov[0];
        const uy = p[1] - oMov[1];
        const uz = p[2] - oMov[2];
        xs[i] = nMov[0] * ux + nMov[1] * uy + nMov[2] * uz;
        ys[i] = nMov[3] * ux + nMov[4] * uy + nMov[5] * uz;
        zs[i] = nMov[6] * ux + nMov[7] * uy + nMov[8] * uz;
      }
    }
  };
}

function mul(a: ArrayLike<number>, b: ArrayLike<number>, d: number): Float64Array {
  const m = new Float64Array(d * d);
  for (let r = 0; r < d; r++) {
    for (let c = 0; c < d; c++) {
      let s = 0;
      for (let k = 0; k < d; k++) s += a[r * d + k] * b[k * d + c];
      m[r * d + c] = s;
    }
  }
  return m;
}

function sampleRow2d(
  kind: ResampleInterpolation,
  src: Plane | PixelArray,
  nc: number,
  c: number,
  nx: number,
  ny: number,
  xs: Float64Array,
  ys: Float64Array,
  n: number,
  out: Float64Array,
  def: number,
): void {
  switch (kind) {
    case 'nearest':
      for (let i = 0; i < n; i++) {
        const idx = nearestIndex2d(nx, ny, xs[i], ys[i]);
        out[i] = idx < 0 ? def : src[idx * nc + c];
      }
      break;
    case 'label':
      for (let i = 0; i < n; i++) {
        const v = label2d(src, nc, c, nx, ny, xs[i], ys[i]);
        out[i] = v === v ? v : def;
      }
      break;
    case 'linear':
      for (let i = 0; i < n; i++) {
        const v = linear2d(src as Plane, nx, ny, xs[i], ys[i]);
        out[i] = v === v ? v : def;
      }
      break;
    case 'barycentric':
      for (let i = 0; i < n; i++) {
        const v = barycentric2d(src as Plane, nx, ny, xs[i], ys[i]);
        out[i] = v === v ? v : def;
      }
      break;
    case 'bspline':
      for (let i = 0; i < n; i++) {
        const v = bspline2d(src as Float64Array, nx, ny, xs[i], ys[i]);
        out[i] = v === v ? v : def;
      }
      break;
  }
}

function sampleRow3d(
  kind: ResampleInterpolation,
  src: Plane | PixelArray,
  nc: number,
  c: number,
  nx: number,
  ny: number,
  nz: number,
  xs: Float64Array,
  ys: Float64Array,
  zs: Float64Array,
  n: number,
  out: Float64Array,
  def: number,
): void {
  switch (kind) {
    case 'nearest':
      for (let i = 0; i < n; i++) {
        const idx = nearestIndex3d(nx, ny, nz, xs[i], ys[i], zs[i]);
        out[i] = idx < 0 ? def : src[idx * nc + c];
      }
      break;
    case 'label':
      for (let i = 0; i < n; i++) {
        const v = label3d(src, nc, c, nx, ny, nz, xs[i], ys[i], zs[i]);
        out[i] = v === v ? v : def;
      }
      break;
    case 'linear':
      for (let i = 0; i < n; i++) {
        const v = linear3d(src as Plane, nx, ny, nz, xs[i], ys[i], zs[i]);
        out[i] = v === v ? v : def;
      }
      break;
    case 'barycentric':
      for (let i = 0; i < n; i++) {
        const v = barycentric3d(src as Plane, nx, ny, nz, xs[i], ys[i], zs[i]);
        out[i] = v === v ? v : def;
      }
      break;
    case 'bspline':
      for (let i = 0; i < n; i++) {
        const v = bspline3d(src as Float64Array, nx, ny, nz, xs[i], ys[i], zs[i]);
        out[i] = v === v ? v : def;
      }
      break;
  }
}

function storeRowFloat(out: PixelArray, start: number, stride: number, values: Float64Array, n: number): void {
  for (let i = 0, p = start; i < n; i++, p += stride) out[p] = values[i];
}

function storeRowInteger(out: PixelArray, start: number, stride: number, values: Float64Array, n: number, lo: number, hi: number): void {
  for (let i = 0, p = start; i < n; i++, p += stride) {
    let v = Math.round(values[i]);
    if (v < lo) v = lo;
    else if (v > hi) v = hi;
    out[p] = v === v ? v : 0;
  }
}

// Label voting scratch: the 2^d neighbours' labels and weights (module level: no allocation per voxel).
const voteLabels = new Float64Array(8);
const voteWeights = new Float64Array(8);
/** Weights closer than this count as a tie (then the smaller label wins). */
const TIE = 1e-12;

/** The label with the largest summed weight among the first `m` neighbours; ties go to the smaller label. */
function vote(m: number): number {
  let best = NaN;
  let bestWeight = -1;
  for (let a = 0; a < m; a++) {
    const label = voteLabels[a];
    let seen = false;
    for (let b = 0; b < a; b++) {
      if (voteLabels[b] === label) {
        seen = true;
        break;
      }
    }
    if (seen) continue;
    let w = 0;
    for (let b = a; b < m; b++) if (voteLabels[b] === label) w += voteWeights[b];
    if (w > bestWeight + TIE || (w >= bestWeight - TIE && label < best)) {
      best = label;
      bestWeight = w;
    }
  }
  return best;
}

/** Label interpolation at continuous index (x, y) of component c of interleaved pixels; NaN outside. */
export function label2d(data: ArrayLike<number>, nc: number, c: number, nx: number, ny: number, x: number, y: number): number {
  if (!(x >= -0.5 && x <= nx - 0.5 && y >= -0.5 && y <= ny - 0.5)) return NaN;
  let x0 = Math.floor(x);
  let y0 = Math.floor(y);
  const fx = x - x0;
  const fy = y - y0;
  let x1 = x0 + 1;
  let y1 = y0 + 1;
  if (x0 < 0) x0 = 0;
  if (x1 > nx - 1) x1 = nx - 1;
  if (y0 < 0) y0 = 0;
  if (y1 > ny - 1) y1 = ny - 1;
  if (x0 > nx - 1) x0 = nx - 1;
  if (y0 > ny - 1) y0 = ny - 1;
  voteLabels[0] = data[(x0 + nx * y0) * nc + c];
  voteLabels[1] = data[(x1 + nx * y0) * nc + c];
  voteLabels[2] = data[(x0 + nx * y1) * nc + c];
  voteLabels[3] = data[(x1 + nx * y1) * nc + c];
  voteWeights[0] = (1 - fx) * (1 - fy);
  voteWeights[1] = fx * (1 - fy);
  voteWeights[2] = (1 - fx) * fy;
  voteWeights[3] = fx * fy;
  return vote(4);
}

/** Label interpolation at continuous index (x, y, z) of component c of interleaved pixels; NaN outside. */
export function label3d(data: ArrayLike<number>, nc: number, c: number, nx: number, ny: number, nz: number, x: number, y: number, z: number): number {
  if (!(x >= -0.5 && x <= nx - 0.5 && y >= -0.5 && y <= ny - 0.5 && z >= -0.5 && z <= nz - 0.5)) return NaN;
  let x0 = Math.floor(x);
  let y0 = Math.floor(y);
  let z0 = Math.floor(z);
  const fx = x - x0;
  const fy = y - y0;
  const fz = z - z0;
  let x1 = x0 + 1;
  let y1 = y0 + 1;
  let z1 = z0 + 1;
  if (x0 < 0) x0 = 0;
  if (x1 > nx - 1) x1 = nx - 1;
  if (y0 < 0) y0 = 0;
  if (y1 > ny - 1) y1 = ny - 1;
  if (z0 < 0) z0 = 0;
  if (z1 > nz - 1) z1 = nz - 1;
  if (x0 > nx - 1) x0 = nx - 1;
  if (y0 > ny - 1) y0 = ny - 1;
  if (z0 > nz - 1) z0 = nz - 1;
  const nxy = nx * ny;
  for (let corner = 0; corner < 8; corner++) {
    const cx = corner & 1;
    const cy = (corner >> 1) & 1;
    const cz = corner >> 2;
    const idx = (cx ? x1 : x0) + nx * (cy ? y1 : y0) + nxy * (cz ? z1 : z0);
    voteLabels[corner] = data[idx * nc + c];
    voteWeights[corner] = (cx ? fx : 1 - fx) * (cy ? fy : 1 - fy) * (cz ? fz : 1 - fz);
  }
  return vote(8);
}
