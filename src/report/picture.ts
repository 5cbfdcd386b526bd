/**
 * Quality-control pictures as RGB rasters and PNG bytes (browser-safe: no file system). Every picture is drawn
 * in physical space: a 2D image as one panel (x to the right, y down), a 3D image as three orthogonal slices
 * (axial, coronal, sagittal) or a mosaic of axial slices through the foreground, in radiological (patient's left
 * on screen right) or neurological convention. Display pixels are square in millimetres (the smallest spacing),
 * so the physical aspect ratio is honoured whatever the voxel shape.
 */
import { encode } from 'fast-png';
import { CoregError } from '../errors.js';
import { indexToPhysicalMatrix, physicalBoundingBox, physicalToIndexMatrix, type Image } from '../image/image.js';
import type { Transform } from '../transform/transform.js';

export interface Raster {
  width: number;
  height: number;
  /** RGB, 3 bytes per pixel, rows top to bottom. */
  data: Uint8Array;
}

export type Convention = 'radiological' | 'neurological';
export type Layout = 'ortho' | 'mosaic';

export interface ViewOptions {
  /** 3D: three orthogonal slices (default) or a mosaic of axial slices through the foreground. */
  layout?: Layout;
  /** 3D: radiological (default: patient's left on the right of the screen) or neurological. */
  convention?: Convention;
  /** Mosaic: number of slices (default 12). */
  slices?: number;
  /** Display pixel size in mm (default the smallest spacing). */
  pixelMm?: number;
  /** 3D: orientation letters (R/L, A/P, S/I) at the middle of each panel edge (default true). */
  letters?: boolean;
  /** Thumbnails: coarser display pixels so that no panel side exceeds this many pixels (ignored with `pixelMm`). */
  maxPanel?: number;
}

/** One display plane: pixel (i, j) shows the physical point origin + i·pixelMm·u + j·pixelMm·v. */
export interface View {
  name: string;
  origin: number[];
  u: number[];
  v: number[];
  width: number;
  height: number;
  pixelMm: number;
}

export function createRaster(width: number, height: number, fill = 0): Raster {
  const data = new Uint8Array(width * height * 3);
  if (fill) data.fill(fill);
  return { width, height, data };
}

/** PNG bytes of an RGB raster (8 bits per channel). */
export function encodeRasterPng(r: Raster): Uint8Array {
  return encode({ width: r.width, height: r.height, data: r.data, depth: 8, channels: 3 });
}

/** Throws a clear error unless the image is a scalar 2D or 3D image. */
export function checkPictureImage(img: Image, subject: string): void {
  if (img.components !== 1) {
    throw new CoregError(subject, `has ${img.components} values per voxel (a 4D or vector image); pictures show scalar 2D or 3D images only`);
  }
  if (img.dimension !== 2 && img.dimension !== 3) throw new CoregError(subject, `is ${String(img.dimension)}D; pictures show 2D or 3D images`);
}

/** Both images scalar 2D or 3D, of one dimension (else a clear error naming 'fixed' or 'moving'). */
export function checkPicturePair(fixed: Image, moving: Image): void {
  checkPictureImage(fixed, 'fixed');
  checkPictureImage(moving, 'moving');
  if (fixed.dimension !== moving.dimension) throw new CoregError('moving', `is ${moving.dimension}D but the fixed image is ${fixed.dimension}D`);
}

/** Physical bounding box of the voxels above a threshold between the 2nd and 98th percentiles (else the whole image). */
export function foregroundBox(img: Image): { min: number[]; max: number[] } {
  const d = img.dimension;
  const [lo, hi] = percentiles(img.data, 0.02, 0.98);
  const threshold = lo + 0.1 * (hi - lo);
  const min = new Array<number>(d).fill(Infinity);
  const max = new Array<number>(d).fill(-Infinity);
  const idx = [0, 0, 0];
  const nx = img.size[0];
  const ny = img.size[1];
  const nz = d === 3 ? img.size[2] : 1;
  const m = indexToPhysicalMatrix(img);
  let found = false;
  for (let z = 0; z < nz; z++) {
    for (let y = 0; y < ny; y++) {
      for (let x = 0; x < nx; x++) {
        const v = img.data[(z * ny + y) * nx + x];
        if (!(v > threshold)) continue;
        found = true;
        idx[0] = x;
        idx[1] = y;
        idx[2] = z;
        for (let a = 0; a < d; a++) {
          let p = img.origin[a];
          for (let b = 0; b < d; b++) p += m[a * d + b] * idx[b];
          if (p < min[a]) min[a] = p;
          if (p > max[a]) max[a] = p;
        }
      }
    }
  }
  return found ? { min, max } : physicalBoundingBox(img);
}

/**
 * The display planes for an image (its physical bounding box; for a 3D mosaic the slices run through the
 * foreground). 2D: one view, x right, y down. 3D ortho: axial (anterior up), coronal and sagittal (superior up),
 * each through the centre of the foreground.
 */
