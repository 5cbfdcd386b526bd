/**
 * Evaluation measures (browser-safe): label overlap (Dice, Jaccard, volumes), surface distances (Hausdorff 95 %,
 * mean surface distance) from exact Euclidean distance transforms in physical space, and distance summaries
 * (for target registration errors).
 *
 * Surface distances: a label's surface is its voxels with a face neighbour outside the label (or beyond the
 * image). For each surface voxel of A the distance to the nearest surface voxel centre of B is taken, and vice
 * versa. hausdorff95 = max of the two directed 95th percentiles (as MedPy and MONAI); meanSurfaceDistance =
 * the mean over both sets together (the symmetric average surface distance of Heimann et al. 2009). Distances
 * follow the grid axes scaled by the spacing, which is exact for the usual orthonormal direction matrices.
 */
import { CoregError } from '../errors.js';
import { sameGrid, type Image } from '../image/image.js';

export interface DistanceSummary {
  mean: number;
  median: number;
  max: number;
  /** Population standard deviation. */
  std: number;
  p95: number;
  points: number;
}

/** Percentile q (0–100) of ascending `sorted` values with linear interpolation (numpy's default). */
export function percentileOfSorted(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const pos = (q / 100) * (n - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, n - 1);
  return sorted[lo] + (pos - lo) * (sorted[hi] - sorted[lo]);
}

/** Mean, median, max, std, 95th percentile and count of non-negative distances (NaN fields when empty). */
export function summarizeDistances(values: ArrayLike<number>): DistanceSummary {
  const sorted = Float64Array.from(values as ArrayLike<number>).sort();
  const n = sorted.length;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += sorted[i];
  const mean = n ? sum / n : NaN;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (sorted[i] - mean) * (sorted[i] - mean);
  return {
    mean,
    median: percentileOfSorted(sorted, 50),
    max: n ? sorted[n - 1] : NaN,
    std: n ? Math.sqrt(ss / n) : NaN,
    p95: percentileOfSorted(sorted, 95),
    points: n,
  };
}

// --- exact Euclidean distance transform ------------------------------------------------------------------

/**
 * 1D lower envelope of parabolas (Felzenszwalb & Huttenlocher 2012) along one line: d[q] = min_p f[p] + (w·(q−p))².
 * f holds squared distances (Infinity = no seed yet); v, z are scratch (length n and n + 1).
 */
function envelope1d(f: Float64Array, n: number, w2: number, d: Float64Array, v: Int32Array, z: Float64Array): void {
  let k = -1;
  for (let q = 0; q < n; q++) {
    const fq = f[q];
    if (fq === Infinity) continue;
    if (k < 0) {
      k = 0;
      v[0] = q;
      z[0] = -Infinity;
      z[1] = Infinity;
      continue;
    }
    let s: number;
    while (true) {
      const p = v[k];
      s = (fq + w2 * q * q - (f[p] + w2 * p * p)) / (2 * w2 * (q - p));
      if (s <= z[k] && k > 0) k--;
      else break;
    }
    if (s <= z[k]) {
      // The new parabola dominates the first one everywhere.
      v[0] = q;
      z[0] = -Infinity;
      z[1] = Infinity;
      continue;
    }
    k++;
    v[k] = q;
    z[k] = s;
    z[k + 1] = Infinity;
  }
  if (k < 0) {
    for (let q = 0; q < n; q++) d[q] = Infinity;
    return;
  }
  k = 0;
  for (let q = 0; q < n; q++) {
    while (z[k + 1] < q) k++;
    const dq = q - v[k];
    d[q] = w2 * dq * dq + f[v[k]];
  }
}

/**
 * Squared physical distance from every voxel of a grid to the nearest seed voxel (seeds[i] ≠ 0), exact, with
 * per-axis spacing. Infinity everywhere when there is no seed. `size`/`spacing` have 2 or 3 entries.
 */
export function squaredDistanceTransform(seeds: ArrayLike<number>, size: readonly number[], spacing: readonly number[]): Float64Array {
  const n = seeds.length;
  const dist = new Float64Array(n);
  for (let i = 0; i < n; i++) dist[i] = seeds[i] ? 0 : Infinity;
  const nx = size[0];
  const ny = size[1];
  const nz = size.length === 3 ? size[2] : 1;
  const longest = Math.max(nx, ny, nz);
  const f = new Float64Array(longest);
  const d = new Float64Array(longest);
  const v = new Int32Array(longest);
  const z = new Float64Array(longest + 1);
  const is3d = size.length === 3;
  // Along x: lines start at nx·(j + ny·k).
  for (let k = 0; k < nz; k++) for (let j = 0; j < ny; j++) transformLine(dist, nx * (j + ny * k), 1, nx, spacing[0] * spacing[0], f, d, v, z);
  // Along y: lines start at i + nx·ny·k.
  for (let k = 0; k < nz; k++) for (let i = 0; i < nx; i++) transformLine(dist, i + nx * ny * k, nx, ny, spacing[1] * spacing[1], f, d, v, z);
  // Along z: lines start at i + nx·j.
  if (is3d) for (let j = 0; j < ny; j++) for (let i = 0; i < nx; i++) transformLine(dist, i + nx * j, nx * ny, nz, spacing[2] * spacing[2], f, d, v, z);
  return dist;
}

