// Synthetic test images for the registration tests: smooth sums of Gaussian blobs evaluated analytically in
// physical space, so a moving image for a known transform needs no resampler (and cannot share its bugs).
import { createImage, invertMatrix, type Image } from '../../src/image/image.js';
import { identity } from '../../src/image/linalg.js';
import type { Transform } from '../../src/transform/transform.js';
import { isLinear } from '../../src/transform/transform.js';
import { composeLinear } from '../../src/transform/linear.js';

export interface Blob {
  center: number[];
  sigma: number;
  amplitude: number;
}

/** Asymmetric blob sets (no rotational or mirror symmetry) inside a 48 mm (2D) or 24 mm (3D) field of view. */
export const BLOBS_2D: Blob[] = [
  { center: [17, 19], sigma: 5, amplitude: 1 },
  { center: [31, 17], sigma: 3.5, amplitude: 0.7 },
  { center: [26, 31], sigma: 4, amplitude: 0.85 },
  { center: [15, 32], sigma: 2.5, amplitude: 0.5 },
  { center: [34, 28], sigma: 2.5, amplitude: 0.4 },
];

export const BLOBS_3D: Blob[] = [
  { center: [9, 10, 11], sigma: 3, amplitude: 1 },
  { center: [16, 9, 13], sigma: 2.2, amplitude: 0.7 },
  { center: [12, 16, 9], sigma: 2.5, amplitude: 0.85 },
  { center: [14, 14, 16], sigma: 2, amplitude: 0.5 },
  { center: [8, 15, 15], sigma: 1.8, amplitude: 0.4 },
];

/**
 * Blobs plus a faint texture: blob-only images leave most samples in a flat background, where histogram metrics
 * settle a few hundredths of a voxel off (their optimum itself is biased by the sparse joint histogram).
 */
export function scene2d(p: ArrayLike<number>): number {
  return blobValue(BLOBS_2D, p) + 0.15 * Math.sin(0.21 * p[0] + 0.3) * Math.cos(0.17 * p[1] - 0.2);
}

export function scene3d(p: ArrayLike<number>): number {
  return blobValue(BLOBS_3D, p) + 0.15 * Math.sin(0.31 * p[0] + 0.3) * Math.cos(0.27 * p[1] - 0.2) * Math.cos(0.23 * p[2] + 0.1);
}

/** A non-monotonic intensity map (over the scene's range −0.15 … 1.3), for the multi-modal cases. */
export function otherModality(v: number): number {
  return Math.sin(1.2 * Math.PI * v) + 0.3 * v;
}

export function blobValue(blobs: Blob[], p: ArrayLike<number>): number {
  let v = 0;
  for (const b of blobs) {
    let r2 = 0;
    for (let a = 0; a < b.center.length; a++) r2 += (p[a] - b.center[a]) ** 2;
    v += b.amplitude * Math.exp(-r2 / (2 * b.sigma * b.sigma));
  }
  return v;
}

export interface Grid {
  size: number[];
  spacing?: number[];
  origin?: number[];
  direction?: number[];
}

/** A float32 image whose pixel at physical point p is fn(p). */
export function imageFromFunction(grid: Grid, fn: (p: Float64Array) => number): Image {
  const img = createImage(grid.size, 'float32', { spacing: grid.spacing, origin: grid.origin, direction: grid.direction });
  const d = img.dimension;
  const p = new Float64Array(d);
  const idx = new Array<number>(3).fill(0);
  const n = img.data.length;
  for (let v = 0; v < n; v++) {
    idx[0] = v % img.size[0];
    idx[1] = Math.floor(v / img.size[0]) % img.size[1];
    idx[2] = d === 3 ? Math.floor(v / (img.size[0] * img.size[1])) : 0;
    for (let r = 0; r < d; r++) {
      let s = img.origin[r];
      for (let c = 0; c < d; c++) s += img.direction[r * d + c] * img.spacing[c] * idx[c];
      p[r] = s;
    }
    img.data[v] = fn(p);
  }
  return img;
}

/** A known fixed → moving map T(x) = A·x + o, given as a rotation/scale/shear about a centre plus a shift. */
export interface TrueMap {
  A: Float64Array;
  o: Float64Array;
}