export function imageViews(img: Image, opts: ViewOptions = {}): View[] {
  const box = physicalBoundingBox(img, true);
  const fov = Math.max(...box.max.map((v, a) => v - box.min[a]));
  const pixelMm = opts.pixelMm ?? Math.max(Math.min(...img.spacing), opts.maxPanel ? fov / opts.maxPanel : 0);
  const ext = (a: number) => Math.max(1, Math.round((box.max[a] - box.min[a]) / pixelMm));
  const half = pixelMm / 2;
  if (img.dimension === 2) {
    return [{ name: 'image', origin: [box.min[0] + half, box.min[1] + half], u: [1, 0], v: [0, 1], width: ext(0), height: ext(1), pixelMm }];
  }
  const radiological = (opts.convention ?? 'radiological') === 'radiological';
  const fg = foregroundBox(img);
  const centre = [0, 1, 2].map((a) => (fg.min[a] + fg.max[a]) / 2);
  // LPS: +x = patient's left. Radiological: left on the right of the screen, so columns run along +x.
  const ux = radiological ? [1, 0, 0] : [-1, 0, 0];
  const x0 = radiological ? box.min[0] + half : box.max[0] - half;
  const axial = (z: number, name: string): View => ({ name, origin: [x0, box.min[1] + half, z], u: ux, v: [0, 1, 0], width: ext(0), height: ext(1), pixelMm });
  if ((opts.layout ?? 'ortho') === 'mosaic') {
    const n = Math.max(1, opts.slices ?? 12);
    const views: View[] = [];
    for (let k = 0; k < n; k++) {
      const z = fg.min[2] + ((k + 0.5) / n) * (fg.max[2] - fg.min[2]);
      views.push(axial(z, `axial z=${z.toFixed(1)}`));
    }
    return views;
  }
  return [
    axial(centre[2], 'axial'),
    // Coronal: superior up (rows run along −z), through the centre's y.
    { name: 'coronal', origin: [x0, centre[1], box.max[2] - half], u: ux, v: [0, 0, -1], width: ext(0), height: ext(2), pixelMm },
    // Sagittal: anterior on the left (columns along +y = posterior), superior up.
    { name: 'sagittal', origin: [centre[0], box.min[1] + half, box.max[2] - half], u: [0, 1, 0], v: [0, 0, -1], width: ext(1), height: ext(2), pixelMm },
  ];
}

/** Physical point of display pixel (i, j). */
export function viewPoint(view: View, i: number, j: number, out: Float64Array): void {
  for (let a = 0; a < out.length; a++) out[a] = view.origin[a] + view.pixelMm * (i * view.u[a] + j * view.v[a]);
}

/**
 * Samples an image on a view: linear (or nearest) interpolation of the continuous index of each display pixel's
 * physical point, mapped through `chain` first when given (fixed → moving); NaN outside the image.
 */
export function sampleView(img: Image, view: View, opts: { chain?: readonly Transform[]; nearest?: boolean } = {}): Float32Array {
  const d = img.dimension;
  const out = new Float32Array(view.width * view.height);
  const m = physicalToIndexMatrix(img);
  const p = new Float64Array(d);
  const q = new Float64Array(d);
  const scratch = new Float64Array(d);
  const chain = opts.chain ?? [];
  const nx = img.size[0];
  const ny = img.size[1];
  const nz = d === 3 ? img.size[2] : 1;
  const data = img.data;
  for (let j = 0; j < view.height; j++) {
    for (let i = 0; i < view.width; i++) {
      viewPoint(view, i, j, p);
      for (let s = 0; s < chain.length; s++) {
        chain[s].transformPoint(p, scratch);
        for (let a = 0; a < d; a++) p[a] = scratch[a];
      }
      for (let a = 0; a < d; a++) {
        let v = 0;
        for (let b = 0; b < d; b++) v += m[a * d + b] * (p[b] - img.origin[b]);
        q[a] = v;
      }
      out[j * view.width + i] = d === 2 ? sample2(data, nx, ny, q[0], q[1], opts.nearest) : sample3(data, nx, ny, nz, q[0], q[1], q[2], opts.nearest);
    }
  }
  return out;
}

export function sample2(data: ArrayLike<number>, nx: number, ny: number, x: number, y: number, nearest?: boolean): number {
  if (!(x >= -0.5 && x <= nx - 0.5 && y >= -0.5 && y <= ny - 0.5)) return NaN;
  if (nearest) return data[Math.min(ny - 1, Math.max(0, Math.round(y))) * nx + Math.min(nx - 1, Math.max(0, Math.round(x)))];
  const xc = Math.min(nx - 1, Math.max(0, x));
  const yc = Math.min(ny - 1, Math.max(0, y));
  const x0 = Math.min(nx - 2 < 0 ? 0 : nx - 2, Math.floor(xc));
  const y0 = Math.min(ny - 2 < 0 ? 0 : ny - 2, Math.floor(yc));
  const x1 = Math.min(nx - 1, x0 + 1);
  const y1 = Math.min(ny - 1, y0 + 1);
  const fx = xc - x0;
  const fy = yc - y0;
  const a = data[y0 * nx + x0] * (1 - fx) + data[y0 * nx + x1] * fx;
  const b = data[y1 * nx + x0] * (1 - fx) + data[y1 * nx + x1] * fx;
  return a * (1 - fy) + b * fy;
}

