/**
 * Keypoint detection: scale-space extrema of the Difference of Gaussians (SIFT; 3D as in 3D SIFT / SIFT-Rank), in
 * physical space, 2D and 3D.
 *
 * 1. The scale space (scale-space.ts): equal working voxels along the image axes, octaves of s + 3 Gaussians.
 * 2. Candidates: voxels of the DoG levels 1 … s that are strictly above (or below) all their 3^(d+1) − 1 neighbours
 *    in space and scale, with |DoG| above half the contrast threshold.
 * 3. Refinement: a quadratic fit in (space, scale) moves the point to the sub-voxel extremum (up to 5 steps);
 *    rejected when the interpolated |DoG| < contrastThreshold / s (low contrast), when the spatial Hessian is not
 *    definite with the extremum's sign, or when its eigenvalue ratio exceeds edgeRatio (edges, ridges, sheets).
 * 4. Mask: the keypoint's physical position must fall on a mask voxel > 0 (the mask may be on another grid).
 * 5. Frame: the gradient structure tensor over a Gaussian window (σ_w = orientationWindow · σ) gives the axes
 *    (eigenvectors, strongest first); keypoints whose axes are not distinct (eigenvalue ratio > axisRatio) are
 *    dropped. Each axis' sign points towards the centroid of gradient MAGNITUDE in the window (so the frame does
 *    not depend on the sign of the contrast: CT/MR and inverted images get the same frame); an axis whose sign is
 *    ambiguous (|centroid offset| < signTolerance · σ_w) gives two keypoints, one for each sign (as SIFT adds a
 *    keypoint per strong orientation peak). 2D: the frame is (e1, e1 rotated +90°); 3D: (e1, e2, e1 × e2), right-
 *    handed. All in physical space, so a rigid motion of the image moves and turns the frames with it.
 * 6. Spread: candidates are taken by decreasing response with at most ⌈2·maxKeypoints / (occupied regions)⌉ per
 *    region (regions^d boxes over the image), then the rest by response, up to maxKeypoints.
 */
import type { Image } from '../image/image.js';
import { CoregError } from '../errors.js';
import { checkImageArgument, physicalToIndexMatrix } from '../image/image.js';
import { symmetricEigen } from '../image/linalg.js';
import { octaveIndexToPhysical, sampleClamped, scaleSpace, type ScaleSpace, type ScaleSpaceOptions } from './scale-space.js';

export interface Keypoints {
  dimension: 2 | 3;
  count: number;
  /** count×d physical LPS mm. */
  points: Float64Array;
  /** count, physical mm (the Gaussian σ of the detection scale). */
  scales: Float64Array;
  /** count×d×d row-major rotation; column c = local axis c in physical space. */
  frames: Float64Array;
  /** count, detector strength |DoG| of the intensity-normalised image (higher = stronger). */
  responses: Float64Array;
}

export interface KeypointOptions extends ScaleSpaceOptions {
  /** Keypoints only where this image (any grid, physical space) is > 0 at the keypoint. */
  mask?: Image | null;
  /** Most keypoints (default 1000 in 2D, 2000 in 3D). */
  maxKeypoints?: number;
  /** |DoG| threshold (intensities scaled to [0, 1]) times s; default 0.04 in 2D (SIFT's), 0.02 in 3D. */
  contrastThreshold?: number;
  /** Largest ratio of the spatial Hessian's eigenvalues (default 10 in 2D, SIFT's r; 20 in 3D). */
  edgeRatio?: number;
  /** Gaussian window of the frame's structure tensor, in units of the keypoint's σ (default 1.5). */
  orientationWindow?: number;
  /** Axes whose structure-tensor eigenvalues are closer than this ratio are ambiguous: dropped (default 0.9). */
  axisRatio?: number;
  /** An axis sign is ambiguous (two keypoints) below this centroid offset in units of σ_w (default 0.05). */
  signTolerance?: number;
  /**
   * 2D frame: 'tensor' (default; the structure tensor as in 3D, independent of the sign of the contrast, which the
   * 'mind' descriptor needs) or 'histogram' (SIFT: each peak ≥ 0.8 × the highest of a 36-bin gradient-angle
   * histogram; follows the sign of the contrast). 3D always uses the tensor.
   */
  orientation?: 'tensor' | 'histogram';
  /** Regions per axis for the spread cap (default 4). */
  regions?: number;
}

