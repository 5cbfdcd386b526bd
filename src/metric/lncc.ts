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
 * and those window sums are box filters like the others. Every box filter is a running sum along each axis,
 * so the cost is O(N·d) whatever the radius.
 */
import { CoregError } from '../errors.js';

/** Reusable scratch memory for lnccDense (about 48 bytes per voxel); start with `{ buffers: [] }`. */
export interface LnccWorkspace {
  buffers: Float64Array[];
}

// A window whose variance is below this fraction of the global one is treated as flat (running-sum noise).
const FLAT_RELATIVE = 1e-9;

/**
 * Returns the lncc cost of `moving` against `fixed` (both x-fastest grids of `size`), over voxels where
 * `mask` is non-zero (null = all), with window radius `radius` voxels (one number or one per axis).
 * When `derivative` is given, writes ∂cost/∂moving[y] into it (0 at invalid voxels).
 */
export function lnccDense(
  fixed: Float32Array | Float64Array,
  moving: Float32Array | Float64Array,
  mask: Uint8Array | null,
  size: readonly number[],
  radius: number | readonly number[],
  derivative: Float64Array | null = null,
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
  if (derivative !== null && derivative.length !== n) {
    throw new CoregError('metric', `lncc derivative array has ${derivative.length} values, expected ${n}`);
  }
  const radii = typeof radius === 'number' ? new Array<number>(d).fill(radius) : Array.from(radius);
  if (radii.length !== d || radii.some((r) => !Number.isInteger(r) || r < 0) || radii.every((r) => r === 0)) {
    throw new CoregError('metric', `lncc radius must be whole voxels ≥ 0, not all 0, got [${radii}]`);
  }

  // Global means and variances over valid voxels: centring keeps the running sums small, and a constant image
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

  while (workspace.buffers.length < 7) workspace.buffers.push(new Float64Array(0));
  for (let b = 0; b < 6; b++) if (workspace.buffers[b].length < n) workspace.buffers[b] = new Float64Array(n);
  const scratchNeeded = scratchLength(size, radii);
  if (workspace.buffers[6].length < scratchNeeded) workspace.buffers[6] = new Float64Array(scratchNeeded);
  const [sF, sM, sFF, sMM, sFM, sN, scratch] = workspace.buffers;

  for (let i = 0; i < n; i++) {
    if (mask !== null && mask[i] === 0) {
      sF[i] = sM[i] = sFF[i] = sMM[i] = sFM[i] = sN[i] = 0;
      continue;
    }
    const a = fixed[i] - meanF;
    const b = moving[i] - meanM;
    sF[i] = a;
    sM[i] = b;
    sFF[i] = a * a;
    sMM[i] = b * b;
    sFM[i] = a * b;
    sN[i] = 1;
  }
  for (const buf of [sF, sM, sFF, sMM, sFM, sN]) boxFilter(buf, size, radii, scratch);

  // Per window: accumulate ncc² and turn the sums into the derivative's coefficients in place
  // (sF ← α, sM ← α·f̄, sFF ← β, sMM ← β·m̄).
  let total = 0;
  for (let i = 0; i < n; i++) {
    const cnt = sN[i];
    const counted = cnt > 0 && (mask === null || mask[i] !== 0);
    const sumF = sF[i];
    const sumM = sM[i];
    const A = sFM[i] - (sumF * sumM) / cnt;
    const B = sFF[i] - (sumF * sumF) / cnt;
    const C = sMM[i] - (sumM * sumM) / cnt;
    if (counted && B > FLAT_RELATIVE * cnt * varF && C > FLAT_RELATIVE * cnt * varM) {
      const invBC = 1 / (B * C);
      total += A * A * invBC;
      const alpha = 2 * A * invBC;
      const beta = (alpha * A) / C;
      sF[i] = alpha;
      sM[i] = (alpha * sumF) / cnt;
      sFF[i] = beta;
      sMM[i] = (beta * sumM) / cnt;
    } else {
      sF[i] = sM[i] = sFF[i] = sMM[i] = 0;
    }
  }
  const value = -total / valid;
  if (derivative === null) return value;

  for (const buf of [sF, sM, sFF, sMM]) boxFilter(buf, size, radii, scratch);
  const scale = -1 / valid;
  for (let i = 0; i < n; i++) {
    if (mask !== null && mask[i] === 0) {
      derivative[i] = 0;
      continue;
    }
    const a = fixed[i] - meanF;
    const b = moving[i] - meanM;
    derivative[i] = scale * (a * sF[i] - sM[i] - b * sFF[i] + sMM[i]);
  }
  return value;
}

// Columns handled together when summing along a strided axis: rows of this many doubles stay in cache.
const CHUNK = 256;

/** Scratch doubles boxFilter needs for this grid and radius. */
function scratchLength(size: readonly number[], radii: readonly number[]): number {
  return Math.max(Math.max(...size), (Math.max(...radii) + 2) * CHUNK);
}

/**
 * In place: every value becomes the sum over the box of radius `radii` around it, clipped at the edges.
 * Separable running sums, one axis at a time. Along x each line is copied to `scratch` first; along the
 * strided axes whole row segments of CHUNK columns slide together, with the last r + 1 original rows kept
 * in a ring (they are overwritten before the window leaves them).
 */
function boxFilter(data: Float64Array, size: readonly number[], radii: readonly number[], scratch: Float64Array): void {
  let total = 1;
  for (const s of size) total *= s;
  const nx = size[0];
  const rx = radii[0];
  if (rx > 0 && nx > 1) {
    const first = rx < nx - 1 ? rx : nx - 1;
    for (let start = 0; start < total; start += nx) {
      for (let i = 0; i < nx; i++) scratch[i] = data[start + i];
      let sum = 0;
      for (let i = 0; i <= first; i++) sum += scratch[i];
      data[start] = sum;
      for (let i = 1; i < nx; i++) {
        if (i + rx < nx) sum += scratch[i + rx];
        if (i - rx - 1 >= 0) sum -= scratch[i - rx - 1];
        data[start + i] = sum;
      }
    }
  }
  let stride = nx;
  for (let axis = 1; axis < size.length; axis++) {
    const len = size[axis];
    const r = radii[axis];
    const block = len * stride;
    if (r > 0 && len > 1) {
      const first = r < len - 1 ? r : len - 1;
      // scratch layout: acc at [0, CHUNK), ring slot q at [(q + 1)·CHUNK, (q + 2)·CHUNK)
      for (let outer = 0; outer < total; outer += block) {
        for (let col = 0; col < stride; col += CHUNK) {
          const width = Math.min(CHUNK, stride - col);
          const base = outer + col;
          for (let j = 0; j < width; j++) scratch[j] = 0;
          for (let i = 0; i <= first; i++) {
            const row = base + i * stride;
            for (let j = 0; j < width; j++) scratch[j] += data[row + j];
          }
          for (let i = 0; i < len; i++) {
            const row = base + i * stride;
            const slot = ((i % (r + 1)) + 1) * CHUNK;
            for (let j = 0; j < width; j++) {
              scratch[slot + j] = data[row + j];
              data[row + j] = scratch[j];
            }
            if (i + r + 1 < len) {
              const next = base + (i + r + 1) * stride;
              for (let j = 0; j < width; j++) scratch[j] += data[next + j];
            }
            if (i - r >= 0) {
              const leaving = (((i - r) % (r + 1)) + 1) * CHUNK;
              for (let j = 0; j < width; j++) scratch[j] -= scratch[leaving + j];
            }
          }
        }
      }
    }
    stride = block;
  }
}