export function sample3(data: ArrayLike<number>, nx: number, ny: number, nz: number, x: number, y: number, z: number, nearest?: boolean): number {
  if (!(x >= -0.5 && x <= nx - 0.5 && y >= -0.5 && y <= ny - 0.5 && z >= -0.5 && z <= nz - 0.5)) return NaN;
  if (nearest) {
    const xi = Math.min(nx - 1, Math.max(0, Math.round(x)));
    const yi = Math.min(ny - 1, Math.max(0, Math.round(y)));
    const zi = Math.min(nz - 1, Math.max(0, Math.round(z)));
    return data[(zi * ny + yi) * nx + xi];
  }
  const xc = Math.min(nx - 1, Math.max(0, x));
  const yc = Math.min(ny - 1, Math.max(0, y));
  const zc = Math.min(nz - 1, Math.max(0, z));
  const x0 = Math.max(0, Math.min(nx - 2, Math.floor(xc)));
  const y0 = Math.max(0, Math.min(ny - 2, Math.floor(yc)));
  const z0 = Math.max(0, Math.min(nz - 2, Math.floor(zc)));
  const x1 = Math.min(nx - 1, x0 + 1);
  const y1 = Math.min(ny - 1, y0 + 1);
  const z1 = Math.min(nz - 1, z0 + 1);
  const fx = xc - x0;
  const fy = yc - y0;
  const fz = zc - z0;
  const plane = nx * ny;
  const c00 = data[z0 * plane + y0 * nx + x0] * (1 - fx) + data[z0 * plane + y0 * nx + x1] * fx;
  const c10 = data[z0 * plane + y1 * nx + x0] * (1 - fx) + data[z0 * plane + y1 * nx + x1] * fx;
  const c01 = data[z1 * plane + y0 * nx + x0] * (1 - fx) + data[z1 * plane + y0 * nx + x1] * fx;
  const c11 = data[z1 * plane + y1 * nx + x0] * (1 - fx) + data[z1 * plane + y1 * nx + x1] * fx;
  return (c00 * (1 - fy) + c10 * fy) * (1 - fz) + (c01 * (1 - fy) + c11 * fy) * fz;
}

/** The p-quantiles (0..1) of the finite values, by a 4096-bin histogram (exact for small integer ranges). */
export function percentiles(data: ArrayLike<number>, ...ps: number[]): number[] {
  let min = Infinity;
  let max = -Infinity;
  let n = 0;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (!Number.isFinite(v)) continue;
    n++;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (n === 0) return ps.map(() => 0);
  if (max === min) return ps.map(() => min);
  const bins = 4096;
  const hist = new Float64Array(bins);
  const scale = bins / (max - min);
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (!Number.isFinite(v)) continue;
    hist[Math.min(bins - 1, Math.floor((v - min) * scale))]++;
  }
  return ps.map((p) => {
    const target = p * n;
    let acc = 0;
    for (let b = 0; b < bins; b++) {
      acc += hist[b];
      if (acc >= target) return min + (b + (p >= 0.5 ? 1 : 0)) / scale;
    }
    return max;
  });
}

/** Display window of an image: its 0.5th to 99.5th percentile. */
export function autoWindow(img: Image | ArrayLike<number>): [number, number] {
  const data = 'data' in img ? img.data : img;
  const [lo, hi] = percentiles(data, 0.005, 0.995);
  return hi > lo ? [lo, hi] : [lo, lo + 1];
}

/** Grey level 0..255 of v in the window; NaN → 0. */
export function grey(v: number, window: readonly [number, number]): number {
  if (v !== v) return 0;
  const s = Math.round((255 * (v - window[0])) / (window[1] - window[0]));
  return s < 0 ? 0 : s > 255 ? 255 : s;
}

/** Grey level of the gaps between panels (dark grey: panels stand apart on a black background). */
export const GAP_GREY = 64;

/** Puts panels side by side (one row; a mosaic in rows of `columns`), separated by `gap` dark grey pixels. */
export function tile(panels: Raster[], columns = panels.length, gap = 4): Raster {
  const rows: Raster[][] = [];
  for (let k = 0; k < panels.length; k += columns) rows.push(panels.slice(k, k + columns));
  const width = Math.max(...rows.map((r) => r.reduce((s, p) => s + p.width, 0) + gap * (r.length - 1)));
  const rowHeights = rows.map((r) => Math.max(...r.map((p) => p.height)));
  const height = rowHeights.reduce((s, h) => s + h, 0) + gap * (rows.length - 1);
  const out = createRaster(width, height, GAP_GREY);
  let y0 = 0;
  rows.forEach((row, ri) => {
    let x0 = 0;
    for (const p of row) {
      for (let j = 0; j < p.height; j++) out.data.set(p.data.subarray(j * p.width * 3, (j + 1) * p.width * 3), ((y0 + j) * width + x0) * 3);
      // Below a shorter panel: black, as around the image.
      for (let j = p.height; j < rowHeights[ri]; j++) out.data.fill(0, ((y0 + j) * width + x0) * 3, ((y0 + j) * width + x0 + p.width) * 3);
      x0 += p.width + gap;
    }
    y0 += rowHeights[ri] + gap;
  });
  return out;
}

// 5×7 glyphs of the orientation letters, one string of 7 rows of 5 bits each.
const GLYPHS: Record<string, string> = {
  A: '01110100011000111111100011000110001',
  P: '11110100011000111110100001000010000',
  S: '01111100001000001110000010000111110',
  I: '01110001000010000100001000010001110',
  R: '11110100011000111110101001001010001',
  L: '10000100001000010000100001000011111',
};