interface Candidate {
  octave: number;
  /** Refined octave index (d values). */
  index: number[];
  /** Refined level (continuous). */
  level: number;
  response: number;
  /** Region (cell) number. */
  cell: number;
}

const EMPTY = (d: 2 | 3): Keypoints => ({
  dimension: d,
  count: 0,
  points: new Float64Array(0),
  scales: new Float64Array(0),
  frames: new Float64Array(0),
  responses: new Float64Array(0),
});

/** Solves the n×n system A x = b in place by Gaussian elimination with partial pivoting; false when singular. */
function solveSmall(a: Float64Array, b: Float64Array, n: number, x: Float64Array): boolean {
  for (let col = 0; col < n; col++) {
    let piv = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(a[r * n + col]) > Math.abs(a[piv * n + col])) piv = r;
    if (Math.abs(a[piv * n + col]) < 1e-14) return false;
    if (piv !== col) {
      for (let c = 0; c < n; c++) {
        const t = a[col * n + c];
        a[col * n + c] = a[piv * n + c];
        a[piv * n + c] = t;
      }
      const t = b[col];
      b[col] = b[piv];
      b[piv] = t;
    }
    for (let r = col + 1; r < n; r++) {
      const f = a[r * n + col] / a[col * n + col];
      if (f === 0) continue;
      for (let c = col; c < n; c++) a[r * n + c] -= f * a[col * n + c];
      b[r] -= f * b[col];
    }
  }
  for (let r = n - 1; r >= 0; r--) {
    let v = b[r];
    for (let c = r + 1; c < n; c++) v -= a[r * n + c] * x[c];
    x[r] = v / a[r * n + r];
  }
  return true;
}

