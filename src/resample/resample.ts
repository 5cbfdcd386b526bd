/**
 * Resampling a moving image onto a reference grid through a chain of fixed → moving transforms.
 *
 * For each reference voxel x (physical point of its index), the moving image is sampled at T(x) with
 * T(x) = Tn(…T2(T1(x))) — the list applies first-first, as in result.json and `coreg apply`. Points outside the
 * moving image's domain (−0.5 ≤ ci ≤ size − 0.5, see src/interpolate/kernels.ts) get `defaultValue` (0).
 *
 * Work is done one output row at a time: first the row's moving continuous indices are computed (one affine
 * index map when every transform is linear; else transformPoint per voxel, with a leading B-spline evaluated
 * slice by slice by its separable dense evaluator), then each component is sampled from them. Integer outputs are rounded half up and clamped to the type's range.
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
  checkImageArgument,
} from '../image/image.js';
import { BSplineTransform } from '../transform/bspline.js';
import { bsplineDisplacementField } from '../transform/bspline-field.js';
import { DisplacementFieldTransform } from '../transform/displacement-field.js';
import { identity, matMul } from '../image/linalg.js';
import { composeLinear, MatrixOffsetTransform } from '../transform/linear.js';
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
  const { setup, chain, out } = prepareResample(moving, reference, transforms, opts);
  resampleRows(setup, chain, out.data)(0, resampleRowCount(setup));
  return out;
}

/**
 * What resampling reads, as plain data (typed arrays may sit on shared memory): a team's threads each build
 * their row function from the same setup (src/register/parallel-resample.ts), so every voxel is computed the same
 * way in any thread.
 */
export interface ResampleSetup {
  kind: ResampleInterpolation;
  /** The moving image's grid (its pixels are in `sources`). */
  moving: GridLike;
  components: number;
  /** Per component: what it is sampled from (interleaved pixels for nearest/label, a float plane, or B-spline coefficients). */
  sources: (Plane | PixelArray)[];
  reference: GridLike;
  defaultValue: number;
  outputType: PixelType;
}

/** Output rows of a setup: size[1] (× size[2] in 3D); row r = (j, k) = (r mod size[1], ⌊r / size[1]⌋). */
export function resampleRowCount(setup: ResampleSetup): number {
  return setup.reference.size[1] * (setup.reference.dimension === 3 ? setup.reference.size[2] : 1);
}

/** Checks the arguments and makes the setup, the chain as a list, and the (zeroed) output image. */
export function prepareResample(
  moving: Image,
  reference: GridLike,
  transforms: Transform | readonly Transform[],
  opts: ResampleOptions = {},
): { setup: ResampleSetup; chain: readonly Transform[]; out: Image } {
  const kind = opts.interpolation ?? 'linear';
  if (!(RESAMPLE_INTERPOLATIONS as readonly string[]).includes(kind)) {
    throw new CoregError('--interpolation', `unknown interpolation '${String(kind)}' (expected ${RESAMPLE_INTERPOLATIONS.join(', ')})`, 2);
  }
  checkImageArgument(moving, 'moving');
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
  const grid = (g: GridLike): GridLike => ({ dimension: g.dimension, size: g.size.slice(), spacing: g.spacing.slice(), origin: g.origin.slice(), direction: g.direction.slice() });
  return { setup: { kind, moving: grid(moving), components: nc, sources, reference: grid(reference), defaultValue, outputType }, chain, out };
}

/**
 * A function resampling output rows [r0, r1) into `outData` (see resampleRowCount), with its own scratch
 * buffers: one per thread.
 */
export function resampleRows(setup: ResampleSetup, chain: readonly Transform[], outData: PixelArray): (r0: number, r1: number) => void {
  const { kind, moving, reference, sources, defaultValue } = setup;
  const d = moving.dimension;
  const nc = setup.components;
  const ox = reference.size[0];
  const oy = reference.size[1];
  const xs = new Float64Array(ox);
  const ys = new Float64Array(ox);
  const zs = new Float64Array(ox);
  const values = new Float64Array(ox);
  const mapper = createRowMapper(moving, reference, chain, xs, ys, zs);
  const range = integerRange(setup.outputType);
  const mx = moving.size[0];
  const my = moving.size[1];
  const mz = d === 3 ? moving.size[2] : 1;
  return (r0: number, r1: number): void => {
    for (let r = r0; r < r1; r++) {
      const j = r % oy;
      const k = (r - j) / oy;
      mapper(j, k);
      const rowStart = ox * r;
      for (let c = 0; c < nc; c++) {
        if (d === 2) sampleRow2d(kind, sources[c], nc, c, mx, my, xs, ys, ox, values, defaultValue);
        else sampleRow3d(kind, sources[c], nc, c, mx, my, mz, xs, ys, zs, ox, values, defaultValue);
        if (range) storeRowInteger(outData, rowStart * nc + c, nc, values, ox, range[0], range[1]);
        else storeRowFloat(outData, rowStart * nc + c, nc, values, ox);
      }
    }
  };
}