/** The letter of a patient direction in LPS (+x left, +y posterior, +z superior) nearest to `dir`. */
export function orientationLetter(dir: readonly number[]): string {
  let a = 0;
  for (let k = 1; k < 3; k++) if (Math.abs(dir[k]) > Math.abs(dir[a])) a = k;
  return dir[a] > 0 ? 'LPS'[a] : 'RAI'[a];
}

/** Draws `letter` (white, black outline) with its top-left corner at (x, y), each glyph pixel `scale` pixels. */
function drawLetter(r: Raster, letter: string, x: number, y: number, scale: number): void {
  const g = GLYPHS[letter];
  const on = (i: number, j: number) => i >= 0 && j >= 0 && i < 5 * scale && j < 7 * scale && g[Math.floor(j / scale) * 5 + Math.floor(i / scale)] === '1';
  for (let j = -1; j <= 7 * scale; j++) {
    for (let i = -1; i <= 5 * scale; i++) {
      const px = x + i;
      const py = y + j;
      if (px < 0 || py < 0 || px >= r.width || py >= r.height) continue;
      let near = false;
      for (let dj = -1; dj <= 1 && !near; dj++) for (let di = -1; di <= 1 && !near; di++) near = on(i + di, j + dj);
      if (!near) continue;
      const v = on(i, j) ? 255 : 0;
      const k = 3 * (py * r.width + px);
      r.data[k] = r.data[k + 1] = r.data[k + 2] = v;
    }
  }
}

/** Orientation letters at the middle of the four edges of a 3D panel: where −u, +u, −v, +v point in the patient. */
export function drawOrientationLetters(r: Raster, view: View): void {
  if (view.u.length !== 3) return;
  const scale = Math.min(r.width, r.height) >= 160 ? 2 : 1;
  const w = 5 * scale;
  const h = 7 * scale;
  if (r.width < 3 * w + 4 || r.height < 3 * h + 4) return;
  const neg = (v: number[]) => v.map((c) => -c);
  drawLetter(r, orientationLetter(neg(view.u)), 2, Math.floor((r.height - h) / 2), scale);
  drawLetter(r, orientationLetter(view.u), r.width - w - 2, Math.floor((r.height - h) / 2), scale);
  drawLetter(r, orientationLetter(neg(view.v)), Math.floor((r.width - w) / 2), 2, scale);
  drawLetter(r, orientationLetter(view.v), Math.floor((r.width - w) / 2), r.height - h - 2, scale);
}

/** Views → panels, laid out (a mosaic in rows of 4, ortho in one row); 3D panels get orientation letters. */
function render(views: View[], draw: (view: View) => Raster, opts: ViewOptions = {}): Raster {
  const panels = views.map((view, k) => {
    const r = draw(view);
    // A mosaic's slices all share the first one's letters: drawn once.
    if ((opts.letters ?? true) && (k === 0 || views.length <= 3)) drawOrientationLetters(r, view);
    return r;
  });
  if (panels.length === 1) return panels[0];
  return tile(panels, views.length > 3 ? 4 : views.length);
}

/** A grey picture of an image. */
export function greyPicture(img: Image, opts: ViewOptions & { window?: [number, number] } = {}): Raster {
  checkPictureImage(img, 'image');
  const window = opts.window ?? autoWindow(img);
  return render(imageViews(img, opts), (view) => {
    const s = sampleView(img, view);
    const r = createRaster(view.width, view.height);
    for (let k = 0; k < s.length; k++) r.data[3 * k] = r.data[3 * k + 1] = r.data[3 * k + 2] = grey(s[k], window);
    return r;
  }, opts);
}

export interface PairOptions extends ViewOptions {
  /** Fixed → moving chain applied to the second image (default: none, the images overlaid in physical space). */
  chain?: readonly Transform[];
}

/**
 * Checkerboard of fixed and (warped) moving: squares of `squareMm` (default: an eighth of the field of view)
 * alternate between the two, each shown in its own window.
 */
export function checkerboardPicture(fixed: Image, moving: Image, opts: PairOptions & { squareMm?: number } = {}): Raster {
  checkPicturePair(fixed, moving);
  const wf = autoWindow(fixed);
  const wm = autoWindow(moving);
  const views = imageViews(fixed, opts);
  const square = opts.squareMm ?? Math.max(1, Math.max(...views.map((v) => Math.max(v.width, v.height) * v.pixelMm)) / 8);
  return render(views, (view) => {
    const a = sampleView(fixed, view);
    const b = sampleView(moving, view, { chain: opts.chain });
    const r = createRaster(view.width, view.height);
    for (let j = 0; j < view.height; j++) {
      for (let i = 0; i < view.width; i++) {
        const k = j * view.width + i;
        const odd = (Math.floor((i * view.pixelMm) / square) + Math.floor((j * view.pixelMm) / square)) & 1;
        const g = odd ? grey(b[k], wm) : grey(a[k], wf);
        r.data[3 * k] = r.data[3 * k + 1] = r.data[3 * k + 2] = g;
      }
    }
    return r;
  }, opts);
}