function transformLine(dist: Float64Array, start: number, stride: number, len: number, w2: number, f: Float64Array, d: Float64Array, v: Int32Array, z: Float64Array): void {
  for (let q = 0, at = start; q < len; q++, at += stride) f[q] = dist[at];
  envelope1d(f, len, w2, d, v, z);
  for (let q = 0, at = start; q < len; q++, at += stride) dist[at] = d[q];
}

// --- label overlap -------------------------------------------------------------------------------------------

export interface LabelOverlap {
  dice: number;
  jaccard: number;
  /** mm³ (mm² for 2D images). */
  volumeA: number;
  volumeB: number;
  /** mm; null when the label is empty in A or in B. */
  hausdorff95: number | null;
  meanSurfaceDistance: number | null;
}

export interface OverlapReport {
  /** Every label present in A or B other than 0, keyed by its value. */
  labels: Record<string, LabelOverlap>;
  /** Mean Dice over the labels of B other than 0 (null when B has none). */
  mean: number | null;
  /** Mean Jaccard over the same labels. */
  meanJaccard: number | null;
}

/** Largest span of label values coreg tabulates densely. */
const MAX_LABEL_SPAN = 1 << 24;

function labelRange(img: Image, subject: string): [number, number] {
  const data = img.data;
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v !== Math.floor(v)) throw new CoregError(subject, `label images must hold integer values; found ${v}`);
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return [min, max];
}

/**
 * Per-label overlap of two label images on the same grid (A is typically the result, B the reference).
 * `names` are what errors mention (file names).
 */
export function labelOverlap(a: Image, b: Image, names: { a: string; b: string } = { a: 'A', b: 'B' }): OverlapReport {
  if (a.components !== 1) throw new CoregError(names.a, `a label image needs 1 component, got ${a.components}`);
  if (b.components !== 1) throw new CoregError(names.b, `a label image needs 1 component, got ${b.components}`);
  if (!sameGrid(a, b)) {
    throw new CoregError(names.b, `is not on the same grid as ${names.a} (size, spacing, origin or direction differ); resample it first with coreg apply --interpolation label`);
  }
  const [minA, maxA] = labelRange(a, names.a);
  const [minB, maxB] = labelRange(b, names.b);
  const lo = Math.min(minA, minB);
  const hi = Math.max(maxA, maxB);
  if (hi - lo + 1 > MAX_LABEL_SPAN) throw new CoregError(names.b, `label values span ${lo}..${hi}, more than ${MAX_LABEL_SPAN} values`);
  const nl = hi - lo + 1;
  const d = a.dimension;
  const nx = a.size[0];
  const ny = a.size[1];
  const nz = d === 3 ? a.size[2] : 1;
  const countA = new Float64Array(nl);
  const countB = new Float64Array(nl);
  const inter = new Float64Array(nl);
  // Bounding box of each label in A ∪ B: min x,y,z then max x,y,z.
  const box = new Int32Array(nl * 6);
  for (let l = 0; l < nl; l++) {
    box[l * 6] = box[l * 6 + 1] = box[l * 6 + 2] = 2147483647;
    box[l * 6 + 3] = box[l * 6 + 4] = box[l * 6 + 5] = -1;
  }
  const da = a.data;
  const db = b.data;
  for (let k = 0, at = 0; k < nz; k++) {
    for (let j = 0; j < ny; j++) {
      for (let i = 0; i < nx; i++, at++) {
        const la = da[at] - lo;
        const lb = db[at] - lo;
        countA[la]++;
        countB[lb]++;
        if (la === lb) inter[la]++;
        growBox(box, la, i, j, k);
        if (lb !== la) growBox(box, lb, i, j, k);
      }
    }
  }
  let voxelVolume = 1;
  for (const s of a.spacing) voxelVolume *= s;
  const labels: Record<string, LabelOverlap> = {};
  let diceSum = 0;
  let jaccardSum = 0;
  let inB = 0;
  for (let l = 0; l < nl; l++) {
    const value = l + lo;
    if (value === 0 || (countA[l] === 0 && countB[l] === 0)) continue;
    const union = countA[l] + countB[l] - inter[l];
    const dice = (2 * inter[l]) / (countA[l] + countB[l]);
    const jaccard = inter[l] / union;
    let hausdorff95: number | null = null;
    let meanSurfaceDistance: number | null = null;
    if (countA[l] > 0 && countB[l] > 0) {
      const s = surfaceDistances(a, b, value, box.subarray(l * 6, l * 6 + 6));
      hausdorff95 = s.hausdorff95;
      meanSurfaceDistance = s.meanSurfaceDistance;
    }
    labels[String(value)] = { dice, jaccard, volumeA: countA[l] * voxelVolume, volumeB: countB[l] * voxelVolume, hausdorff95, meanSurfaceDistance };
    if (countB[l] > 0) {
      diceSum += dice;
      jaccardSum += jaccard;
      inB++;
    }
  }
  return { labels, mean: inB ? diceSum / inB : null, meanJaccard: inB ? jaccardSum / inB : null };
}

