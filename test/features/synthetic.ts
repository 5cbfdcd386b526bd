// Synthetic test images for the keypoint tests: a sum of anisotropic Gaussian blobs defined in PHYSICAL space and
// rendered analytically on any grid, so a rigidly moved copy needs no resampler (an independent ground truth).
import { createImage, indexToPhysical, type Image } from '../../src/image/image.js';
import type { Keypoints } from '../../src/features/keypoints.js';
import { createRandom } from '../../src/random.js';

export interface Blob {
  center: number[];
  /** Inverse covariance (d×d row-major). */
  precision: number[];
  amplitude: number;
}

/** Deterministic PRNG (mulberry32), the library's own. */
export const rng = createRandom;

/** A rotation matrix: 2D by angle (degrees), 3D about an axis. */
export function rotation(d: 2 | 3, angleDeg: number, axis: number[] = [0, 0, 1]): number[] {
  const t = (angleDeg * Math.PI) / 180;
  const c = Math.cos(t);
  const s = Math.sin(t);
  if (d === 2) return [c, -s, s, c];
  const n = Math.hypot(axis[0], axis[1], axis[2]);
  const [x, y, z] = axis.map((v) => v / n);
  return [
    c + x * x * (1 - c), x * y * (1 - c) - z * s, x * z * (1 - c) + y * s,
    y * x * (1 - c) + z * s, c + y * y * (1 - c), y * z * (1 - c) - x * s,
    z * x * (1 - c) - y * s, z * y * (1 - c) + x * s, c + z * z * (1 - c),
  ];
}

function randomRotation(d: 2 | 3, r: () => number): number[] {
  if (d === 2) return rotation(2, 360 * r());
  return rotation(3, 360 * r(), [r() - 0.5, r() - 0.5, r() - 0.5]);
}

/** `count` blobs with centres in the box [lo, hi]^d (mm), σ between sMin and sMax mm, random orientation. */
export function randomBlobs(d: 2 | 3, count: number, lo: number, hi: number, seed: number, sMin = 1.5, sMax = 4): Blob[] {
  const r = rng(seed);
  const out: Blob[] = [];
  for (let k = 0; k < count; k++) {
    const center = Array.from({ length: d }, () => lo + (hi - lo) * r());
    const sig = Array.from({ length: d }, () => sMin + (sMax - sMin) * r());
    const R = randomRotation(d, r);
    // precision = R diag(1/σ²) Rᵀ
    const precision = new Array<number>(d * d).fill(0);
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) for (let a = 0; a < d; a++) precision[i * d + j] += (R[i * d + a] * R[j * d + a]) / (sig[a] * sig[a]);
    out.push({ center, precision, amplitude: (0.5 + 0.5 * r()) * (r() < 0.3 ? -1 : 1) });
  }
  return out;
}

/** The blob sum at a physical point. */
export function blobValue(blobs: Blob[], p: ArrayLike<number>): number {
  const d = p.length;
  let v = 0;
  const u = [0, 0, 0];
  for (const b of blobs) {
    let q = 0;
    for (let a = 0; a < d; a++) u[a] = p[a] - b.center[a];
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) q += u[i] * b.precision[i * d + j] * u[j];
    if (q < 50) v += b.amplitude * Math.exp(-0.5 * q);
  }
  return v;
}

export interface RigidMotion {
  /** Rotation (d×d row-major). */
  R: number[];
  center: number[];
  shift: number[];
}

/** T(x) = R (x − c) + c + t. */
export function applyMotion(m: RigidMotion, p: ArrayLike<number>): number[] {
  const d = p.length;
  const out: number[] = [];
  for (let r = 0; r < d; r++) {
    let v = m.center[r] + m.shift[r];
    for (let c = 0; c < d; c++) v += m.R[r * d + c] * (p[c] - m.center[c]);
    out.push(v);
  }
  return out;
}

/** T⁻¹(y) = Rᵀ (y − c − t) + c. */
export function inverseMotion(m: RigidMotion, y: ArrayLike<number>): number[] {
  const d = y.length;
  const out: number[] = [];
  for (let r = 0; r < d; r++) {
    let v = m.center[r];
    for (let c = 0; c < d; c++) v += m.R[c * d + r] * (y[c] - m.center[c] - m.shift[c]);
    out.push(v);
  }
  return out;
}

/**
 * Renders f on a grid: value(p) = offset + f(p) (or of T⁻¹(p) when a motion is given, so that the moved image at
 * T(x) shows what the original shows at x), optionally through an intensity map.
 */
export function render(
  blobs: Blob[],
  size: number[],
  geometry: { spacing?: number[]; origin?: number[]; direction?: number[] } = {},
  motion?: RigidMotion,
  map: (v: number) => number = (v) => v,
): Image {
  const img = createImage(size, 'float32', geometry);
  const d = size.length;
  const idx = new Array<number>(d).fill(0);
  const p = new Array<number>(d);
  const n = img.data.length;
  for (let i = 0; i < n; i++) {
    let rest = i;
    for (let a = 0; a < d; a++) {
      idx[a] = rest % size[a];
      rest = Math.floor(rest / size[a]);
    }
    indexToPhysical(img, idx, p);
    const q = motion ? inverseMotion(motion, p) : p;
    img.data[i] = map(100 + 100 * blobValue(blobs, q));
  }
  return img;
}

/** Fraction of keypoints of `a` (mapped by `toB`, kept when `keep` says so) with a keypoint of b within `radius`. */
export function repeatability(a: Keypoints, b: Keypoints, toB: (p: number[]) => number[], radius: number, keep: (q: number[]) => boolean = () => true): { fraction: number; considered: number } {
  const d = a.dimension;
  let hit = 0;
  let considered = 0;
  for (let i = 0; i < a.count; i++) {
    const q = toB(Array.from(a.points.subarray(i * d, i * d + d)));
    if (!keep(q)) continue;
    considered++;
    for (let j = 0; j < b.count; j++) {
      let s = 0;
      for (let c = 0; c < d; c++) s += (q[c] - b.points[j * d + c]) ** 2;
      if (Math.sqrt(s) <= radius) {
        hit++;
        break;
      }
    }
  }
  return { fraction: considered ? hit / considered : 0, considered };
}