/** Colour overlay: fixed in magenta (red + blue), warped moving in green; where they agree the picture is grey. */
export function overlayPicture(fixed: Image, moving: Image, opts: PairOptions = {}): Raster {
  checkPicturePair(fixed, moving);
  const wf = autoWindow(fixed);
  const wm = autoWindow(moving);
  return render(imageViews(fixed, opts), (view) => {
    const a = sampleView(fixed, view);
    const b = sampleView(moving, view, { chain: opts.chain });
    const r = createRaster(view.width, view.height);
    for (let k = 0; k < a.length; k++) {
      const f = grey(a[k], wf);
      r.data[3 * k] = f;
      r.data[3 * k + 1] = grey(b[k], wm);
      r.data[3 * k + 2] = f;
    }
    return r;
  }, opts);
}

/** Gradient magnitude of a sampled panel (central differences, NaN treated as 0). */
function gradientMagnitude(s: Float32Array, w: number, h: number): Float32Array {
  const g = new Float32Array(s.length);
  const at = (i: number, j: number) => {
    const v = s[Math.min(h - 1, Math.max(0, j)) * w + Math.min(w - 1, Math.max(0, i))];
    return v === v ? v : 0;
  };
  for (let j = 0; j < h; j++) {
    for (let i = 0; i < w; i++) {
      const gx = at(i + 1, j) - at(i - 1, j);
      const gy = at(i, j + 1) - at(i, j - 1);
      g[j * w + i] = Math.sqrt(gx * gx + gy * gy);
    }
  }
  return g;
}

/** Fixed in grey with the edges of the warped moving image (strongest 10 % of its gradients) in green. */
export function edgesPicture(fixed: Image, moving: Image, opts: PairOptions = {}): Raster {
  checkPicturePair(fixed, moving);
  const wf = autoWindow(fixed);
  return render(imageViews(fixed, opts), (view) => {
    const a = sampleView(fixed, view);
    const b = sampleView(moving, view, { chain: opts.chain });
    const g = gradientMagnitude(b, view.width, view.height);
    const nonzero = g.filter((v) => v > 0);
    const [threshold] = nonzero.length ? percentiles(nonzero, 0.9) : [Infinity];
    const r = createRaster(view.width, view.height);
    for (let k = 0; k < a.length; k++) {
      const f = grey(a[k], wf);
      if (g[k] > threshold && g[k] > 0) {
        r.data[3 * k] = 0;
        r.data[3 * k + 1] = 255;
        r.data[3 * k + 2] = 0;
      } else r.data[3 * k] = r.data[3 * k + 1] = r.data[3 * k + 2] = f;
    }
    return r;
  }, opts);
}

/** Diverging colour: −1 → blue, 0 → white, +1 → red (clamped); NaN → black. */
export function diverging(t: number, out: Uint8Array, at: number): void {
  if (t !== t) {
    out[at] = out[at + 1] = out[at + 2] = 0;
    return;
  }
  const s = t < -1 ? -1 : t > 1 ? 1 : t;
  if (s >= 0) {
    out[at] = 255;
    out[at + 1] = out[at + 2] = Math.round(255 * (1 - s));
  } else {
    out[at] = out[at + 1] = Math.round(255 * (1 + s));
    out[at + 2] = 255;
  }
}

/**
 * Difference fixed − moving∘T before (physical overlay) and after (the chain), both on one diverging scale
 * (± the 99th percentile of |difference| before): blue = moving brighter, red = fixed brighter, black outside.
 */
export function differencePictures(fixed: Image, moving: Image, opts: PairOptions = {}): { before: Raster; after: Raster; scale: number } {
  checkPicturePair(fixed, moving);
  const views = imageViews(fixed, opts);
  const diffs = (chain: readonly Transform[]) => views.map((view) => {
    const a = sampleView(fixed, view);
    const b = sampleView(moving, view, { chain });
    for (let k = 0; k < a.length; k++) a[k] -= b[k];
    return a;
  });
  const before = diffs([]);
  const after = diffs(opts.chain ?? []);
  const abs = new Float32Array(before.reduce((s, d) => s + d.length, 0));
  let at = 0;
  for (const d of before) for (let k = 0; k < d.length; k++) abs[at++] = Math.abs(d[k]);
  let [scale] = percentiles(abs, 0.99);
  if (!(scale > 0)) scale = 1;
  const draw = (ds: Float32Array[]) => render(views, (view) => {
    const d = ds[views.indexOf(view)];
    const r = createRaster(view.width, view.height);
    for (let k = 0; k < d.length; k++) diverging(d[k] / scale, r.data, 3 * k);
    return r;
  }, opts);
  return { before: draw(before), after: draw(after), scale };
}

export interface JointHistogram {
  bins: number;
  /** counts[j * bins + i]: fixed in bin i, moving in bin j. */
  counts: Float64Array;
  fixedRange: [number, number];
  movingRange: [number, number];
}

/**
 * Joint histogram of the fixed image and the moving image mapped through `chain` (linear interpolation), over the
 * fixed voxels whose mapped point lies inside the moving image. Ranges: each image's min..max (or as given).
 */