function growBox(box: Int32Array, l: number, i: number, j: number, k: number): void {
  const b = l * 6;
  if (i < box[b]) box[b] = i;
  if (j < box[b + 1]) box[b + 1] = j;
  if (k < box[b + 2]) box[b + 2] = k;
  if (i > box[b + 3]) box[b + 3] = i;
  if (j > box[b + 4]) box[b + 4] = j;
  if (k > box[b + 5]) box[b + 5] = k;
}

/** Voxels of `mask` (a box of size bx·by·bz) with a face neighbour outside the mask or the box. */
function surfaceOf(mask: Uint8Array, bx: number, by: number, bz: number, is3d: boolean): Uint8Array {
  const surface = new Uint8Array(mask.length);
  const sxy = bx * by;
  for (let k = 0, at = 0; k < bz; k++) {
    for (let j = 0; j < by; j++) {
      for (let i = 0; i < bx; i++, at++) {
        if (!mask[at]) continue;
        // Outside the box means outside the label: the box holds every voxel of the label.
        const edge =
          i === 0 || i === bx - 1 || j === 0 || j === by - 1 || (is3d && (k === 0 || k === bz - 1)) ||
          !mask[at - 1] || !mask[at + 1] || !mask[at - bx] || !mask[at + bx] || (is3d && (!mask[at - sxy] || !mask[at + sxy]));
        if (edge) surface[at] = 1;
      }
    }
  }
  return surface;
}

/** Distances (mm) from each surface voxel of `from` to the nearest voxel of `to`'s surface. */
function directedDistances(from: Uint8Array, to: Uint8Array, size: number[], spacing: number[]): Float64Array {
  const dist2 = squaredDistanceTransform(to, size, spacing);
  let n = 0;
  for (let i = 0; i < from.length; i++) if (from[i]) n++;
  const out = new Float64Array(n);
  for (let i = 0, m = 0; i < from.length; i++) if (from[i]) out[m++] = Math.sqrt(dist2[i]);
  return out;
}

function surfaceDistances(a: Image, b: Image, value: number, box: Int32Array): { hausdorff95: number; meanSurfaceDistance: number } {
  const is3d = a.dimension === 3;
  const nx = a.size[0];
  const ny = a.size[1];
  const [x0, y0, z0, x1, y1, z1] = box;
  const bx = x1 - x0 + 1;
  const by = y1 - y0 + 1;
  const bz = z1 - z0 + 1;
  const maskA = new Uint8Array(bx * by * bz);
  const maskB = new Uint8Array(bx * by * bz);
  const da = a.data;
  const db = b.data;
  for (let k = 0, at = 0; k < bz; k++) {
    for (let j = 0; j < by; j++) {
      const row = x0 + nx * (y0 + j + ny * (z0 + k));
      for (let i = 0; i < bx; i++, at++) {
        maskA[at] = da[row + i] === value ? 1 : 0;
        maskB[at] = db[row + i] === value ? 1 : 0;
      }
    }
  }
  const surfA = surfaceOf(maskA, bx, by, bz, is3d);
  const surfB = surfaceOf(maskB, bx, by, bz, is3d);
  const size = is3d ? [bx, by, bz] : [bx, by];
  const ab = directedDistances(surfA, surfB, size, a.spacing).sort();
  const ba = directedDistances(surfB, surfA, size, a.spacing).sort();
  let sum = 0;
  for (let i = 0; i < ab.length; i++) sum += ab[i];
  for (let i = 0; i < ba.length; i++) sum += ba[i];
  return {
    hausdorff95: Math.max(percentileOfSorted(ab, 95), percentileOfSorted(ba, 95)),
    meanSurfaceDistance: sum / (ab.length + ba.length),
  };
}
