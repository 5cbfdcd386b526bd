/**
 * Joint label fusion (Wang et al. 2013, IEEE PAMI): per-voxel weights w = M⁻¹1 / 1ᵀM⁻¹1 from the atlases' joint
 * error correlation M(i,j) = (mean over the patch of |A_i − T|·|A_j − T|)^β + α·δij, with a local search for the
 * best-matching atlas patch, whose label is the vote.
 */
import { CoregError } from '../errors.js';
import { allocateProbabilities, checkIntensities, checkRadius, checkVotes, compactVotes, fusionGrid, toLabels, type FusionResult, type LabelVotes } from './votes.js';

export interface JointFusionOptions {
  /** Patch radius in voxels (default 2). */
  patchRadius?: number;
  /** Local search radius in voxels (default 1; 0 = no search). */
  searchRadius?: number;
  /** Exponent β of the pairwise error products (default 2). */
  beta?: number;
  /** α added to M's diagonal (default 0.1). */
  alpha?: number;
  /** Compare patches after subtracting their mean and dividing by their standard deviation (default true). */
  normalize?: boolean;
  probabilities?: boolean;
}

/**
 * Joint-fusion weights from N difference patches: diffs[i·P + k] = |A_i(k) − T(k)|.
 * M(i,j) = (Σ_k diffs_i(k)·diffs_j(k) / P)^β + α·δij, w = M⁻¹1 / 1ᵀM⁻¹1, written to `out` (length N).
 * `scratch` needs N·(N+1) values. Falls back to equal weights when M cannot be solved.
 */
export function jointFusionWeights(diffs: Float64Array, N: number, P: number, beta: number, alpha: number, out: Float64Array, scratch: Float64Array): void {
  const W = N + 1;
  // Augmented system [M | 1], row-major N × (N+1).
  for (let i = 0; i < N; i++) {
    for (let j = i; j < N; j++) {
      let s = 0;
      const a = i * P;
      const b = j * P;
      for (let k = 0; k < P; k++) s += diffs[a + k] * diffs[b + k];
      let m = Math.pow(s / P, beta);
      if (i === j) m += alpha;
      scratch[i * W + j] = m;
      scratch[j * W + i] = m;
    }
    scratch[i * W + N] = 1;
  }
  // Gaussian elimination with partial pivoting.
  let ok = true;
  for (let col = 0; col < N && ok; col++) {
    let piv = col;
    let best = Math.abs(scratch[col * W + col]);
    for (let r = col + 1; r < N; r++) {
      const v = Math.abs(scratch[r * W + col]);
      if (v > best) {
        best = v;
        piv = r;
      }
    }
    if (!(best > 1e-300)) {
      ok = false;
      break;
    }
    if (piv !== col) {
      for (let c = col; c < W; c++) {
        const t = scratch[col * W + c];
        scratch[col * W + c] = scratch[piv * W + c];
        scratch[piv * W + c] = t;
      }
    }
    const p = scratch[col * W + col];
    for (let r = col + 1; r < N; r++) {
      const f = scratch[r * W + col] / p;
      if (f === 0) continue;
      for (let c = col; c < W; c++) scratch[r * W + c] -= f * scratch[col * W + c];
    }
  }
  let sum = 0;
  if (ok) {
    for (let r = N - 1; r >= 0; r--) {
      let s = scratch[r * W + N];
      for (let c = r + 1; c < N; c++) s -= scratch[r * W + c] * out[c];
      out[r] = s / scratch[r * W + r];
    }
    for (let i = 0; i < N; i++) sum += out[i];
  }
  if (!ok || !Number.isFinite(sum) || Math.abs(sum) < 1e-300) {
    for (let i = 0; i < N; i++) out[i] = 1 / N;
    return;
  }
  for (let i = 0; i < N; i++) out[i] /= sum;
}

interface Offsets {
  dx: Int32Array;
  dy: Int32Array;
  dz: Int32Array;
  /** dx + nx·dy + nx·ny·dz. */
  linear: Int32Array;
}

/**
 * Offsets of a cube of radius r (z radius rz), centre first so that ties keep the unshifted position (search),
 * with their linear offsets in an nx × ny grid.
 */
function cubeOffsets(r: number, rz: number, nx: number, ny: number): Offsets {
  const list: number[][] = [[0, 0, 0]];
  for (let z = -rz; z <= rz; z++) for (let y = -r; y <= r; y++) for (let x = -r; x <= r; x++) if (x !== 0 || y !== 0 || z !== 0) list.push([x, y, z]);
  return {
    dx: Int32Array.from(list, (o) => o[0]),
    dy: Int32Array.from(list, (o) => o[1]),
    dz: Int32Array.from(list, (o) => o[2]),
    linear: Int32Array.from(list, (o) => o[0] + nx * o[1] + nx * ny * o[2]),
  };
}

