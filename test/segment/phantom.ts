// Synthetic labelled phantoms for the segmentation tests: an ellipse (label 1) holding a disk (label 2) and a
// small square (label 3), drawn analytically about a chosen centre so that shifted copies are exact.
import { createImage, type Image } from '../../src/image/image.js';

export interface Phantom {
  image: Image;
  labels: Image;
}

/** 2D phantom of `size` pixels (1 mm) whose shapes are centred at (cx, cy) mm. */
export function phantom2d(cx: number, cy: number, size = 48): Phantom {
  const image = createImage([size, size], 'float32');
  const labels = createImage([size, size], 'uint8');
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const dx = x - cx;
      const dy = y - cy;
      let label = 0;
      if ((dx / 16) ** 2 + (dy / 11) ** 2 <= 1) label = 1;
      if ((dx + 6) ** 2 + dy ** 2 <= 25) label = 2;
      if (dx >= 5 && dx <= 10 && dy >= -4 && dy <= 3) label = 3;
      const v = x + size * y;
      labels.data[v] = label;
      // Distinct intensities per structure plus a gentle texture.
      image.data[v] = [10, 90, 170, 250][label] + 8 * Math.sin(dx / 3) * Math.cos(dy / 4);
    }
  }
  return { image, labels };
}
