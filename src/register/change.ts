/**
 * Change over time between a baseline and a follow-up image of the same subject, computed symmetrically in the
 * midpoint space (as SIENA and tensor-based morphometry do):
 *  1. rigid registration R (baseline → follow-up points); its half H (H∘H = R) defines the midpoint space, where
 *     baseline∘H⁻¹ and follow-up∘H are each resampled once;
 *  2. non-rigid registration both ways in the midpoint space: F (follow-up onto baseline) and B (baseline onto
 *     follow-up);
 *  3. the volume of a region S (the mask or a label, mapped to the midpoint) is V_f/V_b = ∫_S det ∂F / |S| by F,
 *     and V_b/V_f = ∫_{S'} det ∂B / |S'| by B (S' = S carried onto the follow-up by B); the reported ratio is the
 *     geometric mean of the forward ratio and the inverse of the backward one, so that swapping baseline and
 *     follow-up gives the inverse ratio;
 *  4. for comparison, the volume change by counting: the region's voxels carried onto the follow-up by B against
 *     its voxels in the baseline.
 */
import { CoregError } from '../errors.js';
import { createImageLike, invertMatrix, physicalBoundingBox, type Image } from '../image/image.js';
import { resample } from '../resample/resample.js';
import { AffineTransform, composeLinear } from '../transform/linear.js';
import { jacobianDeterminantImage } from '../transform/jacobian.js';
import type { LinearTransform, Transform } from '../transform/transform.js';
import type { RegistrationConfig } from './config.js';
import { register, type RegisterOptions } from './register.js';

export interface ChangeOptions {
  /** Region in the baseline (> 0 inside); default: the foreground of both images. */
  mask?: Image;
  /** Label image on the baseline's grid: the change per label. */
  labels?: Image;
  rigidConfig: RegistrationConfig;
  nonrigidConfig: RegistrationConfig;
  registerOptions?: Pick<RegisterOptions, 'signal' | 'warn' | 'onProgress'>;
}

export interface RegionChange {
  /** From the integrated Jacobian, symmetric (geometric mean of both directions); % of the baseline volume. */
  percentChange: number;
  /** Forward (∫_S det ∂F) and backward (inverse of ∫_{S'} det ∂B) estimates alone. */
  percentChangeForward: number;
  percentChangeBackward: number;
  /** By counting the region's voxels carried onto the follow-up against the baseline's. */
  percentChangeLabelCount: number;
  baselineVolumeMm3: number;
  followupVolumeMm3: number;
}

export interface ChangeResult extends RegionChange {
  labels: Record<string, RegionChange>;
  /** The rigid transform baseline → follow-up (fixed → moving) and its half. */
  rigid: AffineTransform;
  half: AffineTransform;
  /** Both images in the midpoint space (on the baseline's grid). */
  baselineMid: Image;
  followupMid: Image;
  /** Follow-up − baseline after the rigid alignment (midpoint space). */
  difference: Image;
  /** det ∂F on the midpoint grid: > 1 where the follow-up is larger (growth), < 1 where it shrank. */
  jacobian: Image;
  forward: Transform[];
  backward: Transform[];
  seconds: number;
}

/** Principal square root of a matrix without negative real eigenvalues (Denman–Beavers iteration). */
export function matrixSqrt(m: ArrayLike<number>, d: number): Float64Array {
  let y = Float64Array.from(m);
  let z = new Float64Array(d * d);
  for (let i = 0; i < d; i++) z[i * d + i] = 1;
  for (let k = 0; k < 60; k++) {
    const yi = invertMatrix(y, d);
    const zi = invertMatrix(z, d);
    const ny = new Float64Array(d * d);
    const nz = new Float64Array(d * d);
    let delta = 0;
    for (let i = 0; i < d * d; i++) {
      ny[i] = (y[i] + zi[i]) / 2;
      nz[i] = (z[i] + yi[i]) / 2;
      delta = Math.max(delta, Math.abs(ny[i] - y[i]));
    }
    y = ny;
    z = nz;
    if (delta < 1e-15) break;
  }
  return y;
}

