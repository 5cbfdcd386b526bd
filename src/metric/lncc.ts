/**
 * Local normalised cross-correlation on dense grids, as ANTs' CC metric: a cost to minimise,
 *   lncc = −(1/N_valid) · Σ_{valid x} A(x)² / (B(x)·C(x)),
 * i.e. minus the mean of the SQUARED local correlation (ANTs' choice; so the optimum −1 is reached for identical
 * images and also for locally inverted contrast). Over the window W(x) of (2r+1)^d voxels, clipped at the grid
 * edges and restricted to valid (mask ≠ 0) voxels, with n voxels:
 *   A = Σfm − Σf·Σm/n,  B = Σf² − (Σf)²/n,  C = Σm² − (Σm)²/n.
 * Windows where f or m is flat (B or C ≈ 0) contribute 0 to the sum and nothing to the derivative.
 *
 * The derivative is exact, including the neighbours' windows: m_y enters every window W(x) ∋ y, so
 *   ∂/∂m_y Σ_x A²/(BC) = Σ_{x ∈ W(y)} α(x)(f_y − f̄(x)) − β(x)(m_y − m̄(x)),  α = 2A/(BC), β = 2A²/(BC²),
 * and those window sums are box filters like the others. The mirror-image derivative ∂/∂f_y follows by swapping
 * the roles of f and m, from the same window sums, so both halves of a symmetric registration cost one pass.
 *
 * The grid is streamed slice by slice along z: window sums of a slice need only the 2r_z + 1 slices around it,
 * so the working memory is a few rings of slices (O(N/n_z)) instead of full-size sum images, and each slice's
 * in-plane box filters (running sums along x and y) stay in cache.
 */
import { CoregError } from '../errors.js';
import { boxFilterPlane } from '../pyramid/box.js';

/** Reusable scratch memory for lnccDense (a few rings of slices, not full images); start with `{ buffers: [] }`. */
export interface LnccWorkspace {
  buffers: Float64Array[];
}

// A window whose variance is below this fraction of the global one is treated as flat (running-sum noise).
const FLAT_RELATIVE = 1e-9;

/** Window-sum channels: Σf, Σm, Σf², Σm², Σfm, count (f and m centred on their global means). */
const SUMS = 6;

type Values = Float32Array | Float64Array;

/**
 * Returns the lncc cost of `moving` against `fixed` (both x-fastest grids of `size`), over voxels where
 * `mask` is non-zero (null = all), with window radius `radius` voxels (one number or one per axis).
 * When `derivative` is given, writes ∂cost/∂moving[y] into it (0 at invalid voxels).
 */
export function lnccDense(
  fixed: Values,
  moving: Values,
  mask: Uint8Array | null,
  size: readonly number[],
  radius: number | readonly number[],
  derivative: Float64Array | null = null,
  workspace: LnccWorkspace = { buffers: [] },
): number {
  return lnccDenseDerivatives(fixed, moving, mask, size, radius, null, derivative, workspace);
}

/**
 * As lnccDense, writing ∂cost/∂fixed[y] into `derivativeFixed` and ∂cost/∂moving[y] into `derivativeMoving`
 * (either may be null; 0 at invalid voxels). Both come from one set of window sums.
 */