/** T(x) = M·(x − c) + c + t. */
export function mapAbout(M: ArrayLike<number>, c: ArrayLike<number>, t: ArrayLike<number>): TrueMap {
  const d = c.length;
  const A = Float64Array.from(M);
  const o = new Float64Array(d);
  for (let r = 0; r < d; r++) {
    let s = c[r] + t[r];
    for (let k = 0; k < d; k++) s -= A[r * d + k] * c[k];
    o[r] = s;
  }
  return { A, o };
}

export function rotation2d(angle: number, scale = 1): number[] {
  const c = Math.cos(angle) * scale;
  const s = Math.sin(angle) * scale;
  return [c, -s, s, c];
}

/** R = Rz·Rx·Ry (ITK Euler3D order), times scale. */
export function rotation3d(ax: number, ay: number, az: number, scale = 1): number[] {
  const cx = Math.cos(ax), sx = Math.sin(ax), cy = Math.cos(ay), sy = Math.sin(ay), cz = Math.cos(az), sz = Math.sin(az);
  const Rx = [1, 0, 0, 0, cx, -sx, 0, sx, cx];
  const Ry = [cy, 0, sy, 0, 1, 0, -sy, 0, cy];
  const Rz = [cz, -sz, 0, sz, cz, 0, 0, 0, 1];
  const mul = (a: number[], b: number[]): number[] => {
    const out = new Array<number>(9).fill(0);
    for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) for (let k = 0; k < 3; k++) out[r * 3 + c] += a[r * 3 + k] * b[k * 3 + c];
    return out;
  };
  return mul(mul(Rz, Rx), Ry).map((v) => v * scale);
}

export function applyMap(m: TrueMap, p: ArrayLike<number>, out: Float64Array): void {
  const d = m.o.length;
  for (let r = 0; r < d; r++) {
    let s = m.o[r];
    for (let k = 0; k < d; k++) s += m.A[r * d + k] * p[k];
    out[r] = s;
  }
}

export function inverseMap(m: TrueMap): TrueMap {
  const d = m.o.length;
  const Ai = invertMatrix(m.A, d);
  const o = new Float64Array(d);
  for (let r = 0; r < d; r++) {
    let s = 0;
    for (let k = 0; k < d; k++) s -= Ai[r * d + k] * m.o[k];
    o[r] = s;
  }
  return { A: Ai, o };
}

/**
 * The moving image for a fixed image fixedFn and the fixed → moving map T: moving(y) = remap(fixedFn(T⁻¹(y))),
 * evaluated analytically at every moving pixel centre.
 */
export function movingFor(grid: Grid, fixedFn: (p: ArrayLike<number>) => number, truth: TrueMap, remap: (v: number) => number = (v) => v): Image {
  const inv = inverseMap(truth);
  const q = new Float64Array(truth.o.length);
  return imageFromFunction(grid, (y) => {
    applyMap(inv, y, q);
    return remap(fixedFn(q));
  });
}

/** The chain as one matrix–offset map. */
export function chainMap(chain: Transform[]): TrueMap {
  if (!chain.every(isLinear)) throw new Error('expected a linear chain');
  const t = composeLinear(chain.filter(isLinear));
  return { A: t.matrix(), o: t.offset() };
}

/** Mean |T_est(x) − T_true(x)| over every pixel centre of `fixed`, in units of the fixed image's mean spacing. */
export function meanPointErrorVoxels(fixed: Image, estimate: Transform[], truth: TrueMap): number {
  const est = chainMap(estimate);
  const d = fixed.dimension;
  const a = new Float64Array(d);
  const b = new Float64Array(d);
  let sum = 0;
  let count = 0;
  imageFromFunction({ size: fixed.size, spacing: fixed.spacing, origin: fixed.origin, direction: fixed.direction }, (p) => {
    applyMap(est, p, a);
    applyMap(truth, p, b);
    let e = 0;
    for (let r = 0; r < d; r++) e += (a[r] - b[r]) ** 2;
    sum += Math.sqrt(e);
    count++;
    return 0;
  });
  const meanSpacing = fixed.spacing.reduce((s, v) => s + v, 0) / d;
  return sum / count / meanSpacing;
}

export function identityDirection(d: 2 | 3): number[] {
  return Array.from(identity(d));
}