/** H with H∘H = T for a linear T(x) = A x + o: H(x) = √A x + (√A + I)⁻¹ o. */
export function halfTransform(t: LinearTransform): AffineTransform {
  const d = t.dimension;
  const a = t.matrix();
  const o = t.offset();
  const p = matrixSqrt(a, d);
  const pi = Float64Array.from(p);
  for (let i = 0; i < d; i++) pi[i * d + i] += 1;
  const inv = invertMatrix(pi, d);
  const s = new Float64Array(d);
  for (let r = 0; r < d; r++) for (let c = 0; c < d; c++) s[r] += inv[r * d + c] * o[c];
  const h = new AffineTransform(d);
  h.fitMapping(p, s);
  return h;
}

function boxesOverlap(a: Image, b: Image): boolean {
  const ba = physicalBoundingBox(a, true);
  const bb = physicalBoundingBox(b, true);
  for (let k = 0; k < a.dimension; k++) if (ba.max[k] <= bb.min[k] || bb.max[k] <= ba.min[k]) return false;
  return true;
}

function percent(ratio: number): number {
  return 100 * (ratio - 1);
}

/** Threshold separating the foreground: 10 % of the way from the 2nd to the 98th percentile of the values. */
function foregroundThreshold(data: ArrayLike<number>): number {
  const v = Float64Array.from(data).filter(Number.isFinite).sort();
  const lo = v[Math.floor(0.02 * (v.length - 1))];
  const hi = v[Math.floor(0.98 * (v.length - 1))];
  return lo + 0.1 * (hi - lo);
}

function voxelVolume(img: Image): number {
  return img.spacing.reduce((p, s) => p * s, 1);
}

/** Integrals of one region given its weights in the baseline-mid (wA) and follow-up-mid (wB) spaces. */
function regionChange(wA: ArrayLike<number>, wB: ArrayLike<number>, jf: ArrayLike<number>, jb: ArrayLike<number>, vox: number): RegionChange {
  let sA = 0;
  let sAJ = 0;
  let sB = 0;
  let sBJ = 0;
  let cA = 0;
  let cB = 0;
  for (let i = 0; i < wA.length; i++) {
    const a = wA[i];
    const b = wB[i];
    if (a > 0) {
      sA += a;
      sAJ += a * jf[i];
      if (a >= 0.5) cA++;
    }
    if (b > 0) {
      sB += b;
      sBJ += b * jb[i];
      if (b >= 0.5) cB++;
    }
  }
  const forward = sAJ / sA;
  const backward = sBJ / sB;
  const ratio = Math.sqrt(forward / backward);
  return {
    percentChange: percent(ratio),
    percentChangeForward: percent(forward),
    percentChangeBackward: percent(1 / backward),
    percentChangeLabelCount: percent(cB / cA),
    baselineVolumeMm3: sA * vox,
    followupVolumeMm3: sA * vox * ratio,
  };
}

