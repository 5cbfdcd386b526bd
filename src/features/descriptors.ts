/**
 * Keypoint descriptors, rotation invariant by construction: the image (the scale-space level whose blur is the
 * keypoint's σ) is resampled on an m^d grid in the keypoint's LOCAL FRAME (grid axis c = frame column c, half-width
 * R = radiusFactor·σ), and both descriptors are computed on that patch.
 *
 * - 'gradient' (SIFT / 3D SIFT-Rank): gradients by central differences along the local axes, Gaussian-weighted
 *   (σ = R), binned into spatialBins^d cells (trilinear spatial interpolation) × orientation bins: 2D 8 angles
 *   (linear interpolation), 3D the 12 icosahedron vertices (weight ∝ max(0, ĝ·v − 1/√5), the tent over the
 *   neighbouring vertices). L2-normalised, clipped at 0.2, renormalised (SIFT); `rank: true` replaces the values by
 *   their ranks first (SIFT-Rank).
 * - 'mind' (modality independent neighbourhood descriptor, Heinrich et al. 2012): at every patch point the patch
 *   distances D_k = Σ_{3^d box} (P(q) − P(q + e_k))² to the 2d axis neighbours, MIND_k = exp(−D_k / V) with V the
 *   mean of the D_k there (local variance); averaged over spatialBins^d cells → spatialBins^d · 2d values, mean
 *   subtracted, L2-normalised. It depends only on where the image is self-similar, not on the intensities, so an
 *   inverted or remapped copy (T1 vs T2, CT vs MR) gives the same values.
 *
 * Keypoints that cannot be described are DROPPED: those whose ball of radius R reaches outside the image (as the
 * working grid sees it), and those whose patch is constant. `describeKeypoints` returns the kept keypoints (same
 * order), their descriptors (row i describes keypoints point i) and `indices` (each kept keypoint's index in the
 * input), so the rule is the same for both images of a pair.
 */
import { CoregError } from '../errors.js';
import { checkImageArgument, type Image } from '../image/image.js';
import type { Keypoints } from './keypoints.js';
import { levelForScale, physicalToOctaveIndex, sampleClamped, scaleSpace, type ScaleSpaceOptions } from './scale-space.js';

export type DescriptorKind = 'gradient' | 'mind';

export interface Descriptors {
  count: number;
  length: number;
  /** count×length, rows L2-normalised. */
  data: Float32Array;
}

export interface DescriptorOptions extends ScaleSpaceOptions {
  /** Patch half-width R in units of the keypoint's σ (default 6 in 2D as SIFT's 4 × 3σ bins, 5 in 3D). */
  radiusFactor?: number;
  /** Cells per axis (default 4 in 2D, 3 in 3D). */
  spatialBins?: number;
  /** Patch samples per axis (default 16 in 2D, 12 in 3D). */
  samples?: number;
  /** SIFT-Rank: replace the 'gradient' values by their ranks before normalising (default false). */
  rank?: boolean;
  /** 'mind': distance of the compared neighbour patches in patch samples (default 2). */
  mindDistance?: number;
}

export interface DescribedKeypoints {
  /** The keypoints that could be described (a subset of the input, same order). */
  keypoints: Keypoints;
  descriptors: Descriptors;
  /** For each kept keypoint, its index in the input keypoints. */
  indices: Int32Array;
}

const PHI = (1 + Math.sqrt(5)) / 2;
/** The 12 vertices of an icosahedron, unit length (x, y, z triples). */
const ICOSAHEDRON: Float64Array = (() => {
  const v: number[] = [];
  for (const a of [-1, 1]) {
    for (const b of [-PHI, PHI]) {
      v.push(0, a, b);
      v.push(a, b, 0);
      v.push(b, 0, a);
    }
  }
  const n = Math.sqrt(1 + PHI * PHI);
  return Float64Array.from(v, (x) => x / n);
})();
const ICO_COS = 1 / Math.sqrt(5);