export function jointHistogram(fixed: Image, moving: Image, chain: readonly Transform[], opts: { bins?: number; fixedRange?: [number, number]; movingRange?: [number, number] } = {}): JointHistogram {
  checkPicturePair(fixed, moving);
  if (fixed.dimension !== moving.dimension) throw new CoregError('moving', `is ${moving.dimension}D but the fixed image is ${fixed.dimension}D`);
  const bins = opts.bins ?? 128;
  const fr = opts.fixedRange ?? rangeOf(fixed.data);
  const mr = opts.movingRange ?? rangeOf(moving.data);
  const d = fixed.dimension;
  // The fixed grid as a view of itself: one sample per voxel, slice by slice.
  const counts = new Float64Array(bins * bins);
  const m = physicalToIndexMatrix(moving);
  const f2p = indexToPhysicalMatrix(fixed);
  const p = new Float64Array(d);
  const q = new Float64Array(d);
  const scratch = new Float64Array(d);
  const [nx, ny] = fixed.size;
  const nz = d === 3 ? fixed.size[2] : 1;
  const mnx = moving.size[0];
  const mny = moving.size[1];
  const mnz = d === 3 ? moving.size[2] : 1;
  const idx = [0, 0, 0];
  const sf = bins / (fr[1] - fr[0] || 1);
  const sm = bins / (mr[1] - mr[0] || 1);
  let n = 0;
  for (let z = 0; z < nz; z++) {
    for (let y = 0; y < ny; y++) {
      for (let x = 0; x < nx; x++) {
        idx[0] = x;
        idx[1] = y;
        idx[2] = z;
        for (let a = 0; a < d; a++) {
          let v = fixed.origin[a];
          for (let b = 0; b < d; b++) v += f2p[a * d + b] * idx[b];
          p[a] = v;
        }
        for (let s = 0; s < chain.length; s++) {
          chain[s].transformPoint(p, scratch);
          for (let a = 0; a < d; a++) p[a] = scratch[a];
        }
        for (let a = 0; a < d; a++) {
          let v = 0;
          for (let b = 0; b < d; b++) v += m[a * d + b] * (p[b] - moving.origin[b]);
          q[a] = v;
        }
        const mv = d === 2 ? sample2(moving.data, mnx, mny, q[0], q[1]) : sample3(moving.data, mnx, mny, mnz, q[0], q[1], q[2]);
        const fv = fixed.data[(z * ny + y) * nx + x];
        if (mv !== mv || !Number.isFinite(fv)) continue;
        const i = Math.min(bins - 1, Math.max(0, Math.floor((fv - fr[0]) * sf)));
        const j = Math.min(bins - 1, Math.max(0, Math.floor((mv - mr[0]) * sm)));
        counts[j * bins + i]++;
        n++;
      }
    }
  }
  if (n === 0) throw new CoregError('moving', 'does not overlap the fixed image');
  return { bins, counts, fixedRange: fr, movingRange: mr };
}

function rangeOf(data: ArrayLike<number>): [number, number] {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (!Number.isFinite(v)) continue;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return min <= max ? [min, max] : [0, 1];
}

/** A sequential colour ramp (black → blue → red → yellow → white) for t in 0..1. */
export function heat(t: number, out: Uint8Array, at: number): void {
  const s = t < 0 ? 0 : t > 1 ? 1 : t;
  const stops = [
    [0, 0, 0],
    [40, 30, 160],
    [200, 40, 60],
    [250, 200, 40],
    [255, 255, 255],
  ];
  const x = s * (stops.length - 1);
  const k = Math.min(stops.length - 2, Math.floor(x));
  const f = x - k;
  for (let c = 0; c < 3; c++) out[at + c] = Math.round(stops[k][c] * (1 - f) + stops[k + 1][c] * f);
}

/**
 * The joint histogram as a picture: fixed intensity along x (left to right), moving intensity along y (bottom to
 * top), log(1 + count) on the heat scale; each bin drawn `scale` pixels wide.
 */
export function jointHistogramPicture(h: JointHistogram, scale = 3): Raster {
  const size = h.bins * scale;
  const r = createRaster(size, size);
  let maxLog = 0;
  for (let k = 0; k < h.counts.length; k++) maxLog = Math.max(maxLog, Math.log1p(h.counts[k]));
  for (let y = 0; y < size; y++) {
    const j = h.bins - 1 - Math.floor(y / scale);
    for (let x = 0; x < size; x++) {
      const i = Math.floor(x / scale);
      heat(maxLog > 0 ? Math.log1p(h.counts[j * h.bins + i]) / maxLog : 0, r.data, 3 * (y * size + x));
    }
  }
  return r;
}

/** Colour of a label (0 = none): a fixed, well-spread palette by golden-angle hue. */
export function labelColour(label: number, out: Uint8Array, at: number): void {
  const h = ((label * 137.508) % 360) / 60;
  const c = 1;
  const x = c * (1 - Math.abs((h % 2) - 1));
  const [r, g, b] = h < 1 ? [c, x, 0] : h < 2 ? [x, c, 0] : h < 3 ? [0, c, x] : h < 4 ? [0, x, c] : h < 5 ? [x, 0, c] : [c, 0, x];
  out[at] = Math.round(55 + 200 * r);
  out[at + 1] = Math.round(55 + 200 * g);
  out[at + 2] = Math.round(55 + 200 * b);
}