/**
 * A function filling xs/ys/zs with the moving continuous indices of reference row (j, k). With a linear chain it
 * evaluates one index-space affine (reference index → moving index) along the row; otherwise it maps each voxel's
 * physical point through the transforms with reused buffers.
 */
function createRowMapper(
  moving: GridLike,
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
    const composed = chain.length > 0 ? composeLinear(chain as LinearTransform[]) : null;
    const a = composed ? composed.matrix() : identity(d);
    const t = composed ? composed.offset() : new Float64Array(d);
    // K = N_mov·A·M_ref, k0 = N_mov·(A·o_ref + t − o_mov): moving index = K·(reference index) + k0.
    const na = matMul(nMov, a, d, d, d);
    const kMat = matMul(na, mRef, d, d, d);
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

  // A B-spline applied first (register's affine,bspline output) is evaluated one reference slice at a time by its
  // separable dense evaluator; the rest of the chain maps each point.
  const first = chain[0];
  const slice = first instanceof BSplineTransform ? sliceDisplacements(first, reference) : null;
  const rest = slice ? chain.slice(1) : chain;
  const start = new Float64Array(d);
  // What follows in 3D (a first B-spline aside) is at most one matrix–offset transform, then at most one
  // displacement field: register's two output chains (a B-spline then the affine: warped.nii.gz; the affine's
  // inverse then the B-spline's inverse field: inverse-warped.nii.gz). Their transformPoint operations are written
  // out here, in the same order, with no call per voxel but the field's interpolation.
  const matrix = rest[0] instanceof MatrixOffsetTransform ? rest[0] : null;
  const last = rest[rest.length - 1];
  const field = last instanceof DisplacementFieldTransform ? last : null;
  if (d === 3 && rest.length === (matrix ? 1 : 0) + (field ? 1 : 0)) {
    const a = matrix ? matrix.matrix() : null;
    const o = matrix ? matrix.offset() : null;
    return (j: number, k: number) => {
      const u = slice ? slice(k) : null;
      for (let r = 0; r < 3; r++) start[r] = oRef[r] + mRef[r * 3 + 1] * j + mRef[r * 3 + 2] * k;
      // the row's physical points through the B-spline and the matrix, in xs, ys, zs
      for (let i = 0; i < n; i++) {
        let x = start[0] + mRef[0] * i;
        let y = start[1] + mRef[3] * i;
        let z = start[2] + mRef[6] * i;
        if (u) {
          const e = (j * n + i) * 3;
          x += u[e];
          y += u[e + 1];
          z += u[e + 2];
        }
        if (a && o) {
          const tx = a[0] * x + a[1] * y + a[2] * z + o[0];
          const ty = a[3] * x + a[4] * y + a[5] * z + o[1];
          z = a[6] * x + a[7] * y + a[8] * z + o[2];
          x = tx;
          y = ty;
        }
        xs[i] = x;
        ys[i] = y;
        zs[i] = z;
      }
      // then the field (0 outside its domain: the points stay)
      if (field) field.addDisplacementRow3d(xs, ys, zs, n);
      // then the moving image's continuous indices
      for (let i = 0; i < n; i++) {
        const ux = xs[i] - oMov[0];
        const uy = ys[i] - oMov[1];
        const uz = zs[i] - oMov[2];
        xs[i] = nMov[0] * ux + nMov[1] * uy + nMov[2] * uz;
        ys[i] = nMov[3] * ux + nMov[4] * uy + nMov[5] * uz;
        zs[i] = nMov[6] * ux + nMov[7] * uy + nMov[8] * uz;
      }
    };
  }
  let p = new Float64Array(d);
  let q = new Float64Array(d);
  const p0 = p;
  const q0 = q;
  return (j: number, k: number) => {
    const u = slice ? slice(k) : null;
    for (let r = 0; r < d; r++) start[r] = oRef[r] + mRef[r * d + 1] * j + (d === 3 ? mRef[r * d + 2] * k : 0);
    for (let i = 0; i < n; i++) {
      p = p0;
      q = q0;
      for (let r = 0; r < d; r++) p[r] = start[r] + mRef[r * d] * i;
      if (u) {
        const at = (j * n + i) * d;
        for (let r = 0; r < d; r++) p[r] += u[at + r];
      }
      for (let s = 0; s < rest.length; s++) {
        rest[s].transformPoint(p, q);
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

/**
 * The B-spline's displacements over reference slice k (d values per voxel, x fastest), computed when slice k is
 * first asked for and kept until another slice is: one slice of memory, not a whole field.
 */
function sliceDisplacements(bs: BSplineTransform, reference: GridLike): (k: number) => Float32Array {
  const d = reference.dimension;
  const field = new Float32Array(reference.size[0] * reference.size[1] * d);
  let current = -1;
  return (k: number) => {
    if (k === current) return field;
    current = k;
    if (d === 2) return bsplineDisplacementField(bs, reference, field);
    const origin = reference.origin.map((o, r) => o + reference.direction[r * 3 + 2] * reference.spacing[2] * k);
    return bsplineDisplacementField(bs, { ...reference, size: [reference.size[0], reference.size[1], 1], origin }, field);
  };
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