/** See the file comment. Throws CoregError when the images do not overlap or the region is empty. */
export async function detectChange(baseline: Image, followup: Image, opts: ChangeOptions): Promise<ChangeResult> {
  const t0 = typeof performance !== 'undefined' ? performance.now() : Date.now();
  if (baseline.dimension !== followup.dimension) throw new CoregError('--followup', `is ${followup.dimension}D but the baseline is ${baseline.dimension}D`);
  for (const [img, name] of [
    [baseline, '--baseline'],
    [followup, '--followup'],
  ] as const) {
    if (img.components !== 1) throw new CoregError(name, `has ${img.components} values per voxel; change detection needs scalar images`);
  }
  if (!boxesOverlap(baseline, followup)) throw new CoregError('--followup', 'does not overlap the baseline in physical space (no common region to compare)');
  for (const [img, name] of [
    [opts.mask, '--mask'],
    [opts.labels, '--labels'],
  ] as const) {
    if (img && (img.dimension !== baseline.dimension || img.size.some((n, k) => n !== baseline.size[k]))) {
      throw new CoregError(name, `must be on the baseline's grid (${baseline.size.join('x')}), got ${img.size.join('x')}`);
    }
  }
  const ro = opts.registerOptions ?? {};
  // 1. Rigid, then its half: the midpoint space.
  const rigidResult = await register(baseline, followup, opts.rigidConfig, ro);
  const rigid = composeLinear(rigidResult.transforms as unknown as LinearTransform[]);
  const half = halfTransform(rigid);
  const halfInverse = half.inverse() as AffineTransform;
  const baselineMid = resample(baseline, baseline, [halfInverse], { interpolation: 'linear', outputType: 'float32' });
  const followupMid = resample(followup, baseline, [half], { interpolation: 'linear', outputType: 'float32', defaultValue: NaN });
  let covered = 0;
  for (let i = 0; i < followupMid.data.length; i++) {
    if (followupMid.data[i] !== followupMid.data[i]) followupMid.data[i] = 0;
    else covered++;
  }
  if (covered < 0.05 * followupMid.data.length) throw new CoregError('--followup', 'overlaps less than 5 % of the baseline after rigid alignment');
  const difference = createImageLike(baselineMid, 'float32');
  for (let i = 0; i < difference.data.length; i++) difference.data[i] = followupMid.data[i] - baselineMid.data[i];
  // 2. Non-rigid both ways in the midpoint space.
  const fwd = await register(baselineMid, followupMid, opts.nonrigidConfig, ro);
  const bwd = await register(followupMid, baselineMid, opts.nonrigidConfig, ro);
  const jf = jacobianDeterminantImage(fwd.transforms, baselineMid);
  const jb = jacobianDeterminantImage(bwd.transforms, baselineMid);
  const vox = voxelVolume(baselineMid);
  // 3. The regions in the midpoint space (baseline side wA) and carried onto the follow-up side by B (wB).
  let wA: Image;
  if (opts.mask) {
    const m = createImageLike(opts.mask, 'float32');
    for (let i = 0; i < m.data.length; i++) m.data[i] = opts.mask.data[i] > 0 ? 1 : 0;
    wA = resample(m, baseline, [halfInverse], { interpolation: 'linear', outputType: 'float32' });
  } else {
    // The foreground of both images (the same whichever is called the baseline).
    wA = createImageLike(baselineMid, 'float32');
    const mean = new Float32Array(wA.data.length);
    for (let i = 0; i < mean.length; i++) mean[i] = (baselineMid.data[i] + followupMid.data[i]) / 2;
    const th = foregroundThreshold(mean);
    for (let i = 0; i < mean.length; i++) wA.data[i] = mean[i] > th ? 1 : 0;
  }
  const wB = resample(wA, baselineMid, bwd.transforms, { interpolation: 'linear', outputType: 'float32' });
  let any = false;
  for (let i = 0; i < wA.data.length && !any; i++) any = wA.data[i] > 0;
  if (!any) throw new CoregError(opts.mask ? '--mask' : '--baseline', opts.mask ? 'the mask is empty' : 'no foreground found');
  const whole = regionChange(wA.data, wB.data, jf.data, jb.data, vox);
  const labels: Record<string, RegionChange> = {};
  if (opts.labels) {
    const lA = resample(opts.labels, baseline, [halfInverse], { interpolation: 'label' });
    const lB = resample(lA, baselineMid, bwd.transforms, { interpolation: 'label' });
    const values = new Set<number>();
    for (let i = 0; i < lA.data.length; i++) if (lA.data[i] !== 0) values.add(lA.data[i]);
    // One pass per label over its bounding range of voxel indices keeps this linear in practice.
    const a = new Float32Array(lA.data.length);
    const b = new Float32Array(lA.data.length);
    for (const label of [...values].sort((x, y) => x - y)) {
      let lo = Infinity;
      let hi = -1;
      for (let i = 0; i < a.length; i++) {
        const inA = lA.data[i] === label;
        const inB = lB.data[i] === label;
        a[i] = inA ? 1 : 0;
        b[i] = inB ? 1 : 0;
        if (inA || inB) {
          if (i < lo) lo = i;
          hi = i;
        }
      }
      labels[String(label)] = regionChange(a.subarray(lo, hi + 1), b.subarray(lo, hi + 1), jf.data.subarray(lo, hi + 1), jb.data.subarray(lo, hi + 1), vox);
    }
  }
  const t1 = typeof performance !== 'undefined' ? performance.now() : Date.now();
  return {
    ...whole,
    labels,
    rigid,
    half,
    baselineMid,
    followupMid,
    difference,
    jacobian: jf,
    forward: fwd.transforms,
    backward: bwd.transforms,
    seconds: (t1 - t0) / 1000,
  };
}