/** Contours of every label (pixels whose label differs from a 4-neighbour's) over the image in grey. */
export function labelContourPicture(img: Image, labels: Image, opts: ViewOptions = {}): Raster {
  checkPictureImage(img, 'image');
  checkPictureImage(labels, 'labels');
  if (labels.dimension !== img.dimension) throw new CoregError('labels', `is ${labels.dimension}D but the image is ${img.dimension}D`);
  const w = autoWindow(img);
  return render(imageViews(img, opts), (view) => {
    const a = sampleView(img, view);
    const l = sampleView(labels, view, { nearest: true });
    const r = createRaster(view.width, view.height);
    const W = view.width;
    const H = view.height;
    for (let j = 0; j < H; j++) {
      for (let i = 0; i < W; i++) {
        const k = j * W + i;
        const lab = l[k] === l[k] ? l[k] : 0;
        const differs = (i2: number, j2: number) => {
          if (i2 < 0 || j2 < 0 || i2 >= W || j2 >= H) return false;
          const o = l[j2 * W + i2];
          return (o === o ? o : 0) !== lab;
        };
        if (lab !== 0 && (differs(i - 1, j) || differs(i + 1, j) || differs(i, j - 1) || differs(i, j + 1))) labelColour(lab, r.data, 3 * k);
        else r.data[3 * k] = r.data[3 * k + 1] = r.data[3 * k + 2] = grey(a[k], w);
      }
    }
    return r;
  }, opts);
}

/**
 * Jacobian determinant map (an image on the fixed grid): log2(det) on the diverging scale (blue = shrinks,
 * red = expands, saturating at ×0.5 / ×2 unless `range` says otherwise), folds (det ≤ 0) in yellow.
 */
export function jacobianPicture(det: Image, opts: ViewOptions & { maxLog2?: number } = {}): Raster {
  checkPictureImage(det, 'jacobian');
  const maxLog2 = opts.maxLog2 ?? 1;
  return render(imageViews(det, opts), (view) => {
    const s = sampleView(det, view, { nearest: true });
    const r = createRaster(view.width, view.height);
    for (let k = 0; k < s.length; k++) {
      const v = s[k];
      if (v !== v) continue;
      if (!(v > 0)) {
        r.data[3 * k] = 255;
        r.data[3 * k + 1] = 230;
        r.data[3 * k + 2] = 0;
      } else diverging(Math.log2(v) / maxLog2, r.data, 3 * k);
    }
    return r;
  }, opts);
}

/**
 * Deformation grid: the fixed image dimmed, with the lines where a coordinate of T(x) (along the view's axes)
 * crosses a multiple of `gridMm`: a regular grid for the identity, bent where T bends.
 */
export function deformationGridPicture(fixed: Image, chain: readonly Transform[], opts: ViewOptions & { gridMm?: number } = {}): Raster {
  checkPictureImage(fixed, 'fixed');
  const w = autoWindow(fixed);
  const d = fixed.dimension;
  const views = imageViews(fixed, opts);
  const gridMm = opts.gridMm ?? Math.max(1, Math.max(...views.map((v) => Math.max(v.width, v.height) * v.pixelMm)) / 24);
  return render(views, (view) => {
    const a = sampleView(fixed, view);
    const W = view.width;
    const H = view.height;
    const U = new Float64Array(W * H);
    const V = new Float64Array(W * H);
    const p = new Float64Array(d);
    const scratch = new Float64Array(d);
    for (let j = 0; j < H; j++) {
      for (let i = 0; i < W; i++) {
        viewPoint(view, i, j, p);
        for (let s = 0; s < chain.length; s++) {
          chain[s].transformPoint(p, scratch);
          for (let c = 0; c < d; c++) p[c] = scratch[c];
        }
        let u = 0;
        let v = 0;
        for (let c = 0; c < d; c++) {
          u += (p[c] - view.origin[c]) * view.u[c];
          v += (p[c] - view.origin[c]) * view.v[c];
        }
        U[j * W + i] = Math.floor(u / gridMm);
        V[j * W + i] = Math.floor(v / gridMm);
      }
    }
    const r = createRaster(W, H);
    for (let j = 0; j < H; j++) {
      for (let i = 0; i < W; i++) {
        const k = j * W + i;
        const line = (i + 1 < W && (U[k + 1] !== U[k] || V[k + 1] !== V[k])) || (j + 1 < H && (U[k + W] !== U[k] || V[k + W] !== V[k]));
        if (line) {
          r.data[3 * k] = 255;
          r.data[3 * k + 1] = 210;
          r.data[3 * k + 2] = 0;
        } else r.data[3 * k] = r.data[3 * k + 1] = r.data[3 * k + 2] = Math.round(grey(a[k], w) * 0.6);
      }
    }
    return r;
  }, opts);
}

// A 3×5 pixel font (upper case; lower case drawn as upper case): rows top to bottom, 3 bits each.
const FONT: Record<string, string> = {
  '0': '111101101101111', '1': '010110010010111', '2': '111001111100111', '3': '111001111001111', '4': '101101111001001',
  '5': '111100111001111', '6': '111100111101111', '7': '111001001001001', '8': '111101111101111', '9': '111101111001111',
  '-': '000000111000000', '.': '000000000000010', '(': '001010010010001', ')': '100010010010100', ':': '000010000010000',
  '/': '001001010100100', ',': '000000000010100', '+': '000010111010000', ' ': '000000000000000',
  A: '010101111101101', B: '110101110101110', C: '011100100100011', D: '110101101101110', E: '111100110100111',
  F: '111100110100100', G: '011100101101011', H: '101101111101101', I: '111010010010111', J: '001001001101010',
  K: '101101110101101', L: '100100100100111', M: '101111111101101', N: '110101101101101', O: '010101101101010',
  P: '110101110100100', Q: '010101101110011', R: '110101110101101', S: '011100010001110', T: '111010010010010',
  U: '101101101101111', V: '101101101101010', W: '101101111111101', X: '101101010101101', Y: '101101010010010',
  Z: '111001010100111',
};

