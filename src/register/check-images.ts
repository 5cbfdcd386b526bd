/** The checks every registration makes of its two images before anything runs. */
import { CoregError } from '../errors.js';
import type { Image, PixelArray } from '../image/image.js';

/** An image's values as checkImagePair sees them: min and max of the finite ones, and whether any is not finite. */
export interface ValueRange {
  min: number;
  max: number;
  nonFinite: boolean;
}

/**
 * Throws CoregError('--fixed' / '--moving', …) unless both are scalar images of one dimension with finite, varying
 * pixels. `ranges`: the images' valueRange()s when already known (register's statistics pass makes them on its team).
 */
export function checkImagePair(fixed: Image, moving: Image, ranges?: { fixed: ValueRange | null; moving: ValueRange | null }): void {
  if (fixed.dimension !== moving.dimension) {
    throw new CoregError('moving', `the fixed image is ${fixed.dimension}D but the moving image is ${moving.dimension}D`);
  }
  for (const [img, name] of [
    [fixed, 'fixed'],
    [moving, 'moving'],
  ] as const) {
    if (img.components !== 1) throw new CoregError(name, `has ${img.components} components per pixel; registration needs a scalar image`);
    const range = ranges ? ranges[name] : valueRange(img.data);
    if (!range) throw new CoregError(name, 'has no finite pixel value');
    if (range.min === range.max) throw new CoregError(name, `image is constant (all pixels ${range.min}): the similarity measure is undefined`);
    if (range.nonFinite) throw new CoregError(name, 'contains NaN or infinite pixel values; replace them (e.g. by 0) before registering');
  }
}

/**
 * Whether the values vary, whether any is not finite, and a value (the constant one when they do not vary), in one
 * pass; integer arrays (never NaN) stop at the first value that differs from the first. Null when no value is finite.
 */
export function valueRange(data: PixelArray): ValueRange | null {
  if (!(data instanceof Float32Array || data instanceof Float64Array)) {
    if (data.length === 0) return null;
    const first = data[0];
    for (let i = 1; i < data.length; i++) if (data[i] !== first) return { min: Math.min(first, data[i]), max: Math.max(first, data[i]), nonFinite: false };
    return { min: first, max: first, nonFinite: false };
  }
  let min = Infinity;
  let max = -Infinity;
  let nonFinite = false;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    // NaN fails both comparisons; ±Infinity is caught below
    if (v < min) min = v;
    if (v > max) max = v;
    if (v !== v) nonFinite = true;
  }
  if (min === -Infinity || max === Infinity) {
    nonFinite = true;
    min = Infinity;
    max = -Infinity;
    for (let i = 0; i < data.length; i++) {
      const v = data[i];
      if (!Number.isFinite(v)) continue;
      if (v < min) min = v;
      if (v > max) max = v;
    }
  }
  return min <= max ? { min, max, nonFinite } : null;
}
