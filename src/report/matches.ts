/**
 * A picture of matched point pairs: the fixed image on the left, the moving image on the right, a line from each
 * fixed point to its moving point (inliers green, outliers red, inliers drawn last), with a dot at each end. 2D:
 * the images as they are; 3D: the axial view through each image's foreground centre (imageViews), the points
 * projected orthogonally onto it.
 */
import { autoWindow, checkPictureImage, createRaster, grey, imageViews, sampleView, tile, type Raster, type View } from './picture.js';
import type { Image } from '../image/image.js';

export interface MatchedPairs {
  count: number;
  /** count×d fixed points (LPS mm). */
  fixed: Float64Array;
  /** count×d moving points (LPS mm). */
  moving: Float64Array;
  /** 1 for an inlier. */
  inliers: Uint8Array;
}

const GAP = 4;
const GREEN: [number, number, number] = [40, 230, 60];
const RED: [number, number, number] = [235, 40, 40];

function panel(img: Image, view: View): Raster {
  const window = autoWindow(img);
  const s = sampleView(img, view);
  const r = createRaster(view.width, view.height);
  for (let k = 0; k < s.length; k++) r.data[3 * k] = r.data[3 * k + 1] = r.data[3 * k + 2] = grey(s[k], window);
  return r;
}

/** Display pixel (column, row) of a physical point on a view (orthogonal projection onto its plane). */
function toPixel(view: View, p: Float64Array, at: number, d: number): [number, number] {
  let i = 0;
  let j = 0;
  for (let a = 0; a < d; a++) {
    const t = p[at + a] - view.origin[a];
    i += t * view.u[a];
    j += t * view.v[a];
  }
  return [i / view.pixelMm, j / view.pixelMm];
}

function plot(r: Raster, x: number, y: number, c: readonly number[]): void {
  const xi = Math.round(x);
  const yi = Math.round(y);
  if (xi < 0 || yi < 0 || xi >= r.width || yi >= r.height) return;
  const at = 3 * (yi * r.width + xi);
  r.data[at] = c[0];
  r.data[at + 1] = c[1];
  r.data[at + 2] = c[2];
}

function line(r: Raster, x0: number, y0: number, x1: number, y1: number, c: readonly number[]): void {
  const n = Math.ceil(Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0), 1));
  for (let k = 0; k <= n; k++) plot(r, x0 + ((x1 - x0) * k) / n, y0 + ((y1 - y0) * k) / n, c);
}

function dot(r: Raster, x: number, y: number, c: readonly number[]): void {
  for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) plot(r, x + dx, y + dy, c);
}

/** The picture (see the file's header). */
export function matchesPicture(fixed: Image, moving: Image, pairs: MatchedPairs): Raster {
  checkPictureImage(fixed, 'fixed');
  checkPictureImage(moving, 'moving');
  const d = fixed.dimension;
  // One display pixel size for both panels, so that distances look alike.
  const pixelMm = Math.min(...fixed.spacing, ...moving.spacing);
  const fv = imageViews(fixed, { pixelMm })[0];
  const mv = imageViews(moving, { pixelMm })[0];
  const out = tile([panel(fixed, fv), panel(moving, mv)], 2, GAP);
  const dx = fv.width + GAP;
  for (const pass of [0, 1]) {
    const colour = pass === 0 ? RED : GREEN;
    for (let k = 0; k < pairs.count; k++) {
      if ((pairs.inliers[k] ? 1 : 0) !== pass) continue;
      const [x0, y0] = toPixel(fv, pairs.fixed, k * d, d);
      const [x1, y1] = toPixel(mv, pairs.moving, k * d, d);
      line(out, x0, y0, x1 + dx, y1, colour);
      dot(out, x0, y0, colour);
      dot(out, x1 + dx, y1, colour);
    }
  }
  return out;
}