export function lnccDenseDerivatives(
  fixed: Values,
  moving: Values,
  mask: Uint8Array | null,
  size: readonly number[],
  radius: number | readonly number[],
  derivativeFixed: Values | null,
  derivativeMoving: Values | null,
  workspace: LnccWorkspace = { buffers: [] },
): number {
  const d = size.length;
  if (d !== 2 && d !== 3) throw new CoregError('metric', `lncc needs a 2D or 3D grid, got ${d} axes`);
  let n = 1;
  for (const s of size) {
    if (!Number.isInteger(s) || s < 1) throw new CoregError('metric', `lncc grid size must be positive integers, got [${size}]`);
    n *= s;
  }
  if (fixed.length !== n || moving.length !== n) {
    throw new CoregError('metric', `lncc grid of ${n} voxels does not match the images (${fixed.length} and ${moving.length} values)`);
  }
  if (mask !== null && mask.length !== n) throw new CoregError('metric', `lncc mask has ${mask.length} values, expected ${n}`);
  for (const out of [derivativeFixed, derivativeMoving]) {
    if (out !== null && out.length !== n) throw new CoregError('metric', `lncc derivative array has ${out.length} values, expected ${n}`);
  }
  const radii = typeof radius === 'number' ? new Array<number>(d).fill(radius) : Array.from(radius);
  if (radii.length !== d || radii.some((r) => !Number.isInteger(r) || r < 0) || radii.every((r) => r === 0)) {
    throw new CoregError('metric', `lncc radius must be whole voxels ≥ 0, not all 0, got [${radii}]`);
  }

  // Global means and variances over valid voxels: centring keeps the window sums small, and a constant image
  // has no correlation to measure.
  let valid = 0;
  let meanF = 0;
  let meanM = 0;
  for (let i = 0; i < n; i++) {
    if (mask !== null && mask[i] === 0) continue;
    valid++;
    meanF += fixed[i];
    meanM += moving[i];
  }
  if (valid === 0) throw new CoregError('metric', 'no valid voxels: lncc is undefined (the images may not overlap)');
  meanF /= valid;
  meanM /= valid;
  let varF = 0;
  let varM = 0;
  for (let i = 0; i < n; i++) {
    if (mask !== null && mask[i] === 0) continue;
    const a = fixed[i] - meanF;
    const b = moving[i] - meanM;
    varF += a * a;
    varM += b * b;
  }
  varF /= valid;
  varM /= valid;
  if (!(varF > 1e-24 * meanF * meanF) || !(varM > 1e-24 * meanM * meanM)) {
    throw new CoregError('metric', 'image is constant: lncc is undefined');
  }

  const nx = size[0];
  const ny = size[1];
  const nz = d === 3 ? size[2] : 1;
  const rx = Math.min(radii[0], nx - 1);
  const ry = Math.min(radii[1], ny - 1);
  const rz = d === 3 ? Math.min(radii[2], nz - 1) : 0;
  const coefficients = (derivativeMoving !== null ? 4 : 0) + (derivativeFixed !== null ? 3 : 0) + (derivativeMoving === null && derivativeFixed !== null ? 1 : 0);
  const nxy = nx * ny;
  const ring = 2 * rz + 1;
  while (workspace.buffers.length < 4) workspace.buffers.push(new Float64Array(0));
  const needs = [SUMS * ring * nxy, coefficients * ring * nxy, Math.max(nxy, nx), Math.max(SUMS, coefficients) * nxy];
  for (let b = 0; b < 4; b++) if (workspace.buffers[b].length < needs[b]) workspace.buffers[b] = new Float64Array(needs[b]);
  const [sums, coefs, scratch, planes] = workspace.buffers;
  const geometry = Int32Array.of(nx, ny, nz, rx, ry, rz);
  const stats = Float64Array.of(meanF, meanM, FLAT_RELATIVE * varF, FLAT_RELATIVE * varM, -1 / valid);
  const total = lnccStream(fixed, moving, mask, geometry, stats, sums, coefs, scratch, planes, derivativeFixed, derivativeMoving);
  return -total / valid;
}

/**
 * The streaming core. For t = 0 … nz − 1 + 2rz: slice t's centred products enter the first ring (box-filtered in
 * plane); slice t − rz gets its window sums by adding its ring neighbours along z, and its per-window
 * derivative coefficients enter the second ring (box-filtered in plane); slice t − 2rz gets its derivatives the
 * same way. Returns Σ ncc² over counted windows.
 */