interface Layout {
  d: 2 | 3;
  m: number;
  /** Patch width with the border (m + 2B). */
  w: number;
  /** Border samples each side (1 + the MIND distance, at least 2). */
  B: number;
  /** MIND neighbour distance (samples). */
  k: number;
  nb: number;
  length: number;
}

/** Fills `patch` ((m+4)^d, border 2) with the level sampled in the local frame; returns its value range. */
function samplePatch(
  data: Float32Array,
  size: readonly number[],
  idx: Float64Array,
  A: Float64Array,
  L: Layout,
  patch: Float64Array,
): number {
  const { d, w, m } = L;
  const c0 = (m - 1) / 2 + L.B; // grid position of the centre
  let lo = Infinity;
  let hi = -Infinity;
  let q = 0;
  const nz = d === 3 ? w : 1;
  for (let gz = 0; gz < nz; gz++) {
    const tz = d === 3 ? gz - c0 : 0;
    for (let gy = 0; gy < w; gy++) {
      const ty = gy - c0;
      for (let gx = 0; gx < w; gx++) {
        const tx = gx - c0;
        let v: number;
        if (d === 2) {
          v = sampleClamped(data, size, idx[0] + A[0] * tx + A[1] * ty, idx[1] + A[2] * tx + A[3] * ty, 0);
        } else {
          v = sampleClamped(
            data,
            size,
            idx[0] + A[0] * tx + A[1] * ty + A[2] * tz,
            idx[1] + A[3] * tx + A[4] * ty + A[5] * tz,
            idx[2] + A[6] * tx + A[7] * ty + A[8] * tz,
          );
        }
        patch[q++] = v;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    }
  }
  return hi - lo;
}

/** Gradient-histogram descriptor of a patch into out (length nb^d·bins); false when it has no gradient. */
function gradientDescriptor(patch: Float64Array, L: Layout, out: Float64Array, rank: boolean, rankScratch: Int32Array): boolean {
  const { d, m, w, nb, B } = L;
  out.fill(0);
  const bins = d === 2 ? 8 : 12;
  const half = m / 2;
  const inv2 = 1 / (2 * half * half);
  const sy = w;
  const sz = w * w;
  const nz = d === 3 ? m : 1;
  const tb = new Float64Array(3);
  const wo = new Float64Array(12);
  for (let gz = 0; gz < nz; gz++) {
    for (let gy = 0; gy < m; gy++) {
      for (let gx = 0; gx < m; gx++) {
        const p = gx + B + sy * (gy + B) + (d === 3 ? sz * (gz + B) : 0);
        const ux = gx + 0.5 - half;
        const uy = gy + 0.5 - half;
        const uz = d === 3 ? gz + 0.5 - half : 0;
        const wt = Math.exp(-(ux * ux + uy * uy + uz * uz) * inv2);
        const gxv = 0.5 * (patch[p + 1] - patch[p - 1]);
        const gyv = 0.5 * (patch[p + sy] - patch[p - sy]);
        const gzv = d === 3 ? 0.5 * (patch[p + sz] - patch[p - sz]) : 0;
        const mag = Math.sqrt(gxv * gxv + gyv * gyv + gzv * gzv);
        if (!(mag > 0)) continue;
        // Orientation weights.
        let nbins: number;
        if (d === 2) {
          let t = (Math.atan2(gyv, gxv) / (2 * Math.PI)) * bins;
          if (t < 0) t += bins;
          const b0 = Math.floor(t) % bins;
          const f = t - Math.floor(t);
          wo.fill(0, 0, bins);
          wo[b0] = 1 - f;
          wo[(b0 + 1) % bins] = f;
          nbins = bins;
        } else {
          let sum = 0;
          for (let b = 0; b < 12; b++) {
            const c = (gxv * ICOSAHEDRON[3 * b] + gyv * ICOSAHEDRON[3 * b + 1] + gzv * ICOSAHEDRON[3 * b + 2]) / mag - ICO_COS;
            const v = c > 0 ? c : 0;
            wo[b] = v;
            sum += v;
          }
          if (!(sum > 0)) continue;
          for (let b = 0; b < 12; b++) wo[b] /= sum;
          nbins = 12;
        }
        // Spatial bins: cell coordinate, trilinear.
        tb[0] = ((gx + 0.5) / m) * nb - 0.5;
        tb[1] = ((gy + 0.5) / m) * nb - 0.5;
        tb[2] = d === 3 ? ((gz + 0.5) / m) * nb - 0.5 : 0;
        const x0 = Math.floor(tb[0]);
        const y0 = Math.floor(tb[1]);
        const z0 = d === 3 ? Math.floor(tb[2]) : 0;
        const fx = tb[0] - x0;
        const fy = tb[1] - y0;
        const fz = d === 3 ? tb[2] - z0 : 0;
        const a = wt * mag;
        const zmax = d === 3 ? 1 : 0;
        for (let dz = 0; dz <= zmax; dz++) {
          const zc = z0 + dz;
          if (zc < 0 || zc >= (d === 3 ? nb : 1)) continue;
          const wz = d === 3 ? (dz ? fz : 1 - fz) : 1;
          for (let dy = 0; dy <= 1; dy++) {
            const yc = y0 + dy;
            if (yc < 0 || yc >= nb) continue;
            const wy = dy ? fy : 1 - fy;
            for (let dx = 0; dx <= 1; dx++) {
              const xc = x0 + dx;
              if (xc < 0 || xc >= nb) continue;
              const wx = dx ? fx : 1 - fx;
              const cw = a * wx * wy * wz;
              const base = (xc + nb * (yc + nb * zc)) * nbins;
              for (let b = 0; b < nbins; b++) out[base + b] += cw * wo[b];
            }
          }
        }
      }
    }
  }
  const n = L.length;
  if (rank) {
    for (let i = 0; i < n; i++) rankScratch[i] = i;
    const order = Array.from(rankScratch.subarray(0, n)).sort((i, j) => out[i] - out[j] || i - j);
    for (let r = 0; r < n; r++) out[order[r]] = r;
    return normalise(out, n, false);
  }
  if (!normalise(out, n, false)) return false;
  for (let i = 0; i < n; i++) if (out[i] > 0.2) out[i] = 0.2;
  return normalise(out, n, false);
}

/** L2-normalises (optionally after subtracting the mean); false when the vector is (numerically) zero. */
function normalise(v: Float64Array, n: number, centre: boolean): boolean {
  if (centre) {
    let mean = 0;
    for (let i = 0; i < n; i++) mean += v[i];
    mean /= n;
    for (let i = 0; i < n; i++) v[i] -= mean;
  }
  let s = 0;
  for (let i = 0; i < n; i++) s += v[i] * v[i];
  if (!(s > 1e-24)) return false;
  const f = 1 / Math.sqrt(s);
  for (let i = 0; i < n; i++) v[i] *= f;
  return true;
}

/** MIND descriptor of a patch into out (length nb^d·2d); false when the patch is flat. */
function mindDescriptor(patch: Float64Array, L: Layout, out: Float64Array, dist: Float64Array, box: Float64Array): boolean {
  const { d, m, w, nb, B, k: kd } = L;
  const K = 2 * d;
  const sy = w;
  const sz = w * w;
  const nz = d === 3 ? w : 1;
  const steps = (d === 2 ? [1, -1, sy, -sy] : [1, -1, sy, -sy, sz, -sz]).map((v) => v * kd);
  const total = w * w * nz;
  // Squared differences to each neighbour, box-summed over 3^d (separable), on the inner (m+2)^d region.
  for (let k = 0; k < K; k++) {
    const o = steps[k];
    const dk = dist.subarray(k * total, (k + 1) * total);
    dk.fill(0);
    for (let gz = d === 3 ? kd : 0; gz < (d === 3 ? w - kd : 1); gz++) {
      for (let gy = kd; gy < w - kd; gy++) {
        for (let gx = kd; gx < w - kd; gx++) {
          const p = gx + sy * gy + sz * gz;
          const e = patch[p] - patch[p + o];
          dk[p] = e * e;
        }
      }
    }
    // Box sums along each axis over the points 2 … w − 3 (which need 1 … w − 2).
    // Pass along axis ai covers [2, w − 3] on the axes already summed and [1, w − 2] on the others.
    const axes = d === 2 ? [1, sy] : [1, sy, sz];
    for (let ai = 0; ai < d; ai++) {
      const st = axes[ai];
      box.set(dk);
      const zl = d === 3 ? (ai >= 2 ? B : B - 1) : 0;
      const zh = d === 3 ? (ai >= 2 ? w - B : w - B + 1) : 1;
      const yl = ai >= 1 ? B : B - 1;
      const yh = ai >= 1 ? w - B : w - B + 1;
      for (let gz = zl; gz < zh; gz++) {
        for (let gy = yl; gy < yh; gy++) {
          for (let gx = B; gx < w - B; gx++) {
            const p = gx + sy * gy + sz * gz;
            dk[p] = box[p - st] + box[p] + box[p + st];
          }
        }
      }
    }
  }
  // Per point: V = mean D_k; MIND_k = exp(−D_k / V); pooled into cells.
  let meanV = 0;
  let count = 0;
  const nzm = d === 3 ? m : 1;
  for (let gz = 0; gz < nzm; gz++) {
    for (let gy = 0; gy < m; gy++) {
      for (let gx = 0; gx < m; gx++) {
        const p = gx + B + sy * (gy + B) + (d === 3 ? sz * (gz + B) : 0);
        let v = 0;
        for (let k = 0; k < K; k++) v += dist[k * total + p];
        meanV += v / K;
        count++;
      }
    }
  }
  meanV /= count;
  if (!(meanV > 0)) return false;
  const eps = 1e-3 * meanV;
  out.fill(0);
  const perCell = m / nb;
  for (let gz = 0; gz < nzm; gz++) {
    const cz = d === 3 ? Math.min(nb - 1, Math.floor(gz / perCell)) : 0;
    for (let gy = 0; gy < m; gy++) {
      const cy = Math.min(nb - 1, Math.floor(gy / perCell));
      for (let gx = 0; gx < m; gx++) {
        const cx = Math.min(nb - 1, Math.floor(gx / perCell));
        const p = gx + B + sy * (gy + B) + (d === 3 ? sz * (gz + B) : 0);
        let v = 0;
        for (let k = 0; k < K; k++) v += dist[k * total + p];
        v = v / K + eps;
        const base = (cx + nb * (cy + nb * cz)) * K;
        for (let k = 0; k < K; k++) out[base + k] += Math.exp(-dist[k * total + p] / v);
      }
    }
  }
  return normalise(out, L.length, true);
}

/**
 * Describes keypoints of `image` (see the file's header). The scale-space options must be those the keypoints were
 * detected with (the defaults unless changed). Keypoints that cannot be described are dropped (returned `indices`).
 */
export function describeKeypoints(image: Image, keypoints: Keypoints, kind: DescriptorKind, options: DescriptorOptions = {}): DescribedKeypoints {
  if (kind !== 'gradient' && kind !== 'mind') throw new CoregError('descriptor', `unknown descriptor kind '${String(kind)}' (expected gradient or mind)`, 2);
  checkImageArgument(image, 'image');
  const d = image.dimension;
  if (keypoints.dimension !== d) throw new CoregError('keypoints', `the keypoints are ${keypoints.dimension}D but the image is ${d}D`);
  const nb = Math.max(1, Math.round(options.spatialBins ?? (d === 2 ? 4 : 3)));
  const m = Math.max(nb, Math.round(options.samples ?? (d === 2 ? 16 : 12)));
  const radiusFactor = options.radiusFactor ?? (d === 2 ? 6 : 5);
  const length = kind === 'gradient' ? nb ** d * (d === 2 ? 8 : 12) : nb ** d * 2 * d;
  const k = Math.max(1, Math.round(options.mindDistance ?? 2));
  const B = Math.max(2, k + 1);
  const w = m + 2 * B;
  const L: Layout = { d, m, w, nb, length, B, k };
  const space = scaleSpace(image, options);
  const n = keypoints.count;
  const rows = new Float32Array(n * length);
  const keep = new Int32Array(n);
  let kept = 0;
  if (space.hasContrast) {
    const patchSize = w ** d;
    const patch = new Float64Array(patchSize);
    const dist = new Float64Array(2 * d * patchSize);
    const box = new Float64Array(patchSize);
    const vec = new Float64Array(length);
    const rankScratch = new Int32Array(length);
    const idx = new Float64Array(d);
    const idx0 = new Float64Array(d);
    const A = new Float64Array(d * d);
    const size0 = space.octaves[0].size;
    const h0 = space.octaves[0].spacing;
    const inv = space.inverseDirection;
    for (let i = 0; i < n; i++) {
      const sigma = keypoints.scales[i];
      const R = radiusFactor * sigma;
      const p = keypoints.points.subarray(i * d, (i + 1) * d);
      // The ball of radius R must lie inside the working grid's box of voxel centres.
      physicalToOctaveIndex(space, 0, p, idx0);
      let inside = true;
      for (let a = 0; a < d; a++) if (idx0[a] * h0 < R || (size0[a] - 1 - idx0[a]) * h0 < R) inside = false;
      if (!inside) continue;
      const lv = levelForScale(space, sigma);
      if (!lv) continue;
      const oct = space.octaves[lv.octave];
      physicalToOctaveIndex(space, lv.octave, p, idx);
      // Grid step δ = 2R/m mm along the frame's columns; octave index offset = D⁻¹ · F · t · δ / h.
      const delta = (2 * R) / m / oct.spacing;
      const F = keypoints.frames.subarray(i * d * d, (i + 1) * d * d);
      for (let r = 0; r < d; r++) {
        for (let c = 0; c < d; c++) {
          let v = 0;
          for (let t = 0; t < d; t++) v += inv[r * d + t] * F[t * d + c];
          A[r * d + c] = v * delta;
        }
      }
      const range = samplePatch(oct.levels[lv.level], oct.size, idx, A, L, patch);
      if (!(range > 0)) continue;
      const ok = kind === 'gradient' ? gradientDescriptor(patch, L, vec, options.rank ?? false, rankScratch) : mindDescriptor(patch, L, vec, dist, box);
      if (!ok) continue;
      for (let t = 0; t < length; t++) rows[kept * length + t] = vec[t];
      keep[kept++] = i;
    }
  }
  const indices = keep.slice(0, kept);
  const dd = d * d;
  const sub: Keypoints = {
    dimension: d,
    count: kept,
    points: new Float64Array(kept * d),
    scales: new Float64Array(kept),
    frames: new Float64Array(kept * dd),
    responses: new Float64Array(kept),
  };
  for (let j = 0; j < kept; j++) {
    const i = indices[j];
    sub.points.set(keypoints.points.subarray(i * d, (i + 1) * d), j * d);
    sub.scales[j] = keypoints.scales[i];
    sub.frames.set(keypoints.frames.subarray(i * dd, (i + 1) * dd), j * dd);
    sub.responses[j] = keypoints.responses[i];
  }
  return { keypoints: sub, descriptors: { count: kept, length, data: rows.slice(0, kept * length) }, indices };
}
