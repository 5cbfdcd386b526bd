/** The checks every registration makes of its two images before anything runs. */
import { CoregError } from '../errors.js';
import { finiteRange, type Image } from '../image/image.js';

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
    const range = finiteRange(img.data);
    if (!range) throw new CoregError(name, 'has no finite pixel value');
    if (range.min === range.max) throw new CoregError(name, `image is constant (all pixels ${range.min}): the similarity measure is undefined`);
    for (let i = 0; i < img.data.length; i++) {
      if (!Number.isFinite(img.data[i])) {
        throw new CoregError(name, 'contains NaN or infinite pixel values; replace them (e.g. by 0) before registering');
      }
    }
  }
}