/** DoG extrema of one octave, refined and filtered (steps 2 and 3). */
function octaveCandidates(space: ScaleSpace, o: number, threshold: number, edgeRatio: number, out: Candidate[]): void {
  const d = space.dimension;
  const oct = space.octaves[o];
  const s = space.scalesPerOctave;
  const size = oct.size;
  const nx = size[0];
  const ny = size[1];
  const nz = d === 3 ? size[2] : 1;
  const n = oct.levels[0].length;
  const dogs: Float32Array[] = [];
  for (let l = 0; l < s + 2; l++) {
    const a = oct.levels[l];
    const b = oct.levels[l + 1];
    const g = new Float32Array(n);
    for (let i = 0; i < n; i++) g[i] = b[i] - a[i];
    dogs.push(g);
  }
  const strides = [1, nx, nx * ny];
  // Neighbour offsets in space (3^d, the centre included at position `centre`).
  const offs: number[] = [];
  const zr = d === 3 ? 1 : 0;
  for (let dz = -zr; dz <= zr; dz++) for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) offs.push(dx + dy * nx + dz * nx * ny);
  const spatial = Int32Array.from(offs.filter((v) => v !== 0));
  const full = Int32Array.from(offs);
  const pre = 0.5 * threshold;
  const m = d + 1;
  const A = new Float64Array(m * m);
  const g = new Float64Array(m);
  const x = new Float64Array(m);
  const H = new Float64Array(d * d);
  const pos = new Int32Array(d);
  const lastStep = new Int32Array(d + 1);
  const rhs = new Float64Array(m);
  const Acopy = new Float64Array(m * m);
  const val = (l: number, i: number): number => dogs[l][i];
  // Steps along the d + 1 axes of (space, scale): linear-index and level offsets.
  const offLin = new Int32Array(m);
  const offLev = new Int32Array(m);
  for (let a = 0; a < d; a++) offLin[a] = strides[a];
  offLev[d] = 1;
  for (let l = 1; l <= s; l++) {
    const cur = dogs[l];
    const below = dogs[l - 1];
    const above = dogs[l + 1];
    for (let z = zr; z < nz - zr; z++) {
      for (let y = 1; y < ny - 1; y++) {
        const row = nx * (y + ny * z);
        for (let xi = 1; xi < nx - 1; xi++) {
          const i = row + xi;
          const v = cur[i];
          if (!(Math.abs(v) > pre)) continue;
          let ok = true;
          if (v > 0) {
            for (let k = 0; k < spatial.length && ok; k++) if (!(v > cur[i + spatial[k]])) ok = false;
            for (let k = 0; k < full.length && ok; k++) if (!(v > below[i + full[k]] && v > above[i + full[k]])) ok = false;
          } else {
            for (let k = 0; k < spatial.length && ok; k++) if (!(v < cur[i + spatial[k]])) ok = false;
            for (let k = 0; k < full.length && ok; k++) if (!(v < below[i + full[k]] && v < above[i + full[k]])) ok = false;
          }
          if (!ok) continue;
          // Sub-voxel refinement in (x, y[, z], level).
          pos[0] = xi;
          pos[1] = y;
          if (d === 3) pos[2] = z;
          let lv = l;
          let converged = false;
          let lin = i;
          for (let iter = 0; iter < 5; iter++) {
            lin = pos[0] + nx * (pos[1] + ny * (d === 3 ? pos[2] : 0));
            const c0 = val(lv, lin);
            for (let a = 0; a < m; a++) {
              const la = offLin[a];
              const va = offLev[a];
              const vp = val(lv + va, lin + la);
              const vm = val(lv - va, lin - la);
              g[a] = 0.5 * (vp - vm);
              A[a * m + a] = vp + vm - 2 * c0;
              for (let b = a + 1; b < m; b++) {
                const lb = offLin[b];
                const vb = offLev[b];
                const hab =
                  0.25 *
                  (val(lv + va + vb, lin + la + lb) - val(lv + va - vb, lin + la - lb) - val(lv - va + vb, lin - la + lb) + val(lv - va - vb, lin - la - lb));
                A[a * m + b] = hab;
                A[b * m + a] = hab;
              }
            }
            for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) H[a * d + b] = A[a * m + b];
            for (let a = 0; a < m; a++) rhs[a] = -g[a];
            Acopy.set(A);
            if (!solveSmall(Acopy, rhs, m, x)) break;
            let big = false;
            let huge = false;
            for (let a = 0; a < m; a++) {
              if (Math.abs(x[a]) > 0.5) big = true;
              if (!(Math.abs(x[a]) < 1)) huge = true;
            }
            if (!big) {
              converged = true;
              break;
            }
            // Move to the neighbouring voxel/level the offset points to, staying inside; an offset pointing back
            // to the voxel just left means the extremum lies between the two: accept it from here.
            let back = iter > 0 && !huge && Math.round(x[d]) === -lastStep[d];
            for (let a = 0; a < d && back; a++) if (Math.round(x[a]) !== -lastStep[a]) back = false;
            if (back) {
              converged = true;
              break;
            }
            for (let a = 0; a < d; a++) {
              lastStep[a] = Math.round(x[a]);
              pos[a] += lastStep[a];
            }
            lastStep[d] = Math.round(x[d]);
            lv += lastStep[d];
            let inside = lv >= 1 && lv <= s;
            for (let a = 0; a < d && inside; a++) if (pos[a] < 1 || pos[a] > size[a] - 2) inside = false;
            if (!inside) break;
          }
          if (!converged) continue;
          let value = val(lv, lin);
          for (let a = 0; a < m; a++) value += 0.5 * g[a] * x[a];
          if (!(Math.abs(value) >= threshold)) continue;
          // Edge test: the spatial Hessian must be definite with the extremum's sign, eigenvalues within edgeRatio.
          const eig = symmetricEigen(H, d).values;
          let lo = Infinity;
          let hi = 0;
          let definite = true;
          for (let a = 0; a < d; a++) {
            const e = eig[a] * (value > 0 ? -1 : 1);
            if (!(e > 0)) definite = false;
            lo = Math.min(lo, e);
            hi = Math.max(hi, e);
          }
          if (!definite || hi > edgeRatio * lo) continue;
          const index: number[] = [];
          for (let a = 0; a < d; a++) index.push(pos[a] + x[a]);
          out.push({ octave: o, index, level: lv + x[d], response: Math.abs(value), cell: 0 });
        }
      }
    }
  }
}

/** True when the mask (any grid) is > 0 at the physical point p (nearest voxel; outside the mask's grid: false). */
function insideMask(mask: Image, toIndex: Float64Array, p: Float64Array, offset: number): boolean {
  const d = mask.dimension;
  let lin = 0;
  let stride = 1;
  for (let r = 0; r < d; r++) {
    let v = 0;
    for (let c = 0; c < d; c++) v += toIndex[r * d + c] * (p[offset + c] - mask.origin[c]);
    const i = Math.round(v);
    if (i < 0 || i >= mask.size[r]) return false;
    lin += i * stride;
    stride *= mask.size[r];
  }
  return mask.data[lin * mask.components] > 0;
}

const HIST_BINS = 36;
const hist = new Float64Array(HIST_BINS);
const histTmp = new Float64Array(HIST_BINS);