function lnccStream(
  fixed: Values,
  moving: Values,
  mask: Uint8Array | null,
  geometry: Int32Array,
  stats: Float64Array,
  sums: Float64Array,
  coefs: Float64Array,
  scratch: Float64Array,
  planes: Float64Array,
  dF: Values | null,
  dM: Values | null,
): number {
  const nx = geometry[0];
  const ny = geometry[1];
  const nz = geometry[2];
  const rx = geometry[3];
  const ry = geometry[4];
  const rz = geometry[5];
  const meanF = stats[0];
  const meanM = stats[1];
  const flatF = stats[2];
  const flatM = stats[3];
  const scale = stats[4];
  const nxy = nx * ny;
  const ring = 2 * rz + 1;
  const sumPlane = ring * nxy; // channel c of ring slot q starts at c·sumPlane + q·nxy
  const hasM = dM !== null;
  const hasF = dF !== null;
  const nCoef = (hasM ? 4 : 0) + (hasF ? 3 : 0) + (!hasM && hasF ? 1 : 0);
  // coefficient channels: 0 α, 1 α·f̄, 2 β_m, 3 β_m·m̄ (moving); α·m̄, β_f, β_f·f̄ (fixed) at fBase…fBase+2
  const fBase = hasM ? 4 : 1;
  let total = 0;
  for (let t = 0; t < nz + 2 * rz; t++) {
    if (t < nz) {
      const slot = (t % ring) * nxy;
      const base = t * nxy;
      for (let i = 0; i < nxy; i++) {
        const at = slot + i;
        if (mask !== null && mask[base + i] === 0) {
          sums[at] = sums[at + sumPlane] = sums[at + 2 * sumPlane] = sums[at + 3 * sumPlane] = sums[at + 4 * sumPlane] = sums[at + 5 * sumPlane] = 0;
          continue;
        }
        const a = fixed[base + i] - meanF;
        const b = moving[base + i] - meanM;
        sums[at] = a;
        sums[at + sumPlane] = b;
        sums[at + 2 * sumPlane] = a * a;
        sums[at + 3 * sumPlane] = b * b;
        sums[at + 4 * sumPlane] = a * b;
        sums[at + 5 * sumPlane] = 1;
      }
      for (let c = 0; c < SUMS; c++) boxFilterPlane(sums, c * sumPlane + slot, nx, ny, rx, ry, scratch);
    }
    const k = t - rz;
    if (k >= 0 && k < nz) {
      const k0 = k - rz > 0 ? k - rz : 0;
      const k1 = k + rz < nz - 1 ? k + rz : nz - 1;
      const slot = (k % ring) * nxy;
      const base = k * nxy;
      sumAlongZ(sums, SUMS, sumPlane, nxy, ring, k0, k1, planes);
      for (let i = 0; i < nxy; i++) {
        const sF = planes[i];
        const sM = planes[i + nxy];
        const sFF = planes[i + 2 * nxy];
        const sMM = planes[i + 3 * nxy];
        const sFM = planes[i + 4 * nxy];
        const cnt = planes[i + 5 * nxy];
        const counted = cnt > 0 && (mask === null || mask[base + i] !== 0);
        const invCnt = 1 / cnt;
        const localF = sF * invCnt;
        const localM = sM * invCnt;
        const A = sFM - sF * localM;
        const B = sFF - sF * localF;
        const C = sMM - sM * localM;
        const at = slot + i;
        if (counted && B > flatF * cnt && C > flatM * cnt) {
          const invBC = 1 / (B * C);
          const alpha = 2 * A * invBC;
          total += 0.5 * alpha * A;
          coefs[at] = alpha;
          if (hasM) {
            const betaM = alpha * A * B * invBC; // α·A/C
            coefs[at + sumPlane] = alpha * localF;
            coefs[at + 2 * sumPlane] = betaM;
            coefs[at + 3 * sumPlane] = betaM * localM;
          }
          if (hasF) {
            const betaF = alpha * A * C * invBC; // α·A/B
            coefs[at + fBase * sumPlane] = alpha * localM;
            coefs[at + (fBase + 1) * sumPlane] = betaF;
            coefs[at + (fBase + 2) * sumPlane] = betaF * localF;
          }
        } else {
          for (let c = 0; c < nCoef; c++) coefs[at + c * sumPlane] = 0;
        }
      }
      for (let c = 0; c < nCoef; c++) boxFilterPlane(coefs, c * sumPlane + slot, nx, ny, rx, ry, scratch);
    }
    const q = t - 2 * rz;
    if (q >= 0 && q < nz && nCoef > 0) {
      const k0 = q - rz > 0 ? q - rz : 0;
      const k1 = q + rz < nz - 1 ? q + rz : nz - 1;
      const base = q * nxy;
      sumAlongZ(coefs, nCoef, sumPlane, nxy, ring, k0, k1, planes);
      const f0 = fBase * nxy;
      for (let i = 0; i < nxy; i++) {
        const v = base + i;
        if (mask !== null && mask[v] === 0) {
          if (hasM) dM[v] = 0;
          if (hasF) dF[v] = 0;
          continue;
        }
        const a = fixed[v] - meanF;
        const b = moving[v] - meanM;
        const q0 = planes[i];
        if (hasM) dM[v] = scale * (a * q0 - planes[i + nxy] - b * planes[i + 2 * nxy] + planes[i + 3 * nxy]);
        if (hasF) dF[v] = scale * (b * q0 - planes[i + f0] - a * planes[i + f0 + nxy] + planes[i + f0 + 2 * nxy]);
      }
    }
  }
  return total;
}

/** planes[c·nxy + i] ← Σ over ring slices k0…k1 of channel c (channels `channelStride` apart in `ring`). */
function sumAlongZ(rings: Float64Array, channels: number, channelStride: number, nxy: number, ring: number, k0: number, k1: number, planes: Float64Array): void {
  for (let c = 0; c < channels; c++) {
    const out = c * nxy;
    const first = c * channelStride + (k0 % ring) * nxy;
    for (let i = 0; i < nxy; i++) planes[out + i] = rings[first + i];
    for (let kk = k0 + 1; kk <= k1; kk++) {
      const from = c * channelStride + (kk % ring) * nxy;
      for (let i = 0; i < nxy; i++) planes[out + i] += rings[from + i];
    }
  }
}
