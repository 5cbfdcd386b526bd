/** The checks every registration makes of its two images before anything runs. */
import { CoregError } from '../errors.js';
import type { Image, PixelArray } from '../image/image.js';

/** Throws CoregError('--fixed' / '--moving', …) unless both are scalar images of one dimension with finite, varying pixels. */
export function checkImagePair(fixed: Image, moving: Image): void {
  if (fixed.dimension !== moving.dimension) {
    throw new CoregError('moving', `the fixed image is ${fixed.dimension}D but the moving image is ${moving.dimension}D`);
  }
  for (const [img, name] of [
    [fixed, 'fixed'],
    [moving, 'moving'],
  ] as const) {
    if (img.components !== 1) throw new CoregError(name, `has ${img.components} components per pixel; registration needs a scalar image`);
    const range = valueRange(img.data);
    if (!range) throw new CoregError(name, 'has no finite pixel value');
    if (range.min === range.max) throw new CoregError(name, `image is constant (all pixels ${range.min}): the similarity measure is undefined`);
    if (range.nonFinite) throw new CoregError(name, 'contains NaN or infinite pixel values; replace them (e.g. by 0) before registering');
  }
}

/** Range of the finite values and whether any value is not finite, in one pass (integer arrays have none); null when no value is finite. */
function valueRange(data: PixelArray): { min: number; max: number; nonFinite: boolean } | null {
  let min = Infinity;
  let max = -Infinity;
  let nonFinite = false;
  if (data instanceof Float32Array || data instanceof Float64Array) {
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
  } else {
    for (let i = 0; i < data.length; i++) {
      const v = data[i];
      if (v < min) min = v;
      if (v > max) max = v;
    }
  }
  return min <= max ? { min, max, nonFinite } : null;
}