/**
 * 2D frames from the gradient-orientation histogram in `hist` (SIFT): smoothed twice by [1, 1, 1]/3 (circular),
 * one frame per local peak ≥ 0.8 × the highest, its angle refined by a parabola through the peak and its neighbours.
 */
function histogramFrames(out: number[][]): void {
  for (let pass = 0; pass < 2; pass++) {
    histTmp.set(hist);
    for (let b = 0; b < HIST_BINS; b++) hist[b] = (histTmp[(b + HIST_BINS - 1) % HIST_BINS] + histTmp[b] + histTmp[(b + 1) % HIST_BINS]) / 3;
  }
  let max = 0;
  for (let b = 0; b < HIST_BINS; b++) if (hist[b] > max) max = hist[b];
  if (!(max > 0)) return;
  for (let b = 0; b < HIST_BINS; b++) {
    const l = hist[(b + HIST_BINS - 1) % HIST_BINS];
    const r = hist[(b + 1) % HIST_BINS];
    const v = hist[b];
    if (!(v > l && v > r && v >= 0.8 * max)) continue;
    const off = (0.5 * (l - r)) / (l - 2 * v + r);
    const theta = ((b + off) / HIST_BINS) * 2 * Math.PI;
    const cs = Math.cos(theta);
    const sn = Math.sin(theta);
    out.push([cs, -sn, sn, cs]);
  }
}

/**
 * The frame(s) of a keypoint (step 5): 0, 1, 2 or 4 rotations (d×d row-major, columns = axes), pushed to `out`.
 */
