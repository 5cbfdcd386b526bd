/**
 * Unbiased groupwise template building, the arithmetic of one iteration (Avants et al. 2010, the algorithm of
 * ANTs' antsMultivariateTemplateConstruction2.sh): given each subject registered to the current template
 * (T_i: template → subject, fixed → moving as everywhere in coreg) and each subject resampled on the template
 * grid, the new template is the average of the warped subjects, shape-corrected by the inverse of the mean map
 * M(x) = (1/n) Σ T_i(x): new(y) = average(M⁻¹(y)). Registered to the new template, the subjects' maps become
 * T_i ∘ M⁻¹, whose mean is the identity (to first order): the template sits at the centre of the group, not
 * in the space of whichever image started it.
 *
 * Browser-safe; the file handling is `coreg template` (src/cli/commands/template.ts).
 */
import { CoregError } from '../errors.js';
import { indexToPhysicalMatrix, numberOfPixels, type GridLike, type Image } from '../image/image.js';
import { resample } from '../resample/resample.js';
import type { Transform } from '../transform/transform.js';
import { createField, fieldTransform, invertField, type InversionResult } from '../transform/dense-field.js';

function sameSize(a: GridLike, b: GridLike): boolean {
  return a.dimension === b.dimension && a.size.every((s, i) => s === b.size[i]);
}

/** Voxelwise mean of single-component images that share one grid (float32, the first image's geometry). */
export function averageImages(images: readonly Image[]): Image<Float32Array> {
  if (images.length === 0) throw new CoregError('template', 'no images to average');
  const first = images[0];
  const n = numberOfPixels(first);
  const sum = new Float64Array(n);
  for (const img of images) {
    if (!sameSize(img, first) || img.components !== 1) throw new CoregError('template', 'the images to average must be scalar and share one grid');
    const d = img.data;
    for (let i = 0; i < n; i++) sum[i] += d[i];
  }
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = sum[i] / images.length;
  return { dimension: first.dimension, size: first.size.slice(), spacing: first.spacing.slice(), origin: first.origin.slice(), direction: first.direction.slice(), components: 1, data: out };
}

/**
 * d(x) = M(x) − x on `grid`, with M(x) = (1/n) Σ_i T_i(x) the mean of the subjects' maps (each a chain applied
 * first-first). Interleaved d values per voxel (a displacement field, LPS mm).
 */
export function meanMapDisplacement(chains: readonly (readonly Transform[])[], grid: GridLike): Float32Array {
  if (chains.length === 0) throw new CoregError('template', 'no transforms to average');
  const d = grid.dimension;
  const m = indexToPhysicalMatrix(grid);
  const o = grid.origin;
  const n = numberOfPixels(grid);
  const field = createField(grid);
  const p = new Float64Array(d);
  const a = new Float64Array(d);
  const b = new Float64Array(d);
  const acc = new Float64Array(d);
  const nx = grid.size[0];
  const ny = grid.size[1];
  const idx = new Float64Array(3);
  for (let v = 0; v < n; v++) {
    idx[0] = v % nx;
    idx[1] = Math.floor(v / nx) % ny;
    idx[2] = Math.floor(v / (nx * ny));
    for (let r = 0; r < d; r++) {
      let s = o[r];
      for (let c = 0; c < d; c++) s += m[r * d + c] * idx[c];
      p[r] = s;
    }
    acc.fill(0);
    for (const chain of chains) {
      for (let c = 0; c < d; c++) a[c] = p[c];
      for (const t of chain) {
        t.transformPoint(a, b);
        for (let c = 0; c < d; c++) a[c] = b[c];
      }
      for (let c = 0; c < d; c++) acc[c] += a[c];
    }
    for (let c = 0; c < d; c++) field[v * d + c] = acc[c] / chains.length - p[c];
  }
  return field;
}

/** Mean of |d(x)| (mm) over the voxels where `mask` is true (all voxels when mask is null). */
export function meanDisplacementNorm(field: Float32Array, d: number, mask: Uint8Array | null): number {
  const n = field.length / d;
  let sum = 0;
  let count = 0;
  for (let v = 0; v < n; v++) {
    if (mask && !mask[v]) continue;
    let s = 0;
    for (let c = 0; c < d; c++) s += field[v * d + c] ** 2;
    sum += Math.sqrt(s);
    count++;
  }
  return count > 0 ? sum / count : 0;
}

/** The template's foreground: voxels above `fraction` of its largest value. */
export function foregroundMask(image: Image, fraction = 0.1): Uint8Array {
  const data = image.data;
  let max = -Infinity;
  for (let i = 0; i < data.length; i++) if (data[i] > max) max = data[i];
  const t = fraction * max;
  const mask = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) mask[i] = data[i] > t ? 1 : 0;
  return mask;
}

export interface ShapeCorrection {
  /** The shape-corrected template: average(M⁻¹(y)), on the average's grid. */
  template: Image<Float32Array>;
  /** The inverse mean map as a displacement field (y ↦ y + v(y) = M⁻¹(y)) and its accuracy. */
  inverse: InversionResult;
}

/** new(y) = average(M⁻¹(y)) with M(x) = x + meanDisplacement(x) (see meanMapDisplacement). */
export function shapeCorrect(average: Image, meanDisplacement: Float32Array): ShapeCorrection {
  const inverse = invertField(meanDisplacement, average, { maxIterations: 100 });
  const template = resample(average, average, [fieldTransform(inverse.field, average, 'inverse mean warp')], { interpolation: 'linear', outputType: 'float32' }) as Image<Float32Array>;
  return { template, inverse };
}

/** √(Σ(a−b)²/Σb²): how much a template changed relative to the previous one. */
export function relativeChange(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return den > 0 ? Math.sqrt(num / den) : 0;
}