/**
 * Squared distance between the (normalised, when asked) patch of `img` at (x, y, z) and the prepared target patch
 * `tp` (Σ tp² = tSumSq), in one pass without storing the candidate: with tp of zero mean,
 * Σ(â − tp)² = Σâ² + Σtp² − 2·Σ a·tp / σa, where Σâ² is P (0 for a flat patch, which normalises to zeros).
 */
function patchDistance(
  img: Float32Array,
  nx: number,
  ny: number,
  nz: number,
  x: number,
  y: number,
  z: number,
  patch: Offsets,
  interior: boolean,
  tp: Float64Array,
  tSumSq: number,
  normalize: boolean,
): number {
  const P = tp.length;
  let sa = 0;
  let saa = 0;
  let sat = 0;
  if (interior) {
    const lin = patch.linear;
    const c = x + nx * (y + ny * z);
    for (let k = 0; k < P; k++) {
      const a = img[c + lin[k]];
      sa += a;
      saa += a * a;
      sat += a * tp[k];
    }
  } else {
    const nxy = nx * ny;
    for (let k = 0; k < P; k++) {
      let xx = x + patch.dx[k];
      let yy = y + patch.dy[k];
      let zz = z + patch.dz[k];
      if (xx < 0) xx = 0;
      else if (xx >= nx) xx = nx - 1;
      if (yy < 0) yy = 0;
      else if (yy >= ny) yy = ny - 1;
      if (zz < 0) zz = 0;
      else if (zz >= nz) zz = nz - 1;
      const a = img[xx + nx * yy + nxy * zz];
      sa += a;
      saa += a * a;
      sat += a * tp[k];
    }
  }
  if (!normalize) return saa - 2 * sat + tSumSq;
  const mean = sa / P;
  const sd = Math.sqrt(Math.max(0, saa / P - mean * mean));
  // Same flatness test as gatherPatch.
  if (!(sd > 1e-6 * (Math.abs(mean) + 1))) return tSumSq;
  return P + tSumSq - (2 * sat) / sd;
}

/**
 * Copies the patch centred at (x, y, z) of `img` into out[at…at+P) with border replication, and (when
 * `normalize`) standardises it (zero mean, unit variance; a flat patch becomes all zeros).
 */
function gatherPatch(
  img: Float32Array,
  nx: number,
  ny: number,
  nz: number,
  x: number,
  y: number,
  z: number,
  px: Int32Array,
  py: Int32Array,
  pz: Int32Array,
  out: Float64Array,
  at: number,
  normalize: boolean,
): void {
  const P = px.length;
  const nxy = nx * ny;
  let sum = 0;
  for (let k = 0; k < P; k++) {
    let xx = x + px[k];
    let yy = y + py[k];
    let zz = z + pz[k];
    if (xx < 0) xx = 0;
    else if (xx >= nx) xx = nx - 1;
    if (yy < 0) yy = 0;
    else if (yy >= ny) yy = ny - 1;
    if (zz < 0) zz = 0;
    else if (zz >= nz) zz = nz - 1;
    const v = img[xx + nx * yy + nxy * zz];
    out[at + k] = v;
    sum += v;
  }
  if (!normalize) return;
  const mean = sum / P;
  let ss = 0;
  for (let k = 0; k < P; k++) {
    const d = out[at + k] - mean;
    out[at + k] = d;
    ss += d * d;
  }
  const sd = Math.sqrt(ss / P);
  const scale = sd > 1e-6 * (Math.abs(mean) + 1) ? 1 / sd : 0;
  for (let k = 0; k < P; k++) out[at + k] *= scale;
}

/**
 * Joint label fusion (Wang et al. 2013) with local patch search. Voxels where all atlases agree keep that label
 * without patch work, as JLF is usually run only where atlases disagree: that is a small part of a volume, and
 * the patch work is O(N·S·P + N²·P) per voxel (S search positions, P patch voxels).
 */