function keypointFrames(
  space: ScaleSpace,
  o: number,
  level: number,
  idx: Float64Array,
  sigmaOct: number,
  window: number,
  axisRatio: number,
  signTolerance: number,
  histogram: boolean,
  out: number[][],
): void {
  const d = space.dimension;
  const oct = space.octaves[o];
  const data = oct.levels[Math.max(0, Math.min(oct.levels.length - 1, Math.round(level)))];
  const sw = window * sigmaOct; // octave voxels (= mm / oct.spacing)
  const step = 0.75 * sigmaOct * Math.min(1, window / 1.5); // grid step in octave voxels (physical: × spacing)
  const k = Math.ceil((3 * sw) / step);
  const w = 2 * k + 3; // with one extra sample each side for the central differences
  // Patch along the PHYSICAL axes: grid offset (gx, gy[, gz]) · step · spacing mm along x, y[, z].
  // Octave index = idx + Dinv · offset (the octave's voxels are cubes of `spacing` along the image axes).
  const inv = space.inverseDirection;
  const nz = d === 3 ? w : 1;
  const patch = new Float64Array(w * w * nz);
  let q = 0;
  for (let gz = 0; gz < nz; gz++) {
    for (let gy = 0; gy < w; gy++) {
      for (let gx = 0; gx < w; gx++) {
        const u0 = (gx - k - 1) * step;
        const u1 = (gy - k - 1) * step;
        const u2 = d === 3 ? (gz - k - 1) * step : 0;
        if (d === 2) {
          patch[q++] = sampleClamped(data, oct.size, idx[0] + inv[0] * u0 + inv[1] * u1, idx[1] + inv[2] * u0 + inv[3] * u1, 0);
        } else {
          patch[q++] = sampleClamped(
            data,
            oct.size,
            idx[0] + inv[0] * u0 + inv[1] * u1 + inv[2] * u2,
            idx[1] + inv[3] * u0 + inv[4] * u1 + inv[5] * u2,
            idx[2] + inv[6] * u0 + inv[7] * u1 + inv[8] * u2,
          );
        }
      }
    }
  }
  const J = new Float64Array(d * d);
  const c = new Float64Array(d);
  hist.fill(0);
  let W = 0;
  const inv2 = 1 / (2 * sw * sw);
  const r2max = 9 * sw * sw;
  const zlo = d === 3 ? 1 : 0;
  const zhi = d === 3 ? w - 1 : 1;
  const sy = w;
  const sz = w * w;
  const gr = [0, 0, 0];
  for (let gz = zlo; gz < zhi; gz++) {
    const u2 = d === 3 ? (gz - k - 1) * step : 0;
    for (let gy = 1; gy < w - 1; gy++) {
      const u1 = (gy - k - 1) * step;
      for (let gx = 1; gx < w - 1; gx++) {
        const u0 = (gx - k - 1) * step;
        const r2 = u0 * u0 + u1 * u1 + u2 * u2;
        if (r2 > r2max) continue;
        const wt = Math.exp(-r2 * inv2);
        const p = gx + sy * gy + sz * gz;
        gr[0] = patch[p + 1] - patch[p - 1];
        gr[1] = patch[p + sy] - patch[p - sy];
        gr[2] = d === 3 ? patch[p + sz] - patch[p - sz] : 0;
        let mag2 = 0;
        for (let a = 0; a < d; a++) {
          mag2 += gr[a] * gr[a];
          for (let b = a; b < d; b++) J[a * d + b] += wt * gr[a] * gr[b];
        }
        const mw = wt * Math.sqrt(mag2);
        if (histogram && mag2 > 0) {
          // SIFT: 36 bins over the gradient angle, linear interpolation between bins.
          let t = (Math.atan2(gr[1], gr[0]) / (2 * Math.PI)) * HIST_BINS;
          if (t < 0) t += HIST_BINS;
          const b0 = Math.floor(t);
          const f = t - b0;
          hist[b0 % HIST_BINS] += mw * (1 - f);
          hist[(b0 + 1) % HIST_BINS] += mw * f;
        }
        W += mw;
        c[0] += mw * u0;
        c[1] += mw * u1;
        if (d === 3) c[2] += mw * u2;
      }
    }
  }
  if (!(W > 0)) return;
  if (histogram) {
    histogramFrames(out);
    return;
  }
  for (let a = 0; a < d; a++) for (let b = 0; b < a; b++) J[a * d + b] = J[b * d + a];
  const { values, vectors } = symmetricEigen(J, d);
  if (!(values[0] > 0)) return;
  for (let a = 0; a + 1 < d; a++) if (values[a + 1] > axisRatio * values[a]) return;
  // Sign of axis a: towards the gradient-magnitude centroid; ambiguous → both.
  const signs: number[][] = [];
  const axes = d === 2 ? 1 : 2;
  for (let a = 0; a < axes; a++) {
    let m = 0;
    for (let r = 0; r < d; r++) m += c[r] * vectors[r * d + a];
    m /= W * sw;
    signs.push(Math.abs(m) < signTolerance ? [1, -1] : [m > 0 ? 1 : -1]);
  }
  const combos: number[][] = d === 2 ? signs[0].map((s) => [s]) : signs[0].flatMap((s0) => signs[1].map((s1) => [s0, s1]));
  for (const sg of combos) {
    const F = new Array<number>(d * d);
    if (d === 2) {
      const ex = sg[0] * vectors[0];
      const ey = sg[0] * vectors[2];
      F[0] = ex;
      F[2] = ey;
      F[1] = -ey;
      F[3] = ex;
    } else {
      const e1 = [sg[0] * vectors[0], sg[0] * vectors[3], sg[0] * vectors[6]];
      const e2 = [sg[1] * vectors[1], sg[1] * vectors[4], sg[1] * vectors[7]];
      const e3 = [e1[1] * e2[2] - e1[2] * e2[1], e1[2] * e2[0] - e1[0] * e2[2], e1[0] * e2[1] - e1[1] * e2[0]];
      for (let r = 0; r < 3; r++) {
        F[r * 3] = e1[r];
        F[r * 3 + 1] = e2[r];
        F[r * 3 + 2] = e3[r];
      }
    }
    out.push(F);
  }
}

/**
 * Keypoints of a 2D or 3D image (see the file's header; a vector image: its first component). A constant or tiny
 * image gives zero keypoints (no error); an invalid image or mask is a CoregError naming it.
 * The order is by decreasing response.
 */