/** Width in pixels of `text` drawn by drawText at `scale`. */
export function textWidth(text: string, scale = 2): number {
  return text.length ? (4 * text.length - 1) * scale : 0;
}

/** Draws `text` (3×5 font, each font pixel `scale` pixels) with its top-left corner at (x, y); unknown characters as blanks. */
export function drawText(r: Raster, text: string, x: number, y: number, colour: readonly number[], scale = 2): void {
  for (let c = 0; c < text.length; c++) {
    const g = FONT[text[c].toUpperCase()] ?? FONT[' '];
    const cx = x + 4 * scale * c;
    for (let j = 0; j < 5 * scale; j++) {
      for (let i = 0; i < 3 * scale; i++) {
        if (g[Math.floor(j / scale) * 3 + Math.floor(i / scale)] !== '1') continue;
        const px = cx + i;
        const py = y + j;
        if (px >= 0 && py >= 0 && px < r.width && py < r.height) r.data.set(colour, 3 * (py * r.width + px));
      }
    }
  }
}

/** "Nice" tick values (steps of 1, 2 or 5 × 10^k) covering lo..hi. */
export function niceTicks(lo: number, hi: number, count = 6): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((v) => v >= raw) ?? raw;
  const out: number[] = [];
  for (let t = Math.ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step) out.push(Number(t.toPrecision(12)));
  return out;
}

export interface PlotSeriesRaster {
  values: readonly number[];
  colour: [number, number, number];
  /** Legend entry. */
  name?: string;
}

/**
 * A line plot as a raster: each series scaled to its own min..max, drawn in its colour over x in order; x ticks with
 * their values, the x label and a legend (the series' names) under the plot.
 */
export function linePlotRaster(xs: readonly number[], series: PlotSeriesRaster[], width = 480, height = 320, opts: { xLabel?: string; yLabel?: string } = {}): Raster {
  const r = createRaster(width, height, 255);
  const pad = 12;
  const top = opts.yLabel ? 24 : pad;
  const bottom = 62;
  const x0 = Math.min(...xs);
  const x1 = Math.max(...xs);
  const px = (x: number) => pad + ((x - x0) / (x1 - x0 || 1)) * (width - 2 * pad);
  const put = (x: number, y: number, c: readonly number[]) => {
    const xi = Math.round(x);
    const yi = Math.round(y);
    if (xi < 0 || yi < 0 || xi >= width || yi >= height) return;
    r.data.set(c, 3 * (yi * width + xi));
  };
  const axis = [180, 180, 180];
  const ink = [40, 40, 40];
  // Axes box.
  if (opts.yLabel) drawText(r, opts.yLabel, pad, 6, ink);
  for (let x = pad; x <= width - pad; x++) {
    put(x, top, axis);
    put(x, height - bottom, axis);
  }
  for (let y = top; y <= height - bottom; y++) {
    put(pad, y, axis);
    put(width - pad, y, axis);
  }
  // X ticks and their values, the x label, the legend.
  for (const t of niceTicks(x0, x1)) {
    const x = px(t);
    for (let k = 1; k <= 4; k++) put(x, height - bottom + k, ink);
    const label = String(Number(t.toPrecision(4)));
    drawText(r, label, Math.round(x - textWidth(label) / 2), height - bottom + 8, ink);
  }
  if (opts.xLabel) drawText(r, opts.xLabel, Math.round((width - textWidth(opts.xLabel)) / 2), height - bottom + 24, ink);
  let lx = pad;
  for (const s of series) {
    if (!s.name) continue;
    for (let j = 0; j < 4; j++) for (let i = 0; i < 14; i++) put(lx + i, height - 14 + j, s.colour);
    drawText(r, s.name, lx + 18, height - 17, ink);
    lx += 18 + textWidth(s.name) + 16;
  }
  for (const s of series) {
    const finite = s.values.filter(Number.isFinite);
    const lo = Math.min(...finite);
    const hi = Math.max(...finite);
    const py = (v: number) => height - bottom - ((v - lo) / (hi - lo || 1)) * (height - bottom - top);
    for (let k = 1; k < xs.length; k++) {
      if (!Number.isFinite(s.values[k - 1]) || !Number.isFinite(s.values[k])) continue;
      const ax = px(xs[k - 1]);
      const ay = py(s.values[k - 1]);
      const bx = px(xs[k]);
      const by = py(s.values[k]);
      const steps = Math.ceil(Math.max(Math.abs(bx - ax), Math.abs(by - ay))) + 1;
      for (let t = 0; t <= steps; t++) {
        const x = ax + ((bx - ax) * t) / steps;
        const y = ay + ((by - ay) * t) / steps;
        put(x, y, s.colour);
        put(x + 1, y, s.colour);
        put(x, y + 1, s.colour);
      }
    }
  }
  return r;
}