export function jointLabelFusion(
  votes: LabelVotes,
  images: readonly Float32Array[],
  target: Float32Array,
  size: readonly number[],
  options: JointFusionOptions = {},
): FusionResult {
  const n = checkVotes(votes, target.length);
  const N = votes.length;
  checkIntensities(images, target, N, n);
  const { nx, ny, nz } = fusionGrid(size, n);
  const pr = checkRadius(options.patchRadius ?? 2, 'patchRadius', 0);
  const sr = checkRadius(options.searchRadius ?? 1, 'searchRadius', 0);
  const beta = options.beta ?? 2;
  const alpha = options.alpha ?? 0.1;
  if (!(Number.isFinite(beta) && beta > 0)) throw new CoregError('beta', `must be a positive number, got ${beta}`);
  if (!(Number.isFinite(alpha) && alpha > 0)) throw new CoregError('alpha', `must be a positive number, got ${alpha}`);
  const normalize = options.normalize ?? true;
  const { values, index } = compactVotes(votes);
  const L = values.length;
  const probs = allocateProbabilities(L, n, options.probabilities);

  const prz = nz > 1 ? pr : 0;
  const patch = cubeOffsets(pr, prz, nx, ny);
  const search = cubeOffsets(sr, nz > 1 ? sr : 0, nx, ny);
  const P = patch.dx.length;
  const S = search.dx.length;
  const targetPatch = new Float64Array(P);
  const candidate = new Float64Array(P);
  const diffs = new Float64Array(N * P);
  const weights = new Float64Array(N);
  const scratch = new Float64Array(N * (N + 1));
  const voted = new Int32Array(N);
  const score = new Float64Array(L);
  const touched = new Int32Array(N);
  const winner = new Int32Array(n);
  const nxy = nx * ny;

  for (let z = 0, v = 0; z < nz; z++) {
    for (let y = 0; y < ny; y++) {
      for (let x = 0; x < nx; x++, v++) {
        const c0 = index[0][v];
        let same = true;
        for (let i = 1; i < N && same; i++) same = index[i][v] === c0;
        if (same) {
          winner[v] = c0;
          if (probs !== null) probs[c0][v] = 1;
          continue;
        }
        gatherPatch(target, nx, ny, nz, x, y, z, patch.dx, patch.dy, patch.dz, targetPatch, 0, normalize);
        let targetSumSq = 0;
        for (let k = 0; k < P; k++) targetSumSq += targetPatch[k] * targetPatch[k];
        for (let i = 0; i < N; i++) {
          const img = images[i];
          let bestCost = Infinity;
          let bestS = 0;
          for (let s = 0; s < S; s++) {
            const xs = x + search.dx[s];
            const ys = y + search.dy[s];
            const zs = z + search.dz[s];
            if (xs < 0 || xs >= nx || ys < 0 || ys >= ny || zs < 0 || zs >= nz) continue;
            const interior = xs >= pr && xs < nx - pr && ys >= pr && ys < ny - pr && zs >= prz && zs < nz - prz;
            const cost = patchDistance(img, nx, ny, nz, xs, ys, zs, patch, interior, targetPatch, targetSumSq, normalize);
            if (cost < bestCost) {
              bestCost = cost;
              bestS = s;
            }
          }
          const xs = x + search.dx[bestS];
          const ys = y + search.dy[bestS];
          const zs = z + search.dz[bestS];
          gatherPatch(img, nx, ny, nz, xs, ys, zs, patch.dx, patch.dy, patch.dz, candidate, 0, normalize);
          const row = i * P;
          for (let k = 0; k < P; k++) diffs[row + k] = Math.abs(candidate[k] - targetPatch[k]);
          voted[i] = index[i][xs + nx * ys + nxy * zs];
        }
        jointFusionWeights(diffs, N, P, beta, alpha, weights, scratch);
        let nt = 0;
        for (let i = 0; i < N; i++) {
          const c = voted[i];
          let seen = false;
          for (let t = 0; t < nt; t++) if (touched[t] === c) seen = true;
          if (!seen) {
            touched[nt++] = c;
            score[c] = 0;
          }
          score[c] += weights[i];
        }
        let best = touched[0];
        let bestScore = score[best];
        for (let t = 1; t < nt; t++) {
          const c = touched[t];
          if (score[c] > bestScore || (score[c] === bestScore && c < best)) {
            best = c;
            bestScore = score[c];
          }
        }
        winner[v] = best;
        // JLF weights sum to 1 but may be negative: report the vote shares clipped to [0, 1].
        if (probs !== null) for (let t = 0; t < nt; t++) probs[touched[t]][v] = Math.min(1, Math.max(0, score[touched[t]]));
      }
    }
  }
  return { labels: toLabels(winner, values), labelValues: values, ...(probs ? { probabilities: probs } : {}) };
}