export function detectKeypoints(image: Image, options: KeypointOptions = {}): Keypoints {
  checkImageArgument(image, 'image');
  const d = image.dimension;
  if (options.mask) {
    checkImageArgument(options.mask, 'mask');
    if (options.mask.dimension !== d) throw new CoregError('mask', `the mask is ${options.mask.dimension}D but the image is ${d}D`);
  }
  const space = scaleSpace(image, options);
  if (!space.hasContrast) return EMPTY(d);
  const s = space.scalesPerOctave;
  const maxKeypoints = Math.max(0, Math.floor(options.maxKeypoints ?? (d === 2 ? 1000 : 2000)));
  const threshold = (options.contrastThreshold ?? (d === 2 ? 0.04 : 0.02)) / s;
  const edgeRatio = options.edgeRatio ?? (d === 2 ? 10 : 20);
  const window = options.orientationWindow ?? 1.5;
  const axisRatio = options.axisRatio ?? 0.9;
  const signTolerance = options.signTolerance ?? 0.05;
  const regions = Math.max(1, Math.round(options.regions ?? 4));
  const orientation = options.orientation ?? 'tensor';
  if (orientation !== 'tensor' && orientation !== 'histogram') throw new CoregError('orientation', `must be tensor or histogram, got '${String(orientation)}'`, 2);
  const histogram = d === 2 && orientation === 'histogram';
  if (maxKeypoints === 0) return EMPTY(d);

  let cands: Candidate[] = [];
  for (let o = 0; o < space.octaves.length; o++) octaveCandidates(space, o, threshold, edgeRatio, cands);

  // Physical positions; mask.
  const pts = new Float64Array(cands.length * d);
  const mask = options.mask ?? null;
  const maskToIndex = mask ? physicalToIndexMatrix(mask) : null;
  const size0 = space.octaves[0].size;
  const kept: Candidate[] = [];
  const keptPts: number[] = [];
  for (let i = 0; i < cands.length; i++) {
    const cd = cands[i];
    octaveIndexToPhysical(space, cd.octave, cd.index, pts, i * d);
    if (mask && maskToIndex && !insideMask(mask, maskToIndex, pts, i * d)) continue;
    // Region from the octave-0 index.
    let cell = 0;
    let mul = 1;
    const f = 2 ** cd.octave;
    for (let a = 0; a < d; a++) {
      const t = Math.min(regions - 1, Math.max(0, Math.floor(((cd.index[a] * f + 0.5) / size0[a]) * regions)));
      cell += t * mul;
      mul *= regions;
    }
    cd.cell = cell;
    kept.push(cd);
    for (let a = 0; a < d; a++) keptPts.push(pts[i * d + a]);
  }
  cands = kept;
  // Strongest first (ties by position, for determinism).
  const order = cands.map((_, i) => i);
  order.sort((a, b) => cands[b].response - cands[a].response || keptPts[a * d] - keptPts[b * d] || a - b);

  // Frames for a pool of the strongest candidates (a few may be dropped or doubled), then the spread cap.
  const pool = Math.min(order.length, 3 * maxKeypoints);
  interface Item {
    c: number;
    frame: number[];
  }
  const items: Item[] = [];
  const idx = new Float64Array(d);
  const frames: number[][] = [];
  for (let t = 0; t < pool; t++) {
    const ci = order[t];
    const cd = cands[ci];
    for (let a = 0; a < d; a++) idx[a] = cd.index[a];
    const sigmaOct = space.sigma0 * 2 ** (cd.level / s);
    frames.length = 0;
    keypointFrames(space, cd.octave, cd.level, idx, sigmaOct, window, axisRatio, signTolerance, histogram, frames);
    for (const F of frames) items.push({ c: ci, frame: F });
  }
  const cellCount = new Map<number, number>();
  for (const it of items) cellCount.set(cands[it.c].cell, 0);
  const cap = Math.ceil((2 * maxKeypoints) / Math.max(1, cellCount.size));
  const chosen: Item[] = [];
  const skipped: Item[] = [];
  for (const it of items) {
    if (chosen.length >= maxKeypoints) break;
    const cell = cands[it.c].cell;
    const used = cellCount.get(cell) ?? 0;
    if (used >= cap) {
      skipped.push(it);
      continue;
    }
    cellCount.set(cell, used + 1);
    chosen.push(it);
  }
  for (const it of skipped) {
    if (chosen.length >= maxKeypoints) break;
    chosen.push(it);
  }
  chosen.sort((a, b) => cands[b.c].response - cands[a.c].response || a.c - b.c);

  const count = chosen.length;
  const out: Keypoints = {
    dimension: d,
    count,
    points: new Float64Array(count * d),
    scales: new Float64Array(count),
    frames: new Float64Array(count * d * d),
    responses: new Float64Array(count),
  };
  for (let i = 0; i < count; i++) {
    const it = chosen[i];
    const cd = cands[it.c];
    for (let a = 0; a < d; a++) out.points[i * d + a] = keptPts[it.c * d + a];
    out.scales[i] = space.sigma0 * 2 ** (cd.level / s) * space.octaves[cd.octave].spacing;
    out.frames.set(it.frame, i * d * d);
    out.responses[i] = cd.response;
  }
  return out;
}
